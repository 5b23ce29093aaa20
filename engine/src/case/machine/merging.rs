//! Merging cases: the sources' records move to the target, and each source
//! is closed with a link to it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::lifecycle::change_status;
use super::{
    CaseTransition, CaseTransitionError, CaseWrite, Decided, MAX_NAME, StatusChange,
    allowed_commands, invalid, not_allowed, required, seal_decided,
};
use crate::case::event::{CaseEventBody, CaseRef, MergeRole};
use crate::case::model::{Case, CaseStatus, Disposition};
use crate::case::observable::{Observable, ObservableType};

/// Most cases merged at once.
pub const MAX_MERGE_SOURCES: usize = 50;

/// A case to merge, with what the store read of it under its lock.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeSource {
    /// The case.
    pub case: Case,
    /// Its observables.
    pub observables: Vec<Observable>,
    /// How many evidence items it holds.
    pub evidence: i64,
    /// How many comments.
    pub comments: i64,
    /// How many tasks.
    pub tasks: i64,
}

/// The result of a merge: persist the sources' transitions, in order, then
/// the target's, all in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeTransition {
    /// The surviving case: it gains the alerts and records, and one
    /// `case_merged` entry.
    pub target: CaseTransition,
    /// Each merged case, in the order given: closed, `merged_into` set, its
    /// alerts and records moved, with `case_merged` and `status_change`
    /// entries.
    pub sources: Vec<CaseTransition>,
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Totals moved by a merge, and how they read.
#[derive(Debug, Clone, Copy, Default)]
struct Moved {
    alerts: i64,
    observables: i64,
    evidence: i64,
    comments: i64,
    tasks: i64,
}

impl Moved {
    fn add(&mut self, other: Moved) {
        self.alerts += other.alerts;
        self.observables += other.observables;
        self.evidence += other.evidence;
        self.comments += other.comments;
        self.tasks += other.tasks;
    }

    fn summary(&self, head: String) -> String {
        let mut parts = vec![
            plural(self.alerts, "alert", "alerts"),
            plural(self.observables, "observable", "observables"),
        ];
        for (n, one, many) in [
            (self.evidence, "evidence item", "evidence items"),
            (self.comments, "comment", "comments"),
            (self.tasks, "task", "tasks"),
        ] {
            if n > 0 {
                parts.push(plural(n, one, many));
            }
        }
        format!("{head}: {} moved", parts.join(", "))
    }

    fn body(&self, role: MergeRole, summary: String) -> CaseEventBody {
        CaseEventBody::CaseMerged {
            role,
            alerts: self.alerts,
            observables: self.observables,
            evidence: self.evidence,
            comments: self.comments,
            tasks: self.tasks,
            summary,
        }
    }
}

fn case_ref(case: &Case) -> CaseRef {
    CaseRef {
        id: case.id,
        number: case.number,
    }
}

/// Folds `from` into `into`: sightings summed, the earliest first and
/// latest last sighting kept, tags joined, enrichment keys the target lacks
/// added, a missing source filled in.
fn absorb(into: &mut Observable, from: &Observable, now: DateTime<Utc>) {
    into.sightings += from.sightings;
    into.first_seen = into.first_seen.min(from.first_seen);
    into.last_seen = into.last_seen.max(from.last_seen);
    for tag in &from.tags {
        if !into.tags.contains(tag) {
            into.tags.push(tag.clone());
        }
    }
    if let (Value::Object(target), Value::Object(source)) = (&mut into.enrichment, &from.enrichment)
    {
        for (key, value) in source {
            target.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    if into.source.is_none() {
        into.source.clone_from(&from.source);
    }
    into.updated_at = now;
}

/// Decides merging `sources` into `target` at `now`.
///
/// The target must accept `merge` (not closed, deleted or merged); so must
/// every source, and sources are distinct, at least one, at most
/// [`MAX_MERGE_SOURCES`], and never the target itself (`sources` names the
/// offender). Each source is closed with the target's disposition, or, when
/// the target has none, with `disposition`, which is then required.
///
/// Alerts, observables, evidence, comments and tasks move to the target. An
/// observable whose type and value the target already holds (or receives
/// from an earlier source) is folded into it: sightings summed, the earliest
/// first and latest last sighting kept, tags joined.
pub fn merge(
    target: &Case,
    target_observables: Vec<Observable>,
    sources: Vec<MergeSource>,
    disposition: Option<Disposition>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<MergeTransition, CaseTransitionError> {
    let by = required("by", by, MAX_NAME)?;
    if !allowed_commands(Some(target)).contains(&"merge") {
        return Err(not_allowed("merge", target));
    }
    if sources.is_empty() {
        return Err(invalid("sources", "name at least one case to merge"));
    }
    if sources.len() > MAX_MERGE_SOURCES {
        return Err(invalid(
            "sources",
            format!("at most {MAX_MERGE_SOURCES} cases merge at once"),
        ));
    }
    let mut seen = HashSet::new();
    for source in &sources {
        let case = &source.case;
        if case.id == target.id {
            return Err(invalid("sources", "a case cannot be merged into itself"));
        }
        if !seen.insert(case.id) {
            return Err(invalid(
                "sources",
                format!("{} is named twice", case.number),
            ));
        }
        if !allowed_commands(Some(case)).contains(&"merge") {
            return Err(invalid(
                "sources",
                format!(
                    "{} is {} and cannot be merged",
                    case.number,
                    case.state_name()
                ),
            ));
        }
    }
    let Some(disposition) = target.disposition.or(disposition) else {
        return Err(invalid(
            "disposition",
            "the target has no disposition: give the one the merged cases close with",
        ));
    };

    let mut by_value: HashMap<(ObservableType, String), Observable> = target_observables
        .into_iter()
        .map(|o| ((o.kind, o.value.clone()), o))
        .collect();
    let mut absorbed_into: HashSet<(ObservableType, String)> = HashSet::new();
    let mut next_target = target.clone();
    let mut total = Moved::default();
    let mut refs = Vec::new();
    let mut merged = Vec::new();
    for source in sources {
        let MergeSource {
            case,
            observables,
            evidence,
            comments,
            tasks,
        } = source;
        let mut next = case.clone();
        let mut writes = Vec::new();
        let moved = Moved {
            alerts: next.alert_ids.len() as i64,
            observables: observables.len() as i64,
            evidence,
            comments,
            tasks,
        };
        for observable in observables {
            let key = (observable.kind, observable.value.clone());
            match by_value.get_mut(&key) {
                Some(kept) => {
                    absorb(kept, &observable, now);
                    absorbed_into.insert(key);
                    writes.push(CaseWrite::DeleteObservable(observable.id));
                }
                None => {
                    let mut moved = observable;
                    moved.case_id = target.id;
                    moved.updated_at = now;
                    writes.push(CaseWrite::UpdateObservable(moved.clone()));
                    by_value.insert(key, moved);
                }
            }
        }
        next_target.alert_ids.append(&mut next.alert_ids);
        next_target.alert_ids.sort();
        writes.push(CaseWrite::MoveAlerts {
            from: case.id,
            to: target.id,
        });
        writes.push(CaseWrite::MoveRecords {
            from: case.id,
            to: target.id,
        });
        let merged_entry = moved.body(
            MergeRole::Source {
                target: case_ref(target),
            },
            moved.summary(format!("Merged into {}", target.number)),
        );
        let close = StatusChange {
            to: CaseStatus::Closed,
            disposition: Some(disposition),
            reason: Some(format!("merged into {}", target.number)),
        };
        let status_entry = change_status(&mut next, &close, now)?;
        next.merged_into = Some(target.id);
        refs.push(case_ref(&case));
        total.add(moved);
        merged.push(seal_decided(
            next,
            Decided {
                bodies: vec![merged_entry, status_entry],
                writes,
            },
            &by,
            now,
        ));
    }
    let mut folded: Vec<Observable> = by_value
        .into_iter()
        .filter(|(key, _)| absorbed_into.contains(key))
        .map(|(_, kept)| kept)
        .collect();
    folded.sort_by_key(|o| o.id);
    let target_writes = folded
        .into_iter()
        .map(CaseWrite::UpdateObservable)
        .collect();
    let head = format!("Merged {}", plural(refs.len() as i64, "case", "cases"));
    let entry = total.body(MergeRole::Target { sources: refs }, total.summary(head));
    let target = seal_decided(
        next_target,
        Decided {
            bodies: vec![entry],
            writes: target_writes,
        },
        &by,
        now,
    );
    Ok(MergeTransition {
        target,
        sources: merged,
    })
}

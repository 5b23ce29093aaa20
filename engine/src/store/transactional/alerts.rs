//! [`Alerts`] over a [`Backend`]: an ingest stores the alert, claims its
//! grouping key's row (which serializes ingests under one key) and links
//! the alert to the key's open case or opens one, through the same case
//! write path as every other case command, in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::TransactionalStore;
use super::cases::{decide_case_in, lock_case_in};
use crate::case::{
    Alert, AlertId, Case, CaseAction, CaseCommand, CaseId, CaseStatus, GroupingRule, NewAlert,
    NewCase, NewObservable, grouping, grouping_window, triage_prompt,
};
use crate::model::{Budget, CasePurpose, InvestigationId};
use crate::store::alert_query::{AlertPage, AlertQuery, Ingested};
use crate::store::backend::{Backend, WriteTx};
use crate::store::error::{Error, Result};
use crate::store::ports::Alerts;
use crate::store::query::DispatchRequest;

/// What an ingest transaction decided.
enum Outcome {
    /// `(source, source_id)` was stored already; nothing was written.
    Redelivered(Alert),
    /// The alert was stored, linked to `case` when it has one.
    Stored {
        alert: Alert,
        case: Option<Box<Case>>,
        case_created: bool,
        investigation: Option<InvestigationId>,
    },
}

/// Whether new alerts may join `case`: not resolved, closed, deleted or
/// merged.
fn accepts_alerts(case: &Case) -> bool {
    case.deleted_at.is_none()
        && case.merged_into.is_none()
        && !matches!(case.status, CaseStatus::Resolved | CaseStatus::Closed)
}

fn command(by: &str, action: CaseAction) -> CaseCommand {
    CaseCommand {
        by: by.to_owned(),
        action,
    }
}

/// Reports each of `alert`'s entities to `case` as an observable (a new
/// one, or another sighting), source `alert:<id>`. Returns the case as
/// written.
async fn register_entities<T: WriteTx>(
    tx: &mut T,
    mut case: Case,
    alert: &Alert,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Case> {
    for entity in &alert.entities {
        let existing = tx
            .find_observable(case.id, entity.kind, &entity.value)
            .await?;
        let action = CaseAction::AddObservable {
            id: crate::case::ObservableId::new_at(now),
            observable: NewObservable {
                kind: entity.kind,
                value: entity.value.clone(),
                source: Some(format!("alert:{}", alert.id)),
                tlp: None,
                pap: None,
                tags: Vec::new(),
                enrichment: None,
            },
            existing,
        };
        case = decide_case_in(tx, Some(&case), command(by, action), now)
            .await?
            .next;
    }
    Ok(case)
}

/// Opens a case for `alert` (title from its rule, severity from it, the
/// alert linked, its entities as observables) inside `tx`.
async fn open_case_for<T: WriteTx>(
    tx: &mut T,
    alert: &Alert,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Case> {
    let number = tx.next_case_number().await?;
    let title: String = alert.rule.chars().take(Case::MAX_TITLE).collect();
    let source_tag: String = format!("source:{}", alert.source)
        .chars()
        .take(64)
        .collect();
    let new = NewCase {
        title,
        severity: alert.severity,
        description: format!(
            "Opened from alert {} ({} {}): {}",
            alert.id, alert.source, alert.source_id, alert.title
        ),
        assignee: None,
        requires_human_approval: false,
        confidence: None,
        confidence_reason: None,
        tags: vec!["alert".to_owned(), source_tag],
        alert_ids: vec![alert.id.to_string()],
    };
    let action = CaseAction::Create {
        id: CaseId::new_at(now),
        number,
        case: new,
        alert_owners: Default::default(),
    };
    let case = decide_case_in(tx, None, command(by, action), now)
        .await?
        .next;
    register_entities(tx, case, alert, by, now).await
}

/// Links `alert` to the locked `case` (an `alert_linked` entry) and
/// registers its entities.
async fn link_into<T: WriteTx>(
    tx: &mut T,
    case: Case,
    alert: &Alert,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Case> {
    let action = CaseAction::LinkAlert {
        alert_id: alert.id.to_string(),
        owner: None,
    };
    let case = decide_case_in(tx, Some(&case), command(by, action), now)
        .await?
        .next;
    register_entities(tx, case, alert, by, now).await
}

/// The most merges followed from a key's case to the case it went into.
const MAX_MERGE_HOPS: usize = 8;

/// Follows merges from case `id` to the case it ended in, locks that one
/// inside `tx` and returns it when it accepts alerts.
///
/// A merged case is only read, never locked (`merged_into` never changes
/// once set), so an ingest holds no merged case's lock while it waits for
/// its target's: a merge locks its cases in id order, and a merged case
/// can be younger than its target.
async fn open_case_following_merges<T: WriteTx>(tx: &mut T, id: CaseId) -> Result<Option<Case>> {
    let mut id = id;
    for _ in 0..MAX_MERGE_HOPS {
        if let Some(target) = tx.case_merge_target(id).await? {
            id = target;
            continue;
        }
        let case = lock_case_in(tx, id).await?;
        match case.merged_into {
            // Merged between the read and the lock: follow on.
            Some(target) if case.deleted_at.is_none() => id = target,
            _ => return Ok(accepts_alerts(&case).then_some(case)),
        }
    }
    let case = lock_case_in(tx, id).await?;
    Ok(accepts_alerts(&case).then_some(case))
}

/// Groups the stored, unlinked `alert` under its key inside `tx`.
async fn group<T: WriteTx>(
    tx: &mut T,
    alert: &Alert,
    key: &str,
    rules: &[GroupingRule],
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Case, bool)> {
    let window = grouping_window(rules, alert);
    // The claim holds the key's row until commit: a concurrent ingest under
    // the same key waits here and then sees this one's case.
    let claimed = tx.claim_alert_group(key).await?;
    let open = match (claimed.case_id, claimed.last_alert_at) {
        (Some(id), Some(last)) if alert.observed_at - last <= window => {
            open_case_following_merges(tx, id).await?
        }
        _ => None,
    };
    let (case, created, last) = match open {
        Some(case) => {
            let last = claimed
                .last_alert_at
                .map_or(alert.observed_at, |l| l.max(alert.observed_at));
            (link_into(tx, case, alert, by, now).await?, false, last)
        }
        None => (
            open_case_for(tx, alert, by, now).await?,
            true,
            alert.observed_at,
        ),
    };
    tx.update_alert_group(key, case.id, last).await?;
    Ok((case, created))
}

async fn settle<T: WriteTx, R>(tx: T, result: Result<R>) -> Result<R> {
    match result {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(e) => {
            tx.rollback().await;
            Err(e)
        }
    }
}

impl<B: Backend> TransactionalStore<B> {
    /// The case `id` as stored, when there is one.
    async fn case_of(&self, id: Option<CaseId>) -> Result<Option<Case>> {
        match id {
            Some(id) => Ok(self.backend.case(id).await?.map(|o| o.case)),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl<B: Backend> Alerts for TransactionalStore<B> {
    async fn ingest_alert(
        &self,
        by: &str,
        new: NewAlert,
        rules: &[GroupingRule],
    ) -> Result<Ingested> {
        let now = self.now();
        let traceparent = new.traceparent.clone();
        let mut alert = new
            .into_alert(AlertId::new_at(now), rules, now)
            .map_err(|e| Error::InvalidInput {
                field: e.field,
                message: e.message,
            })?;
        let mut tx = self.backend.begin().await?;
        let decided = async {
            if !tx.insert_alert(&alert).await? {
                let stored = tx
                    .alert_by_source(&alert.source, &alert.source_id)
                    .await?
                    .ok_or_else(|| Error::corrupt("a redelivered alert is missing"))?;
                return Ok(Outcome::Redelivered(stored));
            }
            let Some(key) = alert.grouping_key.clone() else {
                return Ok(Outcome::Stored {
                    alert: alert.clone(),
                    case: None,
                    case_created: false,
                    investigation: None,
                });
            };
            let (mut case, case_created) = group(&mut tx, &alert, &key, rules, by, now).await?;
            alert.case_id = Some(case.id);
            let agent = grouping(rules, &alert.rule, &alert.entities).and_then(|g| g.investigate);
            let mut investigation = None;
            if let (true, Some(agent)) = (case_created, agent) {
                let request = DispatchRequest {
                    agent_id: agent,
                    prompt: triage_prompt(&alert, case.number),
                    requested_by: by.to_owned(),
                    case_ref: None,
                    case_id: Some(case.id),
                    case_purpose: CasePurpose::Investigate,
                    idempotency_key: Some(format!("alert:{}", alert.id)),
                    budget: Budget::default(),
                    traceparent,
                    parent: None,
                };
                // The key names this alert, stored by this transaction: no
                // other dispatch can hold it.
                let inv = self
                    .dispatch_in(&mut tx, &request)
                    .await?
                    .ok_or_else(|| Error::corrupt("a new alert's dispatch key is taken"))?;
                investigation = Some(inv.id);
                // The dispatch wrote `investigation_linked`: the case as
                // stored now.
                case = lock_case_in(&mut tx, case.id).await?;
            }
            Ok(Outcome::Stored {
                alert: alert.clone(),
                case: Some(Box::new(case)),
                case_created,
                investigation,
            })
        }
        .await;
        match decided {
            // A redelivery wrote nothing: roll back and answer from the
            // committed state.
            Ok(Outcome::Redelivered(stored)) => {
                tx.rollback().await;
                let case = self.case_of(stored.case_id).await?;
                Ok(Ingested {
                    alert: stored,
                    case,
                    created: false,
                    case_created: false,
                    investigation: None,
                })
            }
            other => match settle(tx, other).await? {
                Outcome::Stored {
                    alert,
                    case,
                    case_created,
                    investigation,
                } => Ok(Ingested {
                    alert,
                    case: case.map(|c| *c),
                    created: true,
                    case_created,
                    investigation,
                }),
                Outcome::Redelivered(_) => Err(Error::corrupt("unreachable redelivery")),
            },
        }
    }

    async fn promote_alert(&self, id: AlertId, by: &str) -> Result<Ingested> {
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let decided = async {
            let mut alert = tx.lock_alert(id).await?.ok_or_else(|| Error::NotFound {
                what: "alert",
                id: id.to_string(),
            })?;
            if let Some(case_id) = alert.case_id {
                return Err(Error::AlertLinked {
                    alert_id: id.to_string(),
                    case_id,
                });
            }
            let case = open_case_for(&mut tx, &alert, by, now).await?;
            alert.case_id = Some(case.id);
            Ok((alert, case))
        }
        .await;
        let (alert, case) = settle(tx, decided).await?;
        Ok(Ingested {
            alert,
            case: Some(case),
            created: false,
            case_created: true,
            investigation: None,
        })
    }

    async fn alert(&self, id: AlertId) -> Result<Alert> {
        self.backend
            .alert(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "alert",
                id: id.to_string(),
            })
    }

    async fn list_alerts(&self, query: &AlertQuery) -> Result<AlertPage> {
        let items = self.backend.alerts(query).await?;
        let full = items.len() >= query.page_size() as usize;
        let next = items.last().filter(|_| full).map(|a| a.id);
        Ok(AlertPage { items, next })
    }
}

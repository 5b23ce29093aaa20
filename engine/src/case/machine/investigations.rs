//! What a linked investigation's transitions do to its case: pure.
//!
//! [`investigation_effects`] reads an investigation [`Transition`] (and the
//! row before it) and says what the case must record; [`follow`] decides
//! each effect on the case as stored. Stores run both inside the
//! investigation's own transaction, after writing its row, so the
//! investigation and its case change together or not at all.
//!
//! "Already written" is derived from state: an effect exists only for a
//! transition that changes the investigation's status (or its approval),
//! and the investigation machine refuses a retried or replayed completion
//! (the run is no longer `pending/running` under that epoch), so the case
//! is written once per completion.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::records::{add_comment, add_observable};
use super::{
    CaseTransition, CaseTransitionError, Decided, MAX_TEXT, NewComment, NewObservable, not_allowed,
    seal_decided,
};
use crate::approval::{ApprovalId, ApprovalRequest, ApprovalStatus, Decision};
use crate::case::comment::{AuthorKind, CommentId, CommentKind};
use crate::case::event::{CaseEventBody, Change};
use crate::case::extract::{extract_entities, extract_observables};
use crate::case::model::{Case, CaseStatus};
use crate::case::observable::{Observable, ObservableId, ObservableType};
use crate::machine::{ApprovalWrite, Transition};
use crate::model::{CasePurpose, Investigation, InvestigationId, Phase, Status};

/// The note an expiry leaves on the case.
pub const APPROVAL_EXPIRED_NOTE: &str = "approval expired: re-evaluate";

/// One thing a linked investigation's transition means for its case.
#[derive(Debug, Clone, PartialEq)]
pub enum InvestigationEffect {
    /// The investigation was dispatched for the case.
    Linked {
        /// The investigation.
        investigation_id: InvestigationId,
        /// Its agent.
        agent_id: String,
        /// The principal that dispatched it.
        requested_by: String,
        /// What it is for.
        purpose: CasePurpose,
    },
    /// It reached `completed`, `review_required`, `failed` or
    /// `dead_lettered`: the row after.
    Finished(Box<Investigation>),
    /// It parked on an approval request.
    ApprovalRequested(ApprovalRequest),
    /// Its approval request was decided, expired or cancelled.
    ApprovalResolved {
        /// The investigation.
        investigation_id: InvestigationId,
        /// The request.
        approval_id: ApprovalId,
        /// Its new status.
        status: ApprovalStatus,
        /// Who decided, if a person did.
        decided_by: Option<String>,
        /// Their comment.
        comment: Option<String>,
    },
}

impl InvestigationEffect {
    /// The actor the case's timeline records for it: the dispatcher for a
    /// link, the approver for a decision, the investigation
    /// (`investigation:<id>`) otherwise.
    pub fn actor(&self) -> String {
        match self {
            InvestigationEffect::ApprovalResolved {
                decided_by: Some(by),
                status: ApprovalStatus::Approved | ApprovalStatus::Rejected,
                ..
            } => by.clone(),
            InvestigationEffect::Linked { requested_by, .. } => requested_by.clone(),
            InvestigationEffect::ApprovalResolved {
                investigation_id, ..
            } => investigation_actor(*investigation_id),
            InvestigationEffect::Finished(inv) => investigation_actor(inv.id),
            InvestigationEffect::ApprovalRequested(a) => investigation_actor(a.investigation_id),
        }
    }

    /// Whether deciding it needs the case's stored observables and the
    /// investigation's tool outputs ([`Facts`]): a completion does.
    pub fn needs_facts(&self) -> bool {
        matches!(
            self,
            InvestigationEffect::Finished(inv)
                if inv.status == Status::Completed && inv.case_purpose == CasePurpose::Investigate
        )
    }
}

/// Whether an investigation may be dispatched for `case`: one that is
/// deleted, merged or closed is refused (`link_investigation`, naming the
/// commands its state accepts); reopen a closed case first.
pub fn may_link(case: &Case) -> Result<(), CaseTransitionError> {
    if case.is_retired() || case.status == CaseStatus::Closed {
        return Err(not_allowed("link_investigation", case));
    }
    Ok(())
}

/// Whether a summary may be dispatched for `case`: any case but a deleted
/// or merged one (a closed case is what a summary is usually for).
pub fn may_summarize(case: &Case) -> Result<(), CaseTransitionError> {
    if case.is_retired() {
        return Err(not_allowed("summarize", case));
    }
    Ok(())
}

/// The actor name of an investigation on a case timeline.
pub fn investigation_actor(id: InvestigationId) -> String {
    format!("investigation:{id}")
}

/// What transition `t` of the investigation that was `before` (`None`: a
/// dispatch) means for its case, in order. Empty when it has no case or
/// the transition changes nothing a case records (claims, checkpoints,
/// heartbeats, releases, reaps, rescues, notes).
pub fn investigation_effects(
    before: Option<&Investigation>,
    t: &Transition,
) -> Vec<InvestigationEffect> {
    let next = &t.next;
    if next.case_id.is_none() {
        return Vec::new();
    }
    let Some(before) = before else {
        return vec![InvestigationEffect::Linked {
            investigation_id: next.id,
            agent_id: next.agent_id.clone(),
            requested_by: next.requested_by.clone(),
            purpose: next.case_purpose,
        }];
    };
    let mut effects = Vec::new();
    match &t.approval {
        Some(ApprovalWrite::Create(request)) => {
            effects.push(InvestigationEffect::ApprovalRequested(request.clone()));
        }
        Some(ApprovalWrite::Resolve {
            id,
            status,
            decided_by,
            comment,
            ..
        }) if before.phase == Some(Phase::AwaitingApproval) => {
            effects.push(InvestigationEffect::ApprovalResolved {
                investigation_id: next.id,
                approval_id: *id,
                status: *status,
                decided_by: decided_by.clone(),
                comment: comment.clone(),
            });
        }
        Some(ApprovalWrite::Resolve { .. }) | None => {}
    }
    let finished = matches!(
        next.status,
        Status::Completed | Status::ReviewRequired | Status::Failed | Status::DeadLettered
    );
    if finished && before.status != next.status {
        effects.push(InvestigationEffect::Finished(Box::new(next.clone())));
    }
    effects
}

/// What the store reads for a completion's write-back
/// ([`InvestigationEffect::needs_facts`]), inside the same transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// The observables the case holds.
    pub observables: &'a [Observable],
    /// The output of each of the investigation's tool results that is not
    /// an error, in log order: its entities become observables too.
    pub tool_outputs: &'a [String],
}

/// Decides `effect` on `case` as stored (locked by the caller), with the
/// [`Facts`] a completion needs. Never refuses: an investigation's
/// transition must not fail because of its case. A case that was deleted
/// or merged records nothing; a closed or resolved case records the entry
/// but does not move, and takes no observables.
pub fn follow(
    case: &Case,
    facts: Facts<'_>,
    effect: &InvestigationEffect,
    now: DateTime<Utc>,
) -> CaseTransition {
    let unchanged = || CaseTransition {
        next: case.clone(),
        entries: Vec::new(),
        writes: Vec::new(),
    };
    if case.is_retired() {
        return unchanged();
    }
    let by = effect.actor();
    let mut next = case.clone();
    let decided = match effect {
        InvestigationEffect::Linked {
            investigation_id,
            agent_id,
            purpose,
            ..
        } => Decided {
            bodies: vec![CaseEventBody::InvestigationLinked {
                investigation_id: *investigation_id,
                agent_id: agent_id.clone(),
                purpose: *purpose,
            }],
            writes: Vec::new(),
        },
        InvestigationEffect::Finished(inv) => match inv.status {
            Status::Completed if inv.case_purpose == CasePurpose::Summarize => {
                summarized(&mut next, inv, &by, now)
            }
            Status::Completed => completed(&mut next, facts, inv, &by, now),
            Status::ReviewRequired | Status::Failed | Status::DeadLettered => needs_attention(inv),
            Status::Pending => return unchanged(),
        },
        InvestigationEffect::ApprovalRequested(request) => requested(&mut next, request, now),
        InvestigationEffect::ApprovalResolved {
            approval_id,
            status,
            decided_by,
            comment,
            ..
        } => match status {
            ApprovalStatus::Approved | ApprovalStatus::Rejected => {
                let decision = if *status == ApprovalStatus::Approved {
                    Decision::Approve
                } else {
                    Decision::Reject
                };
                decided(
                    &mut next,
                    *approval_id,
                    decision,
                    decided_by.clone().unwrap_or_else(|| by.clone()),
                    comment.clone(),
                    now,
                )
            }
            ApprovalStatus::Expired => expired(&mut next, *approval_id, &by, now),
            ApprovalStatus::Pending => return unchanged(),
        },
    };
    seal_decided(next, decided, &by, now)
}

/// Moves `next` to `to` (a move decided by the control plane, not a
/// person's status change) and returns `(from, to)`.
fn move_to(next: &mut Case, to: CaseStatus, now: DateTime<Utc>) -> (CaseStatus, CaseStatus) {
    let from = next.status;
    next.status = to;
    next.status_changed_at = now;
    (from, to)
}

fn requested(next: &mut Case, request: &ApprovalRequest, now: DateTime<Utc>) -> Decided {
    let moves = next.status.is_active() && next.status != CaseStatus::PendingApproval;
    let (status_from, status_to) = if moves {
        next.resume_status = Some(next.status);
        let (from, to) = move_to(next, CaseStatus::PendingApproval, now);
        (Some(from), Some(to))
    } else {
        (None, None)
    };
    Decided {
        bodies: vec![CaseEventBody::ApprovalRequested {
            approval_id: request.id,
            investigation_id: request.investigation_id,
            action: request.action.clone(),
            status_from,
            status_to,
        }],
        writes: Vec::new(),
    }
}

/// The status an approval that is over returns the case to: the one it
/// left, if the approval still holds the case (a person who moved the case
/// meanwhile cleared `resume_status`: the person wins).
fn returning(next: &mut Case) -> Option<CaseStatus> {
    let resume = next.resume_status.take();
    resume.filter(|_| next.status == CaseStatus::PendingApproval)
}

fn decided(
    next: &mut Case,
    approval_id: ApprovalId,
    decision: Decision,
    decided_by: String,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Decided {
    let (status_from, status_to) = match returning(next) {
        Some(to) => {
            let (from, to) = move_to(next, to, now);
            (Some(from), Some(to))
        }
        None => (None, None),
    };
    Decided {
        bodies: vec![CaseEventBody::ApprovalDecided {
            approval_id,
            decision,
            decided_by,
            comment,
            status_from,
            status_to,
        }],
        writes: Vec::new(),
    }
}

fn expired(next: &mut Case, approval_id: ApprovalId, by: &str, now: DateTime<Utc>) -> Decided {
    let (status_from, status_to) = match returning(next) {
        Some(_) => {
            let (from, to) = move_to(next, CaseStatus::InProgress, now);
            (Some(from), Some(to))
        }
        None => (None, None),
    };
    let mut decided = Decided {
        bodies: vec![CaseEventBody::ApprovalExpired {
            approval_id,
            status_from,
            status_to,
        }],
        writes: Vec::new(),
    };
    let note = NewComment {
        author_kind: AuthorKind::Machine,
        kind: CommentKind::Note,
        body: APPROVAL_EXPIRED_NOTE.to_owned(),
    };
    if let Ok(added) = add_comment(next, CommentId::new_at(now), note, by, now) {
        decided.bodies.extend(added.bodies);
        decided.writes.extend(added.writes);
    }
    decided
}

fn link(id: InvestigationId) -> String {
    format!("/api/v1/investigations/{id}")
}

fn needs_attention(inv: &Investigation) -> Decided {
    let action = match inv.status {
        Status::DeadLettered => {
            "its worker stopped renewing the lease (crashed or cut off): rescue it (POST /investigations/{id}/rescue) to resume from its last checkpoint; its result is written to this case when it completes"
        }
        Status::ReviewRequired => {
            "review the investigation's output and grade it (POST /investigations/{id}/review); the result is written to this case when the review completes it"
        }
        _ => {
            "read why it failed; rescue it (POST /investigations/{id}/rescue) or investigate by hand"
        }
    }
    .replace("{id}", &inv.id.to_string());
    Decided {
        bodies: vec![CaseEventBody::InvestigationNeedsAttention {
            investigation_id: inv.id,
            outcome: inv.status,
            reason: inv.error.clone(),
            action,
            link: link(inv.id),
            audit_seq: inv.last_seq,
            audit_hash: inv.last_hash.clone(),
        }],
        writes: Vec::new(),
    }
}

/// A list field of the result: its strings, other values as compact JSON.
fn texts(result: &Value, field: &str) -> Vec<String> {
    match result.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Every string in `value`, depth first.
fn strings<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` in at most `max` characters: cut on a character boundary, the
/// cut marked with `...`.
fn cut(text: &str, max: usize) -> String {
    if text.chars().nth(max).is_none() {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

/// A `summarize` investigation's completion: its result becomes the
/// case's AI summary, an `ai_summary` comment (summary, then each list of
/// recommendations) and a `summary_written` entry. The case does not move,
/// whatever its state (a summary is usually written after the close).
fn summarized(next: &mut Case, inv: &Investigation, by: &str, now: DateTime<Utc>) -> Decided {
    let result = inv.result.clone().unwrap_or(Value::Null);
    let summary = result
        .get("summary")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let lists = [
        ("Immediate actions", texts(&result, "immediate_actions")),
        (
            "Long-term remediation",
            texts(&result, "long_term_remediation"),
        ),
        ("Policy changes", texts(&result, "policy_changes")),
        ("Similar past cases", texts(&result, "similar_cases")),
    ];
    let mut body = format!(
        "AI summary by investigation {} (agent {}).\n",
        inv.id, inv.agent_id
    );
    if let Some(s) = &summary {
        body.push_str(&format!("\n{s}\n"));
    }
    for (title, items) in &lists {
        if !items.is_empty() {
            body.push_str(&format!("\n{title}:\n"));
            for item in items {
                body.push_str(&format!("- {item}\n"));
            }
        }
    }
    body.push_str(&format!(
        "\nAudit head: seq {}, hash {}",
        inv.last_seq, inv.last_hash
    ));
    let comment_id = CommentId::new_at(now);
    let comment = NewComment {
        author_kind: AuthorKind::Machine,
        kind: CommentKind::AiSummary,
        body: cut(&body, MAX_TEXT),
    };
    let mut decided = Decided::nothing();
    if let Ok(added) = add_comment(next, comment_id, comment, by, now) {
        decided.bodies.extend(added.bodies);
        decided.writes.extend(added.writes);
    }
    let [(_, immediate), (_, long_term), (_, policy), (_, similar)] = lists;
    decided.bodies.push(CaseEventBody::SummaryWritten {
        investigation_id: inv.id,
        agent_id: inv.agent_id.clone(),
        comment_id,
        summary,
        immediate_actions: immediate,
        long_term_remediation: long_term,
        policy_changes: policy,
        similar_cases: similar,
        link: link(inv.id),
        audit_seq: inv.last_seq,
        audit_hash: inv.last_hash.clone(),
    });
    decided
}

/// The entities in a tool's output: a JSON output's strings (and the users
/// and hosts its fields name), or the text's values when it is not JSON.
/// A dry-run preview (`{"dry_run": true, ...}`) names what a write would
/// have touched, not what was seen: it gives none.
fn tool_entities(output: &str) -> Vec<(ObservableType, String)> {
    match serde_json::from_str::<Value>(output) {
        Ok(value) if value.get("dry_run") == Some(&Value::Bool(true)) => Vec::new(),
        Ok(value @ (Value::Object(_) | Value::Array(_))) => extract_entities(&value),
        _ => extract_observables(output),
    }
}

fn completed(
    next: &mut Case,
    facts: Facts<'_>,
    inv: &Investigation,
    by: &str,
    now: DateTime<Utc>,
) -> Decided {
    let result = inv.result.clone().unwrap_or(Value::Null);
    let summary = result
        .get("summary")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let key_findings = texts(&result, "key_findings");
    let next_steps = texts(&result, "recommended_next_steps");
    let mut decided = Decided::nothing();

    // The machine-authored note: what an analyst reads first.
    let mut note = format!(
        "Investigation {} (agent {}) completed",
        inv.id, inv.agent_id
    );
    if let Some(c) = inv.confidence {
        note.push_str(&format!(", confidence {c:.2}"));
    }
    note.push_str(".\n");
    if let Some(s) = &summary {
        note.push_str(&format!("\nSummary: {s}\n"));
    }
    for (title, items) in [
        ("Key findings", &key_findings),
        ("Recommended next steps", &next_steps),
    ] {
        if !items.is_empty() {
            note.push_str(&format!("\n{title}:\n"));
            for item in items {
                note.push_str(&format!("- {item}\n"));
            }
        }
    }
    note.push_str(&format!(
        "\nAudit head: seq {}, hash {}",
        inv.last_seq, inv.last_hash
    ));
    let comment = NewComment {
        author_kind: AuthorKind::Machine,
        kind: CommentKind::Note,
        body: cut(&note, MAX_TEXT),
    };
    if let Ok(added) = add_comment(next, CommentId::new_at(now), comment, by, now) {
        decided.bodies.extend(added.bodies);
        decided.writes.extend(added.writes);
    }

    // Observables, from every text of the result and every tool output
    // that is not an error; only a case still worked takes them (a closed
    // case takes comments only).
    let mut registered = Vec::new();
    if next.status != CaseStatus::Closed {
        let mut all = Vec::new();
        strings(&result, &mut all);
        let mut found = Vec::new();
        let hits = all
            .into_iter()
            .flat_map(extract_observables)
            .chain(facts.tool_outputs.iter().flat_map(|o| tool_entities(o)));
        for hit in hits {
            if !found.contains(&hit) {
                found.push(hit);
            }
        }
        for (kind, value) in found {
            let existing = facts
                .observables
                .iter()
                .find(|o| o.kind == kind && o.value == value)
                .cloned();
            let new = NewObservable {
                kind,
                value: value.clone(),
                source: Some(by.to_owned()),
                tlp: None,
                pap: None,
                tags: Vec::new(),
                enrichment: None,
            };
            let id = ObservableId::new_at(now);
            if let Ok(added) = add_observable(next, id, new, existing, by, now) {
                decided.bodies.extend(added.bodies);
                decided.writes.extend(added.writes);
                registered.push(format!("{kind}:{value}"));
            }
        }
    }

    decided.bodies.push(CaseEventBody::ResultWritten {
        investigation_id: inv.id,
        agent_id: inv.agent_id.clone(),
        summary: summary.clone(),
        key_findings,
        recommended_next_steps: next_steps,
        confidence: inv.confidence,
        link: link(inv.id),
        audit_seq: inv.last_seq,
        audit_hash: inv.last_hash.clone(),
        observables: registered,
        status_from: None,
        status_to: None,
    });

    if next.status.is_active() {
        // The case's confidence, with the reason.
        if let Some(c) = inv.confidence
            && next.confidence != Some(c)
        {
            let reason = match &summary {
                Some(s) => format!(
                    "investigation {} ({}): {}",
                    inv.id,
                    inv.agent_id,
                    cut(s, 300)
                ),
                None => format!("investigation {} ({})", inv.id, inv.agent_id),
            };
            let mut field = |name: &str, old: Value, new: Value| {
                if old != new {
                    decided.bodies.push(CaseEventBody::FieldChange(Change {
                        field: name.to_owned(),
                        old,
                        new,
                    }));
                }
            };
            field("confidence", json!(next.confidence), json!(c));
            field(
                "confidence_reason",
                json!(next.confidence_reason),
                json!(reason),
            );
            next.confidence = Some(c);
            next.confidence_reason = Some(reason);
        }
        // An open case is now being worked.
        if next.status == CaseStatus::Open {
            let (from, to) = move_to(next, CaseStatus::InProgress, now);
            decided.bodies.push(CaseEventBody::StatusChange {
                from,
                to,
                disposition_from: None,
                disposition_to: None,
                reason: Some(format!("investigation {} completed", inv.id)),
            });
        }
    }
    decided
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_character_boundaries_and_the_limit() {
        let long = "é".repeat(400);
        let cut_long = cut(&long, 300);
        assert_eq!(cut_long.chars().count(), 300);
        assert!(cut_long.ends_with("..."));
        assert_eq!(cut("short", 300), "short");
        assert_eq!(cut(&"a".repeat(300), 300), "a".repeat(300));
    }
}

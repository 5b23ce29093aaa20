//! Create, update (fields and status), delete.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::records::link_alert;
use super::{
    CasePatch, CaseTransitionError, CaseWrite, Decided, MAX_NAME, MAX_REASON, MAX_TEXT, NewCase,
    StatusChange, check_confidence, invalid, optional, required, tags, within,
};
use crate::case::event::{CaseEventBody, Change};
use crate::case::model::{Case, CaseId, CaseNumber, CaseStatus};
use crate::log::GENESIS;

/// The case a create makes, its `created` entry and its alert links.
pub(super) fn create(
    id: CaseId,
    number: CaseNumber,
    new: NewCase,
    alert_owners: &HashMap<String, CaseId>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Case, Decided), CaseTransitionError> {
    let title = required("title", &new.title, Case::MAX_TITLE)?;
    within("description", &new.description, MAX_TEXT)?;
    let assignee = optional("assignee", new.assignee.as_deref(), MAX_NAME)?;
    check_confidence(new.confidence)?;
    let confidence_reason = optional(
        "confidence_reason",
        new.confidence_reason.as_deref(),
        MAX_REASON,
    )?;
    let tags = tags("tags", &new.tags)?;
    if number.0 < 1 {
        return Err(invalid("number", "must be positive"));
    }
    let mut case = Case {
        id,
        number,
        title,
        severity: new.severity,
        description: new.description,
        assignee,
        requires_human_approval: new.requires_human_approval,
        confidence: new.confidence,
        confidence_reason,
        status: CaseStatus::Open,
        disposition: None,
        resume_status: None,
        alert_ids: Vec::new(),
        tags,
        created_by: by.to_owned(),
        created_at: now,
        updated_at: now,
        status_changed_at: now,
        deleted_at: None,
        merged_into: None,
        last_seq: 0,
        last_hash: GENESIS.to_owned(),
    };
    let mut decided = Decided {
        bodies: vec![CaseEventBody::Created {
            number,
            title: case.title.clone(),
            severity: case.severity,
            status: case.status,
            description: case.description.clone(),
            assignee: case.assignee.clone(),
            requires_human_approval: case.requires_human_approval,
            confidence: case.confidence,
            tags: case.tags.clone(),
        }],
        writes: Vec::new(),
    };
    for alert_id in new.alert_ids {
        let owner = alert_owners.get(alert_id.trim()).copied();
        let linked = link_alert(&mut case, alert_id, owner, by, now)?;
        decided.bodies.extend(linked.bodies);
        decided.writes.extend(linked.writes);
    }
    Ok((case, decided))
}

/// Applies a patch: its fields (one entry per changed field) and its
/// status change, reopen first (see [`CasePatch`]).
pub(super) fn update(
    cur: &Case,
    next: &mut Case,
    patch: CasePatch,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    let mut decided = Decided::nothing();
    let reopens = cur.status == CaseStatus::Closed
        && patch
            .status
            .as_ref()
            .is_some_and(|s| s.to == CaseStatus::Open);
    let status = patch.status.clone();
    if reopens && let Some(change) = &status {
        decided.bodies.push(change_status(next, change, now)?);
    }
    fields(next, &patch, &mut decided)?;
    if !reopens && let Some(change) = &status {
        decided.bodies.push(change_status(next, change, now)?);
    }
    Ok(decided)
}

/// Applies a status change to `next` and returns its entry.
pub(super) fn change_status(
    next: &mut Case,
    change: &StatusChange,
    now: DateTime<Utc>,
) -> Result<CaseEventBody, CaseTransitionError> {
    let from = next.status;
    let to = change.to;
    if !from.may_move_to(to) {
        return Err(CaseTransitionError::InvalidStatus {
            from,
            to,
            allowed: from.allowed_next(),
        });
    }
    let reason = optional("reason", change.reason.as_deref(), MAX_REASON)?;
    if from == CaseStatus::Closed && to == CaseStatus::Open && reason.is_none() {
        return Err(invalid("reason", "a reopen needs a reason"));
    }
    let disposition = if to.is_terminal() {
        match change.disposition.or(next.disposition) {
            Some(d) => Some(d),
            None => {
                return Err(invalid(
                    "disposition",
                    format!("a {to} case needs a disposition"),
                ));
            }
        }
    } else {
        if change.disposition.is_some() {
            return Err(invalid(
                "disposition",
                "only resolved and closed cases take a disposition",
            ));
        }
        None
    };
    let body = CaseEventBody::StatusChange {
        from,
        to,
        disposition_from: next.disposition,
        disposition_to: disposition,
        reason,
    };
    next.status = to;
    next.disposition = disposition;
    next.status_changed_at = now;
    // A person moved the case: an approval that holds it no longer
    // returns it anywhere (the person wins).
    next.resume_status = None;
    Ok(body)
}

/// Applies the patch's field changes to `next`, one entry per field that
/// actually changes.
fn fields(
    next: &mut Case,
    patch: &CasePatch,
    decided: &mut Decided,
) -> Result<(), CaseTransitionError> {
    let mut field = |name: &str, old: Value, new: Value| {
        if old != new {
            decided.bodies.push(CaseEventBody::FieldChange(Change {
                field: name.to_owned(),
                old,
                new,
            }));
        }
    };
    if let Some(title) = &patch.title {
        let title = required("title", title, Case::MAX_TITLE)?;
        field("title", json!(next.title), json!(title));
        next.title = title;
    }
    if let Some(description) = &patch.description {
        within("description", description, MAX_TEXT)?;
        field("description", json!(next.description), json!(description));
        next.description.clone_from(description);
    }
    if let Some(flag) = patch.requires_human_approval {
        field(
            "requires_human_approval",
            json!(next.requires_human_approval),
            json!(flag),
        );
        next.requires_human_approval = flag;
    }
    if let Some(confidence) = patch.confidence {
        check_confidence(confidence)?;
        field("confidence", json!(next.confidence), json!(confidence));
        next.confidence = confidence;
    }
    if let Some(reason) = &patch.confidence_reason {
        let reason = optional("confidence_reason", reason.as_deref(), MAX_REASON)?;
        field(
            "confidence_reason",
            json!(next.confidence_reason),
            json!(reason),
        );
        next.confidence_reason = reason;
    }
    if let Some(given) = &patch.tags {
        let tags = tags("tags", given)?;
        field("tags", json!(next.tags), json!(tags));
        next.tags = tags;
    }
    if let Some(severity) = patch.severity
        && severity != next.severity
    {
        decided.bodies.push(CaseEventBody::SeverityChange {
            from: next.severity,
            to: severity,
        });
        next.severity = severity;
    }
    if let Some(assignee) = &patch.assignee {
        let assignee = optional("assignee", assignee.as_deref(), MAX_NAME)?;
        if assignee != next.assignee {
            decided.bodies.push(CaseEventBody::AssignmentChange {
                from: next.assignee.clone(),
                to: assignee.clone(),
            });
            next.assignee = assignee;
        }
    }
    Ok(())
}

/// Soft-deletes: `deleted_at` set, alerts detached.
pub(super) fn delete(
    next: &mut Case,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    let reason = optional("reason", reason.as_deref(), MAX_REASON)?;
    let alerts_detached = std::mem::take(&mut next.alert_ids);
    next.deleted_at = Some(now);
    Ok(Decided {
        bodies: vec![CaseEventBody::CaseDeleted {
            reason,
            alerts_detached,
        }],
        writes: vec![CaseWrite::DetachAlerts { case_id: next.id }],
    })
}

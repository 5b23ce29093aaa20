//! Commands from people and sweeps: dispatch, reap, rescue, cancel, review,
//! annotate; and `children_finished`, written when a parent's last child
//! finishes.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    ApprovalWrite, CHILDREN, Decided, NewInvestigation, REAPER, TransitionError, check_confidence,
    clear_lease, finish, not_allowed, require_text,
};
use crate::approval::{ApprovalRequest, ApprovalStatus};
use crate::event::{ChildFinished, EventBody};
use crate::log::GENESIS;
use crate::model::{Investigation, Phase, Status, Usage};

/// The record a dispatch creates and its `dispatched` event.
pub(super) fn dispatch(
    new: NewInvestigation,
    now: DateTime<Utc>,
) -> Result<(Investigation, Decided), TransitionError> {
    require_text("agent_id", &new.agent_id)?;
    require_text("prompt", &new.prompt)?;
    require_text("requested_by", &new.requested_by)?;
    new.budget
        .check()
        .map_err(|(field, message)| TransitionError::InvalidInput { field, message })?;
    let record = Investigation {
        id: new.id,
        agent_id: new.agent_id.clone(),
        prompt: new.prompt.clone(),
        requested_by: new.requested_by.clone(),
        case_ref: new.case_ref.clone(),
        case_id: new.case_id,
        case_purpose: new.case_purpose,
        case_requires_approval: false,
        parent: new.parent.clone(),
        idempotency_key: new.idempotency_key,
        status: Status::Pending,
        phase: Some(Phase::Queued),
        lease_owner: None,
        lease_epoch: 0,
        lease_expires_at: None,
        heartbeat_at: None,
        attempt: 0,
        claims: 0,
        not_before: None,
        last_seq: 0,
        last_hash: GENESIS.to_owned(),
        waiting_on: None,
        result: None,
        result_raw: None,
        confidence: None,
        error: None,
        usage: Usage::default(),
        mode: None,
        budget: new.budget.clone(),
        created_at: now,
        started_at: None,
        updated_at: now,
        finished_at: None,
        traceparent: new.traceparent,
        segment_traceparent: None,
    };
    let body = EventBody::Dispatched {
        agent_id: new.agent_id,
        prompt: new.prompt,
        requested_by: new.requested_by.clone(),
        case_ref: new.case_ref,
        case_id: new.case_id,
        case_purpose: new.case_purpose,
        budget: new.budget,
        parent: new.parent,
    };
    Ok((record, Decided::event(body, new.requested_by)))
}

pub(super) fn reap(
    cur: &Investigation,
    next: &mut Investigation,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    if !cur.is_running() {
        return Err(not_allowed("reap", cur));
    }
    if cur.lease_expires_at.is_some_and(|t| now < t) {
        return Err(TransitionError::LeaseNotExpired);
    }
    finish(next, Status::DeadLettered, now);
    next.lease_epoch += 1;
    next.error = Some(format!(
        "lease held by {} expired; last heartbeat {}",
        cur.lease_owner.as_deref().unwrap_or("unknown worker"),
        cur.heartbeat_at
            .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
    ));
    let body = EventBody::DeadLettered {
        worker: cur.lease_owner.clone(),
        last_heartbeat_at: cur.heartbeat_at,
        lease_expired_at: cur.lease_expires_at,
        attempt: cur.attempt,
    };
    Ok(Decided::event(body, REAPER.to_owned()))
}

pub(super) fn rescue(
    cur: &Investigation,
    next: &mut Investigation,
    by: String,
    reason: String,
) -> Result<Decided, TransitionError> {
    if !matches!(cur.status, Status::DeadLettered | Status::Failed) {
        return Err(not_allowed("rescue", cur));
    }
    require_text("by", &by)?;
    require_text("reason", &reason)?;
    next.status = Status::Pending;
    next.phase = Some(Phase::Queued);
    next.lease_epoch += 1;
    // The previous claim ended badly (dead-lettered or failed): the next
    // claim is another try.
    next.attempt += 1;
    next.error = None;
    next.finished_at = None;
    next.waiting_on = None;
    clear_lease(next);
    let body = EventBody::Rescued {
        by: by.clone(),
        reason,
        from: cur.status,
    };
    Ok(Decided::event(body, by))
}

pub(super) fn children_finished(
    cur: &Investigation,
    next: &mut Investigation,
    children: Vec<ChildFinished>,
) -> Result<Decided, TransitionError> {
    if !cur.is_awaiting_children() {
        return Err(not_allowed("children_finished", cur));
    }
    if let Some(child) = children
        .iter()
        .find(|c| !c.status.is_terminal() || c.status == Status::DeadLettered)
    {
        return Err(TransitionError::InvalidInput {
            field: "children",
            message: format!(
                "child {} has not finished (it is {})",
                child.id, child.status
            ),
        });
    }
    next.phase = Some(Phase::Queued);
    Ok(Decided::event(
        EventBody::ChildrenFinished { children },
        CHILDREN.to_owned(),
    ))
}

pub(super) fn cancel(
    cur: &Investigation,
    next: &mut Investigation,
    by: String,
    reason: String,
    pending_approval: Option<ApprovalRequest>,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    if cur.status != Status::Pending {
        return Err(not_allowed("cancel", cur));
    }
    require_text("by", &by)?;
    require_text("reason", &reason)?;
    // A parked run's request is resolved with it: the caller must hand over
    // that very request, still pending, or nothing changes.
    let resolves = match (cur.waiting_on, &pending_approval) {
        (None, _) => None,
        (Some(id), Some(a)) if a.id == id && a.status == ApprovalStatus::Pending => Some(id),
        (Some(id), _) => {
            return Err(TransitionError::InvalidInput {
                field: "pending_approval",
                message: format!(
                    "the pending approval request {id} must be resolved with the cancel"
                ),
            });
        }
    };
    finish(next, Status::Failed, now);
    next.lease_epoch += 1;
    next.error = Some(format!("cancelled by {by}: {reason}"));
    let approval = resolves.map(|id| ApprovalWrite::Resolve {
        id,
        status: ApprovalStatus::Rejected,
        decided_by: Some(by.clone()),
        decided_at: now,
        comment: Some(format!("investigation cancelled: {reason}")),
    });
    let body = EventBody::Cancelled {
        by: by.clone(),
        reason,
    };
    Ok(Decided {
        bodies: vec![body],
        actor: by,
        approval,
    })
}

pub(super) fn review(
    cur: &Investigation,
    next: &mut Investigation,
    by: String,
    result: Value,
    confidence: Option<f64>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    if cur.status != Status::ReviewRequired {
        return Err(not_allowed("review", cur));
    }
    require_text("by", &by)?;
    check_confidence(confidence)?;
    next.status = Status::Completed;
    next.result = Some(result.clone());
    next.confidence = confidence;
    next.finished_at = Some(now);
    next.error = None;
    let body = EventBody::Reviewed {
        by: by.clone(),
        result,
        confidence,
        note,
    };
    Ok(Decided::event(body, by))
}

pub(super) fn annotate(by: String, text: String) -> Result<Decided, TransitionError> {
    require_text("by", &by)?;
    require_text("text", &text)?;
    let body = EventBody::OperatorNote {
        by: by.clone(),
        text,
    };
    Ok(Decided::event(body, by))
}

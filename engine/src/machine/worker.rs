//! Worker commands: claim, heartbeat, checkpoint, await_approval,
//! await_children, release,
//! complete, fail. All but claim are fenced by the lease epoch they name.

use chrono::{DateTime, Duration, Utc};

use super::{
    ApprovalDraft, ApprovalWrite, Decided, TransitionError, check_confidence, clear_lease, fence,
    finish, not_allowed, require_positive, require_text,
};
use crate::approval::{ApprovalRequest, ApprovalStatus};
use crate::event::{EventBody, StepEvent};
use crate::model::{Investigation, InvestigationId, Phase, Status};
use crate::result::Completion;

/// The runtime modes a worker may claim in.
const MODES: [&str; 3] = ["dummy", "dry_run", "real"];

pub(super) fn claim(
    cur: &Investigation,
    next: &mut Investigation,
    worker: String,
    mode: Option<String>,
    lease_for: Duration,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    if !cur.is_queued() {
        return Err(not_allowed("claim", cur));
    }
    require_text("worker", &worker)?;
    if let Some(mode) = mode.as_deref().filter(|m| !MODES.contains(m)) {
        return Err(TransitionError::InvalidInput {
            field: "mode",
            message: format!("must be one of {}, not `{mode}`", MODES.join(", ")),
        });
    }
    require_positive("lease_for", lease_for)?;
    next.phase = Some(Phase::Running);
    next.lease_epoch += 1;
    next.claims += 1;
    next.not_before = None;
    // Only the first claim starts an attempt here; a rescue starts the others.
    next.attempt = next.attempt.max(1);
    next.lease_owner = Some(worker.clone());
    next.lease_expires_at = Some(now + lease_for);
    next.heartbeat_at = Some(now);
    next.started_at.get_or_insert(now);
    next.mode.clone_from(&mode);
    let body = EventBody::Claimed {
        worker: worker.clone(),
        attempt: next.attempt,
        lease_expires_at: now + lease_for,
        mode,
    };
    Ok(Decided::event(body, worker))
}

pub(super) fn heartbeat(
    cur: &Investigation,
    next: &mut Investigation,
    epoch: i64,
    lease_for: Duration,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    fence(cur, epoch, now)?;
    require_positive("lease_for", lease_for)?;
    next.lease_expires_at = Some(now + lease_for);
    next.heartbeat_at = Some(now);
    Ok(Decided::nothing())
}

pub(super) fn checkpoint(
    cur: &Investigation,
    next: &mut Investigation,
    epoch: i64,
    events: Vec<StepEvent>,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    fence(cur, epoch, now)?;
    if events.is_empty() {
        return Err(TransitionError::InvalidInput {
            field: "events",
            message: "a checkpoint appends at least one event".to_owned(),
        });
    }
    for event in &events {
        match event {
            StepEvent::ModelTurn(turn) => {
                next.usage.model_turns += 1;
                next.usage.input_tokens += turn.input_tokens.max(0);
                next.usage.output_tokens += turn.output_tokens.max(0);
                next.usage.cost_usd += turn.cost_usd.max(0.0);
            }
            StepEvent::ModelCallFailed(_) => next.usage.lost_turns += 1,
            StepEvent::ToolIntent(_) | StepEvent::ToolResult(_) => {}
        }
    }
    Ok(Decided {
        bodies: events.into_iter().map(EventBody::from).collect(),
        actor: owner(cur),
        approval: None,
    })
}

pub(super) fn await_children(
    cur: &Investigation,
    next: &mut Investigation,
    epoch: i64,
    children: Vec<InvestigationId>,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    fence(cur, epoch, now)?;
    if children.is_empty() {
        return Err(TransitionError::InvalidInput {
            field: "children",
            message: "must name at least one child".to_owned(),
        });
    }
    next.phase = Some(Phase::AwaitingChildren);
    clear_lease(next);
    Ok(Decided::event(
        EventBody::AwaitingChildren { children },
        owner(cur),
    ))
}

pub(super) fn await_approval(
    cur: &Investigation,
    next: &mut Investigation,
    epoch: i64,
    request: ApprovalDraft,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    fence(cur, epoch, now)?;
    require_text("tool_call_id", &request.tool_call_id)?;
    require_text("action", &request.action)?;
    if request.expires_at <= now {
        return Err(TransitionError::InvalidInput {
            field: "expires_at",
            message: "must be in the future".to_owned(),
        });
    }
    next.phase = Some(Phase::AwaitingApproval);
    next.waiting_on = Some(request.id);
    clear_lease(next);
    let created = ApprovalRequest {
        id: request.id,
        investigation_id: cur.id,
        tool_call_id: request.tool_call_id.clone(),
        action: request.action.clone(),
        arguments: request.arguments.clone(),
        rationale: request.rationale.clone(),
        status: ApprovalStatus::Pending,
        created_at: now,
        expires_at: request.expires_at,
        decided_by: None,
        decided_at: None,
        comment: None,
        mode: request.mode.clone(),
    };
    let body = EventBody::ApprovalRequested {
        approval_id: request.id,
        tool_call_id: request.tool_call_id,
        action: request.action,
        arguments: request.arguments,
        rationale: request.rationale,
        expires_at: request.expires_at,
        mode: request.mode,
    };
    Ok(Decided {
        bodies: vec![body],
        actor: owner(cur),
        approval: Some(ApprovalWrite::Create(created)),
    })
}

pub(super) fn release(
    cur: &Investigation,
    next: &mut Investigation,
    epoch: i64,
    reason: String,
    not_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    fence(cur, epoch, now)?;
    require_text("reason", &reason)?;
    let worker = owner(cur);
    next.phase = Some(Phase::Queued);
    clear_lease(next);
    if not_before.is_some() {
        // A retry: this claim ended badly, the next one is another try.
        next.attempt += 1;
    }
    next.not_before = not_before;
    let body = EventBody::Released {
        worker: worker.clone(),
        reason,
        not_before,
    };
    Ok(Decided::event(body, worker))
}

pub(super) fn complete(
    cur: &Investigation,
    next: &mut Investigation,
    epoch: i64,
    outcome: Completion,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    fence(cur, epoch, now)?;
    let body = match outcome {
        Completion::Valid { result, confidence } => {
            check_confidence(confidence)?;
            finish(next, Status::Completed, now);
            next.result = Some(result.clone());
            next.confidence = confidence;
            next.error = None;
            EventBody::Completed { result, confidence }
        }
        Completion::Invalid {
            reason,
            result_raw,
            errors,
        } => {
            require_text("reason", &reason)?;
            finish(next, Status::ReviewRequired, now);
            next.result_raw = result_raw.clone();
            // The record's error lists every error, so whoever reads the
            // record (API, CLI, console) sees each field that failed.
            next.error = Some(if errors.is_empty() {
                reason.clone()
            } else {
                format!("{reason}: {}", errors.join("; "))
            });
            EventBody::ReviewRequired {
                reason,
                result_raw,
                errors,
            }
        }
    };
    Ok(Decided::event(body, owner(cur)))
}

pub(super) fn fail(
    cur: &Investigation,
    next: &mut Investigation,
    epoch: i64,
    reason: String,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    fence(cur, epoch, now)?;
    require_text("reason", &reason)?;
    finish(next, Status::Failed, now);
    next.error = Some(reason.clone());
    Ok(Decided::event(EventBody::Failed { reason }, owner(cur)))
}

/// The lease holder, the actor of every fenced write.
fn owner(cur: &Investigation) -> String {
    cur.lease_owner.clone().unwrap_or_default()
}

//! Approval commands: an approver's decision and the expiry of a request.
//! Both resolve the request the investigation is parked on and queue it.

use chrono::{DateTime, Utc};

use super::{ApprovalWrite, Decided, EXPIRY, TransitionError, not_allowed, require_text};
use crate::approval::{ApprovalRequest, ApprovalStatus, Decision};
use crate::event::EventBody;
use crate::model::{Investigation, Phase};

/// The request must still be pending, and the investigation parked on it.
fn check_parked(
    command: &'static str,
    cur: &Investigation,
    approval: &ApprovalRequest,
) -> Result<(), TransitionError> {
    if approval.status != ApprovalStatus::Pending {
        return Err(TransitionError::ApprovalNotPending {
            id: approval.id,
            status: approval.status,
        });
    }
    if !cur.is_parked_on(approval.id) {
        return Err(not_allowed(command, cur));
    }
    Ok(())
}

pub(super) fn decide(
    cur: &Investigation,
    next: &mut Investigation,
    approval: ApprovalRequest,
    decision: Decision,
    by: String,
    comment: Option<String>,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    check_parked("decide", cur, &approval)?;
    require_text("decided_by", &by)?;
    if now >= approval.expires_at {
        return Err(TransitionError::ApprovalExpired {
            id: approval.id,
            expires_at: approval.expires_at,
        });
    }
    if by == cur.requested_by {
        return Err(TransitionError::SeparationOfDuties { by });
    }
    next.phase = Some(Phase::Queued);
    next.waiting_on = None;
    let write = ApprovalWrite::Resolve {
        id: approval.id,
        status: decision.status(),
        decided_by: Some(by.clone()),
        decided_at: now,
        comment: comment.clone(),
    };
    let body = EventBody::ApprovalDecided {
        approval_id: approval.id,
        tool_call_id: approval.tool_call_id,
        decision,
        decided_by: by.clone(),
        comment,
    };
    Ok(Decided {
        bodies: vec![body],
        actor: by,
        approval: Some(write),
    })
}

pub(super) fn expire(
    cur: &Investigation,
    next: &mut Investigation,
    approval: ApprovalRequest,
    now: DateTime<Utc>,
) -> Result<Decided, TransitionError> {
    check_parked("expire", cur, &approval)?;
    if now < approval.expires_at {
        return Err(TransitionError::ApprovalNotDue {
            id: approval.id,
            expires_at: approval.expires_at,
        });
    }
    next.phase = Some(Phase::Queued);
    next.waiting_on = None;
    let write = ApprovalWrite::Resolve {
        id: approval.id,
        status: ApprovalStatus::Expired,
        decided_by: None,
        decided_at: now,
        comment: None,
    };
    let body = EventBody::ApprovalExpired {
        approval_id: approval.id,
        tool_call_id: approval.tool_call_id,
    };
    Ok(Decided {
        bodies: vec![body],
        actor: EXPIRY.to_owned(),
        approval: Some(write),
    })
}

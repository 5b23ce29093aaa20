//! The pure state machine: every change to an investigation is decided here.
//!
//! [`transition`] takes the current record (or `None` for a dispatch), a
//! [`Command`] and the time, and returns the next record, the sealed events to
//! append and any approval row to write. It does no IO; stores persist its
//! output in one transaction. The match over commands is exhaustive, with no
//! catch-all arm, so a new command cannot be added without deciding every
//! state it may come from.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::approval::{ApprovalId, ApprovalRequest, ApprovalStatus, Decision};
use crate::chain::{GENESIS, seal};
use crate::event::{Event, EventBody, StepEvent};
use crate::model::{Budget, Investigation, InvestigationId, Phase, Status, Usage};
use crate::result::Completion;

/// The actor recorded on events written by the reaper.
pub const REAPER: &str = "system:reaper";
/// The actor recorded on events written by the approval-expiry sweep.
pub const EXPIRY: &str = "system:expiry";

/// A new investigation, as dispatched.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInvestigation {
    /// Its id (a UUID v7 from the store's clock).
    pub id: InvestigationId,
    /// The agent.
    pub agent_id: String,
    /// The prompt.
    pub prompt: String,
    /// The dispatching principal.
    pub requested_by: String,
    /// External case id.
    pub case_ref: Option<String>,
    /// The requester's idempotency key.
    pub idempotency_key: Option<String>,
    /// Budget overrides.
    pub budget: Budget,
}

/// An approval request about to be created.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalDraft {
    /// Its id.
    pub id: ApprovalId,
    /// The model's tool call id.
    pub tool_call_id: String,
    /// The tool.
    pub action: String,
    /// Its arguments.
    pub arguments: Value,
    /// The model's rationale.
    pub rationale: Option<String>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// A command: the only way to ask for a change.
///
/// Worker commands carry the lease epoch they hold; the transition fails with
/// [`TransitionError::LeaseLost`] unless the investigation is running under
/// exactly that epoch with an unexpired lease.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Create an investigation (from nothing to `pending/queued`).
    Dispatch(NewInvestigation),
    /// Take the lease on a queued investigation.
    Claim {
        /// The claiming worker's id.
        worker: String,
        /// How long the lease lasts without a heartbeat.
        lease_for: Duration,
    },
    /// Renew the lease. Appends no event.
    Heartbeat {
        /// The epoch held.
        epoch: i64,
        /// New lease length from now.
        lease_for: Duration,
    },
    /// Append step events (model turns, tool intents, tool results).
    Checkpoint {
        /// The epoch held.
        epoch: i64,
        /// The events, in order. Must not be empty.
        events: Vec<StepEvent>,
    },
    /// Park on an approval request and release the lease.
    AwaitApproval {
        /// The epoch held.
        epoch: i64,
        /// The request to create.
        request: ApprovalDraft,
    },
    /// An approver's decision on the request the investigation waits on.
    Decide {
        /// The approval request as currently stored.
        approval: ApprovalRequest,
        /// The answer.
        decision: Decision,
        /// The approver's principal name.
        by: String,
        /// Their comment.
        comment: Option<String>,
    },
    /// Expire the request the investigation waits on (its time has passed).
    Expire {
        /// The approval request as currently stored.
        approval: ApprovalRequest,
    },
    /// Give the investigation back to the queue (graceful shutdown).
    Release {
        /// The epoch held.
        epoch: i64,
        /// Why.
        reason: String,
    },
    /// Finish with a result (valid or for review).
    Complete {
        /// The epoch held.
        epoch: i64,
        /// The outcome.
        outcome: Completion,
    },
    /// End without a result.
    Fail {
        /// The epoch held.
        epoch: i64,
        /// Why.
        reason: String,
    },
    /// Dead-letter a running investigation whose lease has expired.
    Reap,
    /// Put a dead-lettered or failed investigation back in the queue.
    Rescue {
        /// The operator.
        by: String,
        /// Their reason (required).
        reason: String,
    },
    /// Stop a pending investigation.
    Cancel {
        /// The operator.
        by: String,
        /// Their reason (required).
        reason: String,
        /// The pending approval it waits on, resolved as rejected.
        pending_approval: Option<ApprovalRequest>,
    },
    /// Grade a `review_required` result.
    Review {
        /// The analyst.
        by: String,
        /// The accepted or corrected result (already validated).
        result: Value,
        /// Its confidence.
        confidence: Option<f64>,
        /// Their note.
        note: Option<String>,
    },
    /// Add an operator note. Changes nothing else.
    Annotate {
        /// The operator.
        by: String,
        /// The note.
        text: String,
    },
}

impl Command {
    /// The command's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Dispatch(_) => "dispatch",
            Command::Claim { .. } => "claim",
            Command::Heartbeat { .. } => "heartbeat",
            Command::Checkpoint { .. } => "checkpoint",
            Command::AwaitApproval { .. } => "await_approval",
            Command::Decide { .. } => "decide",
            Command::Expire { .. } => "expire",
            Command::Release { .. } => "release",
            Command::Complete { .. } => "complete",
            Command::Fail { .. } => "fail",
            Command::Reap => "reap",
            Command::Rescue { .. } => "rescue",
            Command::Cancel { .. } => "cancel",
            Command::Review { .. } => "review",
            Command::Annotate { .. } => "annotate",
        }
    }
}

/// A write to an approval request that accompanies a transition.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalWrite {
    /// Insert a new request.
    Create(ApprovalRequest),
    /// Resolve a pending request.
    Resolve {
        /// The request.
        id: ApprovalId,
        /// Its new status (never `pending`).
        status: ApprovalStatus,
        /// Who decided, if a person did.
        decided_by: Option<String>,
        /// When.
        decided_at: DateTime<Utc>,
        /// The comment.
        comment: Option<String>,
    },
}

/// The result of a successful transition: persist all of it or none of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The investigation after the command.
    pub next: Investigation,
    /// The events to append, sealed (seq and hashes assigned).
    pub events: Vec<Event>,
    /// The approval row to write, if any.
    pub approval: Option<ApprovalWrite>,
}

/// Why a command was refused. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransitionError {
    /// The caller no longer holds the lease: the epoch moved, the lease
    /// expired, or the investigation is not running.
    #[error("lease lost: held epoch {held}, current epoch {current}")]
    LeaseLost {
        /// The epoch the caller named.
        held: i64,
        /// The investigation's epoch.
        current: i64,
    },
    /// The command is not allowed from the investigation's current state.
    #[error("cannot {command} an investigation that is {from}")]
    NotAllowed {
        /// The command.
        command: &'static str,
        /// The current state (`status` or `pending/phase`).
        from: String,
    },
    /// The approval request is no longer pending (someone else decided, or it expired).
    #[error("approval {id} is already {status}")]
    ApprovalNotPending {
        /// The request.
        id: ApprovalId,
        /// Its status.
        status: ApprovalStatus,
    },
    /// The approval request's deadline has passed; it can only expire.
    #[error("approval {id} expired at {expires_at}")]
    ApprovalExpired {
        /// The request.
        id: ApprovalId,
        /// Its deadline.
        expires_at: DateTime<Utc>,
    },
    /// The approval request has not reached its deadline yet.
    #[error("approval {id} is not due to expire until {expires_at}")]
    ApprovalNotDue {
        /// The request.
        id: ApprovalId,
        /// Its deadline.
        expires_at: DateTime<Utc>,
    },
    /// The running lease has not expired, so it cannot be reaped.
    #[error("lease has not expired")]
    LeaseNotExpired,
    /// The principal that dispatched the investigation tried to decide its approval.
    #[error("{by} dispatched this investigation and cannot decide its approvals")]
    SeparationOfDuties {
        /// The principal.
        by: String,
    },
    /// The command itself is malformed (empty reason, no events, ...).
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn state_name(inv: &Investigation) -> String {
    match inv.phase {
        Some(phase) if inv.status == Status::Pending => format!("pending/{phase}"),
        _ => inv.status.to_string(),
    }
}

fn not_allowed(command: &'static str, inv: Option<&Investigation>) -> TransitionError {
    TransitionError::NotAllowed {
        command,
        from: inv.map_or_else(|| "absent".to_owned(), state_name),
    }
}

fn require_text(field: &'static str, value: &str) -> Result<(), TransitionError> {
    if value.trim().is_empty() {
        return Err(TransitionError::InvalidInput {
            field,
            message: "must not be empty".to_owned(),
        });
    }
    Ok(())
}

/// Checks that `inv` is running under `epoch` with an unexpired lease.
fn fence(inv: &Investigation, epoch: i64, now: DateTime<Utc>) -> Result<(), TransitionError> {
    let running = inv.status == Status::Pending && inv.phase == Some(Phase::Running);
    let unexpired = inv.lease_expires_at.is_some_and(|t| now < t);
    if running && unexpired && inv.lease_epoch == epoch {
        Ok(())
    } else {
        Err(TransitionError::LeaseLost {
            held: epoch,
            current: inv.lease_epoch,
        })
    }
}

fn clear_lease(inv: &mut Investigation) {
    inv.lease_owner = None;
    inv.lease_expires_at = None;
}

fn finish(inv: &mut Investigation, status: Status, now: DateTime<Utc>) {
    inv.status = status;
    inv.phase = None;
    inv.waiting_on = None;
    inv.finished_at = Some(now);
    clear_lease(inv);
}

fn new_record(new: &NewInvestigation, now: DateTime<Utc>) -> Investigation {
    Investigation {
        id: new.id,
        agent_id: new.agent_id.clone(),
        prompt: new.prompt.clone(),
        requested_by: new.requested_by.clone(),
        case_ref: new.case_ref.clone(),
        idempotency_key: new.idempotency_key.clone(),
        status: Status::Pending,
        phase: Some(Phase::Queued),
        lease_owner: None,
        lease_epoch: 0,
        lease_expires_at: None,
        heartbeat_at: None,
        attempt: 0,
        last_seq: 0,
        last_hash: GENESIS.to_owned(),
        waiting_on: None,
        result: None,
        result_raw: None,
        confidence: None,
        error: None,
        usage: Usage::default(),
        budget: new.budget.clone(),
        created_at: now,
        started_at: None,
        updated_at: now,
        finished_at: None,
    }
}

/// Decides the effect of `command` on `current` at `now`.
///
/// `current` is `None` only for [`Command::Dispatch`]. On success the caller
/// must persist `next`, `events` and `approval` in one transaction; on error
/// nothing may be written.
pub fn transition(
    current: Option<&Investigation>,
    command: Command,
    now: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    let Some(cur) = current else {
        return match command {
            Command::Dispatch(new) => dispatch(new, now),
            other => Err(not_allowed(other.name(), None)),
        };
    };
    let name = command.name();
    let mut next = cur.clone();
    next.updated_at = now;
    let mut approval_out = None;
    // The event bodies to seal and the actor that writes them.
    let (bodies, actor): (Vec<EventBody>, String) = match command {
        Command::Dispatch(_) => return Err(not_allowed(name, Some(cur))),
        Command::Claim { worker, lease_for } => {
            if !(cur.status == Status::Pending && cur.phase == Some(Phase::Queued)) {
                return Err(not_allowed(name, Some(cur)));
            }
            require_text("worker", &worker)?;
            require_positive("lease_for", lease_for)?;
            next.phase = Some(Phase::Running);
            next.lease_epoch += 1;
            next.attempt += 1;
            next.lease_owner = Some(worker.clone());
            next.lease_expires_at = Some(now + lease_for);
            next.heartbeat_at = Some(now);
            next.started_at.get_or_insert(now);
            let body = EventBody::Claimed {
                worker: worker.clone(),
                attempt: next.attempt,
                lease_expires_at: now + lease_for,
            };
            (vec![body], worker)
        }
        Command::Heartbeat { epoch, lease_for } => {
            fence(cur, epoch, now)?;
            require_positive("lease_for", lease_for)?;
            next.lease_expires_at = Some(now + lease_for);
            next.heartbeat_at = Some(now);
            (Vec::new(), String::new())
        }
        Command::Checkpoint { epoch, events } => {
            fence(cur, epoch, now)?;
            if events.is_empty() {
                return Err(TransitionError::InvalidInput {
                    field: "events",
                    message: "a checkpoint appends at least one event".to_owned(),
                });
            }
            for event in &events {
                if let StepEvent::ModelTurn(turn) = event {
                    next.usage.model_turns += 1;
                    next.usage.input_tokens += turn.input_tokens.max(0);
                    next.usage.output_tokens += turn.output_tokens.max(0);
                    next.usage.cost_usd += turn.cost_usd.max(0.0);
                }
            }
            let actor = cur.lease_owner.clone().unwrap_or_default();
            (events.into_iter().map(EventBody::from).collect(), actor)
        }
        Command::AwaitApproval { epoch, request } => {
            fence(cur, epoch, now)?;
            require_text("tool_call_id", &request.tool_call_id)?;
            require_text("action", &request.action)?;
            if request.expires_at <= now {
                return Err(TransitionError::InvalidInput {
                    field: "expires_at",
                    message: "must be in the future".to_owned(),
                });
            }
            let actor = cur.lease_owner.clone().unwrap_or_default();
            next.phase = Some(Phase::AwaitingApproval);
            next.waiting_on = Some(request.id);
            clear_lease(&mut next);
            approval_out = Some(ApprovalWrite::Create(ApprovalRequest {
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
            }));
            let body = EventBody::ApprovalRequested {
                approval_id: request.id,
                tool_call_id: request.tool_call_id,
                action: request.action,
                arguments: request.arguments,
                rationale: request.rationale,
                expires_at: request.expires_at,
            };
            (vec![body], actor)
        }
        Command::Decide {
            approval,
            decision,
            by,
            comment,
        } => {
            if approval.status != ApprovalStatus::Pending {
                return Err(TransitionError::ApprovalNotPending {
                    id: approval.id,
                    status: approval.status,
                });
            }
            if !waits_on(cur, approval.id) {
                return Err(not_allowed(name, Some(cur)));
            }
            require_text("decided_by", &by)?;
            if now >= approval.expires_at {
                return Err(TransitionError::ApprovalExpired {
                    id: approval.id,
                    expires_at: approval.expires_at,
                });
            }
            if by == cur.requested_by {
                return Err(TransitionError::SeparationOfDuties { by: by.clone() });
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
                tool_call_id: approval.tool_call_id.clone(),
                decision,
                decided_by: by.clone(),
                comment: comment.clone(),
            };
            approval_out = Some(write);
            (vec![body], by.clone())
        }
        Command::Expire { approval } => {
            if approval.status != ApprovalStatus::Pending {
                return Err(TransitionError::ApprovalNotPending {
                    id: approval.id,
                    status: approval.status,
                });
            }
            if !waits_on(cur, approval.id) {
                return Err(not_allowed(name, Some(cur)));
            }
            if now < approval.expires_at {
                return Err(TransitionError::ApprovalNotDue {
                    id: approval.id,
                    expires_at: approval.expires_at,
                });
            }
            next.phase = Some(Phase::Queued);
            next.waiting_on = None;
            approval_out = Some(ApprovalWrite::Resolve {
                id: approval.id,
                status: ApprovalStatus::Expired,
                decided_by: None,
                decided_at: now,
                comment: None,
            });
            let body = EventBody::ApprovalExpired {
                approval_id: approval.id,
                tool_call_id: approval.tool_call_id,
            };
            (vec![body], EXPIRY.to_owned())
        }
        Command::Release { epoch, reason } => {
            fence(cur, epoch, now)?;
            require_text("reason", &reason)?;
            let worker = cur.lease_owner.clone().unwrap_or_default();
            next.phase = Some(Phase::Queued);
            clear_lease(&mut next);
            let body = EventBody::Released {
                worker: worker.clone(),
                reason,
            };
            (vec![body], worker)
        }
        Command::Complete { epoch, outcome } => {
            fence(cur, epoch, now)?;
            let worker = cur.lease_owner.clone().unwrap_or_default();
            let body = match outcome {
                Completion::Valid { result, confidence } => {
                    check_confidence(confidence)?;
                    finish(&mut next, Status::Completed, now);
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
                    finish(&mut next, Status::ReviewRequired, now);
                    next.result_raw = result_raw.clone();
                    next.error = Some(reason.clone());
                    EventBody::ReviewRequired {
                        reason,
                        result_raw,
                        errors,
                    }
                }
            };
            (vec![body], worker)
        }
        Command::Fail { epoch, reason } => {
            fence(cur, epoch, now)?;
            require_text("reason", &reason)?;
            let worker = cur.lease_owner.clone().unwrap_or_default();
            finish(&mut next, Status::Failed, now);
            next.error = Some(reason.clone());
            (vec![EventBody::Failed { reason }], worker)
        }
        Command::Reap => {
            if !(cur.status == Status::Pending && cur.phase == Some(Phase::Running)) {
                return Err(not_allowed(name, Some(cur)));
            }
            if cur.lease_expires_at.is_some_and(|t| now < t) {
                return Err(TransitionError::LeaseNotExpired);
            }
            finish(&mut next, Status::DeadLettered, now);
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
            (vec![body], REAPER.to_owned())
        }
        Command::Rescue { by, reason } => {
            if !matches!(cur.status, Status::DeadLettered | Status::Failed) {
                return Err(not_allowed(name, Some(cur)));
            }
            require_text("by", &by)?;
            require_text("reason", &reason)?;
            next.status = Status::Pending;
            next.phase = Some(Phase::Queued);
            next.lease_epoch += 1;
            next.error = None;
            next.finished_at = None;
            next.waiting_on = None;
            clear_lease(&mut next);
            let body = EventBody::Rescued {
                by: by.clone(),
                reason,
                from: cur.status,
            };
            (vec![body], by)
        }
        Command::Cancel {
            by,
            reason,
            pending_approval,
        } => {
            if cur.status != Status::Pending {
                return Err(not_allowed(name, Some(cur)));
            }
            require_text("by", &by)?;
            require_text("reason", &reason)?;
            // A parked run's request is resolved with it: the caller must
            // hand over that very request, still pending, or nothing changes.
            let resolves = match (cur.waiting_on, &pending_approval) {
                (None, _) => None,
                (Some(id), Some(a)) if a.id == id && a.status == ApprovalStatus::Pending => {
                    Some(id)
                }
                (Some(id), _) => {
                    return Err(TransitionError::InvalidInput {
                        field: "pending_approval",
                        message: format!(
                            "the pending approval request {id} must be resolved with the cancel"
                        ),
                    });
                }
            };
            finish(&mut next, Status::Failed, now);
            next.lease_epoch += 1;
            next.error = Some(format!("cancelled by {by}: {reason}"));
            if let Some(id) = resolves {
                approval_out = Some(ApprovalWrite::Resolve {
                    id,
                    status: ApprovalStatus::Rejected,
                    decided_by: Some(by.clone()),
                    decided_at: now,
                    comment: Some(format!("investigation cancelled: {reason}")),
                });
            }
            let body = EventBody::Cancelled {
                by: by.clone(),
                reason,
            };
            (vec![body], by)
        }
        Command::Review {
            by,
            result,
            confidence,
            note,
        } => {
            if cur.status != Status::ReviewRequired {
                return Err(not_allowed(name, Some(cur)));
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
            (vec![body], by)
        }
        Command::Annotate { by, text } => {
            require_text("by", &by)?;
            require_text("text", &text)?;
            let body = EventBody::OperatorNote {
                by: by.clone(),
                text,
            };
            (vec![body], by)
        }
    };
    let epoch = next.lease_epoch;
    let events = seal(&mut next, bodies, &actor, epoch, now);
    Ok(Transition {
        next,
        events,
        approval: approval_out,
    })
}

fn waits_on(inv: &Investigation, approval: ApprovalId) -> bool {
    inv.status == Status::Pending
        && inv.phase == Some(Phase::AwaitingApproval)
        && inv.waiting_on == Some(approval)
}

fn require_positive(field: &'static str, d: Duration) -> Result<(), TransitionError> {
    if d <= Duration::zero() {
        return Err(TransitionError::InvalidInput {
            field,
            message: "must be a positive duration".to_owned(),
        });
    }
    Ok(())
}

fn check_confidence(confidence: Option<f64>) -> Result<(), TransitionError> {
    match confidence {
        Some(c) if !(0.0..=1.0).contains(&c) => Err(TransitionError::InvalidInput {
            field: "confidence",
            message: "must be between 0 and 1".to_owned(),
        }),
        _ => Ok(()),
    }
}

fn dispatch(new: NewInvestigation, now: DateTime<Utc>) -> Result<Transition, TransitionError> {
    require_text("agent_id", &new.agent_id)?;
    require_text("prompt", &new.prompt)?;
    require_text("requested_by", &new.requested_by)?;
    let mut next = new_record(&new, now);
    let body = EventBody::Dispatched {
        agent_id: new.agent_id,
        prompt: new.prompt,
        requested_by: new.requested_by.clone(),
        case_ref: new.case_ref,
        budget: new.budget,
    };
    let events = seal(&mut next, vec![body], &new.requested_by, 0, now);
    Ok(Transition {
        next,
        events,
        approval: None,
    })
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

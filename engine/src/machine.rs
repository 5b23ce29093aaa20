//! The pure state machine: every change to an investigation is decided here.
//!
//! [`transition`] takes the current record (or `None` for a dispatch), a
//! [`Command`] and the time, and returns the next record, the sealed events to
//! append, any approval row to write and the wake-up to send. It does no IO;
//! stores persist its output in one transaction. The match over commands is
//! exhaustive, with no catch-all arm, so a new command cannot be added without
//! deciding every state it may come from. Each command is decided by one
//! function: `worker` (claim and the fenced writes), `approvals` (decide,
//! expire) and `operator` (dispatch, reap, rescue, cancel, review, annotate).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::approval::{ApprovalId, ApprovalRequest, ApprovalStatus, Decision};
use crate::event::{Event, EventBody, StepEvent};
use crate::log::seal;
use crate::model::{Budget, Investigation, InvestigationId, Phase, Status};
use crate::result::Completion;

mod approvals;
mod operator;
mod worker;

/// The actor recorded on events written by the reaper.
pub const REAPER: &str = "system:reaper";
/// The actor recorded on events written by the approval-expiry sweep.
pub const EXPIRY: &str = "system:expiry";
/// The actor recorded on `children_finished`, written in the transaction of
/// the last child to finish.
pub const CHILDREN: &str = "system:children";

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
    /// The Vigil case it is dispatched for.
    pub case_id: Option<crate::case::CaseId>,
    /// What it does for that case.
    pub case_purpose: crate::model::CasePurpose,
    /// The requester's idempotency key.
    pub idempotency_key: Option<String>,
    /// Budget overrides.
    pub budget: Budget,
    /// The W3C trace context to record (see [`Investigation::traceparent`]).
    pub traceparent: Option<String>,
    /// The investigation that delegated it, if one did.
    pub parent: Option<crate::model::ParentLink>,
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
    /// The runtime mode of the worker asking (see
    /// [`ApprovalRequest::mode`]).
    pub mode: Option<String>,
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
        /// Its runtime mode (`dummy`, `dry_run`, `real`), if it says.
        mode: Option<String>,
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
    /// Park until the investigations dispatched by its
    /// `delegate_investigation` calls finish, and release the lease.
    AwaitChildren {
        /// The epoch held.
        epoch: i64,
        /// The children it waits on (at least one).
        children: Vec<InvestigationId>,
    },
    /// Every child the investigation waits on has finished: queue it again.
    ChildrenFinished {
        /// Each child and the status it finished in.
        children: Vec<crate::event::ChildFinished>,
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
    /// Give the investigation back to the queue: gracefully (shutdown), or
    /// to retry later after a failure that may pass.
    Release {
        /// The epoch held.
        epoch: i64,
        /// Why.
        reason: String,
        /// `None`: a graceful release, the same attempt continues at the next
        /// claim. `Some(t)`: a retry; the claim ended badly, so the next claim
        /// starts the next attempt, and no claim takes the run before `t`.
        not_before: Option<DateTime<Utc>>,
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
            Command::AwaitChildren { .. } => "await_children",
            Command::ChildrenFinished { .. } => "children_finished",
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

impl ApprovalWrite {
    /// `request` as it stands once this write is applied to it.
    pub fn applied_to(self, request: ApprovalRequest) -> ApprovalRequest {
        match self {
            ApprovalWrite::Create(created) => created,
            ApprovalWrite::Resolve {
                status,
                decided_by,
                decided_at,
                comment,
                ..
            } => ApprovalRequest {
                status,
                decided_by,
                decided_at: Some(decided_at),
                comment,
                ..request
            },
        }
    }
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
    /// The wake-up to send once the transition has committed, if any.
    pub wake: Option<Wakeup>,
}

/// A hint that there may be work to claim. Wake-ups can be lost; workers also poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    /// An investigation for `agent_id` became queued.
    Queued {
        /// The agent.
        agent_id: String,
    },
    /// Wake-ups may have been missed (e.g. after a reconnect): poll now.
    Resync,
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
        /// The commands that state accepts ([`allowed_commands`]).
        allowed: Vec<&'static str>,
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

/// What one command decided, before its events are sealed.
pub(crate) struct Decided {
    /// The event bodies to seal, in order.
    bodies: Vec<EventBody>,
    /// Who writes them.
    actor: String,
    /// The approval row to write with them.
    approval: Option<ApprovalWrite>,
}

impl Decided {
    fn event(body: EventBody, actor: String) -> Self {
        Self {
            bodies: vec![body],
            actor,
            approval: None,
        }
    }

    fn nothing() -> Self {
        Self {
            bodies: Vec::new(),
            actor: String::new(),
            approval: None,
        }
    }
}

/// The commands a record in `inv`'s state accepts (`None`: no record yet),
/// by name, in declaration order. A command not listed is refused with
/// [`TransitionError::NotAllowed`]; a listed one may still be refused for
/// other reasons (a lost lease, a lease not yet expired, bad input).
pub fn allowed_commands(inv: Option<&Investigation>) -> Vec<&'static str> {
    let Some(inv) = inv else {
        return vec!["dispatch"];
    };
    let names: &[&'static str] = match (inv.status, inv.phase) {
        (Status::Pending, Some(Phase::Queued)) => &["claim", "cancel", "annotate"],
        (Status::Pending, Some(Phase::Running)) => &[
            "heartbeat",
            "checkpoint",
            "await_approval",
            "await_children",
            "release",
            "complete",
            "fail",
            "reap",
            "cancel",
            "annotate",
        ],
        (Status::Pending, Some(Phase::AwaitingApproval)) => {
            &["decide", "expire", "cancel", "annotate"]
        }
        (Status::Pending, Some(Phase::AwaitingChildren)) => {
            &["children_finished", "cancel", "annotate"]
        }
        // A pending row without a phase breaks a database CHECK; only
        // operator commands are offered on it.
        (Status::Pending, None) => &["cancel", "annotate"],
        (Status::Completed, _) => &["annotate"],
        (Status::ReviewRequired, _) => &["review", "annotate"],
        (Status::Failed | Status::DeadLettered, _) => &["rescue", "annotate"],
    };
    names.to_vec()
}

fn not_allowed(command: &'static str, inv: &Investigation) -> TransitionError {
    TransitionError::NotAllowed {
        command,
        from: inv.state_name(),
        allowed: allowed_commands(Some(inv)),
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
    if inv.is_running() && inv.holds_lease(epoch, now) {
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

/// Decides the effect of `command` on `current` at `now`.
///
/// `current` is `None` only for [`Command::Dispatch`]. On success the caller
/// must persist `next`, `events` and `approval` in one transaction, and send
/// `wake` once it has committed; on error nothing may be written.
pub fn transition(
    current: Option<&Investigation>,
    command: Command,
    now: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    let Some(cur) = current else {
        return match command {
            Command::Dispatch(new) => {
                let (next, decided) = operator::dispatch(new, now)?;
                Ok(seal_decided(None, next, decided, now))
            }
            other => Err(TransitionError::NotAllowed {
                command: other.name(),
                from: "absent".to_owned(),
                allowed: allowed_commands(None),
            }),
        };
    };
    let mut next = cur.clone();
    next.updated_at = now;
    let n = &mut next;
    let decided = match command {
        Command::Dispatch(_) => Err(not_allowed("dispatch", cur)),
        Command::Claim {
            worker,
            mode,
            lease_for,
        } => worker::claim(cur, n, worker, mode, lease_for, now),
        Command::Heartbeat { epoch, lease_for } => worker::heartbeat(cur, n, epoch, lease_for, now),
        Command::Checkpoint { epoch, events } => worker::checkpoint(cur, n, epoch, events, now),
        Command::AwaitApproval { epoch, request } => {
            worker::await_approval(cur, n, epoch, request, now)
        }
        Command::AwaitChildren { epoch, children } => {
            worker::await_children(cur, n, epoch, children, now)
        }
        Command::ChildrenFinished { children } => operator::children_finished(cur, n, children),
        Command::Decide {
            approval,
            decision,
            by,
            comment,
        } => approvals::decide(cur, n, approval, decision, by, comment, now),
        Command::Expire { approval } => approvals::expire(cur, n, approval, now),
        Command::Release {
            epoch,
            reason,
            not_before,
        } => worker::release(cur, n, epoch, reason, not_before, now),
        Command::Complete { epoch, outcome } => worker::complete(cur, n, epoch, outcome, now),
        Command::Fail { epoch, reason } => worker::fail(cur, n, epoch, reason, now),
        Command::Reap => operator::reap(cur, n, now),
        Command::Rescue { by, reason } => operator::rescue(cur, n, by, reason),
        Command::Cancel {
            by,
            reason,
            pending_approval,
        } => operator::cancel(cur, n, by, reason, pending_approval, now),
        Command::Review {
            by,
            result,
            confidence,
            note,
        } => operator::review(cur, n, by, result, confidence, note, now),
        Command::Annotate { by, text } => operator::annotate(by, text),
    }?;
    Ok(seal_decided(Some(cur), next, decided, now))
}

/// Seals the decided events onto `next`'s log under its epoch, and decides
/// the wake-up: workers of its agent are woken when it has just become
/// claimable.
fn seal_decided(
    previous: Option<&Investigation>,
    mut next: Investigation,
    decided: Decided,
    now: DateTime<Utc>,
) -> Transition {
    let epoch = next.lease_epoch;
    let events = seal(&mut next, decided.bodies, &decided.actor, epoch, now);
    let wake = (next.is_queued() && !previous.is_some_and(Investigation::is_queued)).then(|| {
        Wakeup::Queued {
            agent_id: next.agent_id.clone(),
        }
    });
    Transition {
        next,
        events,
        approval: decided.approval,
        wake,
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

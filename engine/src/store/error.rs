//! The store's error type: one variant per outcome a caller acts on.
//!
//! Database failures keep their driver error as a [`Cause`] (`#[source]`),
//! so it can be logged where the error is handled; their `Display` names the
//! failure in Vigil's words only, so driver text never reaches an API client
//! through a formatted message.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::approval::{ApprovalId, ApprovalStatus};
use crate::case::{CaseId, CaseStatus, CaseTransitionError, TaskStatus};
use crate::machine::TransitionError;
use crate::model::InvestigationId;
use crate::principal::Role;

/// A store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The underlying failure of a database error, shared so [`Error`] stays
/// cheap to clone. Two causes are equal when they render alike.
#[derive(Debug, Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Wraps a driver (or other) error.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(e))
    }

    /// A cause that is only a message (no error value to keep).
    pub fn msg(message: impl Into<String>) -> Self {
        #[derive(Debug, thiserror::Error)]
        #[error("{0}")]
        struct Message(String);
        Self::new(Message(message.into()))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

/// Why a store call failed. Every failure leaves the database unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// No such record.
    #[error("{what} {id} not found")]
    NotFound {
        /// `investigation`, `approval`, `token`, ...
        what: &'static str,
        /// The id looked for.
        id: String,
    },
    /// The caller's lease epoch is no longer current (reaped, rescued,
    /// cancelled, released, or the lease expired). The caller must stop
    /// working on this investigation at once.
    #[error("lease lost on investigation {id}: held epoch {held}, current epoch {current}")]
    LeaseLost {
        /// The investigation.
        id: InvestigationId,
        /// The epoch the caller named.
        held: i64,
        /// The current epoch.
        current: i64,
    },
    /// The requester already used this idempotency key for a different
    /// request.
    #[error(
        "idempotency key `{key}` was already used by {requested_by} for a different request (investigation {existing})"
    )]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// The requester.
        requested_by: String,
        /// The investigation the key names.
        existing: InvestigationId,
    },
    /// The approval request was already decided or expired.
    #[error("approval {id} is already {status}")]
    ApprovalNotPending {
        /// The request.
        id: ApprovalId,
        /// Its status.
        status: ApprovalStatus,
    },
    /// The approval request's deadline passed; it can only expire.
    #[error("approval {id} expired at {expires_at}")]
    ApprovalExpired {
        /// The request.
        id: ApprovalId,
        /// Its deadline.
        expires_at: DateTime<Utc>,
    },
    /// A token was asked for an existing principal with other roles; roles
    /// never change by creating a token.
    #[error("principal `{principal}` holds roles [{}], not [{}]; roles are not changed by creating a token", names(.held), names(.requested))]
    RolesDiffer {
        /// The principal.
        principal: String,
        /// The roles it holds.
        held: Vec<Role>,
        /// The roles asked for.
        requested: Vec<Role>,
    },
    /// A record with this identity already exists (a unique key).
    #[error("{what} already exists")]
    AlreadyExists {
        /// What was being written.
        what: &'static str,
    },
    /// The principal dispatched the investigation and cannot decide its
    /// approvals (separation of duties).
    #[error("{by} dispatched this investigation and cannot decide its approvals")]
    SeparationOfDuties {
        /// The principal.
        by: String,
    },
    /// The request is malformed; the message names the field.
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The command is not allowed from the record's current state.
    ///
    /// For a case or task status change, `command` is `move to <status>`
    /// and `allowed` lists the statuses it may move to; otherwise
    /// `allowed` lists the commands the state accepts.
    #[error("cannot {command} {what} that is {from}")]
    InvalidTransition {
        /// The record, with its article: `an investigation`, `a case`,
        /// `a task`.
        what: &'static str,
        /// The command refused.
        command: &'static str,
        /// The current state (`status`, `pending/phase`, `deleted`,
        /// `merged`).
        from: String,
        /// The statuses, or commands, that state allows.
        allowed: Vec<&'static str>,
    },
    /// The alert is linked to another case already; an alert belongs to
    /// at most one case.
    #[error("alert {alert_id} is already linked to case {case_id}")]
    AlertLinked {
        /// The alert.
        alert_id: String,
        /// The case it belongs to.
        case_id: CaseId,
    },
    /// Stored content no longer matches the digest recorded with it: it was
    /// altered behind the store's back. Nothing is handed out.
    #[error("{what} {id} does not match its recorded SHA-256")]
    IntegrityMismatch {
        /// `evidence`.
        what: &'static str,
        /// The record.
        id: String,
        /// The digest recorded when it was stored.
        expected: String,
        /// The digest of what is stored now.
        found: String,
    },
    /// A sweep came early: the lease has not expired, or the approval
    /// request is not due to expire yet.
    #[error("{what} is not due yet")]
    NotDue {
        /// `lease` or `approval`.
        what: &'static str,
        /// When it will be, if known.
        until: Option<DateTime<Utc>>,
    },
    /// The database cannot be reached (connection refused, pool timed out,
    /// closed, shutting down). Transient: retry later.
    #[error("the database cannot be reached")]
    Unavailable(#[source] Cause),
    /// Any other database failure, or stored data that does not decode.
    #[error("database error")]
    Database(#[source] Cause),
}

/// The record a database's unique-violation message is about, named from
/// Vigil's table names (`record` when none is recognised). Adapters use it
/// for [`Error::AlreadyExists`].
pub fn record_in(message: &str) -> &'static str {
    const TABLES: &[(&str, &str)] = &[
        ("approval_requests", "approval request for this tool call"),
        ("investigation_events", "event"),
        ("case_events", "case timeline entry"),
        ("case_alerts", "alert link"),
        ("cases_number", "case number"),
        ("observables", "observable"),
        ("evidence_custody", "custody record"),
        ("evidence", "evidence item"),
        ("case_comments", "comment"),
        ("case_tasks", "task"),
        ("cases", "case"),
        ("investigations", "investigation"),
        ("api_tokens", "token"),
        ("principals", "principal"),
        ("webhook_deliveries", "delivery"),
    ];
    TABLES
        .iter()
        .find(|(table, _)| message.contains(table))
        .map_or("record", |(_, what)| what)
}

/// The command name of a case status change to `to`.
fn move_to(to: CaseStatus) -> &'static str {
    match to {
        CaseStatus::Open => "move to open",
        CaseStatus::InProgress => "move to in_progress",
        CaseStatus::PendingApproval => "move to pending_approval",
        CaseStatus::Contained => "move to contained",
        CaseStatus::Eradicated => "move to eradicated",
        CaseStatus::Recovered => "move to recovered",
        CaseStatus::Resolved => "move to resolved",
        CaseStatus::Closed => "move to closed",
        CaseStatus::Pending => "move to pending",
        CaseStatus::Investigating => "move to investigating",
        CaseStatus::Escalated => "move to escalated",
    }
}

/// The command name of a task status change to `to`.
fn task_move_to(to: TaskStatus) -> &'static str {
    match to {
        TaskStatus::Todo => "move to todo",
        TaskStatus::InProgress => "move to in_progress",
        TaskStatus::Blocked => "move to blocked",
        TaskStatus::Done => "move to done",
    }
}

fn names(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// An [`Error::NotFound`] for an investigation.
    pub fn investigation_not_found(id: impl ToString) -> Self {
        Error::NotFound {
            what: "investigation",
            id: id.to_string(),
        }
    }

    /// An [`Error::NotFound`] for an approval request.
    pub fn approval_not_found(id: impl ToString) -> Self {
        Error::NotFound {
            what: "approval",
            id: id.to_string(),
        }
    }

    /// An [`Error::Database`] for stored data that breaks an invariant (a
    /// row that does not decode, a transition with no event).
    pub fn corrupt(message: impl Into<String>) -> Self {
        Error::Database(Cause::msg(message))
    }

    /// Whether the caller should retry later rather than give up.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// The underlying database failure, for logs.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Error::Unavailable(c) | Error::Database(c) => Some(c),
            _ => None,
        }
    }

    /// An [`Error::NotFound`] for a case.
    pub fn case_not_found(id: impl ToString) -> Self {
        Error::NotFound {
            what: "case",
            id: id.to_string(),
        }
    }

    /// Maps a refused case command to a store error.
    pub fn from_case_transition(e: CaseTransitionError) -> Self {
        match e {
            CaseTransitionError::NotAllowed {
                command,
                from,
                allowed,
            } => Error::InvalidTransition {
                what: "a case",
                command,
                from,
                allowed,
            },
            CaseTransitionError::InvalidStatus { from, to, allowed } => Error::InvalidTransition {
                what: "a case",
                command: move_to(to),
                from: from.to_string(),
                allowed: allowed.into_iter().map(CaseStatus::as_str).collect(),
            },
            CaseTransitionError::InvalidTaskStatus(e) => Error::InvalidTransition {
                what: "a task",
                command: task_move_to(e.to),
                from: e.from.to_string(),
                allowed: e.allowed.into_iter().map(TaskStatus::as_str).collect(),
            },
            CaseTransitionError::AlertLinkedElsewhere { alert_id, case_id } => {
                Error::AlertLinked { alert_id, case_id }
            }
            CaseTransitionError::InvalidInput { field, message } => Error::InvalidInput {
                field: field.to_owned(),
                message,
            },
        }
    }

    /// Maps a refused transition on investigation `id` to a store error.
    pub fn from_transition(id: InvestigationId, e: TransitionError) -> Self {
        match e {
            TransitionError::LeaseLost { held, current } => Error::LeaseLost { id, held, current },
            TransitionError::ApprovalNotPending { id, status } => {
                Error::ApprovalNotPending { id, status }
            }
            TransitionError::ApprovalExpired { id, expires_at } => {
                Error::ApprovalExpired { id, expires_at }
            }
            TransitionError::SeparationOfDuties { by } => Error::SeparationOfDuties { by },
            TransitionError::InvalidInput { field, message } => Error::InvalidInput {
                field: field.to_owned(),
                message,
            },
            TransitionError::NotAllowed {
                command,
                from,
                allowed,
            } => Error::InvalidTransition {
                what: "an investigation",
                command,
                from,
                allowed,
            },
            TransitionError::ApprovalNotDue { expires_at, .. } => Error::NotDue {
                what: "approval",
                until: Some(expires_at),
            },
            TransitionError::LeaseNotExpired => Error::NotDue {
                what: "lease",
                until: None,
            },
        }
    }
}

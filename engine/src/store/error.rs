//! The store's error type.

use crate::machine::TransitionError;

/// A store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store call failed. Every failure leaves the database unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// No such investigation or approval.
    #[error("{what} {id} not found")]
    NotFound {
        /// `investigation` or `approval`.
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
        id: String,
        /// The epoch the caller named.
        held: i64,
        /// The current epoch.
        current: i64,
    },
    /// Someone else got there first (an approval already decided), or an
    /// idempotency key was reused with a different request.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The principal may not do this (separation of duties).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is malformed; the message names the field.
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The command is not allowed from the current state.
    #[error(transparent)]
    InvalidTransition(TransitionError),
    /// The database cannot be reached (connection refused, pool timed out,
    /// closed). Transient: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(String),
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

    /// Whether the caller should retry later rather than give up.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }

    /// Maps a refused transition on investigation `id` to a store error.
    pub fn from_transition(id: impl ToString, e: TransitionError) -> Self {
        match e {
            TransitionError::LeaseLost { held, current } => Error::LeaseLost {
                id: id.to_string(),
                held,
                current,
            },
            e @ (TransitionError::ApprovalNotPending { .. }
            | TransitionError::ApprovalExpired { .. }) => Error::Conflict(e.to_string()),
            e @ TransitionError::SeparationOfDuties { .. } => Error::Forbidden(e.to_string()),
            TransitionError::InvalidInput { field, message } => Error::InvalidInput {
                field: field.to_owned(),
                message,
            },
            e @ (TransitionError::NotAllowed { .. }
            | TransitionError::ApprovalNotDue { .. }
            | TransitionError::LeaseNotExpired) => Error::InvalidTransition(e),
        }
    }
}

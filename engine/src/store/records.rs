//! Records beside the investigations: API tokens, webhook deliveries, worker
//! presence and queue statistics.
//!
//! None of these is part of an investigation's state or event log; they are
//! written by the API and the runtime around it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::approval::ApprovalId;
use crate::model::{Phase, Status, UnknownName};
use crate::principal::Role;

/// A token to store: its public id and the hash of its secret, never the
/// secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Public, unique id (the part of the token that names it).
    pub id: String,
    /// The principal the token authenticates as.
    pub principal: String,
    /// The principal's roles. Empty means "the existing principal's roles"
    /// (an error for a new principal).
    pub roles: Vec<Role>,
    /// Hex SHA-256 of the token's secret part.
    pub token_hash: String,
}

/// A stored token with its principal's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id.
    pub id: String,
    /// The principal it authenticates as.
    pub principal: String,
    /// The principal's roles.
    pub roles: Vec<Role>,
    /// Hex SHA-256 of the secret part.
    pub token_hash: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked token authenticates nobody.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Where a webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempted again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = UnknownName;

    /// Parses a wire name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(UnknownName {
                kind: "DeliveryStatus",
                name: other.to_owned(),
            }),
        }
    }
}

/// One approval request's notification to one webhook target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The approval request announced.
    pub approval_id: ApprovalId,
    /// The target's name (a stable label from configuration, not the URL).
    pub target: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made or in flight.
    pub attempts: i32,
    /// When a pending delivery may next be attempted.
    pub next_attempt_at: DateTime<Utc>,
    /// The HTTP status of the last answer, if any.
    pub last_status: Option<i32>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered {
        /// Its status code.
        status: i32,
    },
    /// It failed; try again at `at`.
    Retry {
        /// When to try again.
        at: DateTime<Utc>,
        /// The status code, if the receiver answered.
        status: Option<i32>,
        /// What went wrong.
        error: String,
    },
    /// It failed for the last time.
    Failed {
        /// The status code, if the receiver answered.
        status: Option<i32>,
        /// What went wrong.
        error: String,
    },
}

/// A worker process that announced itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSeen {
    /// Its id (`host:pid:uuid`).
    pub id: String,
    /// The agents it serves (empty: all).
    pub agents: Vec<String>,
    /// When it first announced itself.
    pub started_at: DateTime<Utc>,
    /// When it last did.
    pub seen_at: DateTime<Utc>,
}

/// How many investigations are in one (status, phase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCount {
    /// The status.
    pub status: Status,
    /// The phase (pending only).
    pub phase: Option<Phase>,
    /// How many.
    pub count: i64,
}

/// A snapshot of the queue, for metrics and dashboards.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Investigations per (status, phase); combinations with none are left out.
    pub states: Vec<StateCount>,
    /// Pending approval requests.
    pub approvals_pending: i64,
    /// When the oldest pending approval request was created.
    pub oldest_pending_approval_at: Option<DateTime<Utc>>,
}

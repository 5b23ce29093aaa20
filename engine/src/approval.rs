//! Approval requests: a high-impact tool call parked until a person decides.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{InvestigationId, new_v7, wire_enum};

/// Identifies an approval request (UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApprovalId(pub Uuid);

impl ApprovalId {
    /// A new v7 id whose timestamp is `at`.
    pub fn new_at(at: DateTime<Utc>) -> Self {
        Self(new_v7(at))
    }
}

impl fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ApprovalId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

wire_enum! {
    /// Where an approval request stands. Only `pending` ever changes.
    ApprovalStatus {
        /// Waiting for an approver.
        Pending => "pending",
        /// Approved: the tool runs.
        Approved => "approved",
        /// Rejected: the tool does not run; the model sees why.
        Rejected => "rejected",
        /// Nobody decided before `expires_at`: treated as not approved.
        Expired => "expired",
    }
}

wire_enum! {
    /// An approver's answer.
    Decision {
        /// Let the action run.
        Approve => "approve",
        /// Refuse it.
        Reject => "reject",
    }
}

impl Decision {
    /// The approval status this decision leads to.
    pub fn status(self) -> ApprovalStatus {
        match self {
            Decision::Approve => ApprovalStatus::Approved,
            Decision::Reject => ApprovalStatus::Rejected,
        }
    }
}

/// An approval request row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Its id.
    pub id: ApprovalId,
    /// The investigation parked on it.
    pub investigation_id: InvestigationId,
    /// The model's tool call id; unique per investigation.
    pub tool_call_id: String,
    /// The tool (action) to run.
    pub action: String,
    /// The tool's arguments.
    pub arguments: serde_json::Value,
    /// Why the model wants it.
    pub rationale: Option<String>,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it expires if nobody decides.
    pub expires_at: DateTime<Utc>,
    /// Who decided (approver principal name).
    pub decided_by: Option<String>,
    /// When it was decided or expired.
    pub decided_at: Option<DateTime<Utc>>,
    /// The approver's comment.
    pub comment: Option<String>,
    /// The runtime mode (`dummy`, `dry_run`, `real`) of the worker that
    /// asked. An approval is valid only in that mode: a worker in another
    /// mode never runs the action on it. `None` on requests made before
    /// modes were recorded.
    #[serde(default)]
    pub mode: Option<String>,
}

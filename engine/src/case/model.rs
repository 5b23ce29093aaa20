//! The case record and its vocabularies: status, severity, disposition.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::CaseLog;
use super::uuid_id;
use crate::log::{LogId, Tail};
use crate::model::wire_enum;

uuid_id! {
    /// Identifies a case (UUID v7).
    CaseId
}

impl LogId for CaseId {
    fn uuid(self) -> uuid::Uuid {
        self.0
    }

    fn from_uuid(uuid: uuid::Uuid) -> Self {
        Self(uuid)
    }
}

/// A case's human-readable number, shown as `CASE-<n>`. Numbers come from a
/// database sequence: unique and increasing, but a rolled-back create may
/// leave a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseNumber(pub i64);

impl fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CASE-{}", self.0)
    }
}

impl FromStr for CaseNumber {
    type Err = crate::model::UnknownName;

    /// Parses `CASE-<n>` (any letter case) or a bare positive `<n>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = match s.get(..5) {
            Some(prefix) if prefix.eq_ignore_ascii_case("CASE-") => &s[5..],
            _ => s,
        };
        match digits.parse::<i64>() {
            Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(n)),
            _ => Err(crate::model::UnknownName {
                kind: "CaseNumber",
                name: s.to_owned(),
            }),
        }
    }
}

wire_enum! {
    /// Where a case is in its lifecycle (`docs/cases.md`).
    ///
    /// The forward lifecycle is `open -> in_progress -> pending_approval ->
    /// contained -> eradicated -> recovered -> resolved -> closed`; `pending`
    /// is a detour for external input; `investigating` and `escalated` are
    /// legacy values that stored cases may hold but no command produces.
    CaseStatus {
        /// New; handling has not started.
        Open => "open",
        /// An analyst or agent is investigating.
        InProgress => "in_progress",
        /// Blocked on a required human decision.
        PendingApproval => "pending_approval",
        /// The threat's spread is limited or isolated.
        Contained => "contained",
        /// Malicious artifacts and footholds are removed.
        Eradicated => "eradicated",
        /// Service is restored and being monitored.
        Recovered => "recovered",
        /// Technical remediation is complete; needs a disposition.
        Resolved => "resolved",
        /// Closure and review are complete; needs a disposition.
        Closed => "closed",
        /// Waiting on external input (a user's answer, a vendor ticket).
        Pending => "pending",
        /// Legacy: an older workflow's "being investigated".
        Investigating => "investigating",
        /// Legacy: an older escalation path.
        Escalated => "escalated",
    }
}

impl CaseStatus {
    /// The forward lifecycle, in order.
    pub const FORWARD: [CaseStatus; 8] = [
        CaseStatus::Open,
        CaseStatus::InProgress,
        CaseStatus::PendingApproval,
        CaseStatus::Contained,
        CaseStatus::Eradicated,
        CaseStatus::Recovered,
        CaseStatus::Resolved,
        CaseStatus::Closed,
    ];

    /// Whether the case's handling is finished (`resolved` or `closed`):
    /// exactly these statuses carry a disposition.
    pub fn is_terminal(self) -> bool {
        matches!(self, CaseStatus::Resolved | CaseStatus::Closed)
    }

    /// Whether the case is still being worked (any status but `resolved`
    /// and `closed`).
    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }

    /// Whether this is a legacy value (`investigating`, `escalated`).
    pub fn is_legacy(self) -> bool {
        matches!(self, CaseStatus::Investigating | CaseStatus::Escalated)
    }

    /// The position in the forward lifecycle, if the status is on it.
    pub fn forward_rank(self) -> Option<usize> {
        Self::FORWARD.iter().position(|s| *s == self)
    }

    /// The statuses a case in this status may be moved to, in declaration
    /// order:
    /// - on the forward lifecycle before `resolved`: any later forward
    ///   status (skipping is allowed) and `pending`;
    /// - `resolved`: `closed`;
    /// - `closed`: `open` (reopen);
    /// - `pending`: any forward status;
    /// - a legacy status: any forward status and `pending`.
    ///
    /// No status leads to a legacy status or to itself.
    pub fn allowed_next(self) -> Vec<CaseStatus> {
        Self::ALL
            .iter()
            .copied()
            .filter(|to| self.may_move_to(*to))
            .collect()
    }

    /// Whether a status change from this status to `to` is allowed (see
    /// [`CaseStatus::allowed_next`]).
    pub fn may_move_to(self, to: CaseStatus) -> bool {
        if to.is_legacy() || to == self {
            return false;
        }
        match self {
            CaseStatus::Closed => to == CaseStatus::Open,
            CaseStatus::Resolved => to == CaseStatus::Closed,
            CaseStatus::Pending => to.forward_rank().is_some(),
            CaseStatus::Investigating | CaseStatus::Escalated => true,
            CaseStatus::Open
            | CaseStatus::InProgress
            | CaseStatus::PendingApproval
            | CaseStatus::Contained
            | CaseStatus::Eradicated
            | CaseStatus::Recovered => match (self.forward_rank(), to.forward_rank()) {
                (_, None) => to == CaseStatus::Pending,
                (Some(from), Some(to)) => to > from,
                (None, Some(_)) => false,
            },
        }
    }

    /// A rank for sorting by status: the declaration order.
    pub fn rank(self) -> i64 {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0) as i64
    }
}

wire_enum! {
    /// How severe a case is.
    Severity {
        /// Act now.
        Critical => "critical",
        /// Act today.
        High => "high",
        /// Act soon.
        Medium => "medium",
        /// Act when there is time.
        Low => "low",
        /// For the record.
        Informational => "informational",
    }
}

// `wire_enum!` derives no `Default`.
#[allow(clippy::derivable_impls)]
impl Default for Severity {
    /// `medium`: a new case's severity unless said.
    fn default() -> Self {
        Severity::Medium
    }
}

impl Severity {
    /// A rank for sorting: `informational` 0 up to `critical` 4, so
    /// descending order puts the most severe first.
    pub fn rank(self) -> i64 {
        match self {
            Severity::Critical => 4,
            Severity::High => 3,
            Severity::Medium => 2,
            Severity::Low => 1,
            Severity::Informational => 0,
        }
    }
}

wire_enum! {
    /// What a finished case turned out to be.
    Disposition {
        /// A confirmed security incident.
        TruePositive => "true_positive",
        /// The detection fired wrongly.
        FalsePositive => "false_positive",
        /// Real activity, not malicious.
        Benign => "benign",
        /// Cannot be determined.
        Inconclusive => "inconclusive",
    }
}

/// The case record: one row of `cases`, changed only through
/// [`super::transition`] and [`super::merge`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Stable identity (UUID v7: ids sort by creation time); the
    /// timeline's entries name it.
    pub id: CaseId,
    /// The human-readable number (`CASE-<n>`), unique.
    pub number: CaseNumber,
    /// Required, at most [`Case::MAX_TITLE`] characters.
    pub title: String,
    /// How severe.
    pub severity: Severity,
    /// Free text, possibly empty.
    pub description: String,
    /// The principal who owns the case, if any.
    pub assignee: Option<String>,
    /// Whether a person must approve actions taken for this case.
    pub requires_human_approval: bool,
    /// How confident the investigation is, 0..1.
    pub confidence: Option<f64>,
    /// Why that confidence.
    pub confidence_reason: Option<String>,
    /// Where the case is.
    pub status: CaseStatus,
    /// Set exactly when the status is `resolved` or `closed` (legacy rows
    /// aside).
    pub disposition: Option<Disposition>,
    /// The status to return to: set when a linked investigation's approval
    /// request moved the case to `pending_approval`, cleared when the
    /// approval is decided or expires, and by any status change a person
    /// makes (the person wins).
    #[serde(default)]
    pub resume_status: Option<CaseStatus>,
    /// Linked alert ids, sorted. An alert belongs to at most one case.
    pub alert_ids: Vec<String>,
    /// Lower-case labels, each once, in the order first given.
    pub tags: Vec<String>,
    /// The principal who created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The time of the last change to the case or anything in it (its last
    /// timeline entry).
    pub updated_at: DateTime<Utc>,
    /// When the status last changed (creation counts).
    pub status_changed_at: DateTime<Utc>,
    /// When it was deleted. A deleted case accepts no command, is left out
    /// of listings by default, and stays readable by id.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The case it was merged into; a merged case is closed and accepts no
    /// command.
    pub merged_into: Option<CaseId>,
    /// The seq of its newest timeline entry.
    pub last_seq: i64,
    /// The hash of its newest timeline entry, hex.
    pub last_hash: String,
}

impl Case {
    /// The longest title, in characters.
    pub const MAX_TITLE: usize = 200;

    /// The state commands are decided from, as refusals name it: `deleted`,
    /// `merged`, or the status.
    pub fn state_name(&self) -> String {
        if self.deleted_at.is_some() {
            "deleted".to_owned()
        } else if self.merged_into.is_some() {
            "merged".to_owned()
        } else {
            self.status.to_string()
        }
    }

    /// Whether the case was deleted or merged away: it accepts no command.
    pub fn is_retired(&self) -> bool {
        self.deleted_at.is_some() || self.merged_into.is_some()
    }
}

impl Tail<CaseLog> for Case {
    fn log_id(&self) -> CaseId {
        self.id
    }

    fn last_seq(&self) -> i64 {
        self.last_seq
    }

    fn last_hash(&self) -> &str {
        &self.last_hash
    }

    fn advance(&mut self, seq: i64, hash: String) {
        self.last_seq = seq;
        self.last_hash = hash;
    }
}

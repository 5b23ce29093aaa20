//! The investigation record and its status vocabulary.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::approval::ApprovalId;

/// Identifies an investigation. A UUID v7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InvestigationId(pub Uuid);

impl InvestigationId {
    /// A new v7 id whose timestamp is `at`.
    pub fn new_at(at: DateTime<Utc>) -> Self {
        Self(new_v7(at))
    }
}

impl fmt::Display for InvestigationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for InvestigationId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl crate::log::LogId for InvestigationId {
    fn uuid(self) -> Uuid {
        self.0
    }

    fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

/// A UUID v7 carrying the millisecond timestamp of `at`.
pub(crate) fn new_v7(at: DateTime<Utc>) -> Uuid {
    let secs = u64::try_from(at.timestamp()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, at.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable wire and database name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::model::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err($crate::model::UnknownName { kind: stringify!($name), name: other.to_owned() }),
                }
            }
        }
    };
}
pub(crate) use wire_enum;

/// A name that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`")]
pub struct UnknownName {
    /// Which enum was being parsed.
    pub kind: &'static str,
    /// The name that did not match.
    pub name: String,
}

wire_enum! {
    /// The operator-facing status of an investigation.
    Status {
        /// Not finished; [`Phase`] says where it is.
        Pending => "pending",
        /// Finished with a schema-valid result.
        Completed => "completed",
        /// Finished, but the result needs a person: invalid output, budget
        /// exhausted without a result, or an unknown side-effect outcome.
        ReviewRequired => "review_required",
        /// Ended without a result (error, budget, or cancelled).
        Failed => "failed",
        /// Its worker stopped heartbeating; waits for an operator's rescue.
        DeadLettered => "dead_lettered",
    }
}

impl Status {
    /// Whether only an operator action (rescue or review) can move it on.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Pending)
    }

    /// Whether a delegated investigation in this status has finished for
    /// its parent: completed, review_required or failed. A dead-lettered
    /// one has not: it waits for a rescue that continues it.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::ReviewRequired | Status::Failed
        )
    }
}

wire_enum! {
    /// Where a `pending` investigation is.
    Phase {
        /// Waiting for a worker to claim it.
        Queued => "queued",
        /// Held by a worker under a lease.
        Running => "running",
        /// Parked until an approver decides (or the request expires).
        AwaitingApproval => "awaiting_approval",
        /// Parked until every investigation it delegated has finished
        /// (completed, review_required or failed), without a lease.
        AwaitingChildren => "awaiting_children",
    }
}

/// What links a delegated investigation to the one that delegated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The delegating investigation.
    pub id: InvestigationId,
    /// Its `delegate_investigation` call this investigation answers: the
    /// child's idempotency key, so a parent resumed after a crash finds the
    /// child it dispatched instead of dispatching another.
    pub tool_call_id: String,
    /// How many delegations deep the child is (the parent's depth plus one;
    /// an investigation a principal dispatched is at depth 0).
    pub depth: i32,
}

/// Limits on one investigation. `None` means the agent's default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Most model turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// Most input plus output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Most wall-clock seconds from first claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wall_secs: Option<u64>,
}

impl Budget {
    /// The most model turns a dispatch may ask for.
    pub const MAX_TURNS: u32 = 1_000;
    /// The most tokens a dispatch may ask for.
    pub const MAX_TOKENS: u64 = 100_000_000;
    /// The longest wall time a dispatch may ask for: seven days.
    pub const MAX_WALL_SECS: u64 = 7 * 24 * 60 * 60;

    /// Checks each override is within `1..=MAX`: a zero budget would end a
    /// run before its first turn, and an unbounded one is no budget. Returns
    /// the offending field (`budget.max_turns`, ...) and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        fn within(
            field: &'static str,
            value: Option<u64>,
            max: u64,
        ) -> Result<(), (&'static str, String)> {
            match value {
                Some(v) if v == 0 || v > max => {
                    Err((field, format!("must be between 1 and {max}, not {v}")))
                }
                _ => Ok(()),
            }
        }
        within(
            "budget.max_turns",
            self.max_turns.map(u64::from),
            u64::from(Self::MAX_TURNS),
        )?;
        within("budget.max_tokens", self.max_tokens, Self::MAX_TOKENS)?;
        within(
            "budget.max_wall_secs",
            self.max_wall_secs,
            Self::MAX_WALL_SECS,
        )
    }
}

/// What an investigation has consumed so far, summed from its model turns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Model turns taken.
    pub model_turns: i64,
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Completion tokens.
    pub output_tokens: i64,
    /// Estimated cost in US dollars, where the model config prices tokens.
    pub cost_usd: f64,
    /// Model calls that produced no turn: timed out, rate-limited, failed
    /// or cut off by the wall-time budget, each counted once after the
    /// client's own retries (one `model_call_failed` event each).
    #[serde(default)]
    pub lost_turns: i64,
}

wire_enum! {
    /// What an investigation linked to a case is for: it decides what its
    /// completion writes back to the case.
    #[derive(Default)]
    CasePurpose {
        /// Work on the case: the result becomes a note, a `result_written`
        /// entry, observables and the case's confidence.
        #[default]
        Investigate => "investigate",
        /// Summarize the case: the result becomes the case's AI summary (a
        /// note of kind `ai_summary`) and a `summary_written` entry; the
        /// case does not move.
        Summarize => "summarize",
    }
}

impl CasePurpose {
    /// Whether it is [`CasePurpose::Investigate`], the default (serde skips
    /// it, so records written before purposes existed keep their bytes).
    pub fn is_investigate(&self) -> bool {
        *self == CasePurpose::Investigate
    }
}

/// The investigation record: one row, changed only by [`crate::transition`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Investigation {
    /// Its id.
    pub id: InvestigationId,
    /// Which declared agent runs it.
    pub agent_id: String,
    /// What the orchestrator asked.
    pub prompt: String,
    /// The principal that dispatched it.
    pub requested_by: String,
    /// An external case or ticket id.
    pub case_ref: Option<String>,
    /// The Vigil case it was dispatched for, if any: set in the dispatch
    /// transaction and never changed. Its completion, review, failure and
    /// approvals are written back to that case in their own transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_id: Option<crate::case::CaseId>,
    /// What it does for that case; set with the link, never changed.
    #[serde(default, skip_serializing_if = "CasePurpose::is_investigate")]
    pub case_purpose: CasePurpose,
    /// Whether that case requires a person's approval of every write tool
    /// (`requires_human_approval`). Not a column: the store reads the case's
    /// flag when a worker claims the run and sets it on the row the claim
    /// returns, so each claim (a resume after an approval too) sees the flag
    /// as it is then. `false` on every other read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub case_requires_approval: bool,
    /// The investigation that delegated this one, if one did: set at
    /// dispatch, never changed. When this one finishes, a parent waiting on
    /// it in `awaiting_children` is queued again once all its children have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
    /// The requester's idempotency key, unique per requester.
    pub idempotency_key: Option<String>,
    /// Operator-facing status.
    pub status: Status,
    /// Where it is while `pending`; `None` otherwise.
    pub phase: Option<Phase>,
    /// The worker holding the lease, while `running`.
    pub lease_owner: Option<String>,
    /// The fencing token. Bumped by claim, reap, rescue and cancel; every
    /// worker write names the epoch it holds.
    pub lease_epoch: i64,
    /// When the lease runs out unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The last claim or heartbeat.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The try the run is on (0 before its first claim). The first claim
    /// starts attempt 1; a rescue (the previous claim ended dead-lettered or
    /// failed) starts the next one. Resuming after an approval or a graceful
    /// release is the same attempt: see `claims`.
    pub attempt: i32,
    /// How many times it has been claimed, for any reason.
    pub claims: i32,
    /// While queued, the run is not claimed before this time: set by a
    /// release that retries later (a model that failed for now), cleared by
    /// the next claim. `None`: claimable at once.
    pub not_before: Option<DateTime<Utc>>,
    /// The seq of its newest event (the first event is seq 1).
    pub last_seq: i64,
    /// The hash of its newest event, hex.
    pub last_hash: String,
    /// The approval request it is parked on.
    pub waiting_on: Option<ApprovalId>,
    /// The schema-valid result.
    pub result: Option<serde_json::Value>,
    /// The raw output kept when the result was not schema-valid.
    pub result_raw: Option<String>,
    /// The result's confidence, 0..1.
    pub confidence: Option<f64>,
    /// Why it failed, was dead-lettered or needs review.
    pub error: Option<String>,
    /// Tokens and cost consumed.
    pub usage: Usage,
    /// The runtime mode (`dummy`, `dry_run`, `real`) of the worker that
    /// last claimed it; `None` before its first claim (and on runs claimed
    /// before modes were recorded). Each claim's own mode is in its
    /// `claimed` event.
    pub mode: Option<String>,
    /// Per-investigation budget overrides.
    pub budget: Budget,
    /// Dispatch time.
    pub created_at: DateTime<Utc>,
    /// First claim.
    pub started_at: Option<DateTime<Utc>>,
    /// Last transition.
    pub updated_at: DateTime<Utc>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// The W3C trace context (a `traceparent` value) it was dispatched
    /// under: every worker segment of the run continues that trace. Set at
    /// dispatch, never changed; `None` for runs dispatched before tracing.
    pub traceparent: Option<String>,
    /// The trace context (a `traceparent` value) of the span of the last
    /// worker segment that recorded one ([`Leases::record_segment`]), under
    /// its lease. A claim returns the previous segment's value, so the new
    /// segment can link its span to it. `None` before any segment recorded
    /// one (telemetry off).
    ///
    /// [`Leases::record_segment`]: crate::store::Leases::record_segment
    pub segment_traceparent: Option<String>,
}

impl crate::log::Tail<crate::event::InvestigationLog> for Investigation {
    fn log_id(&self) -> InvestigationId {
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

impl Investigation {
    /// The id of the trace the run belongs to (32 lowercase hex digits):
    /// the one in [`Investigation::traceparent`], or, for a run dispatched
    /// without one, its own id, so every run has one trace id that every
    /// worker segment shares.
    pub fn trace_id(&self) -> String {
        self.traceparent
            .as_deref()
            .and_then(|t| t.split('-').nth(1))
            .filter(|id| id.len() == 32)
            .map_or_else(|| self.id.0.simple().to_string(), str::to_owned)
    }

    /// The trace context its spans continue: [`Investigation::traceparent`]
    /// when it is valid, else one whose trace id is the investigation's id
    /// and whose parent span id is the id's last 8 bytes (sampled), the same
    /// for every segment.
    pub fn trace_context(&self) -> crate::trace::TraceParent {
        if let Some(parsed) = self
            .traceparent
            .as_deref()
            .and_then(crate::trace::TraceParent::parse)
        {
            return parsed;
        }
        let bytes = *self.id.0.as_bytes();
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(&bytes[8..]);
        if span_id == [0; 8] {
            span_id[7] = 1;
        }
        crate::trace::TraceParent {
            trace_id: bytes,
            span_id,
            flags: 1,
        }
    }

    /// Whether it waits in the queue (`pending/queued`).
    pub fn is_queued(&self) -> bool {
        self.status == Status::Pending && self.phase == Some(Phase::Queued)
    }

    /// Whether a worker holds (or held, if it expired) its lease
    /// (`pending/running`).
    pub fn is_running(&self) -> bool {
        self.status == Status::Pending && self.phase == Some(Phase::Running)
    }

    /// How many delegations deep it is (0: a principal dispatched it).
    pub fn depth(&self) -> i32 {
        self.parent.as_ref().map_or(0, |p| p.depth)
    }

    /// Whether it is parked until its children finish
    /// (`pending/awaiting_children`).
    pub fn is_awaiting_children(&self) -> bool {
        self.status == Status::Pending && self.phase == Some(Phase::AwaitingChildren)
    }

    /// Whether it is parked on approval request `approval`.
    pub fn is_parked_on(&self, approval: ApprovalId) -> bool {
        self.status == Status::Pending
            && self.phase == Some(Phase::AwaitingApproval)
            && self.waiting_on == Some(approval)
    }

    /// Whether the lease under `epoch` is current and unexpired at `now`
    /// (whatever the phase: see [`Self::is_running`]).
    pub fn holds_lease(&self, epoch: i64, now: DateTime<Utc>) -> bool {
        self.lease_epoch == epoch && self.lease_expires_at.is_some_and(|t| now < t)
    }

    /// The state as operators read it: the status, or `pending/<phase>`.
    pub fn state_name(&self) -> String {
        match self.phase {
            Some(phase) if self.status == Status::Pending => format!("pending/{phase}"),
            _ => self.status.to_string(),
        }
    }

    /// Whether `after` differs from `self` only in the progress columns a
    /// checkpoint moves: `last_seq`, `last_hash`, `updated_at` and `usage`.
    /// Stores then write just those columns, leaving every index untouched.
    pub fn progress_only(&self, after: &Investigation) -> bool {
        let mut moved = self.clone();
        moved.last_seq = after.last_seq;
        moved.last_hash.clone_from(&after.last_hash);
        moved.updated_at = after.updated_at;
        moved.usage = after.usage.clone();
        moved == *after
    }

    /// Wall-clock duration from first claim to finish (or to `now` while pending).
    pub fn duration(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        let start = self.started_at?;
        Some(self.finished_at.unwrap_or(now) - start)
    }
}

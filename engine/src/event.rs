//! The append-only event log: typed event bodies and the stored record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::{ApprovalId, Decision};
use crate::log::{Aggregate, Body, Entry, EntryKind, LogName};
use crate::model::{Budget, InvestigationId, Status, wire_enum};

wire_enum! {
    /// The kind of an event, as stored in `investigation_events.kind`.
    EventKind {
        /// The investigation was created.
        Dispatched => "dispatched",
        /// A worker took the lease.
        Claimed => "claimed",
        /// The model answered (assistant message, tool calls, usage).
        ModelTurn => "model_turn",
        /// A tool call is about to run (journaled before it runs).
        ToolIntent => "tool_intent",
        /// A tool call's outcome.
        ToolResult => "tool_result",
        /// A model call that produced no turn (timeout, rate limit, outage).
        ModelCallFailed => "model_call_failed",
        /// A high-impact call was parked for approval.
        ApprovalRequested => "approval_requested",
        /// An approver decided.
        ApprovalDecided => "approval_decided",
        /// Nobody decided in time.
        ApprovalExpired => "approval_expired",
        /// Parked until the investigations it delegated finish.
        AwaitingChildren => "awaiting_children",
        /// Every delegated investigation finished: queued again.
        ChildrenFinished => "children_finished",
        /// The worker let go without finishing (graceful shutdown).
        Released => "released",
        /// Finished with a valid result.
        Completed => "completed",
        /// Finished; a person must grade the result.
        ReviewRequired => "review_required",
        /// Ended without a result.
        Failed => "failed",
        /// The reaper found the lease expired.
        DeadLettered => "dead_lettered",
        /// An operator put it back in the queue.
        Rescued => "rescued",
        /// An operator stopped it.
        Cancelled => "cancelled",
        /// An analyst accepted or corrected the result.
        Reviewed => "reviewed",
        /// A free-text note from an operator.
        OperatorNote => "operator_note",
    }
}

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id, unique within the investigation (generated if the model
    /// gave none or a duplicate within its turn; suffixed if an earlier
    /// turn used it).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments exactly as the model sent them (may be invalid JSON).
    pub arguments: String,
    /// The id the model itself gave, when `id` had to be made unique
    /// within the investigation (endpoints that send `call_0` every turn).
    /// The model is always answered under this id; the journal, approvals
    /// and resume use `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire_id: Option<String>,
}

impl ToolCall {
    /// The id the model knows the call by.
    pub fn wire_id(&self) -> &str {
        self.wire_id.as_deref().unwrap_or(&self.id)
    }
}

/// Whether a tool changes anything outside Vigil.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Only reads: safe to run again on resume.
    Read,
    /// Has side effects: never run twice blindly.
    Write,
}

/// One model turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelTurn {
    /// The model that answered.
    pub model: String,
    /// The assistant's text, if any.
    pub content: Option<String>,
    /// The tool calls it asked for.
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// Prompt tokens used by this turn.
    pub input_tokens: i64,
    /// Completion tokens used by this turn.
    pub output_tokens: i64,
    /// Estimated cost of this turn in US dollars.
    #[serde(default)]
    pub cost_usd: f64,
}

/// Why a model call produced no turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFailureCause {
    /// No answer within the per-call timeout, after the client's retries.
    Timeout,
    /// The endpoint kept answering 429.
    RateLimited,
    /// The endpoint was unreachable or kept answering 5xx.
    Unavailable,
    /// The endpoint refused the request (4xx other than 429).
    Rejected,
    /// The answer was not a chat completion.
    InvalidResponse,
    /// The run's wall-time budget ran out while the call was in progress.
    WallTime,
}

/// A model call that produced no turn. Counted in
/// [`crate::Usage::lost_turns`]; the run goes on, retries later or ends, as
/// the event after it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCallFailed {
    /// The model asked; `None`: the endpoint's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The cause.
    pub cause: ModelFailureCause,
    /// The client's error, without credentials.
    pub error: String,
    /// How long the call (with its client retries) took, in milliseconds.
    pub elapsed_ms: u64,
}

/// A tool call about to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolIntent {
    /// The model's call id.
    pub tool_call_id: String,
    /// The tool's name.
    pub tool: String,
    /// The validated arguments.
    pub arguments: Value,
    /// Read or write; decides what resume may do with an intent that has no result.
    pub effect: Effect,
}

/// A tool call's outcome, as the model will see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The model's call id.
    pub tool_call_id: String,
    /// The tool's name.
    pub tool: String,
    /// The output (at most the configured cap).
    pub output: String,
    /// Whether the output describes an error.
    #[serde(default)]
    pub is_error: bool,
    /// Whether `output` was cut to the cap.
    #[serde(default)]
    pub truncated: bool,
    /// The size of the full output in bytes, when truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_bytes: Option<u64>,
}

/// The events a worker may append through `checkpoint`. Lifecycle events are
/// produced only by transitions, so a checkpoint cannot forge them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum StepEvent {
    /// See [`ModelTurn`].
    ModelTurn(ModelTurn),
    /// See [`ToolIntent`].
    ToolIntent(ToolIntent),
    /// See [`ToolResult`].
    ToolResult(ToolResult),
    /// See [`ModelCallFailed`].
    ModelCallFailed(ModelCallFailed),
}

/// A delegated investigation as its parent's `children_finished` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildFinished {
    /// The child.
    pub id: InvestigationId,
    /// The status it finished in (`completed`, `review_required`, `failed`).
    pub status: Status,
}

/// The typed body of an event: its kind and payload together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum EventBody {
    /// The investigation was created.
    Dispatched {
        /// The agent.
        agent_id: String,
        /// The prompt.
        prompt: String,
        /// The dispatching principal.
        requested_by: String,
        /// External case id.
        case_ref: Option<String>,
        /// The Vigil case it is linked to (absent when none, so events
        /// written before cases existed keep their bytes and hashes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        case_id: Option<crate::case::CaseId>,
        /// What it does for that case (absent: `investigate`).
        #[serde(
            default,
            skip_serializing_if = "crate::model::CasePurpose::is_investigate"
        )]
        case_purpose: crate::model::CasePurpose,
        /// Budget overrides.
        budget: Budget,
        /// The investigation that delegated it (absent when a principal
        /// dispatched it, so older events keep their bytes and hashes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<crate::model::ParentLink>,
    },
    /// A worker took the lease.
    Claimed {
        /// The worker id.
        worker: String,
        /// The attempt number this claim starts.
        attempt: i32,
        /// When the new lease runs out.
        lease_expires_at: DateTime<Utc>,
        /// The worker's runtime mode (`dummy`, `dry_run`, `real`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<String>,
    },
    /// See [`ModelTurn`].
    ModelTurn(ModelTurn),
    /// See [`ToolIntent`].
    ToolIntent(ToolIntent),
    /// See [`ToolResult`].
    ToolResult(ToolResult),
    /// See [`ModelCallFailed`].
    ModelCallFailed(ModelCallFailed),
    /// A call was parked for approval.
    ApprovalRequested {
        /// The approval request.
        approval_id: ApprovalId,
        /// The model's call id.
        tool_call_id: String,
        /// The tool.
        action: String,
        /// Its arguments.
        arguments: Value,
        /// The model's rationale.
        rationale: Option<String>,
        /// When it expires.
        expires_at: DateTime<Utc>,
        /// The runtime mode of the worker that asked; the approval is valid
        /// only in that mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<String>,
    },
    /// An approver decided.
    ApprovalDecided {
        /// The approval request.
        approval_id: ApprovalId,
        /// The model's call id.
        tool_call_id: String,
        /// The answer.
        decision: Decision,
        /// The approver.
        decided_by: String,
        /// The approver's comment.
        comment: Option<String>,
    },
    /// Nobody decided in time.
    ApprovalExpired {
        /// The approval request.
        approval_id: ApprovalId,
        /// The model's call id.
        tool_call_id: String,
    },
    /// Parked until the investigations it delegated finish; the lease is
    /// released.
    AwaitingChildren {
        /// The children it waits on, each dispatched by one of its
        /// `delegate_investigation` calls.
        children: Vec<InvestigationId>,
    },
    /// Every child it waited on finished: queued again, to read their
    /// results as its calls' results.
    ChildrenFinished {
        /// Each child and the status it finished in.
        children: Vec<ChildFinished>,
    },
    /// The worker let go without finishing.
    Released {
        /// The worker id.
        worker: String,
        /// Why (e.g. shutdown).
        reason: String,
        /// Set when the release is a retry: no claim before this time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<DateTime<Utc>>,
    },
    /// Finished with a valid result.
    Completed {
        /// The result.
        result: Value,
        /// Its confidence.
        confidence: Option<f64>,
    },
    /// Finished; a person must grade it.
    ReviewRequired {
        /// Why review is needed.
        reason: String,
        /// The raw output, if there was one.
        result_raw: Option<String>,
        /// Schema violations, if any.
        #[serde(default)]
        errors: Vec<String>,
    },
    /// Ended without a result.
    Failed {
        /// Why.
        reason: String,
    },
    /// The reaper found the lease expired.
    DeadLettered {
        /// The worker that held the lease.
        worker: Option<String>,
        /// Its last claim or heartbeat.
        last_heartbeat_at: Option<DateTime<Utc>>,
        /// When the lease ran out.
        lease_expired_at: Option<DateTime<Utc>>,
        /// The attempt that died.
        attempt: i32,
    },
    /// An operator put it back in the queue.
    Rescued {
        /// The operator.
        by: String,
        /// Their reason.
        reason: String,
        /// The status it was rescued from.
        from: Status,
    },
    /// An operator stopped it.
    Cancelled {
        /// The operator.
        by: String,
        /// Their reason.
        reason: String,
    },
    /// An analyst accepted or corrected the result.
    Reviewed {
        /// The analyst.
        by: String,
        /// The graded result.
        result: Value,
        /// Its confidence.
        confidence: Option<f64>,
        /// The analyst's note.
        note: Option<String>,
    },
    /// A free-text note.
    OperatorNote {
        /// The operator.
        by: String,
        /// The note.
        text: String,
    },
}

impl From<StepEvent> for EventBody {
    fn from(e: StepEvent) -> Self {
        match e {
            StepEvent::ModelTurn(t) => EventBody::ModelTurn(t),
            StepEvent::ToolIntent(t) => EventBody::ToolIntent(t),
            StepEvent::ToolResult(t) => EventBody::ToolResult(t),
            StepEvent::ModelCallFailed(f) => EventBody::ModelCallFailed(f),
        }
    }
}

/// An event body that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("event payload does not match kind `{kind}`: {source}")]
pub struct DecodeError {
    /// The stored kind.
    pub kind: String,
    /// Why decoding failed.
    pub source: serde_json::Error,
}

impl EventBody {
    /// The body's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            EventBody::Dispatched { .. } => EventKind::Dispatched,
            EventBody::Claimed { .. } => EventKind::Claimed,
            EventBody::ModelTurn(_) => EventKind::ModelTurn,
            EventBody::ToolIntent(_) => EventKind::ToolIntent,
            EventBody::ToolResult(_) => EventKind::ToolResult,
            EventBody::ModelCallFailed(_) => EventKind::ModelCallFailed,
            EventBody::ApprovalRequested { .. } => EventKind::ApprovalRequested,
            EventBody::ApprovalDecided { .. } => EventKind::ApprovalDecided,
            EventBody::ApprovalExpired { .. } => EventKind::ApprovalExpired,
            EventBody::AwaitingChildren { .. } => EventKind::AwaitingChildren,
            EventBody::ChildrenFinished { .. } => EventKind::ChildrenFinished,
            EventBody::Released { .. } => EventKind::Released,
            EventBody::Completed { .. } => EventKind::Completed,
            EventBody::ReviewRequired { .. } => EventKind::ReviewRequired,
            EventBody::Failed { .. } => EventKind::Failed,
            EventBody::DeadLettered { .. } => EventKind::DeadLettered,
            EventBody::Rescued { .. } => EventKind::Rescued,
            EventBody::Cancelled { .. } => EventKind::Cancelled,
            EventBody::Reviewed { .. } => EventKind::Reviewed,
            EventBody::OperatorNote { .. } => EventKind::OperatorNote,
        }
    }

    /// The body's payload as JSON (without the kind).
    pub fn payload(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut map)) => map.remove("payload").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// Rebuilds a body from a stored kind and payload.
    pub fn decode(kind: EventKind, payload: &Value) -> Result<Self, DecodeError> {
        let tagged = serde_json::json!({ "kind": kind.as_str(), "payload": payload });
        serde_json::from_value(tagged).map_err(|source| DecodeError {
            kind: kind.as_str().to_owned(),
            source,
        })
    }
}

/// The investigation's log: `investigation_events`, keyed by `investigation_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvestigationLog;

impl Aggregate for InvestigationLog {
    const LOG: LogName = LogName::Investigation;
    const ID_KEY: &'static str = "investigation_id";
    type Id = InvestigationId;
    type Kind = EventKind;
}

impl EntryKind for EventKind {
    fn as_str(self) -> &'static str {
        EventKind::as_str(self)
    }
}

impl Body<InvestigationLog> for EventBody {
    fn kind(&self) -> EventKind {
        EventBody::kind(self)
    }

    fn payload(&self) -> Value {
        EventBody::payload(self)
    }
}

/// A stored event: one row of `investigation_events` (see [`crate::log`]).
pub type Event = Entry<InvestigationLog>;

impl Event {
    /// The investigation.
    pub fn investigation_id(&self) -> InvestigationId {
        self.aggregate_id
    }

    /// The typed body.
    pub fn body(&self) -> Result<EventBody, DecodeError> {
        EventBody::decode(self.kind, &self.payload)
    }
}

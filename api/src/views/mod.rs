//! The API's request and response bodies. They are the wire contract, kept
//! apart from the engine's records so either can change without the other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_engine::log::{ChainReport, Problem};
use vigil_engine::store::{Delivery, TokenRecord, WorkerSeen};
use vigil_engine::{ApprovalRequest, Event, Investigation, InvestigationLog, Status};

use crate::state::ToolInfo;

pub mod alerts;
pub mod cases;

/// `POST /investigations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchBody {
    /// The agent to run (one of the configured agents).
    #[schema(min_length = 1)]
    pub agent_id: String,
    /// What to investigate: not blank, at most `api.prompt_limit`
    /// characters.
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$")]
    pub prompt: String,
    /// An external case id (ticket, incident).
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 200)]
    pub case_ref: Option<String>,
    /// The Vigil case to link the investigation to (its id or `CASE-<n>`):
    /// the case's timeline records `investigation_linked`, and the result
    /// and approvals are written back to it. An unknown case is 404 naming `case_id`; a
    /// deleted, merged or closed one 409.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub case_id: Option<String>,
    /// Budget overrides; unset limits keep the agent's defaults.
    #[serde(default, deserialize_with = "crate::extract::object_or_null")]
    pub budget: Option<BudgetBody>,
}

/// `POST /cases/{id}/investigations`: a dispatch for the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseDispatchBody {
    /// The agent to run (one of the configured agents).
    #[schema(min_length = 1)]
    pub agent_id: String,
    /// What to investigate: not blank, at most `api.prompt_limit`
    /// characters.
    #[schema(pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$")]
    pub prompt: String,
    /// An external case id (ticket, incident), kept beside the link.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 200)]
    pub case_ref: Option<String>,
    /// Budget overrides; unset limits keep the agent's defaults.
    #[serde(default, deserialize_with = "crate::extract::object_or_null")]
    pub budget: Option<BudgetBody>,
}

/// Budget overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetBody {
    /// Most model turns.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::extract::whole_number"
    )]
    #[schema(minimum = 1, maximum = 1000)]
    pub max_turns: Option<u32>,
    /// Most tokens, input and output together.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::extract::whole_number"
    )]
    #[schema(minimum = 1, maximum = 100_000_000)]
    pub max_tokens: Option<u64>,
    /// Most wall-clock seconds of running (time parked on approvals excluded).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::extract::whole_number"
    )]
    #[schema(minimum = 1, maximum = 604_800)]
    pub max_wall_secs: Option<u64>,
}

/// `POST /investigations/{id}/rescue` and `/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why (recorded in the event log with the principal): not blank.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 4000
    )]
    pub reason: String,
}

/// `POST /investigations/{id}/review`: accept the raw output, or supply a
/// corrected result. Either is validated against the agent's output schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// Accept `result_raw` as it is (it must parse and satisfy the schema).
    #[serde(default)]
    pub accept_raw: bool,
    /// The corrected result document.
    #[serde(default)]
    pub result: Option<Value>,
    /// A note for the record.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 4000)]
    pub note: Option<String>,
}

/// `POST /approvals/{id}/decision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve` or `reject`.
    #[schema(value_type = DecisionName)]
    pub decision: String,
    /// A comment for the record (and for the model, on reject).
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 4000)]
    pub comment: Option<String>,
}

/// `POST /tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The principal's name: not blank.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub name: String,
    /// Its roles; empty for another token of an existing principal.
    #[serde(default)]
    #[schema(value_type = Vec<RoleName>)]
    pub roles: Vec<String>,
}

/// The data of one message on an investigation's event stream: an event
/// (`event: <kind>`, `id: <seq>`), a problem (`event: problem`: an outage,
/// or the token was revoked), or the end (`event: stream_end`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum EventStreamData {
    /// An event.
    Event(EventView),
    /// A problem.
    Problem(crate::error::Problem),
    /// The investigation has finished and every event was sent.
    End(StreamEnd),
}

/// The data of `event: stream_end`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreamEnd {
    /// The seq of the last event.
    pub last_seq: i64,
}

/// The data of one message on the approvals stream: a request
/// (`approval_requested`, `approval_decided`) or a problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ApprovalStreamData {
    /// A request as it now stands.
    Approval(ApprovalView),
    /// A problem.
    Problem(crate::error::Problem),
}

/// An investigation status's wire name (a query filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    /// Not finished.
    Pending,
    /// Finished with a valid result.
    Completed,
    /// Finished; a person must grade it.
    ReviewRequired,
    /// Ended without a result.
    Failed,
    /// Its worker died; waits for a rescue.
    DeadLettered,
}

/// A pending investigation's phase (a query filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    /// Waiting for a worker.
    Queued,
    /// Held by a worker.
    Running,
    /// Parked on an approval.
    AwaitingApproval,
    /// Parked until the investigations it delegated finish.
    AwaitingChildren,
}

/// An approval request's status (a query filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatusName {
    /// Waiting for an approver.
    Pending,
    /// Approved.
    Approved,
    /// Rejected.
    Rejected,
    /// Nobody decided in time.
    Expired,
}

/// An approver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionName {
    /// Run the action.
    Approve,
    /// Do not run it; the model is told why.
    Reject,
}

/// A role's wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    /// Dispatches investigations and reads its own.
    Orchestrator,
    /// Reads everything; rescues, cancels, reviews.
    Operator,
    /// Decides approval requests of others' investigations.
    Approver,
    /// Reads everything, changes nothing.
    Auditor,
    /// Everything, and tokens.
    Admin,
}

/// An investigation in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvestigationSummary {
    /// Its id (UUID v7).
    pub id: Uuid,
    /// The agent.
    pub agent_id: String,
    /// `pending`, `completed`, `review_required`, `failed` or `dead_lettered`.
    pub status: String,
    /// While pending: `queued`, `running`, `awaiting_approval` or
    /// `awaiting_children`.
    pub phase: Option<String>,
    /// Who dispatched it.
    pub requested_by: String,
    /// External case id.
    pub case_ref: Option<String>,
    /// The Vigil case it is linked to.
    pub case_id: Option<Uuid>,
    /// When it was dispatched.
    pub created_at: DateTime<Utc>,
    /// When a worker first claimed it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall clock from the first claim to `finished_at` (or to now while
    /// pending), in ms. It includes time queued, parked on approvals and
    /// dead-lettered, and for a reviewed run the time it waited in review
    /// (the review sets `finished_at`). The wall-time budget counts only
    /// leased time, so this is never the measure of it.
    pub duration_ms: Option<i64>,
    /// The result's confidence (0..1).
    pub confidence: Option<f64>,
    /// The try the run is on: 1 from the first claim, one more after each
    /// rescue (its previous claim ended dead-lettered or failed).
    pub attempt: i32,
    /// Every claim so far, resuming after an approval or a graceful
    /// release included.
    pub claims: i32,
    /// Model turns so far.
    pub model_turns: i64,
    /// Input tokens so far.
    pub input_tokens: i64,
    /// Output tokens so far.
    pub output_tokens: i64,
    /// Model cost so far, in US dollars.
    pub cost_usd: f64,
    /// Model calls that produced no turn (timed out, rate-limited, failed,
    /// or cut off by the wall-time budget).
    pub lost_turns: i64,
    /// The runtime mode (`dummy`, `dry_run`, `real`) of the worker that
    /// last claimed it; `null` before its first claim.
    pub mode: Option<String>,
    /// The approval request it waits on.
    pub waiting_on: Option<Uuid>,
}

impl InvestigationSummary {
    /// The summary of `inv` as of `now`.
    pub fn of(inv: &Investigation, now: DateTime<Utc>) -> Self {
        Self {
            id: inv.id.0,
            agent_id: inv.agent_id.clone(),
            status: inv.status.as_str().to_owned(),
            phase: inv.phase.map(|p| p.as_str().to_owned()),
            requested_by: inv.requested_by.clone(),
            case_ref: inv.case_ref.clone(),
            case_id: inv.case_id.map(|c| c.0),
            created_at: inv.created_at,
            started_at: inv.started_at,
            updated_at: inv.updated_at,
            finished_at: inv.finished_at,
            duration_ms: inv.duration(now).map(|d| d.num_milliseconds()),
            confidence: inv.confidence,
            attempt: inv.attempt,
            claims: inv.claims,
            model_turns: inv.usage.model_turns,
            input_tokens: inv.usage.input_tokens,
            output_tokens: inv.usage.output_tokens,
            cost_usd: inv.usage.cost_usd,
            lost_turns: inv.usage.lost_turns,
            mode: inv.mode.clone(),
            waiting_on: inv.waiting_on.map(|a| a.0),
        }
    }
}

/// The current lease of a running investigation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LeaseView {
    /// The worker holding it.
    pub owner: Option<String>,
    /// The fencing epoch.
    pub epoch: i64,
    /// When it runs out unless renewed.
    pub expires_at: Option<DateTime<Utc>>,
    /// The last heartbeat.
    pub heartbeat_at: Option<DateTime<Utc>>,
}

/// One investigation with its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvestigationDetail {
    /// The listing fields.
    #[serde(flatten)]
    pub summary: InvestigationSummary,
    /// The prompt.
    pub prompt: String,
    /// The result document (default schema: `summary`, `key_findings`,
    /// `recommended_next_steps`, `confidence`).
    pub result: Option<Value>,
    /// The model's unaccepted output, when `review_required`.
    pub result_raw: Option<String>,
    /// Why it failed, was dead-lettered or needs review.
    pub error: Option<String>,
    /// The budget overrides given at dispatch.
    pub budget: BudgetBody,
    /// The lease, while one is held.
    pub lease: LeaseView,
    /// The last event's seq.
    pub last_seq: i64,
    /// The pending approval request it waits on, if any.
    pub pending_approval: Option<ApprovalView>,
    /// The id of the run's trace (32 hex digits): every worker segment
    /// of the run is in it. Look it up in the trace backend. (Empty from
    /// a server older than tracing.)
    #[serde(default)]
    pub trace_id: String,
    /// The investigation that delegated this one (its
    /// `delegate_investigation` call), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentView>,
    /// The investigations this one delegated, oldest first.
    #[serde(default)]
    pub children: Vec<ChildView>,
}

/// What links a delegated investigation to its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ParentView {
    /// The delegating investigation.
    pub id: Uuid,
    /// Its call this investigation answers.
    pub tool_call_id: String,
    /// How many delegations deep this investigation is (1: a direct child
    /// of one a principal dispatched).
    pub depth: i32,
}

/// One delegated investigation, as its parent's detail lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChildView {
    /// The child.
    pub id: Uuid,
    /// Its agent.
    pub agent_id: String,
    /// The parent's call that dispatched it.
    pub tool_call_id: String,
    /// `pending`, `completed`, `review_required`, `failed` or `dead_lettered`.
    pub status: String,
    /// Where a pending child is.
    pub phase: Option<String>,
    /// Its confidence, once completed.
    pub confidence: Option<f64>,
}

impl From<&Investigation> for ChildView {
    fn from(child: &Investigation) -> Self {
        Self {
            id: child.id.0,
            agent_id: child.agent_id.clone(),
            tool_call_id: child
                .parent
                .as_ref()
                .map(|p| p.tool_call_id.clone())
                .unwrap_or_default(),
            status: child.status.to_string(),
            phase: child.phase.map(|p| p.to_string()),
            confidence: child.confidence,
        }
    }
}

impl InvestigationDetail {
    /// This detail with `children` (the investigation's, oldest first).
    pub fn with_children(mut self, children: &[Investigation]) -> Self {
        self.children = children.iter().map(ChildView::from).collect();
        self
    }

    /// The detail of `inv` as of `now`, with the approval it waits on.
    pub fn of(inv: &Investigation, pending: Option<ApprovalView>, now: DateTime<Utc>) -> Self {
        Self {
            summary: InvestigationSummary::of(inv, now),
            prompt: inv.prompt.clone(),
            result: inv.result.clone(),
            result_raw: (inv.status == Status::ReviewRequired)
                .then(|| inv.result_raw.clone())
                .flatten(),
            error: inv.error.clone(),
            budget: BudgetBody {
                max_turns: inv.budget.max_turns,
                max_tokens: inv.budget.max_tokens,
                max_wall_secs: inv.budget.max_wall_secs,
            },
            lease: LeaseView {
                owner: inv.lease_owner.clone(),
                epoch: inv.lease_epoch,
                expires_at: inv.lease_expires_at,
                heartbeat_at: inv.heartbeat_at,
            },
            last_seq: inv.last_seq,
            pending_approval: pending,
            trace_id: inv.trace_id(),
            parent: inv.parent.as_ref().map(|p| ParentView {
                id: p.id.0,
                tool_call_id: p.tool_call_id.clone(),
                depth: p.depth,
            }),
            children: Vec::new(),
        }
    }
}

/// A page of investigations, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvestigationPage {
    /// The items.
    pub items: Vec<InvestigationSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One event of an investigation's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// The investigation.
    pub investigation_id: Uuid,
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// The kind (`dispatched`, `claimed`, `model_turn`, `tool_intent`, ...).
    pub kind: String,
    /// The kind's payload.
    pub payload: Value,
    /// Who wrote it: a worker id, a principal, or `system:reaper` / `system:expiry`.
    pub actor: String,
    /// The lease epoch in force when it was written.
    pub epoch: i64,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash: SHA-256 over `prev_hash` and the canonical event.
    pub hash: String,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        Self {
            investigation_id: e.aggregate_id.0,
            seq: e.seq,
            kind: e.kind.as_str().to_owned(),
            payload: e.payload.clone(),
            actor: e.actor.clone(),
            epoch: e.epoch,
            created_at: e.created_at,
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// A slice of an investigation's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    /// Events after `after_seq`, in seq order.
    pub items: Vec<EventView>,
    /// Pass as `after_seq` to continue.
    pub next_after_seq: i64,
}

/// What is wrong at a log's first break, in words; `owner` names the
/// record whose row keeps the log's tail (`the investigation`, `the case`).
pub(crate) fn problem_text(problem: &Problem, owner: &str) -> String {
    match problem {
        Problem::Gap { expected, found } => format!("seq gap: expected {expected}, found {found}"),
        Problem::BrokenLink => "prev_hash does not name the previous event".to_owned(),
        Problem::HashMismatch => "stored hash does not match the event".to_owned(),
        Problem::TailMismatch {
            expected_last_seq,
            found_last_seq,
        } => format!("log ends at seq {found_last_seq}, {owner} says {expected_last_seq}"),
    }
}

/// The outcome of verifying an investigation's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditReport {
    /// The investigation.
    pub investigation_id: Uuid,
    /// Whether every seq follows the previous one and every hash and link checks out.
    pub valid: bool,
    /// Events checked.
    pub events_checked: i64,
    /// The seq of the first problem.
    pub broken_at_seq: Option<i64>,
    /// What is wrong there.
    pub problem: Option<String>,
    /// Fields of the investigation that its (intact) events do not support:
    /// a forged result, a status whose event was cut off.
    #[serde(default)]
    pub mismatches: Vec<MismatchView>,
}

/// A field of the record that its log, replayed, does not support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MismatchView {
    /// The field (`status`, `phase`, `result`, `confidence`).
    pub field: String,
    /// What the stored record says.
    pub row: Value,
    /// What replaying the events says.
    pub log: Value,
}

impl From<&ChainReport<InvestigationLog>> for AuditReport {
    fn from(r: &ChainReport<InvestigationLog>) -> Self {
        let v = Verdict::of(r, "the investigation");
        Self {
            investigation_id: r.aggregate_id.0,
            valid: v.valid,
            events_checked: v.events_checked,
            broken_at_seq: v.broken_at_seq,
            problem: v.problem,
            mismatches: v.mismatches,
        }
    }
}

/// What an audit report says about any aggregate's log, in wire form.
pub(crate) struct Verdict {
    pub(crate) valid: bool,
    pub(crate) events_checked: i64,
    pub(crate) broken_at_seq: Option<i64>,
    pub(crate) problem: Option<String>,
    pub(crate) mismatches: Vec<MismatchView>,
}

impl Verdict {
    /// The verdict of `r`; `owner` names the record whose row keeps the
    /// log's tail.
    pub(crate) fn of<A: vigil_engine::log::Aggregate>(r: &ChainReport<A>, owner: &str) -> Self {
        Self {
            valid: r.valid,
            events_checked: r.events_checked,
            broken_at_seq: r.first_break.as_ref().map(|b| b.seq),
            problem: r
                .first_break
                .as_ref()
                .map(|b| problem_text(&b.problem, owner)),
            mismatches: r
                .mismatches
                .iter()
                .map(|m| MismatchView {
                    field: m.field.clone(),
                    row: m.row.clone(),
                    log: m.log.clone(),
                })
                .collect(),
        }
    }
}

/// An approval request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Its id.
    pub id: Uuid,
    /// The investigation it belongs to.
    pub investigation_id: Uuid,
    /// The model's tool call id.
    pub tool_call_id: String,
    /// The tool to run.
    pub action: String,
    /// Its arguments.
    pub arguments: Value,
    /// The model's stated reason.
    pub rationale: Option<String>,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: String,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it expires unless decided.
    pub expires_at: DateTime<Utc>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decider's comment.
    pub comment: Option<String>,
    /// The runtime mode (`dummy`, `dry_run`, `real`) the request was made
    /// in; approving it lets the action run in that mode only.
    pub mode: Option<String>,
}

impl From<&ApprovalRequest> for ApprovalView {
    fn from(a: &ApprovalRequest) -> Self {
        Self {
            id: a.id.0,
            investigation_id: a.investigation_id.0,
            tool_call_id: a.tool_call_id.clone(),
            action: a.action.clone(),
            arguments: a.arguments.clone(),
            rationale: a.rationale.clone(),
            status: a.status.as_str().to_owned(),
            created_at: a.created_at,
            expires_at: a.expires_at,
            decided_by: a.decided_by.clone(),
            decided_at: a.decided_at,
            comment: a.comment.clone(),
            mode: a.mode.clone(),
        }
    }
}

/// The investigation an approval request belongs to, as the approver needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalContext {
    /// The agent.
    pub agent_id: String,
    /// The dispatched prompt.
    pub prompt: String,
    /// Who dispatched it (they may not decide).
    pub requested_by: String,
    /// External case id.
    pub case_ref: Option<String>,
    /// The investigation's status.
    pub status: String,
    /// Its phase.
    pub phase: Option<String>,
    /// The tool, as configured.
    pub tool: Option<ToolInfo>,
    /// What approving will do in the current runtime mode.
    pub effect_in_mode: String,
}

/// A webhook notification of an approval request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// The webhook target's name.
    pub target: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// The last HTTP status received.
    pub last_status: Option<i32>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: DateTime<Utc>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        Self {
            target: d.target.clone(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            delivered_at: d.delivered_at,
            next_attempt_at: d.next_attempt_at,
        }
    }
}

/// An approval request with what an approver needs to decide it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalDetail {
    /// The request.
    #[serde(flatten)]
    pub approval: ApprovalView,
    /// Its investigation.
    pub context: ApprovalContext,
    /// Whether the caller may decide it now.
    pub can_decide: bool,
    /// Why not, when they may not.
    pub cannot_decide_reason: Option<String>,
    /// Its webhook notifications.
    pub notifications: Vec<DeliveryView>,
}

/// A list of approval requests: pending first, soonest to expire first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalList {
    /// The requests.
    pub items: Vec<ApprovalView>,
}

/// A worker process seen recently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkerView {
    /// `host:pid:uuid`.
    pub id: String,
    /// The agents it serves (empty: all).
    pub agents: Vec<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last announced itself.
    pub seen_at: DateTime<Utc>,
}

impl From<&WorkerSeen> for WorkerView {
    fn from(w: &WorkerSeen) -> Self {
        Self {
            id: w.id.clone(),
            agents: w.agents.clone(),
            started_at: w.started_at,
            seen_at: w.seen_at,
        }
    }
}

/// `GET /system/mode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModeView {
    /// `dummy` (scripted model and fixture tools, nothing leaves the
    /// process), `dry_run` (real model, write tools preview only) or `real`.
    pub mode: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Vigil's version.
    pub version: String,
    /// Worker processes seen in the last minute.
    pub workers_seen: usize,
    /// Those workers.
    pub workers: Vec<WorkerView>,
    /// The agents this API dispatches to.
    pub agents: Vec<String>,
    /// The public key (64 hex digits) of the audit key head receipts are
    /// signed with, or null when this server signs none. Keep a copy out of
    /// band: `vigil audit key` prints it where the key is configured.
    pub receipt_key: Option<String>,
}

/// `GET /system/settings`: the runtime configuration, read-only and without
/// secrets (no API key, header value, credential, URL path or query, or
/// signing secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SettingsView {
    /// `dummy`, `dry_run` or `real`.
    pub mode: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Vigil's version.
    pub version: String,
    /// The model endpoint; null in `dummy` mode (the scripted model).
    pub model: Option<crate::settings::ModelSettings>,
    /// The agents, by id.
    pub agents: Vec<crate::settings::AgentSettings>,
    /// The tools, by name.
    pub tools: Vec<crate::settings::ToolSettings>,
    /// The approval-notification receivers, by name.
    pub webhooks: Vec<crate::settings::WebhookSettings>,
    /// How alerts group into cases, in the order they are tried (the
    /// default rule when none is configured).
    pub grouping_rules: Vec<GroupingRuleView>,
}

/// One alert grouping rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GroupingRuleView {
    /// The detection rule it applies to; null: every rule.
    pub rule: Option<String>,
    /// The entity types that key a group, in order of preference.
    pub entity_types: Vec<String>,
    /// How long after a case's last alert another still joins it, in seconds.
    pub window_secs: i64,
    /// The agent dispatched for every case it opens, if any.
    pub investigate: Option<String>,
}

/// A signed head receipt: the log head (`seq`, `hash`) an investigation had
/// when it reached `status`, signed with the audit key. Save it; `vigil audit
/// verify --receipt` checks a trail against it without trusting the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptView {
    /// The format version: 1.
    pub v: u32,
    /// Which log: `investigation`.
    pub log: String,
    /// The investigation.
    pub id: Uuid,
    /// The head's seq.
    pub seq: i64,
    /// The head's hash, hex.
    pub hash: String,
    /// The status reached with that head.
    pub status: String,
    /// When it was signed.
    pub issued_at: DateTime<Utc>,
    /// The first 16 hex digits of SHA-256 of the signing public key.
    pub key_id: String,
    /// The Ed25519 signature, hex.
    pub signature: String,
}

impl From<&vigil_engine::receipt::Receipt> for ReceiptView {
    fn from(r: &vigil_engine::receipt::Receipt) -> Self {
        Self {
            v: r.v,
            log: r.log.clone(),
            id: r.id,
            seq: r.seq,
            hash: r.hash.clone(),
            status: r.status.clone(),
            issued_at: r.issued_at,
            key_id: r.key_id.clone(),
            signature: r.signature.clone(),
        }
    }
}

/// An investigation's head receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptList {
    /// By seq; the last is the newest head.
    pub items: Vec<ReceiptView>,
}

/// `GET /readyz` when ready, and `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthView {
    /// `ok` or `ready`.
    pub status: String,
}

/// `GET /me`: who the token authenticates as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    /// The principal.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
}

/// A stored token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Its public id.
    pub id: String,
    /// The principal it authenticates as.
    pub principal: String,
    /// The principal's roles.
    pub roles: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&TokenRecord> for TokenView {
    fn from(t: &TokenRecord) -> Self {
        Self {
            id: t.id.clone(),
            principal: t.principal.clone(),
            roles: t.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A newly issued token: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedTokenView {
    /// The bearer token. Store it now; it cannot be shown again.
    pub token: String,
    /// The stored record.
    #[serde(flatten)]
    pub record: TokenView,
}

/// Queue counts (`GET /investigations/stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatsView {
    /// Pending, waiting for a worker.
    pub queued: i64,
    /// Pending, held by a worker.
    pub running: i64,
    /// Pending, parked on an approval request.
    pub awaiting_approval: i64,
    /// Pending, parked until the investigations it delegated finish.
    #[serde(default)]
    pub awaiting_children: i64,
    /// Completed with a valid result.
    pub completed: i64,
    /// Finished; a person must grade the result.
    pub review_required: i64,
    /// Ended without a result (budget, error, cancelled).
    pub failed: i64,
    /// Their worker stopped heartbeating; waiting for an operator's rescue.
    pub dead_lettered: i64,
    /// Approval requests waiting for a decision.
    pub approvals_pending: i64,
    /// When the oldest of them was requested.
    pub oldest_pending_approval_at: Option<DateTime<Utc>>,
}

/// The token list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    /// Every token, oldest first.
    pub items: Vec<TokenView>,
}

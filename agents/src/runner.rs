//! The agent loop: one call drives a claimed investigation until it parks,
//! finishes, or loses its lease.
//!
//! A run reads its event log once, into a journal (`runner/journal.rs`)
//! that then tracks the run's own writes. Each pass settles the newest
//! turn's open tool calls, checks the budget, and asks the model for the
//! next turn. Every write names the lease epoch the worker holds; on
//! `LeaseLost` the loop stops at once, without another model or tool call.
//!
//! A model turn is held back and journaled in one checkpoint with the first
//! write of its first tool call (usually that call's intent), so the intent
//! is still written before the tool runs. Every lifecycle write (complete,
//! park, release, fail) first writes a held turn.
//!
//! Resume rules (design.md, "Durable resume, not replay"):
//! - a tool call with a result never runs again;
//! - a read tool with an intent and no result runs again;
//! - a write tool with an intent and no result does not run again: the run
//!   goes to `review_required` with ``"outcome of <tool call id> (`<tool>`
//!   with <arguments>) unknown"``.

mod journal;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use vigil_engine::Clock;
use vigil_engine::approval::{ApprovalId, Decision};
use vigil_engine::event::{
    Effect, ModelCallFailed, ModelFailureCause, ModelTurn, StepEvent, ToolIntent, ToolResult,
};
use vigil_engine::machine::ApprovalDraft;
use vigil_engine::model::Investigation;
use vigil_engine::result::Completion;
use vigil_engine::store::{self, Dispatcher, Leases, Reads, Store};

use self::journal::Journal;
use crate::catalog::{Agent, AgentBudget, Catalog};
use crate::config::{Mode, Price};
use crate::delegate::{self, DELEGATE, DelegateArgs};
use crate::history::{ApprovalState, History, PendingCall};
use crate::model::{ChatModel, ChatRequest, ModelError, ToolDef};
use crate::registry::{Prepared, SUBMIT_RESULT, ToolOutcome, ToolRegistry};
use crate::tool::CallContext;
use crate::trace as keys;

/// The store ports a run uses: the fenced writes under its lease, one
/// read of its event log when it starts, and the dispatch of the children
/// it delegates to (and the read of those that finished).
#[derive(Clone)]
pub struct Ports {
    /// Checkpoints and lifecycle writes, each naming the lease epoch.
    pub leases: Arc<dyn Leases>,
    /// Reads the event log of a run as it starts.
    pub reads: Arc<dyn Reads>,
    /// Dispatches the children of `delegate_investigation` calls.
    pub dispatcher: Arc<dyn Dispatcher>,
}

impl From<Arc<dyn Store>> for Ports {
    fn from(store: Arc<dyn Store>) -> Self {
        Self {
            leases: store.clone(),
            dispatcher: store.clone(),
            reads: store,
        }
    }
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ports").finish_non_exhaustive()
    }
}

/// Why [`Runner::run`] did not bring a run to a [`Step`]. Either way the run
/// keeps its lease until it expires, unless the caller gives it back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A store call failed. `LeaseLost` is not an error: the run ends as
    /// [`Step::LeaseLost`].
    #[error("store call failed")]
    Store(#[from] store::Error),
    /// The log says a tool call waits on an approval request, yet the run
    /// was claimed, and a parked run is never claimed: the log and the row
    /// disagree. Nothing was written.
    #[error("tool call {tool_call_id} waits on approval {approval}, but the run is not parked")]
    NotParked {
        /// The call the log shows as parked.
        tool_call_id: String,
        /// The request it waits on.
        approval: ApprovalId,
    },
}

impl Error {
    /// Whether running the investigation again later may succeed (the
    /// database was unreachable): it resumes from its log.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Store(e) if e.is_transient())
    }
}

/// How the loop stops early: at a step, or on an error.
enum Halt {
    At(Step),
    Failed(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Failed(e)
    }
}

/// A part of the loop: `Ok` goes on, `Err` stops the run.
type Flow<T = ()> = Result<T, Halt>;

/// Where a run stands when [`Runner::run`] returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Finished with a schema-valid result.
    Completed,
    /// Finished; a person must grade it (the reason is on the record).
    ReviewRequired,
    /// Ended without a result.
    Failed,
    /// Parked on an approval request; the lease is released.
    AwaitingApproval,
    /// Parked until the investigations it delegated finish; the lease is
    /// released.
    AwaitingChildren,
    /// The model endpoint is unavailable for now; the run was released to
    /// the queue.
    RetryLater(String),
    /// This runner's catalog lacks the run's agent (a mixed pool, or a
    /// rolling deploy that adds an agent): the run was released to the
    /// queue, untouched otherwise, for a worker that serves the agent.
    NotServed(String),
    /// A write tool was due, but the lease left after renewing it would not
    /// outlast the tool's timeout: the run was released before the call's
    /// intent was written, so the request was never sent and the call runs
    /// on the next claim.
    LeaseShort(String),
    /// The lease moved on; nothing more was written.
    LeaseLost,
    /// The process is shutting down: the run was given back to the queue at
    /// a checkpoint.
    Released,
}

impl Step {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Step::Completed => "completed",
            Step::ReviewRequired => "review_required",
            Step::Failed => "failed",
            Step::AwaitingApproval => "awaiting_approval",
            Step::AwaitingChildren => "awaiting_children",
            Step::RetryLater(_) => "retry_later",
            Step::NotServed(_) => "not_served",
            Step::LeaseShort(_) => "lease_short",
            Step::LeaseLost => "lease_lost",
            Step::Released => "released",
        }
    }
}

/// The lease length when none is given (the default of `worker.lease`).
const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs agents.
pub struct Runner {
    ports: Ports,
    catalog: Arc<Catalog>,
    tools: Arc<ToolRegistry>,
    model: Arc<dyn ChatModel>,
    clock: Arc<dyn Clock>,
    mode: Mode,
    prices: HashMap<String, Price>,
    lease: std::time::Duration,
    capture_content: bool,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("mode", &self.mode)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner over `ports` (an `Arc<dyn Store>` converts).
    pub fn new(
        ports: impl Into<Ports>,
        catalog: Arc<Catalog>,
        tools: Arc<ToolRegistry>,
        model: Arc<dyn ChatModel>,
        clock: Arc<dyn Clock>,
        mode: Mode,
    ) -> Self {
        Self {
            ports: ports.into(),
            catalog,
            tools,
            model,
            clock,
            mode,
            prices: HashMap::new(),
            lease: DEFAULT_LEASE,
            capture_content: false,
        }
    }

    /// The runtime mode it runs in: what a worker claims in and records on
    /// each run it claims.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The agents this runner can run: the ones its catalog declares.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.catalog.ids()
    }

    /// The lease length the worker holds runs for (default 2 min, as
    /// `worker.lease`). Before a write tool runs, the runner renews the
    /// lease to this length and releases the run instead if what is left
    /// would not outlast the tool's timeout. Give it the worker's
    /// `WorkerSettings::lease`.
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Whether `execute_tool` spans carry the tool calls' arguments and
    /// results (`[telemetry] capture_content`; off by default). Header
    /// values, where credentials live, are never recorded either way.
    pub fn with_capture_content(mut self, capture: bool) -> Self {
        self.capture_content = capture;
        self
    }

    /// Prices tokens per model (for the cost counters).
    pub fn with_prices(mut self, prices: HashMap<String, Price>) -> Self {
        self.prices = prices;
        self
    }

    /// Drives the claimed investigation `inv` (holding `inv.lease_epoch`)
    /// until it parks, finishes, is released, or loses its lease. A run
    /// whose agent the catalog lacks is released at once
    /// ([`Step::NotServed`]), never failed.
    ///
    /// Once `stop` is cancelled the run goes no further than its next
    /// checkpoint: before its next model call it releases itself to the
    /// queue ([`Step::Released`]). A model or tool call already under way is
    /// not interrupted; dropping the returned future does that.
    ///
    /// The current span is taken to be the segment's `invoke_agent` span:
    /// the run's model, provider, token usage and outcome are set on it.
    pub async fn run(&self, inv: &Investigation, stop: &CancellationToken) -> Result<Step, Error> {
        let segment = tracing::Span::current();
        if let Ok(agent) = self.catalog.get(&inv.agent_id)
            && let Some(model) = agent
                .config()
                .model
                .as_deref()
                .or_else(|| self.model.default_model())
        {
            segment.set_attribute(keys::GEN_AI_REQUEST_MODEL, model.to_owned());
        }
        segment.set_attribute(keys::GEN_AI_PROVIDER_NAME, self.model.provider());
        let outcome = match self.drive(inv, stop).await {
            Ok(never) => match never {},
            Err(Halt::At(step)) => Ok(step),
            Err(Halt::Failed(e)) => Err(e),
        };
        match &outcome {
            Ok(step) => segment.set_attribute(keys::VIGIL_STEP, step.label()),
            Err(e) => {
                segment.set_attribute(keys::ERROR_TYPE, "store_error");
                segment.set_status(opentelemetry::trace::Status::error(e.to_string()));
            }
        }
        outcome
    }

    async fn drive(&self, inv: &Investigation, stop: &CancellationToken) -> Flow<Infallible> {
        let mut journal = Journal::open(&self.ports, inv).await?;
        crate::trace::link_previous_segment(
            &tracing::Span::current(),
            inv,
            journal.history().resumed_after(),
        );
        let agent = match self.catalog.get(&inv.agent_id) {
            Ok(agent) => agent,
            Err(e) => {
                let why = e.to_string();
                return Err(journal.release(&why, Step::NotServed(why.clone())).await);
            }
        };
        let budget = agent.config().budget.with_overrides(&inv.budget);
        let mut tokens = inv.usage.input_tokens + inv.usage.output_tokens;
        // This segment's (input, output) tokens, for its span.
        let mut used = (0i64, 0i64);
        loop {
            let open: Vec<PendingCall> = journal
                .history()
                .pending()
                .into_iter()
                .filter(PendingCall::is_open)
                .collect();
            let mut waiting = Vec::new();
            for pending in open {
                if pending.call.name == DELEGATE {
                    waiting.extend(self.delegate(agent, &budget, &mut journal, pending).await?);
                } else {
                    self.settle(agent, &budget, &mut journal, pending).await?;
                }
            }
            if !waiting.is_empty() {
                // Parked until they finish; or, when they all have, their
                // results are read on the next pass.
                journal.await_children(waiting).await?;
                continue;
            }
            if stop.is_cancelled() {
                return Err(journal
                    .release("worker shutting down", Step::Released)
                    .await);
            }
            if let Some(reason) = self.exhausted(&budget, journal.history(), tokens) {
                let raw = journal.last_turn().and_then(|t| t.content.clone());
                return Err(journal.complete(for_review(reason, raw)).await);
            }
            let request = ChatRequest {
                model: agent.config().model.clone(),
                messages: journal
                    .history()
                    .messages(&agent.config().system_prompt, &inv.prompt),
                tools: self.tool_defs(agent),
            };
            let started = std::time::Instant::now();
            // The wall-time budget bounds the call in progress too.
            let left = budget
                .max_wall_time
                .saturating_sub(self.worked(journal.history()));
            let chat = chat_span(&request, &*self.model);
            let answered = tokio::time::timeout(left, self.model.complete(&request))
                .instrument(chat.clone())
                .await;
            record_chat(&chat, &answered);
            record_chat_metrics(&request, &*self.model, &answered, started.elapsed());
            let Ok(answered) = answered else {
                let lost = ModelCallFailed {
                    model: request.model.clone(),
                    cause: ModelFailureCause::WallTime,
                    error: format!(
                        "cut off after {} ms by the wall-time budget",
                        left.as_millis()
                    ),
                    elapsed_ms: millis(started.elapsed()),
                };
                journal.record(StepEvent::ModelCallFailed(lost)).await?;
                let reason = format!(
                    "budget exhausted: wall time (limit {} s) ran out while waiting for the model",
                    budget.max_wall_time.as_secs()
                );
                let raw = journal.last_turn().and_then(|t| t.content.clone());
                return Err(journal.complete(for_review(reason, raw)).await);
            };
            metrics::histogram!(
                "vigil_model_seconds",
                "outcome" => if answered.is_ok() { "ok" } else { "error" }
            )
            .record(started.elapsed().as_secs_f64());
            if let Err(e) = &answered {
                let lost = ModelCallFailed {
                    model: request.model.clone(),
                    cause: failure_cause(e),
                    error: e.to_string(),
                    elapsed_ms: millis(started.elapsed()),
                };
                journal.record(StepEvent::ModelCallFailed(lost)).await?;
            }
            let response = match answered {
                Ok(response) => response,
                Err(e) if e.is_transient() => {
                    let failures = journal.history().model_failures();
                    let reason = e.to_string();
                    if self.worked(journal.history()) >= budget.max_wall_time {
                        let why = format!(
                            "budget exhausted: wall time (limit {} s) ran out; the last model call failed: {reason}",
                            budget.max_wall_time.as_secs()
                        );
                        let raw = journal.last_turn().and_then(|t| t.content.clone());
                        return Err(journal.complete(for_review(why, raw)).await);
                    }
                    if failures >= budget.max_model_failures {
                        let why = format!("model failed {failures} times in a row: {reason}");
                        return Err(journal.fail(&why).await);
                    }
                    let why = format!("model unavailable: {reason}");
                    // The endpoint's Retry-After, when longer, wins.
                    let asked = e
                        .retry_after()
                        .and_then(|d| chrono::Duration::from_std(d).ok())
                        .unwrap_or_default();
                    let not_before = self.clock.now() + retry_backoff(failures).max(asked);
                    return Err(journal
                        .retry_later(&why, not_before, Step::RetryLater(reason))
                        .await);
                }
                Err(e) => return Err(journal.fail(&e.to_string()).await),
            };
            tokens += response.input_tokens + response.output_tokens;
            let segment = tracing::Span::current();
            used.0 += response.input_tokens;
            used.1 += response.output_tokens;
            segment.set_attribute(keys::GEN_AI_USAGE_INPUT_TOKENS, used.0);
            segment.set_attribute(keys::GEN_AI_USAGE_OUTPUT_TOKENS, used.1);
            metrics::counter!("vigil_model_tokens_total", "kind" => "input")
                .increment(u64::try_from(response.input_tokens).unwrap_or(0));
            metrics::counter!("vigil_model_tokens_total", "kind" => "output")
                .increment(u64::try_from(response.output_tokens).unwrap_or(0));
            let cost_usd = self.prices.get(&response.model).map_or(0.0, |p| {
                (response.input_tokens as f64 * p.input_per_million
                    + response.output_tokens as f64 * p.output_per_million)
                    / 1_000_000.0
            });
            let tool_calls = unique_call_ids(&journal, response.tool_calls);
            let turn = ModelTurn {
                model: response.model,
                content: response.content,
                tool_calls,
                input_tokens: response.input_tokens,
                output_tokens: response.output_tokens,
                cost_usd,
            };
            // The turn goes into the checkpoint of its first call's first
            // write; a turn whose first call is `submit_result`, or that
            // has no calls, is written alone.
            let first = turn
                .tool_calls
                .first()
                .filter(|c| c.name != SUBMIT_RESULT && c.name != DELEGATE)
                .cloned();
            journal.hold(turn);
            if let Some(call) = first {
                let pending = PendingCall {
                    call,
                    intent: None,
                    result: None,
                    approval: None,
                };
                self.settle(agent, &budget, &mut journal, pending).await?;
            }
            journal.flush().await?;
        }
    }

    /// Brings one open call of the newest turn to a result. Stops the run
    /// when the call finishes it, parks it, or a write fails.
    async fn settle(
        &self,
        agent: &Agent,
        budget: &AgentBudget,
        journal: &mut Journal,
        pending: PendingCall,
    ) -> Flow {
        let call = &pending.call;
        let error = |text: String| ToolOutcome::error(text, self.tools.output_cap());
        let context = CallContext {
            investigation: journal.id(),
            tool_call_id: call.id.clone(),
            case: journal.case_id(),
        };
        if call.name == SUBMIT_RESULT {
            return Err(journal.complete(agent.judge(&call.arguments)).await);
        }
        if pending.outcome_unknown() {
            let (tool, arguments) = pending.intent.as_ref().map_or_else(
                || (call.name.clone(), call.arguments.clone()),
                |i| (i.tool.clone(), i.arguments.to_string()),
            );
            let reason = format!(
                "outcome of {} (`{tool}` with {}) unknown",
                call.id,
                clip_chars(&arguments, 300)
            );
            return Err(journal.complete(for_review(reason, None)).await);
        }
        if let Some(intent) = &pending.intent {
            if let Some(reason) = self.spent_before(budget, journal, call) {
                return Err(journal.complete(for_review(reason, None)).await);
            }
            // A read call was in flight when the previous worker stopped: run it again.
            let outcome = match self
                .tools
                .prepare(&intent.tool, &intent.arguments.to_string())
            {
                Ok(prepared) => self.execute(&prepared, &context, "none").await,
                Err(outcome) => outcome,
            };
            return answer(journal, &call.id, &intent.tool, outcome).await;
        }
        if !self.tools.offers(&agent.config().tools, &call.name) {
            let available: Vec<String> = self
                .tools
                .offered(&agent.config().tools)
                .iter()
                .map(|t| t.spec().name.clone())
                .collect();
            let text = format!(
                "unknown tool `{}` for this agent; available tools: {}",
                call.name,
                available.join(", ")
            );
            return answer(journal, &call.id, &call.name, error(text)).await;
        }
        let prepared = match self.tools.prepare(&call.name, &call.arguments) {
            Ok(prepared) => prepared,
            Err(outcome) => return answer(journal, &call.id, &call.name, outcome).await,
        };
        let times = journal.times_called(&call.name, &prepared.arguments);
        if times > budget.max_repeated_calls as usize {
            let reason = format!(
                "repeated tool call: `{}` with the same arguments {times} times (limit {})",
                call.name, budget.max_repeated_calls
            );
            let raw = journal.last_turn().and_then(|t| t.content.clone());
            return Err(journal.complete(for_review(reason, raw)).await);
        }
        let spec = prepared.spec().clone();
        let gated = needs_approval(&spec, &prepared.arguments, journal.case_requires_approval());
        if gated {
            let refused = match &pending.approval {
                None => {
                    let now = self.clock.now();
                    let expires_in = chrono::Duration::from_std(spec.approval.expires_in)
                        .unwrap_or_else(|_| chrono::Duration::minutes(15));
                    let draft = ApprovalDraft {
                        id: ApprovalId::new_at(now),
                        tool_call_id: call.id.clone(),
                        action: spec.name.clone(),
                        arguments: prepared.arguments.clone(),
                        rationale: journal.last_turn().and_then(|t| t.content.clone()),
                        expires_at: now + expires_in,
                        mode: Some(self.mode.as_str().to_owned()),
                    };
                    return Err(journal.await_approval(draft).await);
                }
                Some(ApprovalState::Requested(approval)) => {
                    return Err(Error::NotParked {
                        tool_call_id: call.id.clone(),
                        approval: *approval,
                    }
                    .into());
                }
                Some(ApprovalState::Decided {
                    decision: Decision::Reject,
                    by,
                    comment,
                }) => Some(match comment {
                    Some(c) => format!("rejected by {by}: {c}"),
                    None => format!("rejected by {by}"),
                }),
                Some(ApprovalState::Expired) => {
                    Some("expired: nobody approved this action in time; it was not run".to_owned())
                }
                Some(ApprovalState::Cancelled { by, reason }) => Some(format!(
                    "cancelled by {by}: {reason}; the action was not run, and running it now needs a new call and a new approval"
                )),
                Some(ApprovalState::Decided {
                    decision: Decision::Approve,
                    by,
                    ..
                }) => match journal.history().approval_mode(&call.id) {
                    // An approval holds only in the mode it was asked in:
                    // one granted for a dry run never runs a real action.
                    Some(asked) if asked != self.mode.as_str() => Some(format!(
                        "approved by {by} while Vigil ran in {asked} mode; this worker runs in {} mode, so the action was not run: running it needs a new call and an approval in this mode",
                        self.mode.as_str()
                    )),
                    _ => None,
                },
            };
            if let Some(text) = refused {
                return answer(journal, &call.id, &spec.name, error(text)).await;
            }
        }
        if let Some(reason) = self.spent_before(budget, journal, call) {
            let raw = journal.last_turn().and_then(|t| t.content.clone());
            return Err(journal.complete(for_review(reason, raw)).await);
        }
        let preview_only = (self.mode == Mode::DryRun && spec.effect == Effect::Write)
            || (self.mode == Mode::Dummy && !prepared.tool.is_local());
        if spec.effect == Effect::Write && !preview_only {
            self.hold_lease_for(journal, &prepared).await?;
        }
        journal
            .record(StepEvent::ToolIntent(ToolIntent {
                tool_call_id: call.id.clone(),
                tool: spec.name.clone(),
                arguments: prepared.arguments.clone(),
                effect: spec.effect,
            }))
            .await?;
        let outcome = if preview_only {
            let preview = prepared.tool.preview(&context, &prepared.arguments).await;
            let preview = json!({"dry_run": true, "preview": preview});
            ToolOutcome::capped(preview.to_string(), self.tools.output_cap())
        } else {
            let approval = if gated { "approved" } else { "none" };
            self.execute(&prepared, &context, approval).await
        };
        answer(journal, &call.id, &spec.name, outcome).await
    }

    /// Brings one open `delegate_investigation` call as far as it goes now:
    /// the first time, checks the budget's fan-out and depth, journals the
    /// intent and dispatches the child; on every later pass (and on
    /// resume) the same dispatch returns that child. A finished child's
    /// outcome becomes the call's result; a child still running is
    /// returned, for the run to wait on.
    async fn delegate(
        &self,
        agent: &Agent,
        budget: &AgentBudget,
        journal: &mut Journal,
        pending: PendingCall,
    ) -> Flow<Option<vigil_engine::InvestigationId>> {
        let call = &pending.call;
        let cap = self.tools.output_cap();
        let refuse = |text: String| ToolOutcome::error(text, cap);
        if !self.tools.offers(&agent.config().tools, DELEGATE) {
            let text = format!("unknown tool `{DELEGATE}` for this agent");
            answer(journal, &call.id, DELEGATE, refuse(text)).await?;
            return Ok(None);
        }
        let prepared = match self.tools.prepare(DELEGATE, &call.arguments) {
            Ok(prepared) => prepared,
            Err(outcome) => {
                answer(journal, &call.id, DELEGATE, outcome).await?;
                return Ok(None);
            }
        };
        let args: DelegateArgs = match serde_json::from_value(prepared.arguments.clone()) {
            Ok(args) => args,
            Err(e) => {
                let text = format!("invalid arguments for `{DELEGATE}`: {e}");
                answer(journal, &call.id, DELEGATE, refuse(text)).await?;
                return Ok(None);
            }
        };
        if pending.intent.is_none() {
            let depth = journal.depth();
            if i64::from(depth) + 1 > i64::from(budget.max_depth) {
                let text = format!(
                    "not delegated: this investigation is {depth} delegation(s) deep and the agent's budget allows {} (max_depth)",
                    budget.max_depth
                );
                answer(journal, &call.id, DELEGATE, refuse(text)).await?;
                return Ok(None);
            }
            let so_far = journal.history().calls_started(DELEGATE);
            if so_far >= budget.max_children as usize {
                let text = format!(
                    "not delegated: this investigation has delegated {so_far} time(s), the most its budget allows (max_children)"
                );
                answer(journal, &call.id, DELEGATE, refuse(text)).await?;
                return Ok(None);
            }
            journal
                .record(StepEvent::ToolIntent(ToolIntent {
                    tool_call_id: call.id.clone(),
                    tool: DELEGATE.to_owned(),
                    arguments: prepared.arguments.clone(),
                    effect: Effect::Read,
                }))
                .await?;
        }
        let request = store::DispatchRequest {
            agent_id: args.agent.clone(),
            prompt: args.prompt.clone(),
            requested_by: format!("investigation:{}", journal.id()),
            case_id: journal.case_id(),
            idempotency_key: Some(call.id.clone()),
            // The child continues the parent's trace: one tree, one trace.
            traceparent: crate::trace::outbound_traceparent(Some(journal.traceparent())),
            parent: Some(vigil_engine::ParentLink {
                id: journal.id(),
                tool_call_id: call.id.clone(),
                depth: journal.depth() + 1,
            }),
            ..store::DispatchRequest::default()
        };
        let child = match self.ports.dispatcher.dispatch(request).await {
            Ok(dispatched) => dispatched.investigation,
            Err(e) if e.is_transient() => return Err(Halt::Failed(e.into())),
            Err(e) => {
                let text = format!("not delegated: {e}");
                answer(journal, &call.id, DELEGATE, refuse(text)).await?;
                return Ok(None);
            }
        };
        if child.status.is_finished() {
            let (output, is_error) = delegate::outcome(&child);
            let mut outcome = ToolOutcome::capped(output, cap);
            outcome.is_error = is_error;
            answer(journal, &call.id, DELEGATE, outcome).await?;
            return Ok(None);
        }
        Ok(Some(child.id))
    }

    /// Runs a prepared call under its `execute_tool` span. `approval` says
    /// how the call got past its approval policy (`none`, `approved`).
    async fn execute(
        &self,
        prepared: &Prepared,
        context: &CallContext,
        approval: &'static str,
    ) -> ToolOutcome {
        let spec = prepared.spec();
        let span = tracing::info_span!(
            "call_tool",
            otel.name = %format!("execute_tool {}", spec.name),
            otel.kind = "internal",
            tool.name = %spec.name,
            tool.call.id = %context.tool_call_id,
        );
        span.set_attribute(keys::GEN_AI_OPERATION_NAME, "execute_tool");
        span.set_attribute(keys::GEN_AI_TOOL_NAME, spec.name.clone());
        span.set_attribute(keys::GEN_AI_TOOL_CALL_ID, context.tool_call_id.clone());
        let kind = if prepared.tool.is_local() {
            "function"
        } else {
            "extension"
        };
        span.set_attribute(keys::GEN_AI_TOOL_TYPE, kind);
        span.set_attribute(
            keys::VIGIL_TOOL_EFFECT,
            match spec.effect {
                Effect::Read => "read",
                Effect::Write => "write",
            },
        );
        span.set_attribute(keys::VIGIL_TOOL_APPROVAL, approval);
        if self.capture_content {
            span.set_attribute(
                keys::GEN_AI_TOOL_CALL_ARGUMENTS,
                prepared.arguments.to_string(),
            );
        }
        let outcome = self
            .tools
            .run(prepared, context)
            .instrument(span.clone())
            .await;
        if self.capture_content {
            span.set_attribute(keys::GEN_AI_TOOL_CALL_RESULT, outcome.output.clone());
        }
        if outcome.is_error {
            span.set_attribute(keys::ERROR_TYPE, "tool_error");
            span.set_status(opentelemetry::trace::Status::error("the tool call failed"));
        }
        outcome
    }

    /// Closes the zombie window before a write: a worker that froze may wake
    /// after its lease was reaped and must not send the request then. Renews
    /// the lease (fenced: a lease already lost stops the run here, with
    /// nothing sent) and goes on only if what is left outlasts the tool's
    /// timeout; otherwise releases the run before the intent is written.
    async fn hold_lease_for(&self, journal: &mut Journal, prepared: &Prepared) -> Flow {
        let lease_for =
            chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::minutes(2));
        let expires = journal.renew(lease_for).await?;
        let left = expires
            .map(|t| t - self.clock.now())
            .and_then(|d| d.to_std().ok())
            .unwrap_or_default();
        let needed = prepared.tool.timeout().unwrap_or_default();
        if left.is_zero() || left <= needed {
            let reason = format!(
                "lease too short for write tool `{}`: {} ms left, its timeout is {} ms",
                prepared.spec().name,
                left.as_millis(),
                needed.as_millis()
            );
            tracing::warn!(reason = %reason, "releasing the run before a write");
            return Err(journal
                .release(&reason, Step::LeaseShort(reason.clone()))
                .await);
        }
        Ok(())
    }

    /// Working time so far: [`History::leased`] as of now.
    fn worked(&self, history: &History) -> std::time::Duration {
        history
            .leased(self.clock.now())
            .to_std()
            .unwrap_or_default()
    }

    /// Why `call` may not start, if the wall-time budget is spent: no tool
    /// call starts after that.
    fn spent_before(
        &self,
        budget: &AgentBudget,
        journal: &Journal,
        call: &vigil_engine::event::ToolCall,
    ) -> Option<String> {
        let worked = self.worked(journal.history());
        (worked >= budget.max_wall_time).then(|| {
            format!(
                "budget exhausted: {} s of wall time (limit {} s) before tool call {} (`{}`) could start",
                worked.as_secs(),
                budget.max_wall_time.as_secs(),
                call.id,
                call.name
            )
        })
    }

    /// Why the run may not take another model turn, if it may not. Wall
    /// time is [`History::leased`]: only time a worker held the lease.
    fn exhausted(&self, budget: &AgentBudget, history: &History, tokens: i64) -> Option<String> {
        if history.turns() >= budget.max_turns as usize {
            return Some(format!(
                "budget exhausted: {} model turns without a result",
                history.turns()
            ));
        }
        if tokens >= budget.max_tokens as i64 {
            return Some(format!(
                "budget exhausted: {tokens} tokens used (limit {})",
                budget.max_tokens
            ));
        }
        let elapsed = history
            .leased(self.clock.now())
            .to_std()
            .unwrap_or_default();
        (elapsed >= budget.max_wall_time).then(|| {
            format!(
                "budget exhausted: {} s of wall time (limit {} s)",
                elapsed.as_secs(),
                budget.max_wall_time.as_secs()
            )
        })
    }

    /// The agent's tools plus `submit_result`, whose parameters are the output schema.
    fn tool_defs(&self, agent: &Agent) -> Vec<ToolDef> {
        let mut defs: Vec<ToolDef> = self
            .tools
            .offered(&agent.config().tools)
            .iter()
            .map(|tool| {
                let spec = tool.spec();
                ToolDef {
                    name: spec.name.clone(),
                    description: spec.description.clone(),
                    parameters: spec.parameters.clone(),
                }
            })
            .collect();
        defs.push(ToolDef {
            name: SUBMIT_RESULT.to_owned(),
            description:
                "Submit the final result of the investigation. Call it once, when you are done."
                    .to_owned(),
            parameters: agent.output_schema().clone(),
        });
        defs
    }
}

/// The model a request asks for (the endpoint's default when it names none).
fn request_model<'a>(request: &'a ChatRequest, model: &'a dyn ChatModel) -> &'a str {
    request
        .model
        .as_deref()
        .or_else(|| model.default_model())
        .unwrap_or("model")
}

/// Records a model call in the GenAI client metrics:
/// `gen_ai_client_operation_duration_seconds` (with `error_type` when it
/// failed) and, for an answer, `gen_ai_client_token_usage` per token type.
/// Labels are the conventions' attributes with `_` for `.`.
fn record_chat_metrics<E>(
    request: &ChatRequest,
    model: &dyn ChatModel,
    answered: &Result<Result<crate::model::ChatResponse, ModelError>, E>,
    elapsed: std::time::Duration,
) {
    let labels = [
        ("gen_ai_operation_name", "chat".to_owned()),
        ("gen_ai_provider_name", model.provider().to_owned()),
        (
            "gen_ai_request_model",
            request_model(request, model).to_owned(),
        ),
    ];
    match answered {
        Ok(Ok(response)) => {
            metrics::histogram!("gen_ai_client_operation_duration_seconds", &labels)
                .record(elapsed.as_secs_f64());
            for (kind, tokens) in [
                ("input", response.input_tokens),
                ("output", response.output_tokens),
            ] {
                let mut labels = labels.to_vec();
                labels.push(("gen_ai_response_model", response.model.clone()));
                labels.push(("gen_ai_token_type", kind.to_owned()));
                metrics::histogram!("gen_ai_client_token_usage", &labels)
                    .record(tokens.max(0) as f64);
            }
        }
        Ok(Err(e)) => {
            let mut labels = labels.to_vec();
            labels.push(("error_type", failure_label(e).to_owned()));
            metrics::histogram!("gen_ai_client_operation_duration_seconds", &labels)
                .record(elapsed.as_secs_f64());
        }
        Err(_) => {
            let mut labels = labels.to_vec();
            labels.push(("error_type", "timeout".to_owned()));
            metrics::histogram!("gen_ai_client_operation_duration_seconds", &labels)
                .record(elapsed.as_secs_f64());
        }
    }
}

/// The `error.type` of a failed model call.
fn failure_label(e: &ModelError) -> &'static str {
    match failure_cause(e) {
        ModelFailureCause::Timeout => "timeout",
        ModelFailureCause::RateLimited => "rate_limited",
        ModelFailureCause::Unavailable => "unavailable",
        ModelFailureCause::Rejected => "rejected",
        ModelFailureCause::InvalidResponse => "invalid_response",
        ModelFailureCause::WallTime => "wall_time",
    }
}

/// The `chat {model}` span of one model call.
fn chat_span(request: &ChatRequest, model: &dyn ChatModel) -> tracing::Span {
    let name = request_model(request, model);
    let span = tracing::info_span!(
        "call_model",
        otel.name = %format!("chat {name}"),
        otel.kind = "client",
        llm.model = %name,
        llm.tools = request.tools.len(),
    );
    span.set_attribute(keys::GEN_AI_OPERATION_NAME, "chat");
    span.set_attribute(keys::GEN_AI_PROVIDER_NAME, model.provider());
    span.set_attribute(keys::GEN_AI_REQUEST_MODEL, name.to_owned());
    span
}

/// Records a model call's answer on its `chat` span.
fn record_chat<E>(
    span: &tracing::Span,
    answered: &Result<Result<crate::model::ChatResponse, ModelError>, E>,
) {
    match answered {
        Ok(Ok(response)) => {
            span.set_attribute(keys::GEN_AI_RESPONSE_MODEL, response.model.clone());
            span.set_attribute(keys::GEN_AI_USAGE_INPUT_TOKENS, response.input_tokens);
            span.set_attribute(keys::GEN_AI_USAGE_OUTPUT_TOKENS, response.output_tokens);
            let reason = response.finish_reason.clone().unwrap_or_else(|| {
                if response.tool_calls.is_empty() {
                    "stop".to_owned()
                } else {
                    "tool_calls".to_owned()
                }
            });
            span.set_attribute(
                keys::GEN_AI_RESPONSE_FINISH_REASONS,
                opentelemetry::Value::Array(vec![opentelemetry::StringValue::from(reason)].into()),
            );
        }
        Ok(Err(e)) => {
            span.set_attribute(keys::ERROR_TYPE, failure_label(e));
            span.set_status(opentelemetry::trace::Status::error(e.to_string()));
        }
        Err(_) => {
            span.set_attribute(keys::ERROR_TYPE, "timeout");
            span.set_status(opentelemetry::trace::Status::error(
                "cut off by the wall-time budget",
            ));
        }
    }
}

/// First wait before a run whose model call failed is claimed again.
const RETRY_BACKOFF: chrono::Duration = chrono::Duration::seconds(10);
/// Longest such wait.
const MAX_RETRY_BACKOFF: chrono::Duration = chrono::Duration::minutes(5);

/// How long a run waits in the queue after its `failures`th model failure
/// in a row (1-based): 10 s, doubled per failure, at most 5 min.
fn retry_backoff(failures: u32) -> chrono::Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (RETRY_BACKOFF * 2_i32.pow(doublings)).min(MAX_RETRY_BACKOFF)
}

/// Checkpoints a call's result; the run goes on.
/// Gives each call an id no earlier turn used, keeping the model's own as
/// its wire id: an endpoint that sends `call_0` every turn must not make a
/// later call look finished, or collide with an earlier call's approval.
fn unique_call_ids(
    journal: &Journal,
    calls: Vec<vigil_engine::event::ToolCall>,
) -> Vec<vigil_engine::event::ToolCall> {
    let history = journal.history();
    let turn = history.turns() + 1;
    calls
        .into_iter()
        .map(|mut call| {
            if history.has_call(&call.id) {
                let mut n = 0;
                let unique = loop {
                    let candidate = match n {
                        0 => format!("{}~t{turn}", call.id),
                        n => format!("{}~t{turn}.{n}", call.id),
                    };
                    if !history.has_call(&candidate) {
                        break candidate;
                    }
                    n += 1;
                };
                call.wire_id = Some(std::mem::replace(&mut call.id, unique));
            }
            call
        })
        .collect()
}

async fn answer(journal: &mut Journal, call_id: &str, tool: &str, outcome: ToolOutcome) -> Flow {
    journal
        .record(StepEvent::ToolResult(ToolResult {
            tool_call_id: call_id.to_owned(),
            tool: tool.to_owned(),
            output: outcome.output,
            is_error: outcome.is_error,
            truncated: outcome.truncated,
            original_bytes: outcome.original_bytes,
        }))
        .await
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
fn clip_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The outcome of a run a person must grade, for `reason`.
fn for_review(reason: String, result_raw: Option<String>) -> Completion {
    Completion::Invalid {
        reason,
        result_raw,
        errors: Vec::new(),
    }
}

/// The journaled cause of a failed model call.
fn failure_cause(error: &ModelError) -> ModelFailureCause {
    match error {
        ModelError::RateLimited { .. } => ModelFailureCause::RateLimited,
        ModelError::Unavailable(_) => ModelFailureCause::Unavailable,
        ModelError::BadRequest(_) => ModelFailureCause::Rejected,
        ModelError::Timeout => ModelFailureCause::Timeout,
        ModelError::InvalidResponse(_) => ModelFailureCause::InvalidResponse,
    }
}

/// `elapsed` in whole milliseconds.
fn millis(elapsed: std::time::Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// Whether a call of `spec` with `arguments` must wait for an approver: the
/// tool's own policy, or, for a write tool, a case that requires a person's
/// approval of every action (`requires_human_approval`), whatever the
/// tool's policy says.
fn needs_approval(
    spec: &crate::tool::ToolSpec,
    arguments: &serde_json::Value,
    case_requires_approval: bool,
) -> bool {
    let write = spec.effect == vigil_engine::event::Effect::Write;
    (case_requires_approval && write) || spec.approval.needs_approval(arguments)
}

#[cfg(test)]
mod approval_rule_tests {
    use serde_json::json;

    use super::needs_approval;
    use crate::tool::{ApprovalPolicy, ToolSpec};
    use vigil_engine::event::Effect;

    fn spec(effect: Effect) -> ToolSpec {
        ToolSpec {
            name: "isolate_host".to_owned(),
            description: String::new(),
            parameters: json!({"type": "object"}),
            effect,
            approval: ApprovalPolicy {
                required: false,
                expires_in: std::time::Duration::from_secs(600),
                allow: Vec::new(),
            },
        }
    }

    #[test]
    fn a_case_requiring_approval_makes_every_write_tool_wait() {
        let args = json!({});
        assert!(!needs_approval(&spec(Effect::Write), &args, false));
        assert!(needs_approval(&spec(Effect::Write), &args, true));
        assert!(!needs_approval(&spec(Effect::Read), &args, true));
    }
}

//! The agent loop: one call drives a claimed investigation until it parks,
//! finishes, or loses its lease.
//!
//! Each pass rebuilds the conversation from the event log ([`History`]),
//! settles the newest turn's open tool calls, checks the budget, and asks
//! the model for the next turn. Every write names the lease epoch the worker
//! holds; on `LeaseLost` the loop stops at once, without another model or
//! tool call.
//!
//! Resume rules (design.md, "Durable resume, not replay"):
//! - a tool call with a result never runs again;
//! - a read tool with an intent and no result runs again;
//! - a write tool with an intent and no result does not run again: the run
//!   goes to `review_required` with `"outcome of <tool call id> unknown"`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use tracing::Instrument;
use vigil_engine::Clock;
use vigil_engine::approval::{ApprovalId, Decision};
use vigil_engine::event::{Effect, Event, ModelTurn, StepEvent, ToolIntent, ToolResult};
use vigil_engine::machine::ApprovalDraft;
use vigil_engine::model::{Investigation, InvestigationId};
use vigil_engine::result::Completion;
use vigil_engine::store::{Error, Store};

use crate::catalog::{Agent, AgentBudget, Catalog};
use crate::config::{Mode, Price};
use crate::history::{ApprovalState, History, PendingCall};
use crate::model::{ChatModel, ChatRequest, ToolDef};
use crate::registry::{Prepared, SUBMIT_RESULT, ToolOutcome, ToolRegistry};

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
    /// The model endpoint is unavailable for now; the run was released to
    /// the queue.
    RetryLater(String),
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
            Step::RetryLater(_) => "retry_later",
            Step::LeaseLost => "lease_lost",
            Step::Released => "released",
        }
    }
}

/// Runs agents.
pub struct Runner {
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    tools: Arc<ToolRegistry>,
    model: Arc<dyn ChatModel>,
    clock: Arc<dyn Clock>,
    mode: Mode,
    prices: HashMap<String, Price>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("mode", &self.mode)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// Unwraps a store result; `LeaseLost` ends the run quietly (returning
/// `Step::LeaseLost` as the caller's result type), any other error is
/// returned to the worker.
macro_rules! fenced {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(Error::LeaseLost { .. }) => {
                tracing::info!("lease lost; stopping without another write");
                return Ok(Step::LeaseLost.into());
            }
            Err(e) => return Err(e),
        }
    };
}

impl Runner {
    /// A runner.
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
        tools: Arc<ToolRegistry>,
        model: Arc<dyn ChatModel>,
        clock: Arc<dyn Clock>,
        mode: Mode,
    ) -> Self {
        Self {
            store,
            catalog,
            tools,
            model,
            clock,
            mode,
            prices: HashMap::new(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Shares a stop flag: once it is set, each run is released to the queue
    /// at its next checkpoint (before its next model call) instead of going on.
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = stop;
        self
    }

    /// Prices tokens per model (for the cost counters).
    pub fn with_prices(mut self, prices: HashMap<String, Price>) -> Self {
        self.prices = prices;
        self
    }

    /// Drives the claimed investigation `inv` (holding `inv.lease_epoch`)
    /// until it parks, finishes, is released, or loses its lease. Store
    /// errors other than `LeaseLost` are returned.
    pub async fn run(&self, inv: &Investigation) -> Result<Step, Error> {
        let (id, epoch) = (inv.id, inv.lease_epoch);
        let agent = match self.catalog.get(&inv.agent_id) {
            Ok(agent) => agent,
            Err(e) => {
                fenced!(self.store.fail(id, epoch, &e.to_string()).await);
                return Ok(Step::Failed);
            }
        };
        let budget = agent.config().budget.with_overrides(&inv.budget);
        let mut tokens = inv.usage.input_tokens + inv.usage.output_tokens;
        // Read the log once; afterwards this run's own (fenced) writes are
        // the only appends, and each returns the events it sealed.
        let mut history = History::from_events(&self.all_events(id).await?);
        loop {
            let open: Vec<PendingCall> = history
                .pending()
                .into_iter()
                .filter(PendingCall::is_open)
                .collect();
            for pending in open {
                if let Some(step) = self
                    .settle(inv, agent, &budget, &mut history, pending, &mut None)
                    .await?
                {
                    return Ok(step);
                }
            }
            if self.stop.load(Ordering::SeqCst) {
                fenced!(self.store.release(id, epoch, "worker shutting down").await);
                return Ok(Step::Released);
            }
            if let Some(reason) = self.exhausted(inv, &budget, &history, tokens) {
                let raw = history.last_turn().and_then(|t| t.content.clone());
                return self.review(id, epoch, reason, raw).await;
            }
            let request = ChatRequest {
                model: agent.config().model.clone(),
                messages: history.messages(&agent.config().system_prompt, &inv.prompt),
                tools: self.tool_defs(agent),
            };
            let started = std::time::Instant::now();
            let answered = self.model.complete(&request).await;
            metrics::histogram!(
                "vigil_model_seconds",
                "outcome" => if answered.is_ok() { "ok" } else { "error" }
            )
            .record(started.elapsed().as_secs_f64());
            let response = match answered {
                Ok(response) => response,
                Err(e) if e.is_transient() => {
                    let reason = e.to_string();
                    let why = format!("model unavailable: {reason}");
                    fenced!(self.store.release(id, epoch, &why).await);
                    return Ok(Step::RetryLater(reason));
                }
                Err(e) => {
                    fenced!(self.store.fail(id, epoch, &e.to_string()).await);
                    return Ok(Step::Failed);
                }
            };
            tokens += response.input_tokens + response.output_tokens;
            metrics::counter!("vigil_model_tokens_total", "kind" => "input")
                .increment(u64::try_from(response.input_tokens).unwrap_or(0));
            metrics::counter!("vigil_model_tokens_total", "kind" => "output")
                .increment(u64::try_from(response.output_tokens).unwrap_or(0));
            let cost_usd = self.prices.get(&response.model).map_or(0.0, |p| {
                (response.input_tokens as f64 * p.input_per_million
                    + response.output_tokens as f64 * p.output_per_million)
                    / 1_000_000.0
            });
            let turn = StepEvent::ModelTurn(ModelTurn {
                model: response.model,
                content: response.content,
                tool_calls: response.tool_calls,
                input_tokens: response.input_tokens,
                output_tokens: response.output_tokens,
                cost_usd,
            });
            // The turn is journaled together with the first write its first
            // call makes (usually that call's intent): one commit instead of
            // two. A crash before that write loses only the model's answer,
            // and the model is asked again on resume.
            let first = match &turn {
                StepEvent::ModelTurn(t) => t
                    .tool_calls
                    .first()
                    .filter(|c| c.name != SUBMIT_RESULT)
                    .cloned(),
                _ => None,
            };
            let mut deferred = Some(turn);
            if let Some(call) = first {
                let pending = PendingCall {
                    call,
                    intent: None,
                    result: None,
                    approval: None,
                };
                if let Some(step) = self
                    .settle(inv, agent, &budget, &mut history, pending, &mut deferred)
                    .await?
                {
                    return Ok(step);
                }
            }
            if let Some(step) = self.flush(inv, &mut history, &mut deferred).await? {
                return Ok(step);
            }
        }
    }

    /// Journals the deferred model turn, if it is still unwritten. Returns
    /// `Some(LeaseLost)` when the run must stop.
    async fn flush(
        &self,
        inv: &Investigation,
        history: &mut History,
        deferred: &mut Option<StepEvent>,
    ) -> Result<Option<Step>, Error> {
        let Some(turn) = deferred.take() else {
            return Ok(None);
        };
        for event in fenced!(
            self.store
                .checkpoint(inv.id, inv.lease_epoch, vec![turn])
                .await
        ) {
            history.record(&event);
        }
        Ok(None)
    }

    /// Journals `event`, after the deferred model turn if it is still
    /// unwritten, in one checkpoint. Returns `Some(LeaseLost)` when the run
    /// must stop.
    async fn journal(
        &self,
        inv: &Investigation,
        history: &mut History,
        deferred: &mut Option<StepEvent>,
        event: StepEvent,
    ) -> Result<Option<Step>, Error> {
        let mut events: Vec<StepEvent> = deferred.take().into_iter().collect();
        events.push(event);
        for event in fenced!(self.store.checkpoint(inv.id, inv.lease_epoch, events).await) {
            history.record(&event);
        }
        Ok(None)
    }

    /// Brings one open call of the newest turn to a result, recording what
    /// it writes in `history`. Returns the step when the run stops (parks,
    /// finishes, or loses its lease).
    async fn settle(
        &self,
        inv: &Investigation,
        agent: &Agent,
        budget: &AgentBudget,
        history: &mut History,
        pending: PendingCall,
        deferred: &mut Option<StepEvent>,
    ) -> Result<Option<Step>, Error> {
        let (id, epoch) = (inv.id, inv.lease_epoch);
        let call = &pending.call;
        let error = |text: String| ToolOutcome::error(text, self.tools.output_cap());
        if call.name == SUBMIT_RESULT {
            if let Some(step) = self.flush(inv, history, deferred).await? {
                return Ok(Some(step));
            }
            let outcome = agent.judge(&call.arguments);
            let step = match outcome {
                Completion::Valid { .. } => Step::Completed,
                Completion::Invalid { .. } => Step::ReviewRequired,
            };
            fenced!(self.store.complete(id, epoch, outcome).await);
            return Ok(Some(step));
        }
        if pending.outcome_unknown() {
            if let Some(step) = self.flush(inv, history, deferred).await? {
                return Ok(Some(step));
            }
            let reason = format!("outcome of {} unknown", call.id);
            return self.review(id, epoch, reason, None).await.map(Some);
        }
        if let Some(intent) = &pending.intent {
            // A read call was in flight when the previous worker stopped: run it again.
            let outcome = match self
                .tools
                .prepare(&intent.tool, &intent.arguments.to_string())
            {
                Ok(prepared) => self.execute(&prepared).await,
                Err(outcome) => outcome,
            };
            return self
                .answer(inv, history, deferred, &call.id, &intent.tool, outcome)
                .await;
        }
        if !agent.config().tools.contains(&call.name) {
            let text = format!(
                "unknown tool `{}` for this agent; available tools: {}",
                call.name,
                agent.config().tools.join(", ")
            );
            return self
                .answer(inv, history, deferred, &call.id, &call.name, error(text))
                .await;
        }
        let prepared = match self.tools.prepare(&call.name, &call.arguments) {
            Ok(prepared) => prepared,
            Err(outcome) => {
                return self
                    .answer(inv, history, deferred, &call.id, &call.name, outcome)
                    .await;
            }
        };
        let times = history.times_called(&call.name, &prepared.arguments)
            + deferred_calls(deferred, &call.name, &prepared.arguments);
        if times > budget.max_repeated_calls as usize {
            if let Some(step) = self.flush(inv, history, deferred).await? {
                return Ok(Some(step));
            }
            let reason = format!(
                "repeated tool call: `{}` with the same arguments {times} times (limit {})",
                call.name, budget.max_repeated_calls
            );
            let raw = history.last_turn().and_then(|t| t.content.clone());
            return self.review(id, epoch, reason, raw).await.map(Some);
        }
        let spec = prepared.spec().clone();
        if spec.approval.needs_approval(&prepared.arguments) {
            let refused = match &pending.approval {
                None => {
                    if let Some(step) = self.flush(inv, history, deferred).await? {
                        return Ok(Some(step));
                    }
                    let now = self.clock.now();
                    let expires_in = chrono::Duration::from_std(spec.approval.expires_in)
                        .unwrap_or_else(|_| chrono::Duration::minutes(15));
                    let draft = ApprovalDraft {
                        id: ApprovalId::new_at(now),
                        tool_call_id: call.id.clone(),
                        action: spec.name.clone(),
                        arguments: prepared.arguments.clone(),
                        rationale: history.last_turn().and_then(|t| t.content.clone()),
                        expires_at: now + expires_in,
                    };
                    fenced!(self.store.await_approval(id, epoch, draft).await);
                    return Ok(Some(Step::AwaitingApproval));
                }
                Some(ApprovalState::Requested(approval)) => {
                    return Err(Error::Conflict(format!(
                        "tool call {} waits on approval {approval}, but the run is not parked",
                        call.id
                    )));
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
                Some(ApprovalState::Decided {
                    decision: Decision::Approve,
                    ..
                }) => None,
            };
            if let Some(text) = refused {
                return self
                    .answer(inv, history, deferred, &call.id, &spec.name, error(text))
                    .await;
            }
        }
        let intent = StepEvent::ToolIntent(ToolIntent {
            tool_call_id: call.id.clone(),
            tool: spec.name.clone(),
            arguments: prepared.arguments.clone(),
            effect: spec.effect,
        });
        if let Some(step) = self.journal(inv, history, deferred, intent).await? {
            return Ok(Some(step));
        }
        let preview_only = (self.mode == Mode::DryRun && spec.effect == Effect::Write)
            || (self.mode == Mode::Dummy && !prepared.tool.is_local());
        let outcome = if preview_only {
            let preview =
                json!({"dry_run": true, "preview": prepared.tool.preview(&prepared.arguments)});
            ToolOutcome::capped(preview.to_string(), self.tools.output_cap())
        } else {
            self.execute(&prepared).await
        };
        self.answer(inv, history, deferred, &call.id, &spec.name, outcome)
            .await
    }

    /// Checkpoints a call's result and records it; the run goes on.
    async fn answer(
        &self,
        inv: &Investigation,
        history: &mut History,
        deferred: &mut Option<StepEvent>,
        call_id: &str,
        tool: &str,
        outcome: ToolOutcome,
    ) -> Result<Option<Step>, Error> {
        let result = StepEvent::ToolResult(ToolResult {
            tool_call_id: call_id.to_owned(),
            tool: tool.to_owned(),
            output: outcome.output,
            is_error: outcome.is_error,
            truncated: outcome.truncated,
            original_bytes: outcome.original_bytes,
        });
        self.journal(inv, history, deferred, result).await
    }

    async fn execute(&self, prepared: &Prepared) -> ToolOutcome {
        let span = tracing::info_span!("call_tool", tool.name = %prepared.spec().name);
        self.tools.run(prepared).instrument(span).await
    }

    async fn review(
        &self,
        id: InvestigationId,
        epoch: i64,
        reason: String,
        result_raw: Option<String>,
    ) -> Result<Step, Error> {
        let outcome = Completion::Invalid {
            reason,
            result_raw,
            errors: Vec::new(),
        };
        fenced!(self.store.complete(id, epoch, outcome).await);
        Ok(Step::ReviewRequired)
    }

    /// Why the run may not take another model turn, if it may not. Wall
    /// time counts from the first claim, less the time parked on approvals.
    fn exhausted(
        &self,
        inv: &Investigation,
        budget: &AgentBudget,
        history: &History,
        tokens: i64,
    ) -> Option<String> {
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
        let started = inv.started_at?;
        let working = self.clock.now() - started - history.parked();
        let elapsed = working.to_std().unwrap_or_default();
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
        let mut defs: Vec<ToolDef> = agent
            .config()
            .tools
            .iter()
            .filter_map(|name| self.tools.get(name))
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

    async fn all_events(&self, id: InvestigationId) -> Result<Vec<Event>, Error> {
        let mut events: Vec<Event> = Vec::new();
        loop {
            let after = events.last().map_or(0, |e| e.seq);
            let page = self.store.events(id, after, 1000).await?;
            let done = page.len() < 1000;
            events.extend(page);
            if done {
                return Ok(events);
            }
        }
    }
}

/// How often the deferred turn (not yet in the history) calls `name` with
/// `arguments`.
fn deferred_calls(
    deferred: &Option<StepEvent>,
    name: &str,
    arguments: &serde_json::Value,
) -> usize {
    match deferred {
        Some(StepEvent::ModelTurn(turn)) => turn
            .tool_calls
            .iter()
            .filter(|c| c.name == name)
            .filter(|c| {
                serde_json::from_str::<serde_json::Value>(&c.arguments)
                    .is_ok_and(|v| v == *arguments)
            })
            .count(),
        _ => 0,
    }
}

//! Rebuilding an investigation's conversation from its event log.
//!
//! Durable resume, not replay: the conversation is the dispatched prompt,
//! every model turn (with its tool calls) and every tool result, in log
//! order. Whatever a crashed worker left half-done is read back from the log:
//! a tool call with a result is done; one with an intent but no result is a
//! call in flight, which a read tool may repeat and a write tool may not.

use std::collections::HashMap;

use serde_json::Value;
use vigil_engine::approval::{ApprovalId, Decision};
use vigil_engine::event::{Effect, Event, EventBody, ModelTurn, ToolCall, ToolIntent, ToolResult};

use crate::model::Message;
use crate::trace::ApprovalWait;

/// The note appended after a model turn that neither called a tool nor
/// submitted a result, so the next turn is asked to finish.
pub const SUBMIT_NUDGE: &str =
    "Continue the investigation with the tools, or call submit_result with your final answer.";

/// What an approver (or the clock) said about a parked call.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalState {
    /// Requested; nobody has decided yet.
    Requested(ApprovalId),
    /// Decided.
    Decided {
        /// Approve or reject.
        decision: Decision,
        /// Who.
        by: String,
        /// Their comment.
        comment: Option<String>,
    },
    /// Nobody decided in time.
    Expired,
    /// The investigation was cancelled while the call waited on its
    /// approval or before it ran with one. A decision made before the
    /// cancel does not survive it: after a rescue the call is answered as
    /// cancelled and never runs; running it needs a new call and a new
    /// approval.
    Cancelled {
        /// The operator who cancelled.
        by: String,
        /// Their reason.
        reason: String,
    },
}

/// A tool call of the newest model turn and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCall {
    /// The call as the model made it.
    pub call: ToolCall,
    /// Its journaled intent, if it got that far.
    pub intent: Option<ToolIntent>,
    /// Its result, if it finished.
    pub result: Option<ToolResult>,
    /// Its approval, if one was requested.
    pub approval: Option<ApprovalState>,
}

impl PendingCall {
    /// Whether the call still has work to do.
    pub fn is_open(&self) -> bool {
        self.result.is_none()
    }

    /// Whether it is a write call that was started but never finished: its
    /// outcome is unknown and it must not run again.
    pub fn outcome_unknown(&self) -> bool {
        self.result.is_none()
            && self
                .intent
                .as_ref()
                .is_some_and(|i| i.effect == Effect::Write)
    }
}

/// The conversation and bookkeeping rebuilt from an event log.
#[derive(Debug, Clone, Default)]
pub struct History {
    turns: Vec<ModelTurn>,
    intents: HashMap<String, ToolIntent>,
    results: HashMap<String, ToolResult>,
    approvals: HashMap<String, ApprovalState>,
    /// The runtime mode each approval was asked in, by call id.
    approval_modes: HashMap<String, String>,
    parked: chrono::Duration,
    parked_since: Option<chrono::DateTime<chrono::Utc>>,
    leased: chrono::Duration,
    leased_since: Option<chrono::DateTime<chrono::Utc>>,
    model_failures: u32,
    /// The approval request waiting, and since when.
    waiting: Option<(ApprovalId, chrono::DateTime<chrono::Utc>)>,
    /// The last approval wait that ended, until the next claim takes it.
    ended_wait: Option<ApprovalWait>,
    /// The approval wait that ended just before the last claim.
    resumed_after: Option<ApprovalWait>,
}

impl History {
    /// How many calls of `tool` were started (have an intent) over the run.
    pub fn calls_started(&self, tool: &str) -> usize {
        self.intents.values().filter(|i| i.tool == tool).count()
    }

    /// Rebuilds from events in seq order. Events that do not decode are skipped.
    pub fn from_events(events: &[Event]) -> Self {
        let mut h = History::default();
        for event in events {
            h.record(event);
        }
        h
    }

    /// Takes in the next event of the log (in seq order).
    pub fn record(&mut self, event: &Event) {
        let Ok(body) = event.body() else { return };
        match body {
            EventBody::ModelTurn(turn) => {
                self.model_failures = 0;
                self.turns.push(turn);
            }
            EventBody::ToolIntent(intent) => {
                self.intents.insert(intent.tool_call_id.clone(), intent);
            }
            EventBody::ToolResult(result) => {
                self.results.insert(result.tool_call_id.clone(), result);
            }
            EventBody::ApprovalRequested {
                approval_id,
                tool_call_id,
                mode,
                ..
            } => {
                self.unlease(event.created_at);
                self.parked_since = Some(event.created_at);
                self.waiting = Some((approval_id, event.created_at));
                if let Some(mode) = mode {
                    self.approval_modes.insert(tool_call_id.clone(), mode);
                }
                self.approvals
                    .insert(tool_call_id, ApprovalState::Requested(approval_id));
            }
            EventBody::ApprovalDecided {
                tool_call_id,
                decision,
                decided_by,
                comment,
                ..
            } => {
                self.unpark(event.created_at);
                let outcome = match decision {
                    Decision::Approve => "approved",
                    Decision::Reject => "rejected",
                };
                self.end_wait(outcome, event.created_at);
                self.approvals.insert(
                    tool_call_id,
                    ApprovalState::Decided {
                        decision,
                        by: decided_by,
                        comment,
                    },
                );
            }
            EventBody::ApprovalExpired { tool_call_id, .. } => {
                self.unpark(event.created_at);
                self.end_wait("expired", event.created_at);
                self.approvals.insert(tool_call_id, ApprovalState::Expired);
            }
            EventBody::Cancelled { by, reason } => {
                self.unpark(event.created_at);
                self.end_wait("cancelled", event.created_at);
                self.unlease(event.created_at);
                for (call, state) in self.approvals.iter_mut() {
                    if !self.results.contains_key(call) {
                        *state = ApprovalState::Cancelled {
                            by: by.clone(),
                            reason: reason.clone(),
                        };
                    }
                }
            }
            EventBody::Claimed { .. } => {
                self.resumed_after = self.ended_wait.take();
                self.unlease(event.created_at);
                self.leased_since = Some(event.created_at);
            }
            EventBody::DeadLettered {
                lease_expired_at, ..
            } => {
                // Nobody held the lease between its expiry and the reaper's tick.
                let end = lease_expired_at.map_or(event.created_at, |at| at.min(event.created_at));
                self.unlease(end);
            }
            EventBody::Released { .. } | EventBody::AwaitingChildren { .. } => {
                self.unlease(event.created_at)
            }
            EventBody::ChildrenFinished { .. } => {}
            EventBody::ModelCallFailed(_) => self.model_failures += 1,
            EventBody::Completed { .. }
            | EventBody::ReviewRequired { .. }
            | EventBody::Failed { .. } => self.unlease(event.created_at),
            EventBody::Dispatched { .. }
            | EventBody::Rescued { .. }
            | EventBody::Reviewed { .. }
            | EventBody::OperatorNote { .. } => {}
        }
    }

    fn unlease(&mut self, at: chrono::DateTime<chrono::Utc>) {
        if let Some(since) = self.leased_since.take() {
            self.leased += (at - since).max(chrono::Duration::zero());
        }
    }

    fn end_wait(&mut self, outcome: &'static str, at: chrono::DateTime<chrono::Utc>) {
        if let Some((id, since)) = self.waiting.take() {
            self.ended_wait = Some(ApprovalWait {
                approval_id: id.to_string(),
                outcome,
                wait_ms: (at - since).num_milliseconds().max(0),
            });
        }
    }

    /// The approval wait that ended between the last claim and the one
    /// before it: the wait the segment now running resumes after. `None`
    /// when that segment follows no approval.
    pub fn resumed_after(&self) -> Option<&ApprovalWait> {
        self.resumed_after.as_ref()
    }

    fn unpark(&mut self, at: chrono::DateTime<chrono::Utc>) {
        if let Some(since) = self.parked_since.take() {
            self.parked += at - since;
        }
    }

    /// Time spent waiting for approvers (from each `approval_requested` to
    /// its decision or expiry).
    pub fn parked(&self) -> chrono::Duration {
        self.parked
    }

    /// Working time as of `now`, the measure of the wall-time budget: the
    /// sum of the segments in which a worker held the lease. A segment runs
    /// from a `claimed` event to the next `released`, `approval_requested`,
    /// `dead_lettered` (at the lease's expiry, if that came first) or
    /// terminal event (`completed`, `review_required`, `failed`,
    /// `cancelled`); a segment still open counts up to `now`. Time queued,
    /// parked on an approval, dead-lettered or failed never counts.
    pub fn leased(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::Duration {
        let open = self.leased_since.map_or(chrono::Duration::zero(), |since| {
            (now - since).max(chrono::Duration::zero())
        });
        self.leased + open
    }

    /// Model calls that failed in a row since the last model turn (the
    /// `model_call_failed` events after it).
    pub fn model_failures(&self) -> u32 {
        self.model_failures
    }

    /// Model turns taken.
    pub fn turns(&self) -> usize {
        self.turns.len()
    }

    /// The newest model turn.
    pub fn last_turn(&self) -> Option<&ModelTurn> {
        self.turns.last()
    }

    /// The runtime mode the approval of call `id` was asked in, if recorded.
    pub fn approval_mode(&self, id: &str) -> Option<&str> {
        self.approval_modes.get(id).map(String::as_str)
    }

    /// Whether an earlier turn already made a call with id `id`.
    pub fn has_call(&self, id: &str) -> bool {
        self.turns
            .iter()
            .any(|t| t.tool_calls.iter().any(|c| c.id == id))
    }

    /// The newest turn's calls and how far each got.
    pub fn pending(&self) -> Vec<PendingCall> {
        let Some(turn) = self.turns.last() else {
            return Vec::new();
        };
        turn.tool_calls
            .iter()
            .map(|call| PendingCall {
                call: call.clone(),
                intent: self.intents.get(&call.id).cloned(),
                result: self.results.get(&call.id).cloned(),
                approval: self.approvals.get(&call.id).cloned(),
            })
            .collect()
    }

    /// How many times, over the whole run, the model called `name` with
    /// arguments equal (as JSON) to `arguments`.
    pub fn times_called(&self, name: &str, arguments: &Value) -> usize {
        self.turns
            .iter()
            .flat_map(|t| &t.tool_calls)
            .filter(|c| c.name == name)
            .filter(|c| serde_json::from_str::<Value>(&c.arguments).is_ok_and(|v| v == *arguments))
            .count()
    }

    /// The conversation to send: system prompt, prompt, then every turn with
    /// the results of its calls. A turn without calls is followed by
    /// [`SUBMIT_NUDGE`]; a truncated result says so.
    pub fn messages(&self, system_prompt: &str, prompt: &str) -> Vec<Message> {
        let mut messages = vec![
            Message::System(system_prompt.to_owned()),
            Message::User(prompt.to_owned()),
        ];
        for turn in &self.turns {
            messages.push(Message::Assistant {
                content: turn.content.clone(),
                tool_calls: turn.tool_calls.clone(),
            });
            if turn.tool_calls.is_empty() {
                messages.push(Message::User(SUBMIT_NUDGE.to_owned()));
            }
            for call in &turn.tool_calls {
                if let Some(result) = self.results.get(&call.id) {
                    let mut content = result.output.clone();
                    if let Some(total) = result.original_bytes.filter(|_| result.truncated) {
                        content.push_str(&format!(
                            "\n[output truncated: {} of {total} bytes shown]",
                            result.output.len()
                        ));
                    }
                    messages.push(Message::Tool {
                        tool_call_id: call.wire_id().to_owned(),
                        content,
                    });
                }
            }
        }
        messages
    }
}

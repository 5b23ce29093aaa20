//! `delegate_investigation`: the built-in tool with which an agent hands
//! part of its work to another agent, as a child investigation.
//!
//! ```toml
//! [[agents]]
//! id = "orchestrator"
//! system_prompt = "Split the alert into questions, delegate each, then conclude."
//! tools = ["delegate_investigation"]
//! budget = { max_children = 4, max_depth = 1 }
//! ```
//!
//! A call dispatches one child (the agent and prompt it names) linked to
//! the parent, to the parent's case, and to the parent's trace. Once every
//! call of the model's turn has been settled, a parent with children still
//! running parks in `awaiting_children` without a lease; the last child to
//! finish (completed, review_required or failed) queues it again, and each
//! child's outcome becomes its call's result ([`outcome`]). The call is
//! journalled like a read (intent first): a parent resumed after a crash
//! calls it again, and the child's idempotency key (the call's id, under
//! the requester `investigation:<parent>`) returns the child it already
//! dispatched instead of a second one. How many children a run may
//! dispatch and how deep delegation may go are the agent's budget
//! (`max_children`, `max_depth`).

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_engine::model::{Investigation, Status};

use crate::tool::{ApprovalPolicy, CallContext, Effect, Tool, ToolError, ToolSpec};

/// The tool's name.
pub const DELEGATE: &str = "delegate_investigation";

/// The arguments of a call.
#[derive(Debug, Clone, Deserialize)]
pub struct DelegateArgs {
    /// The agent that runs the child.
    pub agent: String,
    /// What the child is asked.
    pub prompt: String,
}

/// The tool as the model sees it, offering `agents` (the declared ones).
pub fn tool(agents: &[String]) -> Arc<dyn Tool> {
    Arc::new(Delegate {
        spec: ToolSpec {
            name: DELEGATE.to_owned(),
            description: "Hand a self-contained question to another agent as a child \
                investigation. Its result comes back as this call's result once it has \
                finished; calls made in one turn run in parallel."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "agent": {"type": "string", "enum": agents, "description": "The agent to delegate to."},
                    "prompt": {"type": "string", "minLength": 1, "description": "What the child investigation should find out."}
                },
                "required": ["agent", "prompt"],
                "additionalProperties": false
            }),
            effect: Effect::Read,
            approval: ApprovalPolicy::default(),
        },
    })
}

/// The tool's declaration. Its calls are made by the runner, which alone
/// can dispatch and wait; [`Tool::call`] is never reached through it.
#[derive(Debug)]
struct Delegate {
    spec: ToolSpec,
}

#[async_trait]
impl Tool for Delegate {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn is_local(&self) -> bool {
        true
    }

    async fn call(&self, _: &CallContext, _: &Value) -> Result<String, ToolError> {
        Err(ToolError::Failed(
            "delegate_investigation is run by the agent loop".to_owned(),
        ))
    }
}

/// A finished child as its parent's model sees it: its id, agent and
/// status, and its result (completed) or the reason it did not give one
/// (review_required, failed). `is_error` for a failed child.
pub fn outcome(child: &Investigation) -> (String, bool) {
    let mut shown = json!({
        "investigation_id": child.id,
        "agent": child.agent_id,
        "status": child.status,
    });
    match child.status {
        Status::Completed => {
            shown["result"] = child.result.clone().unwrap_or(Value::Null);
            if let Some(confidence) = child.confidence {
                shown["confidence"] = json!(confidence);
            }
        }
        _ => {
            if let Some(reason) = &child.error {
                shown["reason"] = json!(reason);
            }
            if let Some(raw) = &child.result_raw {
                shown["result_raw"] = json!(raw);
            }
        }
    }
    (shown.to_string(), child.status == Status::Failed)
}

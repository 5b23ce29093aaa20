//! The tool contract: what a tool declares and how it is called.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use vigil_engine::case::CaseId;
pub use vigil_engine::event::Effect;
use vigil_engine::model::InvestigationId;

/// Whether a call needs a person's approval before it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// Calls need approval (unless an [`AllowRule`] matches).
    #[serde(default)]
    pub required: bool,
    /// How long an approver has before the request expires.
    #[serde(default = "default_expires_in", with = "crate::config::duration")]
    pub expires_in: Duration,
    /// Argument values that need no approval, e.g. a lab host that may always
    /// be isolated.
    #[serde(default)]
    pub allow: Vec<AllowRule>,
}

fn default_expires_in() -> Duration {
    Duration::from_secs(15 * 60)
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            required: false,
            expires_in: default_expires_in(),
            allow: Vec::new(),
        }
    }
}

/// Calls whose `argument` equals one of `values` need no approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// The top-level argument to look at.
    pub argument: String,
    /// Values that are allowed without approval.
    pub values: Vec<Value>,
}

impl ApprovalPolicy {
    /// Whether a call with (validated) `arguments` must wait for an approver.
    pub fn needs_approval(&self, arguments: &Value) -> bool {
        self.required
            && !self.allow.iter().any(|rule| {
                arguments
                    .get(&rule.argument)
                    .is_some_and(|v| rule.values.contains(v))
            })
    }
}

/// What a tool declares about itself: this is what the model is shown, what
/// arguments are checked against, and what resume and approval rules use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Unique name the model calls it by (`[A-Za-z0-9_-]{1,64}`).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON schema of its arguments (an object schema).
    pub parameters: Value,
    /// `read` tools may be run again on resume; `write` tools never blindly.
    pub effect: Effect,
    /// When a call needs approval.
    pub approval: ApprovalPolicy,
}

/// Why a tool call failed. The registry turns it into a result the model
/// sees; it never ends the run by itself.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// The tool did not answer in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The endpoint answered with an error status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The endpoint could not be reached.
    #[error("request failed: {0}")]
    Transport(String),
    /// Anything else the tool reports.
    #[error("{0}")]
    Failed(String),
}

/// Which call of which run a tool call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The investigation making the call.
    pub investigation: InvestigationId,
    /// The model's id for the call, unique within the investigation.
    pub tool_call_id: String,
    /// The case the investigation is linked to (`Investigation::case_id`),
    /// if any: the case tools write to it when the call names none.
    pub case: Option<CaseId>,
}

impl CallContext {
    /// `<investigation>:<tool call id>`: the same for every attempt at one
    /// call (a read run again on resume, a request sent twice by a worker
    /// that lost its lease), different for every other call, so a receiver
    /// can deduplicate. HTTP tools send it as `Idempotency-Key`.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.investigation, self.tool_call_id)
    }
}

/// A tool. Implementations must not log secrets (credentials in headers).
#[async_trait]
pub trait Tool: Send + Sync + std::fmt::Debug {
    /// What the tool declares.
    fn spec(&self) -> &ToolSpec;

    /// Runs the tool with arguments already validated against
    /// [`ToolSpec::parameters`], as the call `call`. Returns the full
    /// output; the registry caps it. A tool that reaches another system
    /// should pass on [`CallContext::idempotency_key`].
    async fn call(&self, call: &CallContext, arguments: &Value) -> Result<String, ToolError>;

    /// The longest a call may take, when the tool bounds it (HTTP tools: their
    /// `timeout`). Before a write tool runs, the worker makes sure its lease
    /// outlasts this; `None` only asks that the lease be held.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// Whether the tool runs inside the process (fixture tools). Tools that
    /// reach out (HTTP) return their [`Tool::preview`] in `dummy` mode.
    fn is_local(&self) -> bool {
        false
    }

    /// What the call `call` would do, without doing it (`dry_run` mode,
    /// and `dummy` mode for tools that are not local). It may read, never
    /// write.
    async fn preview(&self, call: &CallContext, arguments: &Value) -> String {
        let _ = call;
        format!("would call `{}` with {arguments}", self.spec().name)
    }
}

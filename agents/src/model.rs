//! The `ChatModel` port: one chat-completions turn, provider-neutral.

use async_trait::async_trait;
use serde_json::Value;

pub use vigil_engine::event::ToolCall;

/// A message in the conversation sent to the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The agent's instructions.
    System(String),
    /// The investigation's prompt (or another user-side note).
    User(String),
    /// An earlier model turn.
    Assistant {
        /// Its text, if any.
        content: Option<String>,
        /// The tool calls it made.
        tool_calls: Vec<ToolCall>,
    },
    /// A tool call's result.
    Tool {
        /// The call it answers.
        tool_call_id: String,
        /// The result text.
        content: String,
    },
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    /// The name it calls.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON schema of its arguments.
    pub parameters: Value,
}

/// One turn's request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model to use; the adapter's default when `None`.
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The tools offered (none means the model can only answer in text).
    pub tools: Vec<ToolDef>,
}

/// One turn's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The model that answered, as the endpoint names it.
    pub model: String,
    /// The assistant's text, if any.
    pub content: Option<String>,
    /// The tool calls, each with a unique id (generated where the endpoint
    /// gave none or a duplicate). Arguments are kept exactly as sent.
    pub tool_calls: Vec<ToolCall>,
    /// Prompt tokens, as reported (0 if not reported).
    pub input_tokens: i64,
    /// Completion tokens, as reported (0 if not reported).
    pub output_tokens: i64,
    /// Why the model stopped (`stop`, `tool_calls`, `length`, ...), as
    /// reported.
    pub finish_reason: Option<String>,
}

/// Why a model call failed after its retries. Never contains credentials.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The endpoint kept answering 429.
    #[error("model endpoint rate-limited the request: {message}")]
    RateLimited {
        /// Status and the endpoint's message.
        message: String,
        /// How long the endpoint asked to wait (`Retry-After`), if it did.
        retry_after: Option<std::time::Duration>,
    },
    /// The endpoint was unreachable or kept failing (5xx, connection errors).
    #[error("model endpoint unavailable: {0}")]
    Unavailable(String),
    /// The endpoint refused the request (4xx other than 429): retrying the
    /// same request will not help.
    #[error("model endpoint rejected the request: {0}")]
    BadRequest(String),
    /// No answer within the per-call timeout.
    #[error("model call timed out")]
    Timeout,
    /// The answer is not a chat completion.
    #[error("model endpoint answered with something that is not a chat completion: {0}")]
    InvalidResponse(String),
}

impl ModelError {
    /// Whether the run should be retried later rather than failed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ModelError::RateLimited { .. } | ModelError::Unavailable(_) | ModelError::Timeout
        )
    }

    /// How long the endpoint asked the caller to wait, if it said.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ModelError::RateLimited { retry_after, .. } => *retry_after,
            ModelError::Unavailable(_)
            | ModelError::BadRequest(_)
            | ModelError::Timeout
            | ModelError::InvalidResponse(_) => None,
        }
    }
}

/// A chat-completions model.
#[async_trait]
pub trait ChatModel: Send + Sync + std::fmt::Debug {
    /// Runs one turn.
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError>;

    /// Who serves the model, as `gen_ai.provider.name` names it.
    fn provider(&self) -> &'static str {
        "openai"
    }

    /// The model a request that names none goes to, if known.
    fn default_model(&self) -> Option<&str> {
        None
    }
}

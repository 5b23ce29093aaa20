//! The `ChatModel` adapter for any OpenAI-compatible chat-completions
//! endpoint (OpenAI, vLLM, Ollama, llama.cpp's server, LiteLLM), through
//! async-openai.
//!
//! Wire rules that keep self-hosted servers happy:
//! - `tool_choice: "auto"` is sent explicitly whenever tools are offered
//!   (by default; see [`Compat`] for servers that want it less often or
//!   drop `role: "tool"` messages);
//! - an assistant message with tool calls carries `content: ""` rather than
//!   `null`;
//! - tool call ids that are missing or repeated in a response are replaced
//!   with generated ones.
//!
//! Retries happen in a tower service installed under async-openai's client,
//! where every raw response is visible. 429, 5xx and connection errors are
//! retried with exponential backoff and jitter, honouring `Retry-After`,
//! within a budget of attempts and total wait. Each attempt is traced; the
//! last failure becomes a typed [`ModelError`]. The API key never appears in
//! logs, events or errors.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::{ApiError, ApiErrorResponse, OpenAIError};
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use async_trait::async_trait;
use reqwest::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::Service;

use crate::config::Secret;
use crate::model::{ChatModel, ChatRequest, ChatResponse, Message, ModelError, ToolCall};

/// Retry limits for model calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubled each retry, with jitter.
    #[serde(with = "crate::config::duration")]
    pub initial_backoff: Duration,
    /// Longest single wait (also caps `Retry-After`).
    #[serde(with = "crate::config::duration")]
    pub max_backoff: Duration,
    /// Most total waiting across retries of one call.
    #[serde(with = "crate::config::duration")]
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_total_wait: Duration::from_secs(60),
        }
    }
}

/// How to reach a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Base URL, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: String,
    /// API key (may be empty for servers that need none).
    #[serde(default)]
    pub api_key: Secret,
    /// Default model name.
    pub model: String,
    /// Per-attempt timeout.
    #[serde(default = "default_timeout", with = "crate::config::duration")]
    pub timeout: Duration,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Most output tokens per turn.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Retry limits.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Wire adjustments for servers that implement the API partly
    /// (`[model.compat]`); the default is the OpenAI wire.
    #[serde(default)]
    pub compat: Compat,
}

/// Wire adjustments for OpenAI-compatible servers that implement tool
/// calling partly, such as some builds and chat templates of llama.cpp's
/// server, which drop `role: "tool"` messages or loop when `tool_choice` is
/// sent on every turn. The default of each field is the OpenAI wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compat {
    /// How tool results are sent back to the model.
    pub tool_results: ToolResults,
    /// When `tool_choice: "auto"` is sent.
    pub tool_choice: ToolChoice,
}

/// How tool results go back to the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolResults {
    /// `{"role": "tool", "tool_call_id": ..., "content": ...}` (OpenAI).
    #[default]
    ToolMessage,
    /// A user message, `Result of tool call <id> (<tool>):` and the
    /// output, for servers that drop tool messages.
    UserMessage,
}

/// When `tool_choice: "auto"` is sent (tools are offered every turn).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// On every request that offers tools.
    #[default]
    Auto,
    /// Only before the model's first turn (no assistant message yet).
    FirstTurnOnly,
    /// Never: the server's own default applies.
    Omit,
}

fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

/// An OpenAI-compatible endpoint as a [`ChatModel`].
#[derive(Clone)]
pub struct OpenAiModel {
    client: Client<OpenAIConfig>,
    config: OpenAiConfig,
}

impl std::fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiModel")
            .field("base_url", &self.config.base_url)
            .field("model", &self.config.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiModel {
    /// A model client for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| ModelError::BadRequest(format!("cannot build HTTP client: {e}")))?;
        let openai = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.expose());
        let service = Retrying {
            inner: ReqwestService::new(http.clone()),
            policy: config.retry.clone(),
        };
        let client = Client::with_config(openai)
            .with_http_client(http)
            .with_http_service(service);
        Ok(Self { client, config })
    }

    /// The request body for `request`.
    fn body(&self, request: &ChatRequest) -> Value {
        let compat = &self.config.compat;
        let names: std::collections::HashMap<&str, &str> = request
            .messages
            .iter()
            .filter_map(|m| match m {
                Message::Assistant { tool_calls, .. } => Some(tool_calls),
                _ => None,
            })
            .flatten()
            .map(|c| (c.id.as_str(), c.name.as_str()))
            .collect();
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| match (m, compat.tool_results) {
                (
                    Message::Tool {
                        tool_call_id,
                        content,
                    },
                    ToolResults::UserMessage,
                ) => {
                    let tool = names.get(tool_call_id.as_str()).copied().unwrap_or("tool");
                    json!({
                        "role": "user",
                        "content": format!("Result of tool call {tool_call_id} ({tool}):\n{content}"),
                    })
                }
                _ => message_json(m),
            })
            .collect();
        let first_turn = !request
            .messages
            .iter()
            .any(|m| matches!(m, Message::Assistant { .. }));
        let mut body = json!({
            "model": request.model.as_deref().unwrap_or(&self.config.model),
            "messages": messages,
            "stream": false,
        });
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": t.name,
                            "description": t.description,
                            "parameters": t.parameters,
                        }
                    })
                })
                .collect();
            body["tools"] = Value::Array(tools);
            let choose = match compat.tool_choice {
                ToolChoice::Auto => true,
                ToolChoice::FirstTurnOnly => first_turn,
                ToolChoice::Omit => false,
            };
            if choose {
                body["tool_choice"] = json!("auto");
            }
        }
        if let Some(t) = self.config.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = self.config.max_output_tokens {
            body["max_tokens"] = json!(n);
        }
        body
    }
}

fn message_json(message: &Message) -> Value {
    match message {
        Message::System(text) => json!({"role": "system", "content": text}),
        Message::User(text) => json!({"role": "user", "content": text}),
        Message::Assistant {
            content,
            tool_calls,
        } => {
            let mut m = json!({
                "role": "assistant",
                // Some servers reject a null content next to tool calls.
                "content": content.clone().unwrap_or_default(),
            });
            if !tool_calls.is_empty() {
                m["tool_calls"] = tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.wire_id(),
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        })
                    })
                    .collect();
            }
            m
        }
        Message::Tool {
            tool_call_id,
            content,
        } => json!({"role": "tool", "tool_call_id": tool_call_id, "content": content}),
    }
}

/// A process-unique id for a tool call the endpoint left unnamed.
fn generated_call_id(turn_salt: u128, index: usize) -> String {
    format!("call_vigil_{:x}_{index}", turn_salt & 0xffff_ffff_ffff)
}

/// Parses a chat completion, repairing missing or repeated tool call ids.
fn parse_response(value: &Value, fallback_model: &str) -> Result<ChatResponse, ModelError> {
    let invalid = |what: &str| ModelError::InvalidResponse(what.to_owned());
    let message = value
        .pointer("/choices/0/message")
        .ok_or_else(|| invalid("no choices[0].message"))?;
    let content = message
        .get("content")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let salt = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seen = HashSet::new();
    let mut tool_calls = Vec::new();
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for (index, call) in calls.iter().enumerate() {
            let function = call
                .get("function")
                .ok_or_else(|| invalid("tool call without function"))?;
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool call without a name"))?;
            let arguments = match function.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                // Some servers send an object instead of a JSON string.
                Some(other) => other.to_string(),
            };
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty() && !seen.contains(*id))
                .map_or_else(|| generated_call_id(salt, index), str::to_owned);
            seen.insert(id.clone());
            tool_calls.push(ToolCall {
                id,
                name: name.to_owned(),
                arguments,
                wire_id: None,
            });
        }
    }
    let tokens = |key: &str| {
        value
            .pointer(&format!("/usage/{key}"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    Ok(ChatResponse {
        model: value
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(fallback_model)
            .to_owned(),
        content,
        tool_calls,
        input_tokens: tokens("prompt_tokens"),
        output_tokens: tokens("completion_tokens"),
        finish_reason: value
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn map_error(e: OpenAIError) -> ModelError {
    match e {
        OpenAIError::ApiError(ApiErrorResponse {
            status_code,
            api_error,
        }) => {
            let message = format!("{status_code}: {}", api_error.message);
            match status_code.as_u16() {
                429 => ModelError::RateLimited {
                    message,
                    retry_after: api_error
                        .code
                        .as_deref()
                        .and_then(|c| c.strip_prefix(RETRY_AFTER_CODE))
                        .and_then(|secs| secs.parse().ok())
                        .map(Duration::from_secs),
                },
                408 | 504 => ModelError::Timeout,
                500..=599 => ModelError::Unavailable(message),
                _ => ModelError::BadRequest(message),
            }
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => ModelError::Timeout,
        OpenAIError::Reqwest(e) => ModelError::Unavailable(e.without_url().to_string()),
        OpenAIError::JSONDeserialize(e, _) => ModelError::InvalidResponse(e.to_string()),
        OpenAIError::InvalidArgument(m) => ModelError::BadRequest(m),
        other => ModelError::Unavailable(other.to_string()),
    }
}

#[async_trait]
impl ChatModel for OpenAiModel {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let body = self.body(request);
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        let value: Value = self
            .client
            .chat()
            .create_byot(body)
            .await
            .map_err(map_error)?;
        let response = parse_response(&value, &model)?;
        tracing::info!(
            llm.model = %response.model,
            llm.tokens.input = response.input_tokens,
            llm.tokens.output = response.output_tokens,
            llm.tool_calls = response.tool_calls.len(),
            "model turn"
        );
        Ok(response)
    }

    fn default_model(&self) -> Option<&str> {
        Some(&self.config.model)
    }
}

/// The tower service under async-openai's client that retries.
#[derive(Clone)]
struct Retrying {
    inner: ReqwestService,
    policy: RetryPolicy,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A `Retry-After` value in seconds (HTTP dates are not honoured).
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Exponential backoff with jitter: between half and all of the doubled delay.
fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let base = policy
        .initial_backoff
        .saturating_mul(2u32.saturating_pow(retry))
        .min(policy.max_backoff);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    base.mul_f64(fraction)
}

/// The `code` prefix under which [`into_api_error`] hands a response's
/// `Retry-After` (seconds) on to [`map_error`]: async-openai's error type has
/// no place for headers.
const RETRY_AFTER_CODE: &str = "vigil-retry-after:";

/// Turns a final error response into an `ApiError` that keeps its status
/// (and its `Retry-After`, in `code`), whatever the body looks like.
async fn into_api_error(response: Response) -> OpenAIError {
    let status = response.status();
    let code = retry_after(&response).map(|d| format!("{RETRY_AFTER_CODE}{}", d.as_secs()));
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| text.chars().take(500).collect());
    OpenAIError::ApiError(ApiErrorResponse {
        status_code: status,
        api_error: ApiError {
            message,
            r#type: None,
            param: None,
            code,
            misalignment: None,
        },
    })
}

impl Service<HttpRequestFactory> for Retrying {
    type Response = Response;
    type Error = OpenAIError;
    type Future = BoxFuture<Result<Response, OpenAIError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let inner = self.inner.clone();
        let policy = self.policy.clone();
        Box::pin(async move {
            let mut waited = Duration::ZERO;
            let mut retry = 0u32;
            loop {
                let attempt = retry + 1;
                let result = inner.clone().call(request.clone()).await;
                let status = match &result {
                    Ok(r) => Some(r.status().as_u16()),
                    Err(_) => None,
                };
                let (retryable, hint, outcome) = match &result {
                    Ok(r) if r.status().is_success() => return result,
                    Ok(r) => {
                        let status = r.status().as_u16();
                        (
                            status == 429 || r.status().is_server_error(),
                            retry_after(r),
                            format!("HTTP {status}"),
                        )
                    }
                    Err(OpenAIError::Reqwest(e)) => (
                        e.is_connect() || e.is_timeout() || e.is_request(),
                        None,
                        e.without_url_ref(),
                    ),
                    Err(e) => (false, None, e.to_string()),
                };
                let delay =
                    hint.map_or_else(|| backoff(&policy, retry), |d| d.min(policy.max_backoff));
                if !retryable
                    || retry >= policy.max_retries
                    || waited + delay > policy.max_total_wait
                {
                    tracing::warn!(attempt, outcome = %outcome, "model call failed; giving up");
                    return match result {
                        Ok(response) => Err(into_api_error(response).await),
                        Err(e) => Err(e),
                    };
                }
                // Under the `chat` span this is a span event: an SRE sees
                // each retry with its status and wait.
                tracing::warn!(
                    attempt,
                    outcome = %outcome,
                    http.response.status_code = status,
                    retry.delay_ms = delay.as_millis() as u64,
                    "model call failed; retrying"
                );
                tokio::time::sleep(delay).await;
                waited += delay;
                retry += 1;
            }
        })
    }
}

/// `reqwest::Error` text without the URL (which may carry a key in a query).
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = self.to_string();
        match self.url() {
            Some(url) => text.replace(url.as_str(), "<endpoint>"),
            None => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_repeated_tool_call_ids_are_replaced() {
        let value = json!({
            "model": "m",
            "choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "x", "arguments": "{}"}},
                {"id": "a", "type": "function", "function": {"name": "y", "arguments": "{}"}},
                {"type": "function", "function": {"name": "z", "arguments": {"k": 1}}}
            ]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3}
        });
        let r = parse_response(&value, "fallback").unwrap();
        let ids: HashSet<&str> = r.tool_calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 3, "{:?}", r.tool_calls);
        assert_eq!(r.tool_calls[0].id, "a");
        assert_eq!(r.tool_calls[2].arguments, r#"{"k":1}"#);
        assert_eq!((r.input_tokens, r.output_tokens), (10, 3));
        assert_eq!(r.content, None);
    }

    #[test]
    fn assistant_tool_call_messages_carry_an_empty_content_string() {
        let m = message_json(&Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "x".into(),
                arguments: "{}".into(),
                wire_id: None,
            }],
        });
        assert_eq!(m["content"], json!(""));
        assert_eq!(m["tool_calls"][0]["function"]["arguments"], json!("{}"));
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let policy = RetryPolicy::default();
        assert!(backoff(&policy, 0) <= Duration::from_millis(500));
        assert!(backoff(&policy, 0) >= Duration::from_millis(250));
        assert!(backoff(&policy, 10) <= policy.max_backoff);
    }
}

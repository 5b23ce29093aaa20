//! Tools declared in configuration that call an HTTP endpoint.
//!
//! ```toml
//! [[tools]]
//! kind = "http"
//! name = "ip_reputation"
//! description = "Reputation of an IPv4 address"
//! method = "GET"
//! url = "https://intel.example/api/v1/ip/{ip}"
//! headers = { Authorization = "Bearer ${INTEL_TOKEN}" }
//! parameters = { type = "object", properties = { ip = { type = "string" } }, required = ["ip"] }
//! effect = "read"
//! timeout = "10s"
//! ```
//!
//! `{name}` in the URL is replaced by that argument, percent-encoded. Other
//! arguments go in the query string (GET, DELETE) or a JSON body (POST, PUT,
//! PATCH). `${VAR}` in a header value is read from the environment when the
//! tool is built; a missing variable is a configuration error naming it. Header
//! values are marked sensitive and never logged.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::tool::{ApprovalPolicy, CallContext, Effect, Tool, ToolError, ToolSpec};

/// Bytes read from a response at most; the rest is counted, not kept.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of an error response shown to the model.
const ERROR_BODY_BYTES: usize = 512;

/// Characters left as they are in a substituted URL value.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A `[[tools]]` entry of kind `http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToolConfig {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// HTTP method (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// URL template with `{argument}` placeholders.
    pub url: String,
    /// Request headers; values may contain `${ENV_VAR}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON schema of the arguments (default: an object with no constraints).
    #[serde(default = "default_parameters")]
    pub parameters: Value,
    /// `read` (default) or `write`.
    #[serde(default = "default_effect")]
    pub effect: Effect,
    /// Per-call timeout (default 10 s).
    #[serde(default = "default_timeout", with = "crate::config::duration")]
    pub timeout: Duration,
    /// When calls need approval.
    #[serde(default)]
    pub approval: ApprovalPolicy,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_parameters() -> Value {
    serde_json::json!({"type": "object"})
}

fn default_effect() -> Effect {
    Effect::Read
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Why an HTTP tool declaration cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HttpToolError {
    /// Not an HTTP method.
    #[error("tool `{tool}`: `{method}` is not an HTTP method")]
    Method {
        /// The tool.
        tool: String,
        /// The method given.
        method: String,
    },
    /// The URL template names an argument the schema does not declare, or
    /// is malformed.
    #[error("tool `{tool}`: {message}")]
    Url {
        /// The tool.
        tool: String,
        /// What is wrong.
        message: String,
    },
    /// A header refers to an environment variable that is not set.
    #[error("tool `{tool}`: header `{header}` refers to ${{{var}}}, which is not set")]
    MissingEnv {
        /// The tool.
        tool: String,
        /// The header.
        header: String,
        /// The variable.
        var: String,
    },
    /// A header name or value is not valid HTTP.
    #[error("tool `{tool}`: header `{header}` is not valid")]
    Header {
        /// The tool.
        tool: String,
        /// The header.
        header: String,
    },
}

/// An HTTP endpoint as a tool.
pub struct HttpTool {
    spec: ToolSpec,
    method: Method,
    url: String,
    placeholders: Vec<String>,
    headers: HeaderMap,
    timeout: Duration,
    client: Client,
}

impl std::fmt::Debug for HttpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may carry credentials: show only their names.
        f.debug_struct("HttpTool")
            .field("name", &self.spec.name)
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The `{name}` placeholders of a URL template, in order.
fn placeholders(tool: &str, template: &str) -> Result<Vec<String>, HttpToolError> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| HttpToolError::Url {
            tool: tool.to_owned(),
            message: format!("unclosed `{{` in URL template `{template}`"),
        })?;
        names.push(after[..close].to_owned());
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// Replaces each `${VAR}` in `value` using `env`.
fn expand_env(
    tool: &str,
    header: &str,
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, HttpToolError> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| HttpToolError::Header {
            tool: tool.to_owned(),
            header: header.to_owned(),
        })?;
        let var = &after[..end];
        let resolved = env(var).ok_or_else(|| HttpToolError::MissingEnv {
            tool: tool.to_owned(),
            header: header.to_owned(),
            var: var.to_owned(),
        })?;
        out.push_str(&resolved);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn as_url_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl HttpTool {
    /// Builds the tool, resolving `${VAR}` header references with `env`
    /// (normally `|v| std::env::var(v).ok()`).
    pub fn new(
        config: HttpToolConfig,
        client: Client,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, HttpToolError> {
        let name = config.name.clone();
        let method =
            Method::from_bytes(config.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                HttpToolError::Method {
                    tool: name.clone(),
                    method: config.method.clone(),
                }
            })?;
        let placeholders = placeholders(&name, &config.url)?;
        let declared = config
            .parameters
            .get("properties")
            .and_then(Value::as_object);
        for p in &placeholders {
            if !declared.is_some_and(|props| props.contains_key(p)) {
                return Err(HttpToolError::Url {
                    tool: name,
                    message: format!("URL placeholder `{{{p}}}` is not a declared parameter"),
                });
            }
        }
        let mut headers = HeaderMap::new();
        for (header, value) in &config.headers {
            let bad = || HttpToolError::Header {
                tool: name.clone(),
                header: header.clone(),
            };
            let header_name = HeaderName::from_bytes(header.as_bytes()).map_err(|_| bad())?;
            let resolved = expand_env(&name, header, value, env)?;
            let mut header_value = HeaderValue::from_str(&resolved).map_err(|_| bad())?;
            header_value.set_sensitive(true);
            headers.insert(header_name, header_value);
        }
        Ok(Self {
            spec: ToolSpec {
                name: config.name,
                description: config.description,
                parameters: config.parameters,
                effect: config.effect,
                approval: config.approval,
            },
            method,
            url: config.url,
            placeholders,
            headers,
            timeout: config.timeout,
            client,
        })
    }

    /// The URL for `arguments` and the arguments it did not consume.
    fn request_parts(&self, arguments: &Value) -> (String, Map<String, Value>) {
        let mut rest = arguments.as_object().cloned().unwrap_or_default();
        let mut url = self.url.clone();
        for p in &self.placeholders {
            let value = rest.remove(p).map(|v| as_url_text(&v)).unwrap_or_default();
            let encoded = utf8_percent_encode(&value, URL_VALUE).to_string();
            url = url.replacen(&format!("{{{p}}}"), &encoded, 1);
        }
        (url, rest)
    }
}

#[async_trait]
impl Tool for HttpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn preview(&self, _: &CallContext, arguments: &Value) -> String {
        let (url, rest) = self.request_parts(arguments);
        if rest.is_empty() {
            format!("would send {} {url}", self.method)
        } else {
            format!(
                "would send {} {url} with {}",
                self.method,
                Value::Object(rest)
            )
        }
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    async fn call(&self, call: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let (url, rest) = self.request_parts(arguments);
        let mut request = self
            .client
            .request(self.method.clone(), &url)
            .headers(self.headers.clone())
            .header("Idempotency-Key", call.idempotency_key())
            .timeout(self.timeout);
        // The `execute_tool` span's context, so the receiver's own spans
        // join the investigation's trace.
        if let Some(traceparent) = crate::trace::outbound_traceparent(None) {
            request = request.header("traceparent", traceparent);
        }
        if !rest.is_empty() {
            request = if matches!(self.method, Method::GET | Method::DELETE | Method::HEAD) {
                let pairs: Vec<(String, String)> = rest
                    .iter()
                    .map(|(k, v)| (k.clone(), as_url_text(v)))
                    .collect();
                request.query(&pairs)
            } else {
                request.json(&rest)
            };
        }
        let timeout = self.timeout;
        let map = |e: reqwest::Error| {
            if e.is_timeout() {
                ToolError::Timeout(timeout)
            } else {
                ToolError::Transport(e.without_url().to_string())
            }
        };
        let mut response = request.send().await.map_err(map)?;
        let status = response.status();
        let mut body = Vec::new();
        let mut total = 0usize;
        while let Some(chunk) = response.chunk().await.map_err(map)? {
            total += chunk.len();
            let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        let mut text = String::from_utf8_lossy(&body).into_owned();
        if total > body.len() {
            text.push_str(&format!(
                "\n[response cut at {} of {total} bytes]",
                body.len()
            ));
        }
        if !status.is_success() {
            let mut end = text.len().min(ERROR_BODY_BYTES);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            return Err(ToolError::Status {
                status: status.as_u16(),
                body: text[..end].to_owned(),
            });
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_references_expand_and_missing_ones_are_named() {
        let env = |v: &str| (v == "TOKEN").then(|| "s3cret".to_owned());
        assert_eq!(
            expand_env("t", "Authorization", "Bearer ${TOKEN}", &env),
            Ok("Bearer s3cret".to_owned())
        );
        assert_eq!(
            expand_env("t", "X-Key", "${NOPE}", &env),
            Err(HttpToolError::MissingEnv {
                tool: "t".into(),
                header: "X-Key".into(),
                var: "NOPE".into()
            })
        );
    }

    #[test]
    fn placeholders_are_found_in_order() {
        assert_eq!(
            placeholders("t", "http://x/{a}/y/{b}?z=1").unwrap(),
            ["a", "b"]
        );
        assert!(placeholders("t", "http://x/{a").is_err());
    }
}

//! MCP servers as tools (`[[mcp_servers]]` in `vigil.toml`).
//!
//! ```toml
//! [[mcp_servers]]
//! name = "edr"
//! command = "edr-mcp"                     # stdio: a child process
//! args = ["--tenant", "soc"]
//! env = { EDR_TOKEN = "${EDR_TOKEN}" }
//! timeout = "30s"
//! # Vigil's policy, never the server's: without an entry, a tool the
//! # server marks `readOnlyHint: true` is a read, anything else a write
//! # that needs approval.
//! tools.isolate_host = { effect = "write", approval = { required = true, expires_in = "10m" } }
//! tools.list_hosts = { effect = "read" }
//!
//! [[mcp_servers]]
//! name = "intel"
//! url = "https://intel.example/mcp"       # streamable HTTP
//! headers = { Authorization = "Bearer ${INTEL_TOKEN}" }
//! ```
//!
//! An agent names the tools it may call as `edr.isolate_host` or `intel.*`;
//! the model calls them `edr__isolate_host`. Each server has one
//! supervisor task: it connects, lists the tools (`tools/list`, every
//! page), lists them again on `notifications/tools/list_changed`, and when
//! the connection ends (the child exited, the endpoint went away) marks the
//! server down and connects again with a backoff that doubles from half a
//! second to 30 s. While a server is down its tools stay offered and a call
//! is an error result the model sees; a tool that leaves the list is an
//! unknown tool from then on. Nothing here can stop a worker.
//!
//! Calls carry the call's idempotency key in `_meta` (`vigil/idempotency_key`)
//! and the current trace context (`_meta.traceparent`). They go through the
//! registry like every tool: validated against the server's input schema,
//! journalled (intent before, result after), capped, bounded by `timeout`,
//! and previewed instead of sent in `dry_run` (writes) and `dummy` mode.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ContentBlock,
    Implementation, RequestMetaObject, ServerNotification, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, Peer, RoleClient};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::registry::{Registered, SOURCE_SEPARATOR, SourcedTool, ToolSource, is_model_name};
use crate::tool::{ApprovalPolicy, CallContext, Effect, Tool, ToolError, ToolSpec};

/// The `_meta` key that carries [`CallContext::idempotency_key`].
pub const IDEMPOTENCY_META_KEY: &str = "vigil/idempotency_key";

/// First wait before connecting again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that lasted this long starts the backoff over.
const HEALTHY_FOR: Duration = Duration::from_secs(60);

/// An `[[mcp_servers]]` entry: exactly one of `command` (stdio) and `url`
/// (streamable HTTP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// The prefix of its tools' names (`edr` -> `edr__isolate_host`): 1 to
    /// 32 characters from A-Z, a-z, 0-9 and `-`.
    pub name: String,
    /// The program to run as a child speaking MCP on stdin and stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables set for it; values may contain `${VAR}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The streamable HTTP endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Request headers for `url`; values may contain `${VAR}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The longest a tool call may take (default 30 s).
    #[serde(default = "default_timeout", with = "crate::config::duration")]
    pub timeout: Duration,
    /// The longest a connection (start, initialize, first list) may take
    /// (default 10 s).
    #[serde(default = "default_connect_timeout", with = "crate::config::duration")]
    pub connect_timeout: Duration,
    /// Vigil's policy per tool, by the server's tool name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, McpToolPolicy>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

/// What Vigil decides about one of a server's tools. Unset fields take the
/// defaults: `effect` from the server's `readOnlyHint` (true: read; false
/// or missing: write); `approval` required for a write, not for a read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpToolPolicy {
    /// `read` or `write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// When a call needs approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
}

/// Why an `[[mcp_servers]]` entry cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum McpConfigError {
    /// Neither or both of `command` and `url`.
    #[error("MCP server `{0}`: set exactly one of `command` (stdio) and `url` (streamable HTTP)")]
    Transport(String),
    /// `${VAR}` names a variable that is not set.
    #[error("MCP server `{server}`: `{key}` refers to ${{{var}}}, which is not set")]
    MissingEnv {
        /// The server.
        server: String,
        /// The header or environment entry.
        key: String,
        /// The variable.
        var: String,
    },
    /// A header, URL or value that cannot be used.
    #[error("MCP server `{server}`: {message}")]
    Invalid {
        /// The server.
        server: String,
        /// What is wrong.
        message: String,
    },
}

/// Replaces each `${VAR}` in `value` using `env`; the error is the name of
/// a variable that is not set, or `None` for an unclosed `${`.
pub(crate) fn expand_env(
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Option<String>> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(None)?;
        let var = &after[..end];
        out.push_str(&env(var).ok_or_else(|| Some(var.to_owned()))?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How to reach a server, with `${VAR}` resolved. Values may be secrets:
/// `Debug` shows names only.
#[derive(Clone)]
enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    Http {
        url: String,
        headers: reqwest::header::HeaderMap,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Stdio { command, env, .. } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("env", &env.keys().collect::<Vec<_>>())
                .finish(),
            Transport::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", url)
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// What the supervisor shares with the tools it offers.
#[derive(Debug)]
struct Shared {
    name: String,
    timeout: Duration,
    policies: BTreeMap<String, McpToolPolicy>,
    peer: RwLock<Option<Peer<RoleClient>>>,
    /// Why the server is not connected, while it is not.
    down: RwLock<Option<String>>,
    tools: RwLock<Arc<BTreeMap<String, SourcedTool>>>,
    changed: Notify,
    connected: Notify,
}

/// One `[[mcp_servers]]` entry: a [`ToolSource`] whose tools are the
/// server's, kept current by [`McpServer::run`].
#[derive(Debug, Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    transport: Transport,
    connect_timeout: Duration,
}

impl McpServer {
    /// Checks the entry and resolves its `${VAR}` references with `env`.
    /// Connects nothing: [`McpServer::run`] does.
    pub fn new(
        config: McpServerConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, McpConfigError> {
        let name = config.name.clone();
        let expand = |key: &str, value: &str| {
            expand_env(value, env).map_err(|var| match var {
                Some(var) => McpConfigError::MissingEnv {
                    server: name.clone(),
                    key: key.to_owned(),
                    var,
                },
                None => McpConfigError::Invalid {
                    server: name.clone(),
                    message: format!("`{key}` has an unclosed `${{`"),
                },
            })
        };
        let transport = match (&config.command, &config.url) {
            (Some(command), None) => {
                if !config.headers.is_empty() {
                    return Err(McpConfigError::Invalid {
                        server: name,
                        message: "`headers` apply to `url` servers only".to_owned(),
                    });
                }
                let mut resolved = BTreeMap::new();
                for (key, value) in &config.env {
                    resolved.insert(key.clone(), expand(key, value)?);
                }
                Transport::Stdio {
                    command: command.clone(),
                    args: config.args.clone(),
                    env: resolved,
                }
            }
            (None, Some(url)) => {
                if !config.args.is_empty() || !config.env.is_empty() {
                    return Err(McpConfigError::Invalid {
                        server: name,
                        message: "`args` and `env` apply to `command` servers only".to_owned(),
                    });
                }
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(McpConfigError::Invalid {
                        server: name,
                        message: "`url` must start with http:// or https://".to_owned(),
                    });
                }
                let mut headers = reqwest::header::HeaderMap::new();
                for (key, value) in &config.headers {
                    let invalid = || McpConfigError::Invalid {
                        server: name.clone(),
                        message: format!("header `{key}` is not valid HTTP"),
                    };
                    let header = reqwest::header::HeaderName::try_from(key.as_str())
                        .map_err(|_| invalid())?;
                    let mut value = reqwest::header::HeaderValue::try_from(expand(key, value)?)
                        .map_err(|_| invalid())?;
                    value.set_sensitive(true);
                    headers.insert(header, value);
                }
                Transport::Http {
                    url: url.clone(),
                    headers,
                }
            }
            _ => return Err(McpConfigError::Transport(name)),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                name: config.name,
                timeout: config.timeout,
                policies: config.tools,
                peer: RwLock::new(None),
                down: RwLock::new(Some("not connected yet".to_owned())),
                tools: RwLock::new(Arc::new(BTreeMap::new())),
                changed: Notify::new(),
                connected: Notify::new(),
            }),
            transport,
            connect_timeout: config.connect_timeout,
        })
    }

    /// The entry's name, the prefix of its tools.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The longest the first connection may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The longest one call may take.
    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    /// Whether the server is connected now.
    pub fn is_up(&self) -> bool {
        self.shared.down.read().expect("lock").is_none()
    }

    /// Waits until the server is connected and its tools listed, or
    /// `within` has passed; whether it is up.
    pub async fn wait_up(&self, within: Duration) -> bool {
        let connected = self.shared.connected.notified();
        if self.is_up() {
            return true;
        }
        let _ = tokio::time::timeout(within, connected).await;
        self.is_up()
    }

    /// Keeps the server connected until `stop`: connects, lists its tools,
    /// lists them again when it says they changed, and after the
    /// connection ends connects again with backoff. Logs and counts every
    /// failure (`vigil_mcp_server_errors_total`); never returns an error.
    pub async fn run(self, stop: CancellationToken) {
        let server = self.shared.name.clone();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let attempt = tokio::select! {
                () = stop.cancelled() => return,
                attempt = tokio::time::timeout(self.connect_timeout, self.connect()) => attempt,
            };
            let service = match attempt {
                Ok(Ok(service)) => service,
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e,
                        _ => format!("no answer within {:?}", self.connect_timeout),
                    };
                    tracing::warn!(mcp.server = %server, error = %why, retry_in = ?backoff, "cannot connect to the MCP server");
                    metrics::counter!("vigil_mcp_server_errors_total", "server" => server.clone(), "kind" => "connect").increment(1);
                    self.mark_down(format!("cannot connect: {why}"));
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let started = std::time::Instant::now();
            let peer = service.peer().clone();
            let cancel = service.cancellation_token();
            let mut ended = tokio::spawn(service.waiting());
            *self.shared.peer.write().expect("lock") = Some(peer.clone());
            *self.shared.down.write().expect("lock") = None;
            metrics::gauge!("vigil_mcp_server_up", "server" => server.clone()).set(1.0);
            tracing::info!(mcp.server = %server, tools = self.shared.tools.read().expect("lock").len(), "MCP server connected");
            self.shared.connected.notify_waiters();
            let listening =
                tokio::spawn(listen_for_changes(peer.clone(), Arc::clone(&self.shared)));
            let reason = loop {
                tokio::select! {
                    () = stop.cancelled() => {
                        listening.abort();
                        cancel.cancel();
                        let _ = ended.await;
                        self.mark_down("stopped".to_owned());
                        return;
                    }
                    () = self.shared.changed.notified() => {
                        if let Err(e) = self.list(&peer).await {
                            tracing::warn!(mcp.server = %server, error = %e, "cannot list the MCP server's tools again; keeping the previous list");
                        }
                    }
                    quit = &mut ended => break match quit {
                        Ok(reason) => format!("{reason:?}"),
                        Err(e) => e.to_string(),
                    },
                }
            };
            listening.abort();
            tracing::warn!(mcp.server = %server, reason = %reason, retry_in = ?backoff, "the MCP server connection ended");
            metrics::counter!("vigil_mcp_server_errors_total", "server" => server.clone(), "kind" => "disconnected").increment(1);
            self.mark_down(format!("the connection ended ({reason})"));
            if started.elapsed() >= HEALTHY_FOR {
                backoff = FIRST_BACKOFF;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            metrics::counter!("vigil_mcp_server_restarts_total", "server" => server.clone())
                .increment(1);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn mark_down(&self, why: String) {
        *self.shared.peer.write().expect("lock") = None;
        *self.shared.down.write().expect("lock") = Some(why);
        metrics::gauge!("vigil_mcp_server_up", "server" => self.shared.name.clone()).set(0.0);
    }

    /// Starts the transport, initializes and lists the tools.
    async fn connect(&self) -> Result<rmcp::service::RunningService<RoleClient, Listener>, String> {
        let listener = Listener {
            shared: Arc::clone(&self.shared),
        };
        let service = match &self.transport {
            Transport::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).envs(env).kill_on_drop(true);
                let (child, _) = TokioChildProcess::builder(cmd)
                    .stderr(std::process::Stdio::inherit())
                    .spawn()
                    .map_err(|e| format!("cannot start `{command}`: {e}"))?;
                listener.serve(child).await.map_err(|e| e.to_string())?
            }
            Transport::Http { url, headers } => {
                let client = reqwest::Client::builder()
                    .default_headers(headers.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
                let transport = StreamableHttpClientTransport::with_client(
                    client,
                    StreamableHttpClientTransportConfig::with_uri(url.as_str()),
                );
                listener.serve(transport).await.map_err(|e| e.to_string())?
            }
        };
        self.list(service.peer()).await?;
        Ok(service)
    }

    /// Lists every tool and replaces the offered set, applying Vigil's
    /// policy to each.
    async fn list(&self, peer: &Peer<RoleClient>) -> Result<(), String> {
        let listed = peer.list_all_tools().await.map_err(|e| e.to_string())?;
        let mut tools = BTreeMap::new();
        for tool in listed {
            match self.offer(&tool) {
                Ok(sourced) => {
                    tools.insert(sourced.registered.tool().spec().name.clone(), sourced);
                }
                Err(why) => {
                    tracing::warn!(mcp.server = %self.shared.name, tool.name = %tool.name, reason = %why, "not offering the MCP tool");
                }
            }
        }
        tracing::info!(mcp.server = %self.shared.name, tools = tools.len(), "listed the MCP server's tools");
        *self.shared.tools.write().expect("lock") = Arc::new(tools);
        Ok(())
    }

    /// One listed tool as Vigil offers it, or why it cannot be.
    fn offer(&self, tool: &rmcp::model::Tool) -> Result<SourcedTool, String> {
        let remote = tool.name.to_string();
        let name = model_name(&self.shared.name, &remote);
        if !is_model_name(&name) {
            return Err(format!(
                "`{name}` is longer than the 64 characters models accept"
            ));
        }
        let policy = self.shared.policies.get(&remote);
        let read_only = tool
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false);
        let effect = policy.and_then(|p| p.effect).unwrap_or(if read_only {
            Effect::Read
        } else {
            Effect::Write
        });
        let approval = policy
            .and_then(|p| p.approval.clone())
            .unwrap_or_else(|| ApprovalPolicy {
                required: effect == Effect::Write,
                ..ApprovalPolicy::default()
            });
        let mut parameters = Value::Object((*tool.input_schema).clone());
        if parameters.get("type").is_none() {
            parameters["type"] = Value::from("object");
        }
        let spec = ToolSpec {
            name,
            description: tool.description.as_deref().map_or_else(
                || format!("`{remote}` of MCP server `{}`", self.shared.name),
                str::to_owned,
            ),
            parameters,
            effect,
            approval,
        };
        let registered = Registered::new(Arc::new(McpTool {
            spec,
            remote: remote.clone(),
            shared: Arc::clone(&self.shared),
        }))
        .map_err(|e| e.to_string())?;
        Ok(SourcedTool { remote, registered })
    }
}

impl ToolSource for McpServer {
    fn snapshot(&self) -> Arc<BTreeMap<String, SourcedTool>> {
        Arc::clone(&self.shared.tools.read().expect("lock"))
    }
}

/// Servers on the 2026-07-28 protocol send `notifications/tools/list_changed`
/// only on a `subscriptions/listen` stream the client opened; earlier ones
/// send it on the connection, to [`Listener`]. Opens the stream when the
/// server has it and passes each change on.
async fn listen_for_changes(peer: Peer<RoleClient>, shared: Arc<Shared>) {
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let mut subscription = match peer.listen(filter).await {
        Ok(subscription) => subscription,
        Err(e) => {
            tracing::debug!(mcp.server = %shared.name, error = %e, "no subscriptions/listen: tool changes come as plain notifications");
            return;
        }
    };
    while let Ok(Some(notification)) = subscription.next().await {
        if matches!(
            notification,
            ServerNotification::ToolListChangedNotification(_)
        ) {
            tracing::info!(mcp.server = %shared.name, "the MCP server's tools changed");
            shared.changed.notify_one();
        }
    }
}

/// `<server>__<tool>`, with characters models do not accept replaced by `_`.
fn model_name(server: &str, remote: &str) -> String {
    let safe: String = remote
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{server}{SOURCE_SEPARATOR}{safe}")
}

/// The client side of a connection: asks for the tools again when the
/// server says they changed.
struct Listener {
    shared: Arc<Shared>,
}

impl ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::info!(mcp.server = %self.shared.name, "the MCP server's tools changed");
        self.shared.changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("vigil", env!("CARGO_PKG_VERSION")),
        )
    }
}

/// One tool of an MCP server.
struct McpTool {
    spec: ToolSpec,
    remote: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpTool")
            .field("name", &self.spec.name)
            .field("server", &self.shared.name)
            .finish()
    }
}

impl McpTool {
    fn failed(&self, kind: &'static str) {
        metrics::counter!("vigil_mcp_server_errors_total", "server" => self.shared.name.clone(), "kind" => kind).increment(1);
    }
}

#[async_trait]
impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.shared.timeout)
    }

    async fn call(&self, call: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        let peer = self.shared.peer.read().expect("lock").clone();
        let Some(peer) = peer else {
            self.failed("unavailable");
            let why = self
                .shared
                .down
                .read()
                .expect("lock")
                .clone()
                .unwrap_or_default();
            return Err(ToolError::Transport(format!(
                "MCP server `{}` is not connected: {why}",
                self.shared.name
            )));
        };
        let mut meta = RequestMetaObject::new();
        meta.0.0.insert(
            IDEMPOTENCY_META_KEY.to_owned(),
            Value::from(call.idempotency_key()),
        );
        if let Some(traceparent) = crate::trace::outbound_traceparent(None) {
            meta.0.set_traceparent(traceparent);
        }
        let mut params = CallToolRequestParams::new(Cow::Owned(self.remote.clone()));
        if let Value::Object(arguments) = arguments {
            params = params.with_arguments(arguments.clone());
        }
        params.meta = Some(meta);
        match tokio::time::timeout(self.shared.timeout, peer.call_tool(params)).await {
            Err(_) => {
                self.failed("timeout");
                Err(ToolError::Timeout(self.shared.timeout))
            }
            Ok(Err(e)) => {
                self.failed("call");
                Err(ToolError::Transport(format!(
                    "MCP server `{}`: {e}",
                    self.shared.name
                )))
            }
            Ok(Ok(result)) => {
                let is_error = result.is_error == Some(true);
                let output = render(result);
                if is_error {
                    Err(ToolError::Failed(output))
                } else {
                    Ok(output)
                }
            }
        }
    }
}

/// A call's result as text for the model: its structured content as JSON
/// when there is some, else its content blocks, text as it is and other
/// kinds described.
fn render(result: CallToolResult) -> String {
    if let Some(structured) = result.structured_content {
        return structured.to_string();
    }
    let parts: Vec<String> = result
        .content
        .into_iter()
        .map(|block| match block {
            ContentBlock::Text(text) => text.text,
            ContentBlock::Image(image) => {
                format!(
                    "[image {}, {} bytes of base64 not shown]",
                    image.mime_type,
                    image.data.len()
                )
            }
            ContentBlock::Audio(audio) => {
                format!(
                    "[audio {}, {} bytes of base64 not shown]",
                    audio.mime_type,
                    audio.data.len()
                )
            }
            other => serde_json::to_string(&other).unwrap_or_default(),
        })
        .collect();
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> McpServerConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn an_entry_needs_exactly_one_transport() {
        let env = |_: &str| None;
        let neither = McpServer::new(config("name = \"edr\""), &env).unwrap_err();
        assert_eq!(neither, McpConfigError::Transport("edr".to_owned()));
        let both = config("name = \"edr\"\ncommand = \"x\"\nurl = \"http://h/mcp\"");
        assert!(matches!(
            McpServer::new(both, &env),
            Err(McpConfigError::Transport(_))
        ));
    }

    #[test]
    fn env_references_resolve_and_missing_ones_are_named() {
        let env = |var: &str| (var == "TOKEN").then(|| "s3cret".to_owned());
        let ok = config(
            "name = \"intel\"\nurl = \"https://intel/mcp\"\nheaders = { Authorization = \"Bearer ${TOKEN}\" }",
        );
        let server = McpServer::new(ok, &env).unwrap();
        assert!(!format!("{server:?}").contains("s3cret"), "{server:?}");
        let missing = config("name = \"edr\"\ncommand = \"edr\"\nenv = { KEY = \"${NOPE}\" }");
        assert_eq!(
            McpServer::new(missing, &env).unwrap_err(),
            McpConfigError::MissingEnv {
                server: "edr".to_owned(),
                key: "KEY".to_owned(),
                var: "NOPE".to_owned()
            }
        );
    }

    #[test]
    fn model_names_are_prefixed_and_made_safe() {
        assert_eq!(model_name("edr", "isolate_host"), "edr__isolate_host");
        assert_eq!(model_name("intel", "ip.lookup/v2"), "intel__ip_lookup_v2");
    }
}

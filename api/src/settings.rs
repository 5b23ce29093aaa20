//! The configuration as `GET /system/settings` reports it: the model, the
//! agents, the tools and the webhook receivers by name, host and policy.
//!
//! Secrets never get this far. The types are built only through their
//! constructors, which keep the host of every URL they are given (never its
//! user, password, path, query or fragment) and take no API key, header or
//! signing secret at all, so nothing a caller can read carries one.

use serde::Serialize;
use utoipa::ToSchema;

/// The configuration `GET /system/settings` describes (the mode and store
/// come from [`crate::SystemInfo`], the grouping rules from the state).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub(crate) model: Option<ModelSettings>,
    pub(crate) agents: Vec<AgentSettings>,
    pub(crate) tools: Vec<ToolSettings>,
    pub(crate) webhooks: Vec<WebhookSettings>,
}

impl Settings {
    /// Settings of `model` (none: the scripted dummy model), `agents`,
    /// `tools` and `webhooks`, each list sorted by name.
    pub fn new(
        model: Option<ModelSettings>,
        mut agents: Vec<AgentSettings>,
        mut tools: Vec<ToolSettings>,
        mut webhooks: Vec<WebhookSettings>,
    ) -> Self {
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        webhooks.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            model,
            agents,
            tools,
            webhooks,
        }
    }
}

/// The OpenAI-compatible model endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelSettings {
    /// The default model name agents use.
    name: String,
    /// The endpoint's host (and port), from its base URL; null when the URL
    /// names none.
    host: Option<String>,
}

impl ModelSettings {
    /// The model `name` at `base_url`, of which only the host is kept.
    pub fn new(name: &str, base_url: &str) -> Self {
        Self {
            name: name.to_owned(),
            host: host_of(base_url),
        }
    }
}

/// An agent: its model and the tools it may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AgentSettings {
    /// The id dispatches name.
    id: String,
    /// The model it calls; null for the configured default (or, in
    /// `dummy` mode, the scripted model).
    model: Option<String>,
    /// The names of its tools, in configured order.
    tools: Vec<String>,
}

impl AgentSettings {
    /// Agent `id` calling `model` (none: the default) with `tools`.
    pub fn new(id: &str, model: Option<&str>, tools: Vec<String>) -> Self {
        Self {
            id: id.to_owned(),
            model: model.map(str::to_owned),
            tools,
        }
    }
}

/// A tool agents may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ToolSettings {
    /// The name the model calls it by.
    name: String,
    /// `http` (an endpoint), `case` (a built-in case writer), `mcp` (a tool
    /// of an MCP server), `fixture` (one of `dummy` mode's in-process tools)
    /// or `builtin`.
    kind: String,
    /// `read` or `write`.
    effect: String,
    /// Whether its calls wait for a person's approval (unless an allow
    /// rule matches the arguments).
    approval_required: bool,
    /// The longest a call may take, in milliseconds; null when the tool
    /// sets no bound.
    timeout_ms: Option<u64>,
    /// The host (and port) an `http` tool calls; null for the others.
    /// Never its path, query or headers.
    host: Option<String>,
}

impl ToolSettings {
    /// Tool `name` of `kind` with `effect`; of `url` (an HTTP tool's URL
    /// template) only the host is kept.
    pub fn new(
        name: &str,
        kind: &str,
        effect: &str,
        approval_required: bool,
        timeout: Option<std::time::Duration>,
        url: Option<&str>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            kind: kind.to_owned(),
            effect: effect.to_owned(),
            approval_required,
            timeout_ms: timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            host: url.and_then(host_of),
        }
    }
}

/// A receiver of approval notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookSettings {
    /// Its label, recorded with each delivery.
    name: String,
    /// The receiver's scheme, host and port (`https://hooks.example`).
    /// The path is left out with the query and any credentials: receivers
    /// such as chat incoming-webhooks carry their secret in it.
    url: Option<String>,
    /// The events it is sent: `approval_requested`.
    events: Vec<String>,
}

impl WebhookSettings {
    /// Receiver `name` at `url`, of which only the origin is kept, sent
    /// new approval requests.
    pub fn new(name: &str, url: &str) -> Self {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        Self {
            name: name.to_owned(),
            url: scheme
                .zip(host_of(url))
                .map(|(scheme, host)| format!("{scheme}://{host}")),
            events: vec!["approval_requested".to_owned()],
        }
    }
}

/// The host and port of `url` (`scheme://[user[:password]@]host[:port]/...`),
/// lower-cased; `None` when it has no scheme or an empty host.
pub fn host_of(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_host_of_a_url_is_kept() {
        for (url, host) in [
            ("https://api.openai.com/v1", Some("api.openai.com")),
            ("http://127.0.0.1:11434/v1", Some("127.0.0.1:11434")),
            (
                "https://user:hunter2@Tools.Example:8443/isolate/{host}?key=abc#x",
                Some("tools.example:8443"),
            ),
            ("https://hooks.example?token=abc", Some("hooks.example")),
            ("https://a@b@hooks.example/x", Some("hooks.example")),
            ("not a url", None),
            ("https:///path", None),
        ] {
            assert_eq!(host_of(url).as_deref(), host, "{url}");
        }
    }

    #[test]
    fn a_webhook_keeps_its_origin_only() {
        let hook = WebhookSettings::new(
            "soc-chat",
            "HTTPS://bot:s3cret@hooks.example/services/T0/B0/XYZ?sig=abc",
        );
        assert_eq!(hook.url.as_deref(), Some("https://hooks.example"));
        let text = serde_json::to_string(&hook).unwrap();
        for secret in ["s3cret", "bot", "XYZ", "sig", "services"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

//! What every handler shares: the store, the agents it may dispatch to, the
//! runtime mode and the limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;
use vigil_engine::case::GroupingRule;
use vigil_engine::store::{
    Alerts, CaseReads, Cases, Dispatcher, Notifications, Operations, Presence, Reads, Tokens,
};

/// The store capabilities the API uses. It never takes worker leases.
pub trait ApiStore:
    Dispatcher + Operations + Reads + Tokens + Notifications + Presence + Cases + CaseReads + Alerts
{
}

impl<T> ApiStore for T where
    T: Dispatcher
        + Operations
        + Reads
        + Tokens
        + Notifications
        + Presence
        + Cases
        + CaseReads
        + Alerts
{
}

/// A tool an agent may call, as operators and approvers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolInfo {
    /// The tool's name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// `read` or `write`.
    pub effect: String,
    /// Whether it is one of dummy mode's built-in fixtures (nothing leaves the process).
    pub local: bool,
}

/// An agent the API can dispatch to.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    /// The agent id.
    pub id: String,
    /// The JSON schema its results must satisfy.
    pub output_schema: Value,
    /// Its tools.
    pub tools: Vec<ToolInfo>,
}

/// The agents the API knows, by id. Dispatching to any other id is refused.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    by_id: BTreeMap<String, AgentInfo>,
}

impl Agents {
    /// A directory of `agents`.
    pub fn new(agents: impl IntoIterator<Item = AgentInfo>) -> Self {
        Self {
            by_id: agents.into_iter().map(|a| (a.id.clone(), a)).collect(),
        }
    }

    /// One agent.
    pub fn get(&self, id: &str) -> Option<&AgentInfo> {
        self.by_id.get(id)
    }

    /// Every agent id, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }

    /// A tool by name, from whichever agent declares it.
    pub fn tool(&self, name: &str) -> Option<&ToolInfo> {
        self.by_id
            .values()
            .flat_map(|a| a.tools.iter())
            .find(|t| t.name == name)
    }
}

/// What `GET /system/mode` reports about this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    /// `dummy`, `dry_run` or `real`.
    pub mode: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Vigil's version.
    pub version: String,
    /// The public key head receipts are signed with (64 hex digits), when
    /// this process signs them.
    pub receipt_key: Option<String>,
}

/// Input limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes (default 256 KiB).
    pub body_bytes: usize,
    /// Longest prompt in characters (default 32 768).
    pub prompt_chars: usize,
    /// Largest evidence content stored with a case, in bytes (default
    /// 10 MiB; `[cases] evidence_limit`). Larger artifacts are registered
    /// by URI.
    pub evidence_bytes: u64,
}

impl Limits {
    /// The largest body `POST /cases/{id}/evidence` accepts: the evidence
    /// limit as base64, plus room for the other fields.
    pub fn evidence_body_bytes(&self) -> usize {
        let encoded = self.evidence_bytes.div_ceil(3) * 4;
        usize::try_from(encoded)
            .unwrap_or(usize::MAX)
            .saturating_add(64 * 1024)
            .max(self.body_bytes)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 256 * 1024,
            prompt_chars: 32 * 1024,
            evidence_bytes: vigil_engine::case::DEFAULT_EVIDENCE_LIMIT,
        }
    }
}

/// How live streams behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// How often a stream looks for new rows.
    pub poll: Duration,
    /// How often an idle stream sends a keep-alive comment.
    pub keep_alive: Duration,
    /// How often a stream checks that the token that opened it is still
    /// valid (the approvals stream also checks before every message).
    pub recheck: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(250),
            keep_alive: Duration::from_secs(15),
            recheck: Duration::from_secs(3),
        }
    }
}

/// Renders the process's own metrics (counters and histograms recorded by
/// the runtime) in the Prometheus text format.
pub type ProcessMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn ApiStore>,
    pub(crate) agents: Arc<Agents>,
    pub(crate) system: Arc<SystemInfo>,
    pub(crate) limits: Limits,
    pub(crate) grouping_rules: Arc<[GroupingRule]>,
    pub(crate) settings: Arc<crate::settings::Settings>,
    pub(crate) streams: StreamSettings,
    pub(crate) metrics: Option<ProcessMetrics>,
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("agents", &self.agents)
            .field("system", &self.system)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store`, dispatching to `agents`, describing itself as `system`.
    pub fn new(store: Arc<dyn ApiStore>, agents: Agents, system: SystemInfo) -> Self {
        Self {
            store,
            agents: Arc::new(agents),
            system: Arc::new(system),
            limits: Limits::default(),
            grouping_rules: Arc::from(Vec::new()),
            settings: Arc::default(),
            streams: StreamSettings::default(),
            metrics: None,
            shutdown: CancellationToken::new(),
        }
    }

    /// Ends live streams once `shutdown` is cancelled, so a graceful server
    /// shutdown is not held open by them.
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Sets the input limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the alert grouping rules (`[[grouping_rules]]`); with none,
    /// [`GroupingRule::default_rule`] applies.
    pub fn with_grouping_rules(mut self, rules: Vec<GroupingRule>) -> Self {
        self.grouping_rules = Arc::from(rules);
        self
    }

    /// Sets what `GET /system/settings` reports about the model, agents,
    /// tools and webhooks (by default, none of them).
    pub fn with_settings(mut self, settings: crate::settings::Settings) -> Self {
        self.settings = Arc::new(settings);
        self
    }

    /// Sets how live streams poll and keep alive.
    pub fn with_streams(mut self, streams: StreamSettings) -> Self {
        self.streams = streams;
        self
    }

    /// Appends the process's own metrics to `GET /metrics`.
    pub fn with_process_metrics(mut self, metrics: ProcessMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ApiStore> {
        &self.store
    }
}

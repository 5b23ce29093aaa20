//! Configuration: one typed tree, layered. Defaults, then the TOML file, then
//! `VIGIL_*` environment variables (`VIGIL_DATABASE_URL` sets
//! `database.url`: the first `_` after the prefix separates the section),
//! then command-line flags.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use vigil_agents::setup::{AgentsConfig, ToolConfig};
use vigil_agents::{AgentConfig, OpenAiConfig};
use vigil_agents::{Mode, Price};

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where records live.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// How logs are written.
    #[serde(default)]
    pub log: LogConfig,
    /// `dummy`, `dry_run` or `real`; `dummy` without a `[model]`, `real` with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The OpenAI-compatible model endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<OpenAiConfig>,
    /// `[[agents]]`.
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// `[[tools]]`.
    #[serde(default)]
    pub tools: Vec<ToolConfig>,
    /// `[[mcp_servers]]`: MCP servers whose tools agents may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<vigil_agents::mcp::McpServerConfig>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[prices."model-name"]`: US dollars per million tokens.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// `[worker]`.
    #[serde(default)]
    pub worker: WorkerConfig,
    /// `[reaper]`.
    #[serde(default)]
    pub reaper: ReaperConfig,
    /// `[expiry]`.
    #[serde(default)]
    pub expiry: ExpiryConfig,
    /// `[api]`.
    #[serde(default)]
    pub api: ApiConfig,
    /// `[telemetry]`: OpenTelemetry trace export (off by default).
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// `[[grouping_rules]]`: how alerts group into cases. With none, the
    /// default rule applies (same detection rule and the same source
    /// address, else host, else user, within 24 hours).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grouping_rules: Vec<GroupingRuleConfig>,
    /// Deprecated keys found while loading, one message each, for
    /// [`Config::warn_deprecated`] to log once logging is up.
    #[serde(skip)]
    pub deprecations: Vec<String>,
}

/// `[api]`: the HTTP API served by `vigil serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address to listen on (`--listen` overrides).
    pub listen: std::net::SocketAddr,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Longest prompt, in characters.
    pub prompt_limit: usize,
    /// Largest evidence content stored with a case, in bytes (default
    /// 10 MiB). Larger artifacts are registered by URI and SHA-256.
    pub evidence_limit: u64,
    /// `[[api.webhooks]]`: receivers of new approval requests.
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: 256 * 1024,
            prompt_limit: 32 * 1024,
            evidence_limit: vigil_engine::case::DEFAULT_EVIDENCE_LIMIT,
            webhooks: Vec::new(),
        }
    }
}

/// `[[api.webhooks]]`: one receiver of approval notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A stable label, recorded with each delivery.
    pub name: String,
    /// Where to POST (http or https).
    pub url: String,
    /// The environment variable holding the HMAC signing secret (secrets
    /// are never written in the configuration file).
    pub secret_env: String,
}

impl WebhookConfig {
    /// The target, with its secret read from the environment.
    pub fn target(&self) -> anyhow::Result<vigil_workers::webhooks::WebhookTarget> {
        anyhow::ensure!(
            self.url.starts_with("http://") || self.url.starts_with("https://"),
            "webhook `{}`: url must start with http:// or https://",
            self.name
        );
        let secret = std::env::var(&self.secret_env).map_err(|_| {
            anyhow::anyhow!(
                "webhook `{}`: environment variable {} (its signing secret) is not set",
                self.name,
                self.secret_env
            )
        })?;
        anyhow::ensure!(
            secret.len() >= 16,
            "webhook `{}`: the signing secret in {} must be at least 16 characters",
            self.name,
            self.secret_env
        );
        Ok(vigil_workers::webhooks::WebhookTarget {
            name: self.name.clone(),
            url: self.url.clone(),
            secret,
        })
    }
}

/// `[worker]`: how a process claims and runs investigations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Investigations run at once.
    pub concurrency: usize,
    /// Claim streams sharing that concurrency (more claim faster under load).
    pub claimers: usize,
    /// Agents served: empty serves every declared agent; a listed agent
    /// that is not declared is never claimed.
    pub agents: Vec<String>,
    /// How often to look for work when no wake-up arrives.
    #[serde(with = "vigil_agents::config::duration")]
    pub poll_interval: std::time::Duration,
    /// How long runs in flight get to reach a checkpoint at shutdown.
    #[serde(with = "vigil_agents::config::duration")]
    pub grace: std::time::Duration,
    /// The lease length: a claimed run's worker renews its lease every
    /// third of it, and a run whose lease ran out is dead-lettered at the
    /// reaper's next tick.
    #[serde(with = "vigil_agents::config::duration")]
    pub lease: std::time::Duration,
    /// How often a run's lease is renewed while heartbeats succeed (default:
    /// a third of `lease`). `lease` minus this is the margin failed
    /// heartbeats have to get one through; it must be below `lease`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "vigil_agents::config::duration::option"
    )]
    pub heartbeat_every: Option<std::time::Duration>,
    /// How soon a failed heartbeat is tried again (default 1 s; above zero).
    #[serde(with = "vigil_agents::config::duration")]
    pub heartbeat_retry: std::time::Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            claimers: 2,
            agents: Vec::new(),
            poll_interval: std::time::Duration::from_secs(1),
            grace: std::time::Duration::from_secs(30),
            lease: std::time::Duration::from_secs(120),
            heartbeat_every: None,
            heartbeat_retry: std::time::Duration::from_secs(1),
        }
    }
}

impl WorkerConfig {
    /// A heartbeat cadence that can keep a lease: renewed more often than it
    /// runs out, and retried after a failure before the next renewal is due.
    fn check_heartbeat(&self) -> anyhow::Result<()> {
        if let Some(every) = self.heartbeat_every {
            anyhow::ensure!(
                !every.is_zero() && every < self.lease,
                "`worker.heartbeat_every` ({}) must be above zero and below `worker.lease` ({})",
                vigil_agents::config::duration::format(every),
                vigil_agents::config::duration::format(self.lease),
            );
        }
        anyhow::ensure!(
            !self.heartbeat_retry.is_zero(),
            "`worker.heartbeat_retry` must be above zero"
        );
        Ok(())
    }
}

/// `[reaper]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReaperConfig {
    /// Six-field cron expression (with seconds).
    pub schedule: String,
    /// The old name of `worker.lease`, still read: [`Config::load`] moves it
    /// there and records a deprecation, so this is `None` after loading.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "vigil_agents::config::duration::option"
    )]
    pub stale_after: Option<std::time::Duration>,
}

impl Default for ReaperConfig {
    fn default() -> Self {
        Self {
            schedule: "*/15 * * * * *".to_owned(),
            stale_after: None,
        }
    }
}

/// `[expiry]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpiryConfig {
    /// Six-field cron expression (with seconds).
    pub schedule: String,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        Self {
            schedule: "*/15 * * * * *".to_owned(),
        }
    }
}

/// One `[[grouping_rules]]` entry. The first entry whose `rule` names an
/// alert's detection rule (or that names none) applies to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupingRuleConfig {
    /// The detection rule it applies to; absent: every rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The entity types that key a group, in order of preference (`ip`,
    /// `host`, `user`, `domain`, `url`, `email`, `hash_sha256`, ...): the
    /// alert's first entity of the first type it carries keys it.
    pub entity_types: Vec<vigil_engine::case::ObservableType>,
    /// How long after a case's last alert another still joins it (`24h`).
    #[serde(with = "vigil_agents::config::duration")]
    pub window: std::time::Duration,
    /// An agent to dispatch for every case this rule opens (`"triage"`):
    /// an investigation linked to the case, in the ingest's transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigate: Option<String>,
}

impl Config {
    /// The grouping rules, checked: each names at least one entity type
    /// and a window above zero.
    pub fn grouping_rules(&self) -> anyhow::Result<Vec<vigil_engine::case::GroupingRule>> {
        self.grouping_rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                anyhow::ensure!(
                    !r.entity_types.is_empty(),
                    "grouping_rules[{i}].entity_types must name at least one type"
                );
                anyhow::ensure!(
                    !r.window.is_zero(),
                    "grouping_rules[{i}].window must be above zero"
                );
                Ok(vigil_engine::case::GroupingRule {
                    rule: r.rule.clone(),
                    entity_types: r.entity_types.clone(),
                    window: chrono::Duration::from_std(r.window)
                        .context("grouping_rules window is too long")?,
                    investigate: r.investigate.clone(),
                })
            })
            .collect()
    }
}

impl Config {
    /// The grouping rules, checked as by [`Config::grouping_rules`], and
    /// each `investigate` naming an agent `setup` declares.
    pub fn grouping_rules_for(
        &self,
        setup: &vigil_agents::setup::Setup,
    ) -> anyhow::Result<Vec<vigil_engine::case::GroupingRule>> {
        let rules = self.grouping_rules()?;
        for (i, rule) in rules.iter().enumerate() {
            if let Some(agent) = &rule.investigate {
                setup.catalog.get(agent).with_context(|| {
                    format!("grouping_rules[{i}].investigate names agent `{agent}`")
                })?;
            }
        }
        Ok(rules)
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Most bytes of one tool output shown to the model and stored.
    pub tool_output_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            tool_output_bytes: 16 * 1024,
        }
    }
}

impl Config {
    /// Builds tools, agents and the model from this configuration, resolving
    /// `${VAR}` references from the process environment.
    pub fn agent_setup(&self) -> anyhow::Result<vigil_agents::setup::Setup> {
        vigil_agents::setup::setup(self.agents_config(), &|var| std::env::var(var).ok())
            .context("invalid agent configuration")
    }

    /// The agent side of the configuration.
    pub fn agents_config(&self) -> AgentsConfig {
        AgentsConfig {
            mode: self.mode,
            model: self.model.clone(),
            agents: self.agents.clone(),
            tools: self.tools.clone(),
            mcp_servers: self.mcp_servers.clone(),
            tool_output_bytes: self.limits.tool_output_bytes,
            prices: self.prices.clone(),
        }
    }
}

/// `[database]`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path.db` or `postgres://...`. May carry a password: it is
    /// never logged or printed (see [`redact_url`]).
    pub url: String,
    /// PostgreSQL pool size.
    pub max_connections: u32,
    /// Seconds to wait for a connection before reporting the database unavailable.
    pub acquire_timeout_secs: u64,
    /// Most fenced worker writes (heartbeat, checkpoint, complete, fail)
    /// committed in one transaction; `1` commits each on its own.
    pub group_commit_max_batch: usize,
    /// How long a batch that is not full waits for more writes; `0s` (the
    /// default) never delays a write.
    #[serde(with = "vigil_agents::config::duration")]
    pub group_commit_max_wait: std::time::Duration,
}

impl DatabaseConfig {
    /// The group-commit settings these fields describe.
    pub fn group_commit(&self) -> vigil_engine::store::GroupCommit {
        vigil_engine::store::GroupCommit {
            max_batch: self.group_commit_max_batch.max(1),
            max_wait: self.group_commit_max_wait,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        let group = vigil_engine::store::GroupCommit::default();
        Self {
            url: "sqlite://vigil.db".to_owned(),
            max_connections: 16,
            acquire_timeout_secs: 5,
            group_commit_max_batch: group.max_batch,
            group_commit_max_wait: group.max_wait,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("group_commit_max_batch", &self.group_commit_max_batch)
            .field("group_commit_max_wait", &self.group_commit_max_wait)
            .finish()
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Values given as command-line flags, the last layer.
#[derive(Debug, Default)]
pub struct Overrides {
    /// `--database`.
    pub database_url: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--mode`.
    pub mode: Option<Mode>,
}

/// Sections that `VIGIL_<SECTION>_<KEY>` variables may set.
const ENV_SECTIONS: [&str; 9] = [
    "telemetry_",
    "api_",
    "database_",
    "log_",
    "model_",
    "limits_",
    "worker_",
    "reaper_",
    "expiry_",
];

impl Config {
    /// Loads the layered configuration. An explicitly named file must exist;
    /// `./vigil.toml` is read only when present.
    ///
    /// `[reaper] stale_after`, the old name of `worker.lease`, is still
    /// accepted: its value becomes the lease and a deprecation is recorded
    /// (see [`Config::warn_deprecated`]). Setting both is an error.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        // What the operator set, without the defaults, so that an explicit
        // key can be told from a default one.
        let mut given = Figment::new();
        match file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "config file {} not found", path.display());
                given = given.merge(Toml::file_exact(path));
            }
            None if Path::new("vigil.toml").exists() => {
                given = given.merge(Toml::file_exact("vigil.toml"));
            }
            None => {}
        }
        // Only variables for known sections: others (VIGIL_CONFIG, tool
        // credentials referenced as ${VIGIL_...} in headers) are not config.
        given = given.merge(
            Env::prefixed("VIGIL_")
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    key == "mode" || ENV_SECTIONS.iter().any(|s| key.starts_with(s))
                })
                .map(|key| key.as_str().replacen('_', ".", 1).into()),
        );
        let lease_given = given.contains("worker.lease");
        let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(given)
            .extract()
            .context("invalid configuration")?;
        if let Some(lease) = config.reaper.stale_after.take() {
            anyhow::ensure!(
                !lease_given,
                "both `worker.lease` and its old name `reaper.stale_after` are set; \
                 keep only `worker.lease`"
            );
            config.worker.lease = lease;
            config.deprecations.push(
                "`reaper.stale_after` (VIGIL_REAPER_STALE_AFTER) is deprecated: it is the \
                 lease length, now `[worker] lease` (VIGIL_WORKER_LEASE); its value was used"
                    .to_owned(),
            );
        }
        config.worker.check_heartbeat()?;
        config.grouping_rules()?;
        if let Some(url) = &overrides.database_url {
            config.database.url = url.clone();
        }
        if let Some(format) = overrides.log_format {
            config.log.format = format;
        }
        if let Some(mode) = overrides.mode {
            config.mode = Some(mode);
        }
        Ok(config)
    }
}

impl Config {
    /// Logs each deprecated key [`Config::load`] found, once, as a warning.
    pub fn warn_deprecated(&self) {
        for message in &self.deprecations {
            tracing::warn!("configuration: {message}");
        }
    }
}

/// A URL with any password replaced by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Installs the global tracing subscriber. `RUST_LOG` filters (default `info`).
/// `default` is the filter when `RUST_LOG` is unset.
///
/// `telemetry`, when given, also receives every span the filter lets
/// through, for export.
pub fn init_logging(log: &LogConfig, default: &str, telemetry: Option<crate::telemetry::Layer>) {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Spans are exported at info whatever the log level: quieter logs
    // (`RUST_LOG=warn`, a benchmark's default) must not empty the traces.
    let telemetry = telemetry.map(|layer| {
        layer.with_filter(
            Targets::new()
                .with_default(LevelFilter::INFO)
                .with_target("sqlx", LevelFilter::WARN),
        )
    });
    let registry = tracing_subscriber::registry().with(telemetry);
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Text => registry.with(fmt.with_filter(filter)).init(),
        LogFormat::Json => registry.with(fmt.json().with_filter(filter)).init(),
    }
}

#[cfg(test)]
// figment's Jail API returns its large error type by value.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://vigil:s3cret@db:5432/vigil"),
            "postgres://vigil:***@db:5432/vigil"
        );
        assert_eq!(redact_url("sqlite://vigil.db"), "sqlite://vigil.db");
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/postgres"),
            "postgres://postgres@127.0.0.1/postgres"
        );
    }

    #[test]
    fn debug_output_never_shows_the_database_password() {
        let config = DatabaseConfig {
            url: "postgres://vigil:s3cret@db/vigil".to_owned(),
            ..DatabaseConfig::default()
        };
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vigil.toml",
                "[database]\nurl = \"sqlite://from-file.db\"\nmax_connections = 4\n",
            )?;
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.database.url, "sqlite://from-file.db");
            assert_eq!(config.database.max_connections, 4);

            jail.set_env("VIGIL_DATABASE_URL", "sqlite://from-env.db");
            jail.set_env("VIGIL_DATABASE_MAX_CONNECTIONS", "9");
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.database.url, "sqlite://from-env.db");
            assert_eq!(config.database.max_connections, 9);

            let flags = Overrides {
                database_url: Some("sqlite://from-flag.db".to_owned()),
                log_format: Some(LogFormat::Json),
                mode: None,
            };
            let config = Config::load(None, &flags).unwrap();
            assert_eq!(config.database.url, "sqlite://from-flag.db");
            assert_eq!(config.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn unrelated_vigil_variables_are_not_configuration() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VIGIL_EDR_TOKEN", "s3cret");
            jail.set_env("VIGIL_TEST_DATABASE_URL", "postgres://x");
            jail.set_env("VIGIL_MODE", "dry_run");
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.mode, Some(Mode::DryRun));
            Ok(())
        });
    }

    #[test]
    fn grouping_rules_are_read_and_checked() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert!(config.grouping_rules().unwrap().is_empty());
            jail.create_file(
                "vigil.toml",
                "[[grouping_rules]]\nrule = \"Phishing\"\nentity_types = [\"email\", \"url\"]\n\
                 window = \"2h\"\n\n[[grouping_rules]]\nentity_types = [\"host\"]\nwindow = \"12h\"\n",
            )?;
            let rules = Config::load(None, &Overrides::default())
                .unwrap()
                .grouping_rules()
                .unwrap();
            assert_eq!(rules.len(), 2);
            assert_eq!(rules[0].rule.as_deref(), Some("Phishing"));
            assert_eq!(
                rules[0].entity_types,
                [
                    vigil_engine::case::ObservableType::Email,
                    vigil_engine::case::ObservableType::Url
                ]
            );
            assert_eq!(rules[0].window, chrono::Duration::hours(2));
            assert_eq!(rules[1].rule, None);
            jail.create_file(
                "vigil.toml",
                "[[grouping_rules]]\nentity_types = []\nwindow = \"1h\"\n",
            )?;
            let err = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(format!("{err:#}").contains("entity_types"), "{err:#}");
            Ok(())
        });
    }

    #[test]
    fn the_heartbeat_cadence_is_configurable_and_must_fit_the_lease() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.worker.heartbeat_every, None);
            assert_eq!(
                config.worker.heartbeat_retry,
                std::time::Duration::from_secs(1)
            );
            jail.create_file(
                "vigil.toml",
                "[worker]\nlease = \"90s\"\nheartbeat_every = \"20s\"\nheartbeat_retry = \"500ms\"\n",
            )?;
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(
                config.worker.heartbeat_every,
                Some(std::time::Duration::from_secs(20))
            );
            assert_eq!(
                config.worker.heartbeat_retry,
                std::time::Duration::from_millis(500)
            );
            jail.create_file(
                "vigil.toml",
                "[worker]\nlease = \"30s\"\nheartbeat_every = \"30s\"\n",
            )?;
            let err = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(
                format!("{err:#}").contains("worker.heartbeat_every"),
                "{err:#}"
            );
            jail.create_file("vigil.toml", "[worker]\nheartbeat_retry = \"0s\"\n")?;
            let err = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(
                format!("{err:#}").contains("worker.heartbeat_retry"),
                "{err:#}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_local_server_profile_is_read_from_model_compat() {
        use vigil_agents::openai::{ToolChoice, ToolResults};
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vigil.toml",
                "[model]\nbase_url = \"http://127.0.0.1:8081/v1\"\nmodel = \"local\"\n\
                 [model.compat]\ntool_results = \"user_message\"\ntool_choice = \"first_turn_only\"\n",
            )?;
            let config = Config::load(None, &Overrides::default()).unwrap();
            let compat = config.model.unwrap().compat;
            assert_eq!(compat.tool_results, ToolResults::UserMessage);
            assert_eq!(compat.tool_choice, ToolChoice::FirstTurnOnly);
            Ok(())
        });
    }

    #[test]
    fn the_lease_is_worker_lease() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.worker.lease, std::time::Duration::from_secs(120));
            jail.create_file("vigil.toml", "[worker]\nlease = \"45s\"\n")?;
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.worker.lease, std::time::Duration::from_secs(45));
            assert!(config.deprecations.is_empty(), "{:?}", config.deprecations);
            jail.set_env("VIGIL_WORKER_LEASE", "1m");
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.worker.lease, std::time::Duration::from_secs(60));
            Ok(())
        });
    }

    #[test]
    fn the_old_stale_after_key_sets_the_lease_and_is_reported_as_deprecated() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("vigil.toml", "[reaper]\nstale_after = \"3s\"\n")?;
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.worker.lease, std::time::Duration::from_secs(3));
            assert_eq!(config.reaper.stale_after, None, "moved, not kept twice");
            assert_eq!(config.deprecations.len(), 1);
            assert!(
                config.deprecations[0].contains("`reaper.stale_after`")
                    && config.deprecations[0].contains("`[worker] lease`"),
                "{:?}",
                config.deprecations
            );

            jail.create_file("vigil.toml", "")?;
            jail.set_env("VIGIL_REAPER_STALE_AFTER", "7s");
            let config = Config::load(None, &Overrides::default()).unwrap();
            assert_eq!(config.worker.lease, std::time::Duration::from_secs(7));
            assert_eq!(config.deprecations.len(), 1);
            Ok(())
        });
    }

    #[test]
    fn setting_the_lease_under_both_names_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vigil.toml",
                "[worker]\nlease = \"30s\"\n[reaper]\nstale_after = \"30s\"\n",
            )?;
            let err = Config::load(None, &Overrides::default()).unwrap_err();
            let text = format!("{err:#}");
            assert!(
                text.contains("worker.lease") && text.contains("reaper.stale_after"),
                "{text}"
            );
            Ok(())
        });
    }

    /// Collects what a subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn deprecations_are_logged_as_warnings() {
        let mut loaded = None;
        figment::Jail::expect_with(|jail| {
            jail.create_file("vigil.toml", "[reaper]\nstale_after = \"3s\"\n")?;
            loaded = Some(Config::load(None, &Overrides::default()).unwrap());
            Ok(())
        });
        let config = loaded.unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || config.warn_deprecated());
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = logged.lines().collect();
        assert_eq!(lines.len(), 1, "{logged}");
        assert!(lines[0].contains("WARN"), "{logged}");
        assert!(lines[0].contains("`reaper.stale_after`"), "{logged}");

        let current = Config::default();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || current.warn_deprecated());
        assert!(
            captured.0.lock().unwrap().is_empty(),
            "nothing to warn about"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("vigil.toml", "[database]\nurll = \"typo\"\n")?;
            let err = Config::load(None, &Overrides::default()).unwrap_err();
            assert!(format!("{err:#}").contains("urll"), "{err:#}");
            Ok(())
        });
    }
}

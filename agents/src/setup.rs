//! Building the agent side of a process from configuration: the mode, the
//! tool registry, the agent catalog and the model.
//!
//! Mode rules:
//! - with no `[model]`, the mode defaults to `dummy`; with one, to `real`;
//! - `dummy` never uses a configured model: asking for both is an error;
//! - `real` and `dry_run` need a `[model]`;
//! - in `dummy` mode the built-in `triage` agent and fixture tools are added,
//!   and tools that would leave the process (HTTP) only return a preview.
//!
//! Case tools (`kind = "case"`) write through [`Setup::cases`], a handle the
//! process binds to its store once it has opened it.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::case_tools::{self, CaseToolConfig, CaseToolError, CaseToolsStore};
use crate::catalog::{AgentConfig, Catalog, CatalogError};
use crate::config::{Mode, Price};
use crate::dummy::{self, ScriptedModel};
use crate::http::{HttpTool, HttpToolConfig, HttpToolError};
use crate::mcp::{McpConfigError, McpServer, McpServerConfig};
use crate::model::{ChatModel, ModelError};
use crate::openai::{OpenAiConfig, OpenAiModel};
use crate::registry::{DEFAULT_OUTPUT_CAP, RegistryError, ToolRegistry};

/// A `[[tools]]` entry, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToolConfig {
    /// An HTTP endpoint.
    Http(HttpToolConfig),
    /// A built-in tool that writes to cases.
    Case(CaseToolConfig),
}

/// The agent side of the configuration.
#[derive(Debug, Clone, Default)]
pub struct AgentsConfig {
    /// `mode` (or `--mode`); see the module docs for the default.
    pub mode: Option<Mode>,
    /// `[model]`.
    pub model: Option<OpenAiConfig>,
    /// `[[agents]]`.
    pub agents: Vec<AgentConfig>,
    /// `[[tools]]`.
    pub tools: Vec<ToolConfig>,
    /// `[[mcp_servers]]`.
    pub mcp_servers: Vec<McpServerConfig>,
    /// Cap on tool output shown to the model and stored, in bytes (0: default 16 KiB).
    pub tool_output_bytes: usize,
    /// Token prices per model.
    pub prices: BTreeMap<String, Price>,
}

/// What a process needs to run agents.
pub struct Setup {
    /// The mode in force.
    pub mode: Mode,
    /// The declared (and, in dummy mode, built-in) tools.
    pub tools: Arc<ToolRegistry>,
    /// The declared (and, in dummy mode, built-in) agents.
    pub catalog: Arc<Catalog>,
    /// The model.
    pub model: Arc<dyn ChatModel>,
    /// Token prices per model.
    pub prices: HashMap<String, Price>,
    /// The store the case tools write through: bind it
    /// ([`CaseToolsStore::bind`]) before running agents that have them.
    pub cases: CaseToolsStore,
    /// The `[[mcp_servers]]`, registered as tool sources and not connected
    /// until [`Setup::start_mcp`].
    pub mcp_servers: Vec<McpServer>,
}

impl Setup {
    /// Connects every MCP server and keeps it connected until `stop` (one
    /// supervisor task each, see [`crate::mcp`]). Waits for each first
    /// connection up to its `connect_timeout`, so the first runs see the
    /// servers' tools; a server still down after that is logged, and its
    /// supervisor keeps trying.
    pub async fn start_mcp(&self, stop: &tokio_util::sync::CancellationToken) {
        for server in &self.mcp_servers {
            tokio::spawn(server.clone().run(stop.clone()));
        }
        let waits = self.mcp_servers.iter().map(|server| async move {
            if !server.wait_up(server.connect_timeout()).await {
                tracing::warn!(mcp.server = %server.name(), "the MCP server is not connected yet; its tools are errors until it is");
            }
        });
        futures::future::join_all(waits).await;
    }
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("mode", &self.mode)
            .field("tools", &self.tools)
            .field("catalog", &self.catalog)
            .field("model", &self.model)
            .field("mcp_servers", &self.mcp_servers)
            .finish()
    }
}

/// Why the agent configuration cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetupError {
    /// The mode and the `[model]` section disagree.
    #[error("{0}")]
    Mode(String),
    /// A tool declaration is invalid.
    #[error(transparent)]
    Tool(#[from] HttpToolError),
    /// A case tool declaration is invalid.
    #[error(transparent)]
    CaseTool(#[from] CaseToolError),
    /// An MCP server declaration is invalid.
    #[error(transparent)]
    Mcp(#[from] McpConfigError),
    /// A tool cannot be registered.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An agent declaration is invalid.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The model client cannot be built.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Builds tools, agents and the model from `config`. `env` resolves
/// `${VAR}` references in tool headers (normally the process environment).
pub fn setup(
    config: AgentsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Setup, SetupError> {
    let mode = match (config.mode, &config.model) {
        (Some(Mode::Dummy), Some(_)) => {
            return Err(SetupError::Mode(
                "mode `dummy` runs the scripted showcase model and never a configured one: \
                 remove [model], or set mode to `real` or `dry_run`"
                    .to_owned(),
            ));
        }
        (Some(mode @ (Mode::Real | Mode::DryRun)), None) => {
            return Err(SetupError::Mode(format!(
                "mode `{mode}` needs a [model] section (base_url, model, api_key)"
            )));
        }
        (Some(mode), _) => mode,
        (None, Some(_)) => Mode::Real,
        (None, None) => Mode::Dummy,
    };
    let cap = if config.tool_output_bytes == 0 {
        DEFAULT_OUTPUT_CAP
    } else {
        config.tool_output_bytes
    };
    let mut tools = ToolRegistry::new(cap);
    let http = reqwest::Client::new();
    let cases = CaseToolsStore::default();
    for tool in config.tools {
        match tool {
            ToolConfig::Http(cfg) => {
                tools.register(Arc::new(HttpTool::new(cfg, http.clone(), env)?))?
            }
            ToolConfig::Case(cfg) => tools.register(case_tools::build(cfg, cases.clone())?)?,
        }
    }
    let mut mcp_servers = Vec::new();
    for cfg in config.mcp_servers {
        let server = McpServer::new(cfg, env)?;
        tools.register_source(server.name(), Arc::new(server.clone()))?;
        mcp_servers.push(server);
    }
    let mut agents = config.agents;
    if mode == Mode::Dummy {
        for tool in dummy::tools() {
            tools.register(tool)?;
        }
        if !agents.iter().any(|a| a.id == "triage") {
            agents.insert(0, dummy::triage_agent());
        }
        if !agents.iter().any(|a| a.id == "summarize") {
            agents.push(dummy::summarize_agent());
        }
    }
    let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
    tools.register(crate::delegate::tool(&ids))?;
    let catalog = Catalog::new(agents, &tools)?;
    let model: Arc<dyn ChatModel> = match config.model {
        Some(model) => Arc::new(OpenAiModel::new(model)?),
        None => Arc::new(ScriptedModel),
    };
    Ok(Setup {
        mode,
        tools: Arc::new(tools),
        catalog: Arc::new(catalog),
        model,
        prices: config.prices.into_iter().collect(),
        cases,
        mcp_servers,
    })
}

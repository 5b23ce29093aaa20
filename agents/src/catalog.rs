//! Agents declared in configuration (`[[agents]]` in `vigil.toml`).
//!
//! ```toml
//! [[agents]]
//! id = "triage"
//! system_prompt = "You are a SOC analyst..."
//! model = "gpt-4o-mini"            # optional: the default model otherwise
//! tools = ["siem_search", "ip_reputation", "isolate_host", "edr.*"]
//! budget = { max_turns = 12, max_tokens = 200000, max_wall_time = "15m" }
//! # output_schema = { ... }         # optional: the default result schema otherwise
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vigil_engine::model::Budget;
use vigil_engine::result::Completion;

use crate::registry::{ToolRegistry, compile, violations};

/// Per-agent limits. A dispatch may lower or raise them per investigation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentBudget {
    /// Most model turns.
    pub max_turns: u32,
    /// Most input plus output tokens.
    pub max_tokens: u64,
    /// Most wall-clock time from first claim.
    #[serde(with = "crate::config::duration")]
    pub max_wall_time: Duration,
    /// Most times the same tool may be called with the same arguments.
    pub max_repeated_calls: u32,
    /// Most model calls in a row that fail in a way that may pass (429,
    /// 5xx, unreachable, timeout). Each earlier one releases the run to
    /// retry later; this one fails it, naming the model's error.
    pub max_model_failures: u32,
    /// Most `delegate_investigation` calls one investigation may make.
    pub max_children: u32,
    /// How many delegations deep a child this agent dispatches may be: a
    /// run at depth `d` (0: a principal dispatched it) may delegate only if
    /// `d + 1 <= max_depth`.
    pub max_depth: u32,
}

impl Default for AgentBudget {
    fn default() -> Self {
        Self {
            max_turns: 12,
            max_tokens: 200_000,
            max_wall_time: Duration::from_secs(15 * 60),
            max_repeated_calls: 3,
            max_model_failures: 5,
            max_children: 5,
            max_depth: 2,
        }
    }
}

impl AgentBudget {
    /// This budget with an investigation's overrides applied.
    pub fn with_overrides(&self, overrides: &Budget) -> AgentBudget {
        AgentBudget {
            max_turns: overrides.max_turns.unwrap_or(self.max_turns),
            max_tokens: overrides.max_tokens.unwrap_or(self.max_tokens),
            max_wall_time: overrides
                .max_wall_secs
                .map_or(self.max_wall_time, Duration::from_secs),
            max_repeated_calls: self.max_repeated_calls,
            max_model_failures: self.max_model_failures,
            max_children: self.max_children,
            max_depth: self.max_depth,
        }
    }
}

/// An `[[agents]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The id dispatches name.
    pub id: String,
    /// The system prompt.
    pub system_prompt: String,
    /// The model; the configured default when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// The tools it may call: a `[[tools]]` name, or `server.tool` for a
    /// tool of an `[[mcp_servers]]` entry, where `tool` may hold `*`
    /// wildcards (`intel.*`).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Its limits.
    #[serde(default)]
    pub budget: AgentBudget,
    /// JSON schema of its result; [`default_output_schema`] when absent.
    #[serde(default)]
    pub output_schema: Option<Value>,
}

/// The default result schema: `summary`, `key_findings`,
/// `recommended_next_steps` and `confidence` in 0..=1.
pub fn default_output_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "minLength": 1},
            "key_findings": {"type": "array", "items": {"type": "string"}},
            "recommended_next_steps": {"type": "array", "items": {"type": "string"}},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1}
        },
        "required": ["summary", "key_findings", "recommended_next_steps", "confidence"]
    })
}

/// A declared agent, with its output schema compiled.
pub struct Agent {
    config: AgentConfig,
    output_schema: Value,
    output: jsonschema::Validator,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("config", &self.config)
            .finish()
    }
}

impl Agent {
    /// Its declaration.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The JSON schema its result must match (shown to the model as the
    /// parameters of `submit_result`).
    pub fn output_schema(&self) -> &Value {
        &self.output_schema
    }

    /// Judges the arguments of a `submit_result` call: a schema-valid result
    /// completes the run; anything else needs review, keeping `raw`.
    /// `confidence` is taken from a top-level number in 0..=1, if any.
    pub fn judge(&self, raw: &str) -> Completion {
        let value: Value = match serde_json::from_str(raw) {
            Ok(value) => value,
            Err(e) => {
                return Completion::Invalid {
                    reason: "result is not valid JSON".to_owned(),
                    result_raw: Some(raw.to_owned()),
                    errors: vec![e.to_string()],
                };
            }
        };
        let errors = violations(&self.output, &value);
        if !errors.is_empty() {
            return Completion::Invalid {
                reason: "result does not match the agent's output schema".to_owned(),
                result_raw: Some(raw.to_owned()),
                errors,
            };
        }
        let confidence = value
            .get("confidence")
            .and_then(Value::as_f64)
            .filter(|c| (0.0..=1.0).contains(c));
        Completion::Valid {
            result: value,
            confidence,
        }
    }
}

/// Why the agent catalog is unusable, or an agent unknown.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// No agent with that id.
    #[error("unknown agent `{id}`; declared agents: {known}")]
    UnknownAgent {
        /// The id asked for.
        id: String,
        /// The declared ids, comma-separated.
        known: String,
    },
    /// Two agents with one id.
    #[error("agent `{0}` is declared twice")]
    Duplicate(String),
    /// An agent names a tool that is not declared, or an MCP server that is not.
    #[error("agent `{agent}` uses tool `{tool}`: {message}")]
    UnknownTool {
        /// The agent.
        agent: String,
        /// The tool reference.
        tool: String,
        /// What is wrong with it.
        message: String,
    },
    /// An agent's declaration is invalid.
    #[error("agent `{agent}`: {message}")]
    Invalid {
        /// The agent.
        agent: String,
        /// What is wrong.
        message: String,
    },
}

/// The declared agents, checked against the tool registry.
#[derive(Debug, Default)]
pub struct Catalog {
    agents: BTreeMap<String, Agent>,
}

impl Catalog {
    /// Checks and compiles every declaration: unique ids, non-empty prompts,
    /// tools that exist, budgets above zero, output schemas that compile.
    pub fn new(configs: Vec<AgentConfig>, tools: &ToolRegistry) -> Result<Self, CatalogError> {
        let mut agents = BTreeMap::new();
        for config in configs {
            let invalid = |message: &str| CatalogError::Invalid {
                agent: config.id.clone(),
                message: message.to_owned(),
            };
            if config.id.trim().is_empty() {
                return Err(invalid("id must not be empty"));
            }
            if config.system_prompt.trim().is_empty() {
                return Err(invalid("system_prompt must not be empty"));
            }
            if config.budget.max_turns == 0 || config.budget.max_tokens == 0 {
                return Err(invalid("budget limits must be above zero"));
            }
            for reference in &config.tools {
                tools
                    .check_reference(reference)
                    .map_err(|message| CatalogError::UnknownTool {
                        agent: config.id.clone(),
                        tool: reference.clone(),
                        message,
                    })?;
            }
            let output_schema = config
                .output_schema
                .clone()
                .unwrap_or_else(default_output_schema);
            let output = compile(&output_schema)
                .map_err(|e| invalid(&format!("output_schema is not a JSON schema: {e}")))?;
            if agents.contains_key(&config.id) {
                return Err(CatalogError::Duplicate(config.id));
            }
            agents.insert(
                config.id.clone(),
                Agent {
                    config,
                    output_schema,
                    output,
                },
            );
        }
        Ok(Self { agents })
    }

    /// The agent `id`, or an error listing the declared ones.
    pub fn get(&self, id: &str) -> Result<&Agent, CatalogError> {
        self.agents
            .get(id)
            .ok_or_else(|| CatalogError::UnknownAgent {
                id: id.to_owned(),
                known: self.agents.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// The declared ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }
}

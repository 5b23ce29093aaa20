//! The tool registry: lookup, argument validation and output capping.
//!
//! Everything a model can get wrong becomes a [`ToolOutcome`] with
//! `is_error: true` that the model sees on its next turn: unknown tools,
//! arguments that are not JSON or do not match the schema, tool failures and
//! timeouts. Nothing here ends a run.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::tool::{CallContext, Tool, ToolSpec};

/// The name reserved for the agent's final answer.
pub const SUBMIT_RESULT: &str = "submit_result";

/// Default cap on stored and shown tool output: 16 KiB.
pub const DEFAULT_OUTPUT_CAP: usize = 16 * 1024;

/// Compiles a JSON schema, or says why it is not one.
pub(crate) fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}

/// Every violation of `schema` by `instance`, each prefixed by its JSON pointer.
pub(crate) fn violations(schema: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    schema
        .iter_errors(instance)
        .map(|e| match e.instance_path().as_str() {
            "" => e.to_string(),
            path => format!("{path}: {e}"),
        })
        .collect()
}

/// What a tool call produced, as the model will see it and the event log
/// will store it (`output` is at most the registry's cap, in bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// The output, or what went wrong.
    pub output: String,
    /// Whether `output` describes an error.
    pub is_error: bool,
    /// Whether `output` was cut to the cap.
    pub truncated: bool,
    /// The full output's size in bytes, when truncated.
    pub original_bytes: Option<u64>,
}

impl ToolOutcome {
    /// An error result (the model is told what went wrong), capped at `cap` bytes.
    pub fn error(message: String, cap: usize) -> Self {
        let mut outcome = Self::capped(message, cap);
        outcome.is_error = true;
        outcome
    }

    /// `output` cut to at most `cap` bytes on a character boundary.
    pub fn capped(output: String, cap: usize) -> Self {
        if output.len() <= cap {
            return Self {
                output,
                is_error: false,
                truncated: false,
                original_bytes: None,
            };
        }
        let mut end = cap;
        while !output.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            original_bytes: Some(output.len() as u64),
            output: output[..end].to_owned(),
            is_error: false,
            truncated: true,
        }
    }
}

/// A call that passed validation, ready to journal as an intent and run.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The tool.
    pub tool: Arc<dyn Tool>,
    /// The parsed, schema-valid arguments.
    pub arguments: Value,
}

impl Prepared {
    /// The tool's declaration.
    pub fn spec(&self) -> &ToolSpec {
        self.tool.spec()
    }
}

/// Why a tool cannot be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// Two tools with one name.
    #[error("tool `{0}` is declared twice")]
    Duplicate(String),
    /// A name models cannot call, or a reserved one.
    #[error("tool name `{0}` is not allowed: {1}")]
    BadName(String, &'static str),
    /// The parameters are not a JSON schema.
    #[error("tool `{name}` has an invalid parameter schema: {message}")]
    BadSchema {
        /// The tool.
        name: String,
        /// Why.
        message: String,
    },
}

struct Registered {
    tool: Arc<dyn Tool>,
    schema: jsonschema::Validator,
}

/// The tools an engine process can run, by name.
pub struct ToolRegistry {
    tools: BTreeMap<String, Registered>,
    output_cap: usize,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolRegistry")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .field("output_cap", &self.output_cap)
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry whose outputs are capped at `output_cap` bytes.
    pub fn new(output_cap: usize) -> Self {
        Self {
            tools: BTreeMap::new(),
            output_cap: output_cap.max(1),
        }
    }

    /// The output cap in bytes.
    pub fn output_cap(&self) -> usize {
        self.output_cap
    }

    /// Adds a tool, checking its name and compiling its parameter schema.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), RegistryError> {
        let spec = tool.spec();
        let name = spec.name.clone();
        if name == SUBMIT_RESULT {
            return Err(RegistryError::BadName(
                name,
                "reserved for the final result",
            ));
        }
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(RegistryError::BadName(
                name,
                "use 1 to 64 characters from A-Z, a-z, 0-9, _ and -",
            ));
        }
        if self.tools.contains_key(&name) {
            return Err(RegistryError::Duplicate(name));
        }
        let schema = compile(&spec.parameters).map_err(|message| RegistryError::BadSchema {
            name: name.clone(),
            message,
        })?;
        self.tools.insert(name, Registered { tool, schema });
        Ok(())
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name).map(|r| &r.tool)
    }

    /// Every registered tool's declaration, by name.
    pub fn specs(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.values().map(|r| r.tool.spec())
    }

    /// Checks a call before anything runs: the tool exists, the arguments
    /// are JSON and match its schema. The error is the outcome to show the
    /// model.
    pub fn prepare(&self, name: &str, raw_arguments: &str) -> Result<Prepared, ToolOutcome> {
        let Some(registered) = self.tools.get(name) else {
            let known: Vec<&str> = self.tools.keys().map(String::as_str).collect();
            return Err(ToolOutcome::error(
                format!(
                    "unknown tool `{name}`; available tools: {}",
                    known.join(", ")
                ),
                self.output_cap,
            ));
        };
        let raw = if raw_arguments.trim().is_empty() {
            "{}"
        } else {
            raw_arguments
        };
        let arguments: Value = serde_json::from_str(raw).map_err(|e| {
            ToolOutcome::error(
                format!("arguments for `{name}` are not valid JSON: {e}"),
                self.output_cap,
            )
        })?;
        let problems = violations(&registered.schema, &arguments);
        if !problems.is_empty() {
            return Err(ToolOutcome::error(
                format!("invalid arguments for `{name}`: {}", problems.join("; ")),
                self.output_cap,
            ));
        }
        Ok(Prepared {
            tool: Arc::clone(&registered.tool),
            arguments,
        })
    }

    /// Runs a prepared call as `call` and caps its output. Failures become
    /// error outcomes.
    pub async fn run(&self, prepared: &Prepared, call: &CallContext) -> ToolOutcome {
        let name = &prepared.spec().name;
        match prepared.tool.call(call, &prepared.arguments).await {
            Ok(output) => ToolOutcome::capped(output, self.output_cap),
            Err(e) => {
                tracing::warn!(tool.name = %name, error = %e, "tool call failed");
                ToolOutcome::error(format!("tool `{name}` failed: {e}"), self.output_cap)
            }
        }
    }
}

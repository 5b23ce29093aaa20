//! The tool registry: lookup, argument validation and output capping.
//!
//! Everything a model can get wrong becomes a [`ToolOutcome`] with
//! `is_error: true` that the model sees on its next turn: unknown tools,
//! arguments that are not JSON or do not match the schema, tool failures and
//! timeouts. Nothing here ends a run.
//!
//! Tools come from two places: the ones registered at startup (HTTP, case
//! and fixture tools), called by their own name, and [`ToolSource`]s whose
//! list changes at run time (an MCP server), whose tools the model calls
//! `<source>__<tool>`. An agent names the first kind as `name` and the
//! second as `source.tool`, where the tool part may hold `*` wildcards
//! (`intel.*`); see [`ToolRegistry::offered`].

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

/// Whether `name` matches `pattern`, where `*` matches any run of
/// characters (`*`, `get_*`, `*_host`, `isolate_host`).
fn glob(pattern: &str, name: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut tail) = name.strip_prefix(head) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let (last, middle) = parts.split_last().expect("split yields one part at least");
    for part in middle {
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
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

/// A tool whose name was checked and whose parameter schema is compiled.
#[derive(Clone)]
pub struct Registered {
    tool: Arc<dyn Tool>,
    schema: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("tool", &self.tool.spec().name)
            .finish()
    }
}

impl Registered {
    /// Checks the tool's name (what models accept, not the reserved
    /// `submit_result`) and compiles its parameter schema.
    pub fn new(tool: Arc<dyn Tool>) -> Result<Self, RegistryError> {
        let name = tool.spec().name.clone();
        if name == SUBMIT_RESULT {
            return Err(RegistryError::BadName(
                name,
                "reserved for the final result",
            ));
        }
        if !is_model_name(&name) {
            return Err(RegistryError::BadName(
                name,
                "use 1 to 64 characters from A-Z, a-z, 0-9, _ and -",
            ));
        }
        let schema =
            compile(&tool.spec().parameters).map_err(|message| RegistryError::BadSchema {
                name: name.clone(),
                message,
            })?;
        Ok(Self {
            tool,
            schema: Arc::new(schema),
        })
    }

    /// The tool.
    pub fn tool(&self) -> &Arc<dyn Tool> {
        &self.tool
    }
}

/// Whether models accept `name` as a function name.
pub fn is_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The separator between a source's name and its tool's in the name the
/// model calls: `edr__isolate_host`.
pub const SOURCE_SEPARATOR: &str = "__";

/// One tool of a [`ToolSource`], as it is offered now.
#[derive(Debug, Clone)]
pub struct SourcedTool {
    /// The tool's name at its source (`isolate_host`), which agents' patterns match.
    pub remote: String,
    /// The tool, named `<source>__<remote>` (made safe for models).
    pub registered: Registered,
}

/// Tools whose list changes while the process runs (an MCP server's).
pub trait ToolSource: Send + Sync + std::fmt::Debug {
    /// The tools offered now, by the name the model calls them. A tool that
    /// is gone from the list is an unknown tool from then on: a call to it
    /// becomes an error result, never a crash.
    fn snapshot(&self) -> Arc<BTreeMap<String, SourcedTool>>;
}

/// The tools an engine process can run, by name.
pub struct ToolRegistry {
    tools: BTreeMap<String, Registered>,
    sources: BTreeMap<String, Arc<dyn ToolSource>>,
    output_cap: usize,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolRegistry")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .field("output_cap", &self.output_cap)
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry whose outputs are capped at `output_cap` bytes.
    pub fn new(output_cap: usize) -> Self {
        Self {
            tools: BTreeMap::new(),
            sources: BTreeMap::new(),
            output_cap: output_cap.max(1),
        }
    }

    /// The output cap in bytes.
    pub fn output_cap(&self) -> usize {
        self.output_cap
    }

    /// Adds a tool, checking its name and compiling its parameter schema.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), RegistryError> {
        let registered = Registered::new(tool)?;
        let name = registered.tool.spec().name.clone();
        if self.tools.contains_key(&name) {
            return Err(RegistryError::Duplicate(name));
        }
        self.tools.insert(name, registered);
        Ok(())
    }

    /// Adds a source of tools the model calls `<name>__<tool>`. `name` is
    /// 1 to 32 characters from A-Z, a-z, 0-9 and `-`.
    pub fn register_source(
        &mut self,
        name: &str,
        source: Arc<dyn ToolSource>,
    ) -> Result<(), RegistryError> {
        let valid = !name.is_empty()
            && name.len() <= 32
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return Err(RegistryError::BadName(
                name.to_owned(),
                "use 1 to 32 characters from A-Z, a-z, 0-9 and -",
            ));
        }
        if self.sources.contains_key(name) {
            return Err(RegistryError::Duplicate(name.to_owned()));
        }
        self.sources.insert(name.to_owned(), source);
        Ok(())
    }

    fn resolve(&self, name: &str) -> Option<Registered> {
        if let Some(registered) = self.tools.get(name) {
            return Some(registered.clone());
        }
        let (source, _) = name.split_once(SOURCE_SEPARATOR)?;
        let snapshot = self.sources.get(source)?.snapshot();
        snapshot.get(name).map(|t| t.registered.clone())
    }

    /// The tool called `name`, registered or offered by a source now.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.resolve(name).map(|r| r.tool)
    }

    /// Whether `name` is a tool a source offers now (an MCP server's),
    /// rather than one registered at startup.
    pub fn is_sourced(&self, name: &str) -> bool {
        !self.tools.contains_key(name) && self.resolve(name).is_some()
    }

    /// Every tool's declaration: the registered ones, then what each source
    /// offers now.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let mut specs: Vec<ToolSpec> = self.tools.values().map(|r| r.tool.spec().clone()).collect();
        for source in self.sources.values() {
            specs.extend(
                source
                    .snapshot()
                    .values()
                    .map(|t| t.registered.tool.spec().clone()),
            );
        }
        specs
    }

    /// Whether `reference` (an agent's `tools` entry) names something: a
    /// registered tool, or `source.pattern` for a registered source. What
    /// a pattern matches is known only when the source lists its tools.
    pub fn check_reference(&self, reference: &str) -> Result<(), String> {
        match reference.split_once('.') {
            None if self.tools.contains_key(reference) => Ok(()),
            None => Err("no [[tools]] entry declares it".to_owned()),
            Some((source, pattern)) if self.sources.contains_key(source) => {
                if pattern.is_empty() {
                    Err(format!(
                        "it names no tool of `{source}`: write `{source}.<tool>` or `{source}.*`"
                    ))
                } else {
                    Ok(())
                }
            }
            Some((source, _)) => Err(format!("no [[mcp_servers]] entry is named `{source}`")),
        }
    }

    /// The tools `references` offer now, in their order, each once: a
    /// registered tool by its name, and for `source.pattern` every tool
    /// the source lists whose name matches (`*` matches any run of
    /// characters).
    pub fn offered(&self, references: &[String]) -> Vec<Arc<dyn Tool>> {
        let mut seen = std::collections::BTreeSet::new();
        let mut offered = Vec::new();
        for reference in references {
            match reference.split_once('.') {
                None => {
                    if let Some(r) = self.tools.get(reference)
                        && seen.insert(reference.clone())
                    {
                        offered.push(Arc::clone(&r.tool));
                    }
                }
                Some((source, pattern)) => {
                    let Some(source) = self.sources.get(source) else {
                        continue;
                    };
                    for (name, tool) in source.snapshot().iter() {
                        if glob(pattern, &tool.remote) && seen.insert(name.clone()) {
                            offered.push(Arc::clone(&tool.registered.tool));
                        }
                    }
                }
            }
        }
        offered
    }

    /// Whether an agent with `references` may call `name` now.
    pub fn offers(&self, references: &[String], name: &str) -> bool {
        if self.tools.contains_key(name) {
            return references.iter().any(|r| r == name);
        }
        let Some((source, _)) = name.split_once(SOURCE_SEPARATOR) else {
            return false;
        };
        let Some(tool) = self
            .sources
            .get(source)
            .and_then(|s| s.snapshot().get(name).cloned())
        else {
            return false;
        };
        references.iter().any(|r| {
            r.split_once('.')
                .is_some_and(|(s, pattern)| s == source && glob(pattern, &tool.remote))
        })
    }

    /// Checks a call before anything runs: the tool exists, the arguments
    /// are JSON and match its schema. The error is the outcome to show the
    /// model.
    pub fn prepare(&self, name: &str, raw_arguments: &str) -> Result<Prepared, ToolOutcome> {
        let Some(registered) = self.resolve(name) else {
            let known: Vec<String> = self.specs().into_iter().map(|s| s.name).collect();
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
            tool: registered.tool,
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

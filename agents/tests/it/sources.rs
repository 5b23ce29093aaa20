//! Tool sources (an MCP server's list) in the registry: agents' patterns,
//! and tools that appear and disappear while the process runs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use vigil_agents::ToolRegistry;
use vigil_agents::registry::{Registered, SourcedTool, ToolSource};
use vigil_agents::tool::{ApprovalPolicy, CallContext, Effect, Tool, ToolError, ToolSpec};

#[derive(Debug)]
struct Fixed(ToolSpec);

#[async_trait]
impl Tool for Fixed {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn call(&self, _: &CallContext, arguments: &Value) -> Result<String, ToolError> {
        Ok(format!("{} ran with {arguments}", self.0.name))
    }
}

fn tool(name: &str) -> Arc<dyn Tool> {
    Arc::new(Fixed(ToolSpec {
        name: name.to_owned(),
        description: format!("{name} (test)"),
        parameters: json!({"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"]}),
        effect: Effect::Read,
        approval: ApprovalPolicy::default(),
    }))
}

/// A source whose list the test sets.
#[derive(Debug, Default)]
struct Listed(Mutex<Arc<BTreeMap<String, SourcedTool>>>);

impl Listed {
    fn set(&self, source: &str, remotes: &[&str]) {
        let tools = remotes
            .iter()
            .map(|remote| {
                let name = format!("{source}__{remote}");
                let registered = Registered::new(tool(&name)).unwrap();
                (
                    name,
                    SourcedTool {
                        remote: (*remote).to_owned(),
                        registered,
                    },
                )
            })
            .collect();
        *self.0.lock().unwrap() = Arc::new(tools);
    }
}

impl ToolSource for Listed {
    fn snapshot(&self) -> Arc<BTreeMap<String, SourcedTool>> {
        Arc::clone(&self.0.lock().unwrap())
    }
}

fn registry() -> (ToolRegistry, Arc<Listed>) {
    let mut registry = ToolRegistry::new(1024);
    registry.register(tool("siem_search")).unwrap();
    let edr = Arc::new(Listed::default());
    edr.set("edr", &["isolate_host", "list_hosts", "get_host"]);
    registry.register_source("edr", edr.clone()).unwrap();
    (registry, edr)
}

fn names(tools: &[Arc<dyn Tool>]) -> Vec<String> {
    tools.iter().map(|t| t.spec().name.clone()).collect()
}

fn refs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn agents_name_source_tools_exactly_or_by_pattern() {
    let (registry, _) = registry();
    assert_eq!(
        names(&registry.offered(&refs(&["siem_search", "edr.isolate_host"]))),
        ["siem_search", "edr__isolate_host"]
    );
    assert_eq!(
        names(&registry.offered(&refs(&["edr.*"]))),
        ["edr__get_host", "edr__isolate_host", "edr__list_hosts"]
    );
    assert_eq!(
        names(&registry.offered(&refs(&["edr.*_host", "edr.get_*"]))),
        ["edr__get_host", "edr__isolate_host"]
    );
    let agent = refs(&["edr.get_*"]);
    assert!(registry.offers(&agent, "edr__get_host"));
    assert!(
        !registry.offers(&agent, "edr__isolate_host"),
        "a tool of the source the agent's pattern does not match"
    );
    assert!(!registry.offers(&agent, "siem_search"));
    assert!(registry.is_sourced("edr__get_host"));
    assert!(!registry.is_sourced("siem_search") && !registry.is_sourced("edr__gone"));
    assert_eq!(registry.check_reference("edr.anything_later"), Ok(()));
    assert!(registry.check_reference("intel.*").is_err());
    assert!(registry.check_reference("edr.").is_err());
    assert!(registry.check_reference("isolate_host").is_err());
}

#[test]
fn a_tool_that_leaves_the_list_is_an_unknown_tool_and_one_that_joins_is_offered() {
    let (registry, edr) = registry();
    let agent = refs(&["edr.*"]);
    assert!(
        registry
            .prepare("edr__isolate_host", r#"{"host":"ws-1"}"#)
            .is_ok()
    );

    edr.set("edr", &["list_hosts", "quarantine_file"]);
    assert!(!registry.offers(&agent, "edr__isolate_host"));
    let gone = registry
        .prepare("edr__isolate_host", r#"{"host":"ws-1"}"#)
        .unwrap_err();
    assert!(gone.is_error);
    assert!(
        gone.output.starts_with("unknown tool `edr__isolate_host`"),
        "{}",
        gone.output
    );
    assert!(registry.offers(&agent, "edr__quarantine_file"));
    assert_eq!(
        names(&registry.offered(&agent)),
        ["edr__list_hosts", "edr__quarantine_file"]
    );
    let bad = registry
        .prepare("edr__quarantine_file", r#"{"path":"x"}"#)
        .unwrap_err();
    assert!(bad.output.contains("invalid arguments"), "{}", bad.output);
}

#[test]
fn source_names_are_checked() {
    let (mut registry, edr) = registry();
    assert!(registry.register_source("edr", edr.clone()).is_err());
    assert!(registry.register_source("e.dr", edr.clone()).is_err());
    assert!(registry.register_source("e__dr", edr).is_err());
}

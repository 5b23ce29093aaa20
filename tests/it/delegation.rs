//! A parent delegating to two children, end to end: an orchestrator token
//! drives a real `vigil serve` (real mode, SQLite, the scripted model)
//! over MCP with the official Python SDK, as `docs/mcp.md` walks through:
//! it dispatches the orchestrator agent, waits until it has finished, and
//! reads the tree; `vigil show` prints it.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vigil_agents::testing::model::{self as scripted, tool_calls};

use crate::support::*;

const RESULT: &str = r#"{"summary":"contained","key_findings":["one click"],"recommended_next_steps":["reset the password"],"confidence":0.8}"#;

fn results(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["role"] == "tool").count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_over_mcp_follows_a_parent_that_delegates_to_two_children() {
    let (model, script) = scripted::serve().await;
    script.respond_with(Arc::new(|body: &Value| {
        let system = body["messages"][0]["content"].as_str().unwrap_or_default();
        if system.starts_with("Orchestrate") && results(body) == 0 {
            let phishing =
                json!({"agent": "phishing", "prompt": "Was the sender spoofed?"}).to_string();
            let identity =
                json!({"agent": "identity", "prompt": "Did anyone sign in from the link?"})
                    .to_string();
            return tool_calls(&[
                ("delegate_investigation", &phishing, Some("ask-phishing")),
                ("delegate_investigation", &identity, Some("ask-identity")),
            ]);
        }
        tool_calls(&[("submit_result", RESULT, Some("final"))])
    }));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        format!(
            r#"
[database]
url = "sqlite://{db}"

[model]
base_url = "http://{model}/v1"
model = "scripted-1"
retry = {{ max_retries = 0 }}

[[agents]]
id = "orchestrator"
system_prompt = "Orchestrate: delegate each question, then submit_result."
tools = ["delegate_investigation"]
budget = {{ max_children = 2, max_depth = 1 }}

[[agents]]
id = "phishing"
system_prompt = "Phishing analyst: answer, then submit_result."

[[agents]]
id = "identity"
system_prompt = "Identity analyst: answer, then submit_result."

[worker]
poll_interval = "200ms"
"#,
            db = dir.path().join("vigil.db").display(),
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let (mut proc, _admin) = serve(dir.path(), &[], &listen);
    let url = format!("http://{listen}");
    let orchestrator = ok(&vigil(
        dir.path(),
        &[
            "token",
            "create",
            "--name",
            "soar",
            "--role",
            "orchestrator",
        ],
    ))
    .trim()
    .to_owned();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_client.py");
    let mut cmd = Command::new(mcp_python());
    cmd.arg(script)
        .args(["http", &url, &orchestrator, "delegate", "walkthrough"]);
    let out: Value = serde_json::from_str(&ok(&finish(cmd, Duration::from_secs(300)))).unwrap();

    let parent = &out["investigation"];
    assert_eq!(parent["status"], "completed", "{out}\n{}", proc.log());
    assert_eq!(out["waited"]["reached"], true, "{out}");
    let children = parent["children"].as_array().unwrap();
    assert_eq!(children.len(), 2, "{parent}");
    let mut agents: Vec<&str> = children
        .iter()
        .map(|c| c["agent_id"].as_str().unwrap())
        .collect();
    agents.sort_unstable();
    assert_eq!(agents, ["identity", "phishing"]);
    for child in out["children"].as_array().unwrap() {
        assert_eq!(child["status"], "completed", "{child}");
        assert_eq!(child["parent"]["id"], parent["id"], "{child}");
        assert_eq!(child["parent"]["depth"], 1);
        assert_eq!(child["trace_id"], parent["trace_id"], "one tree, one trace");
    }
    let progress: Vec<String> = out["progress"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    for kind in ["awaiting_children", "children_finished", "completed"] {
        assert!(
            progress.iter().any(|p| p.ends_with(kind)),
            "progress names {kind}: {progress:?}"
        );
    }

    let id = parent["id"].as_str().unwrap();
    let shown = ok(&finish(
        client(dir.path(), &url, Some(&orchestrator), &["show", id]),
        Duration::from_secs(60),
    ));
    assert!(shown.contains("Delegated"), "{shown}");
    for child in children {
        assert!(shown.contains(child["id"].as_str().unwrap()), "{shown}");
    }
    let child = children[0]["id"].as_str().unwrap();
    let shown = ok(&finish(
        client(dir.path(), &url, Some(&orchestrator), &["show", child]),
        Duration::from_secs(60),
    ));
    assert!(shown.contains(&format!("delegated by: {id}")), "{shown}");
    proc.stop_gracefully();
}

//! Vigil as an MCP server, driven by the official Python MCP SDK (`mcp`
//! from PyPI: a third-party client) against a real `vigil serve` in dummy
//! mode: over streamable HTTP at `/mcp` and over `vigil mcp` on stdio it
//! lists the tools, dispatches (idempotently), waits with progress until the
//! run parks on its approval, and after a person approves waits again and
//! reads the result; a token without the orchestrator role is refused as
//! the REST API refuses it, and a request without a token gets the API's
//! 401. The client runs in a virtual environment under the target
//! directory, made on first use; a missing Python or registry fails the
//! test, loudly.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::cases_cli::{Server, json};
use crate::support::*;

/// Runs the client script with `args`; its JSON answer.
fn client(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_client.py");
    let mut cmd = Command::new(mcp_python());
    cmd.arg(script).args(args);
    json(&ok(&finish(cmd, Duration::from_secs(240))))
}

fn approve(server: &Server, approver: &str, approval: &str) {
    let out = finish(
        server.vigil_as(approver, &["approve", approval, "--comment", "contain it"]),
        Duration::from_secs(60),
    );
    ok(&out);
}

fn progress(answer: &Value) -> Vec<String> {
    answer["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn an_mcp_client_dispatches_waits_and_reads_over_http_and_stdio() {
    let server = Server::dummy();
    let soar = server.token("soar", "orchestrator");
    let dee = server.token("dee", "approver");
    let aude = server.token("aude", "auditor");
    let url = server.url().to_owned();
    let vigil = env!("CARGO_BIN_EXE_vigil");

    for (transport, ident) in [("http", "one"), ("stdio", "two")] {
        let args = |step: &str, id: &str| -> Vec<String> {
            let mut a = vec![transport.to_owned()];
            if transport == "stdio" {
                a.push(vigil.to_owned());
            }
            a.extend([url.clone(), soar.clone(), step.to_owned(), id.to_owned()]);
            a
        };
        let run = |a: Vec<String>| client(&a.iter().map(String::as_str).collect::<Vec<_>>());

        let seen = run(args("dispatch", ident));
        let tools: Vec<&str> = seen["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        for tool in [
            "dispatch_investigation",
            "get_investigation",
            "wait_for_investigation",
            "list_investigations",
            "get_timeline",
            "list_pending_approvals",
            "create_case",
            "get_case",
            "add_observable",
            "add_comment",
        ] {
            assert!(tools.contains(&tool), "{transport}: {tool} in {tools:?}");
        }
        assert!(
            !tools
                .iter()
                .any(|t| t.contains("decide") || t.contains("approve"))
        );
        // The schema is the OpenAPI body's, with the key header beside it.
        let schema = &seen["schema"];
        assert_eq!(
            schema["required"],
            serde_json::json!(["agent_id", "prompt"]),
            "{schema}"
        );
        for field in ["agent_id", "prompt", "case_id", "budget", "idempotency_key"] {
            assert!(
                schema["properties"].get(field).is_some(),
                "{field}: {schema}"
            );
        }
        assert_eq!(seen["dispatch_error"], false, "{seen}");
        let id = seen["id"].as_str().unwrap().to_owned();
        assert_eq!(seen["again_id"], id.as_str(), "the key makes a retry safe");
        assert_eq!(seen["waited"]["reached"], true, "{seen}");
        assert_eq!(
            seen["waited"]["investigation"]["phase"],
            "awaiting_approval"
        );
        let events = progress(&seen);
        assert!(
            events.iter().any(|p| p.ends_with("dispatched"))
                && events.iter().any(|p| p.ends_with("approval_requested")),
            "{transport}: progress {events:?}"
        );
        assert_eq!(seen["bad_error"], true, "{seen}");
        assert_eq!(seen["bad"]["status"], 404, "{seen}");
        let approval = seen["waited"]["investigation"]["waiting_on"]
            .as_str()
            .unwrap()
            .to_owned();
        // The inbox is read by approvers, operators and auditors, over MCP
        // as over REST: an orchestrator is refused it, and may read only
        // the requests of an investigation it dispatched.
        assert_eq!(seen["approvals"]["status"], 403, "{seen}");
        let own = seen["own_approvals"]["items"].as_array().unwrap();
        assert_eq!(own.len(), 1, "{seen}");
        assert_eq!(own[0]["id"].as_str(), Some(approval.as_str()), "{seen}");

        approve(&server, &dee, &approval);
        let done = run(args("finish", &id));
        assert_eq!(done["waited"]["reached"], true, "{done}");
        let inv = &done["investigation"];
        assert_eq!(inv["status"], "completed", "{done}");
        assert!(
            inv["result"]["summary"]
                .as_str()
                .unwrap()
                .contains("185.220.101.4"),
            "{done}"
        );
        assert!(
            progress(&done).iter().any(|p| p.ends_with("completed")),
            "{done}"
        );
        assert!(
            !done["timeline"]["items"].as_array().unwrap().is_empty(),
            "{done}"
        );

        // An auditor may read, not dispatch: the REST API's 403, as a tool error.
        let mut refused = args("refused", ident);
        refused[if transport == "stdio" { 3 } else { 2 }] = aude.clone();
        let refused = run(refused);
        assert_eq!(refused["error"], true, "{refused}");
        assert_eq!(refused["body"]["status"], 403, "{refused}");
    }

    // No token: the API's 401 before any MCP.
    let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 401);
    server.stop();
}

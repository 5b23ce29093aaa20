//! `vigil check`: the agent configuration as the binary reads it.

use crate::support::*;

fn write(dir: &std::path::Path, toml: &str) {
    std::fs::write(dir.join("vigil.toml"), toml).unwrap();
}

const MODEL: &str = r#"
[model]
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4o-mini"
api_key = "sk-secret-never-print-me"
"#;

#[test]
fn without_a_model_the_offline_showcase_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("mode: dummy"), "{text}");
    assert!(text.contains("scripted showcase"), "{text}");
    assert!(
        text.contains("agent: triage (tools: siem_search, ip_reputation, isolate_host)"),
        "{text}"
    );
    assert!(
        text.contains("tool: isolate_host (write, approval required, expires in 15m)"),
        "{text}"
    );
}

#[test]
fn the_sample_configuration_in_the_repository_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/vigil.toml"),
        dir.path().join("vigil.toml"),
    )
    .unwrap();
    let out = vigil(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("mode: dummy"), "{text}");
    assert!(text.contains("tool: threat_intel_lookup (read)"), "{text}");
}

#[test]
fn a_configured_model_means_real_mode_and_its_key_never_prints() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), MODEL);
    let out = vigil(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("mode: real") && text.contains("model: gpt-4o-mini at http://127.0.0.1:9/v1"),
        "{text}"
    );
    assert!(
        !text.contains("triage"),
        "the showcase agent is not added next to a real model: {text}"
    );
    let dry = vigil(dir.path(), &["--mode", "dry_run", "check"]);
    assert!(stdout(&dry).contains("mode: dry_run"), "{}", stdout(&dry));
    for out in [&out, &dry] {
        assert!(!stdout(out).contains("sk-secret") && !stderr(out).contains("sk-secret"));
    }
}

#[test]
fn the_showcase_is_never_used_in_place_of_a_configured_model() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &format!("mode = \"dummy\"\n{MODEL}"));
    let out = vigil(dir.path(), &["check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("never a configured one"),
        "{}",
        stderr(&out)
    );
    let no_model = tempfile::tempdir().unwrap();
    let out = vigil(no_model.path(), &["--mode", "real", "check"]);
    assert!(
        stderr(&out).contains("needs a [model] section"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn declaration_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        r#"
[[agents]]
id = "phish"
system_prompt = "Look at phishing."
tools = ["mailbox_search"]
"#,
    );
    let out = vigil(dir.path(), &["check"]);
    assert!(
        stderr(&out)
            .contains("agent `phish` uses tool `mailbox_search`: no [[tools]] entry declares it"),
        "{}",
        stderr(&out)
    );

    write(
        dir.path(),
        r#"
[[tools]]
kind = "http"
name = "edr"
description = "EDR"
url = "https://edr.example/hosts"
headers = { Authorization = "Bearer ${VIGIL_E2E_EDR_TOKEN}" }
"#,
    );
    let out = vigil(dir.path(), &["check"]);
    assert!(
        stderr(&out).contains("refers to ${VIGIL_E2E_EDR_TOKEN}, which is not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dispatch_knows_the_configured_agents() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(
        dir.path(),
        &[
            "admin",
            "dispatch",
            "--agent",
            "phishing",
            "Suspicious mail to the CFO",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown agent `phishing`; declared agents: summarize, triage"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("vigil.db").exists(), "nothing was written");

    let args = [
        "admin",
        "dispatch",
        "--agent",
        "triage",
        "--idempotency-key",
        "alert-4411",
        "--requested-by",
        "soar",
        "Failed SSH logins on web-01 from 185.220.101.4",
    ];
    let first = vigil(dir.path(), &args);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("pending/queued (dispatched; agent triage, mode dummy)"),
        "{}",
        stdout(&first)
    );
    let again = vigil(dir.path(), &args);
    assert!(
        stdout(&again).contains("already dispatched with this key"),
        "{}",
        stdout(&again)
    );
    let id = |out: &std::process::Output| stdout(out).split_whitespace().next().unwrap().to_owned();
    assert_eq!(id(&first), id(&again));
}

#[test]
fn case_tools_are_declared_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        r#"
[[tools]]
kind = "case"
name = "create_case"
allowed_severities = ["high", "critical"]

[[tools]]
kind = "case"
name = "add_comment"

[[agents]]
id = "orchestrator"
system_prompt = "Open a case for what you find."
tools = ["create_case", "add_comment"]
"#,
    );
    let out = vigil(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("agent: orchestrator (tools: create_case, add_comment)"),
        "{text}"
    );
    assert!(text.contains("tool: create_case (write)"), "{text}");
    assert!(text.contains("tool: add_comment (write)"), "{text}");

    write(
        dir.path(),
        r#"
[[tools]]
kind = "case"
name = "add_comment"
allowed_severities = ["high"]
"#,
    );
    let out = vigil(dir.path(), &["check"]);
    assert!(
        stderr(&out).contains("tool `add_comment`: allowed_severities applies to create_case only"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn mcp_servers_are_connected_and_their_tools_shown_with_vigils_policy() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("edr-state");
    std::fs::create_dir(&state).unwrap();
    let server =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_tool_server.py");
    write(
        dir.path(),
        &format!(
            r#"{MODEL}
[[mcp_servers]]
name = "edr"
command = "{python}"
args = ["{server}", "{state}"]
connect_timeout = "120s"
tools.lookup_host = {{ effect = "write" }}

[[mcp_servers]]
name = "intel"
url = "http://127.0.0.1:{port}/mcp"
connect_timeout = "2s"
headers = {{ Authorization = "Bearer ${{INTEL_TOKEN}}" }}

[[agents]]
id = "triage"
system_prompt = "Investigate."
tools = ["edr.*", "intel.*"]
"#,
            python = mcp_python().display(),
            server = server.display(),
            state = state.display(),
            port = free_port(),
        ),
    );
    let missing = vigil(dir.path(), &["check"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("`Authorization` refers to ${INTEL_TOKEN}, which is not set"),
        "{}",
        stderr(&missing)
    );

    let out = command(dir.path(), "warn")
        .env("INTEL_TOKEN", "intel-secret-never-print-me")
        .arg("check")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("mcp server: edr (connected)"), "{text}");
    assert!(text.contains("mcp server: intel (not reachable)"), "{text}");
    assert!(
        text.contains("tool: edr__isolate_host (write, approval required, expires in 15m)"),
        "no hint: a write that waits for a person\n{text}"
    );
    assert!(
        text.contains("tool: edr__enable_quarantine (read)\n"),
        "readOnlyHint: a read\n{text}"
    );
    assert!(
        text.contains("tool: edr__lookup_host (write, approval required"),
        "Vigil's policy overrides the server's readOnlyHint\n{text}"
    );
    assert!(!text.contains("intel-secret"), "{text}");
    assert!(!stderr(&out).contains("intel-secret"), "{}", stderr(&out));
}

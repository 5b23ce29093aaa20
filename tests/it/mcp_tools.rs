//! MCP servers as agent tools: a real `vigil serve` (real mode, SQLite)
//! runs an agent whose tools come from an EDR-like MCP server written with
//! the official Python SDK (`tests/it/mcp_tool_server.py`, over stdio),
//! against the scripted model on loopback. Calls are counted at the
//! server, which can hold a call open so the test can kill either side
//! while it is in flight.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_agents::testing::model::{self as scripted, Scripted, tool_calls};

use crate::support::*;

const RESULT: &str = r#"{"summary":"ws-1 contained","key_findings":["beaconing"],"recommended_next_steps":["reimage"],"confidence":0.7}"#;
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// A `vigil serve` whose agent `triage` may call every tool of the MCP
/// server `edr`.
struct Edr {
    dir: tempfile::TempDir,
    state: PathBuf,
    listen: String,
    url: String,
    admin: String,
    proc: Option<Proc>,
}

impl Edr {
    async fn start(responder: scripted::Responder, extra: &str) -> (Edr, Scripted) {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("edr-state");
        std::fs::create_dir(&state).unwrap();
        let transport = format!(
            "command = \"{}\"\nargs = [\"{}\", \"{}\"]",
            mcp_python().display(),
            server_script().display(),
            state.display()
        );
        Edr::start_with(dir, state, responder, extra, &transport, &[]).await
    }

    /// As [`Edr::start`], with the `[[mcp_servers]]` entry's transport
    /// lines and the server process's environment given.
    async fn start_with(
        dir: tempfile::TempDir,
        state: PathBuf,
        responder: scripted::Responder,
        extra: &str,
        transport: &str,
        env: &[(&str, &str)],
    ) -> (Edr, Scripted) {
        let (model, script) = scripted::serve().await;
        script.respond_with(responder);
        let toml = format!(
            r#"
[database]
url = "sqlite://{db}"

[model]
base_url = "http://{model}/v1"
model = "scripted-1"
timeout = "60s"
retry = {{ max_retries = 0 }}

[[agents]]
id = "triage"
system_prompt = "Investigate with the EDR, then submit_result."
tools = ["edr.*"]
budget = {{ max_turns = 40 }}

[[mcp_servers]]
name = "edr"
{transport}
timeout = "20s"
connect_timeout = "120s"
# Vigil's policy over the server's hints: quarantine_file has none (a
# write), and needs no approval here.
tools.quarantine_file = {{ effect = "write", approval = {{ required = false }} }}

{extra}

[reaper]
schedule = "*/1 * * * * *"
"#,
            db = dir.path().join("vigil.db").display(),
        );
        std::fs::write(dir.path().join("vigil.toml"), toml).unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let (proc, admin) = serve_with_env(dir.path(), &[], env, &listen);
        let edr = Edr {
            url: format!("http://{listen}"),
            listen,
            state,
            admin: admin.expect("the first start prints an admin token"),
            proc: Some(proc),
            dir,
        };
        (edr, script)
    }

    fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log).unwrap_or_default()
    }

    fn run(&self, token: &str, args: &[&str]) -> Output {
        finish(
            client(self.dir.path(), &self.url, Some(token), args),
            Duration::from_secs(180),
        )
    }

    fn admin(&self, args: &[&str]) -> String {
        ok(&self.run(&self.admin, args))
    }

    fn dispatch(&self, prompt: &str) -> String {
        let out = self.admin(&["dispatch", "--agent", "triage", prompt]);
        out.split_whitespace().next().unwrap().to_owned()
    }

    fn until(&self, id: &str, state: &str) {
        let out = self.run(&self.admin, &["events", id, "--until-state", state]);
        assert!(out.status.success(), "{}\n{}", stderr(&out), self.log());
    }

    fn show(&self, id: &str) -> Value {
        serde_json::from_str(&self.admin(&["--json", "show", id])).unwrap()
    }

    fn events(&self, id: &str) -> Vec<Value> {
        self.admin(&["--json", "events", id])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The lines the server wrote to `name` (a tool's calls, its pids).
    fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.state.join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn hold(&self, tool: &str) {
        std::fs::write(self.state.join(format!("hold-{tool}")), "").unwrap();
    }

    fn release(&self, tool: &str) {
        std::fs::remove_file(self.state.join(format!("hold-{tool}"))).unwrap();
    }

    fn approver(&self) -> String {
        let out = vigil(
            self.dir.path(),
            &["token", "create", "--name", "ana", "--role", "approver"],
        );
        ok(&out).trim().to_owned()
    }
}

fn server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_tool_server.py")
}

async fn wait_until(
    what: &str,
    within: Duration,
    log: impl Fn() -> String,
    check: impl Fn() -> bool,
) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The results the model has seen, by tool call id.
fn results(body: &Value) -> HashMap<String, String> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn offered(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
        .collect()
}

fn kinds<'a>(events: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    events.iter().filter(move |e| e["kind"] == kind)
}

const WORKER: &str = r#"
[worker]
poll_interval = "200ms"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_uses_an_mcp_servers_tools_under_vigils_approval_policy() {
    // Look the host up (a read), isolate it (a write: it waits for an
    // approver), turn quarantine on (the server's list changes), then use
    // the new tool once the model is offered it, and submit.
    let responder: scripted::Responder = Arc::new(|body: &Value| {
        let seen = results(body);
        if !seen.contains_key("look") {
            return tool_calls(&[("edr__lookup_host", r#"{"host":"ws-1"}"#, Some("look"))]);
        }
        if !seen.contains_key("iso") {
            return tool_calls(&[("edr__isolate_host", r#"{"host":"ws-1"}"#, Some("iso"))]);
        }
        if !seen.contains_key("enable") {
            return tool_calls(&[("edr__enable_quarantine", "{}", Some("enable"))]);
        }
        if !offered(body).iter().any(|t| t == "edr__quarantine_file") {
            // Until Vigil has listed the tools again: read something else.
            let n = seen.len();
            let args = format!(r#"{{"host":"ws-{n}"}}"#);
            return tool_calls(&[("edr__lookup_host", &args, Some(&format!("poll{n}")))])
                .delayed(Duration::from_millis(300));
        }
        if !seen.contains_key("quar") {
            let args = format!(r#"{{"host":"ws-1","sha256":"{SHA}"}}"#);
            return tool_calls(&[("edr__quarantine_file", &args, Some("quar"))]);
        }
        tool_calls(&[("submit_result", RESULT, Some("final"))])
    });
    // Tracing on (to a collector that is not there): calls carry the trace.
    let traced = format!(
        "{WORKER}\n[telemetry]\nenabled = true\nendpoint = \"http://127.0.0.1:{}\"\n",
        free_port()
    );
    let (edr, script) = Edr::start(responder, &traced).await;
    let approver = edr.approver();

    let id = edr.dispatch("Beaconing from ws-1");
    edr.until(&id, "awaiting_approval");
    let detail = edr.show(&id);
    assert_eq!(detail["phase"], "awaiting_approval", "{detail}");
    let approval = &detail["pending_approval"];
    assert_eq!(approval["action"], "edr__isolate_host", "{detail}");
    assert_eq!(
        edr.lines("lookup_host.calls"),
        ["ws-1"],
        "the read ran at once"
    );
    assert!(
        edr.lines("isolate_host.calls").is_empty(),
        "the write waits for its approval"
    );

    let approval_id = approval["id"].as_str().unwrap().to_owned();
    ok(&edr.run(
        &approver,
        &["approve", &approval_id, "--comment", "contain it"],
    ));
    edr.until(&id, "finished");
    let detail = edr.show(&id);
    assert_eq!(detail["status"], "completed", "{detail}\n{}", edr.log());
    assert_eq!(
        edr.lines("isolate_host.calls"),
        ["ws-1"],
        "run once, after approval"
    );
    assert_eq!(
        edr.lines("quarantine_file.calls"),
        [format!("ws-1 {SHA}")],
        "the tool that joined the list was offered and called, without approval as configured"
    );

    let events = edr.events(&id);
    let effect = |call: &str| {
        kinds(&events, "tool_intent")
            .find(|e| e["payload"]["tool_call_id"] == call)
            .map(|e| e["payload"]["effect"].clone())
    };
    assert_eq!(effect("look"), Some("read".into()), "readOnlyHint: a read");
    assert_eq!(effect("iso"), Some("write".into()), "no hint: a write");
    assert_eq!(effect("quar"), Some("write".into()));
    assert_eq!(kinds(&events, "approval_requested").count(), 1);
    assert!(
        kinds(&events, "tool_result").all(|e| e["payload"]["is_error"] == false),
        "{events:#?}"
    );

    let requests = script.requests();
    let first = offered(&requests[0].1);
    for tool in [
        "edr__lookup_host",
        "edr__isolate_host",
        "edr__enable_quarantine",
    ] {
        assert!(first.iter().any(|t| t == tool), "{first:?}");
    }
    assert!(
        !first.iter().any(|t| t == "edr__quarantine_file"),
        "{first:?}"
    );

    // Every call carried its idempotency key in `_meta`.
    let meta = std::fs::read_to_string(edr.state.join("meta.jsonl")).unwrap();
    assert!(
        meta.contains(&format!("\"vigil/idempotency_key\": \"{id}:look\"")),
        "{meta}"
    );
    assert!(meta.contains(&format!("{id}:iso")), "{meta}");
    let trace = detail["trace_id"].as_str().unwrap();
    let traced: Vec<Value> = meta
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        traced.iter().all(|m| m["traceparent"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("00-{trace}-")))),
        "every call carries the run's trace ({trace}): {meta}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_during_an_mcp_write_sends_the_run_to_review_without_a_second_call() {
    let responder: scripted::Responder = Arc::new(|body: &Value| {
        if results(body).contains_key("iso") {
            return tool_calls(&[("submit_result", RESULT, Some("final"))]);
        }
        tool_calls(&[("edr__isolate_host", r#"{"host":"ws-1"}"#, Some("iso"))])
    });
    // The lease outlasts the tool's timeout (a write is sent only then);
    // after the kill the reaper needs it to run out.
    let worker = r#"
[worker]
poll_interval = "200ms"
lease = "25s"
"#;
    let (mut edr, _script) = Edr::start(responder, worker).await;
    let approver = edr.approver();
    let id = edr.dispatch("Beaconing from ws-1");
    edr.until(&id, "awaiting_approval");
    let approval = edr.show(&id)["pending_approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    edr.hold("isolate_host");
    ok(&edr.run(&approver, &["approve", &approval]));
    wait_until(
        "the write to reach the server",
        Duration::from_secs(120),
        || edr.log(),
        || edr.lines("isolate_host.calls").len() == 1,
    )
    .await;
    edr.proc.take().unwrap().kill(); // SIGKILL, between the intent and its result
    edr.release("isolate_host");

    let (proc, _) = serve(edr.dir.path(), &[], &edr.listen);
    edr.proc = Some(proc);
    wait_until(
        "the reaper to dead-letter the run",
        Duration::from_secs(120),
        || edr.log(),
        || edr.show(&id)["status"] == "dead_lettered",
    )
    .await;
    edr.admin(&["rescue", &id, "--reason", "worker host died"]);
    edr.until(&id, "finished");
    let detail = edr.show(&id);
    assert_eq!(
        detail["status"],
        "review_required",
        "{detail}\n{}",
        edr.log()
    );
    assert!(
        detail.to_string().contains("unknown"),
        "the review names the unknown outcome: {detail}"
    );
    assert_eq!(
        edr.lines("isolate_host.calls"),
        ["ws-1"],
        "the write with an intent and no result was not sent again"
    );
    let events = edr.events(&id);
    assert_eq!(kinds(&events, "tool_intent").count(), 1);
    assert_eq!(kinds(&events, "tool_result").count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_server_killed_mid_call_is_an_error_result_and_is_started_again() {
    let responder: scripted::Responder = Arc::new(|body: &Value| {
        if results(body).contains_key("look") {
            return tool_calls(&[("submit_result", RESULT, Some("final"))]);
        }
        tool_calls(&[("edr__lookup_host", r#"{"host":"ws-1"}"#, Some("look"))])
    });
    let (edr, _script) = Edr::start(responder, WORKER).await;
    assert_eq!(edr.lines("pids").len(), 1, "one server started");

    edr.hold("lookup_host");
    let first = edr.dispatch("Beaconing from ws-1");
    wait_until(
        "the call to reach the server",
        Duration::from_secs(120),
        || edr.log(),
        || edr.lines("lookup_host.calls").len() == 1,
    )
    .await;
    let pid = edr.lines("pids")[0].clone();
    let killed = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    assert!(killed.success());
    edr.release("lookup_host");

    edr.until(&first, "finished");
    let detail = edr.show(&first);
    assert_eq!(detail["status"], "completed", "the run went on: {detail}");
    let events = edr.events(&first);
    let result = kinds(&events, "tool_result")
        .find(|e| e["payload"]["tool_call_id"] == "look")
        .expect("the call has a result")
        .clone();
    assert_eq!(result["payload"]["is_error"], true, "{result}");
    assert!(
        result["payload"]["output"]
            .as_str()
            .unwrap()
            .contains("MCP server `edr`"),
        "{result}"
    );

    wait_until(
        "the server to be started again",
        Duration::from_secs(120),
        || edr.log(),
        || edr.lines("pids").len() == 2,
    )
    .await;
    let metrics = || async {
        reqwest::get(format!("{}/api/v1/metrics", edr.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let errors = metrics().await;
    assert!(
        errors
            .lines()
            .any(|l| l.starts_with("vigil_mcp_server_errors_total") && l.contains("edr")),
        "{errors}"
    );
    // The server was marked down before it was started again: up again
    // means connected and listed.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !metrics()
        .await
        .lines()
        .any(|l| l == "vigil_mcp_server_up{server=\"edr\"} 1")
    {
        assert!(
            Instant::now() < deadline,
            "never reconnected:\n{}",
            edr.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Once it is back, the same tool works for the next run.
    let second = edr.dispatch("Beaconing from ws-2");
    edr.until(&second, "finished");
    let events = edr.events(&second);
    let result = kinds(&events, "tool_result").next().unwrap().clone();
    assert_eq!(
        result["payload"]["is_error"],
        false,
        "{result}\n{}",
        edr.log()
    );
    assert_eq!(edr.lines("lookup_host.calls").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_server_over_streamable_http_gets_its_headers_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("edr-state");
    std::fs::create_dir(&state).unwrap();
    let port = free_port();
    let mut python = Command::new(mcp_python());
    python
        .arg(server_script())
        .arg(&state)
        .args(["--http", &port.to_string()]);
    let mut server = Proc::spawn(
        python.stdout(std::process::Stdio::null()),
        &dir.path().join("edr-http.log"),
    );
    wait_until(
        "the HTTP server to listen",
        Duration::from_secs(120),
        || server.log(),
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    )
    .await;

    let responder: scripted::Responder = Arc::new(|body: &Value| {
        if results(body).contains_key("look") {
            return tool_calls(&[("submit_result", RESULT, Some("final"))]);
        }
        tool_calls(&[("edr__lookup_host", r#"{"host":"ws-1"}"#, Some("look"))])
    });
    let transport = format!(
        "url = \"http://127.0.0.1:{port}/mcp\"\nheaders = {{ Authorization = \"Bearer ${{EDR_TOKEN}}\" }}"
    );
    let (edr, _script) = Edr::start_with(
        dir,
        state,
        responder,
        WORKER,
        &transport,
        &[("EDR_TOKEN", "edr-secret-never-logged")],
    )
    .await;
    let id = edr.dispatch("Beaconing from ws-1");
    edr.until(&id, "finished");
    let detail = edr.show(&id);
    assert_eq!(detail["status"], "completed", "{detail}\n{}", edr.log());
    assert_eq!(edr.lines("lookup_host.calls"), ["ws-1"]);
    let headers = std::fs::read_to_string(edr.state.join("headers.jsonl")).unwrap();
    assert!(
        headers.contains("Bearer edr-secret-never-logged"),
        "the header, with ${{EDR_TOKEN}} read from the environment: {headers}"
    );
    assert!(
        !edr.log().contains("edr-secret-never-logged"),
        "the secret is never logged"
    );
    assert!(server.try_wait().is_none(), "{}", server.log());
}

//! OpenTelemetry traces from real `vigil` processes: a loopback OTLP/HTTP
//! receiver decodes what they export with the `opentelemetry-proto` types.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};
use vigil_agents::testing::model::{self as scripted, tool_calls};
use vigil_agents::testing::tools;

use crate::support::*;

const RESULT: &str = r#"{"summary":"host isolated","key_findings":["beaconing"],"recommended_next_steps":["reimage"],"confidence":0.9}"#;
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Spans received, in arrival order.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Span>>>);

impl Received {
    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }
}

async fn otlp_receiver() -> (SocketAddr, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(|State(r): State<Received>, body: Bytes| async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                let mut spans = r.0.lock().unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        spans.extend(scope.spans);
                    }
                }
                // An empty ExportTraceServiceResponse.
                Vec::<u8>::new()
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// A model that isolates a host (a write tool needing approval), then
/// submits.
async fn model() -> SocketAddr {
    let (addr, script) = scripted::serve().await;
    script.respond_with(Arc::new(|body: &Value| {
        let results = body["messages"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["role"] == "tool").count());
        match results {
            0 => tool_calls(&[("isolate_host", r#"{"host":"lab-01"}"#, Some("c1"))]),
            _ => tool_calls(&[("submit_result", RESULT, Some("final"))]),
        }
    }));
    addr
}

/// `worker` goes in `[worker]` after the defaults here.
fn config(
    dir: &Path,
    model: SocketAddr,
    tools: SocketAddr,
    otlp: SocketAddr,
    capture: bool,
    worker: &str,
) {
    let toml = format!(
        r#"
[model]
base_url = "http://{model}/v1"
model = "scripted-1"
retry = {{ max_retries = 0 }}

[[agents]]
id = "triage"
system_prompt = "Investigate, then submit_result."
tools = ["isolate_host", "lookup"]

[[tools]]
kind = "http"
name = "isolate_host"
description = "Isolate a host"
method = "POST"
url = "http://{tools}/echo/isolate"
effect = "write"
timeout = "5s"
parameters = {{ type = "object", properties = {{ host = {{ type = "string" }} }}, required = ["host"] }}
approval = {{ required = true }}

[[tools]]
kind = "http"
name = "lookup"
description = "Look a host up"
method = "POST"
url = "http://{tools}/echo/lookup"
timeout = "5s"
parameters = {{ type = "object", properties = {{ host = {{ type = "string" }} }}, required = ["host"] }}

[worker]
poll_interval = "200ms"
grace = "5s"
{worker}

[telemetry]
endpoint = "http://{otlp}"
service_name = "vigil-test"
capture_content = {capture}
flush_every = "200ms"
export_timeout = "2s"
"#
    );
    std::fs::write(dir.join("vigil.toml"), toml).unwrap();
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attr(span, key) {
        Some(Any::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

async fn get(base: &str, token: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the detail of `id` until `done` holds (at most a minute).
async fn wait_for(base: &str, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let detail = get(base, token, &format!("/investigations/{id}")).await;
        if done(&detail) {
            return detail;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {detail}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn one_investigation_is_one_trace_across_two_processes_and_its_tool_calls() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (otlp, received) = rt.block_on(otlp_receiver());
    let model = rt.block_on(model());
    let (tools, recorder) = rt.block_on(tools::serve());
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), model, tools, otlp, false, "");
    let database = format!("sqlite://{}", dir.path().join("vigil.db").display());

    // The first process takes the dispatch, with the caller's trace
    // context, and parks the run on the approval.
    let first = Served::start(dir.path(), &database);
    let approver = ok(&vigil(
        dir.path(),
        &[
            "--database",
            &database,
            "token",
            "create",
            "--name",
            "ana",
            "--role",
            "approver",
        ],
    ))
    .trim()
    .to_owned();
    let (base, token) = (first.base.clone(), first.token.clone());
    let id = rt.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{base}/investigations"))
            .bearer_auth(&token)
            .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
            .json(&json!({"agent_id": "triage", "prompt": "beaconing from lab-01"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let detail: Value = response.json().await.unwrap();
        assert_eq!(detail["trace_id"], TRACE, "{detail}");
        detail["id"].as_str().unwrap().to_owned()
    });
    let parked = rt.block_on(wait_for(&base, &token, &id, |d| {
        d["phase"] == "awaiting_approval"
    }));
    let approval = parked["pending_approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    first.stop_gracefully();

    // A second process approves and resumes it.
    let second = Served::start_again(dir.path(), &database, &token);
    let approved = finish(
        client(
            dir.path(),
            &second.base.replace("/api/v1", ""),
            Some(&approver),
            &["approve", &approval],
        ),
        Duration::from_secs(60),
    );
    assert!(approved.status.success(), "{}", stderr(&approved));
    let done = rt.block_on(wait_for(&second.base, &token, &id, |d| {
        d["status"] == "completed"
    }));
    assert_eq!(done["trace_id"], TRACE);
    let shown = ok(&finish(
        client(
            dir.path(),
            &second.base.replace("/api/v1", ""),
            Some(&token),
            &["show", &id],
        ),
        Duration::from_secs(60),
    ));
    assert!(shown.contains("trace:") && shown.contains(TRACE), "{shown}");
    second.stop_gracefully();

    // Both processes flushed at their graceful stop.
    let spans = received.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let ours: Vec<&Span> = spans
        .iter()
        .filter(|s| hex::encode(&s.trace_id) == TRACE)
        .collect();
    let segments = named(&spans, "invoke_agent triage");
    assert_eq!(segments.len(), 2, "one segment per claim: {names:?}");
    for segment in &segments {
        assert_eq!(hex::encode(&segment.trace_id), TRACE);
        assert_eq!(
            text(segment, "gen_ai.operation.name").as_deref(),
            Some("invoke_agent")
        );
        assert_eq!(
            text(segment, "gen_ai.agent.name").as_deref(),
            Some("triage")
        );
        assert_eq!(
            text(segment, "gen_ai.conversation.id").as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            text(segment, "gen_ai.provider.name").as_deref(),
            Some("openai")
        );
        assert_eq!(
            text(segment, "gen_ai.request.model").as_deref(),
            Some("scripted-1")
        );
    }
    let step = |s: &Span| text(s, "vigil.step");
    let parked = segments
        .iter()
        .find(|s| step(s).as_deref() == Some("awaiting_approval"))
        .unwrap_or_else(|| panic!("a segment parked: {segments:?}"));
    let resumed = segments
        .iter()
        .find(|s| step(s).as_deref() == Some("completed"))
        .unwrap_or_else(|| panic!("a segment completed: {segments:?}"));
    // The resumed segment links to the parked one: the approval wait is
    // that link, with the approval's id and outcome, not a span left open.
    assert!(parked.links.is_empty(), "the first segment follows none");
    assert_eq!(resumed.links.len(), 1, "{:?}", resumed.links);
    let link = &resumed.links[0];
    assert_eq!(link.trace_id, parked.trace_id);
    assert_eq!(link.span_id, parked.span_id);
    let link_text = |key: &str| {
        link.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
            .and_then(|v| match v {
                Any::StringValue(s) => Some(s.clone()),
                _ => None,
            })
    };
    assert_eq!(
        link_text("vigil.link.kind").as_deref(),
        Some("approval_wait")
    );
    assert_eq!(
        link_text("vigil.approval.id").as_deref(),
        Some(approval.as_str())
    );
    assert_eq!(
        link_text("vigil.approval.outcome").as_deref(),
        Some("approved")
    );
    assert!(
        link.attributes
            .iter()
            .any(|kv| kv.key == "vigil.approval.wait_ms"),
        "{:?}",
        link.attributes
    );
    // One `claim` per segment, in the run's trace; idle polls export none.
    let claims = named(&spans, "claim");
    assert_eq!(claims.len(), 2, "{names:?}");
    for claim in &claims {
        assert_eq!(hex::encode(&claim.trace_id), TRACE);
        assert_eq!(
            text(claim, "gen_ai.conversation.id").as_deref(),
            Some(id.as_str())
        );
        assert!(attr(claim, "vigil.lease.epoch").is_some());
    }
    let chats = named(&spans, "chat scripted-1");
    assert_eq!(chats.len(), 2, "{names:?}");
    for chat in &chats {
        assert_eq!(hex::encode(&chat.trace_id), TRACE);
        assert_eq!(text(chat, "gen_ai.operation.name").as_deref(), Some("chat"));
        assert!(attr(chat, "gen_ai.usage.input_tokens").is_some());
        assert!(attr(chat, "gen_ai.usage.output_tokens").is_some());
        assert!(attr(chat, "gen_ai.response.finish_reasons").is_some());
    }
    let tool = named(&spans, "execute_tool isolate_host");
    assert_eq!(tool.len(), 1, "{names:?}");
    let tool = tool[0];
    assert_eq!(hex::encode(&tool.trace_id), TRACE);
    assert_eq!(
        text(tool, "gen_ai.tool.name").as_deref(),
        Some("isolate_host")
    );
    assert_eq!(text(tool, "gen_ai.tool.call.id").as_deref(), Some("c1"));
    assert_eq!(text(tool, "gen_ai.tool.type").as_deref(), Some("extension"));
    assert_eq!(
        text(tool, "vigil.tool.approval").as_deref(),
        Some("approved")
    );
    assert!(
        attr(tool, "gen_ai.tool.call.arguments").is_none(),
        "content off"
    );
    assert!(
        attr(tool, "gen_ai.tool.call.result").is_none(),
        "content off"
    );
    assert!(!named(&spans, "checkpoint").is_empty(), "{names:?}");
    assert!(
        !named(&spans, "dispatch_investigation").is_empty(),
        "{names:?}"
    );
    assert!(ours.len() >= 6, "{names:?}");

    // The tool was called inside the trace, under its execute_tool span.
    let calls = recorder.all();
    assert_eq!(calls.len(), 1);
    let sent = calls[0].headers["traceparent"].to_str().unwrap().to_owned();
    assert_eq!(
        sent,
        format!("00-{TRACE}-{}-01", hex::encode(&tool.span_id))
    );
}

#[test]
fn a_collector_that_is_down_costs_spans_not_runs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let model = rt.block_on(async {
        let (addr, script) = scripted::serve().await;
        script.respond_with(Arc::new(|_: &Value| {
            tool_calls(&[("submit_result", RESULT, Some("final"))])
        }));
        addr
    });
    let (tools, _) = rt.block_on(tools::serve());
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there.
    let down: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    config(dir.path(), model, tools, down, true, "");
    let database = format!("sqlite://{}", dir.path().join("vigil.db").display());
    let server = Served::start(dir.path(), &database);
    let (base, token) = (server.base.clone(), server.token.clone());
    rt.block_on(async {
        let detail: Value = reqwest::Client::new()
            .post(format!("{base}/investigations"))
            .bearer_auth(&token)
            .json(&json!({"agent_id": "triage", "prompt": "anything"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = detail["id"].as_str().unwrap().to_owned();
        assert_eq!(
            detail["trace_id"].as_str().map(str::len),
            Some(32),
            "{detail}"
        );
        wait_for(&base, &token, &id, |d| d["status"] == "completed").await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let metrics = reqwest::Client::new()
                .get(format!("{base}/metrics"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let dropped = metrics.lines().find(|l| {
                l.starts_with("vigil_telemetry_spans_dropped_total")
                    && l.contains("reason=\"export_failed\"")
            });
            if let Some(line) = dropped {
                let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                assert!(n > 0.0, "{line}");
                // The GenAI client metrics, by operation, model and token
                // type: one model call, its tokens in and out.
                for series in [
                    "gen_ai_client_operation_duration_seconds_count{",
                    "gen_ai_client_token_usage_count{",
                ] {
                    let line = metrics
                        .lines()
                        .find(|l| l.starts_with(series))
                        .unwrap_or_else(|| panic!("{series}:\n{metrics}"));
                    assert!(
                        line.contains("gen_ai_operation_name=\"chat\"")
                            && line.contains("gen_ai_request_model=\"scripted-1\""),
                        "{line}"
                    );
                }
                for kind in ["input", "output"] {
                    assert!(
                        metrics
                            .lines()
                            .any(|l| l.starts_with("gen_ai_client_token_usage_bucket{")
                                && l.contains(&format!("gen_ai_token_type=\"{kind}\""))),
                        "{metrics}"
                    );
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no dropped-span count:\n{metrics}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    server.stop_gracefully();
}

#[test]
fn a_reaped_and_rescued_run_shows_the_reap_the_rescue_and_captured_content() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (otlp, received) = rt.block_on(otlp_receiver());
    // The first model call stalls (the worker is killed during it); after
    // the rescue the model looks the host up, then submits.
    let model = rt.block_on(async {
        let (addr, script) = scripted::serve().await;
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        script.respond_with(Arc::new(move |body: &Value| {
            let first = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            let results = body["messages"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["role"] == "tool").count());
            match results {
                0 if first => tool_calls(&[("lookup", r#"{"host":"lab-01"}"#, Some("l1"))])
                    .delayed(Duration::from_secs(60)),
                0 => tool_calls(&[("lookup", r#"{"host":"lab-01"}"#, Some("l1"))]),
                _ => tool_calls(&[("submit_result", RESULT, Some("final"))]),
            }
        }));
        addr
    });
    let (tools, _) = rt.block_on(tools::serve());
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        model,
        tools,
        otlp,
        true,
        "lease = \"3s\"\n\n[reaper]\nschedule = \"*/1 * * * * *\"",
    );
    let database = format!("sqlite://{}", dir.path().join("vigil.db").display());

    let first = Served::start(dir.path(), &database);
    let (base, token) = (first.base.clone(), first.token.clone());
    let id = rt.block_on(async {
        let detail: Value = reqwest::Client::new()
            .post(format!("{base}/investigations"))
            .bearer_auth(&token)
            .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
            .json(&json!({"agent_id": "triage", "prompt": "beaconing from lab-01"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = detail["id"].as_str().unwrap().to_owned();
        wait_for(&base, &token, &id, |d| d["phase"] == "running").await;
        id
    });
    // Inside the stalled model call.
    std::thread::sleep(Duration::from_millis(500));
    first.kill();

    let second = Served::start_again(dir.path(), &database, &token);
    let base = second.base.clone();
    rt.block_on(async {
        wait_for(&base, &token, &id, |d| d["status"] == "dead_lettered").await;
        let rescued = reqwest::Client::new()
            .post(format!("{base}/investigations/{id}/rescue"))
            .bearer_auth(&token)
            .json(&json!({"reason": "worker host died"}))
            .send()
            .await
            .unwrap();
        assert_eq!(rescued.status(), 200);
        wait_for(&base, &token, &id, |d| d["status"] == "completed").await;
    });
    second.stop_gracefully();

    let spans = received.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let reaps = named(&spans, "reap");
    assert!(!reaps.is_empty(), "{names:?}");
    let reap = reaps
        .iter()
        .find(|r| match attr(r, "vigil.investigation.ids") {
            Some(Any::ArrayValue(ids)) => ids
                .values
                .iter()
                .any(|v| v.value == Some(Any::StringValue(id.clone()))),
            _ => false,
        })
        .unwrap_or_else(|| panic!("a reap names the run: {reaps:?}"));
    assert!(matches!(attr(reap, "vigil.reaped"), Some(Any::IntValue(n)) if *n >= 1));
    let rescue = named(&spans, "rescue");
    assert_eq!(rescue.len(), 1, "{names:?}");
    assert_eq!(hex::encode(&rescue[0].trace_id), TRACE);
    assert_eq!(
        text(rescue[0], "gen_ai.conversation.id").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        text(rescue[0], "vigil.rescued_by").as_deref(),
        Some("admin")
    );
    assert!(attr(rescue[0], "vigil.attempt").is_some());

    // The segment after the rescue links to the killed one (recorded in the
    // store when it started, though its span never reached the receiver).
    let segments = named(&spans, "invoke_agent triage");
    assert_eq!(segments.len(), 1, "{names:?}");
    assert_eq!(segments[0].links.len(), 1, "{:?}", segments[0].links);
    assert_eq!(hex::encode(&segments[0].links[0].trace_id), TRACE);

    // capture_content = true: the tool call's arguments and result are on
    // its span.
    let tool = named(&spans, "execute_tool lookup");
    assert_eq!(tool.len(), 1, "{names:?}");
    let arguments = text(tool[0], "gen_ai.tool.call.arguments").unwrap_or_default();
    assert!(arguments.contains("lab-01"), "{arguments}");
    assert!(
        text(tool[0], "gen_ai.tool.call.result").is_some_and(|r| !r.is_empty()),
        "{:?}",
        tool[0].attributes
    );
}

/// The case routes and alert grouping under `sampling_ratio` `ratio`: the
/// ids of the three runs (case dispatch, summary, grouping triage) and the
/// spans received.
fn case_routes_and_alert_grouping(ratio: f64) -> ([String; 3], [String; 3], Vec<Span>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (otlp, received) = rt.block_on(otlp_receiver());
    let model = rt.block_on(async {
        let (addr, script) = scripted::serve().await;
        script.respond_with(Arc::new(|_: &Value| {
            tool_calls(&[("submit_result", RESULT, Some("final"))])
        }));
        addr
    });
    let (tools, _) = rt.block_on(tools::serve());
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"
[[agents]]
id = "summarize"
system_prompt = "Summarize the case, then submit_result."

[[grouping_rules]]
entity_types = ["ip"]
window = "1h"
investigate = "triage"
"#;
    config(dir.path(), model, tools, otlp, false, extra);
    let toml = std::fs::read_to_string(dir.path().join("vigil.toml")).unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        toml.replace(
            "flush_every = \"200ms\"",
            &format!("flush_every = \"200ms\"\nsampling_ratio = {ratio:?}"),
        ),
    )
    .unwrap();
    let database = format!("sqlite://{}", dir.path().join("vigil.db").display());
    let server = Served::start(dir.path(), &database);
    let (base, token) = (server.base.clone(), server.token.clone());
    let caller = |n: u8| format!("00-{TRACE}-00f067aa0ba902b{n}-01");
    let (ids, traces) = rt.block_on(async {
        let http = reqwest::Client::new();
        let post = |path: String, body: Value, traceparent: Option<String>| {
            let mut request = http.post(format!("{base}{path}")).bearer_auth(&token);
            if let Some(t) = traceparent {
                request = request.header("traceparent", t);
            }
            async move {
                let response = request.json(&body).send().await.unwrap();
                assert!(
                    response.status().is_success(),
                    "{path}: {}",
                    response.status()
                );
                response.json::<Value>().await.unwrap()
            }
        };
        let case = post("/cases".into(), json!({"title": "beaconing"}), None).await;
        let case = case["id"].as_str().unwrap().to_owned();
        let dispatched = post(
            format!("/cases/{case}/investigations"),
            json!({"agent_id": "triage", "prompt": "look at lab-01"}),
            Some(caller(1)),
        )
        .await;
        let summary = post(
            format!("/cases/{case}/summarize"),
            Value::Null,
            Some(caller(2)),
        )
        .await;
        let ingested = post(
            "/alerts".into(),
            json!({"source": "splunk", "source_id": "d-1", "rule": "SSH brute force",
                   "severity": "high", "raw": {"src_ip": "185.220.101.4"}}),
            Some(caller(3)),
        )
        .await;
        let alert_case = ingested["case"]["id"].as_str().unwrap().to_owned();
        let linked = get(
            &base,
            &token,
            &format!("/cases/{alert_case}/investigations"),
        )
        .await;
        let triage = linked["items"][0]["id"].as_str().unwrap().to_owned();
        let ids = [
            dispatched["id"].as_str().unwrap().to_owned(),
            summary["id"].as_str().unwrap().to_owned(),
            triage,
        ];
        let mut traces = Vec::new();
        for id in &ids {
            let done = wait_for(&base, &token, id, |d| d["status"] != "pending").await;
            traces.push(done["trace_id"].as_str().unwrap().to_owned());
        }
        (ids, traces.try_into().unwrap())
    });
    server.stop_gracefully();
    (ids, traces, received.spans())
}

#[test]
fn case_dispatches_join_the_callers_trace_and_a_grouping_dispatch_starts_one_that_is_exported() {
    let (ids, traces, spans) = case_routes_and_alert_grouping(1.0);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    // The case routes take the caller's traceparent.
    assert_eq!(traces[0], TRACE);
    assert_eq!(traces[1], TRACE);
    let in_trace = |id: &str| {
        spans
            .iter()
            .filter(|s| text(s, "gen_ai.conversation.id").as_deref() == Some(id))
            .filter(|s| s.name.starts_with("invoke_agent"))
            .collect::<Vec<_>>()
    };
    for id in &ids[..2] {
        let segments = in_trace(id);
        assert_eq!(segments.len(), 1, "{names:?}");
        assert_eq!(hex::encode(&segments[0].trace_id), TRACE);
    }
    // The grouping dispatch has a trace of its own (not the caller's, not
    // the run's id), and its segment hangs under the exported ingest span.
    assert_ne!(traces[2], TRACE);
    assert_ne!(traces[2], ids[2].replace('-', ""));
    let ingest = named(&spans, "ingest_alert");
    assert_eq!(ingest.len(), 1, "{names:?}");
    assert_eq!(hex::encode(&ingest[0].trace_id), traces[2]);
    let segments = in_trace(&ids[2]);
    assert_eq!(segments.len(), 1, "{names:?}");
    assert_eq!(segments[0].parent_span_id, ingest[0].span_id);
}

#[test]
fn sampling_drops_new_traces_and_keeps_a_callers_sampled_one() {
    let (ids, traces, spans) = case_routes_and_alert_grouping(0.0);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(traces[0], TRACE);
    assert!(
        spans
            .iter()
            .any(|s| text(s, "gen_ai.conversation.id").as_deref() == Some(ids[0].as_str())),
        "a caller's sampled trace is kept: {names:?}"
    );
    assert!(
        spans.iter().all(|s| hex::encode(&s.trace_id) != traces[2]),
        "the grouping dispatch's new trace is sampled out: {names:?}"
    );
    assert!(named(&spans, "ingest_alert").is_empty(), "{names:?}");
}

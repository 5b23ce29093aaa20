//! A case's linked investigation in a real browser, in `real` mode: a
//! `vigil serve` on PostgreSQL whose model is a scripted OpenAI-compatible
//! server on loopback and whose `isolate_host` is a write tool on a
//! recording HTTP server, needing approval.
//!
//! From the case page an analyst dispatches a triage investigation; its
//! receipt card follows the run's own event stream and, with the case, goes
//! to `pending_approval`. A second principal approves in another window
//! (the approvals inbox); the tool is called once, and the write-back (the
//! result, the machine note) and the case's move to `in_progress` arrive on
//! the open page without a reload, the card's stream closing as its run
//! finishes.

use std::sync::Arc;

use serde_json::{Value, json};
use vigil_agents::testing::model::{self as scripted, tool_calls};
use vigil_agents::testing::tools;

use crate::support::{Served, TempDatabase, ok, vigil};

use super::browser::{Browser, Driver};

const RESULT: &str = r#"{"summary":"Root logins from a Tor exit on web-01; host isolated","key_findings":["root logged in from 185.220.101.4","web-01 isolated"],"recommended_next_steps":["rotate root's password"],"confidence":0.85}"#;

/// The model: isolate web-01 first; once the tool has answered, submit.
async fn model() -> std::net::SocketAddr {
    let (addr, script) = scripted::serve().await;
    script.respond_with(Arc::new(|body: &Value| {
        let answered = body["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
        if answered {
            tool_calls(&[("submit_result", RESULT, Some("final"))])
        } else {
            tool_calls(&[("isolate_host", r#"{"host":"web-01"}"#, Some("iso-1"))])
        }
    }));
    addr
}

fn config(dir: &std::path::Path, model: std::net::SocketAddr, tools: std::net::SocketAddr) {
    let toml = format!(
        r#"
mode = "real"

[model]
base_url = "http://{model}/v1"
model = "scripted-1"
timeout = "60s"
retry = {{ max_retries = 0 }}

[[agents]]
id = "triage"
system_prompt = "Investigate, then submit_result."
tools = ["isolate_host"]

[[tools]]
kind = "http"
name = "isolate_host"
description = "Isolate a host from the network"
method = "POST"
url = "http://{tools}/echo/isolate/{{host}}"
effect = "write"
parameters = {{ type = "object", properties = {{ host = {{ type = "string" }} }}, required = ["host"] }}
approval = {{ required = true }}

[worker]
poll_interval = "200ms"
"#
    );
    std::fs::write(dir.join("vigil.toml"), toml).unwrap();
}

async fn post(base: &str, token: &str, path: &str, body: Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_investigation_parks_the_case_on_its_approval_and_writes_back_live() {
    let db = TempDatabase::create().await;
    let (tool_addr, calls) = tools::serve().await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), model().await, tool_addr);
    ok(&vigil(dir.path(), &["--database", &db.url, "migrate"]));
    let served = Served::start(dir.path(), &db.url);
    let base = served.base.clone();
    let admin = served.token.clone();
    let origin = base.trim_end_matches("/api/v1").to_owned();
    let case = post(
        &base,
        &admin,
        "/cases",
        json!({"title": "Root logins on web-01 from a Tor exit", "severity": "high"}),
    )
    .await;
    let number = case["number"].as_str().unwrap().to_owned();
    let ana = post(
        &base,
        &admin,
        "/tokens",
        json!({"name": "ana", "roles": ["approver"]}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let driver = Driver::start(&dir.path().join("chromedriver.log"));
    let b = Browser::start(&driver, &origin).await;
    b.goto(&format!("/cases?selectedCase={number}")).await;
    b.sign_in(&admin).await;
    assert!(b.text("#mode").await.contains("real"), "the mode is shown");
    b.until(
        "the case, live",
        "document.querySelector('.case-detail[data-status=open]') && document.querySelector('.case-timeline-box .live[data-state=live]')",
    )
    .await;
    b.js("window.__marker = 'the case page'; return true;")
        .await;

    // Dispatch from the case page: a receipt card, following its run's stream.
    b.click(".dispatch-case > summary").await;
    b.type_into(
        ".dispatch-prompt",
        "Root logged in on web-01 from 185.220.101.4; contain it",
    )
    .await;
    b.click(".case-dispatch button[type=submit]").await;
    b.until(
        "the receipt card",
        "document.querySelector('.receipt[data-id]') && document.querySelector('.case-timeline li[data-kind=investigation_linked]')",
    )
    .await;
    let run = b
        .js("return document.querySelector('.receipt').dataset.id;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let run_stream = format!("/investigations/{run}/events/stream");

    // The run asks to isolate web-01: the card and the case wait on it.
    b.until(
        "the card and the case waiting on the approval",
        &format!(
            "document.querySelector('.receipt[data-id=\"{run}\"][data-status=pending][data-phase=awaiting_approval][data-live=live] .receipt-approval a[href=\"/approvals\"]') \
             && document.querySelector('.case-detail[data-status=pending_approval]') \
             && document.querySelector('.case-timeline li[data-kind=approval_requested]') \
             && window.__vigilStreams.open().includes('{run_stream}')"
        ),
    )
    .await;
    let waiting = b.text(".receipt .receipt-approval").await;
    assert!(waiting.contains("isolate_host"), "{waiting}");
    assert_eq!(calls.count(), 0, "nothing is isolated before the approval");
    assert_eq!(
        b.js(&format!(
            "return window.__vigilStreams.connects.filter(c => c.path === '{run_stream}').length > 0 \
             && window.__vigilStreams.connects.filter(c => c.path === '{run_stream}')[0].lastEventId !== null;"
        ))
        .await,
        json!(true),
        "the card follows the run's own stream from the event it read the run at"
    );
    b.assert_clean("with the run waiting").await;

    // A second principal approves in another window (its own session).
    let case_window = b.client.window().await.unwrap();
    let other = b.client.new_window(false).await.unwrap();
    b.client.switch_to_window(other.handle).await.unwrap();
    b.goto("/approvals").await;
    b.sign_in(&ana).await;
    b.until(
        "an enabled approve button",
        "document.querySelector('.approvals .approval button[data-decision=approve]:not([disabled])')",
    )
    .await;
    b.type_into(".approvals .approval textarea[name=comment]", "isolate it")
        .await;
    b.click(".approvals .approval button[data-decision=approve]")
        .await;
    b.until(
        "the decision",
        "[...document.querySelectorAll('table.decided tbody tr')].some(r => r.innerText.includes('ana') && r.innerText.includes('approved'))",
    )
    .await;
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(case_window).await.unwrap();

    // The write-back and the move to in_progress arrive on the open page;
    // the card's stream closes with its finished run.
    b.until(
        "the write-back, live",
        &format!(
            "document.querySelector('.case-timeline li[data-kind=result_written] .key-findings li') \
             && document.querySelector('.case-detail[data-status=in_progress]') \
             && [...document.querySelectorAll('.comment[data-author-kind=machine] .comment-body')].some(e => e.innerText.includes('completed')) \
             && document.querySelector('.receipt[data-id=\"{run}\"][data-status=completed][data-live=closed]') \
             && !window.__vigilStreams.open().includes('{run_stream}')"
        ),
    )
    .await;
    assert_eq!(
        b.js("return window.__marker;").await,
        json!("the case page"),
        "no reload"
    );
    assert_eq!(calls.count(), 1, "the approved call was sent once");
    let decided = b
        .text(".case-timeline li[data-kind=approval_decided]")
        .await;
    assert!(
        decided.contains("approve") && decided.contains("ana") && decided.contains("isolate it"),
        "{decided}"
    );
    let written = b.text(".case-timeline li[data-kind=result_written]").await;
    assert!(
        written.contains("web-01 isolated") && written.contains("rotate root's password"),
        "{written}"
    );
    assert_eq!(
        b.text(".receipt .receipt-confidence").await,
        b.js("return document.querySelector('.case-timeline li[data-kind=result_written] .muted.small').innerText.match(/Confidence (\\S+)/)[1];")
            .await
            .as_str()
            .unwrap(),
        "the card's confidence is the run's"
    );
    b.assert_clean("after the write-back").await;
    b.js("document.querySelector('.case-investigations').scrollIntoView(); return true;")
        .await;
    b.shot("cases-linked-real").await;

    // The settings page names the model, the agent's tool and its policy,
    // without a secret.
    b.goto("/settings").await;
    b.until(
        "the runtime settings",
        "document.querySelector('.settings-model')?.innerText.includes('scripted-1') && document.querySelector('.settings-tools tr[data-tool=isolate_host][data-effect=write][data-approval=true]') && document.querySelector('.settings-agents tr[data-agent=triage]')?.innerText.includes('isolate_host')",
    )
    .await;
    let tool = b.text(".settings-tools tr[data-tool=isolate_host]").await;
    assert!(
        tool.contains("http")
            && tool.contains("a person approves")
            && tool.contains("127.0.0.1:")
            && !tool.contains("/echo"),
        "{tool}"
    );
    b.assert_clean("on the settings page").await;

    b.client.close().await.unwrap();
    drop(driver);
    drop(served);
    db.drop_now().await;
}

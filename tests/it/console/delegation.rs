//! The delegation tree in a real browser: a `vigil serve` in `real` mode on
//! SQLite whose orchestrator agent delegates two questions (the scripted
//! model on loopback). Once the parent has completed, its page links both
//! children with their state, its timeline shows it waiting for them and
//! being queued when they finished, and a child's page links its parent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_agents::testing::model::{self as scripted, tool_calls};

use crate::support::Served;

use super::browser::{Browser, Driver};

const RESULT: &str = r#"{"summary":"one click, contained","key_findings":["sender spoofed"],"recommended_next_steps":["reset the password"],"confidence":0.7}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_investigation_page_shows_its_delegation_tree() {
    let (model, script) = scripted::serve().await;
    script.respond_with(Arc::new(|body: &Value| {
        let system = body["messages"][0]["content"].as_str().unwrap_or_default();
        let answered = body["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
        if system.starts_with("Orchestrate") && !answered {
            let a = json!({"agent": "phishing", "prompt": "Was the sender spoofed?"}).to_string();
            let b = json!({"agent": "phishing", "prompt": "Who clicked?"}).to_string();
            return tool_calls(&[
                ("delegate_investigation", &a, Some("q1")),
                ("delegate_investigation", &b, Some("q2")),
            ]);
        }
        tool_calls(&[("submit_result", RESULT, Some("final"))])
    }));
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("vigil.db").display());
    std::fs::write(
        dir.path().join("vigil.toml"),
        format!(
            r#"
[model]
base_url = "http://{model}/v1"
model = "scripted-1"
retry = {{ max_retries = 0 }}

[[agents]]
id = "orchestrator"
system_prompt = "Orchestrate: delegate, then submit_result."
tools = ["delegate_investigation"]

[[agents]]
id = "phishing"
system_prompt = "Phishing analyst: answer, then submit_result."

[worker]
poll_interval = "200ms"
"#
        ),
    )
    .unwrap();
    let served = Served::start(dir.path(), &db);
    let http = reqwest::Client::new();
    let dispatched: Value = http
        .post(format!("{}/investigations", served.base))
        .bearer_auth(&served.token)
        .json(&json!({"agent_id": "orchestrator", "prompt": "Phishing wave reached finance"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parent = dispatched["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    let detail = loop {
        let detail: Value = http
            .get(format!("{}/investigations/{parent}", served.base))
            .bearer_auth(&served.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if detail["status"] == "completed" {
            break detail;
        }
        assert!(
            Instant::now() < deadline,
            "the parent never completed: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let children: Vec<String> = detail["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(children.len(), 2, "{detail}");

    let origin = served.base.trim_end_matches("/api/v1").to_owned();
    let driver = Driver::start(&dir.path().join("chromedriver.log"));
    let b = Browser::start(&driver, &origin).await;
    b.goto(&format!("/investigations/{parent}")).await;
    b.sign_in(&served.token).await;
    let links = children
        .iter()
        .map(|c| format!("document.querySelector('.delegation li.child[data-child=\"{c}\"] a[href=\"/investigations/{c}\"]')"))
        .collect::<Vec<_>>()
        .join(" && ");
    b.until(
        "both children linked, completed, and the wait in the timeline",
        &format!(
            "{links} && document.querySelectorAll('.delegation li.child .badge').length >= 2 \
             && [...document.querySelectorAll('.delegation li.child')].every(li => li.textContent.includes('completed')) \
             && document.querySelector('.timeline li[data-kind=awaiting_children]') \
             && document.querySelector('.timeline li[data-kind=children_finished]')"
        ),
    )
    .await;
    b.assert_clean("on the parent's page").await;
    b.shot("investigation-delegation").await;

    b.click(&format!(
        ".delegation li.child[data-child=\"{}\"] a",
        children[0]
    ))
    .await;
    b.until(
        "the child's page, linking its parent",
        &format!(
            "location.pathname === '/investigations/{}' && document.querySelector('.delegation .parent a[href=\"/investigations/{parent}\"]') \
             && document.querySelector('.timeline li[data-kind=dispatched] a[href=\"/investigations/{parent}\"]')",
            children[0]
        ),
    )
    .await;
    b.assert_clean("on the child's page").await;
    served.stop_gracefully();
}

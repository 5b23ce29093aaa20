//! The HTTP API of a real `vigil serve` on PostgreSQL: while the database
//! is down, readiness and every data endpoint answer 503 with a problem
//! body (never an empty list), and they recover by themselves once it is back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{PrivateCluster, Served, ok, vigil};

async fn call(
    client: &reqwest::Client,
    served: &Served,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut req = client
        .request(method, format!("{}{path}", served.base))
        .bearer_auth(&served.token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_endpoints_answer_503_while_postgres_is_down_and_recover() {
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/vigil.toml"),
        dir.path().join("vigil.toml"),
    )
    .unwrap();
    ok(&vigil(dir.path(), &["--database", &url, "migrate"]));
    let served = Served::start(dir.path(), &url);
    let client = reqwest::Client::new();
    use reqwest::Method;

    let (status, _, dispatched) = call(
        &client,
        &served,
        Method::POST,
        "/investigations",
        Some(json!({"agent_id": "triage", "prompt": "failed SSH logins from 185.220.101.4"})),
    )
    .await;
    assert_eq!(status, 201, "{dispatched}");
    let id = dispatched["id"].as_str().unwrap().to_owned();

    // The dummy triage run parks on its isolate_host approval, as does the
    // showcase alerts' triage; the process's own metrics count both claims
    // and steps (the showcase's dispatch is the loader's, not the API's).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, _, detail) = call(
            &client,
            &served,
            Method::GET,
            &format!("/investigations/{id}"),
            None,
        )
        .await;
        let (_, _, pending) = call(
            &client,
            &served,
            Method::GET,
            "/approvals?status=pending",
            None,
        )
        .await;
        let parked = pending["items"].as_array().map_or(0, Vec::len);
        if detail["phase"] == "awaiting_approval" && parked == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never parked: {detail} {pending}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = client
        .get(format!("{}/metrics", served.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "vigil_database_up 1",
        "vigil_investigations{status=\"pending\",phase=\"awaiting_approval\"} 2",
        "vigil_approvals_pending 2",
        "vigil_claims_total 2",
        "vigil_step_seconds_count{outcome=\"awaiting_approval\"} 2",
        "vigil_dispatches_total 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing `{line}` in\n{metrics}"
        );
    }

    // The showcase's sample cases (dummy mode) are there to read.
    let (status, _, queue) = call(&client, &served, Method::GET, "/cases", None).await;
    assert_eq!(status, 200, "{queue}");
    assert!(queue["kpis"]["total"].as_i64().unwrap() > 0, "{queue}");
    let case = queue["items"][0]["id"].as_str().unwrap().to_owned();

    cluster.down();
    let ready = client
        .get(format!("{}/readyz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let problem: Value = ready.json().await.unwrap();
    assert_eq!(problem["code"], "database_unavailable");
    assert!(!problem["detail"].as_str().unwrap().is_empty());

    let data_calls: [(Method, String, Option<Value>); 13] = [
        // Cases: a recovery answer, never an empty queue or zero counts.
        (Method::GET, "/cases".into(), None),
        (Method::GET, format!("/cases/{case}"), None),
        (Method::GET, format!("/cases/{case}/timeline"), None),
        (Method::GET, format!("/cases/{case}/observables"), None),
        (Method::GET, format!("/cases/{case}/audit"), None),
        (
            Method::POST,
            "/cases".into(),
            Some(json!({"title": "while down"})),
        ),
        (
            Method::POST,
            format!("/cases/{case}/comments"),
            Some(json!({"body": "written while the database is down"})),
        ),
        (Method::GET, "/investigations".into(), None),
        (Method::GET, format!("/investigations/{id}"), None),
        (Method::GET, format!("/investigations/{id}/events"), None),
        (Method::GET, "/approvals?status=pending".into(), None),
        (Method::GET, "/system/mode".into(), None),
        (
            Method::POST,
            "/investigations".into(),
            Some(json!({"agent_id": "triage", "prompt": "while down"})),
        ),
    ];
    for (method, path, body) in data_calls.clone() {
        let (status, content_type, body) =
            call(&client, &served, method.clone(), &path, body).await;
        assert_eq!(status, 503, "{method} {path}: {body}");
        assert_eq!(content_type, "application/problem+json", "{method} {path}");
        assert_eq!(
            body["code"], "database_unavailable",
            "{method} {path}: {body}"
        );
        // The cause in Vigil's words; the driver's text stays in the log.
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.starts_with("the database cannot be reached"),
            "{method} {path}: {detail}"
        );
        for driver_text in [
            "connection",
            "refused",
            "os error",
            "pool",
            "sqlx",
            "at line",
        ] {
            assert!(
                !detail.to_lowercase().contains(driver_text),
                "{method} {path} leaks driver text: {detail}"
            );
        }
    }
    let metrics = client
        .get(format!("{}/metrics", served.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("vigil_database_up 0"), "{metrics}");

    cluster.up();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("{}/readyz", served.base))
            .send()
            .await
            .unwrap();
        if ready.status().as_u16() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the API did not recover");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (method, path, body) in data_calls {
        let (status, _, body) = call(&client, &served, method.clone(), &path, body).await;
        assert!(
            status < 300,
            "{method} {path} after recovery: {status} {body}"
        );
    }
    // The showcase's triage, the first dispatch and the one made after the
    // recovery.
    let (_, _, list) = call(&client, &served, Method::GET, "/investigations", None).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        3,
        "nothing lost, nothing doubled"
    );
    served.stop_gracefully();
}

/// `GET /system/settings` on a real `vigil serve` whose configuration holds
/// a model API key, a tool with a credential header and credentials, path
/// and query in its URL, and a webhook with a signing secret: the answer
/// names the model, agents, tools and webhooks by name and host, and none
/// of those secrets (nor a URL path or query) appears in it, for any
/// principal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_describe_model_tools_and_webhooks_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let model_port = crate::support::free_port();
    std::fs::write(
        dir.path().join("vigil.toml"),
        format!(
            r#"
mode = "real"

[model]
base_url = "http://model-user:model-SECRET-pass@127.0.0.1:{model_port}/v1?token=model-SECRET-query"
api_key = "sk-model-SECRET-key"
model = "gpt-test"

[[agents]]
id = "triage"
system_prompt = "Investigate, then submit_result."
tools = ["isolate_host"]

[[agents]]
id = "enrich"
model = "gpt-small"
system_prompt = "Enrich."
tools = []

[[tools]]
kind = "http"
name = "isolate_host"
description = "Isolate a host"
method = "POST"
url = "https://tools.example:8443/edr/tool-SECRET-path/{{host}}?api_key=tool-SECRET-query"
effect = "write"
timeout = "7s"
headers = {{ Authorization = "Bearer tool-SECRET-header" }}
parameters = {{ type = "object", properties = {{ host = {{ type = "string" }} }}, required = ["host"] }}
approval = {{ required = true }}

[[api.webhooks]]
name = "soc-chat"
url = "https://hooks.example/services/hook-SECRET-path?sig=hook-SECRET-query"
secret_env = "VIGIL_TEST_HOOK_SECRET"
"#
        ),
    )
    .unwrap();
    ok(&vigil(
        dir.path(),
        &["--database", "sqlite://vigil.db", "migrate"],
    ));
    let listen = format!("127.0.0.1:{}", crate::support::free_port());
    let (_proc, admin) = crate::support::serve_with_env(
        dir.path(),
        &["--database", "sqlite://vigil.db"],
        &[("VIGIL_TEST_HOOK_SECRET", "hook-SECRET-signing-key")],
        &listen,
    );
    let admin = admin.expect("the first start prints the admin token");
    let base = format!("http://{listen}/api/v1");
    let client = reqwest::Client::new();
    let orchestrator = client
        .post(format!("{base}/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "pipeline", "roles": ["orchestrator"]}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    for token in [&admin, &orchestrator] {
        let response = client
            .get(format!("{base}/system/settings"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let text = response.text().await.unwrap();
        for secret in [
            "SECRET",
            "model-user",
            "Bearer",
            "sig=",
            "api_key",
            "/v1",
            "/edr",
        ] {
            assert!(!text.contains(secret), "`{secret}` in {text}");
        }
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["mode"], "real");
        assert_eq!(body["backend"], "sqlite");
        assert_eq!(
            body["model"],
            json!({"name": "gpt-test", "host": format!("127.0.0.1:{model_port}")})
        );
        assert_eq!(
            body["agents"],
            json!([
                {"id": "enrich", "model": "gpt-small", "tools": []},
                {"id": "triage", "model": null, "tools": ["isolate_host"]},
            ])
        );
        let tools = body["tools"].as_array().unwrap();
        let isolate = tools
            .iter()
            .find(|t| t["name"] == "isolate_host")
            .unwrap_or_else(|| panic!("isolate_host in {text}"));
        assert_eq!(
            isolate,
            &json!({"name": "isolate_host", "kind": "http", "effect": "write",
                    "approval_required": true, "timeout_ms": 7000,
                    "host": "tools.example:8443"})
        );
        assert_eq!(
            body["webhooks"],
            json!([{"name": "soc-chat", "url": "https://hooks.example",
                    "events": ["approval_requested"]}])
        );
        assert!(
            !body["grouping_rules"].as_array().unwrap().is_empty(),
            "{text}"
        );
    }
    let anonymous = client
        .get(format!("{base}/system/settings"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

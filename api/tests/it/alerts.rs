//! `/alerts` through `app(state)` on both stores: ingest opens a case and
//! a second alert with the same key joins it, redelivery is 200 and links
//! once, the listing filters and pages, promotion opens a case by hand,
//! and the runtime mode decides what is stored.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::{on_both_backends, on_both_backends_in};

on_both_backends_in!("real":
    an_alert_opens_a_case_and_the_next_with_its_key_joins_it,
    a_redelivered_alert_is_200_and_links_once,
    alerts_list_by_case_rule_and_source_and_page,
    an_ungrouped_alert_is_promoted_to_a_case_by_hand,
    bad_alerts_name_the_field,
);

on_both_backends_in!("dry_run":
    in_dry_run_ingest_is_stored_and_a_persons_promotion_is_a_preview,
);

on_both_backends!(in_dummy_mode_an_ingest_is_a_preview);

fn alert(source_id: &str, ip: &str) -> Value {
    json!({
        "source": "splunk",
        "source_id": source_id,
        "rule": "SSH brute force",
        "severity": "high",
        "observed_at": "2026-03-01T09:00:00Z",
        "raw": {"src_ip": ip, "msg": "beacon to hxxp://evil[.]example/gate"},
    })
}

async fn an_alert_opens_a_case_and_the_next_with_its_key_joins_it(app: &TestApp) {
    let first = app
        .post("/api/v1/alerts", "olivia", alert("d-1", "185.220.101[.]4"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["case_created"], true);
    assert_eq!(first.body["case"]["title"], "SSH brute force");
    assert_eq!(first.body["case"]["severity"], "high");
    assert_eq!(
        first.body["alert"]["grouping_key"],
        "SSH brute force|ip=185.220.101.4"
    );
    let entities = first.body["alert"]["entities"].as_array().unwrap();
    assert!(entities.contains(&json!({"type": "url", "value": "http://evil.example/gate"})));
    let case_id = first.body["case"]["id"].as_str().unwrap().to_owned();

    let second = app
        .post("/api/v1/alerts", "otto", alert("d-2", "185.220.101.4"))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(second.body["case_created"], false);
    assert_eq!(second.body["case"]["id"], json!(case_id));

    let timeline = app
        .get(&format!("/api/v1/cases/{case_id}/timeline"), "aude")
        .await;
    let linked = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alert_linked")
        .count();
    assert_eq!(linked, 2, "{}", timeline.body);
}

async fn a_redelivered_alert_is_200_and_links_once(app: &TestApp) {
    let first = app
        .post("/api/v1/alerts", "olivia", alert("d-1", "10.0.0.5"))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = app
        .post("/api/v1/alerts", "olivia", alert("d-1", "10.0.0.5"))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["created"], false);
    assert_eq!(again.body["alert"]["id"], first.body["alert"]["id"]);
    assert_eq!(app.rows("alerts").await, 1);
    assert_eq!(app.rows("case_alerts").await, 1);
}

async fn alerts_list_by_case_rule_and_source_and_page(app: &TestApp) {
    for (i, ip) in ["10.0.0.1", "10.0.0.2", "10.0.0.1"].iter().enumerate() {
        let r = app
            .post("/api/v1/alerts", "olivia", alert(&format!("d-{i}"), ip))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let all = app.get("/api/v1/alerts?limit=2", "aude").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let cursor = all.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(&format!("/api/v1/alerts?limit=2&after={cursor}"), "aude")
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    assert_eq!(rest.body["items"][0]["source_id"], "d-0");

    let case = all.body["items"][0]["case_id"].as_str().unwrap().to_owned();
    let by_case = app
        .get(&format!("/api/v1/alerts?case_id={case}"), "otto")
        .await;
    assert_eq!(by_case.body["items"].as_array().unwrap().len(), 2);
    let by_rule = app
        .get(
            "/api/v1/alerts?rule=SSH%20brute%20force&source=splunk",
            "otto",
        )
        .await;
    assert_eq!(by_rule.body["items"].as_array().unwrap().len(), 3);
    let none = app.get("/api/v1/alerts?source=edr", "otto").await;
    assert_eq!(none.body["items"], json!([]));
    app.get("/api/v1/alerts?after=nope", "otto")
        .await
        .problem(StatusCode::BAD_REQUEST, "invalid_query");
}

async fn an_ungrouped_alert_is_promoted_to_a_case_by_hand(app: &TestApp) {
    let loose = app
        .post(
            "/api/v1/alerts",
            "olivia",
            json!({"source": "edr", "source_id": "x-1", "rule": "Odd process",
                   "severity": "medium", "raw": {"cmd": "whoami"}}),
        )
        .await;
    assert_eq!(loose.status, StatusCode::CREATED, "{}", loose.body);
    assert_eq!(loose.body["case"], Value::Null);
    assert_eq!(loose.body["alert"]["grouping_key"], Value::Null);
    let id = loose.body["alert"]["id"].as_str().unwrap().to_owned();
    let promoted = app
        .post(&format!("/api/v1/alerts/{id}/promote"), "otto", json!({}))
        .await;
    assert_eq!(promoted.status, StatusCode::CREATED, "{}", promoted.body);
    assert_eq!(promoted.body["case"]["title"], "Odd process");
    assert_eq!(
        promoted.body["alert"]["case_id"],
        promoted.body["case"]["id"]
    );
    app.post(&format!("/api/v1/alerts/{id}/promote"), "otto", json!({}))
        .await
        .problem(StatusCode::CONFLICT, "alert_already_linked");
    app.post(
        "/api/v1/alerts/00000000-0000-7000-8000-000000000000/promote",
        "otto",
        json!({}),
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
}

async fn bad_alerts_name_the_field(app: &TestApp) {
    let mut body = alert("d-1", "10.0.0.5");
    body["severity"] = json!("dire");
    let r = app.post("/api/v1/alerts", "olivia", body).await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "severity"
    );
    let mut body = alert("d-1", "10.0.0.5");
    body["entities"] = json!([{"type": "ip", "value": "not-an-ip"}]);
    let r = app.post("/api/v1/alerts", "olivia", body).await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "entities[0].value"
    );
    let mut body = alert("d-1", "10.0.0.5");
    body["source"] = json!("  ");
    let r = app.post("/api/v1/alerts", "olivia", body).await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "source"
    );
    assert_eq!(app.rows("alerts").await, 0);
}

async fn in_dry_run_ingest_is_stored_and_a_persons_promotion_is_a_preview(app: &TestApp) {
    let stored = app
        .post(
            "/api/v1/alerts",
            "otto",
            json!({"source": "edr", "source_id": "x-1", "rule": "Odd process", "severity": "low"}),
        )
        .await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.body);
    let id = stored.body["alert"]["id"].as_str().unwrap().to_owned();
    let preview = app
        .post(&format!("/api/v1/alerts/{id}/promote"), "otto", json!({}))
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(preview.body["preview"], true);
    assert_eq!(preview.body["would"]["record"]["title"], "Odd process");
    assert_eq!(app.rows("cases").await, 0);
}

async fn in_dummy_mode_an_ingest_is_a_preview(app: &TestApp) {
    let r = app
        .post("/api/v1/alerts", "olivia", alert("d-1", "10.0.0.5"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["preview"], true);
    assert_eq!(r.body["mode"], "dummy");
    assert_eq!(
        r.body["would"]["record"]["grouping_key"],
        "SSH brute force|ip=10.0.0.5"
    );
    assert_eq!(app.rows("alerts").await, 0);
}

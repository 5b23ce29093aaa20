//! `/cases/{id}/investigations` and `case_id` on `POST /investigations`
//! through `app(state)` on both stores: linking, the write-back a
//! completion makes, validation, and the runtime mode's previews.

use axum::http::StatusCode;
use serde_json::{Value, json};
use vigil_engine::result::Completion;

use crate::support::TestApp;
use crate::{on_both_backends, on_both_backends_in};

on_both_backends_in!("real":
    a_dispatch_for_a_case_links_it_and_its_completion_writes_back,
    case_id_on_dispatch_is_validated,
    a_close_requests_a_summary_and_its_completion_writes_the_ai_summary,
);

on_both_backends!(
    in_dummy_mode_a_persons_dispatch_is_a_preview_and_an_agents_is_stored,
    in_dummy_mode_a_close_is_a_preview_and_a_summary_is_stored,
);

async fn new_case(app: &TestApp) -> String {
    let r = app
        .post("/api/v1/cases", "otto", json!({"title": "Tor logins"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn kinds(timeline: &Value) -> Vec<String> {
    timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_dispatch_for_a_case_links_it_and_its_completion_writes_back(app: &TestApp) {
    let case = new_case(app).await;
    let r = app
        .post(
            &format!("/api/v1/cases/{case}/investigations"),
            "olivia",
            json!({"agent_id": "triage", "prompt": "look at 185.220.101.4"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["case_id"], json!(case));
    let inv = r.body["id"].as_str().unwrap().to_owned();
    let detail = app
        .get(&format!("/api/v1/investigations/{inv}"), "otto")
        .await;
    assert_eq!(detail.body["case_id"], json!(case));

    let listed = app
        .get(&format!("/api/v1/cases/{case}/investigations"), "aude")
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["id"], json!(inv));
    assert_eq!(listed.body["items"][0]["phase"], json!("queued"));

    let claimed = app.claim(&inv).await;
    app.store
        .complete(
            claimed.id,
            claimed.lease_epoch,
            Completion::Valid {
                result: json!({"summary": "Tor exit 185.220.101.4 brute-forced SSH",
                               "key_findings": ["no successful login"],
                               "recommended_next_steps": ["block it"], "confidence": 0.8}),
                confidence: Some(0.8),
            },
        )
        .await
        .unwrap();
    let listed = app
        .get(&format!("/api/v1/cases/{case}/investigations"), "otto")
        .await;
    assert_eq!(listed.body["items"][0]["status"], json!("completed"));
    let timeline = app
        .get(&format!("/api/v1/cases/{case}/timeline"), "otto")
        .await;
    let kinds = kinds(&timeline.body);
    assert_eq!(kinds[1], "investigation_linked");
    for kind in [
        "comment_added",
        "observable_added",
        "result_written",
        "status_change",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
    }
    let detail = app.get(&format!("/api/v1/cases/{case}"), "otto").await;
    assert_eq!(detail.body["status"], json!("in_progress"));
    let audit = app
        .get(&format!("/api/v1/cases/{case}/audit"), "aude")
        .await;
    assert_eq!(audit.body["valid"], json!(true), "{}", audit.body);
}

async fn case_id_on_dispatch_is_validated(app: &TestApp) {
    let unknown = app
        .post(
            "/api/v1/investigations",
            "olivia",
            json!({"agent_id": "triage", "prompt": "p", "case_id": "CASE-999"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert_eq!(unknown.body["field"], json!("case_id"), "{}", unknown.body);
    let case = new_case(app).await;
    let deleted = app
        .send_json(
            axum::http::Method::DELETE,
            &format!("/api/v1/cases/{case}"),
            "otto",
            Value::Null,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let retired = app
        .post(
            "/api/v1/investigations",
            "olivia",
            json!({"agent_id": "triage", "prompt": "p", "case_id": case}),
        )
        .await;
    assert_eq!(retired.status, StatusCode::CONFLICT, "{}", retired.body);
    let none = app
        .post(
            "/api/v1/cases/CASE-999/investigations",
            "olivia",
            json!({"agent_id": "triage", "prompt": "p"}),
        )
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);
    assert_eq!(app.count().await, 0);
}

async fn in_dummy_mode_a_persons_dispatch_is_a_preview_and_an_agents_is_stored(app: &TestApp) {
    let case = app
        .store
        .create_case(
            "seed",
            vigil_engine::case::NewCase {
                title: "seeded".to_owned(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let path = format!("/api/v1/cases/{case}/investigations");
    let body = json!({"agent_id": "triage", "prompt": "p"});
    let person = app.post(&path, "otto", body.clone()).await;
    assert_eq!(person.status, StatusCode::OK, "{}", person.body);
    assert_eq!(person.body["preview"], json!(true));
    assert_eq!(
        person.body["would"]["timeline"][0]["kind"],
        json!("investigation_linked")
    );
    assert_eq!(app.count().await, 0);
    let agent = app.post(&path, "olivia", body).await;
    assert_eq!(agent.status, StatusCode::CREATED, "{}", agent.body);
    assert_eq!(app.count().await, 1);
}

/// The linked investigations of `case` whose agent is `summarize`.
async fn summaries(app: &TestApp, case: &str) -> Vec<Value> {
    let listed = app
        .get(&format!("/api/v1/cases/{case}/investigations"), "otto")
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["agent_id"] == "summarize")
        .cloned()
        .collect()
}

async fn a_close_requests_a_summary_and_its_completion_writes_the_ai_summary(app: &TestApp) {
    let case = new_case(app).await;
    let closed = app
        .post(
            &format!("/api/v1/cases/{case}/status"),
            "otto",
            json!({"status": "closed", "disposition": "true_positive", "reason": "contained"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["status"], json!("closed"));
    let requested = summaries(app, &case).await;
    assert_eq!(requested.len(), 1, "{requested:?}");
    let inv = requested[0]["id"].as_str().unwrap().to_owned();
    let stored = app.stored(&inv).await;
    assert_eq!(stored.case_purpose, vigil_engine::CasePurpose::Summarize);
    assert_eq!(stored.requested_by, "otto");
    for part in [
        "Number: CASE-",
        "Title: Tor logins",
        "Status: closed",
        "Disposition: true_positive",
        "status_change",
        "Related cases",
    ] {
        assert!(
            stored.prompt.contains(part),
            "{part} missing: {}",
            stored.prompt
        );
    }

    let claimed = app.claim(&inv).await;
    app.store
        .complete(
            claimed.id,
            claimed.lease_epoch,
            Completion::Valid {
                result: json!({"summary": "Brute force from a Tor exit, contained.",
                               "immediate_actions": ["block 185.220.101.4"],
                               "long_term_remediation": ["key-only SSH"],
                               "policy_changes": [], "similar_cases": []}),
                confidence: None,
            },
        )
        .await
        .unwrap();
    let comments = app
        .get(&format!("/api/v1/cases/{case}/comments"), "otto")
        .await;
    let summary: Vec<&Value> = comments
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "ai_summary")
        .collect();
    assert_eq!(summary.len(), 1, "{}", comments.body);
    assert!(
        summary[0]["body"]
            .as_str()
            .unwrap()
            .contains("key-only SSH")
    );
    let timeline = app
        .get(&format!("/api/v1/cases/{case}/timeline"), "otto")
        .await;
    assert!(kinds(&timeline.body).iter().any(|k| k == "summary_written"));
    let detail = app.get(&format!("/api/v1/cases/{case}"), "otto").await;
    assert_eq!(
        detail.body["status"],
        json!("closed"),
        "a summary moves nothing"
    );

    // Asked again by hand, with a key: one more, and a retry returns it.
    let keyed = || {
        app.request(
            axum::http::Method::POST,
            &format!("/api/v1/cases/{case}/summarize"),
            Some("olivia"),
        )
        .header("idempotency-key", "sum-1")
        .body(axum::body::Body::empty())
        .unwrap()
    };
    let first = app.send(keyed()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = app.send(keyed()).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(summaries(app, &case).await.len(), 2);

    let none = app
        .post("/api/v1/cases/CASE-999/summarize", "olivia", Value::Null)
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);
    let auditor = app
        .post(
            &format!("/api/v1/cases/{case}/summarize"),
            "aude",
            Value::Null,
        )
        .await;
    assert_eq!(auditor.status, StatusCode::FORBIDDEN, "{}", auditor.body);
    let audit = app
        .get(&format!("/api/v1/cases/{case}/audit"), "aude")
        .await;
    assert_eq!(audit.body["valid"], json!(true), "{}", audit.body);
}

async fn in_dummy_mode_a_close_is_a_preview_and_a_summary_is_stored(app: &TestApp) {
    let case = app
        .store
        .create_case(
            "otto",
            vigil_engine::case::NewCase {
                title: "Tor logins".to_owned(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let closed = app
        .post(
            &format!("/api/v1/cases/{}/status", case.id),
            "otto",
            json!({"status": "closed", "disposition": "benign"}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert_eq!(closed.body["preview"], json!(true), "{}", closed.body);
    assert!(summaries(app, &case.id.to_string()).await.is_empty());
    let asked = app
        .post(
            &format!("/api/v1/cases/{}/summarize", case.id),
            "otto",
            Value::Null,
        )
        .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
    assert_eq!(summaries(app, &case.id.to_string()).await.len(), 1);
}

//! The approval inbox, its context, decisions and separation of duties.

use axum::http::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    inbox_lists_pending_first_with_context,
    the_requester_cannot_decide_and_one_decider_wins,
    bad_decisions_change_nothing,
);

async fn inbox_lists_pending_first_with_context(app: &TestApp) {
    let first = app.dispatch("olivia", "host ws-042 beacons").await;
    let a1 = app.park_on_approval(&first).await;
    let second = app.dispatch("olivia", "host ws-043 beacons").await;
    let a2 = app.park_on_approval(&second).await;
    app.post(
        &format!("/api/v1/approvals/{a1}/decision"),
        "anna",
        json!({"decision": "reject", "comment": "false positive"}),
    )
    .await;

    let inbox = app.get("/api/v1/approvals", "anna").await;
    assert_eq!(inbox.status, StatusCode::OK);
    let items = inbox.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], a2.as_str(), "pending first");
    assert_eq!(items[1]["status"], "rejected");
    let pending = app.get("/api/v1/approvals?status=pending", "anna").await;
    assert_eq!(pending.body["items"].as_array().unwrap().len(), 1);
    app.get("/api/v1/approvals?status=maybe", "anna")
        .await
        .problem(StatusCode::BAD_REQUEST, "invalid_query");

    let detail = app.get(&format!("/api/v1/approvals/{a2}"), "anna").await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let body = &detail.body;
    assert_eq!(body["action"], "isolate_host");
    assert_eq!(body["arguments"]["host"], "ws-042");
    assert_eq!(body["rationale"], "beaconing to a known C2");
    assert_eq!(body["context"]["prompt"], "host ws-043 beacons");
    assert_eq!(body["context"]["requested_by"], "olivia");
    assert_eq!(body["context"]["tool"]["effect"], "write");
    assert!(
        body["context"]["effect_in_mode"]
            .as_str()
            .unwrap()
            .contains("dummy")
    );
    assert_eq!(body["can_decide"], true);

    let inv = app
        .get(&format!("/api/v1/investigations/{second}"), "otto")
        .await;
    assert_eq!(inv.body["phase"], "awaiting_approval");
    assert_eq!(inv.body["pending_approval"]["id"], a2.as_str());
    // An approver may read the investigation an approval belongs to.
    let ctx = app
        .get(&format!("/api/v1/investigations/{second}"), "anna")
        .await;
    assert_eq!(ctx.status, StatusCode::OK);
}

async fn the_requester_cannot_decide_and_one_decider_wins(app: &TestApp) {
    let id = app.dispatch("dual", "isolate?").await;
    let approval = app.park_on_approval(&id).await;
    let path = format!("/api/v1/approvals/{approval}/decision");

    let seen_by_requester = app
        .get(&format!("/api/v1/approvals/{approval}"), "dual")
        .await;
    assert_eq!(seen_by_requester.body["can_decide"], false);
    assert!(
        seen_by_requester.body["cannot_decide_reason"]
            .as_str()
            .unwrap()
            .contains("separation of duties")
    );
    app.post(&path, "dual", json!({"decision": "approve"}))
        .await
        .problem(StatusCode::FORBIDDEN, "separation_of_duties");
    assert_eq!(
        app.stored(&id).await.phase.unwrap().as_str(),
        "awaiting_approval"
    );

    let (a, b) = tokio::join!(
        app.post(
            &path,
            "anna",
            json!({"decision": "approve", "comment": "confirmed C2"})
        ),
        app.post(&path, "arne", json!({"decision": "reject"})),
    );
    let (winner, loser) = if a.status == StatusCode::OK {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(winner.status, StatusCode::OK, "{}", winner.body);
    loser.problem(StatusCode::CONFLICT, "approval_already_decided");
    assert!(["anna", "arne"].contains(&winner.body["decided_by"].as_str().unwrap()));

    let inv = app.stored(&id).await;
    assert_eq!(
        inv.phase.unwrap().as_str(),
        "queued",
        "the decision queues the run again"
    );
    let events = app
        .get(
            &format!("/api/v1/investigations/{id}/events?after_seq=3"),
            "otto",
        )
        .await;
    let items = events.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "approval_decided");
    assert_eq!(items[0]["actor"], winner.body["decided_by"]);
}

async fn bad_decisions_change_nothing(app: &TestApp) {
    let id = app.dispatch("olivia", "isolate?").await;
    let approval = app.park_on_approval(&id).await;
    let path = format!("/api/v1/approvals/{approval}/decision");
    let r = app.post(&path, "anna", json!({"decision": "maybe"})).await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "decision"
    );
    let r = app.post(&path, "anna", json!({"decision": true})).await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST, "invalid_body")["field"],
        "decision"
    );
    let r = app
        .post(&path, "anna", json!({"decision": "approve", "why": "x"}))
        .await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST, "invalid_body")["field"],
        "why"
    );
    let r = app
        .post(
            &path,
            "anna",
            json!({"decision": "approve", "comment": "c".repeat(5000)}),
        )
        .await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "comment"
    );
    let detail = app
        .get(&format!("/api/v1/approvals/{approval}"), "anna")
        .await;
    assert_eq!(detail.body["status"], "pending");
    assert_eq!(app.stored(&id).await.last_seq, 3);
}

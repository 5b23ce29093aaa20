//! Input rules that hold on both stores alike: a NUL character anywhere in
//! a body or a query, and dispatch budgets out of bounds, are refused before
//! the store with the field named, and change nothing.

use axum::http::StatusCode;
use serde_json::json;

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    nul_characters_are_refused_naming_the_field,
    dispatch_budgets_are_bounded_like_configured_ones,
    bodies_are_json_objects_all_the_way_down,
);

async fn bodies_are_json_objects_all_the_way_down(app: &TestApp) {
    // serde would read a struct from an array of its fields in order.
    let r = app
        .post(
            "/api/v1/investigations",
            "olivia",
            json!(["triage", "look at it", null, null]),
        )
        .await;
    r.problem(StatusCode::BAD_REQUEST, "invalid_body");
    let r = app
        .post(
            "/api/v1/investigations",
            "olivia",
            json!({"agent_id": "triage", "prompt": "ok", "budget": [5, null, null]}),
        )
        .await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST, "invalid_body")["field"],
        "budget"
    );
    let r = app
        .post(
            "/api/v1/investigations",
            "olivia",
            json!({"agent_id": "triage", "prompt": "ok", "budget": {"max_turns": -1}}),
        )
        .await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST, "invalid_body")["field"],
        "budget.max_turns"
    );
    assert_eq!(app.count().await, 0, "nothing was dispatched");
}

async fn nul_characters_are_refused_naming_the_field(app: &TestApp) {
    let nul = "before\u{0}after";
    for (body, field) in [
        (json!({"agent_id": "triage", "prompt": nul}), "prompt"),
        (
            json!({"agent_id": "triage", "prompt": "ok", "case_ref": nul}),
            "case_ref",
        ),
        (json!({"agent_id": nul, "prompt": "ok"}), "agent_id"),
    ] {
        let r = app.post("/api/v1/investigations", "olivia", body).await;
        assert_eq!(
            r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
            field
        );
    }
    assert_eq!(app.count().await, 0, "no dispatch was written");

    let id = app.dispatch("olivia", "cancel me").await;
    let before = app.stored(&id).await;
    let r = app
        .post(
            &format!("/api/v1/investigations/{id}/cancel"),
            "otto",
            json!({"reason": nul}),
        )
        .await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "reason"
    );
    assert_eq!(app.stored(&id).await, before, "the cancel changed nothing");
    let r = app
        .post(
            &format!("/api/v1/investigations/{id}/cancel"),
            "otto",
            json!({"reason": "done"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let parked = app.dispatch("olivia", "isolate?").await;
    let approval = app.park_on_approval(&parked).await;
    let r = app
        .post(
            &format!("/api/v1/approvals/{approval}/decision"),
            "anna",
            json!({"decision": "approve", "comment": nul}),
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

    let r = app
        .post(
            "/api/v1/tokens",
            "admin",
            json!({"name": nul, "roles": ["operator"]}),
        )
        .await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "name"
    );

    let r = app
        .get("/api/v1/investigations?case_ref=a%00b", "otto")
        .await;
    assert_eq!(
        r.problem(StatusCode::BAD_REQUEST, "invalid_query")["field"],
        "case_ref"
    );
}

async fn dispatch_budgets_are_bounded_like_configured_ones(app: &TestApp) {
    for (budget, field) in [
        (json!({"max_turns": 0}), "budget.max_turns"),
        (json!({"max_turns": 100_000}), "budget.max_turns"),
        (json!({"max_tokens": 0}), "budget.max_tokens"),
        (json!({"max_wall_secs": 0}), "budget.max_wall_secs"),
        (json!({"max_wall_secs": u64::MAX}), "budget.max_wall_secs"),
    ] {
        let r = app
            .post(
                "/api/v1/investigations",
                "olivia",
                json!({"agent_id": "triage", "prompt": "ok", "budget": budget}),
            )
            .await;
        assert_eq!(
            r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
            field,
            "{budget}"
        );
    }
    assert_eq!(app.count().await, 0, "no dispatch was written");
    let r = app
        .post(
            "/api/v1/investigations",
            "olivia",
            json!({"agent_id": "triage", "prompt": "ok",
                   "budget": {"max_turns": 5, "max_tokens": 10_000, "max_wall_secs": 600}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

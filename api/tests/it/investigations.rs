//! Dispatch, listing, detail, events, rescue, cancel, review and audit.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{BODY_LIMIT, PROMPT_LIMIT, TestApp};

on_both_backends!(
    dispatch_then_read_it_back,
    same_idempotency_key_gives_one_investigation,
    bad_dispatch_bodies_get_4xx_naming_the_field_and_write_nothing,
    unknown_and_malformed_ids_are_404,
    cancel_and_rescue_move_the_run_and_record_the_principal,
    review_validates_against_the_agent_schema,
    audit_verifies_the_chain_and_exports_json_lines,
    listing_filters_and_pages_without_repeats,
    orchestrators_see_only_their_own,
    stats_count_the_queue,
);

async fn stats_count_the_queue(app: &TestApp) {
    let parked = app.dispatch("olivia", "park").await;
    app.park_on_approval(&parked).await;
    let cancelled = app.dispatch("olivia", "cancel").await;
    app.post(
        &format!("/api/v1/investigations/{cancelled}/cancel"),
        "otto",
        json!({"reason": "noise"}),
    )
    .await;
    app.dispatch("oscar", "queued").await;
    let r = app.get("/api/v1/investigations/stats", "otto").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["queued"], 1);
    assert_eq!(r.body["running"], 0);
    assert_eq!(r.body["awaiting_approval"], 1);
    assert_eq!(r.body["failed"], 1);
    assert_eq!(r.body["completed"], 0);
    assert_eq!(r.body["dead_lettered"], 0);
    assert_eq!(r.body["approvals_pending"], 1);
    assert!(r.body["oldest_pending_approval_at"].is_string());
}

async fn dispatch_then_read_it_back(app: &TestApp) {
    let r = app
        .post(
            "/api/v1/investigations",
            "olivia",
            json!({"agent_id": "triage", "prompt": "failed SSH logins from 185.220.101.4",
                   "case_ref": "INC-7", "budget": {"max_turns": 4}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["phase"], "queued");
    assert_eq!(r.body["requested_by"], "olivia");
    assert_eq!(r.body["budget"]["max_turns"], 4);

    let detail = app
        .get(&format!("/api/v1/investigations/{id}"), "olivia")
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(
        detail.body["prompt"],
        "failed SSH logins from 185.220.101.4"
    );
    assert_eq!(detail.body["case_ref"], "INC-7");
    assert_eq!(detail.body["attempt"], 0);

    let list = app.get("/api/v1/investigations", "otto").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"][0]["id"], id.as_str());

    let events = app
        .get(&format!("/api/v1/investigations/{id}/events"), "olivia")
        .await;
    assert_eq!(events.status, StatusCode::OK);
    let items = events.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["seq"], 1);
    assert_eq!(items[0]["kind"], "dispatched");
    assert_eq!(items[0]["actor"], "olivia");
    assert_eq!(events.body["next_after_seq"], 1);

    let after = app
        .get(
            &format!("/api/v1/investigations/{id}/events?after_seq=1"),
            "olivia",
        )
        .await;
    assert_eq!(after.body["items"].as_array().unwrap().len(), 0);
    let bad = app
        .get(
            &format!("/api/v1/investigations/{id}/events?limit=0"),
            "olivia",
        )
        .await;
    assert_eq!(
        bad.problem(StatusCode::BAD_REQUEST, "invalid_query")["field"],
        "limit"
    );
}

async fn same_idempotency_key_gives_one_investigation(app: &TestApp) {
    let send = |prompt: &'static str| {
        app.send(
            app.request(Method::POST, "/api/v1/investigations", Some("olivia"))
                .header(header::CONTENT_TYPE, "application/json")
                .header("Idempotency-Key", "alert-4411")
                .body(Body::from(
                    json!({"agent_id": "triage", "prompt": prompt}).to_string(),
                ))
                .unwrap(),
        )
    };
    let first = send("look at alert 4411").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = send("look at alert 4411").await;
    assert_eq!(again.status, StatusCode::OK, "a replay answers 200");
    assert_eq!(again.body["id"], first.body["id"]);
    let different = send("something else").await;
    different.problem(StatusCode::CONFLICT, "idempotency_key_reused");
    assert_eq!(app.count().await, 1);
}

async fn bad_dispatch_bodies_get_4xx_naming_the_field_and_write_nothing(app: &TestApp) {
    let raw = |body: String, content_type: &'static str| {
        app.send(
            app.request(Method::POST, "/api/v1/investigations", Some("olivia"))
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap(),
        )
    };
    let r = raw("{\"agent_id\": \"triage\",".into(), "application/json").await;
    r.problem(StatusCode::BAD_REQUEST, "invalid_body");

    for (body, field) in [
        (json!({"agent_id": "triage", "prompt": 7}), "prompt"),
        (json!({"prompt": "x"}), "agent_id"),
        (
            json!({"agent_id": "triage", "prompt": "x", "priority": "high"}),
            "priority",
        ),
        (
            json!({"agent_id": "triage", "prompt": "x", "budget": {"max_turns": -1}}),
            "budget.max_turns",
        ),
    ] {
        let r = app.post("/api/v1/investigations", "olivia", body).await;
        assert_eq!(
            r.problem(StatusCode::BAD_REQUEST, "invalid_body")["field"],
            field
        );
    }

    let r = app
        .post(
            "/api/v1/investigations",
            "olivia",
            json!({"agent_id": "nobody", "prompt": "x"}),
        )
        .await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_agent")["field"],
        "agent_id"
    );
    for prompt in ["   ".to_owned(), "p".repeat(PROMPT_LIMIT + 1)] {
        let r = app
            .post(
                "/api/v1/investigations",
                "olivia",
                json!({"agent_id": "triage", "prompt": prompt}),
            )
            .await;
        assert_eq!(
            r.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
            "prompt"
        );
    }

    let huge = json!({"agent_id": "triage", "prompt": "x".repeat(BODY_LIMIT)}).to_string();
    raw(huge, "application/json")
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    raw(
        "agent_id=triage".into(),
        "application/x-www-form-urlencoded",
    )
    .await
    .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    assert_eq!(app.count().await, 0, "no bad request wrote anything");
}

async fn unknown_and_malformed_ids_are_404(app: &TestApp) {
    let unknown = "0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa";
    for path in [
        format!("/api/v1/investigations/{unknown}"),
        format!("/api/v1/investigations/{unknown}/events"),
        format!("/api/v1/investigations/{unknown}/audit"),
        "/api/v1/investigations/not-an-id".to_owned(),
        format!("/api/v1/approvals/{unknown}"),
        "/api/v1/approvals/42".to_owned(),
    ] {
        app.get(&path, "admin")
            .await
            .problem(StatusCode::NOT_FOUND, "not_found");
    }
    app.post(
        &format!("/api/v1/investigations/{unknown}/rescue"),
        "admin",
        json!({"reason": "x"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
    app.post(
        &format!("/api/v1/approvals/{unknown}/decision"),
        "admin",
        json!({"decision": "approve"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/v1/nothing-here", "admin")
        .await
        .problem(StatusCode::NOT_FOUND, "no_such_route");
    app.send(
        app.request(Method::DELETE, "/api/v1/investigations", Some("admin"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

async fn cancel_and_rescue_move_the_run_and_record_the_principal(app: &TestApp) {
    let id = app.dispatch("olivia", "cancel me").await;
    let path = |action: &str| format!("/api/v1/investigations/{id}/{action}");

    app.post(&path("cancel"), "otto", json!({"reason": "  "}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    app.post(&path("rescue"), "otto", json!({"reason": "not dead"}))
        .await
        .problem(StatusCode::CONFLICT, "invalid_transition");

    let r = app
        .post(
            &path("cancel"),
            "otto",
            json!({"reason": "duplicate alert"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "failed");

    let r = app
        .post(
            &path("rescue"),
            "otto",
            json!({"reason": "was not a duplicate"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["phase"], "queued");

    let events = app
        .get(&format!("{}?after_seq=1", path("events")), "otto")
        .await;
    let items = events.body["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["cancelled", "rescued"]);
    assert!(items.iter().all(|e| e["actor"] == "otto"));
    assert_eq!(items[1]["payload"]["reason"], "was not a duplicate");
}

async fn review_validates_against_the_agent_schema(app: &TestApp) {
    let id = app.dispatch("olivia", "needs review").await;
    app.finish_for_review(&id, r#"{"summary": "brute force"}"#)
        .await;
    let path = format!("/api/v1/investigations/{id}/review");

    let detail = app
        .get(&format!("/api/v1/investigations/{id}"), "otto")
        .await;
    assert_eq!(detail.body["status"], "review_required");
    assert_eq!(detail.body["result_raw"], r#"{"summary": "brute force"}"#);

    let r = app.post(&path, "otto", json!({"accept_raw": true})).await;
    let body = r.problem(StatusCode::UNPROCESSABLE_ENTITY, "result_invalid");
    assert_eq!(body["field"], "accept_raw");
    assert!(!body["errors"].as_array().unwrap().is_empty());

    let r = app
        .post(
            &path,
            "otto",
            json!({"result": {"summary": "x", "confidence": 3}}),
        )
        .await;
    r.problem(StatusCode::UNPROCESSABLE_ENTITY, "result_invalid");
    app.post(&path, "otto", json!({}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert_eq!(app.stored(&id).await.status.as_str(), "review_required");

    let result = json!({
        "summary": "SSH brute force from a Tor exit node; no successful login",
        "key_findings": ["2,114 failed logins in 10 minutes"],
        "recommended_next_steps": ["block 185.220.101.4 at the edge"],
        "confidence": 0.8
    });
    let r = app
        .post(
            &path,
            "otto",
            json!({"result": result, "note": "checked by hand"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "completed");
    assert_eq!(r.body["result"], result);
    assert_eq!(r.body["confidence"], 0.8);
    assert!(
        r.body["result_raw"].is_null(),
        "raw output shows only while under review"
    );

    app.post(&path, "otto", json!({"result": result}))
        .await
        .problem(StatusCode::CONFLICT, "invalid_transition");
}

async fn audit_verifies_the_chain_and_exports_json_lines(app: &TestApp) {
    let id = app.dispatch("olivia", "audit me").await;
    app.park_on_approval(&id).await;
    let r = app
        .get(&format!("/api/v1/investigations/{id}/audit"), "aude")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["valid"], true);
    assert_eq!(r.body["events_checked"], 3);
    assert!(r.body["broken_at_seq"].is_null());

    let export = app
        .get(
            &format!("/api/v1/investigations/{id}/audit?format=jsonl"),
            "aude",
        )
        .await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(
        export.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/x-ndjson"
    );
    assert!(
        export.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(&format!("investigation-{id}.jsonl"))
    );
    assert_eq!(export.headers["vigil-chain-valid"], "true");
    let text = export
        .body
        .as_str()
        .expect("JSON Lines are not one JSON document");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"], i as i64 + 1);
        if i > 0 {
            assert_eq!(line["prev_hash"], lines[i - 1]["hash"]);
        }
    }
    app.get(
        &format!("/api/v1/investigations/{id}/audit?format=xml"),
        "aude",
    )
    .await
    .problem(StatusCode::BAD_REQUEST, "invalid_query");
}

async fn listing_filters_and_pages_without_repeats(app: &TestApp) {
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            app.dispatch(
                if i % 2 == 0 { "olivia" } else { "oscar" },
                &format!("run {i}"),
            )
            .await,
        );
    }
    app.post(
        &format!("/api/v1/investigations/{}/cancel", ids[0]),
        "otto",
        json!({"reason": "noise"}),
    )
    .await;

    let mut seen = Vec::new();
    let mut path = "/api/v1/investigations?limit=3".to_owned();
    loop {
        let page = app.get(&path, "otto").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/investigations?limit=3&cursor={c}"),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let failed = app
        .get("/api/v1/investigations?status=failed", "otto")
        .await;
    let items = failed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ids[0].as_str());
    let oscar = app
        .get(
            "/api/v1/investigations?requested_by=oscar&phase=queued",
            "otto",
        )
        .await;
    assert_eq!(oscar.body["items"].as_array().unwrap().len(), 3);
    let future = app
        .get(
            "/api/v1/investigations?created_after=2999-01-01T00:00:00Z",
            "otto",
        )
        .await;
    assert_eq!(future.body["items"].as_array().unwrap().len(), 0);

    for (query, field) in [
        ("status=sleeping", "status"),
        ("phase=done", "phase"),
        ("created_after=yesterday", "created_after"),
        ("cursor=zzz", "cursor"),
        ("limit=501", "limit"),
        ("colour=red", "colour"),
    ] {
        let r = app
            .get(&format!("/api/v1/investigations?{query}"), "otto")
            .await;
        assert_eq!(
            r.problem(StatusCode::BAD_REQUEST, "invalid_query")["field"],
            field,
            "{query}"
        );
    }
}

async fn orchestrators_see_only_their_own(app: &TestApp) {
    let mine = app.dispatch("olivia", "mine").await;
    let theirs = app.dispatch("oscar", "theirs").await;
    let list = app.get("/api/v1/investigations", "olivia").await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], mine.as_str());
    app.get("/api/v1/investigations?requested_by=oscar", "olivia")
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    // Another orchestrator's investigation answers exactly like one that
    // does not exist: its existence is not disclosed.
    let unknown = "0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa";
    for path in ["", "/events", "/events/stream", "/audit"] {
        let theirs = app
            .get(&format!("/api/v1/investigations/{theirs}{path}"), "olivia")
            .await;
        let none = app
            .get(&format!("/api/v1/investigations/{unknown}{path}"), "olivia")
            .await;
        assert_eq!(
            (theirs.status, &theirs.body["code"]),
            (none.status, &none.body["code"]),
            "{path}: {} vs {}",
            theirs.body,
            none.body
        );
        // The audit needs a role olivia lacks, whatever the id.
        let expected = if path == "/audit" {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(theirs.status, expected, "{path}");
    }
    let ok = app
        .get(&format!("/api/v1/investigations/{mine}"), "olivia")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

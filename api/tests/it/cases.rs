//! `/cases` through `app(state)` on both stores: the lifecycle as an analyst
//! walks it, refusals that name what is wrong and change nothing, the queue's
//! filters, sort, pages and counts, merge, the audit, and the runtime mode's
//! previews.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::{on_both_backends, on_both_backends_in};

on_both_backends_in!("real":
    a_case_goes_from_open_through_containment_to_closed_and_reopens,
    an_invalid_transition_is_409_listing_the_allowed_statuses,
    bad_input_names_the_field_and_changes_nothing,
    the_queue_filters_sorts_pages_and_counts,
    comments_tasks_and_a_merge,
    a_tampered_case_timeline_row_is_reported_at_its_seq,
    related_cases_share_observables_and_markings_change,
);

on_both_backends_in!("dry_run":
    in_dry_run_a_persons_changes_are_previews_and_an_agents_are_stored,
);

on_both_backends!(in_dummy_mode_every_case_write_is_a_preview);

/// Creates a case as `who` in a persisting mode; returns its detail.
async fn create(app: &TestApp, who: &str, body: Value) -> Value {
    let r = app.post("/api/v1/cases", who, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

async fn status(app: &TestApp, id: &str, body: Value) -> crate::support::Reply {
    app.post(&format!("/api/v1/cases/{id}/status"), "otto", body)
        .await
}

fn kinds(timeline: &Value) -> Vec<String> {
    timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_case_goes_from_open_through_containment_to_closed_and_reopens(app: &TestApp) {
    let case = create(
        app,
        "otto",
        json!({"title": "Tor exit node logins on web-01", "severity": "critical",
               "tags": ["Brute-Force", "tor"], "alert_ids": ["alert-17"]}),
    )
    .await;
    let id = case["id"].as_str().unwrap().to_owned();
    let number = case["number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("CASE-"), "{case}");
    assert_eq!(
        (&case["status"], &case["severity"], &case["disposition"]),
        (&json!("open"), &json!("critical"), &Value::Null)
    );
    assert_eq!(case["tags"], json!(["brute-force", "tor"]));
    assert_eq!(case["alert_ids"], json!(["alert-17"]));
    assert_eq!(case["showcase"], false);
    // Read back by number as well as by id.
    let by_number = app.get(&format!("/api/v1/cases/{number}"), "aude").await;
    assert_eq!(by_number.body["id"], json!(id));

    // An observable, then the same one written differently: one sighting more.
    let first = app
        .post(
            &format!("/api/v1/cases/{id}/observables"),
            "olivia",
            json!({"type": "ip", "value": "185.220.101.4", "source": "siem"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = app
        .post(
            &format!("/api/v1/cases/{id}/observables"),
            "otto",
            json!({"type": "ip", "value": " 185.220.101[.]4 "}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.body["sightings"], 2);

    // Evidence stored with the case, downloaded with its hash checked.
    let log = "Jan 12 02:14:07 web-01 sshd[811]: Accepted password for root from 185.220.101.4";
    let evidence = app
        .post(
            &format!("/api/v1/cases/{id}/evidence"),
            "otto",
            json!({"name": "auth.log excerpt", "kind": "log", "content_text": log}),
        )
        .await;
    assert_eq!(evidence.status, StatusCode::CREATED, "{}", evidence.body);
    let ev = evidence.body["id"].as_str().unwrap().to_owned();
    assert_eq!(evidence.body["size_bytes"], log.len());
    assert_eq!(evidence.body["stored"], true);
    let content = app
        .get(&format!("/api/v1/cases/{id}/evidence/{ev}/content"), "aude")
        .await;
    assert_eq!(content.status, StatusCode::OK);
    assert_eq!(content.body, json!(log));
    assert_eq!(
        content.headers["vigil-sha256"].to_str().unwrap(),
        evidence.body["sha256"].as_str().unwrap()
    );
    // A custody handoff, then a review: kept in order.
    for body in [
        json!({"action": "transferred", "from": "otto", "to": "forensics", "note": "sealed bag 4411"}),
        json!({"action": "reviewed", "note": "hash matches"}),
    ] {
        let r = app
            .post(
                &format!("/api/v1/cases/{id}/evidence/{ev}/custody"),
                "otto",
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let custody = app
        .get(&format!("/api/v1/cases/{id}/evidence/{ev}/custody"), "aude")
        .await;
    let actions: Vec<&str> = custody
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["transferred", "reviewed"]);

    for to in ["in_progress", "contained", "eradicated", "recovered"] {
        let r = status(app, &id, json!({"status": to})).await;
        assert_eq!(r.status, StatusCode::OK, "{to}: {}", r.body);
        assert_eq!(r.body["status"], to);
    }
    // Resolving needs a disposition, named.
    let refused = status(app, &id, json!({"status": "resolved"})).await;
    assert_eq!(
        refused.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "disposition"
    );
    let resolved = status(
        app,
        &id,
        json!({"status": "resolved", "disposition": "true_positive"}),
    )
    .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.body["disposition"], "true_positive");
    let closed = status(app, &id, json!({"status": "closed"})).await;
    assert_eq!(
        (&closed.body["status"], &closed.body["disposition"]),
        (&json!("closed"), &json!("true_positive"))
    );
    // Reopening needs a reason and clears the disposition.
    let no_reason = status(app, &id, json!({"status": "open"})).await;
    assert_eq!(
        no_reason.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "reason"
    );
    let reopened = status(
        app,
        &id,
        json!({"status": "open", "reason": "same actor seen again"}),
    )
    .await;
    assert_eq!(
        (&reopened.body["status"], &reopened.body["disposition"]),
        (&json!("open"), &Value::Null)
    );

    let timeline = app
        .get(&format!("/api/v1/cases/{id}/timeline?limit=1000"), "otto")
        .await;
    let kinds = kinds(&timeline.body);
    for kind in [
        "created",
        "alert_linked",
        "observable_added",
        "observable_updated",
        "evidence_added",
        "custody_recorded",
        "status_change",
    ] {
        assert!(
            kinds.contains(&kind.to_owned()),
            "{kind} missing: {kinds:?}"
        );
    }
    assert_eq!(
        kinds.len() as i64,
        timeline.body["last_seq"].as_i64().unwrap()
    );
    let reopen = timeline.body["items"].as_array().unwrap().last().unwrap();
    assert_eq!(reopen["payload"]["disposition_from"], "true_positive");
    assert_eq!(reopen["actor"], "otto");

    let audit = app.get(&format!("/api/v1/cases/{id}/audit"), "aude").await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert_eq!(audit.body["valid"], true, "{}", audit.body);
    assert_eq!(audit.body["events_checked"], timeline.body["last_seq"]);
    let export = app
        .get(&format!("/api/v1/cases/{id}/audit?format=jsonl"), "aude")
        .await;
    assert_eq!(export.headers["vigil-chain-valid"], "true");
    let lines = export.body.as_str().unwrap().lines().count();
    assert_eq!(lines as i64, timeline.body["last_seq"].as_i64().unwrap());
}

async fn an_invalid_transition_is_409_listing_the_allowed_statuses(app: &TestApp) {
    let case = create(app, "otto", json!({"title": "Phishing wave"})).await;
    let id = case["id"].as_str().unwrap();
    status(
        app,
        id,
        json!({"status": "resolved", "disposition": "benign"}),
    )
    .await;
    let before = app.rows("case_events").await;
    let back = status(app, id, json!({"status": "contained"})).await;
    let problem = back.problem(StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(problem["allowed"], json!(["closed"]), "{problem}");
    // A legacy status is never a target.
    let legacy = status(app, id, json!({"status": "investigating"})).await;
    legacy.problem(StatusCode::CONFLICT, "invalid_transition");
    assert_eq!(
        app.rows("case_events").await,
        before,
        "refusals write nothing"
    );
    let same = app.get(&format!("/api/v1/cases/{id}"), "otto").await;
    assert_eq!(same.body["status"], "resolved");
}

async fn bad_input_names_the_field_and_changes_nothing(app: &TestApp) {
    let before = app.rows("cases").await;
    for (body, field) in [
        (json!({"title": "   "}), "title"),
        (json!({"title": "t".repeat(201)}), "title"),
        (json!({"title": "ok", "confidence": 1.5}), "confidence"),
        (json!({"title": "ok", "tags": ["  "]}), "tags"),
        (json!({"title": "ok", "severity": "urgent"}), "severity"),
        (json!({"title": "ok", "assignee": ""}), "assignee"),
    ] {
        let r = app.post("/api/v1/cases", "otto", body.clone()).await;
        assert!(
            r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::BAD_REQUEST,
            "{body}: {} {}",
            r.status,
            r.body
        );
        assert!(
            r.body["field"].as_str().unwrap_or_default().contains(field)
                || r.body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(field),
            "{body}: {}",
            r.body
        );
    }
    assert_eq!(app.rows("cases").await, before);

    let case = create(app, "otto", json!({"title": "Beaconing"})).await;
    let id = case["id"].as_str().unwrap();
    let events = app.rows("case_events").await;
    let observables = app.rows("observables").await;
    let bad_ip = app
        .post(
            &format!("/api/v1/cases/{id}/observables"),
            "otto",
            json!({"type": "ip", "value": "999.1.1.1"}),
        )
        .await;
    assert_eq!(
        bad_ip.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "value"
    );
    let both = app
        .post(
            &format!("/api/v1/cases/{id}/evidence"),
            "otto",
            json!({"name": "x", "kind": "file", "content_text": "a", "uri": "s3://b/x"}),
        )
        .await;
    assert_eq!(
        both.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "content"
    );
    let transfer = app
        .post(
            &format!("/api/v1/cases/{id}/tasks"),
            "otto",
            json!({"title": " "}),
        )
        .await;
    assert_eq!(
        transfer.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "title"
    );
    assert_eq!(app.rows("case_events").await, events);
    assert_eq!(app.rows("observables").await, observables);
    let missing = app
        .get("/api/v1/cases/00000000-0000-7000-8000-000000000000", "otto")
        .await;
    missing.problem(StatusCode::NOT_FOUND, "not_found");
}

async fn the_queue_filters_sorts_pages_and_counts(app: &TestApp) {
    let mut ids = Vec::new();
    for (title, severity, tag) in [
        ("Brute force on vpn-01", "critical", "vpn"),
        ("Phishing: invoice lure", "high", "phishing"),
        ("Scanner noise", "low", "noise"),
        ("Credential stuffing", "critical", "vpn"),
        ("USB policy violation", "medium", "dlp"),
    ] {
        let case = create(
            app,
            "otto",
            json!({"title": title, "severity": severity, "tags": [tag]}),
        )
        .await;
        ids.push(case["id"].as_str().unwrap().to_owned());
    }
    status(
        app,
        &ids[2],
        json!({"status": "closed", "disposition": "false_positive"}),
    )
    .await;
    app.post(
        &format!("/api/v1/cases/{}/observables", ids[1]),
        "otto",
        json!({"type": "domain", "value": "Invoice-Portal.example"}),
    )
    .await;

    let all = app.get("/api/v1/cases?limit=500", "otto").await;
    assert_eq!(
        all.body["kpis"],
        json!({"total": 5, "open": 4, "critical": 2, "resolved": 1})
    );
    let critical = app.get("/api/v1/cases?severity=critical", "aude").await;
    assert_eq!(critical.body["items"].as_array().unwrap().len(), 2);
    let vpn_open = app
        .get("/api/v1/cases?tag=vpn&status=open,in_progress", "otto")
        .await;
    assert_eq!(vpn_open.body["items"].as_array().unwrap().len(), 2);
    // The status filter leaves the other cards alone.
    assert_eq!(vpn_open.body["kpis"]["total"], 2);
    let searched = app.get("/api/v1/cases?q=PHISH", "otto").await;
    assert_eq!(searched.body["items"][0]["id"], json!(ids[1]));
    let by_observable = app
        .get("/api/v1/cases?observable=invoice-portal.example", "otto")
        .await;
    assert_eq!(by_observable.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(by_observable.body["items"][0]["counts"]["observables"], 1);

    // Keyset pages by number: every case once, in order.
    let mut seen = Vec::new();
    let mut path = "/api/v1/cases?sort=number&order=asc&limit=2".to_owned();
    loop {
        let page = app.get(&path, "otto").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/cases?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let bad = app.get("/api/v1/cases?cursor=nope", "otto").await;
    assert_eq!(
        bad.problem(StatusCode::BAD_REQUEST, "invalid_query")["field"],
        "cursor"
    );
    let first = app
        .get("/api/v1/cases?sort=number&order=asc&limit=2", "otto")
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let other = app
        .get(&format!("/api/v1/cases?sort=title&cursor={cursor}"), "otto")
        .await;
    other.problem(StatusCode::CONFLICT, "cursor_sort_conflict");
    let unknown = app.get("/api/v1/cases?status=lost", "otto").await;
    assert_eq!(
        unknown.problem(StatusCode::BAD_REQUEST, "invalid_query")["field"],
        "status"
    );

    // By observable count: the case holding one first, the ties after it
    // by id; one-case pages walk the same order.
    let by_count = app
        .get("/api/v1/cases?sort=observable_count&order=desc", "otto")
        .await;
    assert_eq!(by_count.status, StatusCode::OK, "{}", by_count.body);
    let listed: Vec<String> = by_count.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = ids.clone();
    expected.retain(|id| *id != ids[1]);
    expected.sort();
    expected.reverse();
    expected.insert(0, ids[1].clone());
    assert_eq!(listed, expected, "the count, then the id, descending");
    let mut walked = Vec::new();
    let mut path = "/api/v1/cases?sort=observable_count&order=desc&limit=1".to_owned();
    loop {
        let page = app.get(&path, "otto").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.body["items"].as_array().unwrap() {
            walked.push(item["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/cases?limit=1&cursor={cursor}"),
            None => break,
        }
        assert!(walked.len() <= ids.len(), "the walk ends");
    }
    assert_eq!(walked, expected);
    let by_alerts = app
        .get("/api/v1/cases?sort=alert_count&order=asc&limit=500", "otto")
        .await;
    assert_eq!(by_alerts.status, StatusCode::OK, "{}", by_alerts.body);
    let unknown_sort = app.get("/api/v1/cases?sort=alerts", "otto").await;
    assert_eq!(
        unknown_sort.problem(StatusCode::BAD_REQUEST, "invalid_query")["field"],
        "sort"
    );
}

async fn comments_tasks_and_a_merge(app: &TestApp) {
    let target = create(app, "otto", json!({"title": "Campaign against finance"})).await;
    let source = create(
        app,
        "olivia",
        json!({"title": "Lure seen at HR", "alert_ids": ["a-1", "a-2"]}),
    )
    .await;
    let (t, s) = (
        target["id"].as_str().unwrap().to_owned(),
        source["id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(source["created_by"], "olivia");
    let analyst = app
        .post(
            &format!("/api/v1/cases/{t}/comments"),
            "otto",
            json!({"body": "Same sender infrastructure as last week."}),
        )
        .await;
    assert_eq!(analyst.body["author_kind"], "analyst");
    let machine = app
        .post(
            &format!("/api/v1/cases/{s}/comments"),
            "olivia",
            json!({"body": "Triage agent: 2 recipients clicked."}),
        )
        .await;
    assert_eq!(machine.body["author_kind"], "machine");

    let task = app
        .post(
            &format!("/api/v1/cases/{s}/tasks"),
            "otto",
            json!({"title": "Reset both passwords", "priority": "high"}),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.body);
    let task_id = task.body["id"].as_str().unwrap().to_owned();
    let done = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/cases/{s}/tasks/{task_id}"),
            "otto",
            json!({"status": "done"}),
        )
        .await;
    assert_eq!(done.body["status"], "done", "{}", done.body);
    assert!(done.body["completed_at"].is_string());
    let reopened = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/cases/{s}/tasks/{task_id}"),
            "otto",
            json!({"status": "todo"}),
        )
        .await;
    assert_eq!(reopened.body["completed_at"], Value::Null);

    // Orchestrators file cases but do not merge, close or reassign them.
    for (path, body) in [
        (format!("/api/v1/cases/{t}/merge"), json!({"sources": [s]})),
        (
            format!("/api/v1/cases/{t}/status"),
            json!({"status": "closed", "disposition": "benign"}),
        ),
        (
            format!("/api/v1/cases/{t}/assign"),
            json!({"assignee": "olivia"}),
        ),
    ] {
        app.post(&path, "olivia", body)
            .await
            .problem(StatusCode::FORBIDDEN, "forbidden");
    }
    let merged = app
        .post(
            &format!("/api/v1/cases/{t}/merge"),
            "otto",
            json!({"sources": [source["number"]], "disposition": "true_positive"}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    let summary = merged.body["summary"].as_str().unwrap();
    assert!(summary.starts_with("Merged 1 case: 2 alerts"), "{summary}");
    assert_eq!(merged.body["target"]["alert_ids"], json!(["a-1", "a-2"]));
    assert_eq!(merged.body["target"]["counts"]["tasks"], 1);
    assert_eq!(merged.body["target"]["counts"]["comments"], 2);
    let gone = app.get(&format!("/api/v1/cases/{s}"), "otto").await;
    assert_eq!(
        (
            &gone.body["status"],
            &gone.body["merged_into"],
            &gone.body["disposition"]
        ),
        (&json!("closed"), &json!(t), &json!("true_positive"))
    );
    for id in [&t, &s] {
        let timeline = app
            .get(&format!("/api/v1/cases/{id}/timeline"), "otto")
            .await;
        assert!(
            kinds(&timeline.body).contains(&"case_merged".to_owned()),
            "{id}"
        );
    }
    // A merged case takes no more changes.
    app.post(
        &format!("/api/v1/cases/{s}/comments"),
        "otto",
        json!({"body": "late"}),
    )
    .await
    .problem(StatusCode::CONFLICT, "invalid_transition");
}

async fn a_tampered_case_timeline_row_is_reported_at_its_seq(app: &TestApp) {
    let case = create(app, "otto", json!({"title": "Insider download"})).await;
    let id = case["id"].as_str().unwrap();
    for to in ["in_progress", "contained"] {
        status(app, id, json!({"status": to})).await;
    }
    let clean = app.get(&format!("/api/v1/cases/{id}/audit"), "aude").await;
    assert_eq!(clean.body["valid"], true, "{}", clean.body);
    app.tamper_case_entry(
        id,
        2,
        r#"{"from":"open","to":"closed","disposition_from":null,"disposition_to":null,"reason":null}"#,
    )
    .await;
    let audit = app.get(&format!("/api/v1/cases/{id}/audit"), "aude").await;
    assert_eq!(audit.body["valid"], false, "{}", audit.body);
    assert_eq!(audit.body["broken_at_seq"], 2, "{}", audit.body);
}

async fn in_dry_run_a_persons_changes_are_previews_and_an_agents_are_stored(app: &TestApp) {
    let before = (app.rows("cases").await, app.rows("case_events").await);
    let preview = app
        .post(
            "/api/v1/cases",
            "otto",
            json!({"title": "Would-be case", "severity": "high"}),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert_eq!(
        (&preview.body["preview"], &preview.body["mode"]),
        (&json!(true), &json!("dry_run"))
    );
    assert_eq!(preview.body["would"]["record"]["title"], "Would-be case");
    assert_eq!(preview.body["would"]["timeline"][0]["kind"], "created");
    assert_eq!(
        (app.rows("cases").await, app.rows("case_events").await),
        before,
        "a preview writes nothing"
    );
    // An agent's case is stored (internal pipelines persist in dry_run).
    let stored = app
        .post("/api/v1/cases", "olivia", json!({"title": "Agent finding"}))
        .await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.body);
    let id = stored.body["id"].as_str().unwrap();
    let events = app.rows("case_events").await;
    let close = status(
        app,
        id,
        json!({"status": "closed", "disposition": "benign"}),
    )
    .await;
    assert_eq!(close.body["preview"], true, "{}", close.body);
    assert_eq!(close.body["would"]["record"]["status"], "closed");
    // A preview is refused exactly where the write would be.
    let refused = status(app, id, json!({"status": "resolved"})).await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert_eq!(app.rows("case_events").await, events);
    let read = app.get(&format!("/api/v1/cases/{id}"), "otto").await;
    assert_eq!(read.body["status"], "open");
}

async fn in_dummy_mode_every_case_write_is_a_preview(app: &TestApp) {
    let store_case = app
        .api_store
        .create_case(
            "vigil-showcase",
            vigil_engine::case::NewCase {
                title: "Showcase: brute force".into(),
                severity: vigil_engine::Severity::High,
                description: String::new(),
                assignee: None,
                requires_human_approval: false,
                confidence: None,
                confidence_reason: None,
                tags: vec!["showcase".into()],
                alert_ids: vec![],
            },
        )
        .await
        .unwrap();
    let id = store_case.id.to_string();
    let listed = app.get("/api/v1/cases", "otto").await;
    assert_eq!(listed.body["showcase"], true);
    assert_eq!(listed.body["items"][0]["showcase"], true);
    let tables = [
        "cases",
        "case_events",
        "observables",
        "evidence",
        "case_comments",
        "case_tasks",
    ];
    let mut before = Vec::new();
    for t in tables {
        before.push(app.rows(t).await);
    }
    for (method, path, who, body) in [
        (
            Method::POST,
            "/api/v1/cases".to_owned(),
            "olivia",
            json!({"title": "x"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/cases/{id}"),
            "otto",
            json!({"severity": "low"}),
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/status"),
            "otto",
            json!({"status": "in_progress"}),
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/assign"),
            "otto",
            json!({"assignee": "otto"}),
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/observables"),
            "olivia",
            json!({"type": "host", "value": "web-01"}),
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/evidence"),
            "otto",
            json!({"name": "n", "kind": "log", "content_text": "x"}),
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/comments"),
            "otto",
            json!({"body": "note"}),
        ),
        (
            Method::POST,
            format!("/api/v1/cases/{id}/tasks"),
            "otto",
            json!({"title": "t"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/cases/{id}"),
            "otto",
            Value::Null,
        ),
    ] {
        let r = if method == Method::DELETE {
            app.send(
                app.request(method.clone(), &path, Some(who))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
        } else {
            app.send_json(method.clone(), &path, who, body).await
        };
        assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.body);
        assert_eq!(r.body["preview"], true, "{method} {path}: {}", r.body);
        assert_eq!(r.body["mode"], "dummy");
        assert!(
            r.body["would"]["timeline"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
        );
    }
    // A preview is refused exactly where the write would be.
    let zero = app
        .post(
            &format!("/api/v1/cases/{id}/investigations"),
            "otto",
            json!({"agent_id": "triage", "prompt": "p", "budget": {"max_wall_secs": 0}}),
        )
        .await;
    assert_eq!(
        zero.problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")["field"],
        "budget.max_wall_secs"
    );
    let mut after = Vec::new();
    for t in tables {
        after.push(app.rows(t).await);
    }
    assert_eq!(before, after, "nothing stored in dummy mode");
}

async fn related_cases_share_observables_and_markings_change(app: &TestApp) {
    let a = create(app, "otto", json!({"title": "Scan from 203.0.113.7"})).await;
    let b = create(app, "otto", json!({"title": "Login from 203.0.113.7"})).await;
    let c = create(app, "otto", json!({"title": "Unrelated"})).await;
    let mut obs = Vec::new();
    for case in [&a, &b] {
        let id = case["id"].as_str().unwrap();
        for (kind, value) in [("ip", "203.0.113.7"), ("host", "web-01")] {
            let r = app
                .post(
                    &format!("/api/v1/cases/{id}/observables"),
                    "olivia",
                    json!({"type": kind, "value": value}),
                )
                .await;
            obs.push(r.body["id"].as_str().unwrap().to_owned());
        }
    }
    app.post(
        &format!("/api/v1/cases/{}/observables", c["id"].as_str().unwrap()),
        "otto",
        json!({"type": "ip", "value": "203.0.113.7"}),
    )
    .await;
    let related = app
        .get(
            &format!("/api/v1/cases/{}/related", a["id"].as_str().unwrap()),
            "aude",
        )
        .await;
    let list = related.body.as_array().unwrap();
    assert_eq!(
        list.len(),
        1,
        "one shared observable is not related: {}",
        related.body
    );
    assert_eq!(list[0]["id"], b["id"]);
    assert_eq!(list[0]["shared"].as_array().unwrap().len(), 2);
    assert_eq!(list[0]["score"], 1.0);

    let a_id = a["id"].as_str().unwrap();
    let marked = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/cases/{a_id}/observables/{}", obs[0]),
            "otto",
            json!({"tlp": "amber+strict", "pap": "red", "tags": ["tor-exit"], "enrichment": {"asn": 64496}}),
        )
        .await;
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.body);
    assert_eq!(
        (
            &marked.body["tlp"],
            &marked.body["pap"],
            &marked.body["enrichment"]["asn"]
        ),
        (&json!("amber+strict"), &json!("red"), &json!(64496))
    );
    let listed = app
        .get(&format!("/api/v1/cases/{a_id}/observables"), "olivia")
        .await;
    assert_eq!(listed.body[0]["tags"], json!(["tor-exit"]));
    // An observable of another case is not this case's.
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/cases/{a_id}/observables/{}", obs[2]),
        "otto",
        json!({"tlp": "red"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
}

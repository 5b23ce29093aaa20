//! The role matrix: every route for every role, allowed or 403; and
//! requests without a valid token are 401.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::on_both_backends;
use crate::support::{PRINCIPALS, TestApp};

on_both_backends!(
    every_route_allows_exactly_its_roles,
    requests_without_a_valid_token_are_401
);

/// (method, path, body, principals allowed). `{inv}` is an investigation
/// dispatched by olivia and parked on approval `{apr}`; `{fin}` is a failed
/// one (rescuable, cancel refused); `{rev}` awaits review; `{tok}` is a token id.
const MATRIX: &[(&str, &str, &str, &[&str])] = &[
    (
        "POST",
        "/api/v1/investigations",
        r#"{"agent_id":"triage","prompt":"p"}"#,
        &["admin", "olivia", "oscar", "dual"],
    ),
    (
        "GET",
        "/api/v1/investigations",
        "",
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "GET",
        "/api/v1/investigations/stats",
        "",
        &["admin", "otto", "anna", "arne", "aude", "dual"],
    ),
    (
        "GET",
        "/api/v1/investigations/{inv}",
        "",
        &["admin", "olivia", "otto", "anna", "arne", "aude", "dual"],
    ),
    // An approver reads only investigations that asked for an approval.
    (
        "GET",
        "/api/v1/investigations/{rev}",
        "",
        &["admin", "olivia", "otto", "aude"],
    ),
    (
        "GET",
        "/api/v1/investigations/{rev}/events",
        "",
        &["admin", "olivia", "otto", "aude"],
    ),
    (
        "GET",
        "/api/v1/investigations/{inv}/events",
        "",
        &["admin", "olivia", "otto", "anna", "arne", "aude", "dual"],
    ),
    (
        "GET",
        "/api/v1/investigations/{inv}/audit",
        "",
        &["admin", "otto", "aude"],
    ),
    (
        "GET",
        "/api/v1/investigations/{inv}/receipts",
        "",
        &["admin", "otto", "aude"],
    ),
    (
        "POST",
        "/api/v1/investigations/{fin}/rescue",
        r#"{"reason":"r"}"#,
        &["admin", "otto"],
    ),
    (
        "POST",
        "/api/v1/investigations/{fin}/cancel",
        r#"{"reason":"r"}"#,
        &["admin", "otto"],
    ),
    (
        "POST",
        "/api/v1/investigations/{rev}/review",
        r#"{"accept_raw":true}"#,
        &["admin", "otto"],
    ),
    (
        "GET",
        "/api/v1/approvals",
        "",
        &["admin", "otto", "anna", "arne", "aude", "dual"],
    ),
    // An orchestrator reads the requests of its own investigations only.
    (
        "GET",
        "/api/v1/approvals?investigation_id={inv}",
        "",
        &["admin", "olivia", "otto", "anna", "arne", "aude", "dual"],
    ),
    (
        "GET",
        "/api/v1/approvals/{apr}",
        "",
        &["admin", "otto", "anna", "arne", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/approvals/{apr}/decision",
        r#"{"decision":"maybe"}"#,
        &["admin", "anna", "arne", "dual"],
    ),
    (
        "GET",
        "/api/v1/system/mode",
        "",
        &[
            "admin", "olivia", "oscar", "otto", "anna", "arne", "aude", "dual",
        ],
    ),
    (
        "GET",
        "/api/v1/system/settings",
        "",
        &[
            "admin", "olivia", "oscar", "otto", "anna", "arne", "aude", "dual",
        ],
    ),
    (
        "GET",
        "/api/v1/me",
        "",
        &[
            "admin", "olivia", "oscar", "otto", "anna", "arne", "aude", "dual",
        ],
    ),
    ("GET", "/api/v1/tokens", "", &["admin"]),
    (
        "POST",
        "/api/v1/tokens",
        r#"{"name":"n","roles":["bogus"]}"#,
        &["admin"],
    ),
    ("DELETE", "/api/v1/tokens/{tok}", "", &["admin"]),
    // Cases (the app runs in dummy mode, so every write is a preview and
    // the fixtures stay as they are). `{asked}` is a case an investigation
    // (case_ref `CASE-n`) asked an approval for: approvers read it.
    (
        "GET",
        "/api/v1/cases/{asked}",
        "",
        &[
            "admin", "olivia", "oscar", "otto", "anna", "arne", "aude", "dual",
        ],
    ),
    (
        "GET",
        "/api/v1/cases/{asked}/timeline",
        "",
        &[
            "admin", "olivia", "oscar", "otto", "anna", "arne", "aude", "dual",
        ],
    ),
    (
        "GET",
        "/api/v1/cases",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/cases",
        r#"{"title":"matrix case"}"#,
        &["admin", "olivia", "oscar", "otto", "dual"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "PATCH",
        "/api/v1/cases/{case}",
        r#"{"severity":"low"}"#,
        &["admin", "otto"],
    ),
    ("DELETE", "/api/v1/cases/{case}", r#""#, &["admin", "otto"]),
    (
        "POST",
        "/api/v1/cases/{case}/status",
        r#"{"status":"in_progress"}"#,
        &["admin", "otto"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/assign",
        r#"{"assignee":"otto"}"#,
        &["admin", "otto"],
    ),
    (
        "POST",
        "/api/v1/alerts",
        r#"{"source":"siem","source_id":"m-1","rule":"r","severity":"low"}"#,
        &["admin", "olivia", "oscar", "otto", "dual"],
    ),
    (
        "GET",
        "/api/v1/alerts",
        "",
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/alerts/{alert}/promote",
        "",
        &["admin", "otto"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/alerts",
        r#"{"alert_id":"alert-9"}"#,
        &["admin", "olivia", "oscar", "otto", "dual"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/investigations",
        r#"{"agent_id":"triage","prompt":"p"}"#,
        &["admin", "olivia", "oscar", "otto", "dual"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/investigations",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/merge",
        r#"{"sources":["{src}"],"disposition":"benign"}"#,
        &["admin", "otto"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/related",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/timeline",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/audit",
        r#""#,
        &["admin", "otto", "aude"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/observables",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/observables",
        r#"{"type":"host","value":"web-01"}"#,
        &["admin", "olivia", "oscar", "otto", "dual"],
    ),
    (
        "PATCH",
        "/api/v1/cases/{case}/observables/{obs}",
        r#"{"tlp":"red"}"#,
        &["admin", "otto"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/evidence",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/evidence",
        r#"{"name":"n","kind":"log","content_text":"x"}"#,
        &["admin", "olivia", "oscar", "otto", "dual"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/evidence/{ev}/content",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/evidence/{ev}/custody",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/evidence/{ev}/custody",
        r#"{"action":"reviewed"}"#,
        &["admin", "otto"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/comments",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/comments",
        r#"{"body":"note"}"#,
        &["admin", "olivia", "oscar", "otto", "dual"],
    ),
    (
        "GET",
        "/api/v1/cases/{case}/tasks",
        r#""#,
        &["admin", "olivia", "oscar", "otto", "aude", "dual"],
    ),
    (
        "POST",
        "/api/v1/cases/{case}/tasks",
        r#"{"title":"t"}"#,
        &["admin", "otto"],
    ),
    (
        "PATCH",
        "/api/v1/cases/{case}/tasks/{task}",
        r#"{"status":"in_progress"}"#,
        &["admin", "otto"],
    ),
];

async fn every_route_allows_exactly_its_roles(app: &TestApp) {
    let inv = app.dispatch("olivia", "matrix").await;
    let apr = app.park_on_approval(&inv).await;
    let rev = app.dispatch("olivia", "review").await;
    app.finish_for_review(&rev, "{}").await;
    let fin = app.dispatch("olivia", "failed").await;
    app.post(
        &format!("/api/v1/investigations/{fin}/cancel"),
        "otto",
        json!({"reason": "setup"}),
    )
    .await;
    let tok = app.get("/api/v1/tokens", "admin").await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tok = format!("{tok}-nonexistent");
    let fixtures = CaseFixtures::new(app).await;

    for (method, template, body, allowed) in MATRIX {
        let path = template
            .replace("{inv}", &inv)
            .replace("{apr}", &apr)
            .replace("{rev}", &rev)
            .replace("{fin}", &fin)
            .replace("{tok}", &tok);
        let path = fixtures.fill(&path);
        let body = fixtures.fill(body);
        for (who, _) in PRINCIPALS {
            let mut req = app.request(method.parse::<Method>().unwrap(), &path, Some(who));
            if !body.is_empty() {
                req = req.header(header::CONTENT_TYPE, "application/json");
            }
            let r = app
                .send(req.body(Body::from(body.to_string())).unwrap())
                .await;
            // An investigation the principal may not read is hidden: 404,
            // exactly as for an id that does not exist (every one here
            // exists).
            let denied = (r.status == StatusCode::FORBIDDEN && r.body["code"] == "forbidden")
                || (r.status == StatusCode::NOT_FOUND
                    && r.body["code"] == "not_found"
                    && (template.starts_with("/api/v1/investigations/{")
                        || template.starts_with("/api/v1/cases/{")));
            assert_eq!(
                !denied,
                allowed.contains(who),
                "{method} {template} as {who}: {} {}",
                r.status,
                r.body
            );
            assert_ne!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {template} as {who}"
            );
            assert!(
                r.status.as_u16() < 500,
                "{method} {template} as {who}: {}",
                r.body
            );
        }
    }
    // The streams: headers decide, so look at the status only.
    for (path, allowed) in [
        (
            format!("/api/v1/investigations/{inv}/events/stream"),
            vec!["admin", "olivia", "otto", "anna", "arne", "aude", "dual"],
        ),
        (
            format!("/api/v1/cases/{}/timeline/stream", fixtures.case),
            vec!["admin", "olivia", "oscar", "otto", "aude", "dual"],
        ),
        (
            "/api/v1/approvals/stream".to_owned(),
            vec!["admin", "otto", "anna", "arne", "aude", "dual"],
        ),
    ] {
        for (who, _) in PRINCIPALS {
            let response = tower::ServiceExt::oneshot(
                app.router.clone(),
                app.request(Method::GET, &path, Some(who))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(
                response.status() == StatusCode::OK,
                allowed.contains(who),
                "GET {path} as {who}: {}",
                response.status()
            );
        }
    }
}

async fn requests_without_a_valid_token_are_401(app: &TestApp) {
    let id = app.dispatch("olivia", "who are you").await;
    let revoke = app.get("/api/v1/tokens", "admin").await;
    let olivia_token = revoke.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["principal"] == "olivia")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad_tokens = [
        None,
        Some("Bearer".to_owned()),
        Some("Basic b2xpdmlhOnB3".to_owned()),
        Some("Bearer vgl_0000000000000000_".to_owned() + &"0".repeat(64)),
        Some(format!("Bearer {}x", app.token("olivia"))),
    ];
    for auth in &bad_tokens {
        let mut req = app.request(Method::GET, &format!("/api/v1/investigations/{id}"), None);
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let r = app.send(req.body(Body::empty()).unwrap()).await;
        r.problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    }

    // Revocation takes effect on the next request.
    let ok = app
        .get(&format!("/api/v1/investigations/{id}"), "olivia")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let r = app
        .send(
            app.request(
                Method::DELETE,
                &format!("/api/v1/tokens/{olivia_token}"),
                Some("admin"),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body["revoked_at"].is_null());
    app.get(&format!("/api/v1/investigations/{id}"), "olivia")
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Probes and the document need no token.
    for path in [
        "/api/v1/healthz",
        "/api/v1/readyz",
        "/api/v1/metrics",
        "/api/v1/openapi.json",
    ] {
        let r = app
            .send(
                app.request(Method::GET, path, None)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
}

/// A case with an observable, an evidence item and a task, and a second
/// case to merge, written through the store.
struct CaseFixtures {
    case: String,
    alert: String,
    src: String,
    obs: String,
    ev: String,
    task: String,
    asked: String,
}

impl CaseFixtures {
    async fn new(app: &TestApp) -> Self {
        use vigil_engine::case::{
            EvidenceKind, NewCase, NewEvidence, NewObservable, NewTask, ObservableType,
        };
        let new_case = |title: &str| NewCase {
            title: title.to_owned(),
            severity: vigil_engine::Severity::High,
            description: String::new(),
            assignee: None,
            requires_human_approval: false,
            confidence: None,
            confidence_reason: None,
            tags: vec![],
            alert_ids: vec![],
        };
        let store = &app.api_store;
        let case = store.create_case("otto", new_case("matrix")).await.unwrap();
        let src = store.create_case("otto", new_case("source")).await.unwrap();
        let obs = store
            .add_observable(
                case.id,
                "otto",
                NewObservable {
                    kind: ObservableType::Ip,
                    value: "203.0.113.9".into(),
                    source: None,
                    tlp: None,
                    pap: None,
                    tags: vec![],
                    enrichment: None,
                },
            )
            .await
            .unwrap();
        let ev = store
            .add_evidence(
                case.id,
                "otto",
                NewEvidence {
                    name: "auth.log".into(),
                    kind: EvidenceKind::Log,
                    description: String::new(),
                    content: Some(b"line".to_vec()),
                    uri: None,
                    sha256: None,
                    size_bytes: None,
                    collected_by: None,
                    collected_at: None,
                },
            )
            .await
            .unwrap();
        let task = store
            .create_task(
                case.id,
                "otto",
                NewTask {
                    title: "contain".into(),
                    description: String::new(),
                    priority: None,
                    assignee: None,
                    due_at: None,
                },
            )
            .await
            .unwrap();
        let asked = store.create_case("otto", new_case("asked")).await.unwrap();
        let dispatched = app
            .post(
                "/api/v1/investigations",
                "olivia",
                json!({"agent_id": "triage", "prompt": "for the case", "case_ref": asked.number.to_string()}),
            )
            .await;
        let inv = dispatched.body["id"].as_str().unwrap().to_owned();
        app.park_on_approval(&inv).await;
        // No address, host or user: ungrouped, so it can be promoted.
        let alert = store
            .ingest_alert(
                "olivia",
                vigil_engine::case::NewAlert {
                    source: "siem".into(),
                    source_id: "matrix-1".into(),
                    rule: "matrix".into(),
                    severity: vigil_engine::Severity::Low,
                    title: String::new(),
                    observed_at: chrono::Utc::now(),
                    raw: json!({}),
                    entities: vec![],
                    traceparent: None,
                },
                &[],
            )
            .await
            .unwrap();
        Self {
            alert: alert.alert.id.to_string(),
            asked: asked.id.to_string(),
            case: case.id.to_string(),
            src: src.id.to_string(),
            obs: obs.id.to_string(),
            ev: ev.id.to_string(),
            task: task.id.to_string(),
        }
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{case}", &self.case)
            .replace("{alert}", &self.alert)
            .replace("{src}", &self.src)
            .replace("{obs}", &self.obs)
            .replace("{ev}", &self.ev)
            .replace("{task}", &self.task)
            .replace("{asked}", &self.asked)
    }
}

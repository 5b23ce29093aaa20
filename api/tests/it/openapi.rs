//! The OpenAPI document lists every route the router has, and every route
//! it lists is answered by the router.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};

use crate::support::{Backend, TestApp};

/// Every route of the API. Adding a route means adding it here, and the
/// test below fails until the document has it too.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/alerts"),
    ("post", "/api/v1/alerts"),
    ("post", "/api/v1/alerts/{id}/promote"),
    ("get", "/api/v1/approvals"),
    ("get", "/api/v1/approvals/stream"),
    ("get", "/api/v1/approvals/{id}"),
    ("post", "/api/v1/approvals/{id}/decision"),
    ("get", "/api/v1/cases"),
    ("post", "/api/v1/cases"),
    ("get", "/api/v1/cases/{id}"),
    ("patch", "/api/v1/cases/{id}"),
    ("delete", "/api/v1/cases/{id}"),
    ("post", "/api/v1/cases/{id}/status"),
    ("post", "/api/v1/cases/{id}/assign"),
    ("post", "/api/v1/cases/{id}/alerts"),
    ("get", "/api/v1/cases/{id}/investigations"),
    ("post", "/api/v1/cases/{id}/investigations"),
    ("post", "/api/v1/cases/{id}/merge"),
    ("get", "/api/v1/cases/{id}/related"),
    ("post", "/api/v1/cases/{id}/summarize"),
    ("get", "/api/v1/cases/{id}/timeline"),
    ("get", "/api/v1/cases/{id}/timeline/stream"),
    ("get", "/api/v1/cases/{id}/audit"),
    ("get", "/api/v1/cases/{id}/observables"),
    ("post", "/api/v1/cases/{id}/observables"),
    ("patch", "/api/v1/cases/{id}/observables/{observable_id}"),
    ("get", "/api/v1/cases/{id}/evidence"),
    ("post", "/api/v1/cases/{id}/evidence"),
    ("get", "/api/v1/cases/{id}/evidence/{evidence_id}/content"),
    ("get", "/api/v1/cases/{id}/evidence/{evidence_id}/custody"),
    ("post", "/api/v1/cases/{id}/evidence/{evidence_id}/custody"),
    ("get", "/api/v1/cases/{id}/comments"),
    ("post", "/api/v1/cases/{id}/comments"),
    ("get", "/api/v1/cases/{id}/tasks"),
    ("post", "/api/v1/cases/{id}/tasks"),
    ("patch", "/api/v1/cases/{id}/tasks/{task_id}"),
    ("get", "/api/v1/healthz"),
    ("get", "/api/v1/investigations"),
    ("post", "/api/v1/investigations"),
    ("get", "/api/v1/investigations/stats"),
    ("get", "/api/v1/investigations/{id}"),
    ("get", "/api/v1/investigations/{id}/audit"),
    ("get", "/api/v1/investigations/{id}/receipts"),
    ("post", "/api/v1/investigations/{id}/cancel"),
    ("get", "/api/v1/investigations/{id}/events"),
    ("get", "/api/v1/investigations/{id}/events/stream"),
    ("post", "/api/v1/investigations/{id}/rescue"),
    ("post", "/api/v1/investigations/{id}/review"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/readyz"),
    ("get", "/api/v1/system/mode"),
    ("get", "/api/v1/system/settings"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
];

#[tokio::test]
async fn the_document_lists_every_route_and_the_router_answers_each() {
    let doc = serde_json::to_value(vigil_api::openapi()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            let responses = op["responses"].as_object().unwrap();
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no response"
            );
            let secured = op.get("security").is_some();
            let public = [
                "/api/v1/healthz",
                "/api/v1/readyz",
                "/api/v1/metrics",
                "/api/v1/openapi.json",
            ]
            .contains(&path.as_str());
            assert_eq!(secured, !public, "{method} {path}: security requirement");
            if secured {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} documents no 401"
                );
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // Every documented route exists in the router: it answers with anything
    // but the router's own "no such route" / "method not allowed".
    let app = TestApp::new(Backend::Sqlite).await;
    for (method, path) in ROUTES {
        let concrete = ["{id}", "{observable_id}", "{evidence_id}", "{task_id}"]
            .iter()
            .fold(path.to_string(), |p, param| {
                p.replace(param, "0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa")
            });
        let r = app
            .send(
                app.request(
                    method.to_uppercase().parse::<Method>().unwrap(),
                    &concrete,
                    None,
                )
                .body(Body::empty())
                .unwrap(),
            )
            .await;
        assert_ne!(r.body["code"], "no_such_route", "{method} {path}");
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    app.close().await;
}

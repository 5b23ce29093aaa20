//! Head receipts through the API: signed at the terminal status, listed for
//! auditors, verifiable with the key `/system/mode` publishes.

use axum::http::StatusCode;
use serde_json::json;
use vigil_engine::receipt::Receipt;

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(terminal_runs_have_a_signed_receipt_auditors_can_read);

async fn terminal_runs_have_a_signed_receipt_auditors_can_read(app: &TestApp) {
    let id = app.dispatch("olivia", "cancel me").await;
    let path = format!("/api/v1/investigations/{id}/receipts");
    let none = app.get(&path, "aude").await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.body);
    assert_eq!(
        none.body["items"],
        json!([]),
        "pending runs have no receipt"
    );

    let r = app
        .post(
            &format!("/api/v1/investigations/{id}/cancel"),
            "otto",
            json!({"reason": "noise"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let listed = app.get(&path, "aude").await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", listed.body);
    let receipt: Receipt = serde_json::from_value(items[0].clone()).unwrap();
    assert_eq!(receipt.status, "failed");
    let stored = app.stored(&id).await;
    assert_eq!(
        (receipt.seq, &receipt.hash),
        (stored.last_seq, &stored.last_hash)
    );

    let mode = app.get("/api/v1/system/mode", "aude").await;
    let key = mode.body["receipt_key"].as_str().expect("a published key");
    receipt
        .verify(key)
        .expect("the receipt verifies with the published key");

    app.get(&path, "olivia")
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    app.get(
        "/api/v1/investigations/0190aaaa-aaaa-7aaa-8aaa-aaaaaaaaaaaa/receipts",
        "aude",
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
}

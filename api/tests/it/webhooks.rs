//! An approval request's webhook notifications, as the API shows them. The
//! notifier itself (signing, retries) is tested in `vigil-workers`; here the
//! outcomes are recorded through the store's outbox directly.

use axum::http::StatusCode;
use vigil_engine::ApprovalId;
use vigil_engine::store::DeliveryOutcome;

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(an_approval_lists_each_webhook_delivery_and_its_outcome);

async fn an_approval_lists_each_webhook_delivery_and_its_outcome(app: &TestApp) {
    let id = app.dispatch("olivia", "isolate?").await;
    let approval = app.park_on_approval(&id).await;
    let path = format!("/api/v1/approvals/{approval}");
    let detail = app.get(&path, "anna").await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["notifications"], serde_json::json!([]));

    let targets = ["soc".to_owned(), "gone".to_owned()];
    assert_eq!(app.api_store.enqueue_deliveries(&targets).await.unwrap(), 2);
    let claimed = app
        .api_store
        .claim_deliveries(chrono::Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let approval_id: ApprovalId = approval.parse().unwrap();
    app.api_store
        .record_delivery(
            approval_id,
            "soc",
            DeliveryOutcome::Delivered { status: 204 },
        )
        .await
        .unwrap();
    app.api_store
        .record_delivery(
            approval_id,
            "gone",
            DeliveryOutcome::Failed {
                status: None,
                error: "request failed: connection refused".into(),
            },
        )
        .await
        .unwrap();

    let detail = app.get(&path, "anna").await;
    let mut notes: Vec<(String, String, i64, String)> = detail.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["target"].as_str().unwrap().to_owned(),
                n["status"].as_str().unwrap().to_owned(),
                n["attempts"].as_i64().unwrap(),
                n["last_status"].to_string(),
            )
        })
        .collect();
    notes.sort();
    assert_eq!(
        notes,
        [
            ("gone".to_owned(), "failed".to_owned(), 1, "null".to_owned()),
            (
                "soc".to_owned(),
                "delivered".to_owned(),
                1,
                "204".to_owned()
            ),
        ]
    );
    let by_target = |name: &str| {
        detail.body["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["target"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_target("gone")["last_error"],
        "request failed: connection refused"
    );
    assert!(by_target("gone")["delivered_at"].is_null());
    assert!(by_target("soc")["delivered_at"].is_string());
}

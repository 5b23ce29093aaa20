//! Webhook notifications: signed so the receiver can verify them, retried
//! on a failing receiver, and the outcome recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use vigil_api::webhooks::{Notifier, WebhookSettings, WebhookTarget, verify_signature};

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(notifications_are_signed_retried_and_recorded);

#[derive(Clone, Default)]
struct Receiver {
    failures_left: Arc<Mutex<u32>>,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.received.lock().unwrap().push((headers, body));
    let mut left = r.failures_left.lock().unwrap();
    if *left > 0 {
        *left -= 1;
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::NO_CONTENT
    }
}

async fn serve(receiver: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

async fn notifications_are_signed_retried_and_recorded(app: &TestApp) {
    let flaky = Receiver {
        failures_left: Arc::new(Mutex::new(2)),
        ..Receiver::default()
    };
    let steady = Receiver::default();
    let settings = WebhookSettings {
        targets: vec![
            WebhookTarget {
                name: "flaky".into(),
                url: serve(flaky.clone()).await,
                secret: "flaky-secret".into(),
            },
            WebhookTarget {
                name: "steady".into(),
                url: serve(steady.clone()).await,
                secret: "steady-secret".into(),
            },
            WebhookTarget {
                name: "gone".into(),
                url: "http://127.0.0.1:9/nothing-listens".into(),
                secret: "x".into(),
            },
        ],
        poll: Duration::from_millis(10),
        timeout: Duration::from_secs(2),
        max_attempts: 3,
        backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };
    let notifier = Notifier::new(app.api_store.clone(), settings).unwrap();
    assert_eq!(notifier.pass().await.unwrap(), 0, "nothing to announce yet");

    let id = app.dispatch("olivia", "isolate?").await;
    let approval = app.park_on_approval(&id).await;
    for _ in 0..5 {
        notifier.pass().await.unwrap();
    }

    let steady_got = steady.received.lock().unwrap().clone();
    assert_eq!(steady_got.len(), 1, "delivered once");
    let flaky_got = flaky.received.lock().unwrap().clone();
    assert_eq!(flaky_got.len(), 3, "two failures, then delivered");
    let signed = steady_got
        .iter()
        .map(|r| ("steady-secret", r))
        .chain(flaky_got.iter().map(|r| ("flaky-secret", r)));
    for (secret, (headers, body)) in signed {
        let ts: i64 = headers["vigil-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let sig = headers["vigil-signature"].to_str().unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!(
            verify_signature(secret, ts, body, sig, now, 300),
            "signature verifies"
        );
        assert!(!verify_signature("wrong", ts, body, sig, now, 300));
        let doc: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(doc["type"], "approval_requested");
        assert_eq!(doc["approval"]["id"], approval.as_str());
        assert_eq!(doc["investigation"]["prompt"], "isolate?");
    }

    let detail = app
        .get(&format!("/api/v1/approvals/{approval}"), "anna")
        .await;
    let mut notes: Vec<(String, String, i64)> = detail.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["target"].as_str().unwrap().to_owned(),
                n["status"].as_str().unwrap().to_owned(),
                n["attempts"].as_i64().unwrap(),
            )
        })
        .collect();
    notes.sort();
    assert_eq!(
        notes,
        [
            ("flaky".to_owned(), "delivered".to_owned(), 3),
            ("gone".to_owned(), "failed".to_owned(), 3),
            ("steady".to_owned(), "delivered".to_owned(), 1),
        ]
    );
    let gone = detail.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["target"] == "gone")
        .unwrap();
    assert!(
        gone["last_error"]
            .as_str()
            .unwrap()
            .contains("request failed")
    );
    assert!(
        !gone["last_error"].as_str().unwrap().contains("127.0.0.1:9"),
        "URLs are not recorded"
    );

    // The webhook never touched the investigation.
    assert_eq!(app.stored(&id).await.last_seq, 3);
    notifier.pass().await.unwrap();
    assert_eq!(
        steady.received.lock().unwrap().len(),
        1,
        "never delivered twice"
    );
}

//! The webhook notifier against real stores (SQLite and PostgreSQL) and
//! loopback receivers: notifications are signed so the receiver can verify
//! them, retried on a failing receiver, and the outcome recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use vigil_engine::machine::ApprovalDraft;
use vigil_engine::store::{DeliveryStatus, DispatchRequest, Store};
use vigil_engine::{ApprovalId, InvestigationId, SystemClock};
use vigil_workers::webhooks::{Notifier, WebhookSettings, WebhookTarget, verify_signature};

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(vigil_store_postgres::testing::TestSchema),
}

/// A fresh store: a SQLite file, or a PostgreSQL schema of its own.
async fn open(postgres: bool) -> (Arc<dyn Store>, Keep) {
    if postgres {
        let schema = vigil_store_postgres::testing::TestSchema::new();
        let store = schema.open(Arc::new(SystemClock)).await;
        (Arc::new(store), Keep::Schema(schema))
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hooks.db").display());
        let store =
            vigil_store_sqlite::open(vigil_store_sqlite::Options::new(url), Arc::new(SystemClock))
                .await
                .unwrap();
        (Arc::new(store), Keep::Dir(dir))
    }
}

/// Dispatches an investigation as `olivia`, claims it and parks it on an
/// `isolate_host` approval, as a worker would.
async fn park_on_approval(store: &dyn Store, prompt: &str) -> (InvestigationId, ApprovalId) {
    let id = store
        .dispatch(DispatchRequest {
            agent_id: "triage".into(),
            prompt: prompt.into(),
            requested_by: "olivia".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .investigation
        .id;
    let inv = store
        .claim_next(&[], "test-worker", None, chrono::Duration::seconds(60))
        .await
        .unwrap()
        .expect("something to claim");
    assert_eq!(inv.id, id);
    let approval = store
        .await_approval(
            inv.id,
            inv.lease_epoch,
            ApprovalDraft {
                id: ApprovalId::new_at(chrono::Utc::now()),
                tool_call_id: "call_isolate".into(),
                action: "isolate_host".into(),
                arguments: json!({"host": "ws-042"}),
                rationale: Some("beaconing to a known C2".into()),
                expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
                mode: Some("real".into()),
            },
        )
        .await
        .unwrap();
    (id, approval.id)
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_signed_retried_and_recorded_on_sqlite() {
    notifications_are_signed_retried_and_recorded(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_signed_retried_and_recorded_on_postgres() {
    notifications_are_signed_retried_and_recorded(true).await;
}

async fn notifications_are_signed_retried_and_recorded(postgres: bool) {
    let (store, keep) = open(postgres).await;
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
    let notifier = Notifier::new(store.clone(), store.clone(), settings).unwrap();
    assert_eq!(notifier.pass().await.unwrap(), 0, "nothing to announce yet");

    let (id, approval) = park_on_approval(&*store, "isolate?").await;
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
        assert_eq!(doc["approval"]["id"], approval.to_string());
        assert_eq!(doc["investigation"]["prompt"], "isolate?");
    }

    let deliveries = store.deliveries(approval).await.unwrap();
    let mut notes: Vec<(String, DeliveryStatus, i32)> = deliveries
        .iter()
        .map(|d| (d.target.clone(), d.status, d.attempts))
        .collect();
    notes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        notes,
        [
            ("flaky".to_owned(), DeliveryStatus::Delivered, 3),
            ("gone".to_owned(), DeliveryStatus::Failed, 3),
            ("steady".to_owned(), DeliveryStatus::Delivered, 1),
        ]
    );
    let gone = deliveries.iter().find(|d| d.target == "gone").unwrap();
    let last_error = gone.last_error.as_deref().unwrap();
    assert!(last_error.contains("request failed"), "{last_error}");
    assert!(
        !last_error.contains("127.0.0.1:9"),
        "URLs are not recorded: {last_error}"
    );

    // The webhook never touched the investigation.
    assert_eq!(store.get(id).await.unwrap().last_seq, 3);
    notifier.pass().await.unwrap();
    assert_eq!(
        steady.received.lock().unwrap().len(),
        1,
        "never delivered twice"
    );
    if let Keep::Schema(schema) = keep {
        schema.drop_now().await;
    }
}

fn one_target(url: String) -> WebhookSettings {
    WebhookSettings {
        targets: vec![WebhookTarget {
            name: "soc".into(),
            url,
            secret: "soc-secret".into(),
        }],
        poll: Duration::from_millis(10),
        timeout: Duration::from_secs(2),
        max_attempts: 3,
        backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_decided_before_its_announcement_is_not_announced_on_sqlite() {
    a_request_decided_before_its_announcement_is_not_announced(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_decided_before_its_announcement_is_not_announced_on_postgres() {
    a_request_decided_before_its_announcement_is_not_announced(true).await;
}

async fn a_request_decided_before_its_announcement_is_not_announced(postgres: bool) {
    let (store, keep) = open(postgres).await;
    let receiver = Receiver::default();
    let notifier = Notifier::new(
        store.clone(),
        store.clone(),
        one_target(serve(receiver.clone()).await),
    )
    .unwrap();
    let (_, approval) = park_on_approval(&*store, "isolate?").await;
    // Queued for announcement, then decided before the notifier got to it.
    store.enqueue_deliveries(&["soc".to_owned()]).await.unwrap();
    store
        .decide_approval(approval, "ana", vigil_engine::Decision::Approve, None)
        .await
        .unwrap();
    notifier.pass().await.unwrap();
    notifier.pass().await.unwrap();

    assert_eq!(receiver.received.lock().unwrap().len(), 0, "nothing sent");
    let deliveries = store.deliveries(approval).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    let why = deliveries[0].last_error.as_deref().unwrap();
    assert!(
        why.contains("not sent") && why.contains("approved"),
        "{why}"
    );
    if let Keep::Schema(schema) = keep {
        schema.drop_now().await;
    }
}

/// A receiver that, while it answers, lets another replica's notifier claim
/// whatever deliveries are due, and counts what that replica got.
#[derive(Clone)]
struct Replica {
    store: Arc<dyn Store>,
    received: Arc<Mutex<usize>>,
    taken_meanwhile: Arc<Mutex<usize>>,
}

async fn receive_and_claim(State(r): State<Replica>) -> StatusCode {
    *r.received.lock().unwrap() += 1;
    let taken = r
        .store
        .claim_deliveries(chrono::Duration::seconds(60), 32)
        .await
        .unwrap();
    *r.taken_meanwhile.lock().unwrap() += taken.len();
    StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_held_only_while_it_is_posted_on_sqlite() {
    a_delivery_is_held_only_while_it_is_posted(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_held_only_while_it_is_posted_on_postgres() {
    a_delivery_is_held_only_while_it_is_posted(true).await;
}

async fn a_delivery_is_held_only_while_it_is_posted(postgres: bool) {
    let (store, keep) = open(postgres).await;
    let replica = Replica {
        store: store.clone(),
        received: Arc::default(),
        taken_meanwhile: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/hook", post(receive_and_claim))
        .with_state(replica.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let notifier = Notifier::new(
        store.clone(),
        store.clone(),
        one_target(format!("http://{addr}/hook")),
    )
    .unwrap();
    park_on_approval(&*store, "isolate one?").await;
    park_on_approval(&*store, "isolate two?").await;

    notifier.pass().await.unwrap();
    // While the first announcement was being posted the second was not
    // held by this notifier: the other replica took it, so this one did
    // not post it too.
    assert_eq!(*replica.taken_meanwhile.lock().unwrap(), 1);
    assert_eq!(*replica.received.lock().unwrap(), 1);
    if let Keep::Schema(schema) = keep {
        schema.drop_now().await;
    }
}

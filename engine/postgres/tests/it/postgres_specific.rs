//! Behaviour particular to the PostgreSQL store.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use vigil_engine::store::{DispatchRequest, Dispatcher, Error, Reads, Wakeup, Wakeups};
use vigil_engine::{SystemClock, conformance::Harness};
use vigil_store_postgres::Options;

use crate::conformance::{PgHarness, admin_pool};

fn request(agent: &str) -> DispatchRequest {
    DispatchRequest {
        agent_id: agent.into(),
        prompt: "check host web-01".into(),
        requested_by: "soar".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn migrate_applies_once_and_creates_the_schema() {
    let h = PgHarness::new();
    let store = h.store(Arc::new(SystemClock)).await;
    assert!(
        vigil_store_postgres::migrate(&store)
            .await
            .unwrap()
            .is_empty(),
        "already applied"
    );
    let reap_index: Option<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'investigations_reap'",
    )
    .bind(h.schema())
    .fetch_optional(store.backend().pool())
    .await
    .unwrap();
    assert!(
        reap_index.unwrap().contains("WHERE"),
        "the reaper index is partial"
    );
    h.cleanup(store).await;
}

#[tokio::test]
async fn wakeups_reconnect_after_the_listener_connection_is_killed() {
    let h = PgHarness::new();
    let store = h.store(Arc::new(SystemClock)).await;
    let mut wakeups = store.wakeups();
    let first = tokio::time::timeout(Duration::from_secs(10), wakeups.next())
        .await
        .unwrap();
    assert_eq!(
        first,
        Some(Wakeup::Resync),
        "a new listener starts with a resync"
    );

    store.dispatch(request("triage")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), wakeups.next())
        .await
        .unwrap();
    assert_eq!(
        got,
        Some(Wakeup::Queued {
            agent_id: "triage".into()
        })
    );

    // Kill the LISTEN connection from outside, as a server restart or a
    // network cut would.
    let admin = admin_pool().await;
    let channel = store.backend().channel().to_owned();
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE application_name = 'vigil' AND query ILIKE '%LISTEN%' AND query LIKE '%' || $1 || '%'",
    )
    .bind(&channel)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(killed, 1, "exactly the listener connection was terminated");

    let resync = tokio::time::timeout(Duration::from_secs(15), wakeups.next())
        .await
        .unwrap();
    assert_eq!(resync, Some(Wakeup::Resync), "reconnection is announced");
    store.dispatch(request("phishing")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Wakeup::Queued { agent_id }) = wakeups.next().await {
                return agent_id;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got, "phishing");
    admin.close().await;
    h.cleanup(store).await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_not_empty() {
    let mut options = Options::new("postgres://postgres@127.0.0.1:1/postgres");
    options.acquire_timeout = Duration::from_secs(2);
    let store = vigil_store_postgres::connect(options, Arc::new(SystemClock))
        .await
        .unwrap();
    let err = store.list(&Default::default()).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(store.ping().await.unwrap_err().is_transient());
    let err = store.dispatch(request("triage")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
}

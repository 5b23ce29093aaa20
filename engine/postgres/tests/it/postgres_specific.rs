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

/// Callers get cancelled (a heartbeat that finds the lease lost drops the
/// step; shutdown drops the claim streams), sometimes between sending a
/// `BEGIN` and reading its answer. The connection must not go back to the
/// pool inside a transaction nobody owns: the next autocommit write on it
/// would join that transaction and could be rolled back later, although
/// the store had acknowledged it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_calls_never_swallow_acknowledged_writes() {
    use vigil_engine::event::{ModelTurn, StepEvent};
    use vigil_engine::store::Leases;

    let harness = PgHarness::new();
    let store = harness.store(Arc::new(SystemClock)).await;
    let mut options = vigil_store_postgres::testing::TestSchema::new().options();
    options.schema = Some(harness.schema().to_owned());
    // One connection, so every call reuses the one a cancelled call left.
    options.max_connections = 1;
    let small = vigil_store_postgres::connect(options, Arc::new(SystemClock))
        .await
        .unwrap();
    let id = small.dispatch(request("a")).await.unwrap().investigation.id;
    let claimed = small
        .claim_next(&["a".to_owned()], "w", None, chrono::Duration::minutes(10))
        .await
        .unwrap()
        .unwrap();
    let turn = || {
        StepEvent::ModelTurn(ModelTurn {
            model: "m".into(),
            content: Some("thinking".into()),
            tool_calls: vec![],
            input_tokens: 1,
            output_tokens: 1,
            cost_usd: 0.0,
        })
    };
    let mut acknowledged = 0;
    for i in 0..200u64 {
        // A claim for an agent with nothing queued (BEGIN, SELECT,
        // ROLLBACK), cancelled after its first poll (which sends the
        // BEGIN) or at a later point.
        let nobody = ["nobody".to_owned()];
        let claim = small.claim_next(&nobody, "w", None, chrono::Duration::minutes(1));
        if i % 2 == 0 {
            let _ = futures::FutureExt::now_or_never(claim);
        } else {
            let _ = tokio::time::timeout(Duration::from_micros(i * 10), claim).await;
        }
        // An autocommit write the store acknowledges.
        if small
            .checkpoint(id, claimed.lease_epoch, vec![turn()])
            .await
            .is_ok()
        {
            acknowledged += 1;
        }
    }
    let _ = small
        .claim_next(
            &["nobody".to_owned()],
            "w",
            None,
            chrono::Duration::minutes(1),
        )
        .await;
    small.backend().close().await;
    // Read through another handle: every acknowledged event is there.
    let events = store.events(id, 0, 1000).await.unwrap();
    assert_eq!(acknowledged, 200, "every checkpoint was acknowledged");
    assert_eq!(
        events.len() as i64,
        2 + acknowledged,
        "dispatched, claimed, then one per checkpoint"
    );
    let report = store.verify_chain(id).await.unwrap();
    assert!(report.valid, "{report:?}");
    store.backend().close().await;
    harness_drop(harness).await;
}

async fn harness_drop(harness: PgHarness) {
    let admin = admin_pool().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {} CASCADE",
        harness.schema()
    )))
    .execute(&admin)
    .await;
}

#[tokio::test]
async fn lease_expiry_follows_the_database_clock_not_each_process() {
    use vigil_engine::ManualClock;
    use vigil_engine::store::{Leases, Sweeps};

    let h = PgHarness::new();
    // Two processes on one database whose clocks disagree by ten minutes.
    let behind = Arc::new(ManualClock::starting_now());
    let ahead = Arc::new(ManualClock::new(
        chrono::Utc::now() + chrono::Duration::minutes(10),
    ));
    let setup = h.store(Arc::new(SystemClock)).await;
    setup.backend().close().await;
    let a = h.aligned_store(behind.clone()).await;
    let b = h.aligned_store(ahead.clone()).await;
    let lease = chrono::Duration::minutes(2);

    a.dispatch(request("triage")).await.unwrap();
    let held = a
        .claim_next(&[], "worker-a", None, lease)
        .await
        .unwrap()
        .unwrap();
    // The process whose clock runs ahead does not think A's lease ran out.
    assert!(b.reap(100).await.unwrap().is_empty(), "reaped a live lease");
    // And a lease B grants is not already past for A, nor renewable by A
    // after it ran out by the database's clock.
    b.dispatch(request("triage")).await.unwrap();
    let granted = b
        .claim_next(&[], "worker-b", None, lease)
        .await
        .unwrap()
        .unwrap();
    let a_now = vigil_engine::store::backend::Backend::clock(a.backend()).now();
    assert!(
        granted.lease_expires_at.unwrap() > a_now,
        "B's lease is already over by A's clock"
    );
    a.heartbeat(held.id, held.lease_epoch, lease).await.unwrap();

    // Time passes for both: once the lease is over by the shared clock,
    // either process reaps it.
    behind.advance(chrono::Duration::minutes(3));
    ahead.advance(chrono::Duration::minutes(3));
    let reaped = b.reap(100).await.unwrap();
    assert_eq!(reaped.len(), 2, "{reaped:?}");
    b.backend().close().await;
    h.cleanup(a).await;
}

//! Behaviour particular to the SQLite store.

use std::sync::Arc;

use vigil_engine::store::{Dispatcher, Error, Reads};
use vigil_engine::{ManualClock, SystemClock};
use vigil_store_sqlite::Options;

use crate::conformance::SqliteHarness;

#[tokio::test]
async fn open_creates_a_missing_file_and_migrates_once() {
    let h = SqliteHarness::new();
    let clock = Arc::new(SystemClock);
    let store = vigil_store_sqlite::connect(Options::new(h.url()), clock.clone())
        .await
        .unwrap();
    let applied = vigil_store_sqlite::migrate(&store).await.unwrap();
    assert_eq!(applied, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    assert!(
        vigil_store_sqlite::migrate(&store)
            .await
            .unwrap()
            .is_empty()
    );
    store.ping().await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.backend().writer())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.backend().reader())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.backend().writer())
        .await
        .unwrap();
    assert_eq!(fk, 1, "the table rebuild turns foreign keys back on");
}

/// Migration 0013 rebuilds `investigations` (SQLite cannot change a CHECK
/// in place): rows, their events' references and every index survive it.
#[tokio::test]
async fn the_children_migration_keeps_existing_investigations() {
    let h = SqliteHarness::new();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(h.url().trim_start_matches("sqlite://"))
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let mut upto12 = vigil_migrations::sqlite();
    upto12.migrations = std::borrow::Cow::Owned(upto12.migrations[..12].to_vec());
    upto12.run(&pool).await.unwrap();
    let id = "0191d3a2-0000-7000-8000-000000000001";
    sqlx::query(
        "INSERT INTO investigations (id, agent_id, prompt, requested_by, request_digest, \
         status, phase, last_hash, last_seq, created_at, updated_at, case_purpose) \
         VALUES (?1, 'triage', 'an old run', 'soar', 'd', 'pending', 'queued', 'h1', 1, 1, 1, \
         'investigate')",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO investigation_events (investigation_id, seq, kind, payload, actor, \
         epoch, created_at, prev_hash, hash) VALUES (?1, 1, 'dispatched', '{}', 'soar', 0, 1, \
         'h0', 'h1')",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    let indexes = |pool: sqlx::SqlitePool| async move {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'investigations' \
             AND sql IS NOT NULL ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        names
    };
    let before = indexes(pool.clone()).await;
    pool.close().await;

    let store = vigil_store_sqlite::connect(Options::new(h.url()), Arc::new(SystemClock))
        .await
        .unwrap();
    assert_eq!(vigil_store_sqlite::migrate(&store).await.unwrap(), [13, 14]);
    let old = store
        .get(vigil_engine::InvestigationId(id.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(old.prompt, "an old run");
    assert_eq!(old.parent, None);
    assert_eq!(old.last_seq, 1);
    let broken: Vec<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(store.backend().writer())
        .await
        .unwrap_or_default();
    assert!(broken.is_empty(), "{broken:?}");
    let mut after = indexes(store.backend().reader().clone()).await;
    assert!(after.contains(&"investigations_by_parent".to_owned()));
    // 0014, applied by the same call, adds one more.
    after.retain(|n| n != "investigations_by_parent" && n != "investigations_live_phase");
    assert_eq!(after, before, "every index is back");
}

/// Migration 0014 counts the finished runs already in the table, so `stats`
/// reads the same numbers after it as the full count did before.
#[tokio::test]
async fn the_scale_migration_counts_finished_runs_already_there() {
    let h = SqliteHarness::new();
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(h.url().trim_start_matches("sqlite://"))
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let mut upto13 = vigil_migrations::sqlite();
    upto13.migrations = std::borrow::Cow::Owned(upto13.migrations[..13].to_vec());
    upto13.run(&pool).await.unwrap();
    for (n, status, phase) in [
        (1, "completed", None),
        (2, "completed", None),
        (3, "failed", None),
        (4, "pending", Some("queued")),
    ] {
        sqlx::query(
            "INSERT INTO investigations (id, agent_id, prompt, requested_by, request_digest, \
             status, phase, last_hash, last_seq, created_at, updated_at, case_purpose) \
             VALUES (?1, 'triage', 'an old run', 'soar', 'd', ?2, ?3, 'h1', 1, 1, 1, \
             'investigate')",
        )
        .bind(format!("0191d3a2-0000-7000-8000-00000000000{n}"))
        .bind(status)
        .bind(phase)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = vigil_store_sqlite::connect(Options::new(h.url()), Arc::new(SystemClock))
        .await
        .unwrap();
    assert_eq!(vigil_store_sqlite::migrate(&store).await.unwrap(), [14]);
    let mut counts: Vec<(String, Option<String>, i64)> = store
        .stats()
        .await
        .unwrap()
        .states
        .iter()
        .map(|s| {
            (
                s.status.to_string(),
                s.phase.map(|p| p.to_string()),
                s.count,
            )
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("completed".to_owned(), None, 2),
            ("failed".to_owned(), None, 1),
            ("pending".to_owned(), Some("queued".to_owned()), 1),
        ]
    );
}

#[tokio::test]
async fn two_stores_on_one_file_share_the_queue() {
    // Like `vigil serve` and a CLI command on the same file: two processes'
    // worth of pools, both writing with BEGIN IMMEDIATE.
    let h = SqliteHarness::new();
    let clock = Arc::new(ManualClock::starting_now());
    let a = vigil_store_sqlite::open(Options::new(h.url()), clock.clone())
        .await
        .unwrap();
    let b = vigil_store_sqlite::open(Options::new(h.url()), clock.clone())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for (i, store) in [a.clone(), b.clone()]
        .into_iter()
        .cycle()
        .take(40)
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            store
                .dispatch(vigil_engine::store::DispatchRequest {
                    agent_id: "triage".into(),
                    prompt: format!("alert {i}"),
                    requested_by: "soar".into(),
                    ..Default::default()
                })
                .await
        }));
    }
    for t in tasks {
        t.await
            .unwrap()
            .expect("no SQLITE_BUSY under concurrent writers");
    }
    let page = b
        .list(&vigil_engine::store::ListQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 40);
}

#[tokio::test]
async fn a_bad_url_is_a_clear_error() {
    let err = vigil_store_sqlite::open(Options::new("postgres://nope"), Arc::new(SystemClock))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

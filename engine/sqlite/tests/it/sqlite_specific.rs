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
    assert_eq!(applied, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
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

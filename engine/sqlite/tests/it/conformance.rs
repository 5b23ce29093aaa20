//! The shared store conformance suite, on a fresh SQLite file per test.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use tempfile::TempDir;
use vigil_engine::conformance::Harness;
use vigil_engine::{InvestigationId, ManualClock};
use vigil_store_sqlite::{Options, SqliteStore};

/// Each test gets its own temporary directory and database file.
pub struct SqliteHarness {
    dir: TempDir,
}

impl SqliteHarness {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("vigil.db").display())
    }
}

async fn raw(store: &SqliteStore, sql: String) -> Result<u64, String> {
    sqlx::query(AssertSqlSafe(sql))
        .execute(store.backend().writer())
        .await
        .map(|done| done.rows_affected())
        .map_err(|e| e.to_string())
}

#[async_trait]
impl Harness for SqliteHarness {
    type Store = SqliteStore;

    async fn fresh(&self, clock: Arc<ManualClock>) -> SqliteStore {
        vigil_store_sqlite::open(Options::new(self.url()), clock)
            .await
            .expect("open SQLite store")
    }

    async fn reopen(&self, clock: Arc<ManualClock>) -> SqliteStore {
        self.fresh(clock).await
    }

    async fn raw_update_event(
        &self,
        store: &SqliteStore,
        id: InvestigationId,
        seq: i64,
    ) -> Result<u64, String> {
        raw(store, format!(
            "UPDATE investigation_events SET payload = '{{}}' WHERE investigation_id = '{id}' AND seq = {seq}"
        ))
        .await
    }

    async fn raw_delete_event(
        &self,
        store: &SqliteStore,
        id: InvestigationId,
        seq: i64,
    ) -> Result<u64, String> {
        raw(
            store,
            format!(
                "DELETE FROM investigation_events WHERE investigation_id = '{id}' AND seq = {seq}"
            ),
        )
        .await
    }

    async fn tamper_event(
        &self,
        store: &SqliteStore,
        id: InvestigationId,
        seq: i64,
        payload: &str,
    ) {
        let payload = payload.replace('\'', "''");
        let mut tx = store.backend().writer().begin().await.unwrap();
        for sql in [
            "DROP TRIGGER investigation_events_no_update".to_owned(),
            format!(
                "UPDATE investigation_events SET payload = '{payload}' WHERE investigation_id = '{id}' AND seq = {seq}"
            ),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let restore = vigil_migrations::sqlite().migrations[0]
            .sql
            .as_str()
            .split("CREATE TRIGGER investigation_events_no_update")
            .nth(1)
            .and_then(|rest| rest.split("END;").next())
            .map(|body| format!("CREATE TRIGGER investigation_events_no_update{body}END;"))
            .expect("trigger in migration 0001");
        sqlx::query(AssertSqlSafe(restore))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    async fn cleanup(&self, store: SqliteStore) {
        store.backend().close().await;
    }
}

vigil_engine::conformance_tests!(SqliteHarness::new());

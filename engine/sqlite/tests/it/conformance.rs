//! The shared store conformance suite, on a fresh SQLite file per test.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use tempfile::TempDir;
use uuid::Uuid;
use vigil_engine::ManualClock;
use vigil_engine::conformance::Harness;
use vigil_engine::log::LogName;
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

/// The table and id column behind each log.
fn log_table(log: LogName) -> (&'static str, &'static str) {
    match log {
        LogName::Investigation => ("investigation_events", "investigation_id"),
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

    async fn raw_update_entry(
        &self,
        store: &SqliteStore,
        log: LogName,
        id: Uuid,
        seq: i64,
    ) -> Result<u64, String> {
        let (table, column) = log_table(log);
        raw(
            store,
            format!("UPDATE {table} SET payload = '{{}}' WHERE {column} = '{id}' AND seq = {seq}"),
        )
        .await
    }

    async fn raw_delete_entry(
        &self,
        store: &SqliteStore,
        log: LogName,
        id: Uuid,
        seq: i64,
    ) -> Result<u64, String> {
        let (table, column) = log_table(log);
        raw(
            store,
            format!("DELETE FROM {table} WHERE {column} = '{id}' AND seq = {seq}"),
        )
        .await
    }

    async fn tamper_entry(
        &self,
        store: &SqliteStore,
        log: LogName,
        id: Uuid,
        seq: i64,
        payload: &str,
    ) {
        let (table, column) = log_table(log);
        let trigger = format!("{table}_no_update");
        let payload = payload.replace('\'', "''");
        let mut tx = store.backend().writer().begin().await.unwrap();
        for sql in [
            format!("DROP TRIGGER {trigger}"),
            format!(
                "UPDATE {table} SET payload = '{payload}' WHERE {column} = '{id}' AND seq = {seq}"
            ),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let create = format!("CREATE TRIGGER {trigger}");
        let restore = vigil_migrations::sqlite()
            .migrations
            .iter()
            .find_map(|m| m.sql.as_str().split(create.as_str()).nth(1))
            .and_then(|rest| rest.split("END;").next())
            .map(|body| format!("{create}{body}END;"))
            .expect("the trigger in a migration");
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

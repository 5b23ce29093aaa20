//! The shared store conformance suite, on a fresh SQLite file per test.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use tempfile::TempDir;
use uuid::Uuid;
use vigil_engine::ManualClock;
use vigil_engine::conformance::Harness;
use vigil_engine::log::LogName;
use vigil_engine::receipt::ReceiptSigner;
use vigil_engine::store::{GroupCommit, GroupStats};
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
        LogName::Case => ("case_events", "case_id"),
    }
}

/// The table holding the aggregate rows whose log is `log`.
fn log_owner(log: LogName) -> &'static str {
    match log {
        LogName::Investigation => "investigations",
        LogName::Case => "cases",
    }
}

/// The statement `create` (`CREATE TRIGGER <name>`) as a migration wrote it.
fn trigger_sql(create: &str) -> String {
    vigil_migrations::sqlite()
        .migrations
        .iter()
        .find_map(|m| m.sql.as_str().split(create).nth(1))
        .and_then(|rest| rest.split("END;").next())
        .map(|body| format!("{create}{body}END;"))
        .expect("the trigger in a migration")
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

    fn with_group_commit(&self, store: SqliteStore, settings: GroupCommit) -> SqliteStore {
        store.with_group_commit(settings)
    }

    fn group_stats(&self, store: &SqliteStore) -> Option<GroupStats> {
        store.group_stats()
    }

    async fn fresh(&self, clock: Arc<ManualClock>) -> SqliteStore {
        vigil_store_sqlite::open(Options::new(self.url()), clock)
            .await
            .expect("open SQLite store")
    }

    async fn fresh_signing(&self, clock: Arc<ManualClock>, signer: ReceiptSigner) -> SqliteStore {
        self.fresh(clock).await.with_signer(signer)
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
        let restore = trigger_sql(&format!("CREATE TRIGGER {trigger}"));
        sqlx::query(AssertSqlSafe(restore))
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    async fn cut_entries(
        &self,
        store: &SqliteStore,
        log: LogName,
        id: Uuid,
        from_seq: i64,
        to_seq: i64,
        rewind: bool,
    ) {
        let (table, column) = log_table(log);
        let trigger = format!("{table}_no_delete");
        let mut statements = vec![
            format!("DROP TRIGGER {trigger}"),
            format!(
                "DELETE FROM {table} WHERE {column} = '{id}' AND seq BETWEEN {from_seq} AND {to_seq}"
            ),
        ];
        if rewind {
            statements.push(format!(
                "UPDATE {owner} SET last_seq = {prev}, last_hash = \
                 (SELECT hash FROM {table} WHERE {column} = '{id}' AND seq = {prev}) WHERE id = '{id}'",
                owner = log_owner(log),
                prev = from_seq - 1,
            ));
        }
        statements.push(trigger_sql(&format!("CREATE TRIGGER {trigger}")));
        let mut tx = store.backend().writer().begin().await.unwrap();
        for sql in statements {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn tamper_investigation(&self, store: &SqliteStore, id: Uuid, column: &str, value: &str) {
        raw(
            store,
            format!("UPDATE investigations SET {column} = {value} WHERE id = '{id}'"),
        )
        .await
        .unwrap();
    }

    async fn plant_receipt(&self, store: &SqliteStore, id: Uuid, seq: i64) {
        raw(
            store,
            format!(
                "INSERT INTO head_receipts (log, aggregate_id, seq, hash, status, issued_at, \
                 key_id, signature) VALUES ('investigation', '{id}', {seq}, 'x', 'completed', \
                 0, 'k', 's')"
            ),
        )
        .await
        .unwrap();
    }

    async fn tamper_case(&self, store: &SqliteStore, id: Uuid, column: &str, value: &str) {
        raw(
            store,
            format!("UPDATE cases SET {column} = {value} WHERE id = '{id}'"),
        )
        .await
        .unwrap();
    }

    async fn raw_update_custody(&self, store: &SqliteStore, evidence: Uuid) -> Result<u64, String> {
        raw(
            store,
            format!("UPDATE evidence_custody SET note = 'edited' WHERE evidence_id = '{evidence}'"),
        )
        .await
    }

    async fn raw_delete_custody(&self, store: &SqliteStore, evidence: Uuid) -> Result<u64, String> {
        raw(
            store,
            format!("DELETE FROM evidence_custody WHERE evidence_id = '{evidence}'"),
        )
        .await
    }

    async fn tamper_evidence_content(&self, store: &SqliteStore, evidence: Uuid, bytes: &[u8]) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let trigger = "CREATE TRIGGER evidence_content_immutable";
        let mut tx = store.backend().writer().begin().await.unwrap();
        for sql in [
            "DROP TRIGGER evidence_content_immutable".to_owned(),
            format!("UPDATE evidence SET content = X'{hex}' WHERE id = '{evidence}'"),
            trigger_sql(trigger),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn cleanup(&self, store: SqliteStore) {
        store.backend().close().await;
    }
}

vigil_engine::conformance_tests!(SqliteHarness::new());

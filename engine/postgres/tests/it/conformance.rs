//! The shared store conformance suite, one fresh schema per test.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use uuid::Uuid;
use vigil_engine::conformance::Harness;
use vigil_engine::log::LogName;
use vigil_engine::receipt::ReceiptSigner;
use vigil_engine::store::{GroupCommit, GroupStats};
use vigil_engine::{Clock, ManualClock};
use vigil_store_postgres::PgStore;

use vigil_store_postgres::testing::TestSchema;
pub use vigil_store_postgres::testing::admin_pool;

/// Each test gets its own schema (see [`TestSchema`]).
pub struct PgHarness {
    schema: TestSchema,
}

impl PgHarness {
    pub fn new() -> Self {
        Self {
            schema: TestSchema::new(),
        }
    }

    pub fn schema(&self) -> &str {
        self.schema.name()
    }

    /// Creates the schema and opens a migrated store in it.
    pub async fn store(&self, clock: Arc<dyn Clock>) -> PgStore {
        self.schema.open(clock).await
    }

    /// A store on the schema [`PgHarness::store`] created, as a process in
    /// production opens it: its clock aligned to the database's, measured
    /// once.
    pub async fn aligned_store(&self, clock: Arc<dyn Clock>) -> PgStore {
        let mut options = self.schema.options();
        options.align_clock = true;
        options.clock_refresh = None;
        vigil_store_postgres::open(options, clock)
            .await
            .expect("open an aligned store")
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

async fn raw(store: &PgStore, sql: String) -> Result<u64, String> {
    sqlx::query(AssertSqlSafe(sql))
        .execute(store.backend().pool())
        .await
        .map(|done| done.rows_affected())
        .map_err(|e| e.to_string())
}

#[async_trait]
impl Harness for PgHarness {
    type Store = PgStore;

    fn with_group_commit(&self, store: PgStore, settings: GroupCommit) -> PgStore {
        store.with_group_commit(settings)
    }

    fn group_stats(&self, store: &PgStore) -> Option<GroupStats> {
        store.group_stats()
    }

    async fn fresh(&self, clock: Arc<ManualClock>) -> PgStore {
        self.store(clock).await
    }

    async fn fresh_signing(&self, clock: Arc<ManualClock>, signer: ReceiptSigner) -> PgStore {
        self.fresh(clock).await.with_signer(signer)
    }

    async fn reopen(&self, clock: Arc<ManualClock>) -> PgStore {
        vigil_store_postgres::connect(self.schema.options(), clock)
            .await
            .expect("reopen PostgreSQL store")
    }

    async fn raw_update_entry(
        &self,
        store: &PgStore,
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
        store: &PgStore,
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

    async fn tamper_entry(&self, store: &PgStore, log: LogName, id: Uuid, seq: i64, payload: &str) {
        let (table, column) = log_table(log);
        let payload = payload.replace('\'', "''");
        let mut tx = store.backend().pool().begin().await.unwrap();
        for sql in [
            format!("ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"),
            format!(
                "UPDATE {table} SET payload = '{payload}' WHERE {column} = '{id}' AND seq = {seq}"
            ),
            format!("ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn cut_entries(
        &self,
        store: &PgStore,
        log: LogName,
        id: Uuid,
        from_seq: i64,
        to_seq: i64,
        rewind: bool,
    ) {
        let (table, column) = log_table(log);
        let mut statements = vec![
            format!("ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"),
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
        statements.push(format!(
            "ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"
        ));
        let mut tx = store.backend().pool().begin().await.unwrap();
        for sql in statements {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn tamper_investigation(&self, store: &PgStore, id: Uuid, column: &str, value: &str) {
        raw(
            store,
            format!("UPDATE investigations SET {column} = {value} WHERE id = '{id}'"),
        )
        .await
        .unwrap();
    }

    async fn plant_receipt(&self, store: &PgStore, id: Uuid, seq: i64) {
        raw(
            store,
            format!(
                "INSERT INTO head_receipts (log, aggregate_id, seq, hash, status, issued_at, \
                 key_id, signature) VALUES ('investigation', '{id}', {seq}, 'x', 'completed', \
                 now(), 'k', 's')"
            ),
        )
        .await
        .unwrap();
    }

    async fn tamper_case(&self, store: &PgStore, id: Uuid, column: &str, value: &str) {
        raw(
            store,
            format!("UPDATE cases SET {column} = {value} WHERE id = '{id}'"),
        )
        .await
        .unwrap();
    }

    async fn raw_update_custody(&self, store: &PgStore, evidence: Uuid) -> Result<u64, String> {
        raw(
            store,
            format!("UPDATE evidence_custody SET note = 'edited' WHERE evidence_id = '{evidence}'"),
        )
        .await
    }

    async fn raw_delete_custody(&self, store: &PgStore, evidence: Uuid) -> Result<u64, String> {
        raw(
            store,
            format!("DELETE FROM evidence_custody WHERE evidence_id = '{evidence}'"),
        )
        .await
    }

    async fn tamper_evidence_content(&self, store: &PgStore, evidence: Uuid, bytes: &[u8]) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut tx = store.backend().pool().begin().await.unwrap();
        for sql in [
            "ALTER TABLE evidence DISABLE TRIGGER evidence_content_immutable".to_owned(),
            format!("UPDATE evidence SET content = decode('{hex}', 'hex') WHERE id = '{evidence}'"),
            "ALTER TABLE evidence ENABLE TRIGGER evidence_content_immutable".to_owned(),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn cleanup(&self, store: PgStore) {
        store.backend().close().await;
        self.schema.drop_now().await;
    }
}

vigil_engine::conformance_tests!(PgHarness::new());

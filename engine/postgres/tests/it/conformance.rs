//! The shared store conformance suite, one fresh schema per test.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use vigil_engine::conformance::Harness;
use vigil_engine::{Clock, InvestigationId, ManualClock};
use vigil_store_postgres::{Options, PgStore};

/// The test server's URL.
pub fn server_url() -> String {
    std::env::var("VIGIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A connection to the test server for setup, failing loudly without one.
pub async fn admin_pool() -> PgPool {
    let url = server_url();
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL tests need a server at {url} (set VIGIL_TEST_DATABASE_URL); \
                 cannot connect: {e}"
            )
        })
}

/// Each test gets its own schema, named `vigil_t_<unix secs>_<random>`;
/// schemas left by crashed runs are dropped after an hour.
pub struct PgHarness {
    schema: String,
}

impl PgHarness {
    pub fn new() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let random = uuid::Uuid::now_v7().simple().to_string();
        Self {
            schema: format!("vigil_t_{secs}_{}", &random[random.len() - 12..]),
        }
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Options for a store in this harness's schema, with its own channel.
    pub fn options(&self) -> Options {
        let mut options = Options::new(server_url());
        options.schema = Some(self.schema.clone());
        options.channel = format!("{}_wakeups", self.schema);
        options.max_connections = 12;
        options
    }

    /// Creates the schema and opens a migrated store in it.
    pub async fn store(&self, clock: Arc<dyn Clock>) -> PgStore {
        let admin = admin_pool().await;
        drop_stale_schemas(&admin).await;
        exec(&admin, format!("CREATE SCHEMA {}", self.schema)).await;
        admin.close().await;
        vigil_store_postgres::open(self.options(), clock)
            .await
            .expect("open PostgreSQL store")
    }
}

async fn exec(pool: &PgPool, sql: String) {
    sqlx::query(AssertSqlSafe(sql.clone()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn drop_stale_schemas(admin: &PgPool) {
    let cutoff = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'vigil\\_t\\_%'",
    )
    .fetch_all(admin)
    .await
    .unwrap_or_default();
    for name in names {
        let secs = name.split('_').nth(2).and_then(|s| s.parse::<u64>().ok());
        if secs.is_some_and(|s| s < cutoff) {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(admin)
            .await;
        }
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

    async fn fresh(&self, clock: Arc<ManualClock>) -> PgStore {
        self.store(clock).await
    }

    async fn reopen(&self, clock: Arc<ManualClock>) -> PgStore {
        vigil_store_postgres::connect(self.options(), clock)
            .await
            .expect("reopen PostgreSQL store")
    }

    async fn raw_update_event(
        &self,
        store: &PgStore,
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
        store: &PgStore,
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

    async fn tamper_event(&self, store: &PgStore, id: InvestigationId, seq: i64, payload: &str) {
        let payload = payload.replace('\'', "''");
        let mut tx = store.backend().pool().begin().await.unwrap();
        for sql in [
            "ALTER TABLE investigation_events DISABLE TRIGGER investigation_events_append_only"
                .to_owned(),
            format!(
                "UPDATE investigation_events SET payload = '{payload}' WHERE investigation_id = '{id}' AND seq = {seq}"
            ),
            "ALTER TABLE investigation_events ENABLE TRIGGER investigation_events_append_only"
                .to_owned(),
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
        let admin = admin_pool().await;
        exec(&admin, format!("DROP SCHEMA {} CASCADE", self.schema)).await;
        admin.close().await;
    }
}

vigil_engine::conformance_tests!(PgHarness::new());

//! Test support: a fresh schema per test on the server named by
//! `VIGIL_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Without a reachable server these helpers panic with a clear message: the
//! PostgreSQL tests never skip.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use vigil_engine::Clock;

use crate::{Options, PgStore};

/// The test server's URL.
pub fn server_url() -> String {
    std::env::var("VIGIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A small pool on the test server, or a panic saying why there is none.
pub async fn admin_pool() -> PgPool {
    let url = server_url();
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL tests need a server at {url} (set VIGIL_TEST_DATABASE_URL); cannot connect: {e}"
            )
        })
}

/// A schema of its own for one test, named `vigil_t_<unix secs>_<random>`.
#[derive(Debug)]
pub struct TestSchema {
    name: String,
}

impl Default for TestSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSchema {
    /// A new, not yet created, schema name.
    pub fn new() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let random = uuid::Uuid::now_v7().simple().to_string();
        Self {
            name: format!("vigil_t_{secs}_{}", &random[random.len() - 12..]),
        }
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Store options for this schema, with a wake-up channel of its own.
    pub fn options(&self) -> Options {
        let mut options = Options::new(server_url());
        options.schema = Some(self.name.clone());
        options.channel = format!("{}_wakeups", self.name);
        options.max_connections = 12;
        // Tests drive time with a ManualClock and compare the store's
        // times with it: the store uses that clock as it is.
        options.align_clock = false;
        options
    }

    /// Creates the schema and opens a migrated store in it. Schemas left by
    /// crashed runs more than an hour old are dropped first.
    pub async fn open(&self, clock: Arc<dyn Clock>) -> PgStore {
        let admin = admin_pool().await;
        drop_stale(&admin).await;
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {}", self.name)))
            .execute(&admin)
            .await
            .expect("create test schema");
        admin.close().await;
        crate::open(self.options(), clock)
            .await
            .expect("open PostgreSQL store")
    }

    /// Drops the schema and everything in it.
    pub async fn drop_now(&self) {
        let admin = admin_pool().await;
        sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .execute(&admin)
        .await
        .expect("drop test schema");
        admin.close().await;
    }
}

async fn drop_stale(admin: &PgPool) {
    let cutoff = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

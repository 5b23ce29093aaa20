//! # vigil-store-postgres
//!
//! Vigil's store for many workers on many machines: PostgreSQL 14 or newer.
//! It implements the [`vigil_engine::store::backend`] primitives; every rule
//! lives in `vigil-engine`, and [`PgStore`] is the engine's
//! [`TransactionalStore`] over this backend.
//!
//! - Claims and sweeps lock rows with `FOR UPDATE SKIP LOCKED`, so any number
//!   of workers and reapers can run against one database and each row is
//!   acted on once.
//! - A transaction that makes work claimable sends `NOTIFY` on the wake-up
//!   channel inside the same transaction (delivered only if it commits);
//!   [`Wakeups`](vigil_engine::store::Wakeups) is a `LISTEN` stream that
//!   reconnects by itself after a dropped connection.
//! - Connection faults surface as the transient
//!   `Error::Unavailable`.
//!
//! Depends on `vigil-engine` and `vigil-migrations` only among workspace crates.

mod backend;
mod listener;
mod queries;
mod rows;
mod tx;

#[cfg(feature = "test-util")]
pub mod testing;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use vigil_engine::Clock;
use vigil_engine::store::{Cause, Error, Result, TransactionalStore};

pub use backend::PgBackend;

/// The PostgreSQL store.
pub type PgStore = TransactionalStore<PgBackend>;

/// Most concurrent wake-up streams (each holds one LISTEN connection).
const LISTEN_CONNECTIONS: u32 = 8;

/// The default wake-up channel.
pub const DEFAULT_CHANNEL: &str = "vigil_wakeups";

/// How to connect a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct Options {
    /// `postgres://user@host:port/database`.
    pub url: String,
    /// Most pooled connections (the LISTEN connection is extra).
    pub max_connections: u32,
    /// How long a call waits for a connection before failing as unavailable.
    pub acquire_timeout: Duration,
    /// Schema to use instead of the server's default search path.
    pub schema: Option<String>,
    /// The LISTEN/NOTIFY channel for wake-ups.
    pub channel: String,
}

impl Options {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            schema: None,
            channel: DEFAULT_CHANNEL.to_owned(),
        }
    }
}

/// Connects, applies pending migrations and returns the store.
pub async fn open(options: Options, clock: Arc<dyn Clock>) -> Result<PgStore> {
    let store = connect(options, clock).await?;
    migrate(&store).await?;
    Ok(store)
}

/// Connects without migrating. The pool connects lazily, so a database that
/// is down now is reported by the first call, as [`Error::Unavailable`].
pub async fn connect(options: Options, clock: Arc<dyn Clock>) -> Result<PgStore> {
    if !(options.url.starts_with("postgres://") || options.url.starts_with("postgresql://")) {
        return Err(Error::InvalidInput {
            field: "database".to_owned(),
            message: format!("`{}` is not a postgres:// URL", options.url),
        });
    }
    let mut connect = PgConnectOptions::from_str(&options.url)
        .map_err(|e| Error::InvalidInput {
            field: "database".to_owned(),
            message: format!("not a PostgreSQL URL: {e}"),
        })?
        .application_name("vigil");
    if let Some(schema) = &options.schema {
        connect = connect.options([("search_path", schema.as_str())]);
    }
    // sqlx pings a connection when it is returned to the pool (and closes
    // it if the ping fails), and by default pings it again when it is
    // handed out: a round trip on every store call. The release ping is
    // enough to keep broken connections out of the pool; one that breaks
    // while idle (a server restart) fails its next statement, which callers
    // see as `Unavailable` and retry.
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .test_before_acquire(false)
        .connect_lazy_with(connect.clone());
    let listen_pool = PgPoolOptions::new()
        .max_connections(LISTEN_CONNECTIONS)
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(connect);
    Ok(TransactionalStore::new(PgBackend::new(
        pool,
        listen_pool,
        clock,
        options.channel,
    )))
}

/// Applies pending migrations. Returns the versions applied by this call.
pub async fn migrate(store: &PgStore) -> Result<Vec<i64>> {
    let pool = store.backend().pool();
    let before = applied_versions(pool).await;
    vigil_migrations::postgres()
        .run(pool)
        .await
        .map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => rows::map_err(inner),
            other => Error::Database(Cause::new(other)),
        })?;
    let after = applied_versions(pool).await;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

async fn applied_versions(pool: &sqlx::PgPool) -> Vec<i64> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {} WHERE success ORDER BY version",
        vigil_migrations::TABLE
    ));
    sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

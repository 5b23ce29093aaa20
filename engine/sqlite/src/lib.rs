//! # vigil-store-sqlite
//!
//! Vigil's embedded default store: one SQLite file in WAL mode. It implements
//! the [`vigil_engine::store::backend`] primitives; every rule lives in
//! `vigil-engine`, and [`SqliteStore`] is the engine's
//! [`TransactionalStore`] over this backend.
//!
//! - Every write transaction is `BEGIN IMMEDIATE`, so a transaction never
//!   fails half-way upgrading a read lock to a write lock (`SQLITE_BUSY`).
//! - Writes go through a one-connection writer pool; reads use a separate
//!   read-only pool, which WAL lets run beside the writer.
//! - `busy_timeout` makes another process's writer (a CLI next to
//!   `vigil serve`) wait rather than fail; foreign keys are on.
//! - Workers in the same process are woken directly after a commit that
//!   queues work; other processes find it by polling.
//!
//! Depends on `vigil-engine` and `vigil-migrations` only among workspace crates.

mod backend;
mod case_queries;
mod case_rows;
mod cases;
mod queries;
mod rows;
mod tx;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::broadcast;
use vigil_engine::Clock;
use vigil_engine::store::{Cause, Error, Result, TransactionalStore, Wakeup};

pub use backend::SqliteBackend;

/// The SQLite store.
pub type SqliteStore = TransactionalStore<SqliteBackend>;

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct Options {
    /// `sqlite://path/to/file.db` (created if missing) or `sqlite::memory:`.
    pub url: String,
    /// Read connections beside the single writer.
    pub read_connections: u32,
    /// How long a write waits for another process's write lock.
    pub busy_timeout: Duration,
    /// `FULL` (default) syncs the WAL on every commit, so a committed step
    /// survives power loss; `NORMAL` survives process crashes only.
    pub synchronous_full: bool,
}

impl Options {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            read_connections: 4,
            busy_timeout: Duration::from_secs(10),
            synchronous_full: true,
        }
    }
}

/// Opens (creating if missing) the database, applies pending migrations and
/// returns the store.
pub async fn open(options: Options, clock: Arc<dyn Clock>) -> Result<SqliteStore> {
    let store = connect(options, clock).await?;
    migrate(&store).await?;
    Ok(store)
}

/// Opens (creating if missing) the database without migrating it.
pub async fn connect(options: Options, clock: Arc<dyn Clock>) -> Result<SqliteStore> {
    if !options.url.starts_with("sqlite:") {
        return Err(Error::InvalidInput {
            field: "database".to_owned(),
            message: format!("`{}` is not a sqlite: URL", options.url),
        });
    }
    let base = SqliteConnectOptions::from_str(&options.url)
        .map_err(|e| Error::InvalidInput {
            field: "database".to_owned(),
            message: format!("not a SQLite URL: {e}"),
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if options.synchronous_full {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(base.clone())
        .await
        .map_err(rows::map_err)?;
    // An in-memory database exists once per connection: share the writer.
    let reader = if options.url.contains(":memory:") {
        writer.clone()
    } else {
        SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .connect_with(base.read_only(true))
            .await
            .map_err(rows::map_err)?
    };
    let (wake, _) = broadcast::channel::<Wakeup>(1024);
    Ok(TransactionalStore::new(SqliteBackend::new(
        writer, reader, clock, wake,
    )))
}

/// Applies pending migrations. Returns the versions applied by this call.
pub async fn migrate(store: &SqliteStore) -> Result<Vec<i64>> {
    let migrator = vigil_migrations::sqlite();
    let pool = store.backend().writer();
    let before = applied_versions(pool).await;
    migrator
        .run(pool)
        .await
        .map_err(|e| Error::Database(Cause::new(e)))?;
    let after = applied_versions(pool).await;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

async fn applied_versions(pool: &sqlx::SqlitePool) -> Vec<i64> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {} WHERE success ORDER BY version",
        vigil_migrations::TABLE
    ));
    sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_default()
}

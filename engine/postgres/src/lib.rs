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
mod case_queries;
mod case_rows;
mod cases;
pub mod clock;
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
    /// Whether the store reads its clock corrected by the offset from the
    /// database's clock (see [`clock`]). Default on; off, the injected
    /// clock is used as it is (tests that drive time by hand).
    pub align_clock: bool,
    /// How often an aligned clock's offset is measured again; `None`
    /// measures once, when the store opens. Default one minute.
    pub clock_refresh: Option<Duration>,
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
            align_clock: true,
            clock_refresh: Some(Duration::from_secs(60)),
        }
    }
}

/// Connects, applies pending migrations and returns the store, its clock
/// set to the database's (see [`clock`]).
pub async fn open(options: Options, clock: Arc<dyn Clock>) -> Result<PgStore> {
    let (align, refresh) = (options.align_clock, options.clock_refresh);
    let (store, clock) = build(options, clock)?;
    migrate(&store).await?;
    if align {
        let pool = store.backend().pool().clone();
        clock.measure(&pool).await?;
        clock::keep_measuring(&clock, pool, false, refresh);
    }
    Ok(store)
}

/// Connects without migrating. The pool connects lazily, so a database that
/// is down now is reported by the first call, as [`Error::Unavailable`].
/// The store's clock is set to the database's as soon as it answers (see
/// [`clock`]).
pub async fn connect(options: Options, clock: Arc<dyn Clock>) -> Result<PgStore> {
    let (align, refresh) = (options.align_clock, options.clock_refresh);
    let (store, clock) = build(options, clock)?;
    if align {
        clock::keep_measuring(&clock, store.backend().pool().clone(), true, refresh);
    }
    Ok(store)
}

/// The store over a lazy pool, and the clock it reads.
fn build(options: Options, clock: Arc<dyn Clock>) -> Result<(PgStore, Arc<clock::DbClock>)> {
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
    let clock = Arc::new(clock::DbClock::new(clock));
    let store = TransactionalStore::new(PgBackend::new(
        pool,
        listen_pool,
        clock.clone(),
        options.channel,
    ));
    Ok((store, clock))
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

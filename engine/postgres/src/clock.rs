//! The database's clock, as every process on one database reads it.
//!
//! Lease expiry, claims, heartbeats, fences and the reaper all compare
//! times taken from the store's [`Clock`]. Processes on several machines
//! disagree about the time, so a process whose clock runs ahead would reap
//! leases that are still live, and one that runs behind would write under a
//! lease already over. The PostgreSQL store therefore reads its injected
//! clock corrected by that clock's offset from the database's
//! `clock_timestamp()`, measured when the store opens and refreshed
//! periodically (`Options::align_clock`, `Options::clock_refresh`): every
//! process then decides with (nearly) the same clock, the database's. An
//! injected `ManualClock` still drives time, shifted by the offset.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use vigil_engine::Clock;
use vigil_engine::clock::truncate_micros;

use crate::rows;

/// The injected clock plus its measured offset from the database's clock.
#[derive(Debug)]
pub struct DbClock {
    local: Arc<dyn Clock>,
    offset_micros: AtomicI64,
}

impl DbClock {
    /// `local`, not yet corrected (offset zero until [`DbClock::measure`]).
    pub(crate) fn new(local: Arc<dyn Clock>) -> Self {
        Self {
            local,
            offset_micros: AtomicI64::new(0),
        }
    }

    /// How far the database's clock is ahead of the injected one.
    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::microseconds(self.offset_micros.load(Ordering::Relaxed))
    }

    /// Measures the offset against the database: its time is taken to be
    /// that of the middle of the round trip.
    pub(crate) async fn measure(&self, pool: &sqlx::PgPool) -> vigil_engine::store::Result<()> {
        let before = self.local.now();
        let db: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
            .fetch_one(pool)
            .await
            .map_err(rows::map_err)?;
        let after = self.local.now();
        let middle = before + (after - before) / 2;
        let offset = (db - middle).num_microseconds().unwrap_or(0);
        self.offset_micros.store(offset, Ordering::Relaxed);
        Ok(())
    }
}

impl Clock for DbClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_micros(self.local.now() + self.offset())
    }
}

/// Keeps measuring `clock` against the database for as long as the store
/// lives: at once when `now` (retrying each second until it can), then
/// every `refresh` (never, when `None`).
pub(crate) fn keep_measuring(
    clock: &Arc<DbClock>,
    pool: sqlx::PgPool,
    now: bool,
    refresh: Option<Duration>,
) {
    if !now && refresh.is_none() {
        return;
    }
    let clock: Weak<DbClock> = Arc::downgrade(clock);
    tokio::spawn(async move {
        let mut due = now;
        loop {
            if !due {
                match refresh {
                    Some(every) => tokio::time::sleep(every).await,
                    None => return,
                }
            }
            let Some(live) = clock.upgrade() else { return };
            let measured = live.measure(&pool).await;
            drop(live);
            due = measured.is_err();
            if due {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
}

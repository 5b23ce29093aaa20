//! The reaper and the approval-expiry sweep on apalis-cron schedules.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use cron::Schedule;
use vigil_engine::store::Store;

use crate::Error;

/// Rows one sweep statement handles at most; a tick repeats until done.
const BATCH: u32 = 100;

/// Sweep schedules: six-field cron expressions (with seconds).
#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// When the reaper runs (default every 15 s).
    pub reaper: String,
    /// When the approval-expiry sweep runs (default every 15 s).
    pub expiry: String,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            reaper: "*/15 * * * * *".to_owned(),
            expiry: "*/15 * * * * *".to_owned(),
        }
    }
}

/// The store, as sweep handlers receive it.
#[derive(Clone)]
pub(crate) struct SweepStore(Arc<dyn Store>);

type Signal = Pin<Box<dyn Future<Output = Result<(), std::io::Error>> + Send>>;
type Sweeper =
    Box<dyn FnOnce(Signal) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> + Send>;

fn schedule(expr: &str) -> Result<Schedule, Error> {
    Schedule::from_str(expr).map_err(|e| Error::Schedule {
        schedule: expr.to_owned(),
        message: e.to_string(),
    })
}

async fn reap(_tick: Tick, store: Data<SweepStore>) {
    let store = &(store.0).0;
    loop {
        match store.reap(BATCH).await {
            Ok(reaped) => {
                for r in &reaped {
                    tracing::warn!(investigation.id = %r.id, worker = r.worker.as_deref().unwrap_or("unknown"), lease.epoch = r.epoch, "dead-lettered: lease expired");
                }
                if reaped.len() < BATCH as usize {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reaper tick failed; the next tick retries");
                return;
            }
        }
    }
}

async fn expire(_tick: Tick, store: Data<SweepStore>) {
    let store = &(store.0).0;
    loop {
        match store.expire_approvals(BATCH).await {
            Ok(expired) => {
                for a in &expired {
                    tracing::info!(approval.id = %a.id, investigation.id = %a.investigation_id, "approval expired; investigation queued");
                }
                if expired.len() < BATCH as usize {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "expiry tick failed; the next tick retries");
                return;
            }
        }
    }
}

/// The two sweep workers, each ready to run until its signal resolves.
pub(crate) fn workers(
    store: Arc<dyn Store>,
    settings: &SweepSettings,
    id: &str,
) -> Result<Vec<Sweeper>, Error> {
    let reaper = WorkerBuilder::new(format!("{id}:reaper"))
        .backend(CronScheduler::new(schedule(&settings.reaper)?))
        .data(SweepStore(store.clone()))
        .build(reap);
    let expiry = WorkerBuilder::new(format!("{id}:expiry"))
        .backend(CronScheduler::new(schedule(&settings.expiry)?))
        .data(SweepStore(store))
        .build(expire);
    Ok(vec![
        Box::new(move |signal: Signal| {
            Box::pin(async move {
                reaper
                    .run_until(signal)
                    .await
                    .map_err(|e| Error::Runtime(e.to_string()))
            })
        }),
        Box::new(move |signal: Signal| {
            Box::pin(async move {
                expiry
                    .run_until(signal)
                    .await
                    .map_err(|e| Error::Runtime(e.to_string()))
            })
        }),
    ])
}

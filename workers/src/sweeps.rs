//! The reaper and the approval-expiry sweep on apalis-cron schedules.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use cron::Schedule;
use tokio_util::sync::CancellationToken;
use vigil_engine::store::Sweeps;

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
pub(crate) struct SweepStore(Arc<dyn Sweeps>);

/// A sweep worker running until its stop token is cancelled.
pub(crate) type SweepFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

fn schedule(expr: &str) -> Result<Schedule, Error> {
    Schedule::from_str(expr).map_err(|e| Error::Schedule {
        schedule: expr.to_owned(),
        message: e.to_string(),
    })
}

/// Runs `batch` until it returns fewer than [`BATCH`] rows, logging each
/// row; a failure is logged and left to the next tick.
async fn sweep_all<T, F, Fut>(what: &str, mut batch: F, log: impl Fn(&T))
where
    F: FnMut() -> Fut,
    Fut: Future<Output = vigil_engine::store::Result<Vec<T>>>,
{
    loop {
        match batch().await {
            Ok(rows) => {
                rows.iter().for_each(&log);
                if rows.len() < BATCH as usize {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what} tick failed; the next tick retries");
                return;
            }
        }
    }
}

/// One reaper tick, under a `reap` span that is exported only when the
/// tick dead-lettered something: `vigil.reaped` (how many) and
/// `vigil.investigation.ids`. The span is never entered, so a tick with
/// nothing to do costs no export.
async fn reap(_tick: Tick, store: Data<SweepStore>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let store = &(store.0).0;
    let span = tracing::info_span!(
        "reap_expired_leases",
        otel.name = "reap",
        otel.kind = "internal"
    );
    let reaped = std::sync::Mutex::new(Vec::new());
    sweep_all("reaper", || store.reap(BATCH), |r| {
        metrics::counter!("vigil_reaps_total").increment(1);
        tracing::warn!(investigation.id = %r.id, worker = r.worker.as_deref().unwrap_or("unknown"), lease.epoch = r.epoch, "dead-lettered: lease expired");
        if let Ok(mut ids) = reaped.lock() {
            ids.push(opentelemetry::StringValue::from(r.id.to_string()));
        }
    })
    .await;
    let ids = reaped.into_inner().unwrap_or_default();
    if ids.is_empty() {
        vigil_agents::trace::discard(&span);
        return;
    }
    span.set_attribute("vigil.reaped", ids.len() as i64);
    span.set_attribute(
        "vigil.investigation.ids",
        opentelemetry::Value::Array(opentelemetry::Array::String(ids)),
    );
}

async fn expire(_tick: Tick, store: Data<SweepStore>) {
    let store = &(store.0).0;
    sweep_all("expiry", || store.expire_approvals(BATCH), |a| {
        metrics::counter!("vigil_approvals_expired_total").increment(1);
        tracing::info!(approval.id = %a.id, investigation.id = %a.investigation_id, "approval expired; investigation queued");
    })
    .await;
}

/// The reaper and the expiry sweep, each running until `stop` is cancelled.
pub(crate) fn workers(
    store: Arc<dyn Sweeps>,
    settings: &SweepSettings,
    id: &str,
    stop: &CancellationToken,
) -> Result<Vec<SweepFuture>, Error> {
    let reaper = WorkerBuilder::new(format!("{id}:reaper"))
        .backend(CronScheduler::new(schedule(&settings.reaper)?))
        .data(SweepStore(store.clone()))
        .build(reap);
    let expiry = WorkerBuilder::new(format!("{id}:expiry"))
        .backend(CronScheduler::new(schedule(&settings.expiry)?))
        .data(SweepStore(store))
        .build(expire);
    let stopped = || {
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            Ok::<(), std::io::Error>(())
        }
    };
    let (reaper_stop, expiry_stop) = (stopped(), stopped());
    Ok(vec![
        Box::pin(async move {
            reaper
                .run_until(reaper_stop)
                .await
                .map_err(|e| Error::Runtime(e.to_string()))
        }),
        Box::pin(async move {
            expiry
                .run_until(expiry_stop)
                .await
                .map_err(|e| Error::Runtime(e.to_string()))
        }),
    ])
}

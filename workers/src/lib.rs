//! # vigil-workers
//!
//! Vigil's running engine: apalis runs the investigations a worker claims
//! from the store, keeps each lease alive with heartbeats, and runs the
//! reaper and the approval-expiry sweep on cron schedules.
//!
//! - **Claims.** The apalis backend is a stream that claims from the store
//!   only when the worker has a free slot. It is woken by the store's
//!   wake-ups (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite) and also
//!   polls. It never ends. On a database fault it backs off (bounded,
//!   exponential) and logs once per outage. apalis's own SQL storages are
//!   not used: they re-run orphaned jobs and fence by worker name only.
//! - **Leases.** Each run's lease is renewed every third of its length. A
//!   heartbeat that finds the lease gone cancels that run's step at once and
//!   touches no other run.
//! - **Presence.** Each worker process records itself (id, agents, last
//!   seen) in the store when it starts and every 10 s until shutdown; a
//!   failure is logged once and never stops the worker.
//! - **Sweeps.** The reaper and the expiry sweep are apalis-cron schedules.
//!   Each tick is idempotent, so any number of processes may run them.
//! - **Shutdown.** On the first signal the worker stops claiming and lets
//!   runs reach their next checkpoint, where they release themselves. After
//!   the grace period it releases what is left, then stops.
//!
//! Depends on `vigil-engine` and `vigil-agents`; never on the HTTP API.

mod claims;
mod presence;
mod run;
mod sweeps;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use apalis::prelude::*;
use tokio::sync::{Notify, watch};
use vigil_agents::runner::Runner;
use vigil_engine::model::InvestigationId;
use vigil_engine::store::Store;

pub use sweeps::SweepSettings;

/// How a worker process claims and runs investigations.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Stable, readable id recorded on leases and events (`host:pid:uuid`).
    pub id: String,
    /// Agents served (empty: all).
    pub agents: Vec<String>,
    /// Investigations run at once.
    pub concurrency: usize,
    /// Claim streams (apalis runtimes) sharing that concurrency. Each claims
    /// one investigation at a time, so more streams claim faster under load.
    pub claimers: usize,
    /// Lease length; heartbeats every third of it.
    pub lease: Duration,
    /// How often to look for work when no wake-up arrives.
    pub poll_interval: Duration,
    /// How long runs in flight get to reach a checkpoint at shutdown.
    pub grace: Duration,
}

impl WorkerSettings {
    /// Defaults: concurrency 16, lease 2 min, poll 1 s, grace 30 s, all agents.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            agents: Vec::new(),
            concurrency: 16,
            claimers: 2,
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            grace: Duration::from_secs(30),
        }
    }
}

/// A readable, unique worker id: `host:pid:uuid`.
pub fn worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        (nanos as u32) ^ std::process::id().rotate_left(16)
    )
}

/// What the handler, the claim stream and the shutdown sequence share.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub runner: Arc<Runner>,
    pub settings: WorkerSettings,
    /// Set at shutdown: stop claiming, release at the next checkpoint.
    pub stopping: Arc<AtomicBool>,
    /// Runs in flight, with the epoch each holds.
    pub inflight: std::sync::Mutex<HashMap<InvestigationId, i64>>,
    /// Notified whenever a run leaves `inflight`.
    pub idle: Notify,
}

impl Shared {
    fn inflight(&self) -> std::sync::MutexGuard<'_, HashMap<InvestigationId, i64>> {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Errors that stop a worker process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The apalis runtime failed.
    #[error("worker runtime: {0}")]
    Runtime(String),
    /// A cron schedule does not parse.
    #[error("invalid schedule `{schedule}`: {message}")]
    Schedule {
        /// The expression.
        schedule: String,
        /// Why.
        message: String,
    },
}

/// Runs workers and sweeps until `shutdown` resolves, then shuts down
/// gracefully: stop claiming, let runs reach a checkpoint within the grace
/// period, release the rest, stop. The runner must share `stop` (see
/// [`Runner::with_stop`]).
pub async fn run<S>(
    store: Arc<dyn Store>,
    runner: Arc<Runner>,
    stop: Arc<AtomicBool>,
    settings: WorkerSettings,
    sweeps: SweepSettings,
    shutdown: S,
) -> Result<(), Error>
where
    S: Future<Output = ()> + Send + 'static,
{
    let shared = Arc::new(Shared {
        store: store.clone(),
        runner,
        settings: settings.clone(),
        stopping: stop,
        inflight: std::sync::Mutex::new(HashMap::new()),
        idle: Notify::new(),
    });
    let (done_tx, done_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = done_rx.clone();
        async move {
            let _ = rx.wait_for(|done| *done).await;
            Ok::<(), std::io::Error>(())
        }
    };

    let claimers = settings.claimers.clamp(1, settings.concurrency.max(1));
    tracing::info!(worker.id = %settings.id, concurrency = settings.concurrency, claimers, "worker started");
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..claimers {
        // The slots are split between the claim streams.
        let slots =
            settings.concurrency / claimers + usize::from(k < settings.concurrency % claimers);
        let worker = WorkerBuilder::new(format!("{}/{k}", settings.id))
            .backend(claims::stream(shared.clone()))
            .concurrency(slots.max(1))
            .data(shared.clone())
            .build(run::handle);
        let signal = stopped();
        tasks.spawn(async move {
            worker
                .run_until(signal)
                .await
                .map_err(|e| Error::Runtime(e.to_string()))
        });
    }
    let announced = presence::run(
        store.clone(),
        settings.id.clone(),
        settings.agents.clone(),
        {
            let stop = stopped();
            async move {
                let _ = stop.await;
            }
        },
    );
    tasks.spawn(async move {
        announced.await;
        Ok(())
    });
    for sweeper in sweeps::workers(store, &sweeps, &settings.id, stopped)? {
        tasks.spawn(sweeper);
    }

    shutdown.await;
    drain(&shared).await;
    let _ = done_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "worker task failed"),
            Err(e) => tracing::error!(error = %e, "worker task panicked"),
        }
    }
    tracing::info!(worker.id = %settings.id, "worker stopped");
    Ok(())
}

/// Stops claiming, waits up to the grace period for runs to reach a
/// checkpoint (where they release themselves), then releases the rest.
async fn drain(shared: &Shared) {
    shared.stopping.store(true, Ordering::SeqCst);
    let running = shared.inflight().len();
    tracing::info!(
        runs.in_flight = running,
        grace_secs = shared.settings.grace.as_secs(),
        "shutting down: no new claims"
    );
    let deadline = tokio::time::Instant::now() + shared.settings.grace;
    loop {
        let notified = shared.idle.notified();
        if shared.inflight().is_empty() {
            break;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            break;
        }
    }
    let left: Vec<(InvestigationId, i64)> =
        shared.inflight().iter().map(|(id, e)| (*id, *e)).collect();
    for (id, epoch) in left {
        match shared
            .store
            .release(id, epoch, "worker shutting down: grace period over")
            .await
        {
            Ok(_) => tracing::info!(investigation.id = %id, "released to the queue"),
            Err(e) => {
                tracing::warn!(investigation.id = %id, error = %e, "could not release; its lease will expire")
            }
        }
    }
}

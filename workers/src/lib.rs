//! # vigil-workers
//!
//! Vigil's running engine: apalis runs the investigations a worker claims
//! from the store, keeps each lease alive with heartbeats, and runs the
//! reaper and the approval-expiry sweep on cron schedules; and the other
//! background work of a process, the webhook notifier.
//!
//! - **Claims.** The apalis backend is a stream that claims from the store
//!   only when the worker has a free slot. It is woken by the store's
//!   wake-ups (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite) and also
//!   polls. It never ends. On a database fault it backs off (bounded,
//!   exponential) and logs once per outage. apalis's own SQL storages are
//!   not used: they re-run orphaned jobs and fence by worker name only.
//! - **Leases.** Each run's lease is renewed every third of its length (or
//!   `heartbeat_every`), and a second after a failed heartbeat (or
//!   `heartbeat_retry`), so several failures in a row do not lose it. A
//!   heartbeat that finds the lease gone cancels that run's step at once and
//!   touches no other run.
//! - **Presence.** Each worker process records itself (id, agents, last
//!   seen) in the store when it starts and every 10 s until shutdown; a
//!   failure is logged once and never stops the worker.
//! - **Sweeps.** The reaper and the expiry sweep are apalis-cron schedules.
//!   Each tick is idempotent, so any number of processes may run them.
//! - **Webhooks.** [`webhooks::Notifier`] announces new approval requests
//!   to configured receivers through the store's outbox, signed and
//!   retried; `vigil serve` runs it beside the API.
//! - **Panics.** A panic in a run releases that run (logged, counted in
//!   `vigil_run_panics_total`); the third panic in a row with no progress
//!   between (no event but claims and those releases) fails it instead, so
//!   a run that panics every time is not claimed forever; apalis's catch-panic layer backs this up, so
//!   a panic never ends a claim stream while presence reports the worker
//!   healthy.
//! - **Shutdown.** [`run`] takes one cancellation token. When it is
//!   cancelled (the soft stop) the worker claims nothing more, and each run
//!   goes on to its next checkpoint, where it releases itself. When the
//!   grace period is over, or no run is left, comes the hard stop: a run
//!   still going is dropped where it stands and released by its handler,
//!   then the runtime, the sweeps and presence stop.
//!
//! Depends on `vigil-engine` and `vigil-agents`; never on the HTTP API.

mod claims;
mod presence;
mod run;
mod sweeps;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::catch_panic::CatchPanicLayer;
use apalis::prelude::*;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vigil_agents::runner::Runner;
use vigil_engine::model::Investigation;
use vigil_engine::store::{Leases, Reads, Store};

pub use sweeps::SweepSettings;

/// How a worker process claims and runs investigations.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Stable, readable id recorded on leases and events (`host:pid:uuid`).
    pub id: String,
    /// Agents served: empty serves every agent of the runner's catalog. A
    /// worker claims only agents its catalog declares; a listed agent the
    /// catalog lacks is ignored, with a warning at start.
    pub agents: Vec<String>,
    /// Investigations run at once.
    pub concurrency: usize,
    /// Claim streams (apalis runtimes) sharing that concurrency. Each claims
    /// one investigation at a time, so more streams claim faster under load.
    pub claimers: usize,
    /// Lease length.
    pub lease: Duration,
    /// How often a run's lease is renewed while heartbeats succeed (default
    /// a third of the lease). The lease length minus this is the margin that
    /// failed heartbeats have to get one through.
    pub heartbeat_every: Option<Duration>,
    /// How soon a failed heartbeat is tried again (default 1 s, never more
    /// than the cadence).
    pub heartbeat_retry: Duration,
    /// How often to look for work when no wake-up arrives.
    pub poll_interval: Duration,
    /// How long runs in flight get to reach a checkpoint at shutdown.
    pub grace: Duration,
}

impl WorkerSettings {
    /// Defaults: concurrency 16, lease 2 min, poll 1 s, grace 30 s, every
    /// agent of the catalog.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            agents: Vec::new(),
            concurrency: 16,
            claimers: 2,
            lease: Duration::from_secs(120),
            heartbeat_every: None,
            heartbeat_retry: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            grace: Duration::from_secs(30),
        }
    }
}

impl WorkerSettings {
    /// The heartbeat cadence these settings give.
    pub(crate) fn beat(&self) -> run::Beat {
        let every = self.heartbeat_every.unwrap_or(self.lease / 3);
        run::Beat {
            every,
            retry: self.heartbeat_retry.min(every),
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
    pub leases: Arc<dyn Leases>,
    /// Reads a run's recent events after a panic (how many in a row).
    pub reads: Arc<dyn Reads>,
    pub runner: Arc<Runner>,
    pub settings: WorkerSettings,
    /// The agents this worker claims: `settings.agents` (or all, when
    /// empty) restricted to the runner's catalog. Never empty while claiming:
    /// an empty list would claim every agent.
    pub serves: Vec<String>,
    /// The soft stop (the caller's token): claim nothing more; each run
    /// releases itself at its next checkpoint.
    pub soft: CancellationToken,
    /// The hard stop, after the soft one: a run still going is released
    /// where it stands; the runtime, sweeps and presence stop.
    pub hard: CancellationToken,
    /// The runs in flight.
    pub runs: TaskTracker,
    /// Held by a claim stream while it looks and claims, so this process's
    /// streams take turns: a wake-up for one queued run does not send both
    /// to claim it, and the second looks after the first's claim committed.
    pub claiming: tokio::sync::Mutex<()>,
}

/// Gives `inv`, which this worker holds, back to the queue at shutdown.
/// A failure is logged: the lease then runs out and the reaper acts.
pub(crate) async fn give_back(leases: &dyn Leases, inv: &Investigation, reason: &str) {
    match leases.release(inv.id, inv.lease_epoch, reason, None).await {
        Ok(_) => tracing::info!(investigation.id = %inv.id, reason, "released to the queue"),
        Err(e) => {
            tracing::warn!(investigation.id = %inv.id, error = %e, "could not release; its lease will expire")
        }
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

/// Runs workers and sweeps until `shutdown` is cancelled, then shuts down
/// gracefully: stop claiming, let runs reach a checkpoint within the grace
/// period (they release themselves there), release the rest, stop.
pub async fn run(
    store: Arc<dyn Store>,
    runner: Arc<Runner>,
    settings: WorkerSettings,
    sweeps: SweepSettings,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let hard = CancellationToken::new();
    let serves = served_agents(&settings.agents, &runner);
    let shared = Arc::new(Shared {
        leases: store.clone(),
        reads: store.clone(),
        runner,
        serves: serves.clone(),
        settings: settings.clone(),
        soft: shutdown.clone(),
        hard: hard.clone(),
        runs: TaskTracker::new(),
        claiming: tokio::sync::Mutex::new(()),
    });
    let stopped = || {
        let hard = hard.clone();
        async move {
            hard.cancelled().await;
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
        let stream_slots = claims::Slots::new(slots);
        let worker = WorkerBuilder::new(format!("{}/{k}", settings.id))
            .backend(claims::stream(
                shared.clone(),
                store.wakeups(),
                stream_slots.clone(),
            ))
            .concurrency(slots.max(1))
            .data(shared.clone())
            .data(stream_slots)
            // The handler catches a run's panic itself (and releases the
            // run); this is the backstop that keeps the claim stream alive
            // should anything else in the handler panic.
            .layer(CatchPanicLayer::with_panic_handler(run::on_panic))
            .build(run::handle);
        let signal = stopped();
        tasks.spawn(async move {
            worker
                .run_until(signal)
                .await
                .map_err(|e| Error::Runtime(e.to_string()))
        });
    }
    let announced = presence::run(store.clone(), settings.id.clone(), serves, hard.clone());
    tasks.spawn(async move {
        announced.await;
        Ok(())
    });
    for sweeper in sweeps::workers(store, &sweeps, &settings.id, &hard)? {
        tasks.spawn(sweeper);
    }

    shutdown.cancelled().await;
    drain(&shared).await;
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

/// The agents a worker claims: the `configured` ones (every one when
/// empty) that the runner's catalog declares, sorted. Listed agents the
/// catalog lacks are dropped with a warning, since claiming them would only
/// release them again.
fn served_agents(configured: &[String], runner: &Runner) -> Vec<String> {
    let known: Vec<String> = runner.agents().map(str::to_owned).collect();
    if configured.is_empty() {
        return known;
    }
    let (mut served, missing): (Vec<String>, Vec<String>) =
        configured.iter().cloned().partition(|a| known.contains(a));
    if !missing.is_empty() {
        tracing::warn!(
            agents.missing = %missing.join(", "),
            "worker.agents names agents this catalog lacks; not claiming them"
        );
    }
    served.sort();
    served.dedup();
    served
}

/// After the soft stop: waits up to the grace period for the runs in
/// flight to reach a checkpoint (where they release themselves), then
/// stops hard, which releases the rest, and waits for those releases.
async fn drain(shared: &Shared) {
    tracing::info!(
        runs.in_flight = shared.runs.len(),
        grace_secs = shared.settings.grace.as_secs(),
        "shutting down: no new claims"
    );
    shared.runs.close();
    if tokio::time::timeout(shared.settings.grace, shared.runs.wait())
        .await
        .is_err()
    {
        tracing::info!(
            runs.in_flight = shared.runs.len(),
            "grace period over: releasing the runs still in flight"
        );
    }
    shared.hard.cancel();
    shared.runs.wait().await;
}

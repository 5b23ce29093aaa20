//! `vigil worker` and `vigil serve`: run workers, the reaper and the
//! approval-expiry sweep until a signal.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use vigil_agents::runner::Runner;
use vigil_engine::SystemClock;
use vigil_workers::{SweepSettings, WorkerSettings};

use crate::config::{Config, redact_url};
use crate::stores;

/// Runs until SIGINT or SIGTERM, then shuts down gracefully; a second
/// signal stops the process at once.
pub async fn worker_command(config: &Config) -> anyhow::Result<()> {
    let setup = config.agent_setup()?;
    let store = stores::connect(config).await?;
    store.prepare_embedded().await?;
    let ports = store.ports();
    let stop = Arc::new(AtomicBool::new(false));
    let runner = Runner::new(
        ports.clone(),
        setup.catalog.clone(),
        setup.tools.clone(),
        setup.model.clone(),
        Arc::new(SystemClock),
        setup.mode,
    )
    .with_prices(setup.prices.clone())
    .with_stop(stop.clone());
    let mut settings = WorkerSettings::new(vigil_workers::worker_id());
    settings.concurrency = config.worker.concurrency;
    settings.claimers = config.worker.claimers;
    settings.agents = config.worker.agents.clone();
    settings.poll_interval = config.worker.poll_interval;
    settings.grace = config.worker.grace;
    settings.lease = config.reaper.stale_after;
    let sweeps = SweepSettings {
        reaper: config.reaper.schedule.clone(),
        expiry: config.expiry.schedule.clone(),
    };
    tracing::info!(
        database = %redact_url(&config.database.url),
        mode = %setup.mode,
        worker.id = %settings.id,
        "starting"
    );
    vigil_workers::run(
        ports,
        Arc::new(runner),
        stop,
        settings,
        sweeps,
        shutdown_signal(),
    )
    .await
    .context("worker runtime")?;
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM; a second one exits at once.
async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!("signal received: shutting down gracefully (send another to stop at once)");
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second signal: stopping now; leases left running will expire");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

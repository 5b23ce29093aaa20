//! The apalis handler: run one claimed investigation under a heartbeat.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use apalis::prelude::Data;
use tracing::Instrument;
use vigil_agents::runner::Step;
use vigil_engine::model::Investigation;
use vigil_engine::store::Error;

use crate::Shared;

/// Runs `inv` until it parks, finishes, is released, or loses its lease.
pub(crate) async fn handle(inv: Investigation, shared: Data<Arc<Shared>>) {
    let shared: Arc<Shared> = (*shared).clone();
    let span = tracing::info_span!(
        "run_investigation",
        investigation.id = %inv.id,
        lease.epoch = inv.lease_epoch,
        agent.id = %inv.agent_id,
        attempt = inv.attempt
    );
    async {
        shared.inflight().insert(inv.id, inv.lease_epoch);
        let started = std::time::Instant::now();
        let outcome = tokio::select! {
            step = steps(&shared, &inv) => match step {
                Some(step) => {
                    tracing::info!(step = ?step, "run stopped");
                    step.label()
                }
                None => {
                    tracing::warn!("run stopped on an error; the lease will expire unless it recovers");
                    "store_error"
                }
            },
            () = heartbeat(&shared, &inv) => {
                tracing::warn!("lease lost: step cancelled");
                "lease_lost"
            }
        };
        metrics::histogram!("vigil_step_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        shared.inflight().remove(&inv.id);
        shared.idle.notify_waiters();
    }
    .instrument(span)
    .await;
}

/// Drives the runner, retrying while the database is unavailable (the
/// run resumes from its log each time) and the worker is not stopping.
async fn steps(shared: &Shared, inv: &Investigation) -> Option<Step> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match shared.runner.run(inv).await {
            Ok(step) => return Some(step),
            Err(e) if e.is_transient() && !shared.stopping.load(Ordering::SeqCst) => {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    retry_in_ms = backoff.as_millis() as u64,
                    "database unavailable; resuming from the log shortly"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(
                    error = &e as &dyn std::error::Error,
                    "run stopped on an error"
                );
                return None;
            }
        }
    }
}

/// Renews the lease every third of its length. Returns when the lease is
/// lost (epoch moved or expired), which cancels the step.
async fn heartbeat(shared: &Shared, inv: &Investigation) {
    let lease = shared.settings.lease;
    let every = lease / 3;
    let chrono_lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(2));
    loop {
        tokio::time::sleep(every).await;
        match shared
            .store
            .heartbeat(inv.id, inv.lease_epoch, chrono_lease)
            .await
        {
            Ok(_) => {}
            Err(Error::LeaseLost { .. }) => return,
            Err(e) => tracing::warn!(error = %e, "heartbeat failed; retrying"),
        }
    }
}

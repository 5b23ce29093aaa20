//! The apalis handler: run one claimed investigation under a heartbeat.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::Data;
use tracing::Instrument;
use vigil_agents::runner::Step;
use vigil_engine::model::Investigation;
use vigil_engine::store::Error;

use crate::{Shared, give_back};

/// Runs `inv` until it parks, finishes, is released, or loses its lease.
/// At the hard stop a run still going is dropped where it stands and
/// released here, the one place a worker gives back a run in flight.
pub(crate) async fn handle(inv: Investigation, shared: Data<Arc<Shared>>) {
    let shared: Arc<Shared> = (*shared).clone();
    let span = tracing::info_span!(
        "run_investigation",
        investigation.id = %inv.id,
        lease.epoch = inv.lease_epoch,
        agent.id = %inv.agent_id,
        attempt = inv.attempt
    );
    let runs = shared.runs.clone();
    let run = async {
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
            () = shared.hard.cancelled() => {
                give_back(&*shared.leases, &inv, "worker shutting down: grace period over").await;
                "released"
            }
        };
        metrics::histogram!("vigil_step_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
    };
    runs.track_future(run).instrument(span).await;
}

/// Drives the runner, retrying while the database is unavailable (the
/// run resumes from its log each time) and the worker is not stopping.
/// From the soft stop on, the runner releases the run at its next
/// checkpoint.
async fn steps(shared: &Shared, inv: &Investigation) -> Option<Step> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match shared.runner.run(inv, &shared.soft).await {
            Ok(step) => return Some(step),
            Err(e) if e.is_transient() && !shared.soft.is_cancelled() => {
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
            .leases
            .heartbeat(inv.id, inv.lease_epoch, chrono_lease)
            .await
        {
            Ok(_) => {}
            Err(Error::LeaseLost { .. }) => return,
            Err(e) => tracing::warn!(error = %e, "heartbeat failed; retrying"),
        }
    }
}

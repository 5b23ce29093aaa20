//! The apalis handler: run one claimed investigation under a heartbeat.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::Data;
use futures::FutureExt;
use tracing::Instrument;
use vigil_agents::runner::Step;
use vigil_engine::model::Investigation;
use vigil_engine::store::Error;

use crate::{Shared, give_back};

/// Runs `inv` until it parks, finishes, is released, or loses its lease.
/// At the hard stop a run still going is dropped where it stands and
/// released here, the one place a worker gives back a run in flight.
///
/// A panic in the run (the runner, a tool, the model adapter) ends only
/// that run's step: it is logged with its message, counted in
/// `vigil_run_panics_total`, recorded as step outcome `panicked`, and the
/// run is released to the queue, where it resumes from its log. The claim
/// stream and the other runs go on.
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
            step = std::panic::AssertUnwindSafe(steps(&shared, &inv)).catch_unwind() => match step {
                Ok(Some(step)) => {
                    tracing::info!(step = ?step, "run stopped");
                    step.label()
                }
                Ok(None) => {
                    tracing::warn!("run stopped on an error; the lease will expire unless it recovers");
                    "store_error"
                }
                Err(panic) => {
                    let message = panic_message(&*panic);
                    tracing::error!(panic = %message, "run panicked; releasing it");
                    metrics::counter!("vigil_run_panics_total").increment(1);
                    give_back(&*shared.leases, &inv, &format!("worker panicked: {message}")).await;
                    "panicked"
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

/// The catch-panic layer's handler: a panic that escaped [`handle`] is
/// logged and counted; the claim stream goes on.
#[allow(clippy::borrowed_box)] // the layer's handler signature
pub(crate) fn on_panic(
    panic: &Box<dyn std::any::Any + Send>,
) -> apalis::layers::catch_panic::PanicError {
    let message = panic_message(&**panic);
    tracing::error!(panic = %message, "worker handler panicked");
    metrics::counter!("vigil_run_panics_total").increment(1);
    apalis::layers::catch_panic::PanicError(message)
}

/// The message a panic carried, when it was a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

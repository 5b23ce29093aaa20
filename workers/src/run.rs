//! The apalis handler: run one claimed investigation under a heartbeat.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::Data;
use futures::FutureExt;
use tracing::Instrument;
use vigil_agents::runner::Step;
use vigil_engine::event::EventBody;
use vigil_engine::model::Investigation;
use vigil_engine::store::{Error, Leases, Reads};

use crate::claims::Slots;
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
pub(crate) async fn handle(inv: Investigation, shared: Data<Arc<Shared>>, slots: Data<Arc<Slots>>) {
    // The claim stream counted this run against its slots when it handed it
    // out; the slot is free again when this handler ends, however it ends.
    let _slot = SlotGuard((*slots).clone());
    let shared: Arc<Shared> = (*shared).clone();
    // The segment's `invoke_agent` span. Its `trace_id` field puts the
    // investigation's trace id on every log line of the run; with telemetry
    // on, the span continues the trace the investigation was dispatched in.
    let span = tracing::info_span!(
        "run_investigation",
        otel.name = %format!("invoke_agent {}", inv.agent_id),
        otel.kind = "internal",
        investigation.id = %inv.id,
        lease.epoch = inv.lease_epoch,
        agent.id = %inv.agent_id,
        attempt = inv.attempt,
        trace_id = %inv.trace_id(),
    );
    segment_attributes(&span, &inv);
    let runs = shared.runs.clone();
    let run = async {
        let started = std::time::Instant::now();
        record_segment(&*shared.leases, &inv).await;
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
                    metrics::counter!("vigil_run_panics_total").increment(1);
                    let in_a_row = panics_in_a_row(&*shared.reads, &inv).await + 1;
                    if in_a_row >= MAX_PANICS_IN_A_ROW {
                        tracing::error!(panic = %message, in_a_row, "run panicked again; failing it");
                        let reason = format!(
                            "the worker panicked {in_a_row} times in a row running it, with no progress between (last: {message}); fix the cause and dispatch it again"
                        );
                        if let Err(e) = shared.leases.fail(inv.id, inv.lease_epoch, &reason).await {
                            tracing::warn!(error = %e, "could not fail the run; its lease will expire");
                        }
                        "panicked"
                    } else {
                        tracing::error!(panic = %message, in_a_row, "run panicked; releasing it");
                        give_back(&*shared.leases, &inv, &format!("{PANIC_REASON}{message}")).await;
                        "panicked"
                    }
                }
            },
            () = heartbeat(shared.settings.beat(), || renew(&*shared.leases, &inv, shared.settings.lease)) => {
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

/// The release reason of a panicked run, before the panic's message.
const PANIC_REASON: &str = "worker panicked: ";

/// The panics in a row, with no progress between, that fail a run.
const MAX_PANICS_IN_A_ROW: usize = 3;

/// How many times in a row `inv` was released after a panic before this
/// claim: walking back from its last event, claims are skipped, panicked
/// releases counted, and any other event (progress, a decision, another
/// kind of release) ends the streak. A read that fails counts none: the
/// run is released, as before.
async fn panics_in_a_row(reads: &dyn Reads, inv: &Investigation) -> usize {
    const LOOK_BACK: i64 = 64;
    let after = (inv.last_seq - LOOK_BACK).max(0);
    let Ok(events) = reads.events(inv.id, after, LOOK_BACK as u32).await else {
        return 0;
    };
    let mut streak = 0;
    for event in events.iter().rev() {
        match event.body() {
            Ok(EventBody::Claimed { .. }) => {}
            Ok(EventBody::Released { reason, .. }) if reason.starts_with(PANIC_REASON) => {
                streak += 1
            }
            _ => break,
        }
    }
    streak
}

/// Makes `span` the `invoke_agent` span of a segment of `inv`: a child of
/// the investigation's trace context, with the GenAI agent attributes.
fn segment_attributes(span: &tracing::Span, inv: &Investigation) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use vigil_agents::trace as keys;
    vigil_agents::trace::continue_investigation(span, inv);
    span.set_attribute(keys::GEN_AI_OPERATION_NAME, "invoke_agent");
    span.set_attribute(keys::GEN_AI_AGENT_NAME, inv.agent_id.clone());
    span.set_attribute(keys::GEN_AI_AGENT_ID, inv.agent_id.clone());
    span.set_attribute(keys::GEN_AI_CONVERSATION_ID, inv.id.to_string());
    span.set_attribute("vigil.lease.epoch", inv.lease_epoch);
    span.set_attribute("vigil.claims", i64::from(inv.claims));
}

/// Records the current span (the segment's) as the run's last segment, so
/// the next segment links to it. Without telemetry there is no span context
/// and nothing is written. A failure costs only that link: logged, never
/// the run.
async fn record_segment(leases: &dyn Leases, inv: &Investigation) {
    let Some(own) = vigil_agents::trace::traceparent_of(&tracing::Span::current()) else {
        return;
    };
    if let Err(e) = leases.record_segment(inv.id, inv.lease_epoch, &own).await {
        tracing::warn!(error = %e, "could not record the segment's trace context; the next segment will not link to it");
    }
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

/// How a run's lease is renewed: every `every` while heartbeats get
/// through, every `retry` after one failed (a database hiccup, a pool
/// timeout), so that a lease survives several failures in a row, not one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Beat {
    /// The cadence while heartbeats succeed.
    pub every: Duration,
    /// The wait before trying again after a failed heartbeat.
    pub retry: Duration,
}

/// Renews a run's lease with `renew` on the [`Beat`] cadence. Returns
/// when the lease is lost (epoch moved or expired), which cancels the step;
/// other failures are logged once per outage and retried on the short
/// `retry` cadence until one gets through.
async fn heartbeat<F, Fut>(beat: Beat, mut renew: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut failing = false;
    loop {
        tokio::time::sleep(if failing { beat.retry } else { beat.every }).await;
        match renew().await {
            Ok(()) => {
                if failing {
                    tracing::info!("heartbeat got through again");
                }
                failing = false;
            }
            Err(Error::LeaseLost { .. }) => return,
            Err(e) => {
                metrics::counter!("vigil_heartbeat_failures_total").increment(1);
                if !failing {
                    tracing::warn!(
                        error = %e,
                        retry_in_ms = beat.retry.as_millis() as u64,
                        "heartbeat failed; retrying sooner"
                    );
                }
                failing = true;
            }
        }
    }
}

/// Renews the lease of run `inv` (held under its epoch) in the store.
async fn renew(leases: &dyn Leases, inv: &Investigation, lease: Duration) -> Result<(), Error> {
    let lease_for = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(2));
    leases
        .heartbeat(inv.id, inv.lease_epoch, lease_for)
        .await
        .map(drop)
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

/// Frees a claim stream's slot when dropped.
struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::time::Instant;
    use vigil_engine::store::Cause;

    use super::*;

    const LEASE: Duration = Duration::from_secs(120);
    /// How long a heartbeat waits for a pooled connection before failing.
    const POOL_TIMEOUT: Duration = Duration::from_secs(5);

    /// A lease held in virtual time: a renewal succeeds only while it has
    /// not run out. The first `failures` renewals each hang for the pool
    /// timeout and then fail. Returns how many renewals got through.
    async fn hold(beat: Beat, failures: usize, for_: Duration) -> (bool, usize) {
        let expires = Arc::new(Mutex::new(Instant::now() + LEASE));
        let left = Arc::new(Mutex::new(failures));
        let renewed = Arc::new(Mutex::new(0usize));
        let beating = heartbeat(beat, || {
            let (expires, left, renewed) = (expires.clone(), left.clone(), renewed.clone());
            async move {
                let fail = {
                    let mut left = left.lock().unwrap();
                    let fail = *left > 0;
                    *left = left.saturating_sub(1);
                    fail
                };
                if fail {
                    tokio::time::sleep(POOL_TIMEOUT).await;
                    return Err(Error::Unavailable(Cause::msg("pool timed out")));
                }
                let now = Instant::now();
                let mut expires = expires.lock().unwrap();
                if now >= *expires {
                    return Err(Error::LeaseLost {
                        id: vigil_engine::InvestigationId::new_at(chrono::Utc::now()),
                        held: 1,
                        current: 1,
                    });
                }
                *expires = now + LEASE;
                *renewed.lock().unwrap() += 1;
                Ok(())
            }
        });
        let lost = tokio::select! {
            () = beating => true,
            () = tokio::time::sleep(for_) => false,
        };
        let renewals = *renewed.lock().unwrap();
        (lost, renewals)
    }

    fn beat(retry: Duration) -> Beat {
        Beat {
            every: LEASE / 3,
            retry,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_survives_heartbeats_that_fail_in_a_row() {
        // Three failures in a row, each taking the pool timeout: retried
        // sooner than the cadence, the lease is renewed before it runs out.
        let (lost, renewals) = hold(beat(Duration::from_secs(1)), 3, LEASE * 5).await;
        assert!(!lost, "the lease was lost");
        assert!(renewals >= 5, "kept renewing: {renewals}");
    }

    #[tokio::test(start_paused = true)]
    async fn on_the_cadence_alone_two_failures_lose_the_lease() {
        // What the retry cadence is for: retrying only every third of the
        // lease, two failed heartbeats are enough to lose it.
        let (lost, _) = hold(beat(LEASE / 3), 2, LEASE * 5).await;
        assert!(lost);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_lease_ends_the_heartbeat() {
        // The lease ran out while every renewal failed: the next one that
        // reaches the store finds it gone and the heartbeat returns.
        let (lost, renewals) = hold(beat(Duration::from_secs(1)), 100, LEASE * 20).await;
        assert!(lost);
        assert_eq!(renewals, 0);
    }
}

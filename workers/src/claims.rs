//! The apalis backend: a never-ending stream of claimed investigations.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use vigil_engine::model::Investigation;
use vigil_engine::store::Wakeup;

use crate::{Shared, give_back};

/// The claim stream never fails: database faults are retried inside it.
#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
pub enum Never {}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

struct State {
    shared: Arc<Shared>,
    wakeups: BoxStream<'static, Wakeup>,
    backoff: Option<Duration>,
}

/// Claims the next investigation on a task of its own. When the stream is
/// dropped mid-claim (apalis stops it at shutdown), the claim still runs to
/// its end, and a row it took is released at once instead of being left
/// leased to nobody until the reaper dead-letters it.
async fn claim(shared: &Arc<Shared>) -> vigil_engine::store::Result<Option<Investigation>> {
    let shared = Arc::clone(shared);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let settings = &shared.settings;
        // Started here, never entered: once the claim is known it joins the
        // claimed run's trace, or, when nothing was claimed, an unsampled
        // context, so an idle poll exports nothing.
        let span = tracing::info_span!(
            "claim_investigation",
            otel.name = "claim",
            otel.kind = "internal",
            worker.id = %settings.id,
        );
        let lease =
            chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::minutes(2));
        let claimed = shared
            .leases
            .claim_next(
                &shared.serves,
                &settings.id,
                Some(shared.runner.mode().as_str()),
                lease,
            )
            .await;
        claim_span(&span, &claimed);
        drop(span);
        if let Err(Ok(Some(inv))) = tx.send(claimed) {
            // Nobody is waiting for it any more: give it back.
            give_back(&*shared.leases, &inv, "worker shutting down").await;
        }
    });
    rx.await.unwrap_or(Ok(None))
}

/// Puts the `claim` span `span` in the trace of the run it claimed, with
/// the claim's attributes, or drops it when nothing was claimed.
fn claim_span(span: &tracing::Span, claimed: &vigil_engine::store::Result<Option<Investigation>>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use vigil_agents::trace as keys;
    match claimed {
        Ok(Some(inv)) => {
            keys::continue_investigation(span, inv);
            span.set_attribute(keys::GEN_AI_AGENT_NAME, inv.agent_id.clone());
            span.set_attribute(keys::GEN_AI_CONVERSATION_ID, inv.id.to_string());
            span.set_attribute("vigil.lease.epoch", inv.lease_epoch);
            span.set_attribute("vigil.claims", i64::from(inv.claims));
        }
        Ok(None) => keys::discard(span),
        Err(e) => {
            span.set_attribute(keys::ERROR_TYPE, "store_error");
            span.set_status(opentelemetry::trace::Status::error(e.to_string()));
        }
    }
}

/// Claims one investigation each time apalis has a free slot. Waits for a
/// wake-up or the poll interval when there is nothing to claim; backs off
/// on database faults, logging once per outage. From the soft stop on it
/// claims nothing more (a claim that lands just then is given back) and
/// simply waits; it never ends. It claims only the agents the worker
/// serves, and nothing when it serves none.
pub(crate) fn stream(
    shared: Arc<Shared>,
    wakeups: BoxStream<'static, Wakeup>,
) -> BoxStream<'static, Result<Investigation, Never>> {
    let state = State {
        shared,
        wakeups,
        backoff: None,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            let settings = &st.shared.settings;
            let soft = &st.shared.soft;
            if soft.is_cancelled() || st.shared.serves.is_empty() {
                // Stopping, or serving no agent (an empty list would claim
                // every agent): claim nothing, ever.
                futures::future::pending::<()>().await;
            }
            match claim(&st.shared).await {
                Ok(Some(inv)) => {
                    metrics::counter!("vigil_claims_total").increment(1);
                    if st.backoff.take().is_some() {
                        tracing::info!("database reachable again; claiming");
                    }
                    if soft.is_cancelled() {
                        // Claimed just as the shutdown began: give it back.
                        give_back(&*st.shared.leases, &inv, "worker shutting down").await;
                        continue;
                    }
                    return Some((Ok(inv), st));
                }
                Ok(None) => {
                    if st.backoff.take().is_some() {
                        tracing::info!("database reachable again; claiming");
                    }
                    let poll = settings.poll_interval;
                    tokio::select! {
                        _ = tokio::time::timeout(poll, st.wakeups.next()) => {}
                        () = soft.cancelled() => {}
                    }
                }
                Err(e) => {
                    let next = st
                        .backoff
                        .map_or(Duration::from_millis(100), |b| (b * 2).min(MAX_BACKOFF));
                    if st.backoff.is_none() {
                        tracing::warn!(error = %e, "cannot claim; retrying with backoff");
                    }
                    st.backoff = Some(next);
                    tokio::select! {
                        () = tokio::time::sleep(next) => {}
                        () = soft.cancelled() => {}
                    }
                }
            }
        }
    }))
}

//! The apalis backend: a never-ending stream of claimed investigations.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::Notify;
use vigil_engine::model::Investigation;
use vigil_engine::store::Wakeup;

use crate::{Shared, give_back};

/// The claim stream never fails: database faults are retried inside it.
#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
pub enum Never {}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Most runs one claim transaction takes (fewer when the stream has fewer
/// free slots).
pub(crate) const MAX_CLAIM_BATCH: usize = 8;

/// The slots of one claim stream: how many runs its apalis worker may run
/// at once, and how many it was handed that have not finished. A stream
/// never claims more than its free slots, so a claimed run never waits for
/// a slot without its lease being heartbeaten.
#[derive(Debug)]
pub(crate) struct Slots {
    total: usize,
    in_flight: AtomicUsize,
    freed: Notify,
}

impl Slots {
    pub(crate) fn new(total: usize) -> Arc<Self> {
        Arc::new(Self {
            total: total.max(1),
            in_flight: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    fn free(&self) -> usize {
        self.total
            .saturating_sub(self.in_flight.load(Ordering::SeqCst))
    }

    fn take(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// Frees the slot of a run handed out by the stream (when the run's
    /// handler ends, however it ends).
    pub(crate) fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.freed.notify_one();
    }
}

struct State {
    shared: Arc<Shared>,
    wakeups: BoxStream<'static, Wakeup>,
    backoff: Option<Duration>,
    slots: Arc<Slots>,
    /// Claimed in the last claim transaction and not yet handed out.
    claimed: VecDeque<Investigation>,
}

impl Drop for State {
    /// The stream was dropped (apalis stops it at shutdown) holding runs it
    /// claimed but never handed out: give them back at once instead of
    /// leaving them leased to nobody until the reaper dead-letters them.
    fn drop(&mut self) {
        for inv in self.claimed.drain(..) {
            let leases = Arc::clone(&self.shared.leases);
            tokio::spawn(async move {
                give_back(&*leases, &inv, "worker shutting down").await;
            });
        }
    }
}

/// Claims up to `limit` investigations in one transaction, on a task of its
/// own. When the stream is dropped mid-claim (apalis stops it at
/// shutdown), the claim still runs to its end, and the rows it took are
/// released at once instead of being left leased to nobody until the
/// reaper dead-letters them.
async fn claim(
    shared: &Arc<Shared>,
    limit: usize,
) -> vigil_engine::store::Result<Vec<Investigation>> {
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
            .claim_up_to(
                &shared.serves,
                &settings.id,
                Some(shared.runner.mode().as_str()),
                lease,
                limit,
            )
            .await;
        claim_span(&span, &claimed);
        drop(span);
        if let Err(Ok(runs)) = tx.send(claimed) {
            // Nobody is waiting for them any more: give them back.
            for inv in &runs {
                give_back(&*shared.leases, inv, "worker shutting down").await;
            }
        }
    });
    rx.await.unwrap_or(Ok(Vec::new()))
}

/// Puts the `claim` span `span` in the trace of the run it claimed, with
/// the claim's attributes, or drops it when nothing was claimed.
fn claim_span(span: &tracing::Span, claimed: &vigil_engine::store::Result<Vec<Investigation>>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use vigil_agents::trace as keys;
    match claimed {
        // A claim of several runs joins the first one's trace.
        Ok(runs) if !runs.is_empty() => {
            let inv = &runs[0];
            span.set_attribute("vigil.claimed", runs.len() as i64);
            keys::continue_investigation(span, inv);
            span.set_attribute(keys::GEN_AI_AGENT_NAME, inv.agent_id.clone());
            span.set_attribute(keys::GEN_AI_CONVERSATION_ID, inv.id.to_string());
            span.set_attribute("vigil.lease.epoch", inv.lease_epoch);
            span.set_attribute("vigil.claims", i64::from(inv.claims));
        }
        Ok(_) => keys::discard(span),
        Err(e) => {
            span.set_attribute(keys::ERROR_TYPE, "store_error");
            span.set_status(opentelemetry::trace::Status::error(e.to_string()));
        }
    }
}

/// Claims as many investigations as the stream has free slots (at most
/// [`MAX_CLAIM_BATCH`], in one transaction) and hands them to apalis one
/// at a time; claims only after a cheap
/// read says there is one to claim ([`vigil_engine::store::Leases::has_claimable`]).
/// Waits for a wake-up for a served agent or the poll interval when there
/// is nothing to claim; backs off
/// on database faults, logging once per outage. From the soft stop on it
/// claims nothing more (a claim that lands just then is given back) and
/// simply waits; it never ends. It claims only the agents the worker
/// serves, and nothing when it serves none.
pub(crate) fn stream(
    shared: Arc<Shared>,
    wakeups: BoxStream<'static, Wakeup>,
    slots: Arc<Slots>,
) -> BoxStream<'static, Result<Investigation, Never>> {
    let state = State {
        shared,
        wakeups,
        backoff: None,
        slots,
        claimed: VecDeque::new(),
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            let settings = &st.shared.settings;
            let soft = &st.shared.soft;
            if soft.is_cancelled() || st.shared.serves.is_empty() {
                // Stopping, or serving no agent (an empty list would claim
                // every agent): claim nothing, ever; give back what was
                // claimed and not handed out yet.
                while let Some(inv) = st.claimed.pop_front() {
                    give_back(&*st.shared.leases, &inv, "worker shutting down").await;
                }
                futures::future::pending::<()>().await;
            }
            if let Some(inv) = st.claimed.pop_front() {
                st.slots.take();
                return Some((Ok(inv), st));
            }
            let free = st.slots.free();
            if free == 0 {
                // Every slot is busy: wait until a run ends.
                tokio::select! {
                    () = st.slots.freed.notified() => {}
                    () = soft.cancelled() => {}
                }
                continue;
            }
            // Look before claiming: an idle worker opens no write
            // transaction to learn that the queue is empty. This process's
            // streams take turns, so they do not race each other for a row.
            let turn = st.shared.claiming.lock().await;
            let outcome = match st.shared.leases.has_claimable(&st.shared.serves).await {
                Ok(false) => Ok(Vec::new()),
                // A fault is the claim's to report and back off from.
                Ok(true) | Err(_) => {
                    let claimed = claim(&st.shared, free.min(MAX_CLAIM_BATCH)).await;
                    if let Ok(runs) = &claimed
                        && runs.is_empty()
                    {
                        metrics::counter!("vigil_claims_empty_total").increment(1);
                    }
                    claimed
                }
            };
            drop(turn);
            match outcome {
                Ok(runs) if !runs.is_empty() => {
                    metrics::counter!("vigil_claims_total").increment(runs.len() as u64);
                    if st.backoff.take().is_some() {
                        tracing::info!("database reachable again; claiming");
                    }
                    // Handed out from the top of the loop, one per slot, or
                    // given back there if the shutdown began meanwhile.
                    st.claimed.extend(runs);
                }
                Ok(_) => {
                    if st.backoff.take().is_some() {
                        tracing::info!("database reachable again; claiming");
                    }
                    let poll = settings.poll_interval;
                    let serves = &st.shared.serves;
                    tokio::select! {
                        _ = tokio::time::timeout(poll, served_wakeup(&mut st.wakeups, serves)) => {}
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

/// Waits for a wake-up that concerns this worker: work queued for an agent
/// it serves, or a resync. Wake-ups for other agents are skipped, so a
/// dispatch wakes only the workers that can run it. Pends forever once the
/// stream has ended (the poll interval still bounds the wait).
async fn served_wakeup(wakeups: &mut BoxStream<'static, Wakeup>, serves: &[String]) {
    while let Some(wakeup) = wakeups.next().await {
        match wakeup {
            Wakeup::Queued { agent_id } if !serves.contains(&agent_id) => continue,
            Wakeup::Queued { .. } | Wakeup::Resync => return,
        }
    }
    futures::future::pending::<()>().await;
}

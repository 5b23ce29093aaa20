//! The apalis backend: a never-ending stream of claimed investigations.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use vigil_engine::model::Investigation;
use vigil_engine::store::Wakeup;

use crate::Shared;

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

/// Claims one investigation each time apalis has a free slot. Waits for a
/// wake-up or the poll interval when there is nothing to claim; backs off
/// on database faults, logging once per outage. Stops claiming (and simply
/// waits) once the worker is shutting down; never ends.
pub(crate) fn stream(shared: Arc<Shared>) -> BoxStream<'static, Result<Investigation, Never>> {
    let wakeups = shared.store.wakeups();
    let state = State {
        shared,
        wakeups,
        backoff: None,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            let settings = &st.shared.settings;
            if st.shared.stopping.load(Ordering::SeqCst) {
                futures::future::pending::<()>().await;
            }
            let lease =
                chrono::Duration::from_std(settings.lease).unwrap_or(chrono::Duration::minutes(2));
            match st
                .shared
                .store
                .claim_next(&settings.agents, &settings.id, lease)
                .await
            {
                Ok(Some(inv)) => {
                    metrics::counter!("vigil_claims_total").increment(1);
                    if st.backoff.take().is_some() {
                        tracing::info!("database reachable again; claiming");
                    }
                    if st.shared.stopping.load(Ordering::SeqCst) {
                        // Claimed just as the shutdown began: give it back.
                        let _ = st
                            .shared
                            .store
                            .release(inv.id, inv.lease_epoch, "worker shutting down")
                            .await;
                        continue;
                    }
                    return Some((Ok(inv), st));
                }
                Ok(None) => {
                    if st.backoff.take().is_some() {
                        tracing::info!("database reachable again; claiming");
                    }
                    let poll = settings.poll_interval;
                    let _ = tokio::time::timeout(poll, st.wakeups.next()).await;
                }
                Err(e) => {
                    let next = st
                        .backoff
                        .map_or(Duration::from_millis(100), |b| (b * 2).min(MAX_BACKOFF));
                    if st.backoff.is_none() {
                        tracing::warn!(error = %e, "cannot claim; retrying with backoff");
                    }
                    st.backoff = Some(next);
                    tokio::time::sleep(next).await;
                }
            }
        }
    }))
}

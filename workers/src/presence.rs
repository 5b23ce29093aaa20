//! Worker presence: the process announces itself to the store when it starts
//! and every [`EVERY`] after, until shutdown, so operators can see who is
//! serving which agents.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use vigil_engine::store::Presence;

/// How often a worker announces itself.
pub(crate) const EVERY: Duration = Duration::from_secs(10);

/// Announces worker `id` now and then every [`EVERY`], until `stop` is
/// cancelled.
pub(crate) async fn run(
    store: Arc<dyn Presence>,
    id: String,
    agents: Vec<String>,
    stop: CancellationToken,
) {
    let mut interval = tokio::time::interval(EVERY);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    announce(store, &id, &agents, interval_ticks(interval), &stop).await;
}

/// Calls [`Presence::worker_seen`] on every tick until `stop` is cancelled
/// (also in the middle of a call). A failure never ends the loop; it is
/// logged at warn once per outage, then at debug until a call succeeds.
async fn announce<T>(
    store: Arc<dyn Presence>,
    id: &str,
    agents: &[String],
    ticks: T,
    stop: &CancellationToken,
) where
    T: Stream<Item = ()> + Send,
{
    let mut outage = Outage::default();
    let beats = async {
        let mut ticks = std::pin::pin!(ticks);
        while ticks.next().await.is_some() {
            match store.worker_seen(id, agents).await {
                Ok(()) => {
                    if outage.recovered() {
                        tracing::info!(worker.id = %id, "worker presence recorded again");
                    }
                }
                Err(e) => {
                    if outage.failed() {
                        tracing::warn!(worker.id = %id, error = %e, "could not record worker presence; retrying every tick");
                    } else {
                        tracing::debug!(worker.id = %id, error = %e, "worker presence still failing");
                    }
                }
            }
        }
    };
    tokio::select! {
        () = stop.cancelled() => {}
        () = beats => {}
    }
}

/// Whether presence is failing, so an outage is logged once.
#[derive(Debug, Default)]
struct Outage {
    failing: bool,
}

impl Outage {
    /// Records a failure; true if it starts an outage.
    fn failed(&mut self) -> bool {
        !std::mem::replace(&mut self.failing, true)
    }

    /// Records a success; true if it ends an outage.
    fn recovered(&mut self) -> bool {
        std::mem::replace(&mut self.failing, false)
    }
}

/// The ticks of a tokio interval as a stream (the first one at once).
fn interval_ticks(interval: Interval) -> impl Stream<Item = ()> + Send {
    futures::stream::unfold(interval, |mut interval| async move {
        interval.tick().await;
        Some(((), interval))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use futures::channel::mpsc;
    use tokio::sync::Notify;
    use vigil_engine::store::{Error, Result, WorkerSeen};

    use super::*;

    /// Records calls; fails the calls whose numbers are in `fail`.
    #[derive(Default)]
    struct Fake {
        calls: Mutex<Vec<(String, Vec<String>)>>,
        fail: Vec<usize>,
        called: Notify,
    }

    impl Fake {
        fn calls(&self) -> usize {
            self.calls.lock().unwrap().len()
        }
    }

    #[async_trait]
    impl Presence for Fake {
        async fn worker_seen(&self, id: &str, agents: &[String]) -> Result<()> {
            let n = {
                let mut calls = self.calls.lock().unwrap();
                calls.push((id.to_owned(), agents.to_vec()));
                calls.len()
            };
            self.called.notify_one();
            if self.fail.contains(&n) {
                Err(Error::Unavailable(vigil_engine::store::Cause::msg(
                    "database down",
                )))
            } else {
                Ok(())
            }
        }

        async fn workers_seen(&self, _since: DateTime<Utc>) -> Result<Vec<WorkerSeen>> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn announces_on_every_tick_through_failures_until_stopped() {
        let fake = Arc::new(Fake {
            fail: vec![2, 3],
            ..Fake::default()
        });
        let (tick, ticks) = mpsc::unbounded::<()>();
        let stop = CancellationToken::new();
        let store: Arc<dyn Presence> = fake.clone();
        let agents = vec!["triage".to_owned()];
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            announce(store, "host:1:ab", &agents, ticks, &stopped).await;
        });
        for n in 1..=4 {
            let called = fake.called.notified();
            tick.unbounded_send(()).unwrap();
            called.await;
            assert_eq!(fake.calls(), n, "one call per tick, failures included");
        }
        stop.cancel();
        task.await.unwrap();
        assert!(tick.unbounded_send(()).is_err(), "the loop has ended");
        assert_eq!(fake.calls(), 4);
        let calls = fake.calls.lock().unwrap();
        assert!(
            calls
                .iter()
                .all(|(id, agents)| id == "host:1:ab" && agents == &["triage".to_owned()])
        );
    }

    #[test]
    fn an_outage_is_reported_once() {
        let mut outage = Outage::default();
        assert!(!outage.recovered());
        assert!(outage.failed());
        assert!(!outage.failed());
        assert!(outage.recovered());
        assert!(!outage.recovered());
        assert!(outage.failed());
    }
}

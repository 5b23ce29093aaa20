//! The wake-up stream: `LISTEN` on the store's channel, reconnecting by itself.

use std::time::Duration;

use futures::stream::BoxStream;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use vigil_engine::store::Wakeup;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

enum State {
    /// Not listening; connect (after `backoff`, if set).
    Disconnected { backoff: Option<Duration> },
    /// Listening.
    Listening(Box<PgListener>),
}

async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// A stream of wake-ups that ends only when the store is closed. After any connection loss it
/// reconnects with bounded exponential backoff and yields
/// [`Wakeup::Resync`], since notifications sent meanwhile are lost.
pub(crate) fn wakeups(pool: PgPool, channel: String) -> BoxStream<'static, Wakeup> {
    let state = (pool, channel, State::Disconnected { backoff: None }, true);
    Box::pin(futures::stream::unfold(
        state,
        |(pool, channel, mut state, mut first)| async move {
            loop {
                match state {
                    State::Disconnected { backoff } => {
                        if let Some(wait) = backoff {
                            tokio::time::sleep(wait).await;
                        }
                        match listen(&pool, &channel).await {
                            Ok(listener) => {
                                state = State::Listening(Box::new(listener));
                                if !first {
                                    tracing::info!(channel = %channel, "wake-up listener reconnected");
                                }
                                first = false;
                                // Anything sent while we were away is lost: poll now.
                                return Some((Wakeup::Resync, (pool, channel, state, first)));
                            }
                            Err(sqlx::Error::PoolClosed) => return None,
                            Err(e) => {
                                let next = backoff.map_or(Duration::from_millis(100), |b| {
                                    (b * 2).min(MAX_BACKOFF)
                                });
                                if backoff.is_none() {
                                    tracing::warn!(channel = %channel, error = %e, "wake-up listener cannot connect; retrying");
                                }
                                state = State::Disconnected {
                                    backoff: Some(next),
                                };
                            }
                        }
                    }
                    State::Listening(mut listener) => match listener.try_recv().await {
                        Ok(Some(n)) => {
                            let wakeup = match n.payload() {
                                "" => Wakeup::Resync,
                                agent => Wakeup::Queued {
                                    agent_id: agent.to_owned(),
                                },
                            };
                            state = State::Listening(listener);
                            return Some((wakeup, (pool, channel, state, first)));
                        }
                        Ok(None) => {
                            tracing::warn!(channel = %channel, "wake-up listener lost its connection");
                            state = State::Disconnected { backoff: None };
                        }
                        Err(sqlx::Error::PoolClosed) => return None,
                        Err(e) => {
                            tracing::warn!(channel = %channel, error = %e, "wake-up listener failed");
                            state = State::Disconnected {
                                backoff: Some(Duration::from_millis(100)),
                            };
                        }
                    },
                }
            }
        },
    ))
}

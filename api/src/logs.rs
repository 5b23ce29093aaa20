//! Serving any aggregate's sealed log, written once: the live SSE tail and
//! the JSON Lines export. A [`LogSource`] says how to read one kind of log
//! through the store and how its entries look on the wire; everything else
//! (paging, resuming after an id, outages, revocation, the end of a finished
//! log) is here.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::response::sse::Event as SseEvent;
use futures::Stream;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vigil_engine::log::{Aggregate, Entry, EntryKind};
use vigil_engine::store::Result;

use crate::error::ApiError;
use crate::state::ApiStore;

/// Entries read per poll or export page.
const PAGE: u32 = 500;

/// Where a log's aggregate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The seq of its newest entry.
    pub last_seq: i64,
    /// Whether it is finished: once every entry up to `last_seq` is sent,
    /// the live tail ends.
    pub finished: bool,
}

/// One kind of log, read through the store.
#[async_trait]
pub trait LogSource: Send + Sync + 'static {
    /// The aggregate.
    type Log: Aggregate;
    /// The wire form of one entry (a stream message's data, an export line).
    type View: Serialize + Send;

    /// The aggregate's head: one primary-key read.
    async fn head(&self, id: <Self::Log as Aggregate>::Id) -> Result<Head>;

    /// Entries after `after_seq`, in seq order, at most `limit`.
    async fn entries(
        &self,
        id: <Self::Log as Aggregate>::Id,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Entry<Self::Log>>>;

    /// The wire form of `entry`.
    fn view(entry: &Entry<Self::Log>) -> Self::View;
}

/// A JSON data message, or a `problem` message if it does not serialize.
pub(crate) fn sse_json<T: Serialize>(event: SseEvent, data: &T) -> SseEvent {
    match serde_json::to_string(data) {
        Ok(json) => event.data(json),
        Err(e) => event.event("problem").data(e.to_string()),
    }
}

/// Re-checks, while a stream runs, that the token that opened it is still
/// valid: at most every `every`, and whenever asked to.
pub(crate) struct TokenWatch {
    store: Arc<dyn ApiStore>,
    token_id: String,
    every: Duration,
    next: Instant,
}

impl TokenWatch {
    pub(crate) fn new(store: Arc<dyn ApiStore>, token_id: String, every: Duration) -> Self {
        Self {
            store,
            token_id,
            every,
            next: Instant::now() + every,
        }
    }

    /// Whether the token is still valid; reads the store when the interval
    /// has passed or `now` is set. A store that cannot answer does not end
    /// the stream: the outage is reported as such.
    pub(crate) async fn valid(&mut self, now: bool) -> bool {
        if !now && Instant::now() < self.next {
            return true;
        }
        self.next = Instant::now() + self.every;
        match self.store.token(&self.token_id).await {
            Ok(Some(record)) => record.revoked_at.is_none(),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// The last message of a stream whose token was revoked.
    pub(crate) fn revoked_message() -> SseEvent {
        let problem = ApiError::unauthenticated(
            "the token that opened this stream was revoked; the stream is closed",
        )
        .problem();
        sse_json(SseEvent::default().event("problem"), &problem)
    }
}

/// The live tail of one aggregate's log: every entry after `after`, each as
/// an SSE message with `event: <kind>`, `id: <seq>`; one `problem` message
/// per outage; a `stream_end` message (data `{"last_seq": N}`) and the end
/// once the aggregate is finished and everything was sent; and a `problem`
/// message and the end when the token that opened it is revoked.
pub(crate) struct LogTail<S: LogSource> {
    pub(crate) source: S,
    pub(crate) id: <S::Log as Aggregate>::Id,
    pub(crate) after: i64,
    pub(crate) poll: Duration,
    pub(crate) token: TokenWatch,
}

impl<S: LogSource> LogTail<S> {
    /// The stream, ended by `shutdown` too.
    pub(crate) fn into_stream(
        self,
        shutdown: CancellationToken,
    ) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        struct State<S: LogSource> {
            tail: LogTail<S>,
            buffered: VecDeque<SseEvent>,
            down: bool,
            done: bool,
        }
        let state = State {
            tail: self,
            buffered: VecDeque::new(),
            down: false,
            done: false,
        };
        futures::stream::unfold((state, shutdown), |(mut st, shutdown)| async move {
            loop {
                if shutdown.is_cancelled() {
                    return None;
                }
                if let Some(next) = st.buffered.pop_front() {
                    return Some((Ok(next), (st, shutdown)));
                }
                if st.done {
                    return None;
                }
                if !st.tail.token.valid(false).await {
                    st.buffered.push_back(TokenWatch::revoked_message());
                    st.done = true;
                    continue;
                }
                // An idle poll reads only the head; the log is read when it
                // has grown.
                let tail = &st.tail;
                let polled = match tail.source.head(tail.id).await {
                    Ok(head) if head.last_seq <= tail.after => Ok((head, Vec::new())),
                    Ok(head) => tail
                        .source
                        .entries(tail.id, tail.after, PAGE)
                        .await
                        .map(|entries| (head, entries)),
                    Err(e) => Err(e),
                };
                match polled {
                    Ok((_, entries)) if !entries.is_empty() => {
                        st.down = false;
                        for e in &entries {
                            st.buffered.push_back(sse_json(
                                SseEvent::default()
                                    .event(e.kind.as_str())
                                    .id(e.seq.to_string()),
                                &S::view(e),
                            ));
                        }
                        st.tail.after = entries.last().map_or(st.tail.after, |e| e.seq);
                        continue;
                    }
                    Ok((head, _)) => {
                        st.down = false;
                        if head.finished && st.tail.after >= head.last_seq {
                            st.buffered.push_back(sse_json(
                                SseEvent::default().event("stream_end"),
                                &serde_json::json!({ "last_seq": head.last_seq }),
                            ));
                            st.done = true;
                            continue;
                        }
                    }
                    Err(e) if !st.down => {
                        st.down = true;
                        let problem = ApiError::from(e);
                        problem.log();
                        st.buffered.push_back(sse_json(
                            SseEvent::default().event("problem"),
                            &problem.problem(),
                        ));
                        continue;
                    }
                    Err(_) => {}
                }
                let wait = if st.down {
                    st.tail.poll * 4
                } else {
                    st.tail.poll
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => return None,
                }
            }
        })
    }
}

/// The audit download of `id`'s log: the JSON Lines export
/// ([`export_jsonl`]) as an attachment named `filename`, with
/// `Vigil-Chain-Valid` saying whether the chain verified.
pub(crate) async fn jsonl_download<S: LogSource>(
    source: &S,
    id: <S::Log as Aggregate>::Id,
    filename: &str,
    valid: bool,
) -> std::result::Result<axum::response::Response, ApiError> {
    use axum::http::{HeaderValue, header};
    let body = export_jsonl(source, id).await?;
    let mut response = axum::response::Response::new(axum::body::Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        "vigil-chain-valid",
        HeaderValue::from_static(if valid { "true" } else { "false" }),
    );
    Ok(response)
}

/// The whole log of `id` as JSON Lines, one entry per line in seq order.
pub(crate) async fn export_jsonl<S: LogSource>(
    source: &S,
    id: <S::Log as Aggregate>::Id,
) -> std::result::Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    let mut after = 0;
    loop {
        let page = source.entries(id, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            serde_json::to_writer(&mut body, &S::view(e)).map_err(ApiError::internal)?;
            body.push(b'\n');
        }
    }
    Ok(body)
}

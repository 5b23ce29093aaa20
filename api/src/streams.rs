//! Live streams (Server-Sent Events): an investigation's events, and
//! approval requests as they are made and decided.
//!
//! Streams read the store, so they see what any process wrote: each polls
//! for rows past its position (`StreamSettings::poll`) and sends a keep-alive
//! comment when idle. An investigation's stream carries each event with its
//! seq as the SSE `id`, so a client that reconnects with `Last-Event-ID`
//! resumes exactly after the last event it saw: no gap, no repeat. While the
//! database is unreachable a stream sends one `problem` event, keeps trying,
//! and carries on from where it was once the database is back. Streams end
//! when the server shuts down.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::Utc;
use futures::Stream;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use vigil_engine::store::ApprovalQuery;
use vigil_engine::{ApprovalId, ApprovalStatus, InvestigationId};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::routes::approvals::APPROVAL_READERS;
use crate::routes::investigations::readable;
use crate::routes::query_number;
use crate::state::{ApiStore, AppState};
use crate::views::{ApprovalView, EventView};

/// Events read per poll.
const PAGE: u32 = 500;
/// How far back each approvals poll looks again, to catch rows committed
/// late with an earlier timestamp.
const APPROVALS_OVERLAP: chrono::Duration = chrono::Duration::seconds(10);

/// Where an event stream starts.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Start after this seq (default 0). `Last-Event-ID` takes precedence.
    after_seq: Option<String>,
}

/// A live stream of an investigation's events (`text/event-stream`).
///
/// Each SSE message has `event: <kind>`, `id: <seq>` and the event as JSON
/// `data`. Reconnect with `Last-Event-ID: <seq>` to resume without gaps or
/// duplicates. A `problem` message reports a database outage.
#[utoipa::path(
    get, path = "/investigations/{id}/events/stream", tag = "investigations",
    params(
        ("id" = String, Path, description = "Investigation id"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this seq"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "Server-Sent Events, one per event", content_type = "text/event-stream", body = EventView),
        (status = 400, description = "A bad Last-Event-ID or after_seq", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "May not read it", body = Problem),
        (status = 404, description = "No such investigation", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn investigation_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let from_header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_header",
                        "Last-Event-ID must be a seq (a non-negative integer)",
                    )
                    .with_field("Last-Event-ID")
                })
        })
        .transpose()?;
    let from_query = query_number("after_seq", params.after_seq.as_deref(), 0..=i64::MAX)?;
    let inv = readable(&state, &caller, &id).await?;
    let after = from_header.or(from_query).unwrap_or(0);
    let stream = EventTail {
        store: state.store.clone(),
        id: inv.id,
        after,
        buffered: VecDeque::new(),
        down: false,
        poll: state.streams.poll,
    }
    .into_stream(state.shutdown.clone());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.streams.keep_alive)))
}

struct EventTail {
    store: std::sync::Arc<dyn ApiStore>,
    id: InvestigationId,
    after: i64,
    buffered: VecDeque<SseEvent>,
    down: bool,
    poll: Duration,
}

impl EventTail {
    fn into_stream(
        self,
        shutdown: CancellationToken,
    ) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        futures::stream::unfold((self, shutdown), |(mut tail, shutdown)| async move {
            loop {
                if shutdown.is_cancelled() {
                    return None;
                }
                if let Some(next) = tail.buffered.pop_front() {
                    return Some((Ok(next), (tail, shutdown)));
                }
                // An idle poll reads only the row's `last_seq` (one
                // primary-key read); the log is read when it has grown.
                let fetched = match tail.store.get(tail.id).await {
                    Ok(inv) if inv.last_seq <= tail.after => Ok(Vec::new()),
                    Ok(_) => tail.store.events(tail.id, tail.after, PAGE).await,
                    Err(e) => Err(e),
                };
                match fetched {
                    Ok(events) if !events.is_empty() => {
                        tail.down = false;
                        for e in &events {
                            tail.buffered.push_back(sse_json(
                                SseEvent::default()
                                    .event(e.kind.as_str())
                                    .id(e.seq.to_string()),
                                &EventView::from(e),
                            ));
                        }
                        tail.after = events.last().map_or(tail.after, |e| e.seq);
                        continue;
                    }
                    Ok(_) => tail.down = false,
                    Err(e) if !tail.down => {
                        tail.down = true;
                        let problem = ApiError::from(e).problem();
                        tail.buffered
                            .push_back(sse_json(SseEvent::default().event("problem"), &problem));
                        continue;
                    }
                    Err(_) => {}
                }
                let wait = if tail.down { tail.poll * 4 } else { tail.poll };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => return None,
                }
            }
        })
    }
}

fn sse_json<T: serde::Serialize>(event: SseEvent, data: &T) -> SseEvent {
    match serde_json::to_string(data) {
        Ok(json) => event.data(json),
        Err(e) => event.event("problem").data(e.to_string()),
    }
}

/// A live stream of approval requests (`text/event-stream`): an
/// `approval_requested` message for each new pending request and an
/// `approval_decided` message when one is approved, rejected or expired,
/// each with the request as JSON `data`.
#[utoipa::path(
    get, path = "/approvals/stream", tag = "approvals",
    responses(
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream", body = ApprovalView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the approver, operator or auditor role", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn approvals(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require(APPROVAL_READERS, "watching approval requests")?;
    let watch = ApprovalWatch {
        store: state.store.clone(),
        since: Utc::now(),
        seen: HashMap::new(),
        buffered: VecDeque::new(),
        down: false,
        poll: state.streams.poll,
    };
    Ok(Sse::new(watch.into_stream(state.shutdown.clone()))
        .keep_alive(KeepAlive::new().interval(state.streams.keep_alive)))
}

struct ApprovalWatch {
    store: std::sync::Arc<dyn ApiStore>,
    since: chrono::DateTime<Utc>,
    seen: HashMap<ApprovalId, (ApprovalStatus, chrono::DateTime<Utc>)>,
    buffered: VecDeque<SseEvent>,
    down: bool,
    poll: Duration,
}

impl ApprovalWatch {
    fn into_stream(
        self,
        shutdown: CancellationToken,
    ) -> impl Stream<Item = Result<SseEvent, Infallible>> {
        futures::stream::unfold((self, shutdown), |(mut w, shutdown)| async move {
            loop {
                if shutdown.is_cancelled() {
                    return None;
                }
                if let Some(next) = w.buffered.pop_front() {
                    return Some((Ok(next), (w, shutdown)));
                }
                let polled_at = Utc::now();
                let query = ApprovalQuery {
                    changed_since: Some(w.since - APPROVALS_OVERLAP),
                    limit: 500,
                    ..ApprovalQuery::default()
                };
                match w.store.approvals(&query).await {
                    Ok(mut rows) => {
                        w.down = false;
                        rows.sort_by_key(|a| (a.decided_at.unwrap_or(a.created_at), a.id));
                        for a in rows {
                            if w.seen.get(&a.id).map(|(s, _)| *s) == Some(a.status) {
                                continue;
                            }
                            w.seen.insert(a.id, (a.status, polled_at));
                            let kind = if a.status == ApprovalStatus::Pending {
                                "approval_requested"
                            } else {
                                "approval_decided"
                            };
                            w.buffered.push_back(sse_json(
                                SseEvent::default().event(kind),
                                &ApprovalView::from(&a),
                            ));
                        }
                        w.since = polled_at;
                        let horizon = polled_at - APPROVALS_OVERLAP * 3;
                        w.seen.retain(|_, (_, at)| *at >= horizon);
                        if !w.buffered.is_empty() {
                            continue;
                        }
                    }
                    Err(e) if !w.down => {
                        w.down = true;
                        let problem = ApiError::from(e).problem();
                        w.buffered
                            .push_back(sse_json(SseEvent::default().event("problem"), &problem));
                        continue;
                    }
                    Err(_) => {}
                }
                let wait = if w.down { w.poll * 4 } else { w.poll * 2 };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => return None,
                }
            }
        })
    }
}

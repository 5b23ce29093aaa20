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
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use chrono::Utc;
use futures::Stream;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use vigil_engine::store::ApprovalQuery;
use vigil_engine::{
    ApprovalId, ApprovalStatus, CaseEvent, CaseId, CaseLog, Event, InvestigationId,
    InvestigationLog,
};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;
use crate::logs::{Head, LogSource, LogTail, TokenWatch, sse_json};
use crate::routes::approvals::APPROVAL_READERS;
use crate::routes::investigations::readable;
use crate::routes::query_number;
use crate::state::{ApiStore, AppState};
use crate::views::cases::CaseEventView;
use crate::views::{ApprovalStreamData, ApprovalView, EventStreamData, EventView};

/// How far back each approvals poll looks again, to catch rows committed
/// late with an earlier timestamp.
const APPROVALS_OVERLAP: chrono::Duration = chrono::Duration::seconds(10);

/// Where an event stream starts.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Start after this seq (default 0). `Last-Event-ID` takes precedence.
    #[param(value_type = Option<i64>, minimum = 0)]
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
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this seq"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "Server-Sent Events: one message per event (`event: <kind>`, `id: <seq>`, data an EventView); `problem` messages (data a Problem) during an outage or when the token is revoked; a `stream_end` message (data `{\"last_seq\": N}`) once the investigation has finished and every event was sent", content_type = "text/event-stream", body = EventStreamData),
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
    let after = start_after(&headers, &params)?;
    let inv = readable(&state, &caller, &id).await?;
    Ok(tail(
        &state,
        &caller,
        InvestigationEvents(state.store.clone()),
        inv.id,
        after,
    ))
}

/// Where a log stream starts: after `Last-Event-ID`, else after the
/// `after_seq` query parameter, else from the first entry.
fn start_after(headers: &HeaderMap, params: &StreamParams) -> ApiResult<i64> {
    let from_header = last_event_id(headers, "a seq (a non-negative integer)")?;
    let from_query = query_number("after_seq", params.after_seq.as_deref(), 0..=i64::MAX)?;
    Ok(from_header.or(from_query).unwrap_or(0))
}

/// The live tail of `source`'s log of `id` after seq `after`, for the
/// caller's token.
fn tail<S: LogSource>(
    state: &AppState,
    caller: &Caller,
    source: S,
    id: <S::Log as vigil_engine::log::Aggregate>::Id,
    after: i64,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<S>> {
    let stream = LogTail {
        source,
        id,
        after,
        poll: state.streams.poll,
        token: TokenWatch::new(
            state.store.clone(),
            caller.token_id().to_owned(),
            state.streams.recheck,
        ),
    }
    .into_stream(state.shutdown.clone());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(state.streams.keep_alive))
}

/// An investigation's events, as streams and exports serve them.
pub(crate) struct InvestigationEvents(pub(crate) Arc<dyn ApiStore>);

#[async_trait]
impl LogSource for InvestigationEvents {
    type Log = InvestigationLog;
    type View = EventView;

    async fn head(&self, id: InvestigationId) -> vigil_engine::store::Result<Head> {
        let inv = self.0.get(id).await?;
        Ok(Head {
            last_seq: inv.last_seq,
            finished: inv.status.is_terminal(),
        })
    }

    async fn entries(
        &self,
        id: InvestigationId,
        after_seq: i64,
        limit: u32,
    ) -> vigil_engine::store::Result<Vec<Event>> {
        self.0.events(id, after_seq, limit).await
    }

    fn view(entry: &Event) -> EventView {
        EventView::from(entry)
    }
}

/// A live stream of a case's timeline (`text/event-stream`).
///
/// Each SSE message has `event: <kind>`, `id: <seq>` and the entry as JSON
/// `data`. Reconnect with `Last-Event-ID: <seq>` to resume without gaps or
/// duplicates. A `problem` message reports a database outage. A deleted or
/// merged case takes no more entries: its stream ends with `stream_end`
/// once everything was sent.
#[utoipa::path(
    get, path = "/cases/{id}/timeline/stream", tag = "cases",
    params(
        ("id" = String, Path, description = "Case id or number"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this seq"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "Server-Sent Events: one message per timeline entry (`event: <kind>`, `id: <seq>`, data a CaseEventView); `problem` messages (data a Problem) during an outage or when the token is revoked; a `stream_end` message once a deleted or merged case's entries were all sent", content_type = "text/event-stream", body = CaseStreamData),
        (status = 400, description = "A bad Last-Event-ID or after_seq", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn case_timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let after = start_after(&headers, &params)?;
    let overview = crate::routes::cases::readable(&state, &caller, &id).await?;
    Ok(tail(
        &state,
        &caller,
        CaseTimeline(state.store.clone()),
        overview.case.id,
        after,
    ))
}

/// The data of one case timeline stream message.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum CaseStreamData {
    /// A timeline entry.
    Entry(CaseEventView),
    /// A problem.
    Problem(crate::error::Problem),
    /// The case takes no more entries and every entry was sent.
    End(crate::views::StreamEnd),
}

/// A case's timeline, as streams and exports serve it.
pub(crate) struct CaseTimeline(pub(crate) Arc<dyn ApiStore>);

#[async_trait]
impl LogSource for CaseTimeline {
    type Log = CaseLog;
    type View = CaseEventView;

    async fn head(&self, id: CaseId) -> vigil_engine::store::Result<Head> {
        let overview = self.0.case(id).await?;
        Ok(Head {
            last_seq: overview.case.last_seq,
            finished: overview.case.is_retired(),
        })
    }

    async fn entries(
        &self,
        id: CaseId,
        after_seq: i64,
        limit: u32,
    ) -> vigil_engine::store::Result<Vec<CaseEvent>> {
        self.0.case_timeline(id, after_seq, limit).await
    }

    fn view(entry: &CaseEvent) -> CaseEventView {
        CaseEventView::from(entry)
    }
}

/// A live stream of approval requests (`text/event-stream`): an
/// `approval_requested` message for each new pending request and an
/// `approval_decided` message when one is approved, rejected or expired,
/// each with the request as JSON `data` and, as its SSE `id`, the time of
/// that change in microseconds since the Unix epoch. Reconnecting with
/// `Last-Event-ID` resumes from that time. The stream ends, after a
/// `problem` message, when the token that opened it is revoked.
#[utoipa::path(
    get, path = "/approvals/stream", tag = "approvals",
    params(
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this change (microseconds since the Unix epoch, as a message's id)"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `approval_requested` and `approval_decided` messages whose data is an ApprovalView, `problem` messages whose data is a Problem", content_type = "text/event-stream", body = ApprovalStreamData),
        (status = 400, description = "A bad Last-Event-ID", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the approver, operator or auditor role", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn approvals(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require(APPROVAL_READERS, "watching approval requests")?;
    let since = match last_event_id(
        &headers,
        "a change time (microseconds since the Unix epoch)",
    )? {
        Some(micros) if micros <= LATEST_CHANGE_MICROS => {
            chrono::DateTime::from_timestamp_micros(micros).ok_or_else(|| {
                bad_last_event_id("a change time (microseconds since the Unix epoch)")
            })?
        }
        Some(_) => {
            return Err(bad_last_event_id(
                "a change time (microseconds since the Unix epoch) before the year 10000",
            ));
        }
        None => Utc::now(),
    };
    let watch = ApprovalWatch {
        store: state.store.clone(),
        since,
        seen: HashMap::new(),
        buffered: VecDeque::new(),
        down: false,
        done: false,
        poll: state.streams.poll,
        token: TokenWatch::new(
            state.store.clone(),
            caller.token_id().to_owned(),
            state.streams.recheck,
        ),
    };
    Ok(Sse::new(watch.into_stream(state.shutdown.clone()))
        .keep_alive(KeepAlive::new().interval(state.streams.keep_alive)))
}

/// The latest change time the approvals stream resumes from: the end of the
/// year 9999, in microseconds (the document's `maximum`).
pub(crate) const LATEST_CHANGE_MICROS: i64 = 253_402_300_799_999_999;

fn bad_last_event_id(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_header",
        format!("Last-Event-ID must be {what}"),
    )
    .with_field("Last-Event-ID")
}

/// The `Last-Event-ID` header as a non-negative integer, if present.
fn last_event_id(headers: &HeaderMap, what: &str) -> ApiResult<Option<i64>> {
    headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad_last_event_id(what))
        })
        .transpose()
}

struct ApprovalWatch {
    store: Arc<dyn ApiStore>,
    since: chrono::DateTime<Utc>,
    seen: HashMap<ApprovalId, (ApprovalStatus, chrono::DateTime<Utc>)>,
    buffered: VecDeque<SseEvent>,
    down: bool,
    done: bool,
    poll: Duration,
    token: TokenWatch,
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
                if w.done {
                    return None;
                }
                if !w.token.valid(false).await {
                    w.buffered.push_back(TokenWatch::revoked_message());
                    w.done = true;
                    continue;
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
                        let fresh: Vec<_> = rows
                            .into_iter()
                            .filter(|a| w.seen.get(&a.id).map(|(s, _)| *s) != Some(a.status))
                            .collect();
                        // Every approval message is sent only while the
                        // token is still valid: a revoked approver sees no
                        // new request's prompt.
                        if !fresh.is_empty() && !w.token.valid(true).await {
                            w.buffered.push_back(TokenWatch::revoked_message());
                            w.done = true;
                            continue;
                        }
                        for a in fresh {
                            w.seen.insert(a.id, (a.status, polled_at));
                            let kind = if a.status == ApprovalStatus::Pending {
                                "approval_requested"
                            } else {
                                "approval_decided"
                            };
                            let changed = a.decided_at.unwrap_or(a.created_at);
                            w.buffered.push_back(sse_json(
                                SseEvent::default()
                                    .event(kind)
                                    .id(changed.timestamp_micros().to_string()),
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
                        let problem = ApiError::from(e);
                        problem.log();
                        w.buffered.push_back(sse_json(
                            SseEvent::default().event("problem"),
                            &problem.problem(),
                        ));
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

//! `/investigations`: dispatch, list, detail, events, rescue, cancel,
//! review and audit.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;
use utoipa::IntoParams;
use vigil_engine::store::{ApprovalQuery, Cursor, DispatchRequest, ListQuery, ReviewInput};
use vigil_engine::{ApprovalStatus, Budget, Investigation, InvestigationId, Phase, Role, Status};

use super::{
    MAX_NOTE_CHARS, MAX_REF_CHARS, created, optional_text, parse_id, query_number, query_time,
    query_value, required_text,
};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::views::{
    ApprovalView, AuditReport, DispatchBody, EventPage, EventView, InvestigationDetail,
    InvestigationPage, InvestigationSummary, PhaseName, ReasonBody, ReceiptList, ReceiptView,
    ReviewBody, StatsView, StatusName,
};

/// Who may dispatch.
pub(crate) const DISPATCHERS: &[Role] = &[Role::Orchestrator];
/// Who may rescue, cancel and review.
pub(crate) const OPERATORS: &[Role] = &[Role::Operator];
/// Who may read audit verification and exports.
pub(crate) const AUDITORS: &[Role] = &[Role::Auditor, Role::Operator];

/// How many delegations up [`readable`] looks for an orchestrator's own
/// investigation.
const MAX_ANCESTRY: usize = 16;

/// Loads an investigation the caller may read: operators, auditors and
/// admins read all; an orchestrator reads the ones it dispatched and the
/// ones they delegated (at any depth); an approver reads the ones that
/// asked for an approval. Any other is 404 `not_found`, word for word as
/// for an unknown id.
pub(crate) async fn readable(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> ApiResult<Investigation> {
    let id: InvestigationId = parse_id("investigation", raw_id)?;
    let inv = state.store.get(id).await?;
    if caller.reads_all() {
        return Ok(inv);
    }
    if caller.has(Role::Orchestrator) {
        // Its own, or one that its own delegated, at any depth.
        let mut at = inv.clone();
        for _ in 0..=MAX_ANCESTRY {
            if at.requested_by == caller.name() {
                return Ok(inv);
            }
            match &at.parent {
                Some(parent) => at = state.store.get(parent.id).await?,
                None => break,
            }
        }
    }
    if caller.has(Role::Approver) {
        let asked = state
            .store
            .approvals(&ApprovalQuery {
                investigation_id: Some(id),
                limit: 1,
                ..ApprovalQuery::default()
            })
            .await?;
        if !asked.is_empty() {
            return Ok(inv);
        }
    }
    // Answered exactly as for an id that does not exist, so a caller learns
    // nothing about investigations it may not read.
    Err(vigil_engine::store::Error::investigation_not_found(id).into())
}

/// Dispatches an investigation.
///
/// With an `Idempotency-Key` header, repeating the same request returns the
/// investigation the first one created (200); the same key with a different
/// body is a 409.
#[utoipa::path(
    post, path = "/investigations", tag = "investigations",
    request_body = DispatchBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: one investigation per key and requester")),
    responses(
        (status = 201, description = "Dispatched", body = InvestigationDetail),
        (status = 200, description = "The investigation an earlier request with this key created", body = InvestigationDetail),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the orchestrator role", body = Problem),
        (status = 409, description = "Idempotency key reused with a different request, or a case that is deleted, merged or closed", body = Problem),
        (status = 413, description = "Body too large", body = Problem),
        (status = 415, description = "Body is not JSON", body = Problem),
        (status = 404, description = "`case_id` names no case", body = Problem),
        (status = 422, description = "Unknown agent, blank or oversized prompt", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn dispatch(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DispatchBody>,
) -> ApiResult<(StatusCode, Json<InvestigationDetail>)> {
    caller.require(DISPATCHERS, "dispatching an investigation")?;
    let case_id = match body.case_id.as_deref() {
        Some(raw) => Some(linkable_case(&state, raw).await?),
        None => None,
    };
    let mut request = dispatch_request(&state, caller.name(), &headers, body_parts(body), case_id)?;
    let span = tracing::info_span!("dispatch_investigation", otel.kind = "server");
    request.traceparent = Some(crate::trace::dispatch_context(&headers, &span));
    let dispatched = state.store.dispatch(request).instrument(span).await?;
    if dispatched.created {
        metrics::counter!("vigil_dispatches_total").increment(1);
    }
    let detail = InvestigationDetail::of(&dispatched.investigation, None, Utc::now());
    Ok((created(dispatched.created), Json(detail)))
}

/// The fields a dispatch body gives, from either route.
pub(crate) struct DispatchParts {
    pub(crate) agent_id: String,
    pub(crate) prompt: String,
    pub(crate) case_ref: Option<String>,
    pub(crate) budget: Option<crate::views::BudgetBody>,
}

fn body_parts(body: DispatchBody) -> DispatchParts {
    DispatchParts {
        agent_id: body.agent_id,
        prompt: body.prompt,
        case_ref: body.case_ref,
        budget: body.budget,
    }
}

/// The case `raw` (an id or `CASE-<n>`) names, for a dispatch body's
/// `case_id`: one that names no case is 404 `not_found` naming `case_id`
/// (the store refuses a retired one with 409).
async fn linkable_case(state: &AppState, raw: &str) -> ApiResult<vigil_engine::case::CaseId> {
    match super::cases::load(state, raw.trim()).await {
        Ok(found) => Ok(found.case.id),
        Err(e) if e.status() == StatusCode::NOT_FOUND => {
            Err(ApiError::not_found(format!("case_id: no case `{raw}`")).with_field("case_id"))
        }
        Err(e) => Err(e),
    }
}

/// Checks a dispatch's fields and builds the store's request.
pub(crate) fn dispatch_request(
    state: &AppState,
    requested_by: &str,
    headers: &HeaderMap,
    body: DispatchParts,
    case_id: Option<vigil_engine::case::CaseId>,
) -> ApiResult<DispatchRequest> {
    if state.agents.get(&body.agent_id).is_none() {
        let known: Vec<&str> = state.agents.ids().collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_agent",
            format!(
                "no agent `{}` is configured; known agents: {}",
                body.agent_id,
                known.join(", ")
            ),
        )
        .with_field("agent_id"));
    }
    required_text("prompt", &body.prompt, state.limits.prompt_chars)?;
    optional_text("case_ref", body.case_ref.as_deref(), MAX_REF_CHARS)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            // Exactly the document's pattern: 1 to 200 visible ASCII
            // characters, no spaces.
            let key = v
                .to_str()
                .ok()
                .filter(|k| {
                    (1..=MAX_REF_CHARS).contains(&k.len())
                        && k.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_header",
                        "Idempotency-Key must be 1 to 200 visible ASCII characters, without spaces",
                    )
                    .with_field("Idempotency-Key")
                })?;
            Some(key.to_owned())
        }
    };
    let budget = body.budget.unwrap_or_default();
    let budget = Budget {
        max_turns: budget.max_turns,
        max_tokens: budget.max_tokens,
        max_wall_secs: budget.max_wall_secs,
    };
    // Checked here as well as by the dispatch transition, so a preview is
    // refused exactly where the dispatch would be.
    budget
        .check()
        .map_err(|(field, message)| ApiError::invalid(field, format!("{field} {message}")))?;
    Ok(DispatchRequest {
        agent_id: body.agent_id,
        prompt: body.prompt,
        requested_by: requested_by.to_owned(),
        case_ref: body.case_ref,
        case_id,
        case_purpose: vigil_engine::CasePurpose::Investigate,
        idempotency_key: key,
        budget,
        traceparent: None,
        parent: None,
    })
}

/// Filters and paging for `GET /investigations`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `pending`, `completed`, `review_required`, `failed` or `dead_lettered`.
    #[param(inline, value_type = Option<StatusName>)]
    status: Option<String>,
    /// `queued`, `running` or `awaiting_approval`.
    #[param(inline, value_type = Option<PhaseName>)]
    phase: Option<String>,
    /// Only this agent.
    #[param(pattern = r"^[^\u0000]*$")]
    agent_id: Option<String>,
    /// Only investigations this principal dispatched.
    #[param(pattern = r"^[^\u0000]*$")]
    requested_by: Option<String>,
    /// Only this external case.
    #[param(pattern = r"^[^\u0000]*$")]
    case_ref: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    created_after: Option<String>,
    /// Created before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    created_before: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(
        pattern = r"^-?[0-9]{1,16}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// Encodes a keyset position as an opaque cursor.
fn encode_cursor(c: &Cursor) -> String {
    format!("{}_{}", c.created_at.timestamp_micros(), c.id)
}

fn decode_cursor(raw: &str) -> ApiResult<Cursor> {
    let bad = || ApiError::invalid_query("cursor", "cursor is not one this API issued");
    let (micros, id) = raw.split_once('_').ok_or_else(bad)?;
    // Exactly the form `encode_cursor` writes (and the document's pattern).
    let digits = micros.strip_prefix('-').unwrap_or(micros);
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if id.len() != 36 {
        return Err(bad());
    }
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    Ok(Cursor {
        created_at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
        id: id.parse().map_err(|_| bad())?,
    })
}

/// Lists investigations, newest first, by keyset pages.
///
/// Orchestrators see only the investigations they dispatched.
#[utoipa::path(
    get, path = "/investigations", tag = "investigations",
    params(ListParams),
    responses(
        (status = 200, description = "A page, newest first", body = InvestigationPage),
        (status = 400, description = "A bad filter or cursor", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "May not list these investigations", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<InvestigationPage>> {
    let mut requested_by = params.requested_by.clone();
    if !caller.reads_all() {
        if !caller.has(Role::Orchestrator) {
            return Err(ApiError::forbidden(format!(
                "listing investigations needs the operator, auditor or orchestrator role; {} \
                 has none of them",
                caller.name()
            )));
        }
        match &requested_by {
            Some(other) if other != caller.name() => {
                return Err(ApiError::forbidden(format!(
                    "{} may list only its own investigations, not {other}'s",
                    caller.name()
                )));
            }
            _ => requested_by = Some(caller.name().to_owned()),
        }
    }
    let query = ListQuery {
        status: query_value::<Status>("status", params.status.as_deref())?,
        phase: query_value::<Phase>("phase", params.phase.as_deref())?,
        agent_id: params.agent_id.clone(),
        requested_by,
        case_ref: params.case_ref.clone(),
        case_id: None,
        created_after: query_time("created_after", params.created_after.as_deref())?,
        created_before: query_time("created_before", params.created_before.as_deref())?,
        after: params.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: query_number("limit", params.limit.as_deref(), 1..=500)?.unwrap_or(50),
    };
    let page = state.store.list(&query).await?;
    let now = Utc::now();
    Ok(Json(InvestigationPage {
        items: page
            .items
            .iter()
            .map(|i| InvestigationSummary::of(i, now))
            .collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    }))
}

/// How many investigations are in each status and phase, and how many
/// approval requests are pending: the counts at the top of the console.
#[utoipa::path(
    get, path = "/investigations/stats", tag = "investigations",
    responses(
        (status = 200, description = "Counts now", body = StatsView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or approver role", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn stats(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<StatsView>> {
    caller.require(
        &[Role::Operator, Role::Auditor, Role::Approver],
        "reading queue counts",
    )?;
    let stats = state.store.stats().await?;
    let count = |status: Status, phase: Option<Phase>| {
        stats
            .states
            .iter()
            .filter(|c| c.status == status && (phase.is_none() || c.phase == phase))
            .map(|c| c.count)
            .sum::<i64>()
    };
    Ok(Json(StatsView {
        queued: count(Status::Pending, Some(Phase::Queued)),
        running: count(Status::Pending, Some(Phase::Running)),
        awaiting_approval: count(Status::Pending, Some(Phase::AwaitingApproval)),
        awaiting_children: count(Status::Pending, Some(Phase::AwaitingChildren)),
        completed: count(Status::Completed, None),
        review_required: count(Status::ReviewRequired, None),
        failed: count(Status::Failed, None),
        dead_lettered: count(Status::DeadLettered, None),
        approvals_pending: stats.approvals_pending,
        oldest_pending_approval_at: stats.oldest_pending_approval_at,
    }))
}

/// One investigation with its result and the approval it waits on.
#[utoipa::path(
    get, path = "/investigations/{id}", tag = "investigations",
    params(("id" = String, Path, description = "Investigation id")),
    responses(
        (status = 200, description = "The investigation", body = InvestigationDetail),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "May not read it", body = Problem),
        (status = 404, description = "No such investigation", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InvestigationDetail>> {
    let inv = readable(&state, &caller, &id).await?;
    Ok(Json(detail_of(&state, &inv).await?))
}

async fn detail_of(state: &AppState, inv: &Investigation) -> ApiResult<InvestigationDetail> {
    let pending = match inv.waiting_on {
        Some(approval) => {
            let a = state.store.approval(approval).await?;
            (a.status == ApprovalStatus::Pending).then(|| ApprovalView::from(&a))
        }
        None => None,
    };
    let children = state.store.children(inv.id).await?;
    Ok(InvestigationDetail::of(inv, pending, Utc::now()).with_children(&children))
}

/// Paging through an investigation's events.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only events with a greater seq (default 0: from the start).
    #[param(value_type = Option<i64>, minimum = 0)]
    after_seq: Option<String>,
    /// Most events, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// An investigation's events after `after_seq`, in seq order.
#[utoipa::path(
    get, path = "/investigations/{id}/events", tag = "investigations",
    params(("id" = String, Path, description = "Investigation id"), EventParams),
    responses(
        (status = 200, description = "Events in seq order", body = EventPage),
        (status = 400, description = "A bad parameter", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "May not read it", body = Problem),
        (status = 404, description = "No such investigation", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<EventParams>,
) -> ApiResult<Json<EventPage>> {
    let after = query_number("after_seq", params.after_seq.as_deref(), 0..=i64::MAX)?.unwrap_or(0);
    let limit = query_number("limit", params.limit.as_deref(), 1..=1000)?.unwrap_or(100);
    let inv = readable(&state, &caller, &id).await?;
    let events = state.store.events(inv.id, after, limit).await?;
    Ok(Json(EventPage {
        next_after_seq: events.last().map_or(after, |e| e.seq),
        items: events.iter().map(EventView::from).collect(),
    }))
}

/// Puts a dead-lettered or failed investigation back in the queue.
#[utoipa::path(
    post, path = "/investigations/{id}/rescue", tag = "investigations",
    params(("id" = String, Path, description = "Investigation id")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Queued again", body = InvestigationDetail),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such investigation", body = Problem),
        (status = 409, description = "Not dead-lettered or failed", body = Problem),
        (status = 422, description = "Blank or oversized reason", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn rescue(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<InvestigationDetail>> {
    caller.require(OPERATORS, "rescuing an investigation")?;
    required_text("reason", &body.reason, MAX_NOTE_CHARS)?;
    let id: InvestigationId = parse_id("investigation", &id)?;
    // Never entered: it joins the run's trace once the rescue is done.
    let span = tracing::info_span!(
        "rescue_investigation",
        otel.name = "rescue",
        otel.kind = "server"
    );
    let rescued = state.store.rescue(id, caller.name(), &body.reason).await;
    let inv = match rescued {
        Ok(inv) => inv,
        Err(e) => {
            crate::trace::discard(&span);
            return Err(e.into());
        }
    };
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        crate::trace::continue_investigation(&span, &inv);
        span.set_attribute("gen_ai.conversation.id", inv.id.to_string());
        span.set_attribute("vigil.attempt", i64::from(inv.attempt));
        span.set_attribute("vigil.rescued_by", caller.name().to_owned());
    }
    drop(span);
    metrics::counter!("vigil_rescues_total").increment(1);
    Ok(Json(detail_of(&state, &inv).await?))
}

/// Stops a pending investigation; it becomes `failed`.
#[utoipa::path(
    post, path = "/investigations/{id}/cancel", tag = "investigations",
    params(("id" = String, Path, description = "Investigation id")),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "Cancelled", body = InvestigationDetail),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such investigation", body = Problem),
        (status = 409, description = "Not pending", body = Problem),
        (status = 422, description = "Blank or oversized reason", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<InvestigationDetail>> {
    caller.require(OPERATORS, "cancelling an investigation")?;
    required_text("reason", &body.reason, MAX_NOTE_CHARS)?;
    let id: InvestigationId = parse_id("investigation", &id)?;
    let inv = state.store.cancel(id, caller.name(), &body.reason).await?;
    metrics::counter!("vigil_cancels_total").increment(1);
    Ok(Json(detail_of(&state, &inv).await?))
}

/// Grades a `review_required` investigation: accept its raw output, or
/// supply a corrected result. Either must satisfy the agent's output schema.
#[utoipa::path(
    post, path = "/investigations/{id}/review", tag = "investigations",
    params(("id" = String, Path, description = "Investigation id")),
    request_body = ReviewBody,
    responses(
        (status = 200, description = "Completed with the graded result", body = InvestigationDetail),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such investigation", body = Problem),
        (status = 409, description = "Not review_required", body = Problem),
        (status = 422, description = "The result does not satisfy the agent's schema", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> ApiResult<Json<InvestigationDetail>> {
    caller.require(OPERATORS, "reviewing an investigation")?;
    optional_text("note", body.note.as_deref(), MAX_NOTE_CHARS)?;
    let id: InvestigationId = parse_id("investigation", &id)?;
    let inv = state.store.get(id).await?;
    if inv.status != Status::ReviewRequired {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            format!(
                "investigation {id} is {}, not review_required",
                inv.status.as_str()
            ),
        ));
    }
    let (field, result) = match (body.accept_raw, body.result) {
        (true, None) => {
            let raw = inv.result_raw.as_deref().unwrap_or_default();
            let parsed = serde_json::from_str::<Value>(raw).map_err(|e| {
                ApiError::invalid(
                    "accept_raw",
                    format!("the raw output is not JSON ({e}); supply a corrected `result`"),
                )
            })?;
            ("accept_raw", parsed)
        }
        (false, Some(result)) => ("result", result),
        _ => {
            return Err(ApiError::invalid(
                "result",
                "give either `accept_raw: true` or a corrected `result`, not both or neither",
            ));
        }
    };
    let agent = state.agents.get(&inv.agent_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "unknown_agent",
            format!(
                "agent `{}` is no longer configured, so its result schema is unknown",
                inv.agent_id
            ),
        )
    })?;
    let errors = schema_errors(&agent.output_schema, &result)?;
    if !errors.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "result_invalid",
            format!(
                "the result does not satisfy agent `{}`'s output schema",
                inv.agent_id
            ),
        )
        .with_field(field)
        .with_errors(errors));
    }
    let confidence = result.get("confidence").and_then(Value::as_f64);
    let reviewed = state
        .store
        .review(
            id,
            caller.name(),
            ReviewInput {
                result,
                confidence,
                note: body.note,
            },
        )
        .await?;
    Ok(Json(detail_of(&state, &reviewed).await?))
}

/// Every way `doc` fails `schema`, as `path: message` lines.
fn schema_errors(schema: &Value, doc: &Value) -> ApiResult<Vec<String>> {
    let validator = jsonschema::validator_for(schema).map_err(ApiError::internal)?;
    Ok(validator
        .iter_errors(doc)
        .map(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect())
}

/// The signed head receipts of an investigation, by seq: one for each time
/// it reached a terminal status while the server had an audit key.
#[utoipa::path(
    get, path = "/investigations/{id}/receipts", tag = "investigations",
    params(("id" = String, Path, description = "Investigation id")),
    responses(
        (status = 200, description = "The receipts (empty when none were signed)", body = ReceiptList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the auditor or operator role", body = Problem),
        (status = 404, description = "No such investigation", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn receipts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ReceiptList>> {
    caller.require(AUDITORS, "reading head receipts")?;
    let id: InvestigationId = parse_id("investigation", &id)?;
    let receipts = state.store.receipts(id).await?;
    Ok(Json(ReceiptList {
        items: receipts.iter().map(ReceiptView::from).collect(),
    }))
}

/// The audit's answer: the report or the trail.
#[derive(Debug, Clone, Copy, utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) enum AuditFormat {
    /// The verification report.
    #[schema(rename = "json")]
    Json,
    /// The trail as JSON Lines.
    #[schema(rename = "jsonl")]
    Jsonl,
}

/// Whether an audit's `format` asks for the JSON Lines export (`jsonl`)
/// rather than the report (`json`, the default).
pub(crate) fn wants_jsonl(format: Option<&str>) -> ApiResult<bool> {
    match format {
        None | Some("json") => Ok(false),
        Some("jsonl") => Ok(true),
        Some(other) => Err(ApiError::invalid_query(
            "format",
            format!("format must be json or jsonl, not {other}"),
        )),
    }
}

/// Audit output format.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// `json` (default): the verification report; `jsonl`: the whole trail
    /// as a JSON Lines download, one event per line.
    #[param(inline, value_type = Option<AuditFormat>)]
    format: Option<String>,
}

/// Verifies the audit trail (seq without gaps, every hash and link), or
/// exports it as JSON Lines.
#[utoipa::path(
    get, path = "/investigations/{id}/audit", tag = "investigations",
    params(("id" = String, Path, description = "Investigation id"), AuditParams),
    responses(
        (status = 200, description = "The verification report (or, with format=jsonl, the trail)",
         content((AuditReport = "application/json"), (String = "application/x-ndjson"))),
        (status = 400, description = "Unknown format", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the auditor or operator role", body = Problem),
        (status = 404, description = "No such investigation", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    caller.require(AUDITORS, "reading the audit trail")?;
    let jsonl = wants_jsonl(params.format.as_deref())?;
    let id: InvestigationId = parse_id("investigation", &id)?;
    let report = state.store.verify_chain(id).await?;
    let verdict = AuditReport::from(&report);
    if !jsonl {
        return Ok(Json(verdict).into_response());
    }
    crate::logs::jsonl_download(
        &crate::streams::InvestigationEvents(state.store.clone()),
        id,
        &format!("investigation-{id}.jsonl"),
        verdict.valid,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: InvestigationId(uuid::Uuid::now_v7()),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)).unwrap(), c);
        for bad in ["", "x", "12_notauuid", "_", "abc_0190"] {
            assert_eq!(decode_cursor(bad).unwrap_err().code(), "invalid_query");
        }
    }
}

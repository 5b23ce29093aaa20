//! `/alerts`: ingest with grouping into cases, the listing, promotion.
//!
//! **Mode truth.** An ingest is a pipeline's write, internal to Vigil: it
//! is stored in `real` and in `dry_run`, whoever sends it; in `dummy` (the
//! bundled showcase) it is answered with a preview of the alert as it
//! would be stored (its entities and grouping key). A promotion is a
//! person's case write and follows [`WriteMode`] like every other one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;
use utoipa::IntoParams;
use vigil_engine::case::{AlertEntity, AlertId, NewAlert, ObservableType};
use vigil_engine::store::{AlertQuery, CaseOverview, Ingested};
use vigil_engine::{CaseId, Severity};

use super::cases::{ANALYSTS, CONTRIBUTORS, READERS, WriteMode};
use super::{created, parse_id, query_number, query_value};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::views::alerts::{AlertPageView, AlertView, IngestAlertBody, IngestAnswer, IngestView};
use crate::views::cases::PreviewView;

/// The longest `rule` or `source` filter.
const MAX_FILTER_CHARS: usize = 200;
/// The most explicit entities an alert may carry.
const MAX_ENTITIES: usize = 100;

/// The case an ingest or promotion linked, as the queue shows it.
async fn overview(state: &AppState, got: &Ingested) -> ApiResult<Option<CaseOverview>> {
    match got.alert.case_id {
        Some(id) => Ok(Some(state.store.case(id).await?)),
        None => Ok(None),
    }
}

/// Ingests an alert: stores it (once per `source` and `source_id`),
/// extracts its entities, computes its grouping key from the grouping
/// rules, and links it to the open case holding that key (whose last alert
/// is within the rule's window) or opens a case for it (title from the
/// rule, severity from the alert), in one transaction. 201 when stored,
/// 200 for a redelivery (nothing written) or a preview (`dummy`).
#[utoipa::path(
    post, path = "/alerts", tag = "alerts",
    request_body = IngestAlertBody,
    responses(
        (status = 201, description = "Stored, and linked or ungrouped", body = IngestView),
        (status = 200, description = "A redelivery (stored before, nothing written), or a preview in dummy mode", body = IngestAnswer),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator or orchestrator role", body = Problem),
        (status = 422, description = "A field out of bounds or an invalid entity (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<IngestAlertBody>,
) -> ApiResult<Response> {
    caller.require(CONTRIBUTORS, "ingesting an alert")?;
    let severity: Severity = body
        .severity
        .parse()
        .map_err(|_| ApiError::invalid("severity", "unknown severity"))?;
    let given = body.entities.unwrap_or_default();
    if given.len() > MAX_ENTITIES {
        return Err(ApiError::invalid(
            "entities",
            format!("at most {MAX_ENTITIES} entities"),
        ));
    }
    let mut entities = Vec::with_capacity(given.len());
    for (i, e) in given.into_iter().enumerate() {
        let kind: ObservableType = e.kind.parse().map_err(|_| {
            ApiError::invalid(
                &format!("entities[{i}].type"),
                format!("unknown entity type `{}`", e.kind),
            )
        })?;
        entities.push(AlertEntity {
            kind,
            value: e.value,
        });
    }
    let new = NewAlert {
        source: body.source,
        source_id: body.source_id,
        rule: body.rule,
        severity,
        title: body.title.unwrap_or_default(),
        observed_at: body.observed_at.unwrap_or_else(Utc::now),
        raw: body.raw.unwrap_or_else(|| json!({})),
        entities,
        traceparent: None,
    };
    if state.system.mode == "dummy" {
        let now = Utc::now();
        let alert = new
            .into_alert(AlertId::new_at(now), &state.grouping_rules, now)
            .map_err(|e| ApiError::invalid(&e.field, e.to_string()))?;
        let mut record = serde_json::to_value(AlertView::from(&alert)).unwrap_or(Value::Null);
        // The store names an alert when it stores it.
        record["id"] = Value::Null;
        let view = WriteMode::preview(
            "dummy".to_owned(),
            "Vigil runs in dummy mode: the case queue is bundled showcase data and nothing \
             is stored"
                .to_owned(),
            json!({"record": record, "timeline": []}),
        );
        return Ok(Json(view).into_response());
    }
    // Each ingest starts a trace of its own (a caller's `traceparent` is
    // not joined: one pipeline posts many alerts): a triage run a grouping
    // rule dispatches continues it, under a span that is exported.
    let span = tracing::info_span!("ingest_alert", otel.kind = "server");
    let mut new = new;
    new.traceparent = Some(crate::trace::dispatch_context(&HeaderMap::new(), &span));
    let got = state
        .store
        .ingest_alert(caller.name(), new, &state.grouping_rules)
        .instrument(span)
        .await?;
    let case = overview(&state, &got).await?;
    Ok((
        created(got.created),
        Json(IngestView::of(&got, case.as_ref())),
    )
        .into_response())
}

/// `GET /alerts` filters and paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertListParams {
    /// Only alerts linked to this case (its id).
    #[param(value_type = Option<String>, format = Uuid)]
    case_id: Option<String>,
    /// Only alerts of this detection rule (exact).
    #[param(max_length = 200)]
    rule: Option<String>,
    /// Only alerts from this source (exact).
    #[param(max_length = 200)]
    source: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, format = Uuid)]
    after: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// Lists alerts, newest first, keyset-paged.
#[utoipa::path(
    get, path = "/alerts", tag = "alerts",
    params(AlertListParams),
    responses(
        (status = 200, description = "One page", body = AlertPageView),
        (status = 400, description = "A bad filter or cursor (named)", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AlertListParams>,
) -> ApiResult<Json<AlertPageView>> {
    caller.require(READERS, "listing alerts")?;
    for (field, value) in [("rule", &params.rule), ("source", &params.source)] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > MAX_FILTER_CHARS)
        {
            return Err(ApiError::invalid_query(
                field,
                format!("{field} is longer than {MAX_FILTER_CHARS} characters"),
            ));
        }
    }
    let query = AlertQuery {
        case_id: query_value::<uuid::Uuid>("case_id", params.case_id.as_deref())?.map(CaseId),
        rule: params.rule,
        source: params.source,
        after: query_value::<uuid::Uuid>("after", params.after.as_deref())?.map(AlertId),
        limit: query_number("limit", params.limit.as_deref(), 1..=200)?,
    };
    let page = state.store.list_alerts(&query).await?;
    Ok(Json(AlertPageView {
        items: page.items.iter().map(AlertView::from).collect(),
        next_cursor: page.next.map(|id| id.0),
    }))
}

/// Opens a case by hand for an alert linked to none (title from its rule,
/// severity from it, its entities as observables). In `dummy`, and in
/// `dry_run` for a person, the answer is a preview and nothing is stored.
#[utoipa::path(
    post, path = "/alerts/{id}/promote", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses(
        (status = 201, description = "The case was opened", body = IngestView),
        (status = 200, description = "A preview: the runtime mode stores nothing", body = PreviewView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such alert", body = Problem),
        (status = 409, description = "The alert is linked to a case already", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(ANALYSTS, "promoting an alert")?;
    let id: AlertId = parse_id("alert", &id)?;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let got = state.store.promote_alert(id, caller.name()).await?;
            let case = overview(&state, &got).await?;
            Ok((created(true), Json(IngestView::of(&got, case.as_ref()))).into_response())
        }
        WriteMode::Preview { mode, reason } => {
            // Refused exactly when the write would be.
            let alert = state.store.alert(id).await?;
            if let Some(case_id) = alert.case_id {
                return Err(vigil_engine::store::Error::AlertLinked {
                    alert_id: id.to_string(),
                    case_id,
                }
                .into());
            }
            let would = json!({
                "record": {
                    "title": alert.rule,
                    "severity": alert.severity.to_string(),
                    "alert_ids": [alert.id.to_string()],
                    "observables": alert.entities.iter()
                        .map(|e| json!({"type": e.kind.to_string(), "value": e.value}))
                        .collect::<Vec<_>>(),
                },
                "timeline": [],
            });
            Ok(Json(WriteMode::preview(mode, reason, would)).into_response())
        }
    }
}

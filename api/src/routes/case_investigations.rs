//! `/cases/{id}/investigations`: dispatch an investigation for a case, and
//! list the case's linked investigations with their live state.
//!
//! Dispatching follows one rule on both routes (`POST /investigations`
//! with `case_id` and this one): an agent's dispatch (orchestrator without
//! the operator role) is stored in every runtime mode, as `POST
//! /investigations` always was (the mode governs what the run's tools do,
//! not whether it is recorded); a person's dispatch (operator, admin) is a
//! preview in `dummy` and `dry_run`, like every other case write a person
//! makes there.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use tracing::Instrument;
use utoipa::ToSchema;
use vigil_engine::Role;
use vigil_engine::case::may_link;
use vigil_engine::store::ListQuery;

use super::cases::{WriteMode, readable};
use super::investigations::{DispatchParts, dispatch_request};
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::views::cases::PreviewView;
use crate::views::{
    CaseDispatchBody, InvestigationDetail, InvestigationPage, InvestigationSummary,
};

/// Who may dispatch for a case: agents and analysts.
const CASE_DISPATCHERS: &[Role] = &[Role::Orchestrator, Role::Operator];
/// Most linked investigations listed (newest first).
const MAX_LISTED: u32 = 500;

/// A dispatch's answer or a preview.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CaseDispatchView {
    /// The investigation as stored.
    Stored(Box<InvestigationDetail>),
    /// Nothing was stored; what would have happened.
    Preview(PreviewView),
}

/// Dispatches an investigation linked to the case: the investigation, its
/// `dispatched` event and the case's `investigation_linked` entry are
/// written in one transaction. Its completion, review, failure and
/// approvals are written back to the case.
#[utoipa::path(
    post, path = "/cases/{id}/investigations", tag = "cases",
    params(
        ("id" = String, Path, description = "Case id or number (CASE-12)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: one investigation per key and requester"),
    ),
    request_body = CaseDispatchBody,
    responses(
        (status = 201, description = "Dispatched", body = InvestigationDetail),
        (status = 200, description = "The investigation an earlier request with this key created, or a preview (dummy and dry_run, for a person)", body = CaseDispatchView),
        (status = 400, description = "Malformed body or Idempotency-Key", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the orchestrator or operator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "The case is deleted, merged or closed, or the key was reused", body = Problem),
        (status = 422, description = "Unknown agent, blank or oversized prompt", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn dispatch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CaseDispatchBody>,
) -> ApiResult<(StatusCode, Json<CaseDispatchView>)> {
    caller.require(CASE_DISPATCHERS, "dispatching an investigation for a case")?;
    let current = super::cases::load(&state, &id).await?;
    let parts = DispatchParts {
        agent_id: body.agent_id,
        prompt: body.prompt,
        case_ref: body.case_ref,
        budget: body.budget,
    };
    let request = dispatch_request(
        &state,
        caller.name(),
        &headers,
        parts,
        Some(current.case.id),
    )?;
    let machine = caller.has(Role::Orchestrator) && !caller.has(Role::Operator);
    let write = if machine {
        WriteMode::Persist
    } else {
        WriteMode::of(&state, &caller)
    };
    match write {
        WriteMode::Persist => {
            let mut request = request;
            let span = tracing::info_span!("dispatch_investigation", otel.kind = "server");
            request.traceparent = Some(crate::trace::dispatch_context(&headers, &span));
            let dispatched = state.store.dispatch(request).instrument(span).await?;
            if dispatched.created {
                metrics::counter!("vigil_dispatches_total").increment(1);
            }
            let detail = InvestigationDetail::of(&dispatched.investigation, None, Utc::now());
            Ok((
                super::created(dispatched.created),
                Json(CaseDispatchView::Stored(Box::new(detail))),
            ))
        }
        WriteMode::Preview { mode, reason } => {
            may_link(&current.case).map_err(vigil_engine::store::Error::from_case_transition)?;
            let would = json!({
                "record": {
                    "agent_id": request.agent_id,
                    "prompt": request.prompt,
                    "requested_by": request.requested_by,
                    "case_ref": request.case_ref,
                    "case_id": current.case.id,
                    "status": "pending",
                    "phase": "queued",
                },
                "timeline": [{
                    "kind": "investigation_linked",
                    "actor": request.requested_by,
                    "payload": {"agent_id": request.agent_id},
                }],
            });
            Ok((
                StatusCode::OK,
                Json(CaseDispatchView::Preview(WriteMode::preview(
                    mode, reason, would,
                ))),
            ))
        }
    }
}

/// The case's linked investigations, newest first, with their live state
/// (status, phase, the approval they wait on).
#[utoipa::path(
    get, path = "/cases/{id}/investigations", tag = "cases",
    params(("id" = String, Path, description = "Case id or number (CASE-12)")),
    responses(
        (status = 200, description = "The newest 500 linked investigations", body = InvestigationPage),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "May not read cases", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<InvestigationPage>> {
    let overview = readable(&state, &caller, &id).await?;
    let page = state
        .store
        .list(&ListQuery {
            case_id: Some(overview.case.id),
            limit: MAX_LISTED,
            ..ListQuery::default()
        })
        .await?;
    let now = Utc::now();
    Ok(Json(InvestigationPage {
        items: page
            .items
            .iter()
            .map(|i| InvestigationSummary::of(i, now))
            .collect(),
        // No cursor: the newest linked investigations are listed.
        next_cursor: None,
    }))
}

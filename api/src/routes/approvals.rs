//! `/approvals`: the inbox, one request with its context, and decisions.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use vigil_engine::store::ApprovalQuery;
use vigil_engine::{ApprovalId, ApprovalRequest, ApprovalStatus, Decision, InvestigationId, Role};

use super::{MAX_NOTE_CHARS, optional_text, parse_id, query_number, query_value};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::views::{
    ApprovalContext, ApprovalDetail, ApprovalList, ApprovalStatusName, ApprovalView, DecisionBody,
    DeliveryView,
};

/// Who may read approval requests and their context.
pub(crate) const APPROVAL_READERS: &[Role] = &[Role::Approver, Role::Operator, Role::Auditor];
/// Who may decide them.
pub(crate) const DECIDERS: &[Role] = &[Role::Approver];

/// Filters for `GET /approvals`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalParams {
    /// `pending`, `approved`, `rejected` or `expired` (default: all).
    #[param(inline, value_type = Option<ApprovalStatusName>)]
    status: Option<String>,
    /// Only this investigation's requests.
    #[param(value_type = Option<String>, format = Uuid)]
    investigation_id: Option<String>,
    /// Most rows, 1 to 500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// Approval requests: pending first, soonest to expire first.
#[utoipa::path(
    get, path = "/approvals", tag = "approvals",
    params(ApprovalParams),
    responses(
        (status = 200, description = "Pending first, soonest to expire first", body = ApprovalList),
        (status = 400, description = "A bad filter", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the approver, operator or auditor role, or the orchestrator role and investigation_id naming an investigation it dispatched", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ApprovalParams>,
) -> ApiResult<Json<ApprovalList>> {
    let investigation_id: Option<InvestigationId> =
        query_value("investigation_id", params.investigation_id.as_deref())?;
    // An orchestrator reads the requests of an investigation it dispatched
    // (to see what its run waits on); the inbox as a whole is for people.
    let own_run = match (&params.investigation_id, investigation_id) {
        (Some(raw), Some(_)) if caller.has(Role::Orchestrator) => {
            crate::routes::investigations::readable(&state, &caller, raw)
                .await
                .is_ok()
        }
        _ => false,
    };
    if !own_run {
        caller.require(
            APPROVAL_READERS,
            "reading approval requests (an orchestrator may read those of an investigation it dispatched, with investigation_id)",
        )?;
    }
    let query = ApprovalQuery {
        status: query_value::<ApprovalStatus>("status", params.status.as_deref())?,
        investigation_id,
        limit: query_number("limit", params.limit.as_deref(), 1..=500)?.unwrap_or(100),
        ..ApprovalQuery::default()
    };
    let rows = state.store.approvals(&query).await?;
    Ok(Json(ApprovalList {
        items: rows.iter().map(ApprovalView::from).collect(),
    }))
}

/// One approval request with the investigation's context: its prompt, the
/// model's rationale, the tool and its arguments, and what approving does in
/// the current mode.
#[utoipa::path(
    get, path = "/approvals/{id}", tag = "approvals",
    params(("id" = String, Path, description = "Approval request id")),
    responses(
        (status = 200, description = "The request and its context", body = ApprovalDetail),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the approver, operator or auditor role", body = Problem),
        (status = 404, description = "No such approval request", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ApprovalDetail>> {
    caller.require(APPROVAL_READERS, "reading approval requests")?;
    let id: ApprovalId = parse_id("approval", &id)?;
    let approval = state.store.approval(id).await?;
    Ok(Json(detail_of(&state, &caller, &approval).await?))
}

async fn detail_of(
    state: &AppState,
    caller: &Caller,
    approval: &ApprovalRequest,
) -> ApiResult<ApprovalDetail> {
    let inv = state.store.get(approval.investigation_id).await?;
    let deliveries = state.store.deliveries(approval.id).await?;
    let tool = state.agents.tool(&approval.action).cloned();
    let effect_in_mode = effect_in_mode(&state.system.mode, tool.as_ref());
    let cannot = if approval.status != ApprovalStatus::Pending {
        Some(format!("it is already {}", approval.status.as_str()))
    } else if !DECIDERS.iter().any(|r| caller.has(*r)) {
        Some(format!("{} does not hold the approver role", caller.name()))
    } else if inv.requested_by == caller.name() {
        Some(format!(
            "{} dispatched this investigation; separation of duties requires another approver",
            caller.name()
        ))
    } else {
        None
    };
    Ok(ApprovalDetail {
        approval: ApprovalView::from(approval),
        context: ApprovalContext {
            agent_id: inv.agent_id.clone(),
            prompt: inv.prompt.clone(),
            requested_by: inv.requested_by.clone(),
            case_ref: inv.case_ref.clone(),
            status: inv.status.as_str().to_owned(),
            phase: inv.phase.map(|p| p.as_str().to_owned()),
            tool,
            effect_in_mode,
        },
        can_decide: cannot.is_none(),
        cannot_decide_reason: cannot,
        notifications: deliveries.iter().map(DeliveryView::from).collect(),
    })
}

/// What approving a call to `tool` does in `mode`.
fn effect_in_mode(mode: &str, tool: Option<&crate::state::ToolInfo>) -> String {
    match (mode, tool) {
        ("dummy", _) => "dummy mode: a built-in fixture answers; nothing leaves the process".into(),
        ("dry_run", Some(t)) if t.effect == "write" => {
            "dry run: the tool is not called; the model receives a preview of the call".into()
        }
        (_, Some(t)) if t.local => "a built-in fixture answers; nothing leaves the process".into(),
        (_, Some(_)) => "the tool is called with these arguments".into(),
        (_, None) => "the tool is no longer configured; the model will be told it failed".into(),
    }
}

/// Approves or rejects a pending approval request; its investigation is
/// queued again with the decision as the tool's outcome.
///
/// The principal that dispatched the investigation cannot decide (403
/// `separation_of_duties`); of concurrent deciders exactly one wins, the
/// others get 409 `approval_already_decided`.
#[utoipa::path(
    post, path = "/approvals/{id}/decision", tag = "approvals",
    params(("id" = String, Path, description = "Approval request id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided", body = ApprovalView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the approver role, or the caller dispatched the investigation", body = Problem),
        (status = 404, description = "No such approval request", body = Problem),
        (status = 409, description = "Already decided or expired", body = Problem),
        (status = 422, description = "Unknown decision or oversized comment", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<Json<ApprovalView>> {
    caller.require(DECIDERS, "deciding an approval request")?;
    let decision: Decision = body.decision.parse().map_err(|_| {
        ApiError::invalid(
            "decision",
            format!("decision must be approve or reject, not {}", body.decision),
        )
    })?;
    optional_text("comment", body.comment.as_deref(), MAX_NOTE_CHARS)?;
    let id: ApprovalId = parse_id("approval", &id)?;
    let comment = body.comment.filter(|c| !c.trim().is_empty());
    let decided = state
        .store
        .decide_approval(id, caller.name(), decision, comment)
        .await?;
    metrics::counter!("vigil_approval_decisions_total", "decision" => decision.as_str())
        .increment(1);
    Ok(Json(ApprovalView::from(&decided)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ToolInfo;

    #[test]
    fn effect_in_mode_tells_what_approving_does() {
        let write = ToolInfo {
            name: "isolate_host".into(),
            description: String::new(),
            effect: "write".into(),
            local: false,
        };
        assert!(effect_in_mode("dummy", Some(&write)).contains("nothing leaves"));
        assert!(effect_in_mode("dry_run", Some(&write)).contains("preview"));
        assert!(effect_in_mode("real", Some(&write)).contains("is called"));
        assert!(effect_in_mode("real", None).contains("no longer configured"));
    }
}

//! System routes: mode, liveness, readiness, metrics, the caller, and the
//! OpenAPI document.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use vigil_engine::{Phase, Status};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use crate::views::{GroupingRuleView, HealthView, MeView, ModeView, SettingsView, WorkerView};

/// How recently a worker must have announced itself to count.
const WORKERS_RECENT: chrono::Duration = chrono::Duration::seconds(60);

/// The runtime mode, the backend, the version, and the workers seen in the
/// last minute. The console shows the mode at all times.
#[utoipa::path(
    get, path = "/system/mode", tag = "system",
    responses(
        (status = 200, description = "Mode and runtime", body = ModeView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn mode(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<ModeView>> {
    let workers = state
        .store
        .workers_seen(Utc::now() - WORKERS_RECENT)
        .await?;
    Ok(Json(ModeView {
        mode: state.system.mode.clone(),
        backend: state.system.backend.clone(),
        version: state.system.version.clone(),
        workers_seen: workers.len(),
        workers: workers.iter().map(WorkerView::from).collect(),
        agents: state.agents.ids().map(str::to_owned).collect(),
        receipt_key: state.system.receipt_key.clone(),
    }))
}

/// The runtime configuration, read-only: mode, store, the model (name and
/// host), the agents with their models and tools, the tools (kind, effect,
/// approval, timeout, host), the webhook receivers (origin and events) and
/// the alert grouping rules. Never a secret: no API key, header value,
/// credential, URL path or query, or signing secret is held where this
/// answer is built. Any valid token may read it.
#[utoipa::path(
    get, path = "/system/settings", tag = "system",
    responses(
        (status = 200, description = "The runtime configuration, without secrets", body = SettingsView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn settings(State(state): State<AppState>, _caller: Caller) -> Json<SettingsView> {
    let settings = &state.settings;
    let default_rule;
    let rules: &[vigil_engine::case::GroupingRule] = if state.grouping_rules.is_empty() {
        default_rule = [vigil_engine::case::GroupingRule::default_rule()];
        &default_rule
    } else {
        &state.grouping_rules
    };
    Json(SettingsView {
        mode: state.system.mode.clone(),
        backend: state.system.backend.clone(),
        version: state.system.version.clone(),
        model: settings.model.clone(),
        agents: settings.agents.clone(),
        tools: settings.tools.clone(),
        webhooks: settings.webhooks.clone(),
        grouping_rules: rules
            .iter()
            .map(|r| GroupingRuleView {
                rule: r.rule.clone(),
                entity_types: r
                    .entity_types
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect(),
                window_secs: r.window.num_seconds(),
                investigate: r.investigate.clone(),
            })
            .collect(),
    })
}

/// Who the presented token authenticates as.
#[utoipa::path(
    get, path = "/me", tag = "system",
    responses(
        (status = 200, description = "The principal and its roles", body = MeView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn me(caller: Caller) -> Json<MeView> {
    Json(MeView {
        name: caller.0.name.clone(),
        roles: caller
            .0
            .roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
    })
}

/// Liveness: the process answers. Needs no token and touches no database.
#[utoipa::path(
    get, path = "/healthz", tag = "system",
    responses((status = 200, description = "Alive", body = HealthView))
)]
pub async fn healthz() -> Json<HealthView> {
    Json(HealthView {
        status: "ok".into(),
    })
}

/// Readiness: the database answers. 503 with a problem naming the cause
/// when it does not. Needs no token.
#[utoipa::path(
    get, path = "/readyz", tag = "system",
    responses(
        (status = 200, description = "Ready", body = HealthView),
        (status = 503, description = "Database unavailable", body = Problem),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<HealthView>> {
    state.store.ping().await.map_err(|e| match e {
        vigil_engine::store::Error::Database(cause) => {
            ApiError::unavailable("the database answered with an error; see the server log")
                .with_cause(cause)
        }
        other => ApiError::from(other),
    })?;
    Ok(Json(HealthView {
        status: "ready".into(),
    }))
}

/// Prometheus metrics: investigations by status and phase, pending
/// approvals and the oldest one's age, workers seen, whether the database
/// answered, and this process's own counters and histograms (claims, reaps,
/// rescues, model tokens, step and model latency). Needs no token; it
/// carries counts only.
#[utoipa::path(
    get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let now = Utc::now();
    let stats = state.store.stats().await;
    let _ = writeln!(
        out,
        "# HELP vigil_database_up Whether the database answered this scrape.\n\
         # TYPE vigil_database_up gauge\nvigil_database_up {}",
        u8::from(stats.is_ok())
    );
    if let Ok(stats) = &stats {
        out.push_str(
            "# HELP vigil_investigations Investigations by status and phase.\n\
             # TYPE vigil_investigations gauge\n",
        );
        let count = |status: Status, phase: Option<Phase>| {
            stats
                .states
                .iter()
                .filter(|c| c.status == status && c.phase == phase)
                .map(|c| c.count)
                .sum::<i64>()
        };
        for phase in Phase::ALL {
            let _ = writeln!(
                out,
                "vigil_investigations{{status=\"pending\",phase=\"{}\"}} {}",
                phase.as_str(),
                count(Status::Pending, Some(*phase))
            );
        }
        for status in Status::ALL.iter().filter(|s| **s != Status::Pending) {
            let _ = writeln!(
                out,
                "vigil_investigations{{status=\"{}\",phase=\"\"}} {}",
                status.as_str(),
                count(*status, None)
            );
        }
        let age = stats
            .oldest_pending_approval_at
            .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        let _ = writeln!(
            out,
            "# HELP vigil_approvals_pending Approval requests waiting for a decision.\n\
             # TYPE vigil_approvals_pending gauge\nvigil_approvals_pending {}\n\
             # HELP vigil_approval_oldest_pending_age_seconds Age of the oldest pending approval request.\n\
             # TYPE vigil_approval_oldest_pending_age_seconds gauge\n\
             vigil_approval_oldest_pending_age_seconds {age}",
            stats.approvals_pending
        );
        if let Ok(workers) = state.store.workers_seen(now - WORKERS_RECENT).await {
            let _ = writeln!(
                out,
                "# HELP vigil_workers_seen Worker processes seen in the last minute.\n\
                 # TYPE vigil_workers_seen gauge\nvigil_workers_seen {}",
                workers.len()
            );
        }
    }
    if let Some(process) = &state.metrics {
        out.push_str(&process());
    }
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// This document: every route, body, response and error of the API.
#[utoipa::path(
    get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn openapi(State(state): State<AppState>) -> Response {
    Json(crate::document::for_state(crate::openapi(), &state)).into_response()
}

//! # vigil-api
//!
//! Vigil's HTTP API under `/api/v1`: dispatch, timelines, live streams,
//! rescue, cancel, review, approvals and audit, cases (their lifecycle,
//! timeline, observables, evidence, comments and tasks), with bearer-token auth,
//! roles, problem+json errors and a generated OpenAPI document. (The
//! webhook notifier that announces approval requests is background work
//! and lives in `vigil-workers`.)
//!
//! Depends on `vigil-engine` and store trait objects only; never on a concrete
//! store crate or the worker runtime. [`app`] builds the router from an
//! [`AppState`]; the binary serves it, with the operator console
//! ([`console`]) at `/`.

pub mod auth;
pub mod console;
mod document;
pub mod error;
pub mod extract;
mod logs;
pub mod mcp;
pub mod routes;
pub mod settings;
pub mod state;
pub mod streams;
mod trace;
pub mod views;

use std::sync::OnceLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, Problem};
pub use state::{
    AgentInfo, Agents, ApiStore, AppState, Limits, ProcessMetrics, StreamSettings, SystemInfo,
    ToolInfo,
};

/// Where every route lives.
pub const BASE_PATH: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil API",
        description = "Dispatch and watch LLM agent investigations, decide approval requests, \
                       rescue and review runs, and verify their audit trails. Errors are \
                       application/problem+json with a stable `code`.",
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "investigations", description = "Dispatch, read, stream, rescue, cancel, review, audit"),
        (name = "approvals", description = "Approval requests for high-impact tool calls"),
        (name = "system", description = "Mode, health, readiness, metrics, identity, this document"),
        (name = "tokens", description = "API token management (admin)"),
        (name = "cases", description = "Cases: the queue, lifecycle, timeline and audit, observables, evidence and custody, comments, tasks, merge"),
        (name = "alerts", description = "Alerts: ingest with grouping into cases, the listing, promotion by hand"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A Vigil API token (`vgl_...`)"))
                    .build(),
            ),
        );
    }
}

/// The routes, and the OpenAPI document generated from the same handlers.
fn router(evidence_body_bytes: usize) -> (Router<AppState>, OpenApiDoc) {
    use routes::{
        alerts, approvals, case_investigations, case_records, case_summaries, cases,
        investigations, system, tokens,
    };
    let v1 = OpenApiRouter::new()
        .routes(routes!(investigations::dispatch, investigations::list))
        .routes(routes!(investigations::stats))
        .routes(routes!(investigations::detail))
        .routes(routes!(investigations::events))
        .routes(routes!(streams::investigation_events))
        .routes(routes!(investigations::rescue))
        .routes(routes!(investigations::cancel))
        .routes(routes!(investigations::review))
        .routes(routes!(investigations::audit))
        .routes(routes!(investigations::receipts))
        .routes(routes!(approvals::list))
        .routes(routes!(streams::approvals))
        .routes(routes!(approvals::detail))
        .routes(routes!(approvals::decide))
        .routes(routes!(system::mode))
        .routes(routes!(system::settings))
        .routes(routes!(system::me))
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .routes(routes!(system::openapi))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(alerts::list, alerts::ingest))
        .routes(routes!(alerts::promote))
        .routes(routes!(cases::list, cases::create))
        .routes(routes!(cases::detail, cases::update, cases::delete))
        .routes(routes!(cases::status))
        .routes(routes!(cases::assign))
        .routes(routes!(cases::link_alert))
        .routes(routes!(
            case_investigations::list,
            case_investigations::dispatch
        ))
        .routes(routes!(cases::merge_into))
        .routes(routes!(cases::related))
        .routes(routes!(case_summaries::summarize))
        .routes(routes!(cases::timeline))
        .routes(routes!(streams::case_timeline))
        .routes(routes!(cases::audit))
        .routes(routes!(
            case_records::observables,
            case_records::add_observable
        ))
        .routes(routes!(case_records::update_observable))
        .routes(routes!(case_records::evidence))
        .routes(routes!(case_records::evidence_content))
        .routes(routes!(case_records::custody, case_records::record_custody))
        .routes(routes!(case_records::comments, case_records::add_comment))
        .routes(routes!(case_records::tasks, case_records::create_task))
        .routes(routes!(case_records::update_task));
    // Evidence content rides in its body: its own, larger limit.
    let evidence = OpenApiRouter::new()
        .routes(routes!(case_records::add_evidence))
        .layer(DefaultBodyLimit::max(evidence_body_bytes));
    let v1 = v1.merge(evidence);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(BASE_PATH, v1)
        .split_for_parts()
}

/// The OpenAPI document: every route, body, response and error.
pub fn openapi() -> &'static OpenApiDoc {
    static DOC: OnceLock<OpenApiDoc> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = router(Limits::default().evidence_body_bytes()).1;
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        document::finish(&mut doc);
        doc
    })
}

/// The API router over `state`. Unknown routes and methods answer with
/// problem documents; bodies over `state`'s limit are refused with 413.
pub fn app(state: AppState) -> Router {
    let limit = state.limits.body_bytes;
    let rest = router(state.limits.evidence_body_bytes())
        .0
        .merge(console::router())
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state);
    // `/mcp` calls the routes above in-process, with each caller's token.
    mcp::service(rest.clone()).merge(rest)
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_route",
        "no route matches this path",
    )
}

async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not answer this method",
    )
}

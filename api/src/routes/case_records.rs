//! The records inside a case: observables, evidence (with its chain of
//! custody and its content), comments and tasks. Writes follow the runtime
//! mode as the case's own do ([`super::cases::WriteMode`]): stored, or
//! answered with a preview decided by the same pure transition.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use vigil_engine::case::{
    AuthorKind, CaseAction, CaseTransition, CaseWrite, CommentId, CustodyId, EvidenceId,
    EvidenceInput, NewComment, NewCustody, NewEvidence, NewObservable, NewTask, ObservableId,
    ObservablePatch, TaskId, TaskPatch, normalize,
};
use vigil_engine::store::{CaseOverview, EvidenceContent};
use vigil_engine::{CaseId, Role};

use super::cases::{ANALYSTS, CONTRIBUTORS, WriteMode, decide, items, load, readable, text, would};
use super::parse_id;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::views::cases::{
    CommentBody, CommentView, CustodyBody, CustodyView, EvidenceBody, EvidenceView, ObservableBody,
    ObservablePatchBody, ObservableView, PreviewView, TaskBody, TaskPatchBody, TaskView,
};

/// A stored record's answer, or a preview.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ObservableWriteView {
    /// The observable as stored.
    Stored(ObservableView),
    /// Nothing was stored; what would have happened.
    Preview(PreviewView),
}

/// A stored task, or a preview.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TaskWriteView {
    /// The task as stored.
    Stored(TaskView),
    /// Nothing was stored; what would have happened.
    Preview(PreviewView),
}

/// The preview of a transition that writes one record: the record as it
/// would be (the first of the transition's writes that holds one) and the
/// timeline entries.
fn preview_record(mode: String, reason: String, t: &CaseTransition) -> PreviewView {
    let record = t
        .writes
        .iter()
        .find_map(|w| match w {
            CaseWrite::InsertObservable(o) | CaseWrite::UpdateObservable(o) => {
                serde_json::to_value(ObservableView::from(o)).ok()
            }
            CaseWrite::InsertEvidence { evidence, .. } => {
                serde_json::to_value(EvidenceView::from(evidence)).ok()
            }
            CaseWrite::InsertCustody(c) => serde_json::to_value(CustodyView::from(c)).ok(),
            CaseWrite::InsertComment(c) => serde_json::to_value(CommentView::from(c)).ok(),
            CaseWrite::InsertTask(task) | CaseWrite::UpdateTask(task) => {
                serde_json::to_value(TaskView::from(task)).ok()
            }
            CaseWrite::LinkAlert { .. }
            | CaseWrite::DetachAlerts { .. }
            | CaseWrite::MoveAlerts { .. }
            | CaseWrite::DeleteObservable(_)
            | CaseWrite::MoveRecords { .. } => None,
        })
        .unwrap_or(Value::Null);
    WriteMode::preview(mode, reason, would(record, &t.entries))
}

fn record_id<T: std::str::FromStr>(what: &str, raw: &str) -> ApiResult<T> {
    parse_id(what, raw)
}

/// The case's observables, oldest first.
#[utoipa::path(
    get, path = "/cases/{id}/observables", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    responses(
        (status = 200, description = "Observables, oldest first", body = Vec<ObservableView>),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn observables(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ObservableView>>> {
    let overview = readable(&state, &caller, &id).await?;
    let list = state.store.observables(overview.case.id).await?;
    Ok(Json(list.iter().map(ObservableView::from).collect()))
}

/// Reports an observable: a new value is added (201); a value the case
/// holds (after normalization) is counted as another sighting (200).
#[utoipa::path(
    post, path = "/cases/{id}/observables", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    request_body = ObservableBody,
    responses(
        (status = 201, description = "A new observable", body = ObservableView),
        (status = 200, description = "Another sighting of one the case holds, or a preview", body = ObservableWriteView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "A case that accepts no change", body = Problem),
        (status = 422, description = "A value that does not normalize for its type, or a field out of bounds (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn add_observable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ObservableBody>,
) -> ApiResult<Response> {
    caller.require(CONTRIBUTORS, "reporting an observable")?;
    let overview = load(&state, &id).await?;
    text("source", body.source.as_deref(), 200, false)?;
    items("tags", body.tags.as_deref(), 50, 64)?;
    let normalized = normalize(body.kind, &body.value)
        .map_err(|e| ApiError::invalid("value", format!("value: {}", e.message)))?;
    let new = NewObservable {
        kind: body.kind,
        value: body.value,
        source: body.source,
        tlp: body.tlp,
        pap: body.pap,
        tags: body.tags.unwrap_or_default(),
        enrichment: body.enrichment.map(Value::Object),
    };
    let case_id = overview.case.id;
    let existing = state
        .store
        .observables(case_id)
        .await?
        .into_iter()
        .find(|o| o.kind == new.kind && o.value == normalized);
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let status = if existing.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let stored = state
                .store
                .add_observable(case_id, caller.name(), new)
                .await?;
            Ok((status, Json(ObservableView::from(&stored))).into_response())
        }
        WriteMode::Preview { mode, reason } => {
            let t = decide(
                Some(&overview.case),
                caller.name(),
                CaseAction::AddObservable {
                    id: ObservableId::new_at(Utc::now()),
                    observable: new,
                    existing,
                },
            )?;
            Ok(Json(ObservableWriteView::Preview(preview_record(
                mode, reason, &t,
            )))
            .into_response())
        }
    }
}

/// Changes an observable's TLP, PAP, tags or enrichment.
#[utoipa::path(
    patch, path = "/cases/{id}/observables/{observable_id}", tag = "cases",
    params(
        ("id" = String, Path, description = "Case id or number"),
        ("observable_id" = String, Path, description = "Observable id"),
    ),
    request_body = ObservablePatchBody,
    responses(
        (status = 200, description = "The observable as stored, or a preview", body = ObservableWriteView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case or observable", body = Problem),
        (status = 409, description = "A case that accepts no change", body = Problem),
        (status = 422, description = "A field out of bounds (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn update_observable(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, observable_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ObservablePatchBody>,
) -> ApiResult<Json<ObservableWriteView>> {
    caller.require(ANALYSTS, "changing an observable")?;
    let overview = load(&state, &id).await?;
    let observable_id: ObservableId = record_id("observable", &observable_id)?;
    items("tags", body.tags.as_deref(), 50, 64)?;
    let patch = ObservablePatch {
        tlp: body.tlp,
        pap: body.pap,
        tags: body.tags,
        enrichment: body.enrichment.map(Value::Object),
    };
    let case_id = overview.case.id;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let stored = state
                .store
                .update_observable(case_id, observable_id, caller.name(), patch)
                .await?;
            Ok(Json(ObservableWriteView::Stored(ObservableView::from(
                &stored,
            ))))
        }
        WriteMode::Preview { mode, reason } => {
            let current = state
                .store
                .observables(case_id)
                .await?
                .into_iter()
                .find(|o| o.id == observable_id)
                .ok_or_else(|| not_in_case("observable", observable_id.0, &overview))?;
            let t = decide(
                Some(&overview.case),
                caller.name(),
                CaseAction::UpdateObservable { current, patch },
            )?;
            Ok(Json(ObservableWriteView::Preview(preview_record(
                mode, reason, &t,
            ))))
        }
    }
}

fn not_in_case(what: &str, id: uuid::Uuid, overview: &CaseOverview) -> ApiError {
    ApiError::not_found(format!("{what} {id} not found in {}", overview.case.number))
}

/// The case's evidence items (without content), oldest first.
#[utoipa::path(
    get, path = "/cases/{id}/evidence", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    responses(
        (status = 200, description = "Evidence items, oldest first", body = Vec<EvidenceView>),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn evidence(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<EvidenceView>>> {
    let overview = readable(&state, &caller, &id).await?;
    let list = state.store.evidence(overview.case.id).await?;
    Ok(Json(list.iter().map(EvidenceView::from).collect()))
}

/// Registers an evidence item: its content stored with the case (hashed
/// and measured here, at most the configured limit) or kept elsewhere (a
/// URI and its SHA-256).
#[utoipa::path(
    post, path = "/cases/{id}/evidence", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    request_body = EvidenceBody,
    responses(
        (status = 201, description = "Registered", body = EvidenceView),
        (status = 200, description = "A preview: the runtime mode stores nothing", body = PreviewView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "A case that accepts no change", body = Problem),
        (status = 422, description = "Not exactly one of content_base64, content_text and uri; content over the limit; a hash or size that does not match (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn add_evidence(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<EvidenceBody>,
) -> ApiResult<Response> {
    caller.require(CONTRIBUTORS, "registering evidence")?;
    let overview = load(&state, &id).await?;
    text("name", Some(&body.name), 200, true)?;
    text("description", body.description.as_deref(), 20_000, false)?;
    let given = [
        body.content_base64.is_some(),
        body.content_text.is_some(),
        body.uri.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::invalid(
            "content",
            "give exactly one of content_base64, content_text (stored with the case) and uri (kept elsewhere)",
        ));
    }
    let content = match (body.content_base64, body.content_text) {
        (Some(b64), _) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| {
                    ApiError::invalid(
                        "content_base64",
                        format!("content_base64 is not base64: {e}"),
                    )
                })?,
        ),
        (None, Some(text)) => Some(text.into_bytes()),
        (None, None) => None,
    };
    let new = NewEvidence {
        name: body.name,
        kind: body.kind,
        description: body.description.unwrap_or_default(),
        content,
        uri: body.uri,
        sha256: body.sha256,
        size_bytes: body.size_bytes,
        collected_by: None,
        collected_at: body.collected_at,
    };
    let case_id = overview.case.id;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let stored = state
                .store
                .add_evidence(case_id, caller.name(), new)
                .await?;
            Ok((StatusCode::CREATED, Json(EvidenceView::from(&stored))).into_response())
        }
        WriteMode::Preview { mode, reason } => {
            let t = decide(
                Some(&overview.case),
                caller.name(),
                CaseAction::AddEvidence {
                    id: EvidenceId::new_at(Utc::now()),
                    input: EvidenceInput {
                        evidence: new,
                        max_content_bytes: state.limits.evidence_bytes,
                    },
                },
            )?;
            Ok(Json(preview_record(mode, reason, &t)).into_response())
        }
    }
}

/// An evidence item's content, its SHA-256 checked again on this read.
#[utoipa::path(
    get, path = "/cases/{id}/evidence/{evidence_id}/content", tag = "cases",
    params(
        ("id" = String, Path, description = "Case id or number"),
        ("evidence_id" = String, Path, description = "Evidence id"),
    ),
    responses(
        (status = 200, description = "The artifact's bytes; `Vigil-Sha256` carries the checked hash", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case or evidence item, or content kept elsewhere (the detail names its URI)", body = Problem),
        (status = 500, description = "The stored content no longer matches its SHA-256; it is not handed out", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn evidence_content(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, evidence_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let overview = readable(&state, &caller, &id).await?;
    let evidence_id: EvidenceId = record_id("evidence", &evidence_id)?;
    match state
        .store
        .evidence_content(overview.case.id, evidence_id)
        .await?
    {
        EvidenceContent::Stored { evidence, bytes } => {
            let mut response = Response::new(Body::from(bytes));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Ok(v) = HeaderValue::from_str(&evidence.sha256) {
                headers.insert("vigil-sha256", v);
            }
            Ok(response)
        }
        EvidenceContent::External { evidence } => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "content_not_stored",
            format!(
                "evidence {} is kept elsewhere: {} (sha256 {})",
                evidence.id,
                evidence.uri.as_deref().unwrap_or("-"),
                evidence.sha256
            ),
        )),
    }
}

/// An evidence item's chain of custody, oldest first.
#[utoipa::path(
    get, path = "/cases/{id}/evidence/{evidence_id}/custody", tag = "cases",
    params(
        ("id" = String, Path, description = "Case id or number"),
        ("evidence_id" = String, Path, description = "Evidence id"),
    ),
    responses(
        (status = 200, description = "Custody records, oldest first", body = Vec<CustodyView>),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case or evidence item", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn custody(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, evidence_id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<CustodyView>>> {
    let overview = readable(&state, &caller, &id).await?;
    let evidence_id: EvidenceId = record_id("evidence", &evidence_id)?;
    let records = state.store.custody(overview.case.id, evidence_id).await?;
    Ok(Json(records.iter().map(CustodyView::from).collect()))
}

/// Records a custody action (append-only: never changed or removed).
#[utoipa::path(
    post, path = "/cases/{id}/evidence/{evidence_id}/custody", tag = "cases",
    params(
        ("id" = String, Path, description = "Case id or number"),
        ("evidence_id" = String, Path, description = "Evidence id"),
    ),
    request_body = CustodyBody,
    responses(
        (status = 201, description = "Recorded", body = CustodyView),
        (status = 200, description = "A preview: the runtime mode stores nothing", body = PreviewView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case or evidence item", body = Problem),
        (status = 409, description = "A case that accepts no change", body = Problem),
        (status = 422, description = "A transfer without `to`, or a field out of bounds (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn record_custody(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, evidence_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CustodyBody>,
) -> ApiResult<Response> {
    caller.require(ANALYSTS, "recording custody")?;
    let overview = load(&state, &id).await?;
    let evidence_id: EvidenceId = record_id("evidence", &evidence_id)?;
    text("from", body.from.as_deref(), 200, false)?;
    text("to", body.to.as_deref(), 200, false)?;
    text("note", body.note.as_deref(), 2_000, false)?;
    let record = NewCustody {
        action: body.action,
        from: body.from,
        to: body.to,
        note: body.note,
    };
    let case_id = overview.case.id;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let stored = state
                .store
                .record_custody(case_id, evidence_id, caller.name(), record)
                .await?;
            Ok((StatusCode::CREATED, Json(CustodyView::from(&stored))).into_response())
        }
        WriteMode::Preview { mode, reason } => {
            let evidence = state
                .store
                .evidence(case_id)
                .await?
                .into_iter()
                .find(|e| e.id == evidence_id)
                .ok_or_else(|| not_in_case("evidence", evidence_id.0, &overview))?;
            let t = decide(
                Some(&overview.case),
                caller.name(),
                CaseAction::RecordCustody {
                    id: CustodyId::new_at(Utc::now()),
                    evidence,
                    record,
                },
            )?;
            Ok(Json(preview_record(mode, reason, &t)).into_response())
        }
    }
}

/// The case's comments, oldest first.
#[utoipa::path(
    get, path = "/cases/{id}/comments", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    responses(
        (status = 200, description = "Comments, oldest first", body = Vec<CommentView>),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn comments(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<CommentView>>> {
    let overview = readable(&state, &caller, &id).await?;
    let list = state.store.comments(overview.case.id).await?;
    Ok(Json(list.iter().map(CommentView::from).collect()))
}

/// Adds a comment. A person's is an analyst note; an orchestrator's is
/// machine-authored.
#[utoipa::path(
    post, path = "/cases/{id}/comments", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    request_body = CommentBody,
    responses(
        (status = 201, description = "Added", body = CommentView),
        (status = 200, description = "A preview: the runtime mode stores nothing", body = PreviewView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "A case that accepts no comment", body = Problem),
        (status = 422, description = "A blank or oversized body", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn add_comment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CommentBody>,
) -> ApiResult<Response> {
    caller.require(CONTRIBUTORS, "commenting on a case")?;
    let overview = load(&state, &id).await?;
    text("body", Some(&body.body), 20_000, true)?;
    let author_kind = if caller.has(Role::Operator) {
        AuthorKind::Analyst
    } else {
        AuthorKind::Machine
    };
    let comment = NewComment {
        author_kind,
        kind: vigil_engine::case::CommentKind::Note,
        body: body.body,
    };
    let case_id = overview.case.id;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let stored = state
                .store
                .add_comment(case_id, caller.name(), comment)
                .await?;
            Ok((StatusCode::CREATED, Json(CommentView::from(&stored))).into_response())
        }
        WriteMode::Preview { mode, reason } => {
            let t = decide(
                Some(&overview.case),
                caller.name(),
                CaseAction::AddComment {
                    id: CommentId::new_at(Utc::now()),
                    comment,
                },
            )?;
            Ok(Json(preview_record(mode, reason, &t)).into_response())
        }
    }
}

/// The case's tasks, oldest first.
#[utoipa::path(
    get, path = "/cases/{id}/tasks", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    responses(
        (status = 200, description = "Tasks, oldest first", body = Vec<TaskView>),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<TaskView>>> {
    let overview = readable(&state, &caller, &id).await?;
    let list = state.store.tasks(overview.case.id).await?;
    Ok(Json(list.iter().map(TaskView::from).collect()))
}

/// Creates a task (`todo`).
#[utoipa::path(
    post, path = "/cases/{id}/tasks", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    request_body = TaskBody,
    responses(
        (status = 201, description = "Created", body = TaskView),
        (status = 200, description = "A preview: the runtime mode stores nothing", body = PreviewView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "A case that accepts no change", body = Problem),
        (status = 422, description = "A blank title or a field out of bounds (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TaskBody>,
) -> ApiResult<Response> {
    caller.require(ANALYSTS, "creating a task")?;
    let overview = load(&state, &id).await?;
    text("title", Some(&body.title), 200, true)?;
    text("description", body.description.as_deref(), 20_000, false)?;
    text("assignee", body.assignee.as_deref(), 200, false)?;
    let task = NewTask {
        title: body.title,
        description: body.description.unwrap_or_default(),
        priority: body.priority,
        assignee: body.assignee,
        due_at: body.due_at,
    };
    let case_id = overview.case.id;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let stored = state
                .store
                .create_task(case_id, caller.name(), task)
                .await?;
            Ok((StatusCode::CREATED, Json(TaskView::from(&stored))).into_response())
        }
        WriteMode::Preview { mode, reason } => {
            let t = decide(
                Some(&overview.case),
                caller.name(),
                CaseAction::CreateTask {
                    id: TaskId::new_at(Utc::now()),
                    task,
                },
            )?;
            Ok(Json(preview_record(mode, reason, &t)).into_response())
        }
    }
}

/// Changes a task: its fields, and its status by the task lifecycle
/// (`done` sets `completed_at`; leaving `done` clears it).
#[utoipa::path(
    patch, path = "/cases/{id}/tasks/{task_id}", tag = "cases",
    params(
        ("id" = String, Path, description = "Case id or number"),
        ("task_id" = String, Path, description = "Task id"),
    ),
    request_body = TaskPatchBody,
    responses(
        (status = 200, description = "The task as stored, or a preview", body = TaskWriteView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case or task", body = Problem),
        (status = 409, description = "A status the task may not move to (the allowed ones listed), or a case that accepts no change", body = Problem),
        (status = 422, description = "A field out of bounds (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn update_task(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, task_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<TaskPatchBody>,
) -> ApiResult<Json<TaskWriteView>> {
    caller.require(ANALYSTS, "changing a task")?;
    let overview = load(&state, &id).await?;
    let task_id: TaskId = record_id("task", &task_id)?;
    text("title", body.title.as_deref(), 200, true)?;
    text("description", body.description.as_deref(), 20_000, false)?;
    if let Some(Some(a)) = &body.assignee {
        text("assignee", Some(a), 200, false)?;
    }
    let patch = TaskPatch {
        title: body.title,
        description: body.description,
        status: body.status,
        priority: body.priority,
        assignee: body.assignee,
        due_at: body.due_at,
    };
    let case_id: CaseId = overview.case.id;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let stored = state
                .store
                .update_task(case_id, task_id, caller.name(), patch)
                .await?;
            Ok(Json(TaskWriteView::Stored(TaskView::from(&stored))))
        }
        WriteMode::Preview { mode, reason } => {
            let current = state
                .store
                .tasks(case_id)
                .await?
                .into_iter()
                .find(|t| t.id == task_id)
                .ok_or_else(|| not_in_case("task", task_id.0, &overview))?;
            let t = decide(
                Some(&overview.case),
                caller.name(),
                CaseAction::UpdateTask { current, patch },
            )?;
            Ok(Json(TaskWriteView::Preview(preview_record(
                mode, reason, &t,
            ))))
        }
    }
}

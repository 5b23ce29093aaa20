//! `/cases`: the queue, one case, its lifecycle, merge, related cases, the
//! timeline and its audit. The records inside a case (observables,
//! evidence, comments, tasks) are in [`super::case_records`].
//!
//! **Mode truth.** `GET /system/mode` names the runtime mode, and every
//! case write follows it (see [`WriteMode`]): in `real` it is stored; in
//! `dry_run` a change a person makes is answered with a preview (200,
//! `{"preview": true, "would": ...}`) and nothing is stored, while an
//! agent's (an orchestrator's) change is stored; in `dummy` the queue is
//! the bundled showcase and every write is a preview. A preview is decided
//! by the same pure transition as the write, so it is refused exactly when
//! the write would be.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use vigil_engine::case::{
    CaseAction, CaseCommand, CaseEvent, CasePatch, CaseStatus, CaseTransition, MergeSource,
    NewCase, StatusChange, merge, transition,
};
use vigil_engine::store::{
    AssigneeFilter, CaseCounts, CaseCursor, CaseOverview, CaseQuery, CaseSort, CaseSortKey,
    SortDirection, SortValue,
};
use vigil_engine::{Case, CaseId, CaseNumber, Role, Severity};

use super::investigations::AUDITORS;
use super::{is_blank, query_number};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::views::cases::{
    AssignBody, CaseAuditReport, CaseDetail, CaseEventView, CasePageView, CaseStatusBody,
    CaseSummary, CaseTimelinePage, CreateCaseBody, LinkAlertBody, MergeBody, MergeView,
    PatchCaseBody, PreviewView, RelatedCaseView,
};

/// Who reads cases: analysts, auditors, and the agents that file them.
pub(crate) const READERS: &[Role] = &[Role::Operator, Role::Auditor, Role::Orchestrator];
/// Who adds to cases: analysts and agents (create, alerts, observables,
/// evidence, comments).
pub(crate) const CONTRIBUTORS: &[Role] = &[Role::Operator, Role::Orchestrator];
/// Who works cases: edit, status, assignment, delete, merge, tasks,
/// custody.
pub(crate) const ANALYSTS: &[Role] = &[Role::Operator];

/// The most alerts a create may link.
const MAX_ALERTS: usize = 100;
/// The most tags a case or observable holds.
const MAX_TAGS: usize = 50;

/// Whether a write is stored or answered with a preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Stored.
    Persist,
    /// Answered with what it would do; nothing is stored.
    Preview {
        /// The runtime mode.
        mode: String,
        /// Why, in words.
        reason: String,
    },
}

impl WriteMode {
    /// The write mode of `caller`'s case writes under the runtime mode.
    /// A caller acts as a machine (an agent or pipeline) when it holds the
    /// orchestrator role and not the operator role.
    pub(crate) fn of(state: &AppState, caller: &Caller) -> Self {
        let machine = caller.has(Role::Orchestrator) && !caller.has(Role::Operator);
        match state.system.mode.as_str() {
            "real" => WriteMode::Persist,
            "dry_run" if machine => WriteMode::Persist,
            "dry_run" => WriteMode::Preview {
                mode: "dry_run".to_owned(),
                reason: "Vigil runs in dry_run mode: changes a person makes to cases are \
                         previewed, not stored (agents' and pipelines' changes are stored)"
                    .to_owned(),
            },
            mode => WriteMode::Preview {
                mode: mode.to_owned(),
                reason: "Vigil runs in dummy mode: the case queue is bundled showcase data \
                         and nothing is stored"
                    .to_owned(),
            },
        }
    }

    /// The preview answer for `would`.
    pub(crate) fn preview(mode: String, reason: String, would: Value) -> PreviewView {
        PreviewView {
            preview: true,
            mode,
            reason,
            would,
        }
    }
}

/// What a preview says a transition would do: the record as it would be
/// and the timeline entries it would write.
pub(crate) fn would(next: Value, entries: &[CaseEvent]) -> Value {
    json!({
        "record": next,
        "timeline": entries
            .iter()
            .map(|e| json!({"kind": e.kind.to_string(), "actor": e.actor, "payload": e.payload}))
            .collect::<Vec<_>>(),
    })
}

/// Runs the pure case transition for a preview; a refusal is the same
/// error the write would get.
pub(crate) fn decide(
    current: Option<&Case>,
    by: &str,
    action: CaseAction,
) -> ApiResult<CaseTransition> {
    transition(
        current,
        CaseCommand {
            by: by.to_owned(),
            action,
        },
        Utc::now(),
    )
    .map_err(|e| vigil_engine::store::Error::from_case_transition(e).into())
}

/// A stored write's answer or a preview: one body per status code.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CaseWriteView {
    /// The case as stored.
    Stored(Box<CaseDetail>),
    /// Nothing was stored; what would have happened.
    Preview(PreviewView),
}

/// A merge's answer or a preview.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum MergeWriteView {
    /// What the merge did.
    Stored(Box<MergeView>),
    /// Nothing was stored; what would have happened.
    Preview(PreviewView),
}

/// A case named by its id or its number (`CASE-<n>`).
pub(crate) fn parse_case_ref(raw: &str) -> ApiResult<CaseRefArg> {
    if let Ok(id) = raw.parse::<CaseId>() {
        return Ok(CaseRefArg::Id(id));
    }
    if raw
        .get(..5)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("CASE-"))
        && let Ok(n) = raw.parse::<CaseNumber>()
    {
        return Ok(CaseRefArg::Number(n));
    }
    Err(ApiError::not_found(format!(
        "case {raw} not found (not a case id or CASE-<n>)"
    )))
}

/// How a request names a case.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CaseRefArg {
    /// By id.
    Id(CaseId),
    /// By number.
    Number(CaseNumber),
}

/// Loads a case `caller` may read: any of [`READERS`] reads every case; an
/// approver reads a case that asked it for a decision (an investigation
/// whose `case_ref` names the case, by number or id, requested an
/// approval), and any other is 404 exactly as for a case that does not
/// exist; other callers get 403.
pub(crate) async fn readable(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> ApiResult<CaseOverview> {
    if !caller.has(Role::Approver) {
        caller.require(READERS, "reading cases")?;
    }
    let overview = load(state, raw).await?;
    if READERS.iter().any(|r| caller.has(*r)) || asked_for_a_decision(state, &overview).await? {
        return Ok(overview);
    }
    Err(vigil_engine::store::Error::NotFound {
        what: "case",
        id: overview.case.id.to_string(),
    }
    .into())
}

/// Whether an investigation serving the case (its `case_ref` is the case's
/// number or id) asked for an approval.
async fn asked_for_a_decision(state: &AppState, overview: &CaseOverview) -> ApiResult<bool> {
    use vigil_engine::store::{ApprovalQuery, ListQuery};
    for case_ref in [
        overview.case.number.to_string(),
        overview.case.id.to_string(),
    ] {
        let page = state
            .store
            .list(&ListQuery {
                case_ref: Some(case_ref),
                limit: 100,
                ..ListQuery::default()
            })
            .await?;
        let linked = state
            .store
            .list(&ListQuery {
                case_id: Some(overview.case.id),
                limit: 100,
                ..ListQuery::default()
            })
            .await?;
        let page = vigil_engine::store::Page {
            items: page.items.into_iter().chain(linked.items).collect(),
            next: None,
        };
        for inv in &page.items {
            let asked = state
                .store
                .approvals(&ApprovalQuery {
                    investigation_id: Some(inv.id),
                    limit: 1,
                    ..ApprovalQuery::default()
                })
                .await?;
            if !asked.is_empty() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Loads a case by id or number.
pub(crate) async fn load(state: &AppState, raw: &str) -> ApiResult<CaseOverview> {
    Ok(match parse_case_ref(raw)? {
        CaseRefArg::Id(id) => state.store.case(id).await?,
        CaseRefArg::Number(n) => state.store.case_by_number(n).await?,
    })
}

/// Checks an optional bounded text field of a body: at most `max`
/// characters; with `required`, not blank either.
pub(crate) fn text(field: &str, value: Option<&str>, max: usize, required: bool) -> ApiResult<()> {
    let Some(value) = value else { return Ok(()) };
    if required && is_blank(value) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not be blank"),
        ));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be at most {max} characters, not {chars}"),
        ));
    }
    Ok(())
}

/// Checks a list of labels or ids as given: at most `max_items`, each not
/// blank and at most `max_chars` characters.
pub(crate) fn items(
    field: &str,
    values: Option<&[String]>,
    max_items: usize,
    max_chars: usize,
) -> ApiResult<()> {
    let Some(values) = values else { return Ok(()) };
    if values.len() > max_items {
        return Err(ApiError::invalid(
            field,
            format!(
                "{field} holds at most {max_items} items, not {}",
                values.len()
            ),
        ));
    }
    for v in values {
        text(field, Some(v), max_chars, true)?;
    }
    Ok(())
}

/// Query parameters of `GET /cases`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    /// Only these statuses, comma-separated (`open,in_progress`).
    #[param(
        pattern = r"^(open|in_progress|pending_approval|contained|eradicated|recovered|resolved|closed|pending|investigating|escalated)(,(open|in_progress|pending_approval|contained|eradicated|recovered|resolved|closed|pending|investigating|escalated))*$"
    )]
    status: Option<String>,
    /// Only these severities, comma-separated (`critical,high`).
    #[param(
        pattern = r"^(critical|high|medium|low|informational)(,(critical|high|medium|low|informational))*$"
    )]
    severity: Option<String>,
    /// Only cases assigned to this principal.
    #[param(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    assignee: Option<String>,
    /// Only unassigned cases.
    #[param(value_type = Option<bool>)]
    unassigned: Option<String>,
    /// Only cases with this tag.
    #[param(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 64
    )]
    tag: Option<String>,
    /// Only cases holding an observable with this value (of any type; as
    /// stored, or lower-cased).
    #[param(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 4096
    )]
    observable: Option<String>,
    /// Only cases whose title contains this text (any letter case).
    #[param(pattern = r"^[^\u0000]*$", max_length = 200)]
    q: Option<String>,
    /// Include deleted cases.
    #[param(value_type = Option<bool>)]
    include_deleted: Option<String>,
    /// Sort key (default `updated_at`).
    #[param(inline, value_type = Option<crate::views::cases::CaseSortName>)]
    sort: Option<String>,
    /// Sort direction (default `desc`).
    #[param(inline, value_type = Option<crate::views::cases::SortOrderName>)]
    order: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page. It carries its sort; a
    /// `sort` or `order` that differs from it is a 409.
    #[param(
        pattern = r"^(?:(?:number|severity|status|alert_count|observable_count)\.(?:asc|desc)\.-?[0-9]{1,18}|(?:created_at|updated_at|status_changed_at)\.(?:asc|desc)\.-?[0-9]{1,16}|(?:title|assignee)\.(?:asc|desc)\.(?:[0-9a-f]{2})*)\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
}

/// Writes a cursor as `<sort>.<order>.<value>.<id>`: the value a number
/// (number, severity and status ranks, alert and observable counts), microseconds (times) or the hex of
/// the UTF-8 text (title, assignee); exactly the form the document's
/// pattern for `cursor` allows.
fn encode_cursor(c: &CaseCursor) -> String {
    let value = match &c.value {
        SortValue::Int(n) => n.to_string(),
        SortValue::Time(t) => t.timestamp_micros().to_string(),
        SortValue::Text(s) => hex::encode(s.as_bytes()),
    };
    format!("{}.{}.{value}.{}", c.sort.key, c.sort.direction, c.id)
}

fn decode_cursor(raw: &str) -> ApiResult<CaseCursor> {
    let bad = || ApiError::invalid_query("cursor", "cursor is not one this API issued");
    let mut parts = raw.splitn(4, '.');
    let (Some(key), Some(dir), Some(value), Some(id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let key: CaseSortKey = key.parse().map_err(|_| bad())?;
    let direction: SortDirection = dir.parse().map_err(|_| bad())?;
    if id.len() != 36 {
        return Err(bad());
    }
    let id: CaseId = id.parse().map_err(|_| bad())?;
    let digits = |max: usize| {
        let d = value.strip_prefix('-').unwrap_or(value);
        !d.is_empty() && d.len() <= max && d.bytes().all(|b| b.is_ascii_digit())
    };
    let value = match key {
        CaseSortKey::Number
        | CaseSortKey::Severity
        | CaseSortKey::Status
        | CaseSortKey::AlertCount
        | CaseSortKey::ObservableCount => {
            if !digits(18) {
                return Err(bad());
            }
            SortValue::Int(value.parse().map_err(|_| bad())?)
        }
        CaseSortKey::CreatedAt | CaseSortKey::UpdatedAt | CaseSortKey::StatusChangedAt => {
            if !digits(16) {
                return Err(bad());
            }
            let micros: i64 = value.parse().map_err(|_| bad())?;
            SortValue::Time(DateTime::from_timestamp_micros(micros).ok_or_else(bad)?)
        }
        CaseSortKey::Title | CaseSortKey::Assignee => {
            if value.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(bad());
            }
            let bytes = hex::decode(value).map_err(|_| bad())?;
            SortValue::Text(String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    Ok(CaseCursor {
        sort: CaseSort { key, direction },
        value,
        id,
    })
}

/// A comma-separated list of wire names.
fn name_list<T: std::str::FromStr>(field: &str, raw: Option<&str>) -> ApiResult<Vec<T>> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(|name| {
            name.parse::<T>().map_err(|_| {
                ApiError::invalid_query(field, format!("{field}: unknown value `{name}`"))
            })
        })
        .collect()
}

/// `true` or `false`.
fn flag(field: &str, raw: Option<&str>) -> ApiResult<bool> {
    match raw {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::invalid_query(
            field,
            format!("{field} must be true or false, not {other}"),
        )),
    }
}

/// A filter text of a query: not blank, at most `max` characters.
fn filter_text(field: &str, raw: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    if is_blank(raw) {
        return Err(ApiError::invalid_query(
            field,
            format!("{field} must not be blank"),
        ));
    }
    if raw.chars().count() > max {
        return Err(ApiError::invalid_query(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(Some(raw.to_owned()))
}

impl CaseListParams {
    fn query(&self) -> ApiResult<CaseQuery> {
        let sort_key = self
            .sort
            .as_deref()
            .map(|s| {
                s.parse::<CaseSortKey>()
                    .map_err(|_| ApiError::invalid_query("sort", format!("unknown sort key `{s}`")))
            })
            .transpose()?;
        let direction = self
            .order
            .as_deref()
            .map(|s| {
                s.parse::<SortDirection>()
                    .map_err(|_| ApiError::invalid_query("order", "order must be asc or desc"))
            })
            .transpose()?;
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        let sort = match &after {
            Some(cursor) => {
                let conflicts = sort_key.is_some_and(|k| k != cursor.sort.key)
                    || direction.is_some_and(|d| d != cursor.sort.direction);
                if conflicts {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "cursor_sort_conflict",
                        format!(
                            "the cursor continues a listing sorted by {} {}; drop sort and order or ask for the same",
                            cursor.sort.key, cursor.sort.direction
                        ),
                    )
                    .with_field("cursor"));
                }
                cursor.sort
            }
            None => {
                let default = CaseSort::default();
                CaseSort {
                    key: sort_key.unwrap_or(default.key),
                    direction: direction.unwrap_or(default.direction),
                }
            }
        };
        let assignee = filter_text("assignee", self.assignee.as_deref(), 200)?;
        let assignee = match (assignee, flag("unassigned", self.unassigned.as_deref())?) {
            (Some(name), _) => Some(AssigneeFilter::Is(name)),
            (None, true) => Some(AssigneeFilter::Unassigned),
            (None, false) => None,
        };
        let q = self.q.as_deref();
        if q.is_some_and(|q| q.chars().count() > 200) {
            return Err(ApiError::invalid_query(
                "q",
                "q must be at most 200 characters",
            ));
        }
        Ok(CaseQuery {
            statuses: name_list("status", self.status.as_deref())?,
            severities: name_list("severity", self.severity.as_deref())?,
            assignee,
            tag: filter_text("tag", self.tag.as_deref(), 64)?,
            observable: filter_text("observable", self.observable.as_deref(), 4096)?,
            text: q.map(str::to_owned),
            include_deleted: flag("include_deleted", self.include_deleted.as_deref())?,
            sort,
            after,
            limit: query_number("limit", self.limit.as_deref(), 1..=500)?.unwrap_or(50),
        })
    }
}

/// Lists cases: filtered, sorted, a keyset page at a time, with the
/// header counts.
#[utoipa::path(
    get, path = "/cases", tag = "cases",
    params(CaseListParams),
    responses(
        (status = 200, description = "A page of the queue and its counts", body = CasePageView),
        (status = 400, description = "A bad filter, sort or cursor", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 409, description = "A sort or order other than the cursor's", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<CaseListParams>,
) -> ApiResult<Json<CasePageView>> {
    caller.require(READERS, "listing cases")?;
    let query = params.query()?;
    let page = state.store.list_cases(&query).await?;
    let kpis = state.store.case_kpis(&query).await?;
    Ok(Json(CasePageView {
        items: page.items.iter().map(CaseSummary::of).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
        kpis: kpis.into(),
        showcase: state.system.mode == "dummy",
    }))
}

/// Creates a case (`open`). In `dummy`, and in `dry_run` for a person,
/// the answer is a preview and nothing is stored.
#[utoipa::path(
    post, path = "/cases", tag = "cases",
    request_body = CreateCaseBody,
    responses(
        (status = 201, description = "Created", body = CaseDetail),
        (status = 200, description = "A preview: the runtime mode stores nothing", body = PreviewView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator or orchestrator role", body = Problem),
        (status = 409, description = "An alert already belongs to another case", body = Problem),
        (status = 422, description = "A field out of bounds (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateCaseBody>,
) -> ApiResult<Response> {
    caller.require(CONTRIBUTORS, "creating a case")?;
    text("title", Some(&body.title), Case::MAX_TITLE, true)?;
    text("description", body.description.as_deref(), 20_000, false)?;
    text("assignee", body.assignee.as_deref(), 200, true)?;
    text(
        "confidence_reason",
        body.confidence_reason.as_deref(),
        2_000,
        false,
    )?;
    items("tags", body.tags.as_deref(), MAX_TAGS, 64)?;
    items("alert_ids", body.alert_ids.as_deref(), MAX_ALERTS, 200)?;
    if body.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
        return Err(ApiError::invalid(
            "confidence",
            "confidence must be between 0 and 1",
        ));
    }
    let new = NewCase {
        title: body.title,
        severity: body.severity.unwrap_or(Severity::Medium),
        description: body.description.unwrap_or_default(),
        assignee: body.assignee,
        requires_human_approval: body.requires_human_approval.unwrap_or(false),
        confidence: body.confidence,
        confidence_reason: body.confidence_reason,
        tags: body.tags.unwrap_or_default(),
        alert_ids: body.alert_ids.unwrap_or_default(),
    };
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let case = state.store.create_case(caller.name(), new).await?;
            let overview = state.store.case(case.id).await?;
            Ok((
                StatusCode::CREATED,
                Json(CaseDetail::of(&overview, Utc::now())),
            )
                .into_response())
        }
        WriteMode::Preview { mode, reason } => {
            let now = Utc::now();
            let t = decide(
                None,
                caller.name(),
                CaseAction::Create {
                    id: CaseId::new_at(now),
                    number: CaseNumber(1),
                    case: new,
                    alert_owners: Default::default(),
                },
            )?;
            let mut record = serde_json::to_value(CaseDetail::of(
                &CaseOverview {
                    counts: CaseCounts {
                        alerts: t.next.alert_ids.len() as i64,
                        ..CaseCounts::default()
                    },
                    case: t.next.clone(),
                },
                now,
            ))
            .unwrap_or(Value::Null);
            // The store numbers and names a case when it stores it.
            record["id"] = Value::Null;
            record["number"] = Value::Null;
            let mut entries = t.entries.clone();
            for e in &mut entries {
                if let Some(p) = e.payload.as_object_mut() {
                    p.remove("number");
                }
            }
            let view = WriteMode::preview(mode, reason, would(record, &entries));
            Ok(Json(view).into_response())
        }
    }
}

/// One case, by id or `CASE-<n>`, with its counts and time in status.
#[utoipa::path(
    get, path = "/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "Case id or number (`CASE-12`)")),
    responses(
        (status = 200, description = "The case", body = CaseDetail),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CaseDetail>> {
    let overview = readable(&state, &caller, &id).await?;
    Ok(Json(CaseDetail::of(&overview, Utc::now())))
}

/// Applies `patch` to the case named `raw`, or previews it.
async fn apply_patch(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    patch: CasePatch,
) -> ApiResult<Json<CaseWriteView>> {
    let current = load(state, raw).await?;
    match WriteMode::of(state, caller) {
        WriteMode::Persist => {
            let updated = state
                .store
                .update_case(current.case.id, caller.name(), patch)
                .await?;
            if current.case.status != CaseStatus::Closed && updated.status == CaseStatus::Closed {
                super::case_summaries::summary_on_close(state, caller.name(), updated.id).await;
            }
            stored(state, current.case.id).await
        }
        WriteMode::Preview { mode, reason } => previewed(
            mode,
            reason,
            &current,
            caller.name(),
            CaseAction::Update(patch),
        ),
    }
}

/// The answer to a stored write: the case as it now is.
async fn stored(state: &AppState, id: CaseId) -> ApiResult<Json<CaseWriteView>> {
    let overview = state.store.case(id).await?;
    Ok(Json(CaseWriteView::Stored(Box::new(CaseDetail::of(
        &overview,
        Utc::now(),
    )))))
}

/// The preview answer to `action` on `current`, decided by the pure
/// transition.
fn previewed(
    mode: String,
    reason: String,
    current: &CaseOverview,
    by: &str,
    action: CaseAction,
) -> ApiResult<Json<CaseWriteView>> {
    let t = decide(Some(&current.case), by, action)?;
    let counts = CaseCounts {
        alerts: t.next.alert_ids.len() as i64,
        ..current.counts
    };
    Ok(Json(CaseWriteView::Preview(preview_case(
        mode, reason, &t, counts,
    ))))
}

/// The preview of a transition of one case.
pub(crate) fn preview_case(
    mode: String,
    reason: String,
    t: &CaseTransition,
    counts: CaseCounts,
) -> PreviewView {
    let record = serde_json::to_value(CaseDetail::of(
        &CaseOverview {
            case: t.next.clone(),
            counts,
        },
        Utc::now(),
    ))
    .unwrap_or(Value::Null);
    WriteMode::preview(mode, reason, would(record, &t.entries))
}

/// Changes fields and, with `status`, the status (and disposition).
#[utoipa::path(
    patch, path = "/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    request_body = PatchCaseBody,
    responses(
        (status = 200, description = "The case as stored, or a preview", body = CaseWriteView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "A status not allowed next (the allowed ones listed), or a case that accepts no change", body = Problem),
        (status = 422, description = "A field out of bounds, or a missing disposition (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchCaseBody>,
) -> ApiResult<Json<CaseWriteView>> {
    caller.require(ANALYSTS, "changing a case")?;
    // An unknown case is a 404 whatever the body says.
    load(&state, &id).await?;
    text("title", body.title.as_deref(), Case::MAX_TITLE, true)?;
    text("description", body.description.as_deref(), 20_000, false)?;
    if let Some(Some(assignee)) = &body.assignee {
        text("assignee", Some(assignee), 200, true)?;
    }
    text("reason", body.reason.as_deref(), 2_000, false)?;
    items("tags", body.tags.as_deref(), MAX_TAGS, 64)?;
    if body.status.is_none() && (body.disposition.is_some() || body.reason.is_some()) {
        return Err(ApiError::invalid(
            if body.disposition.is_some() {
                "disposition"
            } else {
                "reason"
            },
            "a disposition or reason goes with a status change; give status too",
        ));
    }
    let patch = CasePatch {
        title: body.title,
        description: body.description,
        severity: body.severity,
        assignee: body.assignee,
        requires_human_approval: body.requires_human_approval,
        tags: body.tags,
        status: body.status.map(|to| StatusChange {
            to,
            disposition: body.disposition,
            reason: body.reason,
        }),
        ..CasePatch::default()
    };
    apply_patch(&state, &caller, &id, patch).await
}

/// Moves the case to another status. `resolved` and `closed` need a
/// disposition; reopening a closed case (`open`) needs a reason.
#[utoipa::path(
    post, path = "/cases/{id}/status", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    request_body = CaseStatusBody,
    responses(
        (status = 200, description = "The case as stored, or a preview", body = CaseWriteView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "A status not allowed next; `allowed` lists the ones that are", body = Problem),
        (status = 422, description = "A missing disposition or reason (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CaseStatusBody>,
) -> ApiResult<Json<CaseWriteView>> {
    caller.require(ANALYSTS, "changing a case's status")?;
    load(&state, &id).await?;
    text("reason", body.reason.as_deref(), 2_000, false)?;
    let patch = CasePatch {
        status: Some(StatusChange {
            to: body.status,
            disposition: body.disposition,
            reason: body.reason,
        }),
        ..CasePatch::default()
    };
    apply_patch(&state, &caller, &id, patch).await
}

/// Assigns the case to a principal, or unassigns it (`null`).
#[utoipa::path(
    post, path = "/cases/{id}/assign", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    request_body = AssignBody,
    responses(
        (status = 200, description = "The case as stored, or a preview", body = CaseWriteView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "A case that accepts no change", body = Problem),
        (status = 422, description = "A blank or oversized assignee", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> ApiResult<Json<CaseWriteView>> {
    caller.require(ANALYSTS, "assigning a case")?;
    load(&state, &id).await?;
    text("assignee", body.assignee.as_deref(), 200, true)?;
    let patch = CasePatch {
        assignee: Some(body.assignee),
        ..CasePatch::default()
    };
    apply_patch(&state, &caller, &id, patch).await
}

/// Why a case is deleted.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Why (recorded on the timeline); at most 2 000 characters.
    #[param(pattern = r"^[^\u0000]*$", max_length = 2000)]
    reason: Option<String>,
}

/// Deletes the case: soft (it stays readable by id for auditors, its
/// timeline gets `case_deleted`), and its alerts are detached.
#[utoipa::path(
    delete, path = "/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "Case id or number"), DeleteParams),
    responses(
        (status = 200, description = "The case as stored (deleted), or a preview", body = CaseWriteView),
        (status = 400, description = "A bad reason", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "Already deleted or merged", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> ApiResult<Json<CaseWriteView>> {
    caller.require(ANALYSTS, "deleting a case")?;
    if params
        .reason
        .as_deref()
        .is_some_and(|r| r.chars().count() > 2_000)
    {
        return Err(ApiError::invalid_query(
            "reason",
            "reason must be at most 2000 characters",
        ));
    }
    let current = load(&state, &id).await?;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            state
                .store
                .delete_case(current.case.id, caller.name(), params.reason)
                .await?;
            stored(&state, current.case.id).await
        }
        WriteMode::Preview { mode, reason } => previewed(
            mode,
            reason,
            &current,
            caller.name(),
            CaseAction::Delete {
                reason: params.reason,
            },
        ),
    }
}

/// Links an alert to the case. An alert belongs to at most one case.
#[utoipa::path(
    post, path = "/cases/{id}/alerts", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    request_body = LinkAlertBody,
    responses(
        (status = 200, description = "The case as stored, or a preview", body = CaseWriteView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "The alert belongs to another case, or the case accepts no change", body = Problem),
        (status = 422, description = "A blank or oversized alert id", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn link_alert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LinkAlertBody>,
) -> ApiResult<Json<CaseWriteView>> {
    caller.require(CONTRIBUTORS, "linking an alert")?;
    let current = load(&state, &id).await?;
    text("alert_id", Some(&body.alert_id), 200, true)?;
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            state
                .store
                .link_alert(current.case.id, caller.name(), &body.alert_id)
                .await?;
            stored(&state, current.case.id).await
        }
        WriteMode::Preview { mode, reason } => previewed(
            mode,
            reason,
            &current,
            caller.name(),
            CaseAction::LinkAlert {
                alert_id: body.alert_id,
                owner: None,
            },
        ),
    }
}

/// Merges other cases into this one, in one transaction: their alerts,
/// observables (sightings summed), evidence, comments and tasks move here;
/// each is closed with this case's disposition (or the one given) and
/// linked to it; every timeline involved records the merge.
#[utoipa::path(
    post, path = "/cases/{id}/merge", tag = "cases",
    params(("id" = String, Path, description = "The target case's id or number")),
    request_body = MergeBody,
    responses(
        (status = 200, description = "What the merge did, or a preview", body = MergeWriteView),
        (status = 400, description = "Malformed body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator role", body = Problem),
        (status = 404, description = "No such case (the target or a source)", body = Problem),
        (status = 409, description = "A case that cannot merge (closed, deleted, merged)", body = Problem),
        (status = 422, description = "Bad sources or a missing disposition (named)", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn merge_into(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MergeBody>,
) -> ApiResult<Json<MergeWriteView>> {
    caller.require(ANALYSTS, "merging cases")?;
    let target = load(&state, &id).await?;
    let mut sources = Vec::with_capacity(body.sources.len());
    for raw in &body.sources {
        sources.push(load(&state, raw).await?);
    }
    let ids: Vec<CaseId> = sources.iter().map(|s| s.case.id).collect();
    match WriteMode::of(&state, &caller) {
        WriteMode::Persist => {
            let report = state
                .store
                .merge_cases(target.case.id, &ids, caller.name(), body.disposition)
                .await?;
            let target = state.store.case(report.target.id).await?;
            let mut merged = Vec::with_capacity(report.merged.len());
            for case in &report.merged {
                merged.push(CaseSummary::of(&state.store.case(case.id).await?));
            }
            Ok(Json(MergeWriteView::Stored(Box::new(MergeView {
                target: CaseDetail::of(&target, Utc::now()),
                merged,
                summary: report.summary,
            }))))
        }
        WriteMode::Preview { mode, reason } => {
            let target_observables = state.store.observables(target.case.id).await?;
            let mut inputs = Vec::with_capacity(sources.len());
            for source in &sources {
                inputs.push(MergeSource {
                    case: source.case.clone(),
                    observables: state.store.observables(source.case.id).await?,
                    evidence: source.counts.evidence,
                    comments: source.counts.comments,
                    tasks: source.counts.tasks,
                });
            }
            let t = merge(
                &target.case,
                target_observables,
                inputs,
                body.disposition,
                caller.name(),
                Utc::now(),
            )
            .map_err(vigil_engine::store::Error::from_case_transition)?;
            let mut entries: Vec<CaseEvent> = t.target.entries.clone();
            for s in &t.sources {
                entries.extend(s.entries.iter().cloned());
            }
            let record = serde_json::to_value(CaseSummary::of(&CaseOverview {
                case: t.target.next.clone(),
                counts: target.counts,
            }))
            .unwrap_or(Value::Null);
            let view = WriteMode::preview(
                mode,
                reason,
                json!({
                    "record": record,
                    "summary": t
                        .target
                        .entries
                        .iter()
                        .find_map(|e| e.payload.get("summary").cloned()),
                    "timeline": would(Value::Null, &entries)["timeline"],
                }),
            );
            Ok(Json(MergeWriteView::Preview(view)))
        }
    }
}

/// Cases sharing two or more observables with this one, best first.
#[utoipa::path(
    get, path = "/cases/{id}/related", tag = "cases",
    params(("id" = String, Path, description = "Case id or number")),
    responses(
        (status = 200, description = "Related cases, best score first (at most 20)", body = Vec<RelatedCaseView>),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn related(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<RelatedCaseView>>> {
    let overview = readable(&state, &caller, &id).await?;
    let related = state.store.related_cases(overview.case.id).await?;
    Ok(Json(related.iter().map(RelatedCaseView::from).collect()))
}

/// Where a timeline page starts.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// Entries after this seq (default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    after_seq: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// A page of the case's timeline, in seq order.
#[utoipa::path(
    get, path = "/cases/{id}/timeline", tag = "cases",
    params(("id" = String, Path, description = "Case id or number"), TimelineParams),
    responses(
        (status = 200, description = "Entries after `after_seq`", body = CaseTimelinePage),
        (status = 400, description = "A bad after_seq or limit", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the operator, auditor or orchestrator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<TimelineParams>,
) -> ApiResult<Json<CaseTimelinePage>> {
    let after = query_number("after_seq", params.after_seq.as_deref(), 0..=i64::MAX)?.unwrap_or(0);
    let limit = query_number("limit", params.limit.as_deref(), 1..=1000)?.unwrap_or(100);
    let overview = readable(&state, &caller, &id).await?;
    let entries = state
        .store
        .case_timeline(overview.case.id, after, limit)
        .await?;
    Ok(Json(CaseTimelinePage {
        items: entries.iter().map(CaseEventView::from).collect(),
        last_seq: overview.case.last_seq,
    }))
}

/// Audit output format.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseAuditParams {
    /// `json` (default): the verification report; `jsonl`: the whole
    /// timeline as a JSON Lines download, one entry per line.
    #[param(inline, value_type = Option<super::investigations::AuditFormat>)]
    format: Option<String>,
}

/// Verifies the case's timeline (seq without gaps, every hash and link,
/// the row against what the timeline implies), or exports it.
#[utoipa::path(
    get, path = "/cases/{id}/audit", tag = "cases",
    params(("id" = String, Path, description = "Case id or number"), CaseAuditParams),
    responses(
        (status = 200, description = "The verification report (or, with format=jsonl, the timeline)",
         content((CaseAuditReport = "application/json"), (String = "application/x-ndjson"))),
        (status = 400, description = "Unknown format", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the auditor or operator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<CaseAuditParams>,
) -> ApiResult<Response> {
    caller.require(AUDITORS, "reading a case's audit trail")?;
    let jsonl = super::investigations::wants_jsonl(params.format.as_deref())?;
    let overview = load(&state, &id).await?;
    let report = state.store.verify_case(overview.case.id).await?;
    let verdict = CaseAuditReport::from(&report);
    if !jsonl {
        return Ok(Json(verdict).into_response());
    }
    crate::logs::jsonl_download(
        &crate::streams::CaseTimeline(state.store.clone()),
        overview.case.id,
        &format!("{}.jsonl", overview.case.number),
        verdict.valid,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_for_every_kind_of_sort_value() {
        let id = CaseId::new_at(Utc::now());
        for (key, value) in [
            (CaseSortKey::Number, SortValue::Int(42)),
            (CaseSortKey::Severity, SortValue::Int(-1)),
            (
                CaseSortKey::UpdatedAt,
                SortValue::Time(DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap()),
            ),
            (
                CaseSortKey::Title,
                SortValue::Text("brute force · ü".to_owned()),
            ),
            (CaseSortKey::Assignee, SortValue::Text(String::new())),
            (CaseSortKey::AlertCount, SortValue::Int(3)),
            (CaseSortKey::ObservableCount, SortValue::Int(0)),
        ] {
            for direction in [SortDirection::Asc, SortDirection::Desc] {
                let c = CaseCursor {
                    sort: CaseSort { key, direction },
                    value: value.clone(),
                    id,
                };
                let raw = encode_cursor(&c);
                assert_eq!(decode_cursor(&raw).unwrap(), c, "{raw}");
            }
        }
    }

    #[test]
    fn cursors_this_api_did_not_issue_are_refused() {
        let id = CaseId::new_at(Utc::now());
        for bad in [
            "".to_owned(),
            "number.asc.x.".to_owned() + &id.to_string(),
            format!("number.up.1.{id}"),
            format!("title.asc.ABCD.{id}"),
            format!("title.asc.abc.{id}"),
            format!("created_at.asc.12345678901234567.{id}"),
            "updated_at.desc.1.not-a-uuid".to_owned(),
        ] {
            assert_eq!(
                decode_cursor(&bad).unwrap_err().code(),
                "invalid_query",
                "{bad}"
            );
        }
    }
}

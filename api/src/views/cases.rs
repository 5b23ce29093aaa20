//! The bodies of `/cases` and its sub-resources.
//!
//! Request bodies deserialize straight into the engine's vocabularies
//! (statuses, severities, ...); the `*Name` enums only describe them in the
//! OpenAPI document. Text limits here are the ones the store enforces, and
//! the handlers check them on the raw text, so what the document allows is
//! exactly what the API accepts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_engine::case::{
    Case, CaseEvent, Comment, CustodyAction, CustodyRecord, Disposition, Evidence, EvidenceKind,
    Observable, ObservableType, Pap, Severity, Task, TaskPriority, TaskStatus, Tlp,
};
use vigil_engine::log::ChainReport;
use vigil_engine::store::{CaseCounts, CaseKpis, CaseOverview, RelatedCase};
use vigil_engine::{CaseLog, CaseStatus};

use super::{MismatchView, Verdict};

/// Text that is not blank: at least one character other than whitespace,
/// and no NUL.
pub(crate) const NOT_BLANK: &str = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$";

/// Where a case is in its lifecycle (`investigating` and `escalated`
/// are legacy values no command produces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CaseStatusName {
    /// New.
    #[serde(rename = "open")]
    Open,
    /// Being worked.
    #[serde(rename = "in_progress")]
    InProgress,
    /// Blocked on a human decision.
    #[serde(rename = "pending_approval")]
    PendingApproval,
    /// Spread limited.
    #[serde(rename = "contained")]
    Contained,
    /// Footholds removed.
    #[serde(rename = "eradicated")]
    Eradicated,
    /// Service restored.
    #[serde(rename = "recovered")]
    Recovered,
    /// Remediation complete (needs a disposition).
    #[serde(rename = "resolved")]
    Resolved,
    /// Closed (needs a disposition).
    #[serde(rename = "closed")]
    Closed,
    /// Waiting on external input.
    #[serde(rename = "pending")]
    Pending,
    /// Legacy.
    #[serde(rename = "investigating")]
    Investigating,
    /// Legacy.
    #[serde(rename = "escalated")]
    Escalated,
}

/// How severe a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SeverityName {
    /// Act now.
    #[serde(rename = "critical")]
    Critical,
    /// Act today.
    #[serde(rename = "high")]
    High,
    /// Act soon.
    #[serde(rename = "medium")]
    Medium,
    /// When there is time.
    #[serde(rename = "low")]
    Low,
    /// For the record.
    #[serde(rename = "informational")]
    Informational,
}

/// What a finished case turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DispositionName {
    /// A confirmed incident.
    #[serde(rename = "true_positive")]
    TruePositive,
    /// The detection fired wrongly.
    #[serde(rename = "false_positive")]
    FalsePositive,
    /// Real, not malicious.
    #[serde(rename = "benign")]
    Benign,
    /// Cannot be determined.
    #[serde(rename = "inconclusive")]
    Inconclusive,
}

/// An observable's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ObservableTypeName {
    /// An IPv4 or IPv6 address.
    #[serde(rename = "ip")]
    Ip,
    /// A domain name.
    #[serde(rename = "domain")]
    Domain,
    /// A URL.
    #[serde(rename = "url")]
    Url,
    /// An MD5 hash.
    #[serde(rename = "hash_md5")]
    HashMd5,
    /// A SHA-1 hash.
    #[serde(rename = "hash_sha1")]
    HashSha1,
    /// A SHA-256 hash.
    #[serde(rename = "hash_sha256")]
    HashSha256,
    /// An e-mail address.
    #[serde(rename = "email")]
    Email,
    /// A user name.
    #[serde(rename = "user")]
    User,
    /// A host name.
    #[serde(rename = "host")]
    Host,
    /// A file name or path.
    #[serde(rename = "file")]
    File,
    /// Anything else.
    #[serde(rename = "other")]
    Other,
}

/// Traffic Light Protocol marking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TlpName {
    /// Public.
    #[serde(rename = "clear")]
    Clear,
    /// Community.
    #[serde(rename = "green")]
    Green,
    /// Organisation and clients.
    #[serde(rename = "amber")]
    Amber,
    /// Organisation only.
    #[serde(rename = "amber+strict")]
    AmberStrict,
    /// Named recipients only.
    #[serde(rename = "red")]
    Red,
}

/// Permissible Actions Protocol marking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PapName {
    /// Any action.
    #[serde(rename = "clear")]
    Clear,
    /// Active actions allowed.
    #[serde(rename = "green")]
    Green,
    /// Passive actions only.
    #[serde(rename = "amber")]
    Amber,
    /// No action outside the organisation.
    #[serde(rename = "red")]
    Red,
}

/// What kind of artifact an evidence item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EvidenceKindName {
    /// Log entries.
    #[serde(rename = "log")]
    Log,
    /// Network flow data.
    #[serde(rename = "network_flow")]
    NetworkFlow,
    /// An endpoint scan.
    #[serde(rename = "endpoint_scan")]
    EndpointScan,
    /// A forensic image.
    #[serde(rename = "forensic_image")]
    ForensicImage,
    /// A screenshot.
    #[serde(rename = "screenshot")]
    Screenshot,
    /// A file.
    #[serde(rename = "file")]
    File,
    /// Anything else.
    #[serde(rename = "other")]
    Other,
}

/// A chain-of-custody action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CustodyActionName {
    /// Handed to someone (`to` required).
    #[serde(rename = "transferred")]
    Transferred,
    /// Copied.
    #[serde(rename = "duplicated")]
    Duplicated,
    /// Examined.
    #[serde(rename = "reviewed")]
    Reviewed,
    /// Put away.
    #[serde(rename = "archived")]
    Archived,
}

/// A task's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TaskStatusName {
    /// Not started.
    #[serde(rename = "todo")]
    Todo,
    /// Being done.
    #[serde(rename = "in_progress")]
    InProgress,
    /// Cannot go on.
    #[serde(rename = "blocked")]
    Blocked,
    /// Finished.
    #[serde(rename = "done")]
    Done,
}

/// A task's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TaskPriorityName {
    /// Low.
    #[serde(rename = "low")]
    Low,
    /// Medium.
    #[serde(rename = "medium")]
    Medium,
    /// High.
    #[serde(rename = "high")]
    High,
    /// Critical.
    #[serde(rename = "critical")]
    Critical,
}

/// What a case listing is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CaseSortName {
    /// The case number.
    #[serde(rename = "number")]
    Number,
    /// The title.
    #[serde(rename = "title")]
    Title,
    /// The severity.
    #[serde(rename = "severity")]
    Severity,
    /// The status.
    #[serde(rename = "status")]
    Status,
    /// The assignee.
    #[serde(rename = "assignee")]
    Assignee,
    /// Creation time.
    #[serde(rename = "created_at")]
    CreatedAt,
    /// Last activity.
    #[serde(rename = "updated_at")]
    UpdatedAt,
    /// The last status change.
    #[serde(rename = "status_changed_at")]
    StatusChangedAt,
    /// The number of linked alerts.
    #[serde(rename = "alert_count")]
    AlertCount,
    /// The number of observables.
    #[serde(rename = "observable_count")]
    ObservableCount,
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SortOrderName {
    /// Smallest first.
    #[serde(rename = "asc")]
    Asc,
    /// Largest first.
    #[serde(rename = "desc")]
    Desc,
}

/// What a case holds, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseCountsView {
    /// Linked alerts.
    pub alerts: i64,
    /// Observables.
    pub observables: i64,
    /// Evidence items.
    pub evidence: i64,
    /// Comments.
    pub comments: i64,
    /// Tasks.
    pub tasks: i64,
    /// Tasks not `done`.
    pub open_tasks: i64,
}

impl From<CaseCounts> for CaseCountsView {
    fn from(c: CaseCounts) -> Self {
        Self {
            alerts: c.alerts,
            observables: c.observables,
            evidence: c.evidence,
            comments: c.comments,
            tasks: c.tasks,
            open_tasks: c.open_tasks,
        }
    }
}

/// A case as its queue lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseSummary {
    /// Its id.
    pub id: Uuid,
    /// Its number, `CASE-<n>`.
    pub number: String,
    /// The title.
    pub title: String,
    /// The severity.
    #[schema(value_type = SeverityName)]
    pub severity: String,
    /// The status.
    #[schema(value_type = CaseStatusName)]
    pub status: String,
    /// Set exactly when `resolved` or `closed`.
    #[schema(value_type = Option<DispositionName>)]
    pub disposition: Option<String>,
    /// The owning principal.
    pub assignee: Option<String>,
    /// Whether actions for it need a human approval.
    pub requires_human_approval: bool,
    /// The investigation's confidence, 0..1.
    pub confidence: Option<f64>,
    /// Why that confidence.
    pub confidence_reason: Option<String>,
    /// Labels, lower case.
    pub tags: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last activity (its newest timeline entry).
    pub updated_at: DateTime<Utc>,
    /// When the status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// When it was deleted (deleted cases stay readable by id).
    pub deleted_at: Option<DateTime<Utc>>,
    /// The case it was merged into.
    pub merged_into: Option<Uuid>,
    /// Whether it is bundled showcase data (tagged `showcase`, created by
    /// the showcase), not a real incident.
    pub showcase: bool,
    /// What it holds.
    pub counts: CaseCountsView,
}

/// The principal the offline showcase writes its sample cases as.
pub const SHOWCASE_PRINCIPAL: &str = "vigil-showcase";

/// The tag every showcase sample carries.
pub const SHOWCASE_TAG: &str = "showcase";

impl CaseSummary {
    /// The listing fields of `overview`.
    pub fn of(overview: &CaseOverview) -> Self {
        let c = &overview.case;
        Self {
            id: c.id.0,
            number: c.number.to_string(),
            title: c.title.clone(),
            severity: c.severity.to_string(),
            status: c.status.to_string(),
            disposition: c.disposition.map(|d| d.to_string()),
            assignee: c.assignee.clone(),
            requires_human_approval: c.requires_human_approval,
            confidence: c.confidence,
            confidence_reason: c.confidence_reason.clone(),
            tags: c.tags.clone(),
            created_by: c.created_by.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            status_changed_at: c.status_changed_at,
            deleted_at: c.deleted_at,
            merged_into: c.merged_into.map(|m| m.0),
            showcase: is_showcase(c),
            counts: overview.counts.into(),
        }
    }
}

/// Whether `case` is bundled showcase data.
pub fn is_showcase(case: &Case) -> bool {
    case.created_by == SHOWCASE_PRINCIPAL && case.tags.iter().any(|t| t == SHOWCASE_TAG)
}

/// One case, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseDetail {
    /// The listing fields.
    #[serde(flatten)]
    pub summary: CaseSummary,
    /// The description.
    pub description: String,
    /// Linked alert ids, sorted.
    pub alert_ids: Vec<String>,
    /// How long it has been in its status, in milliseconds.
    pub time_in_status_ms: i64,
    /// The seq of its newest timeline entry.
    pub last_seq: i64,
    /// The hash of its newest timeline entry.
    pub last_hash: String,
}

impl CaseDetail {
    /// The detail of `overview` as of `now`.
    pub fn of(overview: &CaseOverview, now: DateTime<Utc>) -> Self {
        let c = &overview.case;
        Self {
            summary: CaseSummary::of(overview),
            description: c.description.clone(),
            alert_ids: c.alert_ids.clone(),
            time_in_status_ms: (now - c.status_changed_at).num_milliseconds().max(0),
            last_seq: c.last_seq,
            last_hash: c.last_hash.clone(),
        }
    }
}

/// The header counts of the case queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseKpisView {
    /// Every case the filters select (the status filter aside).
    pub total: i64,
    /// Those not `resolved` or `closed`.
    pub open: i64,
    /// Those of `critical` severity.
    pub critical: i64,
    /// Those `resolved` or `closed`.
    pub resolved: i64,
}

impl From<CaseKpis> for CaseKpisView {
    fn from(k: CaseKpis) -> Self {
        Self {
            total: k.total,
            open: k.open,
            critical: k.critical,
            resolved: k.resolved,
        }
    }
}

/// A page of the case queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CasePageView {
    /// The cases, in the requested order.
    pub items: Vec<CaseSummary>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The header counts over the same filters (the status filter aside).
    pub kpis: CaseKpisView,
    /// Whether the queue is bundled showcase data (`dummy` mode).
    pub showcase: bool,
}

/// A write the runtime mode turned into a preview: nothing was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewView {
    /// Always `true`: nothing was written.
    pub preview: bool,
    /// The runtime mode that made it a preview (`dummy` or `dry_run`).
    pub mode: String,
    /// Why it is a preview.
    pub reason: String,
    /// What the write would have done: the record as it would be, and the
    /// timeline entries it would have written.
    pub would: Value,
}

/// `POST /cases`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCaseBody {
    /// Required; at most 200 characters.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub title: String,
    /// `medium` when not given.
    #[serde(default)]
    #[schema(value_type = Option<SeverityName>)]
    pub severity: Option<Severity>,
    /// At most 20 000 characters.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 20000)]
    pub description: Option<String>,
    /// The owning principal.
    #[serde(default)]
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub assignee: Option<String>,
    /// Whether actions for it need a human approval.
    #[serde(default)]
    pub requires_human_approval: Option<bool>,
    /// 0..1.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub confidence: Option<f64>,
    /// Why that confidence; at most 2 000 characters.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 2000)]
    pub confidence_reason: Option<String>,
    /// Labels: at most 50, each not blank and at most 64 characters.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// Alerts to link: at most 100 ids, each not blank and at most 200
    /// characters. An alert belongs to at most one case.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub alert_ids: Option<Vec<String>>,
}

/// `PATCH /cases/{id}`: only the fields given change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchCaseBody {
    /// Not blank; at most 200 characters.
    #[serde(default)]
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub title: Option<String>,
    /// At most 20 000 characters.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 20000)]
    pub description: Option<String>,
    /// The severity.
    #[serde(default)]
    #[schema(value_type = Option<SeverityName>)]
    pub severity: Option<Severity>,
    /// A principal; `null` unassigns.
    #[serde(
        default,
        deserialize_with = "crate::extract::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub assignee: Option<Option<String>>,
    /// The approval flag.
    #[serde(default)]
    pub requires_human_approval: Option<bool>,
    /// Labels (replaces them): at most 50, each not blank and at most 64
    /// characters.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// A new status; `resolved` and `closed` need a disposition.
    #[serde(default)]
    #[schema(value_type = Option<CaseStatusName>)]
    pub status: Option<CaseStatus>,
    /// The disposition, with a move to `resolved` or `closed`.
    #[serde(default)]
    #[schema(value_type = Option<DispositionName>)]
    pub disposition: Option<Disposition>,
    /// Why (required to reopen a closed case); at most 2 000 characters.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 2000)]
    pub reason: Option<String>,
}

/// `POST /cases/{id}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseStatusBody {
    /// The status to move to.
    #[schema(value_type = CaseStatusName)]
    pub status: CaseStatus,
    /// Required for `resolved` and `closed` (unless the case has one).
    #[serde(default)]
    #[schema(value_type = Option<DispositionName>)]
    pub disposition: Option<Disposition>,
    /// Why; required to reopen; at most 2 000 characters.
    #[serde(default)]
    #[schema(pattern = r"^[^\u0000]*$", max_length = 2000)]
    pub reason: Option<String>,
}

/// `POST /cases/{id}/assign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A principal; `null` unassigns.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub assignee: Option<String>,
}

/// `POST /cases/{id}/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkAlertBody {
    /// The alert's id: not blank, at most 200 characters.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub alert_id: String,
}

/// `POST /cases/{id}/merge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The cases to merge into this one (ids or `CASE-<n>`), 1 to 50.
    #[schema(min_items = 1, max_items = 50)]
    pub sources: Vec<String>,
    /// The disposition the sources close with when this case has none.
    #[serde(default)]
    #[schema(value_type = Option<DispositionName>)]
    pub disposition: Option<Disposition>,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MergeView {
    /// The surviving case.
    pub target: CaseDetail,
    /// The merged cases, now closed and linked to it.
    pub merged: Vec<CaseSummary>,
    /// What its timeline records.
    pub summary: String,
}

/// One entry of a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseEventView {
    /// The case.
    pub case_id: Uuid,
    /// Position in the timeline, from 1, without gaps.
    pub seq: i64,
    /// The kind (`created`, `status_change`, `comment_added`, ...).
    pub kind: String,
    /// The kind's payload: old and new values.
    pub payload: Value,
    /// Who did it.
    pub actor: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash: SHA-256 over `prev_hash` and the canonical entry.
    pub hash: String,
}

impl From<&CaseEvent> for CaseEventView {
    fn from(e: &CaseEvent) -> Self {
        Self {
            case_id: e.aggregate_id.0,
            seq: e.seq,
            kind: e.kind.to_string(),
            payload: e.payload.clone(),
            actor: e.actor.clone(),
            created_at: e.created_at,
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// A page of a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaseTimelinePage {
    /// Entries after `after_seq`, in seq order.
    pub items: Vec<CaseEventView>,
    /// The case's newest seq.
    pub last_seq: i64,
}

/// The outcome of verifying a case's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseAuditReport {
    /// The case.
    pub case_id: Uuid,
    /// Whether every seq, hash and link checks out and the row follows
    /// from the timeline.
    pub valid: bool,
    /// Entries checked.
    pub events_checked: i64,
    /// The seq of the first problem.
    pub broken_at_seq: Option<i64>,
    /// What is wrong there.
    pub problem: Option<String>,
    /// Fields of the case its (intact) timeline does not support.
    #[serde(default)]
    pub mismatches: Vec<MismatchView>,
}

impl From<&ChainReport<CaseLog>> for CaseAuditReport {
    fn from(r: &ChainReport<CaseLog>) -> Self {
        let v = Verdict::of(r, "the case");
        Self {
            case_id: r.aggregate_id.0,
            valid: v.valid,
            events_checked: v.events_checked,
            broken_at_seq: v.broken_at_seq,
            problem: v.problem,
            mismatches: v.mismatches,
        }
    }
}

/// An observable on a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ObservableView {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    #[schema(value_type = ObservableTypeName)]
    pub kind: String,
    /// The normalized value, unique per case and type.
    pub value: String,
    /// Where it was seen first.
    pub source: Option<String>,
    /// How often it was reported.
    pub sightings: i64,
    /// First report.
    pub first_seen: DateTime<Utc>,
    /// Last report.
    pub last_seen: DateTime<Utc>,
    /// TLP marking.
    #[schema(value_type = TlpName)]
    pub tlp: String,
    /// PAP marking.
    #[schema(value_type = PapName)]
    pub pap: String,
    /// Enrichment context (a JSON object).
    pub enrichment: Value,
    /// Labels.
    pub tags: Vec<String>,
    /// Who reported it first.
    pub created_by: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Observable> for ObservableView {
    fn from(o: &Observable) -> Self {
        Self {
            id: o.id.0,
            case_id: o.case_id.0,
            kind: o.kind.to_string(),
            value: o.value.clone(),
            source: o.source.clone(),
            sightings: o.sightings,
            first_seen: o.first_seen,
            last_seen: o.last_seen,
            tlp: o.tlp.to_string(),
            pap: o.pap.to_string(),
            enrichment: o.enrichment.clone(),
            tags: o.tags.clone(),
            created_by: o.created_by.clone(),
            updated_at: o.updated_at,
        }
    }
}

/// `POST /cases/{id}/observables`: a new value, or another sighting of
/// one the case holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservableBody {
    /// Its type.
    #[serde(rename = "type")]
    #[schema(value_type = ObservableTypeName)]
    pub kind: ObservableType,
    /// The value as seen (it is normalized: see `docs/cases.md`).
    #[schema(min_length = 1, max_length = 4096)]
    pub value: String,
    /// Where it was seen; at most 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub source: Option<String>,
    /// TLP marking (`amber` for a new value when not given).
    #[serde(default)]
    #[schema(value_type = Option<TlpName>)]
    pub tlp: Option<Tlp>,
    /// PAP marking (`amber` for a new value when not given).
    #[serde(default)]
    #[schema(value_type = Option<PapName>)]
    pub pap: Option<Pap>,
    /// Labels.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// Enrichment context: a JSON object, merged into what is there.
    #[serde(default)]
    pub enrichment: Option<serde_json::Map<String, Value>>,
}

/// `PATCH /cases/{id}/observables/{observable_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservablePatchBody {
    /// TLP marking.
    #[serde(default)]
    #[schema(value_type = Option<TlpName>)]
    pub tlp: Option<Tlp>,
    /// PAP marking.
    #[serde(default)]
    #[schema(value_type = Option<PapName>)]
    pub pap: Option<Pap>,
    /// Labels (replaces them).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// Enrichment context (replaces it): a JSON object.
    #[serde(default)]
    pub enrichment: Option<serde_json::Map<String, Value>>,
}

/// An evidence item (without its content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceView {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its kind.
    #[schema(value_type = EvidenceKindName)]
    pub kind: String,
    /// What it is.
    pub description: String,
    /// The artifact's SHA-256, hex.
    pub sha256: String,
    /// Its size in bytes, when known.
    pub size_bytes: Option<i64>,
    /// Where it is kept, when not stored with the case.
    pub uri: Option<String>,
    /// Whether the content is stored with the case (download it from
    /// `/content`).
    pub stored: bool,
    /// Who collected it.
    pub collected_by: String,
    /// When.
    pub collected_at: DateTime<Utc>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl From<&Evidence> for EvidenceView {
    fn from(e: &Evidence) -> Self {
        Self {
            id: e.id.0,
            case_id: e.case_id.0,
            name: e.name.clone(),
            kind: e.kind.to_string(),
            description: e.description.clone(),
            sha256: e.sha256.clone(),
            size_bytes: e.size_bytes,
            uri: e.uri.clone(),
            stored: e.uri.is_none(),
            collected_by: e.collected_by.clone(),
            collected_at: e.collected_at,
            created_at: e.created_at,
        }
    }
}

/// `POST /cases/{id}/evidence`: exactly one of `content_base64`,
/// `content_text` (stored with the case, hashed here) or `uri` (kept
/// elsewhere; `sha256` then required).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBody {
    /// Its name: not blank, at most 200 characters.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub name: String,
    /// Its kind.
    #[schema(value_type = EvidenceKindName)]
    pub kind: EvidenceKind,
    /// What it is.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    /// The artifact, base64 (standard alphabet).
    #[serde(default)]
    pub content_base64: Option<String>,
    /// The artifact as UTF-8 text (a log excerpt).
    #[serde(default)]
    pub content_text: Option<String>,
    /// Where the artifact is kept.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub uri: Option<String>,
    /// Its SHA-256, hex: checked against stored content, required with `uri`.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Its size in bytes: checked against stored content.
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    pub size_bytes: Option<i64>,
    /// When it was collected (now when not given).
    #[serde(default)]
    pub collected_at: Option<DateTime<Utc>>,
}

/// A chain-of-custody record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustodyView {
    /// Its id.
    pub id: Uuid,
    /// The evidence item.
    pub evidence_id: Uuid,
    /// What happened.
    #[schema(value_type = CustodyActionName)]
    pub action: String,
    /// Who had it.
    pub from: Option<String>,
    /// Who has it now.
    pub to: Option<String>,
    /// A note.
    pub note: Option<String>,
    /// Who recorded it.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<&CustodyRecord> for CustodyView {
    fn from(c: &CustodyRecord) -> Self {
        Self {
            id: c.id.0,
            evidence_id: c.evidence_id.0,
            action: c.action.to_string(),
            from: c.from.clone(),
            to: c.to.clone(),
            note: c.note.clone(),
            actor: c.actor.clone(),
            at: c.at,
        }
    }
}

/// `POST /cases/{id}/evidence/{evidence_id}/custody`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustodyBody {
    /// What happened.
    #[schema(value_type = CustodyActionName)]
    pub action: CustodyAction,
    /// Who had it.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub from: Option<String>,
    /// Who has it now (required for `transferred`).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub to: Option<String>,
    /// A note.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// A comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CommentView {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// Who wrote it.
    pub author: String,
    /// `analyst` (a person) or `machine` (an agent or pipeline).
    pub author_kind: String,
    /// `note`, or `ai_summary`: the result of a `summarize` investigation
    /// (the newest one is the case's current AI summary).
    #[schema(value_type = String, pattern = "^(note|ai_summary)$")]
    pub kind: String,
    /// The text.
    pub body: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<&Comment> for CommentView {
    fn from(c: &Comment) -> Self {
        Self {
            id: c.id.0,
            case_id: c.case_id.0,
            author: c.author.clone(),
            author_kind: c.author_kind.to_string(),
            kind: c.kind.to_string(),
            body: c.body.clone(),
            created_at: c.created_at,
        }
    }
}

/// `POST /cases/{id}/comments`. The author is the caller; the kind follows
/// its roles (an orchestrator writes machine-authored notes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    /// The text: not blank, at most 20 000 characters.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 20000
    )]
    pub body: String,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    /// Its id.
    pub id: Uuid,
    /// The case.
    pub case_id: Uuid,
    /// The title.
    pub title: String,
    /// What to do.
    pub description: String,
    /// Its status.
    #[schema(value_type = TaskStatusName)]
    pub status: String,
    /// Its priority.
    #[schema(value_type = TaskPriorityName)]
    pub priority: String,
    /// Who does it.
    pub assignee: Option<String>,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
    /// When it was done (cleared when reopened).
    pub completed_at: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Task> for TaskView {
    fn from(t: &Task) -> Self {
        Self {
            id: t.id.0,
            case_id: t.case_id.0,
            title: t.title.clone(),
            description: t.description.clone(),
            status: t.status.to_string(),
            priority: t.priority.to_string(),
            assignee: t.assignee.clone(),
            due_at: t.due_at,
            completed_at: t.completed_at,
            created_by: t.created_by.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// `POST /cases/{id}/tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// The title: not blank, at most 200 characters.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub title: String,
    /// What to do.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    /// `medium` when not given.
    #[serde(default)]
    #[schema(value_type = Option<TaskPriorityName>)]
    pub priority: Option<TaskPriority>,
    /// Who does it.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub assignee: Option<String>,
    /// When it is due.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
}

/// `PATCH /cases/{id}/tasks/{task_id}`: only the fields given change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatchBody {
    /// The title: not blank, at most 200 characters.
    #[serde(default)]
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub title: Option<String>,
    /// What to do.
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    /// A new status (`done` sets `completed_at`; leaving it clears it).
    #[serde(default)]
    #[schema(value_type = Option<TaskStatusName>)]
    pub status: Option<TaskStatus>,
    /// The priority.
    #[serde(default)]
    #[schema(value_type = Option<TaskPriorityName>)]
    pub priority: Option<TaskPriority>,
    /// Who does it; `null` unassigns.
    #[serde(
        default,
        deserialize_with = "crate::extract::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 200)]
    pub assignee: Option<Option<String>>,
    /// When it is due; `null` clears it.
    #[serde(
        default,
        deserialize_with = "crate::extract::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_at: Option<Option<DateTime<Utc>>>,
}

/// A case related to another by shared observables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RelatedCaseView {
    /// Its id.
    pub id: Uuid,
    /// Its number.
    pub number: String,
    /// Its title.
    pub title: String,
    /// Its severity.
    #[schema(value_type = SeverityName)]
    pub severity: String,
    /// Its status.
    #[schema(value_type = CaseStatusName)]
    pub status: String,
    /// What they share: `{type, value}` pairs, at least two.
    pub shared: Vec<SharedObservableView>,
    /// How much they overlap (shared over the distinct observables of
    /// both, Jaccard), 0..1.
    pub score: f64,
}

/// An observable two cases share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SharedObservableView {
    /// Its type.
    #[serde(rename = "type")]
    #[schema(value_type = ObservableTypeName)]
    pub kind: String,
    /// Its value.
    pub value: String,
}

impl From<&RelatedCase> for RelatedCaseView {
    fn from(related: &RelatedCase) -> Self {
        let c = &related.case;
        Self {
            id: c.id.0,
            number: c.number.to_string(),
            title: c.title.clone(),
            severity: c.severity.to_string(),
            status: c.status.to_string(),
            shared: related
                .shared
                .iter()
                .map(|s| SharedObservableView {
                    kind: s.kind.to_string(),
                    value: s.value.clone(),
                })
                .collect(),
            score: related.score,
        }
    }
}

//! The case timeline: a sealed log of typed entries, `case_events`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::comment::{AuthorKind, CommentId, CommentKind};
use super::evidence::{CustodyAction, CustodyId, EvidenceId, EvidenceKind};
use super::model::{CaseId, CaseNumber, CaseStatus, Disposition, Severity};
use super::observable::{ObservableId, ObservableType, Pap, Tlp};
use super::task::{TaskId, TaskPriority, TaskStatus};
use crate::approval::{ApprovalId, Decision};
use crate::event::DecodeError;
use crate::log::{Aggregate, Body, Entry, EntryKind, LogName};
use crate::model::{InvestigationId, wire_enum};

wire_enum! {
    /// The kind of a timeline entry, as stored in `case_events.kind`.
    CaseEventKind {
        /// The case was created.
        Created => "created",
        /// Its status changed.
        StatusChange => "status_change",
        /// Its assignee changed.
        AssignmentChange => "assignment_change",
        /// Its severity changed.
        SeverityChange => "severity_change",
        /// Another of its fields changed.
        FieldChange => "field_change",
        /// A comment was added.
        CommentAdded => "comment_added",
        /// A new observable was added.
        ObservableAdded => "observable_added",
        /// An observable was seen again or edited.
        ObservableUpdated => "observable_updated",
        /// An evidence item was registered.
        EvidenceAdded => "evidence_added",
        /// A custody record was written for one of its evidence items.
        CustodyRecorded => "custody_recorded",
        /// A task was created.
        TaskCreated => "task_created",
        /// A task's status changed.
        TaskStatusChange => "task_status_change",
        /// A task's other fields changed.
        TaskUpdated => "task_updated",
        /// An alert was linked.
        AlertLinked => "alert_linked",
        /// Cases were merged (written on the surviving case and on each
        /// merged one).
        CaseMerged => "case_merged",
        /// The case was deleted.
        CaseDeleted => "case_deleted",
        /// An investigation was dispatched for the case.
        InvestigationLinked => "investigation_linked",
        /// An investigation's result was written back to the case.
        ResultWritten => "result_written",
        /// A `summarize` investigation's result was written back as the
        /// case's AI summary.
        SummaryWritten => "summary_written",
        /// A linked investigation ended needing a person (review_required,
        /// failed): what they must do.
        InvestigationNeedsAttention => "investigation_needs_attention",
        /// An action for the case waits on a person's approval.
        ApprovalRequested => "approval_requested",
        /// The approval was decided.
        ApprovalDecided => "approval_decided",
        /// Nobody decided in time.
        ApprovalExpired => "approval_expired",
    }
}

/// One field's old and new value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The field's name.
    pub field: String,
    /// Its value before.
    pub old: Value,
    /// Its value after.
    pub new: Value,
}

/// A case as another case's timeline names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRef {
    /// The case.
    pub id: CaseId,
    /// Its number.
    pub number: CaseNumber,
}

/// Which side of a merge a `case_merged` entry is written on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum MergeRole {
    /// The surviving case, which received the others' records.
    Target {
        /// The cases merged into it.
        sources: Vec<CaseRef>,
    },
    /// A case merged into another and closed.
    Source {
        /// The surviving case.
        target: CaseRef,
    },
}

/// The typed body of a timeline entry: its kind and payload together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum CaseEventBody {
    /// The case was created.
    Created {
        /// Its number.
        number: CaseNumber,
        /// Its title.
        title: String,
        /// Its severity.
        severity: Severity,
        /// Its first status (always `open`).
        status: CaseStatus,
        /// Its description.
        description: String,
        /// Its assignee.
        assignee: Option<String>,
        /// Whether actions need a person's approval.
        requires_human_approval: bool,
        /// Its confidence.
        confidence: Option<f64>,
        /// Its tags.
        tags: Vec<String>,
    },
    /// The status changed (a reopen clears the disposition; this entry
    /// keeps the old one).
    StatusChange {
        /// The status before.
        from: CaseStatus,
        /// The status after.
        to: CaseStatus,
        /// The disposition before.
        disposition_from: Option<Disposition>,
        /// The disposition after.
        disposition_to: Option<Disposition>,
        /// Why, if said (required to reopen).
        reason: Option<String>,
    },
    /// The assignee changed.
    AssignmentChange {
        /// The assignee before.
        from: Option<String>,
        /// The assignee after.
        to: Option<String>,
    },
    /// The severity changed.
    SeverityChange {
        /// The severity before.
        from: Severity,
        /// The severity after.
        to: Severity,
    },
    /// Another field changed (title, description, tags,
    /// requires_human_approval, confidence, confidence_reason).
    FieldChange(Change),
    /// A comment was added.
    CommentAdded {
        /// The comment.
        comment_id: CommentId,
        /// A person or a machine.
        author_kind: AuthorKind,
        /// A note or the AI summary (absent: a note).
        #[serde(default, skip_serializing_if = "CommentKind::is_note")]
        kind: CommentKind,
        /// Its text.
        body: String,
    },
    /// A new observable was added.
    ObservableAdded {
        /// The observable.
        observable_id: ObservableId,
        /// Its type.
        #[serde(rename = "type")]
        kind: ObservableType,
        /// Its normalized value.
        value: String,
        /// Its source.
        source: Option<String>,
        /// Its TLP.
        tlp: Tlp,
        /// Its PAP.
        pap: Pap,
    },
    /// An observable was seen again (`sightings` and `last_seen` change)
    /// or edited (TLP, PAP, tags, enrichment).
    ObservableUpdated {
        /// The observable.
        observable_id: ObservableId,
        /// Its type.
        #[serde(rename = "type")]
        kind: ObservableType,
        /// Its value.
        value: String,
        /// What changed.
        changes: Vec<Change>,
    },
    /// An evidence item was registered.
    EvidenceAdded {
        /// The item.
        evidence_id: EvidenceId,
        /// Its name.
        name: String,
        /// What it is.
        evidence_kind: EvidenceKind,
        /// Its content's SHA-256.
        sha256: String,
        /// Its content's size.
        size_bytes: Option<i64>,
        /// Where external content lives (`None`: stored).
        uri: Option<String>,
    },
    /// A custody record was written.
    CustodyRecorded {
        /// The record.
        custody_id: CustodyId,
        /// The evidence item.
        evidence_id: EvidenceId,
        /// What happened.
        action: CustodyAction,
        /// Who handed it over.
        from: Option<String>,
        /// Who received it.
        to: Option<String>,
        /// The note.
        note: Option<String>,
    },
    /// A task was created.
    TaskCreated {
        /// The task.
        task_id: TaskId,
        /// Its title.
        title: String,
        /// Its status.
        status: TaskStatus,
        /// Its priority.
        priority: TaskPriority,
        /// Its assignee.
        assignee: Option<String>,
        /// When it is due.
        due_at: Option<DateTime<Utc>>,
    },
    /// A task's status changed.
    TaskStatusChange {
        /// The task.
        task_id: TaskId,
        /// Its title.
        title: String,
        /// The status before.
        from: TaskStatus,
        /// The status after.
        to: TaskStatus,
    },
    /// A task's other fields changed.
    TaskUpdated {
        /// The task.
        task_id: TaskId,
        /// What changed.
        changes: Vec<Change>,
    },
    /// An alert was linked.
    AlertLinked {
        /// The alert.
        alert_id: String,
    },
    /// Cases were merged.
    CaseMerged {
        /// This case's side of it.
        #[serde(flatten)]
        role: MergeRole,
        /// Alerts moved to the surviving case.
        alerts: i64,
        /// Observables moved (an observable the surviving case already had
        /// counts once; its sightings are summed).
        observables: i64,
        /// Evidence items moved.
        evidence: i64,
        /// Comments moved.
        comments: i64,
        /// Tasks moved.
        tasks: i64,
        /// A sentence: `Merged 2 cases: 5 alerts, 3 observables moved`.
        summary: String,
    },
    /// The case was deleted; its alerts were detached.
    CaseDeleted {
        /// Why, if said.
        reason: Option<String>,
        /// The alerts that were linked.
        alerts_detached: Vec<String>,
    },
    /// An investigation was dispatched for the case.
    InvestigationLinked {
        /// The investigation.
        investigation_id: InvestigationId,
        /// Its agent.
        agent_id: String,
        /// What it is for (absent: `investigate`).
        #[serde(
            default,
            skip_serializing_if = "crate::model::CasePurpose::is_investigate"
        )]
        purpose: crate::model::CasePurpose,
    },
    /// An investigation's result was written back (once per completion:
    /// the investigation reaches `completed` once).
    ResultWritten {
        /// The investigation.
        investigation_id: InvestigationId,
        /// Its agent.
        agent_id: String,
        /// The result's summary.
        summary: Option<String>,
        /// The result's key findings.
        #[serde(default)]
        key_findings: Vec<String>,
        /// The result's recommended next steps.
        #[serde(default)]
        recommended_next_steps: Vec<String>,
        /// Its confidence.
        confidence: Option<f64>,
        /// Where to read it: `/api/v1/investigations/{id}`.
        link: String,
        /// The investigation's audit head when it completed: its last seq.
        audit_seq: i64,
        /// ... and that event's hash.
        audit_hash: String,
        /// The observables registered from the result (type:value).
        #[serde(default)]
        observables: Vec<String>,
        /// The status before, when the write-back moved the case.
        status_from: Option<CaseStatus>,
        /// The status after, when the write-back moved the case.
        status_to: Option<CaseStatus>,
    },
    /// A `summarize` investigation's result was written back as the case's
    /// AI summary (the `ai_summary` comment written with it).
    SummaryWritten {
        /// The investigation.
        investigation_id: InvestigationId,
        /// Its agent.
        agent_id: String,
        /// The comment holding the summary.
        comment_id: CommentId,
        /// The summary.
        summary: Option<String>,
        /// Immediate actions it recommends.
        #[serde(default)]
        immediate_actions: Vec<String>,
        /// Long-term remediation it recommends.
        #[serde(default)]
        long_term_remediation: Vec<String>,
        /// Policy changes it recommends.
        #[serde(default)]
        policy_changes: Vec<String>,
        /// Similar past cases it names.
        #[serde(default)]
        similar_cases: Vec<String>,
        /// Where to read it: `/api/v1/investigations/{id}`.
        link: String,
        /// The investigation's audit head when it completed: its last seq.
        audit_seq: i64,
        /// ... and that event's hash.
        audit_hash: String,
    },
    /// A linked investigation stopped without a result a case can take
    /// (`review_required`, `failed`, or `dead_lettered` by the reaper):
    /// what a person must do.
    InvestigationNeedsAttention {
        /// The investigation.
        investigation_id: InvestigationId,
        /// Its status: `review_required`, `failed` or `dead_lettered`.
        outcome: crate::model::Status,
        /// Why (the investigation's error).
        reason: Option<String>,
        /// What a person must do.
        action: String,
        /// Where to read it: `/api/v1/investigations/{id}`.
        link: String,
        /// The investigation's audit head: its last seq.
        audit_seq: i64,
        /// ... and that event's hash.
        audit_hash: String,
    },
    /// An action for the case waits on approval.
    ApprovalRequested {
        /// The approval request.
        approval_id: ApprovalId,
        /// The investigation that asked.
        investigation_id: InvestigationId,
        /// The action (tool name).
        action: String,
        /// The status before, when the request moved the case.
        status_from: Option<CaseStatus>,
        /// The status after (`pending_approval`), when it moved the case.
        status_to: Option<CaseStatus>,
    },
    /// The approval was decided.
    ApprovalDecided {
        /// The approval request.
        approval_id: ApprovalId,
        /// The answer.
        decision: Decision,
        /// The approver.
        decided_by: String,
        /// Their comment.
        #[serde(default)]
        comment: Option<String>,
        /// The status before, when the decision moved the case.
        status_from: Option<CaseStatus>,
        /// The status after, when the decision moved the case.
        status_to: Option<CaseStatus>,
    },
    /// Nobody decided in time.
    ApprovalExpired {
        /// The approval request.
        approval_id: ApprovalId,
        /// The status before, when the expiry moved the case.
        status_from: Option<CaseStatus>,
        /// The status after, when the expiry moved the case.
        status_to: Option<CaseStatus>,
    },
}

impl CaseEventBody {
    /// The body's kind.
    pub fn kind(&self) -> CaseEventKind {
        match self {
            CaseEventBody::Created { .. } => CaseEventKind::Created,
            CaseEventBody::StatusChange { .. } => CaseEventKind::StatusChange,
            CaseEventBody::AssignmentChange { .. } => CaseEventKind::AssignmentChange,
            CaseEventBody::SeverityChange { .. } => CaseEventKind::SeverityChange,
            CaseEventBody::FieldChange(_) => CaseEventKind::FieldChange,
            CaseEventBody::CommentAdded { .. } => CaseEventKind::CommentAdded,
            CaseEventBody::ObservableAdded { .. } => CaseEventKind::ObservableAdded,
            CaseEventBody::ObservableUpdated { .. } => CaseEventKind::ObservableUpdated,
            CaseEventBody::EvidenceAdded { .. } => CaseEventKind::EvidenceAdded,
            CaseEventBody::CustodyRecorded { .. } => CaseEventKind::CustodyRecorded,
            CaseEventBody::TaskCreated { .. } => CaseEventKind::TaskCreated,
            CaseEventBody::TaskStatusChange { .. } => CaseEventKind::TaskStatusChange,
            CaseEventBody::TaskUpdated { .. } => CaseEventKind::TaskUpdated,
            CaseEventBody::AlertLinked { .. } => CaseEventKind::AlertLinked,
            CaseEventBody::CaseMerged { .. } => CaseEventKind::CaseMerged,
            CaseEventBody::CaseDeleted { .. } => CaseEventKind::CaseDeleted,
            CaseEventBody::InvestigationLinked { .. } => CaseEventKind::InvestigationLinked,
            CaseEventBody::ResultWritten { .. } => CaseEventKind::ResultWritten,
            CaseEventBody::SummaryWritten { .. } => CaseEventKind::SummaryWritten,
            CaseEventBody::InvestigationNeedsAttention { .. } => {
                CaseEventKind::InvestigationNeedsAttention
            }
            CaseEventBody::ApprovalRequested { .. } => CaseEventKind::ApprovalRequested,
            CaseEventBody::ApprovalDecided { .. } => CaseEventKind::ApprovalDecided,
            CaseEventBody::ApprovalExpired { .. } => CaseEventKind::ApprovalExpired,
        }
    }

    /// The body's payload as JSON (without the kind).
    pub fn payload(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut map)) => map.remove("payload").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// Rebuilds a body from a stored kind and payload.
    pub fn decode(kind: CaseEventKind, payload: &Value) -> Result<Self, DecodeError> {
        let tagged = serde_json::json!({ "kind": kind.as_str(), "payload": payload });
        serde_json::from_value(tagged).map_err(|source| DecodeError {
            kind: kind.as_str().to_owned(),
            source,
        })
    }
}

/// The case timeline: `case_events`, keyed by `case_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseLog;

impl Aggregate for CaseLog {
    const LOG: LogName = LogName::Case;
    const ID_KEY: &'static str = "case_id";
    type Id = CaseId;
    type Kind = CaseEventKind;
}

impl EntryKind for CaseEventKind {
    fn as_str(self) -> &'static str {
        CaseEventKind::as_str(self)
    }
}

impl Body<CaseLog> for CaseEventBody {
    fn kind(&self) -> CaseEventKind {
        CaseEventBody::kind(self)
    }

    fn payload(&self) -> Value {
        CaseEventBody::payload(self)
    }
}

/// A stored timeline entry: one row of `case_events` (see [`crate::log`]).
pub type CaseEvent = Entry<CaseLog>;

impl CaseEvent {
    /// The case.
    pub fn case_id(&self) -> CaseId {
        self.aggregate_id
    }

    /// The typed body.
    pub fn body(&self) -> Result<CaseEventBody, DecodeError> {
        CaseEventBody::decode(self.kind, &self.payload)
    }
}

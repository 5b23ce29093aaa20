//! The pure case machine: every change to a case is decided here.
//!
//! [`transition`] takes the case as stored (or `None` for a create), a
//! [`CaseCommand`] and the time, and returns the next row, the timeline
//! entries (sealed onto the case's log) and the writes to the records
//! beside it ([`CaseWrite`]). [`merge`] does the same for a merge, which
//! changes several cases at once. Neither does IO. Records the decision
//! depends on (the observable already stored under a value, the task being
//! edited, the case an alert already belongs to) are read by the store under
//! the case's lock and handed over in the command.
//!
//! The match over actions is exhaustive with no catch-all arm. Each action
//! is decided by one function: `lifecycle` (create, update and status,
//! delete), `records` (alerts, observables, evidence, custody, comments,
//! tasks) and `merge`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::comment::{AuthorKind, Comment, CommentId, CommentKind};
use super::event::{CaseEvent, CaseEventBody};
use super::evidence::{
    CustodyAction, CustodyId, CustodyRecord, Evidence, EvidenceId, EvidenceKind,
};
use super::model::{Case, CaseId, CaseNumber, CaseStatus, Disposition, Severity};
use super::observable::{Observable, ObservableId, ObservableType, Pap, Tlp};
use super::task::{Task, TaskId, TaskPriority, TaskStatus, TaskTransitionError};
use crate::log::seal;

mod investigations;
mod lifecycle;
mod merging;
mod records;

pub use investigations::{
    APPROVAL_EXPIRED_NOTE, Facts, InvestigationEffect, follow, investigation_actor,
    investigation_effects, may_link, may_summarize,
};

pub use merging::{MAX_MERGE_SOURCES, MergeSource, MergeTransition, merge};

/// The default most bytes of evidence content stored in the database: 10 MiB.
pub const DEFAULT_EVIDENCE_LIMIT: u64 = 10 * 1024 * 1024;

/// Longest free-text fields (description, comment body), in characters.
pub(crate) const MAX_TEXT: usize = 20_000;
/// Longest names (assignee, source, alert id, tag, party), in characters.
pub(crate) const MAX_NAME: usize = 200;
/// Longest reasons and notes, in characters.
pub(crate) const MAX_REASON: usize = 2_000;
/// Most tags on a case or observable.
pub(crate) const MAX_TAGS: usize = 50;
/// Longest tag, in characters.
pub(crate) const MAX_TAG: usize = 64;
/// Largest enrichment document, in bytes of compact JSON.
pub(crate) const MAX_ENRICHMENT: usize = 64 * 1024;

/// A new case, as a caller asks for it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewCase {
    /// Required, at most [`Case::MAX_TITLE`] characters.
    pub title: String,
    /// How severe.
    pub severity: Severity,
    /// Free text.
    pub description: String,
    /// The owner, if any.
    pub assignee: Option<String>,
    /// Whether actions need a person's approval.
    pub requires_human_approval: bool,
    /// 0..1.
    pub confidence: Option<f64>,
    /// Why that confidence.
    pub confidence_reason: Option<String>,
    /// Labels (trimmed, lower-cased, each kept once).
    pub tags: Vec<String>,
    /// Alerts to link at once (each becomes an `alert_linked` entry).
    pub alert_ids: Vec<String>,
}

/// A status change: where to, with which disposition, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The status to move to.
    pub to: CaseStatus,
    /// Required to reach `resolved` or `closed` unless the case has one
    /// already (it is kept then); refused for any other status.
    pub disposition: Option<Disposition>,
    /// Why; required to reopen (`closed -> open`).
    pub reason: Option<String>,
}

/// Changes to a case's fields; `None` leaves a field as it is, and
/// `Some(None)` clears an optional one.
///
/// A patch that reopens a closed case applies the reopen first, so the
/// reopened case takes the field changes; any other patch applies its
/// fields first, then its status change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CasePatch {
    /// A new title.
    pub title: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new severity.
    pub severity: Option<Severity>,
    /// A new assignee, or `Some(None)` to unassign.
    pub assignee: Option<Option<String>>,
    /// Whether actions need a person's approval.
    pub requires_human_approval: Option<bool>,
    /// A new confidence, or `Some(None)` to clear it.
    pub confidence: Option<Option<f64>>,
    /// A new confidence reason, or `Some(None)` to clear it.
    pub confidence_reason: Option<Option<String>>,
    /// The new tag set.
    pub tags: Option<Vec<String>>,
    /// A status change.
    pub status: Option<StatusChange>,
}

impl CasePatch {
    /// Whether it changes anything but the status.
    pub fn has_fields(&self) -> bool {
        self.title.is_some()
            || self.description.is_some()
            || self.severity.is_some()
            || self.assignee.is_some()
            || self.requires_human_approval.is_some()
            || self.confidence.is_some()
            || self.confidence_reason.is_some()
            || self.tags.is_some()
    }
}

/// An observable as a caller reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewObservable {
    /// What the value is.
    pub kind: ObservableType,
    /// The value as given; stored as [`super::normalize`] gives it.
    pub value: String,
    /// Where it was seen.
    pub source: Option<String>,
    /// Sharing marking (`amber` when not given) of a new observable.
    pub tlp: Option<Tlp>,
    /// Action marking (`amber` when not given) of a new observable.
    pub pap: Option<Pap>,
    /// Labels, added to any it has.
    pub tags: Vec<String>,
    /// Enrichment context (a JSON object); for a value seen before its keys
    /// are merged into the stored object.
    pub enrichment: Option<Value>,
}

/// Edits to an observable's markings and context.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservablePatch {
    /// A new TLP.
    pub tlp: Option<Tlp>,
    /// A new PAP.
    pub pap: Option<Pap>,
    /// The new tag set.
    pub tags: Option<Vec<String>>,
    /// The new enrichment object (replaces the stored one).
    pub enrichment: Option<Value>,
}

/// An evidence item as a caller registers it: either its `content`, stored
/// in the database, or the `uri` where it lives with its `sha256`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewEvidence {
    /// A short name.
    pub name: String,
    /// What it is.
    pub kind: EvidenceKind,
    /// Free text.
    pub description: String,
    /// The content, stored in the database (at most the store's limit).
    pub content: Option<Vec<u8>>,
    /// Where external content lives.
    pub uri: Option<String>,
    /// The content's SHA-256: required with `uri`; with `content`, checked
    /// against the content if given.
    pub sha256: Option<String>,
    /// The content's size: optional with `uri`; with `content`, checked if
    /// given.
    pub size_bytes: Option<i64>,
    /// Who collected it (the caller when not given).
    pub collected_by: Option<String>,
    /// When (now when not given).
    pub collected_at: Option<DateTime<Utc>>,
}

/// [`NewEvidence`] with the store's content limit.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceInput {
    /// The new item.
    pub evidence: NewEvidence,
    /// The most content bytes the store keeps.
    pub max_content_bytes: u64,
}

/// A custody record as a caller writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustody {
    /// What happened.
    pub action: CustodyAction,
    /// Who handed it over.
    pub from: Option<String>,
    /// Who received it (required for `transferred`).
    pub to: Option<String>,
    /// A note.
    pub note: Option<String>,
}

/// A comment as a caller writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    /// A person or a machine.
    pub author_kind: AuthorKind,
    /// A note (what people and agents write) or the AI summary.
    pub kind: CommentKind,
    /// The text (required).
    pub body: String,
}

/// A task as a caller creates it (status `todo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewTask {
    /// Required, at most 200 characters.
    pub title: String,
    /// Free text.
    pub description: String,
    /// `medium` when not given.
    pub priority: Option<TaskPriority>,
    /// Who works it.
    pub assignee: Option<String>,
    /// When it is due.
    pub due_at: Option<DateTime<Utc>>,
}

/// Edits to a task; `None` leaves a field as it is, `Some(None)` clears an
/// optional one. A status change goes through [`super::task_transition`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskPatch {
    /// A new title.
    pub title: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new status.
    pub status: Option<TaskStatus>,
    /// A new priority.
    pub priority: Option<TaskPriority>,
    /// A new assignee, or `Some(None)` to unassign.
    pub assignee: Option<Option<String>>,
    /// A new due time, or `Some(None)` to clear it.
    pub due_at: Option<Option<DateTime<Utc>>>,
}

/// What to do to a case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseAction {
    /// Create a case (from nothing to `open`).
    Create {
        /// Its id (a UUID v7 from the store's clock).
        id: CaseId,
        /// Its number (from the store's sequence).
        number: CaseNumber,
        /// What the caller asked for.
        case: NewCase,
        /// The case each of `case.alert_ids` already belongs to, if any.
        alert_owners: HashMap<String, CaseId>,
    },
    /// Change fields and/or the status.
    Update(CasePatch),
    /// Soft-delete: detach its alerts; the case stays readable.
    Delete {
        /// Why.
        reason: Option<String>,
    },
    /// Link an alert. Linking an alert the case already has changes nothing.
    LinkAlert {
        /// The alert.
        alert_id: String,
        /// The case the alert already belongs to, if any.
        owner: Option<CaseId>,
    },
    /// Report an observable: a new one, or another sighting of one stored.
    AddObservable {
        /// The id a new observable gets.
        id: ObservableId,
        /// What was reported.
        observable: NewObservable,
        /// The observable the case already holds under the same type and
        /// normalized value, if any.
        existing: Option<Observable>,
    },
    /// Edit an observable of the case.
    UpdateObservable {
        /// The observable as stored.
        current: Observable,
        /// The edits.
        patch: ObservablePatch,
    },
    /// Register an evidence item.
    AddEvidence {
        /// The id the new item gets.
        id: EvidenceId,
        /// The item and the store's limit.
        input: EvidenceInput,
    },
    /// Append to an evidence item's chain of custody.
    RecordCustody {
        /// The id the new record gets.
        id: CustodyId,
        /// The evidence item as stored (it must belong to the case).
        evidence: Evidence,
        /// The record.
        record: NewCustody,
    },
    /// Add a comment.
    AddComment {
        /// The id the new comment gets.
        id: CommentId,
        /// The comment.
        comment: NewComment,
    },
    /// Create a task.
    CreateTask {
        /// The id the new task gets.
        id: TaskId,
        /// The task.
        task: NewTask,
    },
    /// Edit a task of the case.
    UpdateTask {
        /// The task as stored.
        current: Task,
        /// The edits.
        patch: TaskPatch,
    },
}

/// A command: who asks for what.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseCommand {
    /// The principal (or `system:` actor), recorded on every entry.
    pub by: String,
    /// What to do.
    pub action: CaseAction,
}

impl CaseAction {
    /// The command's name, as [`allowed_commands`] lists it.
    pub fn name(&self) -> &'static str {
        match self {
            CaseAction::Create { .. } => "create",
            CaseAction::Update(patch) if !patch.has_fields() && patch.status.is_some() => {
                "change_status"
            }
            CaseAction::Update(_) => "update",
            CaseAction::Delete { .. } => "delete",
            CaseAction::LinkAlert { .. } => "link_alert",
            CaseAction::AddObservable { .. } => "add_observable",
            CaseAction::UpdateObservable { .. } => "update_observable",
            CaseAction::AddEvidence { .. } => "add_evidence",
            CaseAction::RecordCustody { .. } => "record_custody",
            CaseAction::AddComment { .. } => "add_comment",
            CaseAction::CreateTask { .. } => "create_task",
            CaseAction::UpdateTask { .. } => "update_task",
        }
    }
}

/// A write to a record beside the case row, decided with a transition.
/// Stores apply them in order, after writing the case row.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseWrite {
    /// Link `alert_id` to `case_id`.
    LinkAlert {
        /// The case.
        case_id: CaseId,
        /// The alert.
        alert_id: String,
        /// When.
        at: DateTime<Utc>,
        /// By whom.
        by: String,
    },
    /// Detach every alert of `case_id`.
    DetachAlerts {
        /// The case.
        case_id: CaseId,
    },
    /// Move every alert of `from` to `to`.
    MoveAlerts {
        /// The merged case.
        from: CaseId,
        /// The surviving case.
        to: CaseId,
    },
    /// Insert a new observable.
    InsertObservable(Observable),
    /// Write every column of an existing observable (its case included).
    UpdateObservable(Observable),
    /// Delete an observable (one merged into another's count).
    DeleteObservable(ObservableId),
    /// Insert an evidence item with its stored content (`None` for
    /// external content).
    InsertEvidence {
        /// The item.
        evidence: Evidence,
        /// Its content.
        content: Option<Vec<u8>>,
    },
    /// Append a custody record.
    InsertCustody(CustodyRecord),
    /// Insert a comment.
    InsertComment(Comment),
    /// Insert a task.
    InsertTask(Task),
    /// Write every column of an existing task.
    UpdateTask(Task),
    /// Move every evidence item, comment and task of `from` to `to`.
    MoveRecords {
        /// The merged case.
        from: CaseId,
        /// The surviving case.
        to: CaseId,
    },
}

/// The result of a successful transition: persist all of it or none of it.
/// A transition with no entries changed nothing (a patch that sets what is
/// already there, an alert linked twice): stores then write nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseTransition {
    /// The case after the command.
    pub next: Case,
    /// The timeline entries to append, sealed.
    pub entries: Vec<CaseEvent>,
    /// The writes beside the case row, in order.
    pub writes: Vec<CaseWrite>,
}

impl CaseTransition {
    /// Whether it changes anything.
    pub fn changes_anything(&self) -> bool {
        !self.entries.is_empty()
    }
}

/// Why a case command was refused. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseTransitionError {
    /// The command is not accepted in the case's state (absent, closed,
    /// deleted, merged).
    #[error("cannot {command} a case that is {from}")]
    NotAllowed {
        /// The command.
        command: &'static str,
        /// The state ([`Case::state_name`], or `absent`).
        from: String,
        /// The commands that state accepts ([`allowed_commands`]).
        allowed: Vec<&'static str>,
    },
    /// The status change is not allowed from the case's status.
    #[error("a case that is {from} cannot move to {to}")]
    InvalidStatus {
        /// The status.
        from: CaseStatus,
        /// The status asked for.
        to: CaseStatus,
        /// Where it may go ([`CaseStatus::allowed_next`]).
        allowed: Vec<CaseStatus>,
    },
    /// The task status change is not allowed.
    #[error(transparent)]
    InvalidTaskStatus(#[from] TaskTransitionError),
    /// The alert already belongs to another case.
    #[error("alert {alert_id} is already linked to case {case_id}")]
    AlertLinkedElsewhere {
        /// The alert.
        alert_id: String,
        /// The case it belongs to.
        case_id: CaseId,
    },
    /// The command itself is malformed; `field` names what is wrong.
    #[error("invalid {field}: {message}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The commands a case in `case`'s state accepts (`None`: no case yet), by
/// name. A command not listed is refused with
/// [`CaseTransitionError::NotAllowed`]; a listed one may still be refused
/// for other reasons (a status not allowed next, bad input).
///
/// - no case: `create`;
/// - deleted or merged: nothing;
/// - closed: `change_status` (to reopen), `add_comment`, `record_custody`
///   (evidence is archived after closure) and `delete`;
/// - any other: every command, including `merge` (as target or source).
pub fn allowed_commands(case: Option<&Case>) -> Vec<&'static str> {
    let Some(case) = case else {
        return vec!["create"];
    };
    if case.is_retired() {
        return Vec::new();
    }
    if case.status == CaseStatus::Closed {
        return vec!["change_status", "add_comment", "record_custody", "delete"];
    }
    vec![
        "update",
        "change_status",
        "delete",
        "link_alert",
        "add_observable",
        "update_observable",
        "add_evidence",
        "record_custody",
        "add_comment",
        "create_task",
        "update_task",
        "merge",
    ]
}

pub(crate) fn not_allowed(command: &'static str, case: &Case) -> CaseTransitionError {
    CaseTransitionError::NotAllowed {
        command,
        from: case.state_name(),
        allowed: allowed_commands(Some(case)),
    }
}

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> CaseTransitionError {
    CaseTransitionError::InvalidInput {
        field,
        message: message.into(),
    }
}

/// Checks a required single-line or free text: trimmed, not empty, at most
/// `max` characters. Returns it trimmed.
pub(crate) fn required(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, CaseTransitionError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    within(field, trimmed, max)?;
    Ok(trimmed.to_owned())
}

/// Checks an optional text: a blank one is `None`; otherwise trimmed and
/// at most `max` characters.
pub(crate) fn optional(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, CaseTransitionError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => {
            within(field, text, max)?;
            Ok(Some(text.to_owned()))
        }
    }
}

/// Checks free text (possibly empty) is at most `max` characters.
pub(crate) fn within(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), CaseTransitionError> {
    let chars = value.chars().count();
    if chars > max {
        return Err(invalid(
            field,
            format!("must be at most {max} characters, not {chars}"),
        ));
    }
    Ok(())
}

/// Normalizes a tag set: trimmed, lower-cased, blanks refused, each once
/// in first-given order; at most [`MAX_TAGS`] tags of [`MAX_TAG`]
/// characters.
pub(crate) fn tags(
    field: &'static str,
    given: &[String],
) -> Result<Vec<String>, CaseTransitionError> {
    let mut out: Vec<String> = Vec::new();
    for tag in given {
        let tag = required(field, tag, MAX_TAG)?.to_lowercase();
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(invalid(field, format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

pub(crate) fn check_confidence(confidence: Option<f64>) -> Result<(), CaseTransitionError> {
    match confidence {
        Some(c) if !(0.0..=1.0).contains(&c) => {
            Err(invalid("confidence", "must be between 0 and 1"))
        }
        _ => Ok(()),
    }
}

/// What one action decided, before its entries are sealed.
pub(crate) struct Decided {
    bodies: Vec<CaseEventBody>,
    writes: Vec<CaseWrite>,
}

impl Decided {
    fn nothing() -> Self {
        Self {
            bodies: Vec::new(),
            writes: Vec::new(),
        }
    }
}

/// Decides the effect of `command` on `current` at `now`.
///
/// `current` is `None` only for [`CaseAction::Create`]. On success the
/// caller persists `next`, `entries` and `writes` in one transaction (and
/// nothing when there are no entries); on error nothing may be written.
/// Every successful change sets `updated_at` to `now`; `status_changed_at`
/// moves only when the status does.
pub fn transition(
    current: Option<&Case>,
    command: CaseCommand,
    now: DateTime<Utc>,
) -> Result<CaseTransition, CaseTransitionError> {
    let CaseCommand { by, action } = command;
    let by = required("by", &by, MAX_NAME)?;
    let Some(cur) = current else {
        return match action {
            CaseAction::Create {
                id,
                number,
                case,
                alert_owners,
            } => {
                let (next, decided) = lifecycle::create(id, number, case, &alert_owners, &by, now)?;
                Ok(seal_decided(next, decided, &by, now))
            }
            other => Err(CaseTransitionError::NotAllowed {
                command: other.name(),
                from: "absent".to_owned(),
                allowed: allowed_commands(None),
            }),
        };
    };
    // A patch that reopens a closed case is a status change first.
    let name = match &action {
        CaseAction::Update(patch)
            if cur.status == CaseStatus::Closed
                && patch
                    .status
                    .as_ref()
                    .is_some_and(|s| s.to == CaseStatus::Open) =>
        {
            "change_status"
        }
        other => other.name(),
    };
    let accepted = allowed_commands(Some(cur));
    if !accepted.contains(&name) {
        return Err(not_allowed(name, cur));
    }
    let mut next = cur.clone();
    let n = &mut next;
    let decided = match action {
        CaseAction::Create { .. } => Err(not_allowed("create", cur)),
        CaseAction::Update(patch) => lifecycle::update(cur, n, patch, now),
        CaseAction::Delete { reason } => lifecycle::delete(n, reason, now),
        CaseAction::LinkAlert { alert_id, owner } => {
            records::link_alert(n, alert_id, owner, &by, now)
        }
        CaseAction::AddObservable {
            id,
            observable,
            existing,
        } => records::add_observable(n, id, observable, existing, &by, now),
        CaseAction::UpdateObservable { current, patch } => {
            records::update_observable(n, current, patch, now)
        }
        CaseAction::AddEvidence { id, input } => records::add_evidence(n, id, input, &by, now),
        CaseAction::RecordCustody {
            id,
            evidence,
            record,
        } => records::record_custody(n, id, evidence, record, &by, now),
        CaseAction::AddComment { id, comment } => records::add_comment(n, id, comment, &by, now),
        CaseAction::CreateTask { id, task } => records::create_task(n, id, task, &by, now),
        CaseAction::UpdateTask { current, patch } => records::update_task(n, current, patch, now),
    }?;
    if decided.bodies.is_empty() {
        return Ok(CaseTransition {
            next: cur.clone(),
            entries: Vec::new(),
            writes: Vec::new(),
        });
    }
    Ok(seal_decided(next, decided, &by, now))
}

/// Seals the decided entries onto `next`'s timeline and stamps the change.
pub(crate) fn seal_decided(
    mut next: Case,
    decided: Decided,
    by: &str,
    now: DateTime<Utc>,
) -> CaseTransition {
    if !decided.bodies.is_empty() {
        next.updated_at = now;
    }
    let entries = seal(&mut next, decided.bodies, by, 0, now);
    CaseTransition {
        next,
        entries,
        writes: decided.writes,
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

//! What a case audit checks beyond the chain: that the row people read
//! follows from its timeline.

use serde_json::{Value, json};

use super::event::{CaseEvent, CaseEventBody, MergeRole};
use super::model::{Case, CaseId, CaseStatus, Disposition, Severity};
use crate::log::Mismatch;

/// The state a case's timeline implies, folded one entry at a time:
/// status, disposition, severity, assignee, title, deletion and merge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaseReplay {
    status: Option<CaseStatus>,
    disposition: Option<Disposition>,
    severity: Option<Severity>,
    assignee: Option<String>,
    title: Option<String>,
    deleted: bool,
    merged_into: Option<CaseId>,
    /// The first entry that did not decode, if any.
    undecodable: Option<i64>,
}

impl CaseReplay {
    /// Folds the next entry, in seq order.
    pub fn apply(&mut self, entry: &CaseEvent) {
        let Ok(body) = entry.body() else {
            self.undecodable.get_or_insert(entry.seq);
            return;
        };
        match body {
            CaseEventBody::Created {
                title,
                severity,
                status,
                assignee,
                ..
            } => {
                self.status = Some(status);
                self.severity = Some(severity);
                self.assignee = assignee;
                self.title = Some(title);
            }
            CaseEventBody::StatusChange {
                to, disposition_to, ..
            } => {
                self.status = Some(to);
                self.disposition = disposition_to;
            }
            CaseEventBody::AssignmentChange { to, .. } => self.assignee = to,
            CaseEventBody::SeverityChange { to, .. } => self.severity = Some(to),
            CaseEventBody::FieldChange(change) => {
                if change.field == "title"
                    && let Value::String(title) = change.new
                {
                    self.title = Some(title);
                }
            }
            CaseEventBody::CaseMerged { role, .. } => {
                if let MergeRole::Source { target } = role {
                    self.merged_into = Some(target.id);
                }
            }
            CaseEventBody::CaseDeleted { .. } => self.deleted = true,
            CaseEventBody::ResultWritten { status_to, .. }
            | CaseEventBody::ApprovalRequested { status_to, .. }
            | CaseEventBody::ApprovalDecided { status_to, .. }
            | CaseEventBody::ApprovalExpired { status_to, .. } => {
                if let Some(to) = status_to {
                    self.status = Some(to);
                }
            }
            CaseEventBody::CommentAdded { .. }
            | CaseEventBody::ObservableAdded { .. }
            | CaseEventBody::ObservableUpdated { .. }
            | CaseEventBody::EvidenceAdded { .. }
            | CaseEventBody::CustodyRecorded { .. }
            | CaseEventBody::TaskCreated { .. }
            | CaseEventBody::TaskStatusChange { .. }
            | CaseEventBody::TaskUpdated { .. }
            | CaseEventBody::AlertLinked { .. }
            | CaseEventBody::InvestigationLinked { .. }
            | CaseEventBody::SummaryWritten { .. }
            | CaseEventBody::InvestigationNeedsAttention { .. } => {}
        }
    }

    /// Every field where `row` disagrees with the replayed timeline.
    pub fn compare(&self, row: &Case) -> Vec<Mismatch> {
        let mut out = Vec::new();
        if let Some(seq) = self.undecodable {
            out.push(Mismatch {
                field: "timeline".to_owned(),
                row: json!(null),
                log: json!(format!("the entry at seq {seq} does not decode")),
            });
        }
        let mut check = |field: &str, row: Value, log: Value| {
            if row != log {
                out.push(Mismatch {
                    field: field.to_owned(),
                    row,
                    log,
                });
            }
        };
        check("status", json!(row.status), json!(self.status));
        check(
            "disposition",
            json!(row.disposition),
            json!(self.disposition),
        );
        check("severity", json!(row.severity), json!(self.severity));
        check("assignee", json!(row.assignee), json!(self.assignee));
        check("title", json!(row.title), json!(self.title));
        check(
            "deleted",
            json!(row.deleted_at.is_some()),
            json!(self.deleted),
        );
        check(
            "merged_into",
            json!(row.merged_into),
            json!(self.merged_into),
        );
        out
    }
}

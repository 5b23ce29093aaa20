//! Requests and answers of the store ports.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::approval::ApprovalStatus;
use crate::log::write_canonical;
pub use crate::machine::Wakeup;
use crate::model::{Budget, Investigation, InvestigationId, Phase, Status};

/// A dispatch request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DispatchRequest {
    /// The agent to run.
    pub agent_id: String,
    /// The prompt.
    pub prompt: String,
    /// The dispatching principal's name.
    pub requested_by: String,
    /// External case id.
    pub case_ref: Option<String>,
    /// The Vigil case to link the investigation to: the dispatch writes the
    /// case's `investigation_linked` entry in its own transaction.
    pub case_id: Option<crate::case::CaseId>,
    /// What it does for that case (a summary needs `case_id`).
    pub case_purpose: crate::model::CasePurpose,
    /// Idempotency key: the same key from the same requester returns the
    /// existing investigation; reused with a different request it is a conflict.
    pub idempotency_key: Option<String>,
    /// Budget overrides.
    pub budget: Budget,
    /// The W3C trace context the dispatch belongs to (a `traceparent`
    /// value), recorded on the investigation. Not part of the [`digest`]:
    /// a retry under the same key carries a different one.
    ///
    /// [`digest`]: DispatchRequest::digest
    pub traceparent: Option<String>,
    /// The investigation delegating this one (its `delegate_investigation`
    /// call). The parent's children are found by it; with
    /// `idempotency_key` set to the call's id and `requested_by` to the
    /// parent's principal, a parent that calls again (on resume) gets the
    /// child it already has.
    pub parent: Option<crate::model::ParentLink>,
}

impl DispatchRequest {
    /// A digest of what the request asks for (agent, prompt, case, budget),
    /// stored to tell a retry from a different request under the same key.
    /// A summary's prompt is left out: the server renders it from the case
    /// as it is, so a retry asks for the same thing in a different prompt.
    pub fn digest(&self) -> String {
        let mut doc = serde_json::json!({
            "agent_id": self.agent_id,
            "prompt": self.prompt,
            "case_ref": self.case_ref,
            "budget": self.budget,
        });
        // Only when set, so digests stored before cases existed still match.
        if let Some(case_id) = self.case_id {
            doc["case_id"] = serde_json::json!(case_id);
        }
        if let Some(parent) = &self.parent {
            doc["parent"] = serde_json::json!(parent);
        }
        if !self.case_purpose.is_investigate() {
            doc["case_purpose"] = serde_json::json!(self.case_purpose);
            if let Some(map) = doc.as_object_mut() {
                map.remove("prompt");
            }
        }
        let mut bytes = Vec::new();
        write_canonical(&doc, &mut bytes);
        hex::encode(Sha256::digest(&bytes))
    }
}

/// The answer to a dispatch.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatched {
    /// The investigation (new, or the existing one for a repeated key).
    pub investigation: Investigation,
    /// Whether this call created it.
    pub created: bool,
}

/// A keyset position in a newest-first listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `created_at` of the last item seen.
    pub created_at: DateTime<Utc>,
    /// `id` of the last item seen.
    pub id: InvestigationId,
}

/// Filters and paging for listing investigations, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<Status>,
    /// Only this phase.
    pub phase: Option<Phase>,
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only this requester.
    pub requested_by: Option<String>,
    /// Only this case.
    pub case_ref: Option<String>,
    /// Only investigations linked to this Vigil case.
    pub case_id: Option<crate::case::CaseId>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    /// Continue after this position.
    pub after: Option<Cursor>,
    /// Page size (clamped to 1..=500; 0 means 50).
    pub limit: u32,
}

impl ListQuery {
    /// The effective page size.
    pub fn page_size(&self) -> u32 {
        match self.limit {
            0 => 50,
            n => n.min(500),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Where the next page starts, if there may be one.
    pub next: Option<Cursor>,
}

/// Filters for listing approval requests: pending first, then soonest to
/// expire, then by id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApprovalQuery {
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Only this investigation's requests.
    pub investigation_id: Option<InvestigationId>,
    /// Only requests created or decided at or after this time.
    pub changed_since: Option<DateTime<Utc>>,
    /// Most rows (clamped to 1..=500; 0 means 100).
    pub limit: u32,
}

impl ApprovalQuery {
    /// The effective row limit.
    pub fn row_limit(&self) -> u32 {
        match self.limit {
            0 => 100,
            n => n.min(500),
        }
    }
}

/// An analyst's grading of a `review_required` result.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewInput {
    /// The accepted or corrected result, already validated against the agent's schema.
    pub result: Value,
    /// Its confidence.
    pub confidence: Option<f64>,
    /// A note.
    pub note: Option<String>,
}

/// An investigation the reaper dead-lettered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaped {
    /// The investigation.
    pub id: InvestigationId,
    /// The worker whose lease expired.
    pub worker: Option<String>,
    /// The new epoch (the old owner's writes are now refused).
    pub epoch: i64,
}

//! What the alert ports take and return beside the records themselves.

use serde::{Deserialize, Serialize};

use crate::case::{Alert, AlertId, Case, CaseId};

/// A page of alerts, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPage {
    /// The alerts, by id descending (ids are v7, so by creation).
    pub items: Vec<Alert>,
    /// The cursor for the next page; `None` on the last one.
    pub next: Option<AlertId>,
}

/// Filters and paging for [`super::Alerts::list_alerts`]. Every filter
/// given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertQuery {
    /// Only alerts linked to this case.
    pub case_id: Option<CaseId>,
    /// Only alerts of this detection rule (exact).
    pub rule: Option<String>,
    /// Only alerts from this source (exact).
    pub source: Option<String>,
    /// Keyset cursor: only alerts with a smaller id.
    pub after: Option<AlertId>,
    /// Page size, 1..=200 (50 when unset).
    pub limit: Option<u32>,
}

impl AlertQuery {
    /// The page size, clamped to 1..=200.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 200)
    }
}

/// What an ingest or a promotion did.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    /// The alert as stored (with its case).
    pub alert: Alert,
    /// The case it is linked to, as written; `None` when it is ungrouped.
    pub case: Option<Case>,
    /// Whether this call stored the alert (`false`: a redelivery, nothing
    /// was written).
    pub created: bool,
    /// Whether this call opened the case.
    pub case_created: bool,
    /// The investigation the grouping rule's `investigate` dispatched for
    /// the case this call opened, in the same transaction.
    pub investigation: Option<crate::model::InvestigationId>,
}

//! Requests and answers of the case ports.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::case::{Case, CaseId, CaseStatus, Evidence, ObservableType, Severity};
use crate::model::wire_enum;

/// Who a listed case must be assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Assigned to this principal.
    Is(String),
    /// Assigned to nobody.
    Unassigned,
}

wire_enum! {
    /// What a case listing is sorted by.
    CaseSortKey {
        /// The case number.
        Number => "number",
        /// The title, without regard to letter case.
        Title => "title",
        /// The severity rank (`informational` lowest, `critical` highest).
        Severity => "severity",
        /// The status, in declaration order of [`CaseStatus`].
        Status => "status",
        /// The assignee's name; unassigned sorts as the empty name.
        Assignee => "assignee",
        /// Creation time.
        CreatedAt => "created_at",
        /// Last activity.
        UpdatedAt => "updated_at",
        /// The last status change.
        StatusChangedAt => "status_changed_at",
        /// How many alerts are linked to the case.
        AlertCount => "alert_count",
        /// How many observables the case holds.
        ObservableCount => "observable_count",
    }
}

wire_enum! {
    /// Ascending or descending.
    SortDirection {
        /// Smallest first.
        Asc => "asc",
        /// Largest first.
        Desc => "desc",
    }
}

/// A listing's order: a key, then the case id in the same direction, so
/// the order is total and keyset pages never repeat or skip a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSort {
    /// The key.
    pub key: CaseSortKey,
    /// The direction.
    pub direction: SortDirection,
}

impl Default for CaseSort {
    /// Last activity first.
    fn default() -> Self {
        Self {
            key: CaseSortKey::UpdatedAt,
            direction: SortDirection::Desc,
        }
    }
}

/// The value of a sort key for one case, as the store compares it.
/// Serialized tagged (`{"int": 4}`, `{"time": "..."}`, `{"text": "..."}`),
/// so a cursor decodes to the type it was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortValue {
    /// A number or rank.
    Int(i64),
    /// A time.
    Time(DateTime<Utc>),
    /// A text, compared byte by byte.
    Text(String),
}

impl CaseSortKey {
    /// A listed case's value under this key: ranks for severity and
    /// status, the title lower-cased, a missing assignee as the empty name,
    /// the alert and observable counts as counted when the page was read.
    pub fn value_of(self, overview: &CaseOverview) -> SortValue {
        let case = &overview.case;
        match self {
            CaseSortKey::Number => SortValue::Int(case.number.0),
            CaseSortKey::Title => SortValue::Text(sort_title(&case.title)),
            CaseSortKey::Severity => SortValue::Int(case.severity.rank()),
            CaseSortKey::Status => SortValue::Int(case.status.rank()),
            CaseSortKey::Assignee => SortValue::Text(case.assignee.clone().unwrap_or_default()),
            CaseSortKey::CreatedAt => SortValue::Time(case.created_at),
            CaseSortKey::UpdatedAt => SortValue::Time(case.updated_at),
            CaseSortKey::StatusChangedAt => SortValue::Time(case.status_changed_at),
            CaseSortKey::AlertCount => SortValue::Int(overview.counts.alerts),
            CaseSortKey::ObservableCount => SortValue::Int(overview.counts.observables),
        }
    }
}

/// The form of a title that sorting and the title search compare: lower
/// case. Stores keep it beside the title.
pub fn sort_title(title: &str) -> String {
    title.to_lowercase()
}

/// A keyset position in a case listing: the last case seen, under the sort
/// the listing used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseCursor {
    /// The sort the page was listed under; a cursor is only valid with it.
    pub sort: CaseSort,
    /// The last case's sort value.
    pub value: SortValue,
    /// The last case's id.
    pub id: CaseId,
}

/// Filters, order and paging for listing cases.
///
/// Filters combine with AND. Deleted cases are left out unless
/// `include_deleted`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaseQuery {
    /// Only these statuses (empty: any).
    pub statuses: Vec<CaseStatus>,
    /// Only these severities (empty: any).
    pub severities: Vec<Severity>,
    /// Only this assignee, or only unassigned cases.
    pub assignee: Option<AssigneeFilter>,
    /// Only cases with this tag (compared lower-cased).
    pub tag: Option<String>,
    /// Only cases with an observable whose stored value is this text,
    /// trimmed, or the same lower-cased (so `EVIL.example.com` finds the
    /// domain), of any type.
    pub observable: Option<String>,
    /// Only cases whose title contains this text, without regard to case.
    pub text: Option<String>,
    /// Include deleted cases.
    pub include_deleted: bool,
    /// The order (last activity first when not given).
    pub sort: CaseSort,
    /// Continue after this position (from [`CasePage::next`]).
    pub after: Option<CaseCursor>,
    /// Page size (clamped to 1..=500; 0 means 50).
    pub limit: u32,
}

impl CaseQuery {
    /// The effective page size.
    pub fn page_size(&self) -> u32 {
        match self.limit {
            0 => 50,
            n => n.min(500),
        }
    }

    /// The title search as the store compares it ([`sort_title`] of the
    /// trimmed text), if any.
    pub fn text_needle(&self) -> Option<String> {
        self.text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(sort_title)
    }

    /// The observable values searched for: the trimmed text and its
    /// lower-case form (the same when it has no upper case).
    pub fn observable_values(&self) -> Option<(String, String)> {
        let value = self.observable.as_deref()?.trim();
        (!value.is_empty()).then(|| (value.to_owned(), value.to_lowercase()))
    }

    /// The tag searched for, lower-cased, if any.
    pub fn tag_value(&self) -> Option<String> {
        self.tag
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
    }
}

/// How many of each record a case holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaseCounts {
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

/// A case with its counts: one row of a listing, or a case read by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseOverview {
    /// The case.
    pub case: Case,
    /// What it holds.
    pub counts: CaseCounts,
}

/// One page of a case listing.
#[derive(Debug, Clone, PartialEq)]
pub struct CasePage {
    /// The cases, in the query's order.
    pub items: Vec<CaseOverview>,
    /// Where the next page starts, if there may be one.
    pub next: Option<CaseCursor>,
}

/// The counts a case queue's header shows, over the cases a query
/// selects apart from its status filter (and paging): a status tab does not
/// zero the other cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaseKpis {
    /// Every selected case.
    pub total: i64,
    /// Those not `resolved` or `closed`.
    pub open: i64,
    /// Those of `critical` severity.
    pub critical: i64,
    /// Those `resolved` or `closed`.
    pub resolved: i64,
}

/// An observable two cases share.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SharedObservable {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ObservableType,
    /// Its normalized value.
    pub value: String,
}

impl Ord for SharedObservable {
    /// By type name, then value.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.kind.as_str(), &self.value).cmp(&(other.kind.as_str(), &other.value))
    }
}

impl PartialOrd for SharedObservable {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A case related to another by the observables they share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedCase {
    /// The related case.
    pub case: Case,
    /// What they share (two or more), by type name then value.
    pub shared: Vec<SharedObservable>,
    /// How much they overlap: shared observables over the distinct
    /// observables of both cases (Jaccard), 0..1.
    pub score: f64,
}

/// A row of the shared-observable read: another case holding one of a
/// case's observables, with that case's observable count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRow {
    /// The other case.
    pub case_id: CaseId,
    /// The shared observable.
    pub observable: SharedObservable,
    /// How many observables the other case holds.
    pub other_total: i64,
}

/// An evidence item's content as the store hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceContent {
    /// Stored with the case; its SHA-256 was checked on this read.
    Stored {
        /// The item.
        evidence: Evidence,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Kept elsewhere: fetch it from `evidence.uri` and check it against
    /// `evidence.sha256`.
    External {
        /// The item.
        evidence: Evidence,
    },
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// The surviving case.
    pub target: Case,
    /// The merged cases, closed and linked to it, in the order given.
    pub merged: Vec<Case>,
    /// The sentence its timeline records (`Merged 2 cases: 5 alerts, 3
    /// observables moved`).
    pub summary: String,
}

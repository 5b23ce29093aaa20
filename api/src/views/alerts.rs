//! `/alerts` bodies: an alert as delivered and as stored, and what an
//! ingest or a promotion did.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_engine::case::{Alert, AlertEntity};
use vigil_engine::store::{CaseOverview, Ingested};

use super::cases::{CaseSummary, ObservableTypeName, PreviewView, SeverityName};

/// One entity of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertEntityView {
    /// What the value is.
    #[serde(rename = "type")]
    #[schema(value_type = ObservableTypeName)]
    pub kind: String,
    /// The value (normalized when stored; defanged forms are refanged).
    #[schema(max_length = 4096)]
    pub value: String,
}

impl From<&AlertEntity> for AlertEntityView {
    fn from(e: &AlertEntity) -> Self {
        Self {
            kind: e.kind.to_string(),
            value: e.value.clone(),
        }
    }
}

/// `POST /alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestAlertBody {
    /// The system that raised it (`splunk`); with `source_id` the
    /// detection's identity.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub source: String,
    /// The source's own id of the detection: a redelivery under the same
    /// `(source, source_id)` is stored and linked once.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub source_id: String,
    /// The detection rule's name; the title of a case it opens.
    #[schema(
        pattern = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\ufeff][^\u0000]*$",
        max_length = 200
    )]
    pub rule: String,
    /// How severe; the severity of a case it opens.
    #[schema(value_type = SeverityName)]
    pub severity: String,
    /// One line; the rule name when absent.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub title: Option<String>,
    /// When the source saw it (RFC 3339); now when absent.
    #[serde(default)]
    pub observed_at: Option<DateTime<Utc>>,
    /// The source's event, any JSON; entities are extracted from it.
    #[serde(default)]
    pub raw: Option<Value>,
    /// Entities the source names explicitly, at most 100.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub entities: Option<Vec<AlertEntityView>>,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    /// Its id (the id a case lists in `alert_ids`).
    pub id: Uuid,
    /// The system that raised it.
    pub source: String,
    /// The source's id of the detection.
    pub source_id: String,
    /// The detection rule.
    pub rule: String,
    /// How severe.
    #[schema(value_type = SeverityName)]
    pub severity: String,
    /// One line.
    pub title: String,
    /// When the source saw it.
    pub observed_at: DateTime<Utc>,
    /// The event as delivered.
    pub raw: Value,
    /// Explicit, then extracted entities, each once.
    pub entities: Vec<AlertEntityView>,
    /// The key it was grouped under (`rule|type=value`); null: ungrouped.
    pub grouping_key: Option<String>,
    /// The case it is linked to; null: none (promote it by hand).
    pub case_id: Option<Uuid>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl From<&Alert> for AlertView {
    fn from(a: &Alert) -> Self {
        Self {
            id: a.id.0,
            source: a.source.clone(),
            source_id: a.source_id.clone(),
            rule: a.rule.clone(),
            severity: a.severity.to_string(),
            title: a.title.clone(),
            observed_at: a.observed_at,
            raw: a.raw.clone(),
            entities: a.entities.iter().map(AlertEntityView::from).collect(),
            grouping_key: a.grouping_key.clone(),
            case_id: a.case_id.map(|c| c.0),
            created_at: a.created_at,
        }
    }
}

/// What an ingest or a promotion did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestView {
    /// The alert as stored.
    pub alert: AlertView,
    /// The case it is linked to, if any.
    pub case: Option<CaseSummary>,
    /// Whether this request stored the alert (`false`: a redelivery,
    /// nothing written).
    pub created: bool,
    /// Whether this request opened the case.
    pub case_created: bool,
}

impl IngestView {
    /// The view of `got`, with the case as `overview` reads it.
    pub fn of(got: &Ingested, overview: Option<&CaseOverview>) -> Self {
        Self {
            alert: AlertView::from(&got.alert),
            case: overview.map(CaseSummary::of),
            created: got.created,
            case_created: got.case_created,
        }
    }
}

/// One page of `GET /alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertPageView {
    /// Newest first.
    pub items: Vec<AlertView>,
    /// Pass as `after` for the next page; null on the last.
    pub next_cursor: Option<Uuid>,
}

/// An ingest's 200 answer: a redelivery (stored before, nothing written)
/// or, in `dummy`, a preview. One body per status code.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum IngestAnswer {
    /// The alert as stored before.
    Redelivered(Box<IngestView>),
    /// Nothing was stored; what would have happened.
    Preview(PreviewView),
}

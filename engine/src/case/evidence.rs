//! Evidence and its chain of custody.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::CaseId;
use super::uuid_id;
use crate::model::wire_enum;

uuid_id! {
    /// Identifies an evidence item (UUID v7).
    EvidenceId
}

uuid_id! {
    /// Identifies a custody record (UUID v7).
    CustodyId
}

wire_enum! {
    /// What an evidence item is.
    EvidenceKind {
        /// Raw log entries.
        Log => "log",
        /// Network flow data.
        NetworkFlow => "network_flow",
        /// Endpoint scan results.
        EndpointScan => "endpoint_scan",
        /// A disk or memory image.
        ForensicImage => "forensic_image",
        /// A screenshot.
        Screenshot => "screenshot",
        /// Any other file.
        File => "file",
        /// Anything else.
        Other => "other",
    }
}

// `wire_enum!` derives no `Default`.
#[allow(clippy::derivable_impls)]
impl Default for EvidenceKind {
    /// `other`.
    fn default() -> Self {
        EvidenceKind::Other
    }
}

/// An evidence item of a case. Its content is either stored in the
/// database (`uri` is `None`) or kept elsewhere at `uri`; either way
/// `sha256` and `size_bytes` describe the content, and stored content never
/// changes (the database refuses it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Stable identity; custody records name it.
    pub id: EvidenceId,
    /// The case it belongs to (a merge moves it to the surviving case).
    pub case_id: CaseId,
    /// A short name.
    pub name: String,
    /// What it is.
    pub kind: EvidenceKind,
    /// Free text, possibly empty.
    pub description: String,
    /// Lower-case hex SHA-256 of the content: computed by the store for
    /// stored content, as given for external content.
    pub sha256: String,
    /// The content's size: counted by the store for stored content, as
    /// given (if given) for external content.
    pub size_bytes: Option<i64>,
    /// Where external content lives; `None` when the content is stored.
    pub uri: Option<String>,
    /// Who collected it.
    pub collected_by: String,
    /// When it was collected.
    pub collected_at: DateTime<Utc>,
    /// When it was registered with the case.
    pub created_at: DateTime<Utc>,
}

wire_enum! {
    /// What happened to an evidence item in a custody record.
    CustodyAction {
        /// Handed from one party to another.
        Transferred => "transferred",
        /// Copied.
        Duplicated => "duplicated",
        /// Examined.
        Reviewed => "reviewed",
        /// Put into long-term storage.
        Archived => "archived",
    }
}

/// One link of an evidence item's chain of custody. Append-only: the
/// database refuses UPDATE and DELETE on custody records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyRecord {
    /// Stable identity (UUID v7: records sort by the time they were written).
    pub id: CustodyId,
    /// The evidence item.
    pub evidence_id: EvidenceId,
    /// What happened.
    pub action: CustodyAction,
    /// Who handed it over, if anyone.
    pub from: Option<String>,
    /// Who received it, if anyone (required for `transferred`).
    pub to: Option<String>,
    /// A note.
    pub note: Option<String>,
    /// The principal who recorded it.
    pub actor: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

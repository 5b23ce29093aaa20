//! Comments: the analysts' (and machines') notes on a case.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::CaseId;
use super::uuid_id;
use crate::model::wire_enum;

uuid_id! {
    /// Identifies a comment (UUID v7).
    CommentId
}

wire_enum! {
    /// Who wrote a comment.
    AuthorKind {
        /// A person.
        Analyst => "analyst",
        /// An agent or a pipeline.
        Machine => "machine",
    }
}

wire_enum! {
    /// What a comment is.
    #[derive(Default)]
    CommentKind {
        /// A note: an analyst's, or a machine's (an investigation's result).
        #[default]
        Note => "note",
        /// The case's AI summary, written back by a `summarize`
        /// investigation; the newest one is the case's current summary.
        AiSummary => "ai_summary",
    }
}

impl CommentKind {
    /// Whether it is a plain note (serde skips it, so entries written
    /// before kinds existed keep their bytes and hashes).
    pub fn is_note(&self) -> bool {
        *self == CommentKind::Note
    }
}

/// A comment on a case. Comments are never edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Stable identity (UUID v7: ids sort by creation time).
    pub id: CommentId,
    /// The case it belongs to (a merge moves it to the surviving case).
    pub case_id: CaseId,
    /// The principal who wrote it.
    pub author: String,
    /// A person or a machine.
    pub author_kind: AuthorKind,
    /// A note or the AI summary.
    #[serde(default, skip_serializing_if = "CommentKind::is_note")]
    pub kind: CommentKind,
    /// The text.
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

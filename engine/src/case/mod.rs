//! Cases: what an analyst works and an auditor reads.
//!
//! A case groups alerts, observables, evidence (with its chain of custody),
//! comments and tasks, and keeps a timeline: its own sealed log
//! ([`CaseLog`], table `case_events`), chained and verified by the same code
//! as investigation events ([`crate::log`]).
//!
//! Every change to a case is decided by the pure [`transition`] (and
//! [`merge`] for a merge, which changes several cases at once): it takes the
//! case as stored, a [`CaseCommand`] and the time, and returns the next row,
//! the sealed timeline entries and the writes to the records beside it
//! ([`CaseWrite`]). Stores persist all of it in one transaction; a refusal
//! writes nothing. Tasks move by their own pure [`task_transition`].
//!
//! `docs/cases.md` draws the lifecycle and states the store's rules.

mod alert;
mod audit;
mod comment;
mod event;
mod evidence;
mod extract;
mod machine;
mod model;
mod observable;
mod task;

pub use alert::{
    Alert, AlertEntity, AlertError, AlertId, Grouping, GroupingRule, MAX_ALERT_NAME,
    MAX_ALERT_TITLE, NewAlert, grouping, grouping_window, triage_prompt,
};
pub use audit::CaseReplay;
pub use comment::{AuthorKind, Comment, CommentId, CommentKind};
pub use event::{CaseEvent, CaseEventBody, CaseEventKind, CaseLog, CaseRef, Change, MergeRole};
pub use evidence::{
    CustodyAction, CustodyId, CustodyRecord, Evidence, EvidenceId, EvidenceKind, sha256_hex,
};
pub use extract::{extract_entities, extract_observables};
pub use machine::{
    APPROVAL_EXPIRED_NOTE, CaseAction, CaseCommand, CasePatch, CaseTransition, CaseTransitionError,
    CaseWrite, DEFAULT_EVIDENCE_LIMIT, EvidenceInput, Facts, InvestigationEffect,
    MAX_MERGE_SOURCES, MergeSource, MergeTransition, NewCase, NewComment, NewCustody, NewEvidence,
    NewObservable, NewTask, ObservablePatch, StatusChange, TaskPatch, allowed_commands, follow,
    investigation_actor, investigation_effects, may_link, may_summarize, merge, transition,
};
pub use model::{Case, CaseId, CaseNumber, CaseStatus, Disposition, Severity};
pub use observable::{
    NormalizeError, Observable, ObservableId, ObservableType, Pap, Tlp, normalize,
};
pub use task::{Task, TaskId, TaskPriority, TaskStatus, TaskTransitionError, task_transition};

/// Declares a UUID v7 id newtype: serde-transparent, displayed and parsed
/// as the hyphenated UUID, created from the clock's time.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// A new v7 id whose timestamp is `at`, so ids sort by creation time.
            pub fn new_at(at: ::chrono::DateTime<::chrono::Utc>) -> Self {
                Self($crate::model::new_v7(at))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }
    };
}
use uuid_id;

//! # vigil-engine
//!
//! The domain core of Vigil: the records (investigations, their append-only
//! event log, approval requests, principals, and cases with their timeline),
//! the pure state machines that are the only place a transition is decided,
//! the one sealed log implementation (hash chain, verification) every
//! aggregate's log uses, and the store ports every adapter implements.
//!
//! This crate does no IO. It must not depend on sqlx, reqwest, axum, apalis,
//! async-openai or any other workspace crate; adapters depend on it.
//!
//! With the `test-util` feature it also carries `conformance`, the generic
//! store conformance suite that every store crate instantiates.

pub mod approval;
pub mod audit;
pub mod case;
pub mod clock;
pub mod event;
pub mod log;
pub mod machine;
pub mod model;
pub mod principal;
pub mod receipt;
pub mod result;
pub mod store;
pub mod trace;

#[cfg(feature = "test-util")]
pub mod conformance;

pub use approval::{ApprovalId, ApprovalRequest, ApprovalStatus, Decision};
pub use case::{
    Case, CaseCommand, CaseEvent, CaseId, CaseLog, CaseNumber, CaseStatus, CaseTransition,
    Disposition, Severity,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use event::{Event, EventBody, EventKind, InvestigationLog, StepEvent};
pub use machine::{Command, Transition, TransitionError, transition};
pub use model::{
    Budget, CasePurpose, Investigation, InvestigationId, ParentLink, Phase, Status, Usage,
};
pub use principal::{Principal, Role};

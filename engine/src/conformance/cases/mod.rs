//! The conformance cases, one file per area. Each takes a [`Harness`],
//! builds a fresh store and asserts behaviour through the store ports only.

mod alerts;
mod approvals;
mod audit;
mod batching;
mod case_investigations;
mod case_lifecycle;
mod case_lists;
mod case_merge;
mod case_records;
mod case_timeline;
mod children;
mod claims;
mod completion;
mod dispatch;
mod fencing;
mod log;
mod reads;
mod records;
mod sweeps;

pub use alerts::*;
pub use approvals::*;
pub use audit::*;
pub use batching::*;
pub use case_investigations::*;
pub use case_lifecycle::*;
pub use case_lists::*;
pub use case_merge::*;
pub use case_records::*;
pub use case_timeline::*;
pub use children::*;
pub use claims::*;
pub use completion::*;
pub use dispatch::*;
pub use fencing::*;
pub use log::*;
pub use reads::*;
pub use records::*;
pub use sweeps::*;

/// What the case files use.
mod prelude {
    #![allow(unused_imports)]
    pub use std::collections::{BTreeSet, HashMap};
    pub use std::sync::Arc;

    pub use chrono::Duration;
    pub use futures::StreamExt;
    pub use serde_json::json;

    pub use super::super::Harness;
    pub use super::super::support::*;
    pub(super) use super::completion::{invalid_completion, valid_completion, valid_result};
    pub use crate::approval::{ApprovalStatus, Decision};
    pub use crate::clock::Clock;
    pub use crate::event::{EventBody, EventKind, ModelCallFailed, ModelFailureCause, StepEvent};
    pub use crate::log::{GENESIS, Problem};
    pub use crate::model::{InvestigationId, Phase, Status};
    pub use crate::result::Completion;
    pub use crate::store::{
        ApprovalQuery, DispatchRequest, Dispatcher, Error, Leases, ListQuery, Operations, Reads,
        ReviewInput, Store, Sweeps, Wakeup, Wakeups,
    };
}

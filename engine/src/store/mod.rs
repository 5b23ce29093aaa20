//! Store ports: the only mutation points of Vigil's records.
//!
//! Callers ask for the narrowest capability they need: [`Dispatcher`],
//! [`Leases`] (worker writes, fenced by lease epoch), [`Sweeps`] (reaper and
//! approval expiry), [`Operations`] (operator and approver actions),
//! [`Reads`] and [`Wakeups`]; beside the investigations, [`Tokens`] (API
//! tokens), [`Notifications`] (the webhook outbox) and [`Presence`] (worker
//! announcements); and the cases: [`Cases`] (every case write) and
//! [`CaseReads`]; and [`Alerts`] (ingest, grouping, promotion).
//! [`Store`] is all of them, for wiring.
//!
//! Every write is one database transaction that changes the record's row
//! (an investigation, a case) and appends its log entries together; a
//! refused command writes nothing.
//! Adapters implement the small [`backend`] primitives and get every port from
//! [`TransactionalStore`], so both backends share one implementation of the
//! rules.

mod alert_query;
mod case_query;
mod error;
mod group;
mod ports;
mod query;
mod records;
mod transactional;

pub mod backend;

pub use alert_query::{AlertPage, AlertQuery, Ingested};
pub use case_query::{
    AssigneeFilter, CaseCounts, CaseCursor, CaseKpis, CaseOverview, CasePage, CaseQuery, CaseSort,
    CaseSortKey, EvidenceContent, MergeReport, RelatedCase, SharedObservable, SharedRow,
    SortDirection, SortValue, sort_title,
};
pub use error::{Cause, Error, Result, record_in};
pub use group::{GroupCommit, GroupStats};
pub use ports::{
    Alerts, CaseReads, Cases, Dispatcher, Leases, Notifications, Operations, Presence, Reads,
    Store, Sweeps, Tokens, Wakeups,
};
pub use query::{
    ApprovalQuery, Cursor, DispatchRequest, Dispatched, ListQuery, Page, Reaped, ReviewInput,
    Wakeup,
};
pub use records::{
    Delivery, DeliveryOutcome, DeliveryStatus, NewToken, StateCount, Stats, TokenRecord, WorkerSeen,
};
pub use transactional::TransactionalStore;

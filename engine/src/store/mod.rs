//! Store ports: the only mutation points of Vigil's records.
//!
//! Callers ask for the narrowest capability they need: [`Dispatcher`],
//! [`Leases`] (worker writes, fenced by lease epoch), [`Sweeps`] (reaper and
//! approval expiry), [`Operations`] (operator and approver actions),
//! [`Reads`] and [`Wakeups`]. [`Store`] is all of them, for wiring.
//!
//! Every write is one database transaction that changes the investigation row
//! and appends its events together; a refused command writes nothing.
//! Adapters implement the small [`backend`] primitives and get every port from
//! [`TransactionalStore`], so both backends share one implementation of the
//! rules.

mod driver;
mod error;
mod ports;
mod query;

pub mod backend;

pub use driver::TransactionalStore;
pub use error::{Error, Result};
pub use ports::{Dispatcher, Leases, Operations, Reads, Store, Sweeps, Wakeups};
pub use query::{
    ApprovalQuery, Cursor, DispatchRequest, Dispatched, ListQuery, Page, Reaped, ReviewInput,
    Wakeup,
};

//! The primitives a database adapter provides.
//!
//! An adapter implements [`Backend`] (transactions and reads) and [`WriteTx`]
//! (row-level reads and writes inside one transaction). It decides nothing:
//! [`super::TransactionalStore`] loads rows through these primitives, asks
//! [`crate::transition`] what to do, and writes the result back before
//! committing. Locking is the adapter's job: every `lock_*` method must hold
//! the returned investigation rows against concurrent writers until commit or
//! rollback (`FOR UPDATE`, or an exclusive `BEGIN IMMEDIATE`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use super::error::Result;
use super::query::{ApprovalQuery, ListQuery, Wakeup};
use crate::approval::{ApprovalId, ApprovalRequest, ApprovalStatus};
use crate::clock::Clock;
use crate::event::Event;
use crate::machine::Transition;
use crate::model::{Investigation, InvestigationId};

/// A database adapter.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The adapter's write transaction.
    type Tx: WriteTx;

    /// Starts a write transaction.
    async fn begin(&self) -> Result<Self::Tx>;

    /// The clock the adapter's store runs on.
    fn clock(&self) -> &dyn Clock;

    /// One investigation.
    async fn get(&self, id: InvestigationId) -> Result<Option<Investigation>>;

    /// A page of investigations matching `query`, newest first, at most
    /// `query.page_size()` rows.
    async fn list(&self, query: &ListQuery) -> Result<Vec<Investigation>>;

    /// Events after `after_seq`, in seq order, at most `limit`.
    async fn events(&self, id: InvestigationId, after_seq: i64, limit: u32) -> Result<Vec<Event>>;

    /// One approval request.
    async fn approval(&self, id: ApprovalId) -> Result<Option<ApprovalRequest>>;

    /// Approval requests: pending first, then by `expires_at`, then id.
    async fn approvals(&self, query: &ApprovalQuery) -> Result<Vec<ApprovalRequest>>;

    /// A trivial round trip.
    async fn ping(&self) -> Result<()>;

    /// Takes `known` (or, when `None`, reads investigation `id`) as the
    /// current row, lets `decide` compute a transition from it, and writes
    /// the transition (its row and its events) in one atomic step, but only
    /// if the stored row still has that row's `last_seq`, `lease_epoch`,
    /// `lease_expires_at` and `heartbeat_at`.
    ///
    /// Returns [`Optimistic::Changed`], having written nothing, when the row
    /// moved in between; `decide`'s error, having written nothing, when it
    /// refuses; [`super::Error::NotFound`] when there is no such row.
    ///
    /// Every transition except a heartbeat appends an event (moving
    /// `last_seq`), and a heartbeat sets `heartbeat_at` and
    /// `lease_expires_at` from the time, so a row that passes the check is
    /// the row the transition was computed from, however old `known` is. Used
    /// only for transitions that write no approval request and send no
    /// wake-up. The read takes no lock.
    async fn write_if_unchanged<F>(
        &self,
        id: InvestigationId,
        known: Option<Investigation>,
        decide: F,
    ) -> Result<Optimistic>
    where
        F: FnOnce(&Investigation) -> Result<Transition> + Send;

    /// Wake-up hints (see [`super::Wakeups`]).
    fn wakeups(&self) -> BoxStream<'static, Wakeup>;
}

/// The outcome of [`Backend::write_if_unchanged`].
#[derive(Debug)]
pub enum Optimistic {
    /// The transition was written.
    Written(Box<Transition>),
    /// The row changed after it was read; nothing was written.
    Changed,
}

/// One write transaction, ended by [`WriteTx::commit`] or [`WriteTx::rollback`].
#[async_trait]
pub trait WriteTx: Send {
    /// The investigation `requested_by` created under `key`, with the digest
    /// of the request that created it.
    async fn find_idempotent(
        &mut self,
        requested_by: &str,
        key: &str,
    ) -> Result<Option<(Investigation, String)>>;

    /// Locks and returns one investigation.
    async fn lock(&mut self, id: InvestigationId) -> Result<Option<Investigation>>;

    /// Locks and returns the oldest `pending/queued` investigation of one of
    /// `agents` (any agent when empty), skipping rows other transactions hold.
    async fn lock_next_queued(&mut self, agents: &[String]) -> Result<Option<Investigation>>;

    /// Locks and returns up to `limit` `pending/running` investigations whose
    /// lease expired at or before `now`, skipping rows other transactions hold.
    async fn lock_expired_leases(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Investigation>>;

    /// Returns up to `limit` pending approval requests due at or before
    /// `now`, locking their investigations and skipping those other
    /// transactions hold.
    async fn lock_due_approvals(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>>;

    /// One approval request, read inside the transaction.
    async fn approval(&mut self, id: ApprovalId) -> Result<Option<ApprovalRequest>>;

    /// Inserts a new investigation. Returns `false`, writing nothing, when
    /// (`requested_by`, `idempotency_key`) is already taken.
    async fn insert_investigation(&mut self, inv: &Investigation, digest: &str) -> Result<bool>;

    /// Writes an existing investigation that was `before` and is now `after`:
    /// only the progress columns when [`Investigation::progress_only`] holds,
    /// every mutable column otherwise.
    async fn update_investigation(
        &mut self,
        before: &Investigation,
        after: &Investigation,
    ) -> Result<()>;

    /// Appends sealed events.
    async fn append_events(&mut self, events: &[Event]) -> Result<()>;

    /// Inserts a new approval request.
    async fn insert_approval(&mut self, approval: &ApprovalRequest) -> Result<()>;

    /// Resolves a pending approval request.
    async fn resolve_approval(
        &mut self,
        id: ApprovalId,
        status: ApprovalStatus,
        decided_by: Option<&str>,
        decided_at: DateTime<Utc>,
        comment: Option<&str>,
    ) -> Result<()>;

    /// Sends `wakeup` when (and only if) the transaction commits.
    async fn notify(&mut self, wakeup: Wakeup) -> Result<()>;

    /// Commits.
    async fn commit(self) -> Result<()>;

    /// Rolls back now, releasing every lock the transaction holds. Callers
    /// must not rely on drop: a dropped transaction's rollback may wait for
    /// the connection's next use, holding row locks until then.
    async fn rollback(self);
}

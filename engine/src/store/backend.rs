//! The primitives a database adapter provides.
//!
//! An adapter implements [`Backend`] (transactions, reads, and one atomic
//! compare-and-set write) and [`WriteTx`] (row-level reads and writes inside
//! one transaction). It decides nothing: [`super::TransactionalStore`] loads
//! rows through these primitives, asks [`crate::transition`] what to do, and
//! writes the result back before committing. Every log (see [`crate::log`])
//! is read and appended through the same generic primitives
//! ([`Backend::log`], [`WriteTx::append`]); the adapter maps
//! [`crate::log::LogName`] to its table. Locking is the adapter's job: every `lock_*` method must hold
//! the returned investigation rows against concurrent writers until commit or
//! rollback (`FOR UPDATE`, or an exclusive `BEGIN IMMEDIATE`).
//!
//! The records beside the investigations (tokens, webhook deliveries, worker
//! presence) have primitives of the same kind: token writes go through
//! [`WriteTx`], so a token and its principal are written in one transaction;
//! deliveries and presence are single atomic statements on [`Backend`].
//!
//! Cases have primitives of the same kind: reads on [`Backend`], and on
//! [`WriteTx`] a lock on the case row (`lock_case`, held until commit or
//! rollback, like `lock`) and one insert, update, move or delete per record
//! kind. Case timelines go through the generic log primitives.
//!
//! Alerts likewise: reads on [`Backend`]; on [`WriteTx`] an insert that
//! reports a `(source, source_id)` already stored, a lock on one alert, and
//! a claim on a grouping key's row (inserted if missing, then locked until
//! commit or rollback) that serializes ingests under one key. The alert
//! link primitives (`link_alert`, `detach_alerts`, `move_alerts`) keep a
//! stored alert's `case_id` in step with its link.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use uuid::Uuid;

use super::alert_query::AlertQuery;
use super::case_query::{CaseCounts, CaseKpis, CaseOverview, CaseQuery, SharedRow};
use super::error::Result;
use super::query::{ApprovalQuery, ListQuery, Wakeup};
use super::records::{Delivery, DeliveryStatus, Stats, TokenRecord, WorkerSeen};
use crate::approval::{ApprovalId, ApprovalRequest, ApprovalStatus};
use crate::case::{
    Alert, AlertId, Case, CaseId, CaseNumber, Comment, CustodyRecord, Evidence, EvidenceId,
    Observable, ObservableId, ObservableType, Task, TaskId,
};
use crate::clock::Clock;
use crate::event::Event;
use crate::log::{Aggregate, Entry, LogName};
use crate::model::{CasePurpose, Investigation, InvestigationId};
use crate::principal::Role;
use crate::receipt::Receipt;

/// The row of a grouping key, as [`WriteTx::claim_alert_group`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AlertGroup {
    /// The case the key feeds; `None` on a fresh claim.
    pub case_id: Option<CaseId>,
    /// The last alert grouped under it.
    pub last_alert_at: Option<DateTime<Utc>>,
}

/// One write of [`Backend::update_if_unchanged_batch`]: the arguments of
/// [`Backend::update_if_unchanged`], owned.
#[derive(Debug, Clone)]
pub struct FencedWrite {
    /// The row the write was decided from.
    pub before: Investigation,
    /// The row to write.
    pub after: Investigation,
    /// The events to append with it.
    pub events: Vec<Event>,
    /// The head receipt to insert with it.
    pub receipt: Option<Receipt>,
}

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

    /// The investigations `parent` delegated, oldest first.
    async fn children(&self, parent: InvestigationId) -> Result<Vec<Investigation>>;

    /// A page of investigations matching `query`, newest first, at most
    /// `query.page_size()` rows.
    async fn list(&self, query: &ListQuery) -> Result<Vec<Investigation>>;

    /// Entries of `A`'s log of `id` after `after_seq`, in seq order, at most
    /// `limit`.
    async fn log<A: Aggregate>(
        &self,
        id: A::Id,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Entry<A>>>;

    /// Whether an investigation of one of `agents` (any agent when empty) is
    /// queued and due (`not_before` unset or at most `now`). A plain read:
    /// no lock, no write transaction; the answer may be stale by the time
    /// the caller acts on it.
    async fn has_queued(&self, agents: &[String], now: DateTime<Utc>) -> Result<bool>;

    /// One approval request.
    async fn approval(&self, id: ApprovalId) -> Result<Option<ApprovalRequest>>;

    /// Approval requests: pending first, then by `expires_at`, then id.
    async fn approvals(&self, query: &ApprovalQuery) -> Result<Vec<ApprovalRequest>>;

    /// Investigations per (status, phase) (only combinations that occur, in
    /// any order) and the pending approval requests: how many, and when the
    /// oldest was created.
    async fn stats(&self) -> Result<Stats>;

    /// The token with public id `id`, with its principal's roles.
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>>;

    /// Every token with its principal's roles, by `created_at`, then id.
    async fn tokens(&self) -> Result<Vec<TokenRecord>>;

    /// For each of `targets`, inserts a `pending` delivery (no attempts, due
    /// at `at`, created and updated at `at`) for every `pending` approval
    /// request that has no delivery to that target, in one transaction:
    /// one `INSERT ... SELECT ... ON CONFLICT DO NOTHING` per target.
    /// Returns how many rows were inserted.
    async fn enqueue_deliveries(&self, targets: &[String], at: DateTime<Utc>) -> Result<u64>;

    /// Takes up to `limit` `pending` deliveries with `next_attempt_at <=
    /// now`, oldest (`created_at`, then approval id and target) first, and
    /// in the same atomic step adds one to their `attempts` and sets their
    /// `next_attempt_at` to `until` and `updated_at` to `now`. Each due row
    /// goes to exactly one of concurrent callers (`FOR UPDATE SKIP LOCKED`,
    /// or the single writer). Returns the updated rows in any order.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>>;

    /// Applies `change` to delivery (`approval`, `target`) if it is still
    /// `pending`, in one atomic statement. Returns the row as it stands
    /// afterwards (unchanged if it was no longer pending), or `None` when
    /// there is no such delivery.
    async fn update_delivery(
        &self,
        approval: ApprovalId,
        target: &str,
        change: &DeliveryChange,
    ) -> Result<Option<Delivery>>;

    /// One approval request's deliveries, by target.
    async fn deliveries(&self, approval: ApprovalId) -> Result<Vec<Delivery>>;

    /// Inserts worker `id` (started and seen at `at`) or, if it exists, sets
    /// its `agents` and `seen_at`, keeping `started_at`. One statement.
    async fn worker_seen(&self, id: &str, agents: &[String], at: DateTime<Utc>) -> Result<()>;

    /// Workers with `seen_at >= since`, most recently seen first, then by id.
    async fn workers_seen(&self, since: DateTime<Utc>) -> Result<Vec<WorkerSeen>>;

    /// A trivial round trip.
    async fn ping(&self) -> Result<()>;

    /// Sets `segment_traceparent` of investigation `id` to `traceparent`,
    /// only while it is running under lease `epoch`. Returns whether it
    /// wrote. Touches no column the fenced writes compare, so a remembered
    /// row stays valid.
    async fn record_segment(
        &self,
        id: InvestigationId,
        epoch: i64,
        traceparent: &str,
    ) -> Result<bool>;

    /// Writes investigation `after` and appends `events` in one atomic step,
    /// but only if the stored row still has `before`'s `last_seq`,
    /// `lease_epoch`, `lease_expires_at` and `heartbeat_at`. Returns whether
    /// it wrote; `false` means the row moved and nothing was written. Takes
    /// no lock that outlives the call.
    ///
    /// Every transition except a heartbeat appends an event (moving
    /// `last_seq`), and a heartbeat sets `heartbeat_at` and
    /// `lease_expires_at` from the time, so a row that passes the check is
    /// the row `after` was decided from, however old `before` is. Used only
    /// for transitions that write no approval request and send no wake-up.
    /// Only the progress columns need be written when
    /// [`Investigation::progress_only`] holds.
    ///
    /// With `receipt`, the head receipt is inserted in the same atomic step,
    /// only if the row was written.
    async fn update_if_unchanged(
        &self,
        before: &Investigation,
        after: &Investigation,
        events: &[Event],
        receipt: Option<&Receipt>,
    ) -> Result<bool>;

    /// [`Backend::update_if_unchanged`] for several investigations in one
    /// transaction: each write is compared and applied on its own (a write
    /// whose row moved is skipped without failing the others), and every
    /// applied write commits together, with its events and receipt.
    /// Returns, in order, whether each write applied.
    ///
    /// No two writes name the same investigation. An error means nothing is
    /// known of any write in the batch: it may have committed whole or not
    /// at all, as for a lone write whose answer was lost.
    async fn update_if_unchanged_batch(&self, writes: &[FencedWrite]) -> Result<Vec<bool>>;

    /// The head receipts of aggregate `id`'s `log`, by seq.
    async fn receipts(&self, log: LogName, id: Uuid) -> Result<Vec<Receipt>>;

    /// Wake-up hints (see [`super::Wakeups`]).
    fn wakeups(&self) -> BoxStream<'static, Wakeup>;

    /// One case (deleted or not) with its counts.
    async fn case(&self, id: CaseId) -> Result<Option<CaseOverview>>;

    /// The case numbered `number`, with its counts.
    async fn case_by_number(&self, number: CaseNumber) -> Result<Option<CaseOverview>>;

    /// Up to `query.page_size()` cases matching `query`'s filters, in its
    /// order, after its cursor (if any). The order is the sort key's value
    /// ([`super::CaseSortKey::value_of`]: severity and status by rank, the
    /// stored lower-case title, the assignee with none as `''`, the linked
    /// alerts and the observables counted in the same statement; texts
    /// compared byte by byte), then the id, both in the sort's direction;
    /// the cursor condition is `(key, id) > (value, id)` (ascending) or `<`
    /// (descending). Deleted cases only with `include_deleted`.
    async fn cases(&self, query: &CaseQuery) -> Result<Vec<CaseOverview>>;

    /// The counts of [`super::CaseKpis`] over the cases `query`'s filters
    /// select, ignoring its statuses, cursor and limit.
    async fn case_kpis(&self, query: &CaseQuery) -> Result<CaseKpis>;

    /// Observables of `case`, by `first_seen`, then id.
    async fn observables(&self, case: CaseId) -> Result<Vec<Observable>>;

    /// Evidence items of `case` (no content), by `created_at`, then id.
    async fn evidence_items(&self, case: CaseId) -> Result<Vec<Evidence>>;

    /// One evidence item (no content).
    async fn evidence_item(&self, id: EvidenceId) -> Result<Option<Evidence>>;

    /// One evidence item with its stored content (`None` for external
    /// content).
    async fn evidence_with_content(
        &self,
        id: EvidenceId,
    ) -> Result<Option<(Evidence, Option<Vec<u8>>)>>;

    /// Custody records of evidence item `evidence`, by `at`, then id.
    async fn custody(&self, evidence: EvidenceId) -> Result<Vec<CustodyRecord>>;

    /// Comments of `case`, by `created_at`, then id.
    async fn comments(&self, case: CaseId) -> Result<Vec<Comment>>;

    /// Tasks of `case`, by `created_at`, then id.
    async fn tasks(&self, case: CaseId) -> Result<Vec<Task>>;

    /// For every observable of `case`, the other cases (not deleted) holding
    /// the same type and value, each with its observable count; any order.
    async fn shared_observables(&self, case: CaseId) -> Result<Vec<SharedRow>>;

    /// One alert.
    async fn alert(&self, id: AlertId) -> Result<Option<Alert>>;

    /// Alerts matching `query` (every filter, `id < after`), by id
    /// descending, at most `query.page_size()`.
    async fn alerts(&self, query: &AlertQuery) -> Result<Vec<Alert>>;
}

/// What [`Backend::update_delivery`] writes, decided by the driver from a
/// [`super::DeliveryOutcome`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryChange {
    /// The new status.
    pub status: DeliveryStatus,
    /// The new `next_attempt_at`; `None` keeps the stored one.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the answer, if any.
    pub last_status: Option<i32>,
    /// Why the attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was delivered (set only with [`DeliveryStatus::Delivered`]).
    pub delivered_at: Option<DateTime<Utc>>,
    /// The time of the change.
    pub updated_at: DateTime<Utc>,
}

/// How [`WriteTx::lock_tokens`] holds the token table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLock {
    /// The transaction will write tokens: it waits for an
    /// [`TokenLock::Exclusive`] holder, and shares the table with other
    /// writers.
    Write,
    /// No other transaction writes tokens until this one ends, so a check
    /// for existing tokens stays true until then. Reads are not blocked.
    Exclusive,
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

    /// Locks and returns up to `limit` of the oldest `pending/queued`
    /// investigations of `agents` (any agent when empty) that may be claimed
    /// at `now` (their `not_before` is empty or not after `now`), oldest
    /// (`created_at`, then id) first, skipping rows other transactions
    /// hold. One statement.
    async fn lock_queued(
        &mut self,
        agents: &[String],
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Investigation>>;

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

    /// Links investigation `id` (inserted in this transaction) to `case`.
    /// The link never changes afterwards.
    async fn link_investigation_case(
        &mut self,
        id: InvestigationId,
        case: CaseId,
        purpose: CasePurpose,
    ) -> Result<()>;

    /// Links investigation `id` (inserted in this transaction) to the one
    /// that delegated it. The link never changes afterwards.
    async fn link_investigation_parent(
        &mut self,
        id: InvestigationId,
        parent: &crate::model::ParentLink,
    ) -> Result<()>;

    /// Each child of `parent` (investigations it delegated) and its status,
    /// oldest first, as this transaction sees them (not locked).
    async fn child_statuses(
        &mut self,
        parent: InvestigationId,
    ) -> Result<Vec<(InvestigationId, crate::model::Status)>>;

    /// Writes an existing investigation that was `before` and is now `after`:
    /// only the progress columns when [`Investigation::progress_only`] holds,
    /// every mutable column otherwise.
    async fn update_investigation(
        &mut self,
        before: &Investigation,
        after: &Investigation,
    ) -> Result<()>;

    /// Appends sealed entries to `A`'s log.
    async fn append<A: Aggregate>(&mut self, entries: &[Entry<A>]) -> Result<()>;

    /// [`WriteTx::update_investigation`] then, when there are any,
    /// [`WriteTx::append`]. An adapter may do both in one statement
    /// (one round trip instead of two); the outcome must be the same.
    async fn update_and_append(
        &mut self,
        before: &Investigation,
        after: &Investigation,
        events: &[Event],
    ) -> Result<()> {
        self.update_investigation(before, after).await?;
        if !events.is_empty() {
            self.append(events).await?;
        }
        Ok(())
    }

    /// [`WriteTx::insert_investigation`] then, if it inserted,
    /// [`WriteTx::append`]. Returns `false`, writing nothing, when
    /// (`requested_by`, `idempotency_key`) is already taken. An adapter may
    /// do both in one statement.
    async fn insert_and_append(
        &mut self,
        inv: &Investigation,
        digest: &str,
        events: &[Event],
    ) -> Result<bool> {
        if !self.insert_investigation(inv, digest).await? {
            return Ok(false);
        }
        if !events.is_empty() {
            self.append(events).await?;
        }
        Ok(true)
    }

    /// Inserts a signed head receipt.
    async fn insert_receipt(&mut self, receipt: &Receipt) -> Result<()>;

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

    /// Takes the token table lock in `mode`, held until commit or rollback
    /// (`LOCK TABLE api_tokens`; a no-op under SQLite's exclusive
    /// `BEGIN IMMEDIATE`). Every token write takes it before any other lock,
    /// so token transactions cannot deadlock on each other.
    async fn lock_tokens(&mut self, mode: TokenLock) -> Result<()>;

    /// Whether any token is not revoked.
    async fn has_active_token(&mut self) -> Result<bool>;

    /// Locks and returns the roles of principal `name`, if it exists.
    async fn lock_principal(&mut self, name: &str) -> Result<Option<Vec<Role>>>;

    /// Inserts principal `name` with `roles`, created at `at`. Returns
    /// `false`, writing nothing, when the name is already taken (after
    /// waiting for a concurrent insert of the same name to end).
    async fn insert_principal(
        &mut self,
        name: &str,
        roles: &[Role],
        at: DateTime<Utc>,
    ) -> Result<bool>;

    /// Inserts a token for an existing principal. Returns `false`, writing
    /// nothing, when `id` is already taken.
    async fn insert_token(
        &mut self,
        id: &str,
        principal: &str,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool>;

    /// Locks and returns one token with its principal's roles.
    async fn lock_token(&mut self, id: &str) -> Result<Option<TokenRecord>>;

    /// Sets `revoked_at` of token `id` if it is not revoked yet.
    async fn revoke_token(&mut self, id: &str, at: DateTime<Utc>) -> Result<()>;

    /// Takes the next case number from the store's sequence. A number
    /// taken by a transaction that rolls back may be skipped.
    async fn next_case_number(&mut self) -> Result<CaseNumber>;

    /// Locks and returns one case (with its alert ids).
    async fn lock_case(&mut self, id: CaseId) -> Result<Option<Case>>;

    /// The case `id` was merged into, when it was and is not deleted, read
    /// without locking the row (`merged_into` never changes once set).
    async fn case_merge_target(&mut self, id: CaseId) -> Result<Option<CaseId>>;

    /// Inserts a new case row (not its alert links).
    async fn insert_case(&mut self, case: &Case) -> Result<()>;

    /// Writes every mutable column of a case row (not its alert links).
    async fn update_case(&mut self, case: &Case) -> Result<()>;

    /// The case alert `alert_id` is linked to, if any.
    async fn alert_owner(&mut self, alert_id: &str) -> Result<Option<CaseId>>;

    /// Links `alert_id` to `case`. A link the alert already has elsewhere
    /// is a unique violation ([`super::Error::AlreadyExists`]).
    async fn link_alert(
        &mut self,
        case: CaseId,
        alert_id: &str,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<()>;

    /// Inserts a new alert; `false` (and nothing written) when one with
    /// the same `(source, source_id)` is stored. Under concurrency the
    /// loser waits for the winner's commit, then gets `false`.
    async fn insert_alert(&mut self, alert: &Alert) -> Result<bool>;

    /// The alert stored under `(source, source_id)`.
    async fn alert_by_source(&mut self, source: &str, source_id: &str) -> Result<Option<Alert>>;

    /// Locks and returns one alert.
    async fn lock_alert(&mut self, id: AlertId) -> Result<Option<Alert>>;

    /// Inserts the row of grouping key `key` if missing and locks it until
    /// commit or rollback: the case it feeds and its last alert's time.
    async fn claim_alert_group(&mut self, key: &str) -> Result<AlertGroup>;

    /// Writes the claimed row of `key`.
    async fn update_alert_group(
        &mut self,
        key: &str,
        case: CaseId,
        last_alert_at: DateTime<Utc>,
    ) -> Result<()>;

    /// Removes every alert link of `case`.
    async fn detach_alerts(&mut self, case: CaseId) -> Result<()>;

    /// Moves every alert link of `from` to `to`.
    async fn move_alerts(&mut self, from: CaseId, to: CaseId) -> Result<()>;

    /// The observable of `case` with type `kind` and normalized `value`.
    async fn find_observable(
        &mut self,
        case: CaseId,
        kind: ObservableType,
        value: &str,
    ) -> Result<Option<Observable>>;

    /// One observable, read inside the transaction.
    async fn observable(&mut self, id: ObservableId) -> Result<Option<Observable>>;

    /// Every observable of `case`, by `first_seen`, then id.
    async fn case_observables(&mut self, case: CaseId) -> Result<Vec<Observable>>;

    /// The payload (JSON text) of every `tool_result` event of
    /// investigation `id`, in log order, read inside the transaction.
    async fn tool_result_payloads(&mut self, id: InvestigationId) -> Result<Vec<String>>;

    /// Inserts an observable.
    async fn insert_observable(&mut self, observable: &Observable) -> Result<()>;

    /// Writes every mutable column of an observable, its case included.
    async fn update_observable(&mut self, observable: &Observable) -> Result<()>;

    /// Deletes an observable.
    async fn delete_observable(&mut self, id: ObservableId) -> Result<()>;

    /// One evidence item (no content), read inside the transaction.
    async fn evidence(&mut self, id: EvidenceId) -> Result<Option<Evidence>>;

    /// Inserts an evidence item with its stored content (`None` for
    /// external content).
    async fn insert_evidence(&mut self, evidence: &Evidence, content: Option<&[u8]>) -> Result<()>;

    /// Appends a custody record.
    async fn insert_custody(&mut self, record: &CustodyRecord) -> Result<()>;

    /// Inserts a comment.
    async fn insert_comment(&mut self, comment: &Comment) -> Result<()>;

    /// One task, read inside the transaction.
    async fn task(&mut self, id: TaskId) -> Result<Option<Task>>;

    /// Inserts a task.
    async fn insert_task(&mut self, task: &Task) -> Result<()>;

    /// Writes every mutable column of a task.
    async fn update_task(&mut self, task: &Task) -> Result<()>;

    /// How many of each record `case` holds, read inside the transaction.
    async fn case_counts(&mut self, case: CaseId) -> Result<CaseCounts>;

    /// Moves every evidence item, comment and task of `from` to `to`.
    async fn move_records(&mut self, from: CaseId, to: CaseId) -> Result<()>;

    /// Sends `wakeup` when (and only if) the transaction commits.
    async fn notify(&mut self, wakeup: Wakeup) -> Result<()>;

    /// Commits.
    async fn commit(self) -> Result<()>;

    /// Rolls back now, releasing every lock the transaction holds. Callers
    /// must not rely on drop: a dropped transaction's rollback may wait for
    /// the connection's next use, holding row locks until then.
    async fn rollback(self);
}

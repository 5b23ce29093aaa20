//! The store ports, one per capability.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::stream::BoxStream;

use super::alert_query::{AlertPage, AlertQuery, Ingested};
use super::case_query::{
    CaseKpis, CaseOverview, CasePage, CaseQuery, EvidenceContent, MergeReport, RelatedCase,
};
use super::error::Result;
use super::query::{
    ApprovalQuery, DispatchRequest, Dispatched, ListQuery, Page, Reaped, ReviewInput, Wakeup,
};
use super::records::{Delivery, DeliveryOutcome, NewToken, Stats, TokenRecord, WorkerSeen};
use crate::approval::{ApprovalId, ApprovalRequest, Decision};
use crate::case::{
    AlertId, Case, CaseEvent, CaseId, CaseLog, CaseNumber, CasePatch, Comment, CustodyRecord,
    Disposition, Evidence, EvidenceId, GroupingRule, NewAlert, NewCase, NewComment, NewCustody,
    NewEvidence, NewObservable, NewTask, Observable, ObservableId, ObservablePatch, StatusChange,
    Task, TaskId, TaskPatch,
};
use crate::event::InvestigationLog;
use crate::event::{Event, StepEvent};
use crate::log::ChainReport;
use crate::machine::ApprovalDraft;
use crate::model::{Investigation, InvestigationId};
use crate::receipt::Receipt;
use crate::result::Completion;

/// Creates investigations.
#[async_trait]
pub trait Dispatcher: Send + Sync {
    /// Creates a `pending/queued` investigation with its `dispatched` event
    /// and wakes workers serving its agent.
    ///
    /// With an idempotency key, a repeat of the same request by the same
    /// requester returns the existing investigation (`created: false`), and a
    /// different request under the same key is [`super::Error::IdempotencyKeyReused`].
    async fn dispatch(&self, request: DispatchRequest) -> Result<Dispatched>;
}

/// Worker writes. Every call except `claim_next` names the lease epoch the
/// worker holds and fails with [`super::Error::LeaseLost`] if the epoch moved
/// or the lease expired; a worker that gets `LeaseLost` must stop at once.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Claims the oldest queued investigation of one of `agents` (any agent
    /// when empty): epoch + 1, attempt + 1, lease until now + `lease_for`.
    /// Never claims a running or awaiting row; each queued row is claimed by
    /// exactly one caller. `mode` is the claiming worker's runtime mode
    /// (`dummy`, `dry_run`, `real`), recorded on the run and in its
    /// `claimed` event. Returns the claimed record with its new epoch.
    async fn claim_next(
        &self,
        agents: &[String],
        worker: &str,
        mode: Option<&str>,
        lease_for: Duration,
    ) -> Result<Option<Investigation>>;

    /// [`Leases::claim_next`] for up to `limit` rows in one transaction:
    /// the oldest queued rows of `agents` are locked in one statement and
    /// each is claimed as `claim_next` would claim it (its own epoch,
    /// `claimed` event and lease). Returns them oldest first; fewer than
    /// `limit` (or none) when the queue holds fewer. Each queued row is
    /// claimed by exactly one caller.
    async fn claim_up_to(
        &self,
        agents: &[String],
        worker: &str,
        mode: Option<&str>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<Investigation>>;

    /// Whether [`Leases::claim_next`] for `agents` would find a row now: a
    /// cheap read that opens no write transaction, so an idle worker can
    /// look before it claims. A `true` may be stale (another worker can
    /// claim the row first); a `false` is at most as old as the call.
    async fn has_claimable(&self, agents: &[String]) -> Result<bool>;

    /// Records `traceparent`, the trace context of the span of the segment
    /// running under lease `epoch`, as the run's
    /// [`Investigation::segment_traceparent`]: the next claim returns it, and
    /// that segment links to this one. Appends no event. Fenced: a lease
    /// that moved on is [`Error::LeaseLost`] and writes nothing.
    async fn record_segment(
        &self,
        id: InvestigationId,
        epoch: i64,
        traceparent: &str,
    ) -> Result<()>;

    /// Extends the lease to now + `lease_for`. Appends no event.
    async fn heartbeat(
        &self,
        id: InvestigationId,
        epoch: i64,
        lease_for: Duration,
    ) -> Result<Investigation>;

    /// Appends step events atomically, in order, and returns them sealed.
    async fn checkpoint(
        &self,
        id: InvestigationId,
        epoch: i64,
        events: Vec<StepEvent>,
    ) -> Result<Vec<Event>>;

    /// Creates the approval request and parks the investigation on it,
    /// releasing the lease, in one transaction.
    async fn await_approval(
        &self,
        id: InvestigationId,
        epoch: i64,
        request: ApprovalDraft,
    ) -> Result<ApprovalRequest>;

    /// Parks the investigation until its children (the investigations its
    /// `delegate_investigation` calls dispatched) finish, releasing the
    /// lease: `Some(parked)`. When every child has finished already it
    /// stays running under the lease and `None` is returned, so the caller
    /// reads their results at once. The last child to finish queues the
    /// parent again in its own finishing transaction (`children_finished`);
    /// a child that is dead-lettered has not finished.
    async fn await_children(
        &self,
        id: InvestigationId,
        epoch: i64,
        children: Vec<InvestigationId>,
    ) -> Result<Option<Investigation>>;

    /// Gives the investigation back to the queue. `not_before: None` is a
    /// graceful release (shutdown): the next claim continues the same
    /// attempt. `Some(t)` is a retry after a failure that may pass: the next
    /// claim starts the next attempt, and no claim takes the run before `t`.
    async fn release(
        &self,
        id: InvestigationId,
        epoch: i64,
        reason: &str,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<Investigation>;

    /// Finishes: `completed` for a valid result, `review_required` (keeping
    /// the raw output) otherwise.
    async fn complete(
        &self,
        id: InvestigationId,
        epoch: i64,
        outcome: Completion,
    ) -> Result<Investigation>;

    /// Ends without a result.
    async fn fail(&self, id: InvestigationId, epoch: i64, reason: &str) -> Result<Investigation>;
}

/// Periodic sweeps. Each call is idempotent and safe to run in any number of
/// processes at once: every row is acted on exactly once.
#[async_trait]
pub trait Sweeps: Send + Sync {
    /// Dead-letters up to `limit` running investigations whose lease expired
    /// (epoch + 1, so the old owner can write nothing more). Never retries.
    async fn reap(&self, limit: u32) -> Result<Vec<Reaped>>;

    /// Expires up to `limit` pending approval requests past `expires_at` and
    /// queues their investigations again.
    async fn expire_approvals(&self, limit: u32) -> Result<Vec<ApprovalRequest>>;
}

/// Operator and approver actions, recorded with the principal's name.
#[async_trait]
pub trait Operations: Send + Sync {
    /// Puts a `dead_lettered` or `failed` investigation back in the queue
    /// (epoch + 1). Never automatic; `reason` is required.
    async fn rescue(&self, id: InvestigationId, by: &str, reason: &str) -> Result<Investigation>;

    /// Stops a pending investigation (it becomes `failed`, epoch + 1); a
    /// pending approval it waits on is resolved as rejected.
    async fn cancel(&self, id: InvestigationId, by: &str, reason: &str) -> Result<Investigation>;

    /// Grades a `review_required` investigation as `completed`.
    async fn review(
        &self,
        id: InvestigationId,
        by: &str,
        review: ReviewInput,
    ) -> Result<Investigation>;

    /// Adds an operator note to the event log.
    async fn annotate(&self, id: InvestigationId, by: &str, text: &str) -> Result<Event>;

    /// Decides a pending approval request and queues its investigation again.
    /// Of concurrent deciders (or a decision racing expiry) exactly one wins;
    /// the others get [`super::Error::ApprovalNotPending`] (or
    /// [`super::Error::ApprovalExpired`] past the deadline). The investigation's
    /// requester cannot decide ([`super::Error::SeparationOfDuties`]).
    async fn decide_approval(
        &self,
        id: ApprovalId,
        by: &str,
        decision: Decision,
        comment: Option<String>,
    ) -> Result<ApprovalRequest>;
}

/// Reads. They never write.
#[async_trait]
pub trait Reads: Send + Sync {
    /// One investigation.
    async fn get(&self, id: InvestigationId) -> Result<Investigation>;

    /// The investigations `parent` delegated, oldest first (none for an
    /// unknown id).
    async fn children(&self, parent: InvestigationId) -> Result<Vec<Investigation>>;

    /// Investigations newest first, filtered, by keyset pages. Rows inserted
    /// while paging never cause an older row to repeat or be skipped.
    async fn list(&self, query: &ListQuery) -> Result<Page<Investigation>>;

    /// Events with `seq > after_seq`, in seq order, at most `limit` (1..=1000).
    async fn events(&self, id: InvestigationId, after_seq: i64, limit: u32) -> Result<Vec<Event>>;

    /// One approval request.
    async fn approval(&self, id: ApprovalId) -> Result<ApprovalRequest>;

    /// Approval requests: pending first, then soonest to expire.
    async fn approvals(&self, query: &ApprovalQuery) -> Result<Vec<ApprovalRequest>>;

    /// Walks the investigation's seq sequence and hash chain and reports the
    /// first gap or broken link.
    async fn verify_chain(&self, id: InvestigationId) -> Result<ChainReport<InvestigationLog>>;

    /// The signed head receipts issued for investigation `id` (one each
    /// time it reached a terminal status while the store had a signing
    /// key), by seq. Empty when none were issued.
    async fn receipts(&self, id: InvestigationId) -> Result<Vec<Receipt>>;

    /// Investigations per (status, phase) and pending approvals, counted now.
    async fn stats(&self) -> Result<Stats>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;
}

/// API tokens and the principals they authenticate. Only hashes of token
/// secrets are stored; the secret is shown once, by the caller, and lost.
#[async_trait]
pub trait Tokens: Send + Sync {
    /// Stores a token, creating its principal with `token.roles` if the name
    /// is new. For an existing principal, empty `roles` keeps its roles and
    /// different roles are [`super::Error::RolesDiffer`] (roles never change
    /// behind a token holder's back). Empty roles for a new principal, a
    /// blank name or an id already taken are [`super::Error::InvalidInput`].
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord>;

    /// Stores `token` only if no unrevoked token exists at all, atomically
    /// against concurrent callers (the first `serve` creates one admin
    /// token). Returns `None`, writing nothing, when one exists.
    async fn bootstrap_token(&self, token: NewToken) -> Result<Option<TokenRecord>>;

    /// The token with public id `id`, revoked or not.
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>>;

    /// Every token, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenRecord>>;

    /// Revokes a token. Revoking a revoked token changes nothing and returns
    /// it; an unknown id is [`super::Error::NotFound`].
    async fn revoke_token(&self, id: &str) -> Result<TokenRecord>;
}

/// The webhook outbox: one delivery per (approval request, target), tried
/// until delivered or given up. Any number of processes may run it at once.
#[async_trait]
pub trait Notifications: Send + Sync {
    /// Adds a pending delivery to each of `targets` for every pending
    /// approval request that has none for that target yet; returns how many
    /// were added. Idempotent.
    async fn enqueue_deliveries(&self, targets: &[String]) -> Result<u64>;

    /// Claims up to `limit` pending deliveries due now, oldest first: each
    /// one's `attempts` goes up by one and its `next_attempt_at` moves to
    /// now + `hold`, so no other caller takes it while it is being tried.
    async fn claim_deliveries(&self, hold: Duration, limit: u32) -> Result<Vec<Delivery>>;

    /// Records the outcome of the attempt on (approval, target).
    async fn record_delivery(
        &self,
        approval: ApprovalId,
        target: &str,
        outcome: DeliveryOutcome,
    ) -> Result<Delivery>;

    /// One approval request's deliveries, by target.
    async fn deliveries(&self, approval: ApprovalId) -> Result<Vec<Delivery>>;
}

/// Worker processes announce themselves so operators can see who is serving.
#[async_trait]
pub trait Presence: Send + Sync {
    /// Records that worker `id`, serving `agents`, is alive now.
    async fn worker_seen(&self, id: &str, agents: &[String]) -> Result<()>;

    /// Workers seen at or after `since`, most recently seen first.
    async fn workers_seen(&self, since: DateTime<Utc>) -> Result<Vec<WorkerSeen>>;
}

/// Case writes, recorded with the principal's name (`by`).
///
/// Every call is one transaction that locks the case row, decides with the
/// pure [`crate::case::transition`] (or [`crate::case::merge`]) and writes
/// the case, its timeline entries and the records beside it together; a
/// refused call writes nothing. Writes to one case serialise on its row, so
/// concurrent calls apply one after the other and its timeline stays
/// contiguous. A call that changes nothing (a patch that sets what is
/// there, an alert linked twice) writes nothing and returns the record as
/// it is.
///
/// Refusals: [`super::Error::NotFound`] (no such case, or a record that is
/// not the named case's), [`super::Error::InvalidInput`] naming the field,
/// [`super::Error::InvalidTransition`] (a status change not allowed next,
/// with the statuses that are; or a command the case's state refuses:
/// closed, deleted, merged), [`super::Error::AlertLinked`].
#[async_trait]
pub trait Cases: Send + Sync {
    /// Creates an `open` case numbered from the store's sequence, with its
    /// `created` entry and an `alert_linked` entry per alert.
    async fn create_case(&self, by: &str, case: NewCase) -> Result<Case>;

    /// Changes fields and/or the status: one `field_change`,
    /// `severity_change` or `assignment_change` entry per changed field and
    /// a `status_change` entry for the status (see [`CasePatch`]).
    async fn update_case(&self, id: CaseId, by: &str, patch: CasePatch) -> Result<Case>;

    /// Assigns the case (`None`: unassigns it): [`Cases::update_case`] with
    /// only the assignee.
    async fn assign_case(&self, id: CaseId, by: &str, assignee: Option<String>) -> Result<Case>;

    /// Moves the case to another status: [`Cases::update_case`] with only
    /// the status. `resolved` and `closed` need a disposition; reopening
    /// (`closed -> open`) needs a reason and clears the disposition.
    async fn change_case_status(&self, id: CaseId, by: &str, change: StatusChange) -> Result<Case>;

    /// Soft-deletes the case: its alerts are detached and a `case_deleted`
    /// entry written. It stays readable by id, leaves listings (unless
    /// asked for) and accepts no further command.
    async fn delete_case(&self, id: CaseId, by: &str, reason: Option<String>) -> Result<Case>;

    /// Links an alert (`alert_linked`). An alert belongs to at most one
    /// case: linking one another case holds is [`super::Error::AlertLinked`];
    /// linking it twice to the same case changes nothing.
    async fn link_alert(&self, id: CaseId, by: &str, alert_id: &str) -> Result<Case>;

    /// Reports an observable. A new (type, normalized value) is added
    /// (`observable_added`); one the case holds is counted as another
    /// sighting (`sightings + 1`, `last_seen` now, tags and enrichment
    /// merged: `observable_updated`). A value that does not normalize is
    /// [`super::Error::InvalidInput`] on `value`.
    async fn add_observable(
        &self,
        id: CaseId,
        by: &str,
        observable: NewObservable,
    ) -> Result<Observable>;

    /// Edits an observable's TLP, PAP, tags or enrichment
    /// (`observable_updated`).
    async fn update_observable(
        &self,
        id: CaseId,
        observable: ObservableId,
        by: &str,
        patch: ObservablePatch,
    ) -> Result<Observable>;

    /// Registers an evidence item (`evidence_added`). Stored content is
    /// hashed and measured here and may be at most the store's limit
    /// ([`crate::case::DEFAULT_EVIDENCE_LIMIT`] unless configured), else
    /// [`super::Error::InvalidInput`] on `content`; external content names
    /// its `uri` and `sha256`.
    async fn add_evidence(&self, id: CaseId, by: &str, evidence: NewEvidence) -> Result<Evidence>;

    /// Appends to an evidence item's chain of custody (`custody_recorded`).
    /// Custody records are never changed or removed.
    async fn record_custody(
        &self,
        id: CaseId,
        evidence: EvidenceId,
        by: &str,
        record: NewCustody,
    ) -> Result<CustodyRecord>;

    /// Adds a comment (`comment_added`).
    async fn add_comment(&self, id: CaseId, by: &str, comment: NewComment) -> Result<Comment>;

    /// Creates a `todo` task (`task_created`).
    async fn create_task(&self, id: CaseId, by: &str, task: NewTask) -> Result<Task>;

    /// Edits a task: `task_updated` for its fields, `task_status_change`
    /// for its status, which moves by [`crate::case::task_transition`]
    /// (refused moves are [`super::Error::InvalidTransition`] with the
    /// statuses allowed).
    async fn update_task(
        &self,
        id: CaseId,
        task: TaskId,
        by: &str,
        patch: TaskPatch,
    ) -> Result<Task>;

    /// Merges `sources` into `target` in one transaction: their alerts,
    /// observables (sightings summed where the target holds the same type
    /// and value), evidence, comments and tasks move to the target; each
    /// source is closed with the target's disposition (or, when the target
    /// has none, `disposition`, then required) and `merged_into` set; every
    /// affected timeline gets a `case_merged` entry. Cases are locked in id
    /// order, so concurrent merges and edits never deadlock.
    async fn merge_cases(
        &self,
        target: CaseId,
        sources: &[CaseId],
        by: &str,
        disposition: Option<Disposition>,
    ) -> Result<MergeReport>;
}

/// Case reads. They never write. A deleted case and everything in it stay
/// readable by id, for auditors.
#[async_trait]
pub trait CaseReads: Send + Sync {
    /// One case with its counts.
    async fn case(&self, id: CaseId) -> Result<CaseOverview>;

    /// One case by its number.
    async fn case_by_number(&self, number: CaseNumber) -> Result<CaseOverview>;

    /// Cases filtered and sorted, by keyset pages ([`CaseQuery`]). Rows
    /// inserted or changed while paging never make an unchanged row repeat
    /// or be skipped. A cursor listed under another sort is
    /// [`super::Error::InvalidInput`] on `after`.
    async fn list_cases(&self, query: &CaseQuery) -> Result<CasePage>;

    /// The header counts over what `query` selects, its status filter and
    /// paging aside ([`CaseKpis`]).
    async fn case_kpis(&self, query: &CaseQuery) -> Result<CaseKpis>;

    /// Timeline entries with `seq > after_seq`, in seq order, at most
    /// `limit` (1..=1000).
    async fn case_timeline(&self, id: CaseId, after_seq: i64, limit: u32)
    -> Result<Vec<CaseEvent>>;

    /// Walks the case's timeline (seq and hash chain, through the same
    /// verifier as investigation events) and compares the row with what the
    /// timeline implies ([`crate::case::CaseReplay`]).
    async fn verify_case(&self, id: CaseId) -> Result<ChainReport<CaseLog>>;

    /// The case's observables, oldest first.
    async fn observables(&self, id: CaseId) -> Result<Vec<Observable>>;

    /// The case's evidence items (without content), oldest first.
    async fn evidence(&self, id: CaseId) -> Result<Vec<Evidence>>;

    /// An evidence item's content. Stored content is hashed again on every
    /// read; content that no longer matches its recorded SHA-256 is
    /// [`super::Error::IntegrityMismatch`] and is not handed out.
    async fn evidence_content(&self, id: CaseId, evidence: EvidenceId) -> Result<EvidenceContent>;

    /// An evidence item's custody records, oldest first.
    async fn custody(&self, id: CaseId, evidence: EvidenceId) -> Result<Vec<CustodyRecord>>;

    /// The case's comments, oldest first.
    async fn comments(&self, id: CaseId) -> Result<Vec<Comment>>;

    /// The case's tasks, oldest first.
    async fn tasks(&self, id: CaseId) -> Result<Vec<Task>>;

    /// Cases (not deleted) sharing two or more observables (type and
    /// value) with this one, best score first, at most 20.
    async fn related_cases(&self, id: CaseId) -> Result<Vec<RelatedCase>>;
}

/// Wake-up hints for workers.
pub trait Wakeups: Send + Sync {
    /// A stream of hints that work may be waiting. It never ends while the
    /// store lives; after a lost connection it yields [`Wakeup::Resync`].
    fn wakeups(&self) -> BoxStream<'static, Wakeup>;
}

/// Alerts: ingest with grouping into cases, promotion by hand, reads.
#[async_trait]
pub trait Alerts: Send + Sync {
    /// Stores `alert` and groups it, in one transaction: the grouping key
    /// comes from `rules` ([`crate::case::grouping`]); the alert is linked
    /// (an `alert_linked` entry) to the open case holding that key whose
    /// last alert is within the rule's window, or a case is opened for it
    /// (title from the rule, severity from the alert, the entities as
    /// observables). An alert without a key is stored unlinked.
    ///
    /// Idempotent on `(source, source_id)`: a redelivery returns the
    /// stored alert (`created: false`) and writes nothing. Ingests under
    /// one key are serialized, so concurrent ones open exactly one case.
    async fn ingest_alert(
        &self,
        by: &str,
        alert: NewAlert,
        rules: &[GroupingRule],
    ) -> Result<Ingested>;

    /// Opens a case for an alert linked to none (title from its rule,
    /// severity from it, its entities as observables); an alert already
    /// linked is [`super::Error::AlertLinked`].
    async fn promote_alert(&self, id: AlertId, by: &str) -> Result<Ingested>;

    /// One alert, or [`super::Error::NotFound`].
    async fn alert(&self, id: AlertId) -> Result<crate::case::Alert>;

    /// Alerts matching `query`, newest first, keyset-paged.
    async fn list_alerts(&self, query: &AlertQuery) -> Result<AlertPage>;
}

/// Every port: what a process wires up and hands out as narrower views.
pub trait Store:
    Dispatcher
    + Leases
    + Sweeps
    + Operations
    + Reads
    + Wakeups
    + Tokens
    + Notifications
    + Presence
    + Cases
    + CaseReads
    + Alerts
{
}

impl<T> Store for T where
    T: Dispatcher
        + Leases
        + Sweeps
        + Operations
        + Reads
        + Wakeups
        + Tokens
        + Notifications
        + Presence
        + Cases
        + CaseReads
        + Alerts
{
}

//! [`TransactionalStore`]: the engine's implementation of every store port,
//! written once over a [`Backend`]. The engine reads, decides with
//! [`transition`] and asks the backend to compare and set; adapters only run
//! SQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::stream::BoxStream;

use super::backend::{Backend, FencedWrite, WriteTx};
use super::error::{Error, Result};
use super::group::{GroupCommit, GroupStats, GroupWriter};
use super::ports::{Dispatcher, Leases, Operations, Reads, Sweeps, Wakeups};
use super::query::{
    ApprovalQuery, Cursor, DispatchRequest, Dispatched, ListQuery, Page, Reaped, ReviewInput,
    Wakeup,
};
use super::records::Stats;
use crate::approval::{ApprovalId, ApprovalRequest, Decision};
use crate::audit::Replay;
use crate::case;
use crate::event::{Event, InvestigationLog, StepEvent};
use crate::log::{Aggregate, ChainReport, Entry, LogName, Verifier};
use crate::machine::{
    ApprovalDraft, ApprovalWrite, Command, NewInvestigation, Transition, transition,
};
use crate::model::{CasePurpose, Investigation, InvestigationId, Phase, Status};
use crate::receipt::{Receipt, ReceiptSigner};
use crate::result::Completion;

/// Unwraps `$e`, or rolls `$tx` back at once and returns the error.
macro_rules! tx_try {
    ($tx:ident, $e:expr) => {
        match $e {
            Ok(value) => value,
            Err(err) => {
                $tx.rollback().await;
                return Err(err);
            }
        }
    };
}

mod alerts;
mod cases;
mod children;
mod records;

/// Optimistic attempts of a worker write before it takes the row lock.
const OPTIMISTIC_ATTEMPTS: usize = 3;

/// How many times a dispatch retries after losing an idempotency-key race.
const DISPATCH_ATTEMPTS: usize = 3;
/// Events read per page while verifying a chain.
const VERIFY_PAGE: u32 = 1000;

/// Implements every store port over a database [`Backend`]: each command is
/// one transaction that locks the row, asks [`transition`] what to do, and
/// writes the new row, its events and any approval change before committing.
///
/// Worker writes (heartbeat, checkpoint, complete, fail) take an optimistic
/// path: the store decides from the last row it wrote for each running
/// investigation (or a fresh read) and asks
/// [`Backend::update_if_unchanged`] to write only if the database row still
/// matches. A stale memory costs a retry from a fresh read, never a wrong
/// write. Those writes are group-committed ([`GroupCommit`]): the ones that
/// arrive while a batch commits share the next transaction, each still
/// compared on its own.
#[derive(Debug)]
pub struct TransactionalStore<B> {
    backend: Arc<B>,
    running: Arc<RowCache>,
    signer: Option<Arc<ReceiptSigner>>,
    evidence_limit: u64,
    /// Batches the fenced worker writes; `None` when batching is off.
    writer: Option<Arc<GroupWriter<B>>>,
}

impl<B> Clone for TransactionalStore<B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            running: Arc::clone(&self.running),
            signer: self.signer.clone(),
            evidence_limit: self.evidence_limit,
            writer: self.writer.clone(),
        }
    }
}

/// Most remembered running rows; the memory is dropped when it fills.
const ROW_CACHE_CAPACITY: usize = 4096;

/// The last row this store wrote for each running investigation.
#[derive(Debug, Default)]
struct RowCache {
    rows: Mutex<HashMap<InvestigationId, Investigation>>,
}

impl RowCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InvestigationId, Investigation>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: InvestigationId) -> Option<Investigation> {
        self.lock().get(&id).cloned()
    }

    fn forget(&self, id: InvestigationId) {
        self.lock().remove(&id);
    }

    /// Remembers `row` while it is running; forgets it otherwise.
    fn record(&self, row: &Investigation) {
        let mut rows = self.lock();
        if row.is_running() {
            if rows.len() >= ROW_CACHE_CAPACITY && !rows.contains_key(&row.id) {
                rows.clear();
            }
            rows.insert(row.id, row.clone());
        } else {
            rows.remove(&row.id);
        }
    }
}

impl<B: Backend> TransactionalStore<B> {
    /// A store over `backend`.
    ///
    /// Fenced worker writes are batched with [`GroupCommit::default`]
    /// (zero wait); see [`Self::with_group_commit`].
    pub fn new(backend: B) -> Self {
        let backend = Arc::new(backend);
        let settings = GroupCommit::default();
        Self {
            writer: Some(Arc::new(GroupWriter::new(Arc::clone(&backend), settings))),
            backend,
            running: Arc::default(),
            signer: None,
            evidence_limit: crate::case::DEFAULT_EVIDENCE_LIMIT,
        }
    }

    /// Batches fenced worker writes (heartbeat, checkpoint, complete, fail)
    /// as `settings` say ([`super::group`]); [`GroupCommit::OFF`] sends
    /// each as its own statement. Clones made earlier keep their writer.
    pub fn with_group_commit(mut self, settings: GroupCommit) -> Self {
        self.writer = settings
            .is_on()
            .then(|| Arc::new(GroupWriter::new(Arc::clone(&self.backend), settings)));
        self
    }

    /// What the group-commit writer has committed so far; `None` when
    /// batching is off.
    pub fn group_stats(&self) -> Option<GroupStats> {
        self.writer.as_ref().map(|w| w.stats())
    }

    /// Keeps at most `bytes` of evidence content in the database per item
    /// (default [`crate::case::DEFAULT_EVIDENCE_LIMIT`]); larger evidence is
    /// registered by URI and digest.
    pub fn with_evidence_limit(mut self, bytes: u64) -> Self {
        self.evidence_limit = bytes;
        self
    }

    /// The most bytes of evidence content stored per item.
    pub fn evidence_limit(&self) -> u64 {
        self.evidence_limit
    }

    /// Signs a head receipt ([`crate::receipt`]) with `signer` in the same
    /// transaction as every transition that moves an investigation into a
    /// terminal status.
    pub fn with_signer(mut self, signer: ReceiptSigner) -> Self {
        self.signer = Some(Arc::new(signer));
        self
    }

    /// The public key receipts are signed with, if this store signs them.
    pub fn receipt_key(&self) -> Option<String> {
        self.signer.as_deref().map(ReceiptSigner::public_key)
    }

    /// Decides `command` on the locked row `current` and writes the whole
    /// transition inside `tx` ([`Self::write_in`]). On an error the caller
    /// rolls `tx` back; nothing is committed.
    async fn decide_in<T: WriteTx>(
        &self,
        tx: &mut T,
        current: &Investigation,
        command: Command,
    ) -> Result<Transition> {
        self.decide_in_at(tx, current, command, self.now()).await
    }

    /// [`Self::decide_in`] at `now` (the time the row was locked against).
    async fn decide_in_at<T: WriteTx>(
        &self,
        tx: &mut T,
        current: &Investigation,
        command: Command,
        now: DateTime<Utc>,
    ) -> Result<Transition> {
        let t = transition(Some(current), command, now)
            .map_err(|e| Error::from_transition(current.id, e))?;
        self.write_in(tx, current, &t).await?;
        Ok(t)
    }

    /// Writes transition `t` of the locked row `current` inside `tx`: its
    /// row, events and approval change, the head receipt it calls for, and
    /// its wake-up (sent on commit).
    async fn write_in<T: WriteTx>(
        &self,
        tx: &mut T,
        current: &Investigation,
        t: &Transition,
    ) -> Result<()> {
        let receipt = self.receipt_for(Some(current), t);
        persist(tx, Some(current), t, receipt.as_ref()).await?;
        self.follow_case_in(tx, Some(current), t).await?;
        self.follow_parent_in(tx, current, t).await
    }

    /// Writes what transition `t` of a linked investigation (`before`:
    /// `None` for a dispatch) means for its case, inside `tx`, after the
    /// investigation's own writes: [`case::investigation_effects`] says
    /// what, [`case::follow`] decides each on the case locked here. The
    /// investigation's row is locked first and its case second, on every
    /// path, so the two locks cannot deadlock.
    async fn follow_case_in<T: WriteTx>(
        &self,
        tx: &mut T,
        before: Option<&Investigation>,
        t: &Transition,
    ) -> Result<()> {
        let effects = case::investigation_effects(before, t);
        let Some(case_id) = t.next.case_id.filter(|_| !effects.is_empty()) else {
            return Ok(());
        };
        let Some(mut current) = tx.lock_case(case_id).await? else {
            return Ok(());
        };
        let now = self.now();
        for effect in &effects {
            let (observables, tool_outputs) = if effect.needs_facts() {
                (
                    tx.case_observables(case_id).await?,
                    tool_outputs(tx, t.next.id).await?,
                )
            } else {
                (Vec::new(), Vec::new())
            };
            let facts = case::Facts {
                observables: &observables,
                tool_outputs: &tool_outputs,
            };
            let decided = case::follow(&current, facts, effect, now);
            cases::write_case_in(tx, false, &decided).await?;
            current = decided.next;
        }
        Ok(())
    }

    /// Dispatches `request` inside `tx`: checks its case (an unknown one is
    /// invalid input naming `case_id`; a retired or closed one refuses the
    /// link, a summary refuses only a retired one), writes the
    /// investigation, its `dispatched` event, the case link and the case's
    /// `investigation_linked` entry. `None`, having written nothing, when
    /// (`requested_by`, `idempotency_key`) is already taken.
    pub(crate) async fn dispatch_in<T: WriteTx>(
        &self,
        tx: &mut T,
        request: &DispatchRequest,
    ) -> Result<Option<Investigation>> {
        let now = self.now();
        if let Some(case_id) = request.case_id {
            let found = tx
                .lock_case(case_id)
                .await?
                .ok_or_else(|| Error::InvalidInput {
                    field: "case_id".to_owned(),
                    message: format!("no case {case_id}"),
                })?;
            match request.case_purpose {
                CasePurpose::Investigate => case::may_link(&found),
                CasePurpose::Summarize => case::may_summarize(&found),
            }
            .map_err(Error::from_case_transition)?;
        }
        if let Some(parent) = &request.parent {
            // Locked, so a cancel of the parent either sees this child
            // (and cancels it) or comes after it and finds it here.
            let found = tx
                .lock(parent.id)
                .await?
                .ok_or_else(|| Error::InvalidInput {
                    field: "parent".to_owned(),
                    message: format!("no investigation {}", parent.id),
                })?;
            if found.status.is_terminal() {
                return Err(Error::InvalidInput {
                    field: "parent".to_owned(),
                    message: format!(
                        "investigation {} is {}: only a pending investigation delegates",
                        parent.id, found.status
                    ),
                });
            }
        }
        let new = NewInvestigation {
            id: InvestigationId::new_at(now),
            agent_id: request.agent_id.clone(),
            prompt: request.prompt.clone(),
            requested_by: request.requested_by.clone(),
            case_ref: request.case_ref.clone(),
            case_id: request.case_id,
            case_purpose: request.case_purpose,
            idempotency_key: request.idempotency_key.clone(),
            budget: request.budget.clone(),
            traceparent: request.traceparent.clone(),
            parent: request.parent.clone(),
        };
        let t = transition(None, Command::Dispatch(new.clone()), now)
            .map_err(|e| Error::from_transition(new.id, e))?;
        debug_assert!(t.approval.is_none(), "a dispatch writes no approval");
        if !tx
            .insert_and_append(&t.next, &request.digest(), &t.events)
            .await?
        {
            return Ok(None);
        }
        if let Some(parent) = &t.next.parent {
            tx.link_investigation_parent(t.next.id, parent).await?;
        }
        if let Some(case_id) = t.next.case_id {
            tx.link_investigation_case(t.next.id, case_id, t.next.case_purpose)
                .await?;
            self.follow_case_in(tx, None, &t).await?;
        }
        if let Some(wake) = t.wake.clone() {
            tx.notify(wake).await?;
        }
        Ok(Some(t.next))
    }

    /// The head receipt `t` calls for: one when the investigation has just
    /// reached a terminal status and the store has a signing key.
    fn receipt_for(&self, previous: Option<&Investigation>, t: &Transition) -> Option<Receipt> {
        let signer = self.signer.as_deref()?;
        let status = t.next.status;
        let reached = status.is_terminal() && previous.is_none_or(|p| p.status != status);
        reached.then(|| {
            signer.sign(
                LogName::Investigation,
                t.next.id.0,
                t.next.last_seq,
                &t.next.last_hash,
                status.as_str(),
                t.next.updated_at,
            )
        })
    }

    /// The adapter, for adapter-specific operations (migrations, pools).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    fn now(&self) -> DateTime<Utc> {
        self.backend.clock().now()
    }

    /// Walks `A`'s log of `id` in pages up to the tail the aggregate's row
    /// recorded (`last_seq`, `last_hash`, read before the walk) and reports
    /// the first problem. Entries appended after that read are not walked.
    /// `on_entry` sees every entry that checked out, in order.
    async fn verify_log<A: Aggregate>(
        &self,
        id: A::Id,
        last_seq: i64,
        last_hash: &str,
        mut on_entry: impl FnMut(&Entry<A>) + Send,
    ) -> Result<ChainReport<A>> {
        let mut verifier = Verifier::<A>::new(id);
        let mut after = 0;
        'walk: while after < last_seq {
            let page = self.backend.log::<A>(id, after, VERIFY_PAGE).await?;
            if page.is_empty() {
                break;
            }
            for entry in &page {
                if entry.seq > last_seq || !verifier.push(entry) {
                    break 'walk;
                }
                on_entry(entry);
                after = entry.seq;
            }
        }
        Ok(verifier.finish(last_seq, last_hash))
    }

    /// Locks `id`, builds a command from the locked row, applies it and commits.
    async fn apply<F>(&self, id: InvestigationId, command: F) -> Result<Transition>
    where
        F: FnOnce(&Investigation) -> Command + Send,
    {
        let mut tx = self.backend.begin().await?;
        let locked = tx.lock(id).await;
        let current = tx_try!(
            tx,
            locked.and_then(|row| row.ok_or_else(|| Error::investigation_not_found(id)))
        );
        let cmd = command(&current);
        let decided = self.decide_in(&mut tx, &current, cmd).await;
        let t = tx_try!(tx, decided);
        tx.commit().await?;
        self.running.record(&t.next);
        Ok(t)
    }
}

impl<B: Backend> TransactionalStore<B> {
    /// A worker write (heartbeat, checkpoint, complete, fail): decides from
    /// a known row without a lock and asks the backend to write the
    /// transition only if the row is unchanged
    /// ([`Backend::update_if_unchanged`]); after repeated interference it
    /// falls back to [`Self::apply`]. The known row is the last one this
    /// store wrote, or a fresh read. A refusal decided on a fresh read is
    /// final: the epoch never goes back and leases never revive, so a read
    /// that shows the lease lost shows it for good. A refusal decided on a
    /// remembered row is not trusted: the memory is dropped and the command
    /// decided again.
    async fn apply_fenced<F>(&self, id: InvestigationId, command: F) -> Result<Transition>
    where
        F: Fn() -> Command + Send + Sync,
    {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let (before, from_memory) = match self.running.get(id) {
                Some(row) => (row, true),
                None => (Reads::get(self, id).await?, false),
            };
            let t = match transition(Some(&before), command(), self.now()) {
                Ok(t) => t,
                Err(_) if from_memory => {
                    self.running.forget(id);
                    continue;
                }
                Err(e) => return Err(Error::from_transition(id, e)),
            };
            debug_assert!(
                t.approval.is_none() && t.wake.is_none(),
                "the fenced fast path writes no approval and wakes nobody"
            );
            if !case::investigation_effects(Some(&before), &t).is_empty()
                || children::finishes_child(&before, &t)
            {
                // A linked investigation's completion or failure writes back
                // to its case, and a child's may queue its parent: that
                // needs the locked, transactional path.
                break;
            }
            let receipt = self.receipt_for(Some(&before), &t);
            let applied = match &self.writer {
                Some(writer) => {
                    writer
                        .write(FencedWrite {
                            before,
                            after: t.next.clone(),
                            events: t.events.clone(),
                            receipt,
                        })
                        .await?
                }
                None => {
                    self.backend
                        .update_if_unchanged(&before, &t.next, &t.events, receipt.as_ref())
                        .await?
                }
            };
            if applied {
                self.running.record(&t.next);
                return Ok(t);
            }
            self.running.forget(id);
        }
        self.apply(id, |_| command()).await
    }
}

/// Writes a transition's row, events and approval change, and queues its
/// wake-up to be sent on commit.
async fn persist<T: WriteTx>(
    tx: &mut T,
    previous: Option<&Investigation>,
    t: &Transition,
    receipt: Option<&Receipt>,
) -> Result<()> {
    match &t.approval {
        Some(ApprovalWrite::Create(request)) => tx.insert_approval(request).await?,
        Some(ApprovalWrite::Resolve {
            id,
            status,
            decided_by,
            decided_at,
            comment,
        }) => {
            tx.resolve_approval(
                *id,
                *status,
                decided_by.as_deref(),
                *decided_at,
                comment.as_deref(),
            )
            .await?
        }
        None => {}
    }
    match previous {
        Some(before) => tx.update_and_append(before, &t.next, &t.events).await?,
        None if !t.events.is_empty() => tx.append(&t.events).await?,
        None => {}
    }
    if let Some(receipt) = receipt {
        tx.insert_receipt(receipt).await?;
    }
    if let Some(wake) = &t.wake {
        tx.notify(wake.clone()).await?;
    }
    Ok(())
}

/// The output of each of investigation `id`'s tool results that is not an
/// error, in log order, read inside `tx`.
async fn tool_outputs<T: WriteTx>(tx: &mut T, id: InvestigationId) -> Result<Vec<String>> {
    let mut outputs = Vec::new();
    for payload in tx.tool_result_payloads(id).await? {
        let result: crate::event::ToolResult = serde_json::from_str(&payload).map_err(|e| {
            Error::corrupt(format!(
                "bad tool_result payload of investigation {id}: {e}"
            ))
        })?;
        if !result.is_error {
            outputs.push(result.output);
        }
    }
    Ok(outputs)
}

fn lone_event(mut t: Transition) -> Result<Event> {
    t.events
        .pop()
        .ok_or_else(|| Error::corrupt("transition produced no event"))
}

#[async_trait]
impl<B: Backend> Dispatcher for TransactionalStore<B> {
    async fn dispatch(&self, request: DispatchRequest) -> Result<Dispatched> {
        let digest = request.digest();
        for _ in 0..DISPATCH_ATTEMPTS {
            let mut tx = self.backend.begin().await?;
            if let Some(key) = &request.idempotency_key {
                let found = tx.find_idempotent(&request.requested_by, key).await;
                if let Some((existing, stored)) = tx_try!(tx, found) {
                    tx.rollback().await;
                    return if stored == digest {
                        Ok(Dispatched {
                            investigation: existing,
                            created: false,
                        })
                    } else {
                        Err(Error::IdempotencyKeyReused {
                            key: key.clone(),
                            requested_by: request.requested_by.clone(),
                            existing: existing.id,
                        })
                    };
                }
            }
            let dispatched = self.dispatch_in(&mut tx, &request).await;
            let Some(investigation) = tx_try!(tx, dispatched) else {
                // Another dispatch with the same key committed first: read it.
                tx.rollback().await;
                continue;
            };
            tx.commit().await?;
            return Ok(Dispatched {
                investigation,
                created: true,
            });
        }
        // Every attempt lost a race on the key to a dispatch that has not
        // committed yet (or was rolled back): the request may be retried as is.
        Err(Error::Unavailable(super::error::Cause::msg(
            "idempotency key is being used concurrently; retry",
        )))
    }
}

#[async_trait]
impl<B: Backend> Leases for TransactionalStore<B> {
    async fn claim_next(
        &self,
        agents: &[String],
        worker: &str,
        mode: Option<&str>,
        lease_for: Duration,
    ) -> Result<Option<Investigation>> {
        let mut claimed = self.claim_up_to(agents, worker, mode, lease_for, 1).await?;
        Ok(claimed.pop())
    }

    async fn claim_up_to(
        &self,
        agents: &[String],
        worker: &str,
        mode: Option<&str>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<Investigation>> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let queued = tx.lock_queued(agents, now, limit).await;
        let queued = tx_try!(tx, queued);
        if queued.is_empty() {
            tx.rollback().await;
            return Ok(Vec::new());
        }
        let mut claimed = Vec::with_capacity(queued.len());
        for current in queued {
            let command = Command::Claim {
                worker: worker.to_owned(),
                mode: mode.map(str::to_owned),
                lease_for,
            };
            let decided = self.decide_in_at(&mut tx, &current, command, now).await;
            let mut t = tx_try!(tx, decided);
            if let Some(case_id) = t.next.case_id {
                // Read at claim time: the worker's approval rule follows the
                // case's flag as it is when the run (or its resume) is claimed.
                let found = tx.lock_case(case_id).await;
                t.next.case_requires_approval =
                    tx_try!(tx, found).is_some_and(|c| c.requires_human_approval);
            }
            claimed.push(t.next);
        }
        tx.commit().await?;
        for row in &claimed {
            self.running.record(row);
        }
        Ok(claimed)
    }

    async fn has_claimable(&self, agents: &[String]) -> Result<bool> {
        self.backend.has_queued(agents, self.now()).await
    }

    async fn record_segment(
        &self,
        id: InvestigationId,
        epoch: i64,
        traceparent: &str,
    ) -> Result<()> {
        if self.backend.record_segment(id, epoch, traceparent).await? {
            return Ok(());
        }
        let current = Reads::get(self, id).await?;
        Err(Error::LeaseLost {
            id,
            held: epoch,
            current: current.lease_epoch,
        })
    }

    async fn heartbeat(
        &self,
        id: InvestigationId,
        epoch: i64,
        lease_for: Duration,
    ) -> Result<Investigation> {
        let t = self
            .apply_fenced(id, || Command::Heartbeat { epoch, lease_for })
            .await?;
        Ok(t.next)
    }

    async fn checkpoint(
        &self,
        id: InvestigationId,
        epoch: i64,
        events: Vec<StepEvent>,
    ) -> Result<Vec<Event>> {
        let t = self
            .apply_fenced(id, || Command::Checkpoint {
                epoch,
                events: events.clone(),
            })
            .await?;
        Ok(t.events)
    }

    async fn await_approval(
        &self,
        id: InvestigationId,
        epoch: i64,
        request: ApprovalDraft,
    ) -> Result<ApprovalRequest> {
        let t = self
            .apply(id, |_| Command::AwaitApproval { epoch, request })
            .await?;
        match t.approval {
            Some(ApprovalWrite::Create(created)) => Ok(created),
            _ => Err(Error::corrupt(
                "await_approval produced no approval request",
            )),
        }
    }

    async fn await_children(
        &self,
        id: InvestigationId,
        epoch: i64,
        children: Vec<InvestigationId>,
    ) -> Result<Option<Investigation>> {
        self.park_on_children(id, epoch, children).await
    }

    async fn release(
        &self,
        id: InvestigationId,
        epoch: i64,
        reason: &str,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<Investigation> {
        let reason = reason.to_owned();
        Ok(self
            .apply(id, |_| Command::Release {
                epoch,
                reason,
                not_before,
            })
            .await?
            .next)
    }

    async fn complete(
        &self,
        id: InvestigationId,
        epoch: i64,
        outcome: Completion,
    ) -> Result<Investigation> {
        Ok(self
            .apply_fenced(id, || Command::Complete {
                epoch,
                outcome: outcome.clone(),
            })
            .await?
            .next)
    }

    async fn fail(&self, id: InvestigationId, epoch: i64, reason: &str) -> Result<Investigation> {
        let reason = reason.to_owned();
        Ok(self
            .apply_fenced(id, || Command::Fail {
                epoch,
                reason: reason.clone(),
            })
            .await?
            .next)
    }
}

#[async_trait]
impl<B: Backend> Sweeps for TransactionalStore<B> {
    async fn reap(&self, limit: u32) -> Result<Vec<Reaped>> {
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let mut reaped = Vec::new();
        let expired = tx.lock_expired_leases(now, limit.max(1)).await;
        for current in tx_try!(tx, expired) {
            // Rows are re-checked by the transition; one that no longer
            // qualifies is skipped, never half-written.
            let Ok(t) = transition(Some(&current), Command::Reap, now) else {
                continue;
            };
            let written = self.write_in(&mut tx, &current, &t).await;
            tx_try!(tx, written);
            reaped.push(Reaped {
                id: current.id,
                worker: current.lease_owner.clone(),
                epoch: t.next.lease_epoch,
            });
        }
        tx.commit().await?;
        Ok(reaped)
    }

    async fn expire_approvals(&self, limit: u32) -> Result<Vec<ApprovalRequest>> {
        let now = self.now();
        let mut tx = self.backend.begin().await?;
        let mut expired = Vec::new();
        let due = tx.lock_due_approvals(now, limit.max(1)).await;
        for approval in tx_try!(tx, due) {
            let locked = tx.lock(approval.investigation_id).await;
            let Some(current) = tx_try!(tx, locked) else {
                continue;
            };
            let command = Command::Expire {
                approval: approval.clone(),
            };
            let Ok(t) = transition(Some(&current), command, now) else {
                continue;
            };
            let written = self.write_in(&mut tx, &current, &t).await;
            tx_try!(tx, written);
            let resolved = tx.approval(approval.id).await;
            if let Some(resolved) = tx_try!(tx, resolved) {
                expired.push(resolved);
            }
        }
        tx.commit().await?;
        Ok(expired)
    }
}

#[async_trait]
impl<B: Backend> Operations for TransactionalStore<B> {
    async fn rescue(&self, id: InvestigationId, by: &str, reason: &str) -> Result<Investigation> {
        let (by, reason) = (by.to_owned(), reason.to_owned());
        Ok(self
            .apply(id, |_| Command::Rescue { by, reason })
            .await?
            .next)
    }

    async fn cancel(&self, id: InvestigationId, by: &str, reason: &str) -> Result<Investigation> {
        let mut tx = self.backend.begin().await?;
        // Descendants first, deepest first: a finishing child locks itself
        // and then its parent, so the cascade takes its locks in that order.
        let early = self.lock_descendants(&mut tx, id).await;
        tx_try!(tx, early);
        let locked = tx.lock(id).await;
        let current = tx_try!(
            tx,
            locked.and_then(|row| row.ok_or_else(|| Error::investigation_not_found(id)))
        );
        // Read again under the root's lock: a child dispatched meanwhile
        // (a dispatch locks its parent) is among them now, and every row is
        // as it stands.
        let descendants = self.lock_descendants(&mut tx, id).await;
        let descendants = tx_try!(tx, descendants);
        let decided = self.cancel_in(&mut tx, &current, by, reason).await;
        let t = tx_try!(tx, decided);
        let cascaded = self
            .cancel_descendants_in(&mut tx, &current, descendants, by, reason)
            .await;
        tx_try!(tx, cascaded);
        tx.commit().await?;
        self.running.record(&t.next);
        Ok(t.next)
    }

    async fn review(
        &self,
        id: InvestigationId,
        by: &str,
        review: ReviewInput,
    ) -> Result<Investigation> {
        let by = by.to_owned();
        let command = |_: &Investigation| Command::Review {
            by,
            result: review.result,
            confidence: review.confidence,
            note: review.note,
        };
        Ok(self.apply(id, command).await?.next)
    }

    async fn annotate(&self, id: InvestigationId, by: &str, text: &str) -> Result<Event> {
        let (by, text) = (by.to_owned(), text.to_owned());
        lone_event(self.apply(id, |_| Command::Annotate { by, text }).await?)
    }

    async fn decide_approval(
        &self,
        id: ApprovalId,
        by: &str,
        decision: Decision,
        comment: Option<String>,
    ) -> Result<ApprovalRequest> {
        let mut tx = self.backend.begin().await?;
        let found = tx.approval(id).await;
        let investigation_id = tx_try!(
            tx,
            found.and_then(|a| a.ok_or_else(|| Error::approval_not_found(id)))
        )
        .investigation_id;
        let locked = tx.lock(investigation_id).await;
        let current = tx_try!(
                tx,
                locked.and_then(
                    |row| row.ok_or_else(|| Error::investigation_not_found(investigation_id))
                )
            );
        // Re-read under the investigation's lock: a concurrent decision or
        // expiry has either committed (and we see it) or waits for us.
        let reread = tx.approval(id).await;
        let approval = tx_try!(
            tx,
            reread.and_then(|a| a.ok_or_else(|| Error::approval_not_found(id)))
        );
        let command = Command::Decide {
            approval: approval.clone(),
            decision,
            by: by.to_owned(),
            comment,
        };
        let decided = self.decide_in(&mut tx, &current, command).await;
        let t = tx_try!(tx, decided);
        tx.commit().await?;
        // The request as written: the one read under the lock, resolved.
        Ok(match t.approval {
            Some(write) => write.applied_to(approval),
            None => approval,
        })
    }
}

#[async_trait]
impl<B: Backend> Reads for TransactionalStore<B> {
    async fn children(&self, parent: InvestigationId) -> Result<Vec<Investigation>> {
        self.backend.children(parent).await
    }

    async fn get(&self, id: InvestigationId) -> Result<Investigation> {
        self.backend
            .get(id)
            .await?
            .ok_or_else(|| Error::investigation_not_found(id))
    }

    async fn list(&self, query: &ListQuery) -> Result<Page<Investigation>> {
        let items = self.backend.list(query).await?;
        let full = items.len() >= query.page_size() as usize;
        let next = items.last().filter(|_| full).map(|last| Cursor {
            created_at: last.created_at,
            id: last.id,
        });
        Ok(Page { items, next })
    }

    async fn events(&self, id: InvestigationId, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        let events = self
            .backend
            .log::<InvestigationLog>(id, after_seq, limit.clamp(1, 1000))
            .await?;
        if events.is_empty() && self.backend.get(id).await?.is_none() {
            return Err(Error::investigation_not_found(id));
        }
        Ok(events)
    }

    async fn approval(&self, id: ApprovalId) -> Result<ApprovalRequest> {
        self.backend
            .approval(id)
            .await?
            .ok_or_else(|| Error::approval_not_found(id))
    }

    async fn approvals(&self, query: &ApprovalQuery) -> Result<Vec<ApprovalRequest>> {
        self.backend.approvals(query).await
    }

    async fn verify_chain(&self, id: InvestigationId) -> Result<ChainReport<InvestigationLog>> {
        // The row is read first: events appended after it are outside this
        // walk, so a concurrent append is never mistaken for a broken tail.
        // The row is then compared with what its events imply.
        let inv = Reads::get(self, id).await?;
        let mut replay = Replay::default();
        let report = self
            .verify_log::<InvestigationLog>(id, inv.last_seq, &inv.last_hash, |e| replay.apply(e))
            .await?;
        Ok(report.with_mismatches(replay.compare(&inv)))
    }

    async fn receipts(&self, id: InvestigationId) -> Result<Vec<Receipt>> {
        let receipts = self.backend.receipts(LogName::Investigation, id.0).await?;
        if receipts.is_empty() {
            Reads::get(self, id).await?;
        }
        Ok(receipts)
    }

    async fn stats(&self) -> Result<Stats> {
        let mut stats = self.backend.stats().await?;
        stats.states.retain(|s| s.count > 0);
        // A stable order: statuses, then phases, as declared.
        let rank = |s: &super::StateCount| {
            let status = Status::ALL.iter().position(|x| *x == s.status);
            let phase = s
                .phase
                .and_then(|p| Phase::ALL.iter().position(|x| *x == p));
            (status, phase)
        };
        stats.states.sort_by_key(rank);
        Ok(stats)
    }

    async fn ping(&self) -> Result<()> {
        self.backend.ping().await
    }
}

impl<B: Backend> Wakeups for TransactionalStore<B> {
    fn wakeups(&self) -> BoxStream<'static, Wakeup> {
        self.backend.wakeups()
    }
}

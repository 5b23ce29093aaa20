//! Group commit for the fenced worker writes (heartbeat, checkpoint,
//! complete, fail).
//!
//! Every worker step used to be its own commit, so throughput was capped by
//! commits per second rather than by the work. The [`GroupWriter`] gathers
//! the fenced writes that arrive while the previous batch commits and hands
//! them to [`Backend::update_if_unchanged_batch`]: one transaction for the
//! batch, each write still compared on its own.
//!
//! The rules a caller can rely on:
//!
//! - A write is acknowledged only after the transaction holding it
//!   committed; its answer (applied, or refused because the row moved) is
//!   its own, whatever its neighbours' were.
//! - A batch that fails tells every write in it the same error: nothing is
//!   known of any of them, exactly as for a lone write whose answer was
//!   lost, and the caller's recovery (read the log, decide again) is the
//!   same.
//! - A batch never holds two writes of one investigation: the second waits
//!   for the next batch, so it is compared against what the first wrote.
//! - With the default zero wait, a lone write is sent at once: batching
//!   only ever takes what was already queued.
//! - A write whose caller has gone (its future dropped) before its batch
//!   is formed is not written.
//! - If the writer task dies (a panic, its runtime shut down), every write
//!   it held answers [`Error::Unavailable`] and the next write starts a new
//!   writer.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::backend::{Backend, FencedWrite};
use super::error::{Cause, Error, Result};

/// How fenced worker writes are batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// Most writes in one transaction. `1` turns batching off: each write
    /// is its own statement, sent by its caller.
    pub max_batch: usize,
    /// How long a batch that is not full waits for more writes after its
    /// first one. Zero (the default) waits for nothing: a batch is what
    /// queued while the previous one committed, so a lone writer is never
    /// delayed.
    pub max_wait: Duration,
}

impl GroupCommit {
    /// No batching: every fenced write is its own statement.
    pub const OFF: GroupCommit = GroupCommit {
        max_batch: 1,
        max_wait: Duration::ZERO,
    };

    /// Whether writes are batched at all.
    pub fn is_on(&self) -> bool {
        self.max_batch > 1
    }
}

impl Default for GroupCommit {
    fn default() -> Self {
        Self {
            max_batch: 64,
            max_wait: Duration::ZERO,
        }
    }
}

/// What a [`GroupWriter`] has committed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Transactions the writer committed (or tried to).
    pub batches: u64,
    /// Writes those transactions carried.
    pub writes: u64,
    /// The most writes one transaction carried.
    pub largest: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    writes: AtomicU64,
    largest: AtomicU64,
}

impl Counters {
    fn count(&self, writes: usize) {
        let writes = writes as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes, Ordering::Relaxed);
        self.largest.fetch_max(writes, Ordering::Relaxed);
    }

    fn snapshot(&self) -> GroupStats {
        GroupStats {
            batches: self.batches.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            largest: self.largest.load(Ordering::Relaxed),
        }
    }
}

/// A write waiting for its batch, and where its answer goes.
struct Pending {
    write: FencedWrite,
    reply: oneshot::Sender<Result<bool>>,
}

/// Batches fenced writes for one store (shared by its clones); see the
/// module documentation for its rules.
#[derive(Debug)]
pub(crate) struct GroupWriter<B> {
    backend: Arc<B>,
    settings: GroupCommit,
    queue: Mutex<Option<mpsc::UnboundedSender<Pending>>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("investigation", &self.write.after.id)
            .finish_non_exhaustive()
    }
}

impl<B: Backend> GroupWriter<B> {
    pub(crate) fn new(backend: Arc<B>, settings: GroupCommit) -> Self {
        Self {
            backend,
            settings,
            queue: Mutex::new(None),
            counters: Arc::default(),
        }
    }

    pub(crate) fn stats(&self) -> GroupStats {
        self.counters.snapshot()
    }

    /// Queues `write` for the next batch and waits until that batch
    /// committed: whether it applied, as [`Backend::update_if_unchanged`]
    /// answers.
    pub(crate) async fn write(&self, write: FencedWrite) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.send(Pending { write, reply });
        answer.await.unwrap_or_else(|_| {
            Err(Error::Unavailable(Cause::msg(
                "the batch writer stopped before answering; the write may or may not have committed",
            )))
        })
    }

    /// Hands `pending` to the writer task, starting one if there is none
    /// (or the last one died).
    fn send(&self, pending: Pending) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let pending = match queue.as_ref() {
            Some(sender) => match sender.send(pending) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => back,
            },
            None => pending,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(
            Arc::clone(&self.backend),
            self.settings,
            receiver,
            Arc::clone(&self.counters),
        ));
        // The receiver lives in the task just spawned: this cannot fail.
        let _ = sender.send(pending);
        *queue = Some(sender);
    }
}

/// The writer task: forms batches and commits them one after another until
/// every sender is gone.
async fn run<B: Backend>(
    backend: Arc<B>,
    settings: GroupCommit,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    counters: Arc<Counters>,
) {
    let max = settings.max_batch.max(1);
    // Writes held back because their investigation was already in a batch.
    let mut held: VecDeque<Pending> = VecDeque::new();
    loop {
        let first = match held.pop_front() {
            Some(p) => p,
            None => match queue.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut batch = Batch::new(max);
        batch.offer(first, &mut held);
        let mut waiting = std::mem::take(&mut held);
        while !batch.is_full() {
            let Some(p) = waiting.pop_front() else { break };
            batch.offer(p, &mut held);
        }
        held.extend(waiting);
        while !batch.is_full() {
            match queue.try_recv() {
                Ok(p) => batch.offer(p, &mut held),
                Err(_) => break,
            }
        }
        if !settings.max_wait.is_zero() && !batch.is_full() {
            let deadline = tokio::time::Instant::now() + settings.max_wait;
            while !batch.is_full() {
                match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(p)) => batch.offer(p, &mut held),
                    _ => break,
                }
            }
        }
        batch.commit(backend.as_ref(), &counters).await;
    }
}

/// The writes of one transaction, at most one per investigation.
struct Batch {
    max: usize,
    ids: HashSet<crate::model::InvestigationId>,
    writes: Vec<FencedWrite>,
    replies: Vec<oneshot::Sender<Result<bool>>>,
}

impl Batch {
    fn new(max: usize) -> Self {
        Self {
            max,
            ids: HashSet::new(),
            writes: Vec::new(),
            replies: Vec::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.writes.len() >= self.max
    }

    /// Takes `p` into the batch, holds it back for a later batch when its
    /// investigation is already in this one, or drops it when its caller
    /// is gone.
    fn offer(&mut self, p: Pending, held: &mut VecDeque<Pending>) {
        if p.reply.is_closed() {
            return;
        }
        if !self.ids.insert(p.write.after.id) {
            held.push_back(p);
            return;
        }
        self.writes.push(p.write);
        self.replies.push(p.reply);
    }

    async fn commit<B: Backend>(self, backend: &B, counters: &Counters) {
        if self.writes.is_empty() {
            return;
        }
        counters.count(self.writes.len());
        let outcome = match self.writes.as_slice() {
            [w] => backend
                .update_if_unchanged(&w.before, &w.after, &w.events, w.receipt.as_ref())
                .await
                .map(|applied| vec![applied]),
            writes => backend.update_if_unchanged_batch(writes).await,
        };
        let failed = match outcome {
            Ok(applied) if applied.len() == self.replies.len() => {
                for (reply, applied) in self.replies.into_iter().zip(applied) {
                    let _ = reply.send(Ok(applied));
                }
                return;
            }
            Ok(applied) => Error::corrupt(format!(
                "a batch of {} writes answered for {}",
                self.replies.len(),
                applied.len()
            )),
            Err(e) => e,
        };
        for reply in self.replies {
            let _ = reply.send(Err(failed.clone()));
        }
    }
}

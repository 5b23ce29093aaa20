//! Child investigations in the store: a parent parks on its children
//! without a lease, the last child to finish queues it again in its own
//! finishing transaction, and a cancel reaches every pending descendant.
//!
//! Lock order: a finishing child is locked first (its own transition) and
//! its parent second ([`TransactionalStore::follow_parent_in`]); a cancel
//! locks the descendants deepest first and the cancelled investigation
//! last, so the two never wait on each other. A parent parking
//! ([`TransactionalStore::park_on_children`]) locks only itself and reads
//! its children's statuses: a child that finishes concurrently either
//! committed first (the parent sees it finished and does not park) or
//! waits for the parent's lock and then sees it parked.

use super::{TransactionalStore, persist};
use crate::event::ChildFinished;
use crate::machine::{Command, Transition, TransitionError, transition};
use crate::model::{Investigation, InvestigationId};
use crate::store::backend::{Backend, WriteTx};
use crate::store::error::{Error, Result};

/// Whether transition `t` of `before` is a delegated investigation
/// finishing (for its parent: see [`crate::Status::is_finished`]).
pub(super) fn finishes_child(before: &Investigation, t: &Transition) -> bool {
    t.next.parent.is_some() && t.next.status.is_finished() && !before.status.is_finished()
}

impl<B: Backend> TransactionalStore<B> {
    /// [`crate::store::Leases::await_children`].
    pub(super) async fn park_on_children(
        &self,
        id: InvestigationId,
        epoch: i64,
        children: Vec<InvestigationId>,
    ) -> Result<Option<Investigation>> {
        let mut tx = self.backend.begin().await?;
        let locked = tx.lock(id).await;
        let current = tx_try!(
            tx,
            locked.and_then(|row| row.ok_or_else(|| Error::investigation_not_found(id)))
        );
        let now = self.now();
        if !(current.is_running() && current.holds_lease(epoch, now)) {
            tx.rollback().await;
            return Err(Error::from_transition(
                id,
                TransitionError::LeaseLost {
                    held: epoch,
                    current: current.lease_epoch,
                },
            ));
        }
        let statuses = tx.child_statuses(id).await;
        let statuses = tx_try!(tx, statuses);
        let waiting = children.iter().any(|child| {
            !statuses
                .iter()
                .any(|(known, status)| known == child && status.is_finished())
        });
        if !waiting {
            tx.rollback().await;
            return Ok(None);
        }
        let decided = self
            .decide_in_at(
                &mut tx,
                &current,
                Command::AwaitChildren { epoch, children },
                now,
            )
            .await;
        let t = tx_try!(tx, decided);
        tx.commit().await?;
        self.running.record(&t.next);
        Ok(Some(t.next))
    }

    /// After transition `t` of the locked row `current`, inside `tx`: when
    /// it is a child finishing and its parent waits in
    /// `awaiting_children` with every child now finished, queues the
    /// parent (`children_finished`, naming each child's status).
    pub(super) async fn follow_parent_in<T: WriteTx>(
        &self,
        tx: &mut T,
        current: &Investigation,
        t: &Transition,
    ) -> Result<()> {
        if !finishes_child(current, t) {
            return Ok(());
        }
        let Some(link) = &t.next.parent else {
            return Ok(());
        };
        let Some(parent) = tx.lock(link.id).await? else {
            return Ok(());
        };
        if !parent.is_awaiting_children() {
            return Ok(());
        }
        let statuses = tx.child_statuses(link.id).await?;
        if statuses.iter().any(|(_, status)| !status.is_finished()) {
            return Ok(());
        }
        let children = statuses
            .into_iter()
            .map(|(id, status)| ChildFinished { id, status })
            .collect();
        let queued = transition(
            Some(&parent),
            Command::ChildrenFinished { children },
            self.now(),
        )
        .map_err(|e| Error::from_transition(parent.id, e))?;
        persist(tx, Some(&parent), &queued, None).await?;
        self.follow_case_in(tx, Some(&parent), &queued).await?;
        self.running.forget(parent.id);
        Ok(())
    }

    /// Locks every descendant of `root` that is still pending, deepest
    /// first (the order finishing children lock in), and returns them in
    /// that order.
    pub(super) async fn lock_descendants<T: WriteTx>(
        &self,
        tx: &mut T,
        root: InvestigationId,
    ) -> Result<Vec<Investigation>> {
        let mut levels: Vec<Vec<InvestigationId>> = Vec::new();
        let mut frontier = vec![root];
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for parent in frontier {
                next.extend(
                    tx.child_statuses(parent)
                        .await?
                        .into_iter()
                        .filter(|(_, status)| !status.is_terminal())
                        .map(|(id, _)| id),
                );
            }
            if !next.is_empty() {
                levels.push(next.clone());
            }
            frontier = next;
        }
        let mut locked = Vec::new();
        for level in levels.iter().rev() {
            for id in level {
                if let Some(row) = tx.lock(*id).await? {
                    locked.push(row);
                }
            }
        }
        Ok(locked)
    }

    /// Cancels the locked row `current` inside `tx`, resolving the
    /// approval request it waits on as rejected.
    pub(super) async fn cancel_in<T: WriteTx>(
        &self,
        tx: &mut T,
        current: &Investigation,
        by: &str,
        reason: &str,
    ) -> Result<Transition> {
        let pending_approval = match current.waiting_on {
            Some(approval) => tx.approval(approval).await?,
            None => None,
        };
        let command = Command::Cancel {
            by: by.to_owned(),
            reason: reason.to_owned(),
            pending_approval,
        };
        self.decide_in(tx, current, command).await
    }

    /// Cancels each of `root`'s locked, pending `descendants` (as
    /// [`Self::lock_descendants`] returns them) inside `tx`, each with a
    /// reason naming the cancel that reached it, shallowest first: each
    /// one's parent is cancelled before it, so no cancel queues a parent
    /// that waits on its children. A running one loses its lease: its
    /// worker's next fenced write is refused.
    pub(super) async fn cancel_descendants_in<T: WriteTx>(
        &self,
        tx: &mut T,
        root: &Investigation,
        descendants: Vec<Investigation>,
        by: &str,
        reason: &str,
    ) -> Result<()> {
        for child in descendants.iter().rev().filter(|c| !c.status.is_terminal()) {
            let kin = match &child.parent {
                Some(link) if link.id == root.id => "parent",
                _ => "ancestor",
            };
            let reason = format!("its {kin} {} was cancelled: {reason}", root.id);
            self.cancel_in(tx, child, by, &reason).await?;
            self.running.forget(child.id);
        }
        Ok(())
    }
}

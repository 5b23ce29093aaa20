//! Group commit: fenced worker writes batched into one transaction change
//! nothing a caller can observe but speed. A refused write leaves its
//! neighbours applied, a caller that gives up gets its write applied whole
//! or not at all, and concurrent writers keep every log contiguous.

use std::time::Duration as StdDuration;

use super::prelude::*;
use crate::store::GroupCommit;

/// Three checkpoints committed in one batch, one of them decided from a row
/// another handle has since cancelled: that one is refused (the caller
/// learns it lost its lease), the other two are applied with their events.
pub async fn a_refused_write_inside_a_batch_leaves_its_neighbours_applied<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    // The first write of a batch waits for two more, so the three below
    // share one transaction.
    let store = h.with_group_commit(
        store,
        GroupCommit {
            max_batch: 3,
            max_wait: StdDuration::from_secs(20),
        },
    );
    let a = claimed(&store, "triage").await;
    let b = claimed(&store, "triage").await;
    let c = claimed(&store, "triage").await;
    let other = h.reopen(clock.clone()).await;
    other.cancel(a.id, "oncall", "stop it").await.unwrap();

    let (ra, rb, rc) = tokio::join!(
        store.checkpoint(a.id, 1, vec![model_turn("a1")]),
        store.checkpoint(b.id, 1, vec![model_turn("b1"), intent("b1")]),
        store.checkpoint(c.id, 1, vec![model_turn("c1")]),
    );
    assert_eq!(
        h.group_stats(&store)
            .map(|s| (s.batches, s.writes, s.largest)),
        Some((1, 3, 3)),
        "the three writes were one batch"
    );
    assert_lease_lost(ra);
    assert_eq!(
        rb.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(rc.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);

    assert_eq!(
        kinds(&store, &a).await,
        [
            EventKind::Dispatched,
            EventKind::Claimed,
            EventKind::Cancelled
        ],
        "the refused write appended nothing"
    );
    assert_eq!(store.get(a.id).await.unwrap().status, Status::Failed);
    assert_eq!(store.get(b.id).await.unwrap().last_seq, 4);
    assert_eq!(store.get(c.id).await.unwrap().last_seq, 3);
    for inv in [&a, &b, &c] {
        assert_chain_valid(&store, inv).await;
    }
    h.cleanup(store).await;
}

/// Callers that give up at different points (before their batch forms,
/// while it commits, never) each leave their checkpoint applied whole or
/// not at all; one that was answered is applied; the next write of each run
/// continues its log without a gap.
pub async fn a_dropped_write_is_applied_whole_or_not_at_all<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let store = h.with_group_commit(
        store,
        GroupCommit {
            max_batch: 8,
            max_wait: StdDuration::from_millis(5),
        },
    );
    let mut runs = Vec::new();
    for _ in 0..8 {
        runs.push(claimed(&store, "triage").await);
    }
    let barrier = claimed(&store, "triage").await;
    let mut tasks = Vec::new();
    for (n, inv) in runs.iter().enumerate() {
        let store = store.clone();
        let id = inv.id;
        tasks.push(tokio::spawn(async move {
            let call = format!("d{n}");
            let write =
                store.checkpoint(id, 1, vec![model_turn(&call), intent(&call), result(&call)]);
            tokio::time::timeout(StdDuration::from_micros(n as u64 * 1500), write)
                .await
                .ok()
        }));
    }
    let mut answered = Vec::new();
    for task in tasks {
        answered.push(task.await.unwrap());
    }
    // Batches commit in order: once a later write is answered, every write
    // taken before it has committed or been dropped.
    store
        .checkpoint(barrier.id, 1, vec![model_turn("barrier")])
        .await
        .unwrap();

    for (inv, answer) in runs.iter().zip(&answered) {
        let events = all_events(&store, inv).await;
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert!(
            seqs == [1, 2] || seqs == [1, 2, 3, 4, 5],
            "a checkpoint is applied whole or not at all, got seqs {seqs:?}"
        );
        if let Some(answer) = answer {
            let appended = answer.as_ref().expect("an answered write succeeded");
            assert_eq!(
                appended.iter().map(|e| e.seq).collect::<Vec<_>>(),
                [3, 4, 5]
            );
            assert_eq!(seqs.len(), 5, "an acknowledged write is in the log");
        }
        let row = store.get(inv.id).await.unwrap();
        assert_eq!(row.last_seq, seqs.len() as i64);
        let next = store
            .checkpoint(inv.id, 1, vec![model_turn("after")])
            .await
            .unwrap();
        assert_eq!(
            next[0].seq,
            seqs.len() as i64 + 1,
            "no gap after a dropped write"
        );
        assert_chain_valid(&store, inv).await;
    }
    h.cleanup(store).await;
}

/// Twelve runs checkpointing concurrently, four of them heartbeating at the
/// same time, through a store that batches: every write succeeds, every log
/// is contiguous and verifies, and every fenced write went through batches.
pub async fn batched_writers_keep_every_log_contiguous<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let store = h.with_group_commit(
        store,
        GroupCommit {
            max_batch: 4,
            max_wait: StdDuration::from_millis(2),
        },
    );
    let mut runs = Vec::new();
    for _ in 0..12 {
        runs.push(claimed(&store, "triage").await);
    }
    let mut tasks = Vec::new();
    for (n, inv) in runs.iter().enumerate() {
        let id = inv.id;
        let writer = store.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..10 {
                writer
                    .checkpoint(id, 1, vec![model_turn(&format!("r{n}-{k}"))])
                    .await
                    .unwrap();
            }
        }));
        if n < 4 {
            let beater = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    beater.heartbeat(id, 1, LEASE).await.unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for inv in &runs {
        let seqs: Vec<i64> = all_events(&store, inv)
            .await
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
        assert_eq!(store.get(inv.id).await.unwrap().last_seq, 12);
        assert_chain_valid(&store, inv).await;
    }
    let stats = h.group_stats(&store).expect("batching is on");
    assert!(
        stats.writes >= 12 * 10 + 4 * 10,
        "every fenced write went through the writer: {stats:?}"
    );
    h.cleanup(store).await;
}

/// With batching off each fenced write is its own statement, and the
/// writes behave as they do batched.
pub async fn fenced_writes_without_batching_behave_alike<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let store = h.with_group_commit(store, GroupCommit::OFF);
    assert_eq!(h.group_stats(&store), None);
    let inv = claimed(&store, "triage").await;
    let appended = store
        .checkpoint(inv.id, 1, vec![model_turn("c1"), intent("c1")])
        .await
        .unwrap();
    assert_eq!(appended.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    let other = h.reopen(clock).await;
    other.cancel(inv.id, "oncall", "stop it").await.unwrap();
    assert_lease_lost(store.checkpoint(inv.id, 1, vec![result("c1")]).await);
    assert_chain_valid(&store, &inv).await;
    h.cleanup(store).await;
}

//! The sealed log: contiguous seq under concurrent appenders, chain
//! verification and tamper reports, append-only enforcement, paged reads.
//!
//! Each case is written once over a [`LogFixture`] and run for every
//! aggregate's log by a thin wrapper named for that log.

use super::prelude::*;
use crate::conformance::LogFixture;
use crate::event::InvestigationLog;
use crate::log::{Entry, LogId};

async fn all_entries<L: LogFixture, S: Store>(store: &S, id: L::Id) -> Vec<Entry<L>> {
    let mut out: Vec<Entry<L>> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.seq);
        let page = L::read(store, id, after, 1000).await;
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Asserts the log verifies and its seqs run 1..=last_seq.
async fn assert_log_valid<L: LogFixture, S: Store>(store: &S, id: L::Id) {
    let last_seq = L::last_seq(store, id).await;
    let report = L::verify(store, id).await;
    assert!(report.valid, "log of {id} broken: {report:?}");
    assert_eq!(report.events_checked, last_seq);
    let seqs: Vec<i64> = all_entries::<L, _>(store, id)
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=last_seq).collect::<Vec<_>>());
}

/// Concurrent appenders on many records (and two on one) leave every log
/// contiguous and every chain valid.
pub async fn log_concurrent_appenders_keep_seq_contiguous<L: LogFixture, H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(L::create(&store).await);
    }
    let shared = ids[0];
    let mut tasks = Vec::new();
    for &id in &ids {
        let writers = if id == shared { 2 } else { 1 };
        for w in 0..writers {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..10 {
                    L::append(&store, id, &format!("w{w}-c{n}")).await;
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for &id in &ids {
        let expected = L::INITIAL + if id == shared { 20 } else { 10 };
        assert_eq!(L::last_seq(&store, id).await, expected);
        assert_log_valid::<L, _>(&store, id).await;
    }
    h.cleanup(store).await;
}

/// The chain verifies; an entry altered behind the trigger's back is
/// reported at its own seq, and of two alterations the first is reported.
pub async fn log_chain_verifies_and_tampering_is_reported_at_the_right_seq<
    L: LogFixture,
    H: Harness,
>(
    h: &H,
) {
    let (store, _) = setup(h).await;
    let id = L::create(&store).await;
    for tag in ["c1", "c2", "c3"] {
        L::append(&store, id, tag).await;
    }
    let last = L::INITIAL + 3;
    let report = L::verify(&store, id).await;
    assert!(report.valid);
    assert_eq!(report.events_checked, last);
    assert_eq!(report.first_break, None);

    let forged = L::forged_payload().to_string();
    h.tamper_entry(&store, L::LOG, id.uuid(), last, &forged)
        .await;
    let report = L::verify(&store, id).await;
    assert!(!report.valid);
    let broken = report.first_break.expect("a break");
    assert_eq!(broken.seq, last);
    assert_eq!(broken.problem, Problem::HashMismatch);
    assert_eq!(report.events_checked, last - 1);

    h.tamper_entry(&store, L::LOG, id.uuid(), last - 2, &forged)
        .await;
    let report = L::verify(&store, id).await;
    assert_eq!(
        report.first_break.map(|b| b.seq),
        Some(last - 2),
        "the first break is reported"
    );
    h.cleanup(store).await;
}

/// The database itself refuses UPDATE and DELETE on the log.
pub async fn log_entries_cannot_be_updated_or_deleted<L: LogFixture, H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let id = L::create(&store).await;
    L::append(&store, id, "c1").await;
    let before = all_entries::<L, _>(&store, id).await;
    let update = h.raw_update_entry(&store, L::LOG, id.uuid(), 1).await;
    assert!(
        update.as_ref().is_err_and(|e| e.contains("append-only")),
        "UPDATE must be rejected, got {update:?}"
    );
    let delete = h.raw_delete_entry(&store, L::LOG, id.uuid(), 2).await;
    assert!(
        delete.as_ref().is_err_and(|e| e.contains("append-only")),
        "DELETE must be rejected, got {delete:?}"
    );
    assert_eq!(all_entries::<L, _>(&store, id).await, before);
    assert_log_valid::<L, _>(&store, id).await;
    h.cleanup(store).await;
}

/// Entries are read from a position, bounded by a limit.
pub async fn log_entries_read_after_seq_with_limit<L: LogFixture, H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let id = L::create(&store).await;
    for n in 0..6 {
        L::append(&store, id, &format!("c{n}")).await;
    }
    let last = L::INITIAL + 6;
    let page = L::read(&store, id, 3, 2).await;
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(L::read(&store, id, last, 10).await.is_empty());
    assert_eq!(L::read(&store, id, 0, 1000).await.len() as i64, last);
    h.cleanup(store).await;
}

/// An entry deleted behind the trigger's back is reported at its own seq;
/// a cut-off tail at the first missing seq.
pub async fn log_missing_entries_are_reported_where_they_are_missing<L: LogFixture, H: Harness>(
    h: &H,
) {
    let (store, _) = setup(h).await;
    let id = L::create(&store).await;
    for tag in ["c1", "c2", "c3", "c4"] {
        L::append(&store, id, tag).await;
    }
    let last = L::INITIAL + 4;
    h.cut_entries(&store, L::LOG, id.uuid(), 3, 3, false).await;
    let broken = L::verify(&store, id).await.first_break.expect("a break");
    assert_eq!(broken.seq, 3, "{broken:?}");
    assert_eq!(
        broken.problem,
        Problem::Gap {
            expected: 3,
            found: 4
        }
    );

    let other = L::create(&store).await;
    for tag in ["c1", "c2", "c3"] {
        L::append(&store, other, tag).await;
    }
    h.cut_entries(&store, L::LOG, other.uuid(), last - 1, last, false)
        .await;
    let broken = L::verify(&store, other).await.first_break.expect("a break");
    assert_eq!(broken.seq, last - 1, "{broken:?}");
    assert!(
        matches!(broken.problem, Problem::TailMismatch { .. }),
        "{broken:?}"
    );
    h.cleanup(store).await;
}

/// [`log_missing_entries_are_reported_where_they_are_missing`] on
/// investigation events.
pub async fn missing_events_are_reported_where_they_are_missing<H: Harness>(h: &H) {
    log_missing_entries_are_reported_where_they_are_missing::<InvestigationLog, H>(h).await;
}

/// [`log_concurrent_appenders_keep_seq_contiguous`] on investigation events.
pub async fn concurrent_appenders_keep_seq_contiguous<H: Harness>(h: &H) {
    log_concurrent_appenders_keep_seq_contiguous::<InvestigationLog, H>(h).await;
}

/// [`log_chain_verifies_and_tampering_is_reported_at_the_right_seq`] on
/// investigation events.
pub async fn hash_chain_verifies_and_tampering_is_reported_at_the_right_seq<H: Harness>(h: &H) {
    log_chain_verifies_and_tampering_is_reported_at_the_right_seq::<InvestigationLog, H>(h).await;
}

/// [`log_entries_cannot_be_updated_or_deleted`] on investigation events.
pub async fn events_cannot_be_updated_or_deleted<H: Harness>(h: &H) {
    log_entries_cannot_be_updated_or_deleted::<InvestigationLog, H>(h).await;
}

/// [`log_entries_read_after_seq_with_limit`] on investigation events.
pub async fn events_read_after_seq_with_limit<H: Harness>(h: &H) {
    log_entries_read_after_seq_with_limit::<InvestigationLog, H>(h).await;
}

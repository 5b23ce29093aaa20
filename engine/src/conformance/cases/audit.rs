//! The audit covers the record people read: a row its events do not
//! support is reported, even when every remaining hash checks out.

use super::prelude::*;
use crate::log::Mismatch;
use crate::model::Investigation;
use crate::receipt::{Receipt, ReceiptSigner};

/// A forged result, and a completed run whose `completed` event was cut off
/// with the row's tail rewound, both fail verification with the fields named.
pub async fn audit_reports_a_row_its_events_do_not_support<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    store.complete(inv.id, 1, valid_completion()).await.unwrap();
    let report = store.verify_chain(inv.id).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert!(report.mismatches.is_empty());

    h.tamper_investigation(
        &store,
        inv.id.0,
        "result",
        r#"'{"summary":"nothing happened"}'"#,
    )
    .await;
    let report = store.verify_chain(inv.id).await.unwrap();
    assert!(!report.valid, "a forged result must not verify");
    assert_eq!(report.first_break, None, "the chain itself is intact");
    let fields: Vec<&str> = report.mismatches.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(fields, ["result"], "{report:?}");

    let cut = claimed(&store, "triage").await;
    store.complete(cut.id, 1, valid_completion()).await.unwrap();
    let last = store.get(cut.id).await.unwrap().last_seq;
    h.cut_entries(
        &store,
        crate::log::LogName::Investigation,
        cut.id.0,
        last,
        last,
        true,
    )
    .await;
    let report = store.verify_chain(cut.id).await.unwrap();
    assert!(!report.valid, "a cut-off completion must not verify");
    assert_eq!(
        report.first_break, None,
        "the rewound chain is an intact prefix"
    );
    let status: Vec<&Mismatch> = report
        .mismatches
        .iter()
        .filter(|m| m.field == "status")
        .collect();
    assert_eq!(status.len(), 1, "{report:?}");
    assert_eq!(status[0].row, serde_json::json!("completed"));
    assert_eq!(status[0].log, serde_json::json!("pending"));
    h.cleanup(store).await;
}

/// Every transition into a terminal status signs a receipt of the new head
/// in its own transaction: complete and fail on the lock-free path, review,
/// cancel and the reaper on the locking one. A receipt verifies with the
/// signer's public key and holds against the exported trail; a store
/// without a key issues none.
pub async fn terminal_statuses_get_signed_head_receipts<H: Harness>(h: &H) {
    let clock = Arc::new(crate::clock::ManualClock::new(start()));
    let signer = ReceiptSigner::from_seed([42; 32]);
    let key = signer.public_key();
    let store = h.fresh_signing(clock.clone(), signer).await;

    let check = |inv: Investigation, receipts: Vec<Receipt>, statuses: &[&str]| {
        let got: Vec<&str> = receipts.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(got, statuses, "receipts of {}", inv.id);
        let last = receipts.last().expect("a receipt");
        assert_eq!(
            (last.seq, last.hash.as_str()),
            (inv.last_seq, inv.last_hash.as_str())
        );
        for r in &receipts {
            r.verify(&key).expect("a genuine receipt");
        }
    };

    let done = claimed(&store, "triage").await;
    store
        .complete(done.id, 1, valid_completion())
        .await
        .unwrap();
    let receipts = store.receipts(done.id).await.unwrap();
    let trail = all_events(&store, &done).await;
    receipts[0]
        .check_trail(&trail)
        .expect("the trail holds the head");
    check(store.get(done.id).await.unwrap(), receipts, &["completed"]);

    let reviewed = claimed(&store, "triage").await;
    store
        .complete(
            reviewed.id,
            1,
            invalid_completion("{}", &["summary missing"]),
        )
        .await
        .unwrap();
    store
        .review(
            reviewed.id,
            "olivia",
            ReviewInput {
                result: serde_json::from_str(&valid_result()).unwrap(),
                confidence: Some(0.5),
                note: None,
            },
        )
        .await
        .unwrap();
    let receipts = store.receipts(reviewed.id).await.unwrap();
    check(
        store.get(reviewed.id).await.unwrap(),
        receipts,
        &["review_required", "completed"],
    );

    let failed = claimed(&store, "triage").await;
    store.fail(failed.id, 1, "model gone").await.unwrap();
    check(
        store.get(failed.id).await.unwrap(),
        store.receipts(failed.id).await.unwrap(),
        &["failed"],
    );

    let cancelled = dispatch(&store, "triage").await;
    store.cancel(cancelled.id, "otto", "noise").await.unwrap();
    check(
        store.get(cancelled.id).await.unwrap(),
        store.receipts(cancelled.id).await.unwrap(),
        &["failed"],
    );

    let reaped = claimed(&store, "triage").await;
    clock.advance(LEASE * 2);
    store.reap(100).await.unwrap();
    check(
        store.get(reaped.id).await.unwrap(),
        store.receipts(reaped.id).await.unwrap(),
        &["dead_lettered"],
    );
    h.cleanup(store).await;

    let (plain, _) = setup(h).await;
    let inv = claimed(&plain, "triage").await;
    plain.complete(inv.id, 1, valid_completion()).await.unwrap();
    assert!(plain.receipts(inv.id).await.unwrap().is_empty());
    assert_not_found(plain.receipts(InvestigationId(uuid::Uuid::nil())).await);
    h.cleanup(plain).await;
}

/// A terminal write whose receipt cannot be stored writes nothing: the run
/// stays running, with no event and no receipt.
pub async fn receipt_writes_fail_with_their_transition<H: Harness>(h: &H) {
    let clock = Arc::new(crate::clock::ManualClock::new(start()));
    let signer = ReceiptSigner::from_seed([42; 32]);
    let store = h.fresh_signing(clock.clone(), signer.clone()).await;
    let inv = claimed(&store, "triage").await;
    // A receipt already stored at the seq the completion will reach makes
    // the receipt insert fail (its key is taken) inside the completion.
    let next_seq = inv.last_seq + 1;
    h.plant_receipt(&store, inv.id.0, next_seq).await;
    let before = store.get(inv.id).await.unwrap();
    let refused = store.complete(inv.id, 1, valid_completion()).await;
    assert!(refused.is_err(), "{refused:?}");
    let after = store.get(inv.id).await.unwrap();
    assert_eq!(after, before, "the completion was not written");
    assert!(after.is_running());
    assert_eq!(
        store.receipts(inv.id).await.unwrap().len(),
        1,
        "only the planted one"
    );
    h.cleanup(store).await;
}

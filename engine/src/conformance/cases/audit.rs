//! The audit covers the record people read: a row its events do not
//! support is reported, even when every remaining hash checks out.

use super::prelude::*;
use crate::log::Mismatch;

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

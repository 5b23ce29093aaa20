//! The case timeline on the generic sealed log: the log cases run on
//! `case_events`, and the audit compares the case row with its timeline.

use super::log::{
    log_chain_verifies_and_tampering_is_reported_at_the_right_seq,
    log_concurrent_appenders_keep_seq_contiguous, log_entries_cannot_be_updated_or_deleted,
    log_entries_read_after_seq_with_limit, log_missing_entries_are_reported_where_they_are_missing,
};
use super::prelude::*;
use crate::case::{CaseId, CaseLog, CaseNumber, CasePatch, Severity};
use crate::log::LogName;
use crate::store::{CaseReads, Cases};

/// [`log_concurrent_appenders_keep_seq_contiguous`] on case timelines.
pub async fn case_timeline_appenders_keep_seq_contiguous<H: Harness>(h: &H) {
    log_concurrent_appenders_keep_seq_contiguous::<CaseLog, H>(h).await;
}

/// [`log_chain_verifies_and_tampering_is_reported_at_the_right_seq`] on
/// case timelines.
pub async fn case_timeline_verifies_and_tampering_is_reported_at_the_right_seq<H: Harness>(h: &H) {
    log_chain_verifies_and_tampering_is_reported_at_the_right_seq::<CaseLog, H>(h).await;
}

/// [`log_entries_cannot_be_updated_or_deleted`] on case timelines.
pub async fn case_events_cannot_be_updated_or_deleted<H: Harness>(h: &H) {
    log_entries_cannot_be_updated_or_deleted::<CaseLog, H>(h).await;
}

/// [`log_entries_read_after_seq_with_limit`] on case timelines.
pub async fn case_timeline_reads_after_seq_with_limit<H: Harness>(h: &H) {
    log_entries_read_after_seq_with_limit::<CaseLog, H>(h).await;
}

/// [`log_missing_entries_are_reported_where_they_are_missing`] on case
/// timelines.
pub async fn case_timeline_missing_entries_are_reported_where_they_are_missing<H: Harness>(h: &H) {
    log_missing_entries_are_reported_where_they_are_missing::<CaseLog, H>(h).await;
}

/// A case row its timeline does not support (an assignee set behind the
/// store's back, a severity change cut off with the tail rewound) fails
/// verification with the fields named, though the chain is intact.
pub async fn case_audit_reports_a_row_its_timeline_does_not_support<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let case = store
        .create_case("alice", new_case("Exfil over DNS"))
        .await
        .unwrap();
    store
        .assign_case(case.id, "alice", Some("bob".to_owned()))
        .await
        .unwrap();
    assert!(store.verify_case(case.id).await.unwrap().valid);
    h.tamper_case(&store, case.id.0, "assignee", "'mallory'")
        .await;
    let report = store.verify_case(case.id).await.unwrap();
    assert!(!report.valid);
    assert_eq!(report.first_break, None, "the chain itself is intact");
    let fields: Vec<&str> = report.mismatches.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(fields, ["assignee"], "{report:?}");

    let cut = store.create_case("alice", new_case("Cut")).await.unwrap();
    let raised = store
        .update_case(
            cut.id,
            "alice",
            CasePatch {
                severity: Some(Severity::Critical),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    h.cut_entries(
        &store,
        LogName::Case,
        cut.id.0,
        raised.last_seq,
        raised.last_seq,
        true,
    )
    .await;
    let report = store.verify_case(cut.id).await.unwrap();
    assert!(!report.valid);
    assert_eq!(
        report.first_break, None,
        "the rewound chain is an intact prefix"
    );
    let severity: Vec<_> = report
        .mismatches
        .iter()
        .filter(|m| m.field == "severity")
        .collect();
    assert_eq!(severity.len(), 1, "{report:?}");
    assert_eq!(severity[0].row, json!("critical"));
    assert_eq!(severity[0].log, json!("high"));
    h.cleanup(store).await;
}

/// Unknown cases, and records asked for through a case they do not belong
/// to, are not found; nothing is written.
pub async fn unknown_cases_are_not_found<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let nobody = CaseId::new_at(start());
    assert_not_found(store.case(nobody).await);
    assert_not_found(store.case_by_number(CaseNumber(4242)).await);
    assert_not_found(store.case_timeline(nobody, 0, 10).await);
    assert_not_found(store.verify_case(nobody).await);
    assert_not_found(store.observables(nobody).await);
    assert_not_found(store.evidence(nobody).await);
    assert_not_found(store.comments(nobody).await);
    assert_not_found(store.tasks(nobody).await);
    assert_not_found(store.related_cases(nobody).await);
    assert_not_found(store.assign_case(nobody, "alice", None).await);
    assert_not_found(store.link_alert(nobody, "alice", "a-1").await);
    assert_not_found(
        store
            .merge_cases(nobody, &[CaseId::new_at(start())], "alice", None)
            .await,
    );
    let case = store.create_case("alice", new_case("Real")).await.unwrap();
    assert!(store.observables(case.id).await.unwrap().is_empty());
    assert_not_found(
        store
            .custody(case.id, crate::case::EvidenceId::new_at(start()))
            .await,
    );
    assert_not_found(
        store
            .update_task(
                case.id,
                crate::case::TaskId::new_at(start()),
                "alice",
                crate::case::TaskPatch::default(),
            )
            .await,
    );
    assert_eq!(store.case(case.id).await.unwrap().case, case);
    h.cleanup(store).await;
}

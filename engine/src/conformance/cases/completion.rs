//! Completion: valid and invalid results, review, graceful release.

use super::prelude::*;

/// A schema-invalid result keeps the raw output and requires review; review completes it.
pub async fn complete_with_invalid_result_keeps_raw_and_requires_review<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    let raw = r#"{"summary": 3, "confidence": "high"}"#;
    let done = store
        .complete(
            inv.id,
            1,
            invalid_completion(
                raw,
                &[
                    "summary: must be a non-empty string",
                    "confidence: must be a number",
                ],
            ),
        )
        .await
        .unwrap();
    assert_eq!((done.status, done.phase), (Status::ReviewRequired, None));
    assert_eq!(done.result_raw.as_deref(), Some(raw));
    assert!(done.result.is_none());
    assert!(done.error.is_some());
    match all_events(&store, &inv)
        .await
        .pop()
        .unwrap()
        .body()
        .unwrap()
    {
        EventBody::ReviewRequired {
            result_raw, errors, ..
        } => {
            assert_eq!(result_raw.as_deref(), Some(raw));
            assert!(
                errors.iter().any(|e| e.starts_with("summary")),
                "{errors:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        store
            .claim_next(&[], "w", None, LEASE)
            .await
            .unwrap()
            .is_none()
    );

    let graded: serde_json::Value = serde_json::from_str(&valid_result()).unwrap();
    let review = ReviewInput {
        result: graded.clone(),
        confidence: Some(0.85),
        note: Some("rewrote the summary".to_owned()),
    };
    let reviewed = store
        .review(inv.id, "analyst", review.clone())
        .await
        .unwrap();
    assert_eq!(
        (reviewed.status, reviewed.result.as_ref()),
        (Status::Completed, Some(&graded))
    );
    assert_eq!(
        reviewed.result_raw.as_deref(),
        Some(raw),
        "the raw output stays on record"
    );
    assert_invalid_transition(store.review(inv.id, "analyst", review).await);
    assert_chain_valid(&store, &inv).await;
    h.cleanup(store).await;
}

/// A valid result completes the run and ends its lease.
pub async fn complete_with_valid_result_completes<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    clock.advance(Duration::seconds(7));
    let done = store.complete(inv.id, 1, valid_completion()).await.unwrap();
    assert_eq!(
        (done.status, done.confidence),
        (Status::Completed, Some(0.85))
    );
    assert_eq!(done.finished_at, Some(clock.now()));
    assert_eq!(done.duration(clock.now()), Some(Duration::seconds(7)));
    assert!(done.lease_owner.is_none() && done.lease_expires_at.is_none());
    assert_eq!(store.get(inv.id).await.unwrap(), done);
    assert_lease_lost(store.checkpoint(inv.id, 1, vec![model_turn("late")]).await);
    h.cleanup(store).await;
}

/// Release (graceful shutdown) queues the run again without dead-lettering it.
pub async fn release_requeues_without_dead_letter<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    store
        .checkpoint(inv.id, 1, vec![model_turn("c1")])
        .await
        .unwrap();
    let released = store.release(inv.id, 1, "shutdown", None).await.unwrap();
    assert_eq!(
        (released.status, released.phase),
        (Status::Pending, Some(Phase::Queued))
    );
    assert!(released.lease_owner.is_none());
    clock.advance(Duration::minutes(5));
    assert!(store.reap(100).await.unwrap().is_empty());
    let again = store
        .claim_next(&[], "worker-b", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.lease_epoch, again.claims, again.attempt),
        (2, 2, 1),
        "a claim after a graceful release is the same attempt"
    );
    assert_eq!(
        store.get(inv.id).await.unwrap().claims,
        2,
        "claims is stored"
    );
    assert_eq!(
        kinds(&store, &inv).await,
        [
            EventKind::Dispatched,
            EventKind::Claimed,
            EventKind::ModelTurn,
            EventKind::Released,
            EventKind::Claimed
        ]
    );
    h.cleanup(store).await;
}

pub(super) fn valid_completion() -> Completion {
    Completion::Valid {
        result: serde_json::from_str(&valid_result()).unwrap(),
        confidence: Some(0.85),
    }
}

pub(super) fn invalid_completion(raw: &str, errors: &[&str]) -> Completion {
    Completion::Invalid {
        reason: "result does not match the output schema".to_owned(),
        result_raw: Some(raw.to_owned()),
        errors: errors.iter().map(|e| (*e).to_owned()).collect(),
    }
}

pub(super) fn valid_result() -> String {
    json!({
        "summary": "Tor exit node brute-forcing SSH; no successful login.",
        "key_findings": ["185.220.101.4 is a Tor exit", "412 failures, 0 successes"],
        "recommended_next_steps": ["block at the edge"],
        "confidence": 0.85
    })
    .to_string()
}

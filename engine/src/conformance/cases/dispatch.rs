//! Dispatch: idempotency keys, concurrent dispatches, bad input.

use super::prelude::*;

/// Dispatch creates a `pending/queued` row with one `dispatched` event at seq 1.
pub async fn dispatch_creates_queued_investigation_with_dispatched_event<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let inv = dispatch(&store, "triage").await;
    let got = store.get(inv.id).await.unwrap();
    assert_eq!(got, inv, "the returned record is what was stored");
    assert_eq!(
        (got.status, got.phase),
        (Status::Pending, Some(Phase::Queued))
    );
    assert_eq!((got.lease_epoch, got.attempt, got.last_seq), (0, 0, 1));
    let events = all_events(&store, &inv).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].prev_hash, GENESIS);
    assert_eq!(events[0].actor, "soar");
    assert_eq!(events[0].hash, got.last_hash);
    match events[0].body().unwrap() {
        EventBody::Dispatched {
            agent_id, prompt, ..
        } => {
            assert_eq!(agent_id, "triage");
            assert_eq!(prompt, inv.prompt);
        }
        other => panic!("expected dispatched, got {other:?}"),
    }
    h.cleanup(store).await;
}

/// The same key from the same requester returns the existing investigation;
/// a different body under the key is a conflict; another requester's key is separate.
pub async fn dispatch_with_same_idempotency_key_returns_existing<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let keyed = DispatchRequest {
        idempotency_key: Some("alert-4411".to_owned()),
        case_ref: Some("CASE-9".to_owned()),
        ..request("triage", "look at alert 4411")
    };
    let first = store.dispatch(keyed.clone()).await.unwrap();
    assert!(first.created);
    let again = store.dispatch(keyed.clone()).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.investigation.id, first.investigation.id);

    let different = DispatchRequest {
        prompt: "something else".to_owned(),
        ..keyed.clone()
    };
    match store.dispatch(different).await {
        Err(Error::IdempotencyKeyReused { key, existing, .. }) => {
            assert_eq!(
                (key.as_str(), existing),
                ("alert-4411", first.investigation.id)
            );
        }
        other => panic!("expected IdempotencyKeyReused, got {other:?}"),
    }

    let other_requester = DispatchRequest {
        requested_by: "another-pipeline".to_owned(),
        ..keyed
    };
    let other = store.dispatch(other_requester).await.unwrap();
    assert!(other.created);
    assert_ne!(other.investigation.id, first.investigation.id);

    let all = store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(all.items.len(), 2, "the conflicting dispatch wrote nothing");
    h.cleanup(store).await;
}

/// Eight concurrent dispatches with one key create exactly one investigation.
pub async fn concurrent_dispatches_with_one_key_create_one_investigation<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let req = DispatchRequest {
        idempotency_key: Some("burst".to_owned()),
        ..request("triage", "burst of identical alerts")
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, req) = (store.clone(), req.clone());
            tokio::spawn(async move { store.dispatch(req).await })
        })
        .collect();
    let mut created = 0;
    let mut ids = BTreeSet::new();
    for task in tasks {
        let d = task.await.unwrap().expect("every dispatch succeeds");
        created += usize::from(d.created);
        ids.insert(d.investigation.id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(
        store.list(&ListQuery::default()).await.unwrap().items.len(),
        1
    );
    h.cleanup(store).await;
}

/// Invalid dispatches name the field and write nothing.
pub async fn dispatch_rejects_bad_input_and_writes_nothing<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    for (req, field) in [
        (request("triage", "  "), "prompt"),
        (request("", "prompt"), "agent_id"),
        (
            DispatchRequest {
                requested_by: String::new(),
                ..request("triage", "p")
            },
            "requested_by",
        ),
    ] {
        match store.dispatch(req).await {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected InvalidInput({field}), got {other:?}"),
        }
    }
    assert!(
        store
            .list(&ListQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    h.cleanup(store).await;
}

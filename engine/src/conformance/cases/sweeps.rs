//! Sweeps and rescue: the reaper takes only expired leases, once, and rescue only from dead-lettered or failed.

use super::prelude::*;

/// The reaper dead-letters only running rows whose lease has expired, and bumps their epoch.
pub async fn reap_touches_only_expired_running_rows<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let short = claimed(&store, "triage").await;
    dispatch(&store, "triage").await;
    let long = store
        .claim_next(&[], "worker-b", None, Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    let awaiting = claimed(&store, "triage").await;
    let draft = approval_draft(clock.now(), "c1", Duration::seconds(10));
    store.await_approval(awaiting.id, 1, draft).await.unwrap();
    let queued = dispatch(&store, "triage").await;

    clock.advance(Duration::minutes(1));
    let reaped = store.reap(100).await.unwrap();
    assert_eq!(reaped.iter().map(|r| r.id).collect::<Vec<_>>(), [short.id]);
    assert_eq!(reaped[0].worker.as_deref(), Some("worker-a"));

    let dead = store.get(short.id).await.unwrap();
    assert_eq!(
        (dead.status, dead.phase, dead.lease_epoch),
        (Status::DeadLettered, None, 2)
    );
    assert!(dead.lease_owner.is_none());
    let last = all_events(&store, &dead).await.pop().unwrap();
    assert_eq!((last.kind, last.epoch), (EventKind::DeadLettered, 2));
    match last.body().unwrap() {
        EventBody::DeadLettered {
            worker,
            last_heartbeat_at,
            ..
        } => {
            assert_eq!(worker.as_deref(), Some("worker-a"));
            assert_eq!(last_heartbeat_at, short.heartbeat_at);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        store.get(long.id).await.unwrap().phase,
        Some(Phase::Running)
    );
    assert_eq!(
        store.get(awaiting.id).await.unwrap().phase,
        Some(Phase::AwaitingApproval)
    );
    assert_eq!(
        store.get(queued.id).await.unwrap().phase,
        Some(Phase::Queued)
    );
    assert!(
        store.reap(100).await.unwrap().is_empty(),
        "a second sweep finds nothing"
    );
    h.cleanup(store).await;
}

/// Concurrent reapers dead-letter each expired row exactly once.
pub async fn concurrent_reapers_dead_letter_each_row_once<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let mut expired = BTreeSet::new();
    for _ in 0..40 {
        expired.insert(claimed(&store, "triage").await.id);
    }
    clock.advance(LEASE + Duration::seconds(1));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.reap(5).await.expect("reap");
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|r| r.id));
                }
            })
        })
        .collect();
    let mut reaped = Vec::new();
    for task in tasks {
        reaped.extend(task.await.unwrap());
    }
    assert_eq!(reaped.len(), 40, "no row reaped twice");
    assert_eq!(reaped.into_iter().collect::<BTreeSet<_>>(), expired);
    for id in expired.iter().take(10) {
        let inv = store.get(*id).await.unwrap();
        assert_eq!(inv.lease_epoch, 2);
        assert_eq!(count_kind(&store, &inv, EventKind::DeadLettered).await, 1);
    }
    h.cleanup(store).await;
}

/// Rescue works only from dead_lettered or failed, needs a reason and bumps the epoch.
pub async fn rescue_only_from_dead_lettered_or_failed<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let queued = dispatch(&store, "queued-only").await;
    assert_invalid_transition(store.rescue(queued.id, "oncall", "why not").await);
    let running = claimed(&store, "triage").await;
    assert_invalid_transition(store.rescue(running.id, "oncall", "why not").await);
    store
        .complete(running.id, 1, valid_completion())
        .await
        .unwrap();
    assert_invalid_transition(store.rescue(running.id, "oncall", "why not").await);

    let failing = claimed(&store, "failing").await;
    store
        .fail(failing.id, 1, "model endpoint returned 400")
        .await
        .unwrap();
    match store.rescue(failing.id, "oncall", " ").await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "reason"),
        other => panic!("expected InvalidInput(reason), got {other:?}"),
    }
    let back = store
        .rescue(failing.id, "oncall", "endpoint fixed")
        .await
        .unwrap();
    assert_eq!(
        (back.status, back.phase, back.lease_epoch),
        (Status::Pending, Some(Phase::Queued), 2)
    );
    assert!(back.error.is_none());

    let dying = claimed(&store, "dying").await;
    clock.advance(LEASE);
    store.reap(10).await.unwrap();
    let back = store
        .rescue(dying.id, "oncall", "host replaced")
        .await
        .unwrap();
    assert_eq!(back.lease_epoch, 3);
    match all_events(&store, &back)
        .await
        .pop()
        .unwrap()
        .body()
        .unwrap()
    {
        EventBody::Rescued { by, reason, from } => {
            assert_eq!(
                (by.as_str(), reason.as_str(), from),
                ("oncall", "host replaced", Status::DeadLettered)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    h.cleanup(store).await;
}

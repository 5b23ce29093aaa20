//! Fencing: worker writes under a lease epoch, refused after reap, rescue, expiry or another handle's write; nothing half-written.

use super::prelude::*;

/// Checkpoints append in order, seal the chain and accumulate usage.
pub async fn checkpoint_appends_events_in_order_and_accumulates_usage<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    let first = store
        .checkpoint(inv.id, 1, vec![model_turn("c1"), intent("c1")])
        .await
        .unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    assert!(first.iter().all(|e| e.actor == "worker-a" && e.epoch == 1));
    store
        .checkpoint(inv.id, 1, vec![result("c1")])
        .await
        .unwrap();
    let lost = StepEvent::ModelCallFailed(ModelCallFailed {
        model: Some("m".to_owned()),
        cause: ModelFailureCause::Timeout,
        error: "model call timed out".to_owned(),
        elapsed_ms: 60_000,
    });
    store.checkpoint(inv.id, 1, vec![lost]).await.unwrap();
    store
        .checkpoint(inv.id, 1, vec![model_turn("c2")])
        .await
        .unwrap();
    let got = store.get(inv.id).await.unwrap();
    assert_eq!(got.last_seq, 7);
    assert_eq!(
        (
            got.usage.model_turns,
            got.usage.input_tokens,
            got.usage.output_tokens,
            got.usage.lost_turns
        ),
        (2, 240, 60, 1),
        "a call that gave no turn is counted as lost, not as a turn"
    );
    assert_eq!(
        kinds(&store, &inv).await,
        [
            EventKind::Dispatched,
            EventKind::Claimed,
            EventKind::ModelTurn,
            EventKind::ToolIntent,
            EventKind::ToolResult,
            EventKind::ModelCallFailed,
            EventKind::ModelTurn
        ]
    );
    assert_chain_valid(&store, &inv).await;
    h.cleanup(store).await;
}

/// After a reap, and again after a rescue, the old epoch writes nothing.
pub async fn checkpoint_is_fenced_after_reap_and_after_rescue<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    store
        .checkpoint(inv.id, 1, vec![model_turn("c1")])
        .await
        .unwrap();
    clock.advance(LEASE + Duration::seconds(1));
    let reaped = store.reap(100).await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].epoch, 2);
    let at_reap = store.get(inv.id).await.unwrap().last_seq;

    assert_lease_lost(store.checkpoint(inv.id, 1, vec![intent("c1")]).await);
    assert_lease_lost(store.heartbeat(inv.id, 1, LEASE).await);
    assert_lease_lost(
        store
            .complete(inv.id, 1, invalid_completion("{}", &[]))
            .await,
    );

    let rescued = store
        .rescue(inv.id, "oncall", "worker host died")
        .await
        .unwrap();
    assert_eq!(rescued.lease_epoch, 3);
    assert_lease_lost(store.checkpoint(inv.id, 1, vec![intent("c1")]).await);
    let again = store
        .claim_next(&[], "worker-b", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.lease_epoch, again.claims, again.attempt),
        (4, 2, 2),
        "a claim after a rescue is the next attempt"
    );
    assert_eq!(
        (rescued.claims, rescued.attempt),
        (1, 2),
        "the rescue starts the next attempt"
    );
    assert_lease_lost(store.checkpoint(inv.id, 1, vec![intent("c1")]).await);
    assert_lease_lost(store.checkpoint(inv.id, 3, vec![intent("c1")]).await);
    store
        .checkpoint(inv.id, 4, vec![intent("c1")])
        .await
        .unwrap();

    let late_writes = all_events(&store, &inv)
        .await
        .into_iter()
        .filter(|e| e.seq > at_reap && e.epoch == 1)
        .count();
    assert_eq!(late_writes, 0, "the reaped epoch appended nothing");
    assert_chain_valid(&store, &inv).await;
    h.cleanup(store).await;
}

/// Checkpoints racing the reaper (while the clock crosses their lease expiry)
/// never land after the `dead_lettered` event, and every chain stays valid.
pub async fn worker_writes_racing_the_reaper_never_land_after_it<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let mut invs = Vec::new();
    for _ in 0..8 {
        invs.push(claimed(&store, "triage").await);
    }
    let mut tasks = Vec::new();
    for inv in &invs {
        let (store, id) = (store.clone(), inv.id);
        tasks.push(tokio::spawn(async move {
            for n in 0..25 {
                match store
                    .checkpoint(id, 1, vec![model_turn(&format!("c{n}"))])
                    .await
                {
                    Ok(_) => tokio::task::yield_now().await,
                    Err(Error::LeaseLost { .. }) => return,
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
        }));
    }
    {
        let (store, clock) = (store.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
            clock.advance(LEASE);
            for _ in 0..20 {
                store.reap(3).await.expect("reap");
                tokio::task::yield_now().await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    store.reap(100).await.unwrap();
    for inv in &invs {
        let events = all_events(&store, inv).await;
        let reaped_at = events
            .iter()
            .position(|e| e.kind == EventKind::DeadLettered)
            .expect("every lease expired and was reaped");
        assert_eq!(
            reaped_at,
            events.len() - 1,
            "nothing was appended after the reap"
        );
        assert!(
            events[1..reaped_at].iter().all(|e| e.epoch == 1),
            "claimed and checkpoints under epoch 1"
        );
        assert_chain_valid(&store, inv).await;
    }
    h.cleanup(store).await;
}

/// Two handles on one database (two processes): writes made through one are
/// never lost or overwritten by the other, whatever the other remembers, and
/// a run reaped and re-claimed through one is fenced in the other.
pub async fn writes_through_another_handle_are_never_overwritten<H: Harness>(h: &H) {
    let (a, clock) = setup(h).await;
    let b = h.reopen(clock.clone()).await;
    let inv = claimed(&a, "triage").await;
    a.checkpoint(inv.id, 1, vec![model_turn("a1")])
        .await
        .unwrap();
    b.checkpoint(inv.id, 1, vec![intent("a1")]).await.unwrap();
    let appended = a.checkpoint(inv.id, 1, vec![result("a1")]).await.unwrap();
    assert_eq!(appended[0].seq, 5, "the write through b was seen");

    clock.advance(Duration::seconds(10));
    let beat = b.heartbeat(inv.id, 1, Duration::seconds(60)).await.unwrap();
    a.checkpoint(inv.id, 1, vec![model_turn("a2")])
        .await
        .unwrap();
    let now = a.get(inv.id).await.unwrap();
    assert_eq!(
        now.lease_expires_at, beat.lease_expires_at,
        "b's heartbeat survived a's write"
    );
    assert_eq!(now.heartbeat_at, beat.heartbeat_at);

    clock.advance(Duration::seconds(61));
    assert_eq!(b.reap(10).await.unwrap().len(), 1);
    b.rescue(inv.id, "oncall", "worker host lost")
        .await
        .unwrap();
    let again = b
        .claim_next(&[], "worker-b", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.lease_epoch, 4);
    let before = all_events(&a, &inv).await;
    assert_lease_lost(a.checkpoint(inv.id, 1, vec![model_turn("zombie")]).await);
    assert_lease_lost(a.heartbeat(inv.id, 1, LEASE).await);
    assert_eq!(
        all_events(&a, &inv).await,
        before,
        "the old epoch wrote nothing"
    );
    a.checkpoint(inv.id, 4, vec![model_turn("a3")])
        .await
        .unwrap();
    b.checkpoint(inv.id, 4, vec![intent("a3")]).await.unwrap();
    a.complete(inv.id, 4, valid_completion()).await.unwrap();
    assert_eq!(b.get(inv.id).await.unwrap().status, Status::Completed);
    assert_chain_valid(&b, &inv).await;
    h.cleanup(b).await;
}

/// Once the lease has run out, worker writes are refused even before a reap.
pub async fn expired_lease_refuses_worker_writes_before_reap<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    clock.advance(LEASE);
    assert_lease_lost(store.checkpoint(inv.id, 1, vec![model_turn("c1")]).await);
    assert_lease_lost(store.release(inv.id, 1, "shutdown", None).await);
    assert_eq!(store.get(inv.id).await.unwrap().last_seq, inv.last_seq);
    h.cleanup(store).await;
}

/// A heartbeat moves the lease forward and appends no event.
pub async fn heartbeat_extends_the_lease_without_an_event<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    clock.advance(Duration::seconds(20));
    let beat = store.heartbeat(inv.id, 1, LEASE).await.unwrap();
    assert_eq!(beat.lease_expires_at, Some(clock.now() + LEASE));
    assert_eq!(beat.heartbeat_at, Some(clock.now()));
    assert_eq!(beat.last_seq, inv.last_seq, "heartbeat is not an event");
    clock.advance(Duration::seconds(20));
    assert!(
        store.reap(100).await.unwrap().is_empty(),
        "the lease was extended"
    );
    store
        .checkpoint(inv.id, 1, vec![model_turn("c1")])
        .await
        .unwrap();
    h.cleanup(store).await;
}

/// A write the database refuses part-way (a duplicate tool call id) leaves
/// the row and the log exactly as they were.
pub async fn failed_write_leaves_nothing_half_written<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    let first = approval_draft(clock.now(), "c1", Duration::minutes(5));
    let req = store.await_approval(inv.id, 1, first).await.unwrap();
    store
        .decide_approval(req.id, "alice", Decision::Reject, None)
        .await
        .unwrap();
    let again = store
        .claim_next(&[], "worker-b", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    let before = store.get(inv.id).await.unwrap();
    let events_before = all_events(&store, &inv).await;

    let duplicate = approval_draft(clock.now(), "c1", Duration::minutes(5));
    match store
        .await_approval(inv.id, again.lease_epoch, duplicate)
        .await
    {
        Err(Error::AlreadyExists { .. }) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(store.get(inv.id).await.unwrap(), before);
    assert_eq!(all_events(&store, &inv).await, events_before);
    assert_eq!(
        store
            .approvals(&ApprovalQuery {
                investigation_id: Some(inv.id),
                ..ApprovalQuery::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
    h.cleanup(store).await;
}

/// A segment's trace context is kept for the next claim, which returns the
/// previous segment's value; a write under a lease that moved on is refused
/// and leaves the recorded one alone. Recording it disturbs no worker write.
pub async fn a_segment_trace_is_returned_by_the_next_claim_and_fenced<H: Harness>(h: &H) {
    const FIRST: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const STALE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01";
    let (store, _) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    assert_eq!(inv.segment_traceparent, None);
    store.record_segment(inv.id, 1, FIRST).await.unwrap();
    store
        .checkpoint(inv.id, 1, vec![model_turn("c1")])
        .await
        .unwrap();
    store.release(inv.id, 1, "shutdown", None).await.unwrap();
    assert_lease_lost(store.record_segment(inv.id, 1, STALE).await);

    let again = store
        .claim_next(&[], "worker-b", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, inv.id);
    assert_eq!(again.lease_epoch, 2);
    assert_eq!(again.segment_traceparent.as_deref(), Some(FIRST));
    assert_lease_lost(store.record_segment(inv.id, 1, STALE).await);
    assert_eq!(
        store
            .get(inv.id)
            .await
            .unwrap()
            .segment_traceparent
            .as_deref(),
        Some(FIRST)
    );
    h.cleanup(store).await;
}

//! Approvals: decisions, separation of duties, races between deciders and with expiry, cancel while parked.

use super::prelude::*;

/// await_approval parks the run and releases the lease; a decision by someone
/// other than the requester resolves it and queues the run again.
pub async fn approval_decision_requeues_and_records_decider<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    let draft = approval_draft(clock.now(), "c1", Duration::minutes(10));
    let request = store
        .await_approval(inv.id, 1, draft.clone())
        .await
        .unwrap();
    assert_eq!(
        (request.status, request.id),
        (ApprovalStatus::Pending, draft.id)
    );
    let parked = store.get(inv.id).await.unwrap();
    assert_eq!(parked.phase, Some(Phase::AwaitingApproval));
    assert_eq!(parked.waiting_on, Some(request.id));
    assert!(parked.lease_owner.is_none());
    assert_lease_lost(store.checkpoint(inv.id, 1, vec![model_turn("c2")]).await);

    let pending = store
        .approvals(&ApprovalQuery {
            status: Some(ApprovalStatus::Pending),
            ..ApprovalQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        pending.iter().map(|a| a.id).collect::<Vec<_>>(),
        [request.id]
    );

    match store
        .decide_approval(request.id, "soar", Decision::Approve, None)
        .await
    {
        Err(Error::SeparationOfDuties { .. }) => {}
        other => panic!("the requester must not decide, got {other:?}"),
    }
    clock.advance(Duration::minutes(1));
    let decided = store
        .decide_approval(
            request.id,
            "alice",
            Decision::Approve,
            Some("confirmed with owner".to_owned()),
        )
        .await
        .unwrap();
    assert_eq!(decided.status, ApprovalStatus::Approved);
    assert_eq!(decided.decided_by.as_deref(), Some("alice"));
    assert_eq!(decided.decided_at, Some(clock.now()));
    assert_eq!(store.approval(request.id).await.unwrap(), decided);

    let requeued = store.get(inv.id).await.unwrap();
    assert_eq!(
        (requeued.phase, requeued.waiting_on),
        (Some(Phase::Queued), None)
    );
    let last = all_events(&store, &inv).await.pop().unwrap();
    assert_eq!(
        (last.kind, last.actor.as_str()),
        (EventKind::ApprovalDecided, "alice")
    );
    let again = store
        .claim_next(&[], "worker-b", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.lease_epoch), (inv.id, 2));
    assert_chain_valid(&store, &inv).await;
    h.cleanup(store).await;
}

/// Of two concurrent deciders exactly one wins; the other gets a conflict.
pub async fn concurrent_deciders_exactly_one_wins<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    for round in 0..5 {
        // A distinct agent per round: earlier rounds' runs are queued again.
        let inv = claimed(&store, &format!("agent-{round}")).await;
        let draft = approval_draft(clock.now(), &format!("c{round}"), Duration::minutes(10));
        let request = store.await_approval(inv.id, 1, draft).await.unwrap();
        let deciders: Vec<_> = [("alice", Decision::Approve), ("bob", Decision::Reject)]
            .into_iter()
            .map(|(who, decision)| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.decide_approval(request.id, who, decision, None).await },
                )
            })
            .collect();
        let mut wins = 0;
        for d in deciders {
            match d.await.unwrap() {
                Ok(_) => wins += 1,
                Err(Error::ApprovalNotPending { .. }) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(wins, 1);
        assert_eq!(
            count_kind(&store, &inv, EventKind::ApprovalDecided).await,
            1
        );
        assert_ne!(
            store.approval(request.id).await.unwrap().status,
            ApprovalStatus::Pending
        );
    }
    h.cleanup(store).await;
}

/// The expiry sweep expires only requests past their deadline and queues their runs.
pub async fn expiry_sweep_expires_due_approvals_only<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let soon = claimed(&store, "triage").await;
    let later = claimed(&store, "triage").await;
    let now = clock.now();
    let soon_req = store
        .await_approval(soon.id, 1, approval_draft(now, "c1", Duration::minutes(5)))
        .await
        .unwrap();
    let later_req = store
        .await_approval(
            later.id,
            1,
            approval_draft(now, "c1", Duration::minutes(60)),
        )
        .await
        .unwrap();
    assert!(store.expire_approvals(100).await.unwrap().is_empty());
    clock.advance(Duration::minutes(10));
    let expired = store.expire_approvals(100).await.unwrap();
    assert_eq!(
        expired.iter().map(|a| a.id).collect::<Vec<_>>(),
        [soon_req.id]
    );
    assert_eq!(expired[0].status, ApprovalStatus::Expired);
    assert_eq!(store.get(soon.id).await.unwrap().phase, Some(Phase::Queued));
    assert_eq!(
        all_events(&store, &soon).await.pop().unwrap().kind,
        EventKind::ApprovalExpired
    );
    assert_eq!(
        store.approval(later_req.id).await.unwrap().status,
        ApprovalStatus::Pending
    );
    assert_already_decided(
        store
            .decide_approval(soon_req.id, "alice", Decision::Approve, None)
            .await,
    );
    assert!(store.expire_approvals(100).await.unwrap().is_empty());
    h.cleanup(store).await;
}

/// Decisions racing the expiry sweep (while the clock crosses the deadline)
/// give every request exactly one outcome.
pub async fn decision_racing_expiry_has_exactly_one_outcome<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let mut pairs = Vec::new();
    for _ in 0..16 {
        let inv = claimed(&store, "triage").await;
        let draft = approval_draft(clock.now(), "c1", Duration::seconds(1));
        let req = store.await_approval(inv.id, 1, draft).await.unwrap();
        pairs.push((inv, req));
    }
    let mut tasks = Vec::new();
    for (i, (_, req)) in pairs.iter().enumerate() {
        let (store, id) = (store.clone(), req.id);
        tasks.push(tokio::spawn(async move {
            if i % 2 == 1 {
                tokio::task::yield_now().await;
            }
            let _ = store
                .decide_approval(id, "alice", Decision::Approve, None)
                .await;
        }));
    }
    {
        let clock = clock.clone();
        tasks.push(tokio::spawn(async move {
            tokio::task::yield_now().await;
            clock.advance(Duration::seconds(2));
        }));
    }
    for _ in 0..3 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let _ = store.expire_approvals(4).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    clock.advance(Duration::seconds(2));
    store.expire_approvals(100).await.unwrap();
    for (inv, req) in &pairs {
        let status = store.approval(req.id).await.unwrap().status;
        let decided = count_kind(&store, inv, EventKind::ApprovalDecided).await;
        let expired = count_kind(&store, inv, EventKind::ApprovalExpired).await;
        match status {
            ApprovalStatus::Approved => assert_eq!((decided, expired), (1, 0)),
            ApprovalStatus::Expired => assert_eq!((decided, expired), (0, 1)),
            other => panic!("request left {other}"),
        }
        assert_eq!(store.get(inv.id).await.unwrap().phase, Some(Phase::Queued));
        assert_chain_valid(&store, inv).await;
    }
    h.cleanup(store).await;
}

/// Cancelling a parked run fails it, bumps the epoch and rejects its request.
pub async fn cancel_while_awaiting_rejects_the_pending_approval<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    let req = store
        .await_approval(
            inv.id,
            1,
            approval_draft(clock.now(), "c1", Duration::minutes(5)),
        )
        .await
        .unwrap();
    let cancelled = store
        .cancel(inv.id, "oncall", "duplicate alert")
        .await
        .unwrap();
    assert_eq!(
        (cancelled.status, cancelled.phase, cancelled.lease_epoch),
        (Status::Failed, None, 2)
    );
    assert!(
        cancelled
            .error
            .as_deref()
            .unwrap()
            .contains("duplicate alert")
    );
    let req = store.approval(req.id).await.unwrap();
    assert_eq!(req.status, ApprovalStatus::Rejected);
    assert_eq!(req.decided_by.as_deref(), Some("oncall"));
    assert_eq!(
        all_events(&store, &inv).await.pop().unwrap().kind,
        EventKind::Cancelled
    );
    clock.advance(Duration::minutes(10));
    assert!(store.expire_approvals(100).await.unwrap().is_empty());
    assert_invalid_transition(store.cancel(inv.id, "oncall", "again").await);
    h.cleanup(store).await;
}

/// An approval request keeps the runtime mode it was asked in, in its row
/// and in its `approval_requested` event.
pub async fn approval_requests_keep_the_mode_they_were_asked_in<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    let draft = crate::machine::ApprovalDraft {
        mode: Some("dry_run".to_owned()),
        ..approval_draft(clock.now(), "c1", Duration::minutes(10))
    };
    let request = store.await_approval(inv.id, 1, draft).await.unwrap();
    assert_eq!(request.mode.as_deref(), Some("dry_run"));
    assert_eq!(
        store.approval(request.id).await.unwrap().mode.as_deref(),
        Some("dry_run")
    );
    let last = all_events(&store, &inv).await.pop().unwrap();
    assert_eq!(last.kind, EventKind::ApprovalRequested);
    assert_eq!(last.payload["mode"], "dry_run");
    h.cleanup(store).await;
}

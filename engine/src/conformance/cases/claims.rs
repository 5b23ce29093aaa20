//! Claims: which rows a claim takes, exclusivity under concurrent claimers, no lock left behind, wake-ups.

use super::prelude::*;

/// Claims take the oldest queued row among the requested agents and set the lease.
pub async fn claim_takes_oldest_queued_for_requested_agents<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let a = dispatch(&store, "triage").await;
    clock.advance(Duration::seconds(1));
    let b = dispatch(&store, "phishing").await;
    clock.advance(Duration::seconds(1));
    let c = dispatch(&store, "triage").await;

    let got = store
        .claim_next(&["phishing".to_owned()], "w1", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, b.id);
    let got = store
        .claim_next(
            &["triage".to_owned(), "malware".to_owned()],
            "w1",
            None,
            LEASE,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, a.id);
    assert_eq!(
        (got.phase, got.lease_epoch, got.attempt),
        (Some(Phase::Running), 1, 1)
    );
    assert_eq!(got.lease_owner.as_deref(), Some("w1"));
    assert_eq!(got.lease_expires_at, Some(clock.now() + LEASE));
    assert_eq!(got.started_at, Some(clock.now()));
    assert_eq!(
        kinds(&store, &got).await,
        [EventKind::Dispatched, EventKind::Claimed]
    );

    let got = store
        .claim_next(&[], "w1", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, c.id, "an empty agent list claims any agent");
    assert!(
        store
            .claim_next(&[], "w1", None, LEASE)
            .await
            .unwrap()
            .is_none()
    );
    h.cleanup(store).await;
}

/// A claim records the claiming worker's runtime mode on the run and in its
/// `claimed` event; a later claim in another mode says so; an unknown mode
/// is refused, naming the field, and claims nothing.
pub async fn a_claim_records_the_workers_mode<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let inv = dispatch(&store, "triage").await;
    match store.claim_next(&[], "w1", Some("yolo"), LEASE).await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "mode"),
        other => panic!("expected InvalidInput(mode), got {other:?}"),
    }
    let untouched = store.get(inv.id).await.unwrap();
    assert_eq!(
        (untouched.phase, untouched.last_seq),
        (Some(Phase::Queued), 1)
    );

    let got = store
        .claim_next(&[], "w1", Some("dry_run"), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.mode.as_deref(), Some("dry_run"));
    assert_eq!(
        store.get(inv.id).await.unwrap().mode.as_deref(),
        Some("dry_run")
    );
    store
        .release(inv.id, got.lease_epoch, "shutdown", None)
        .await
        .unwrap();
    let again = store
        .claim_next(&[], "w2", Some("real"), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.get(inv.id).await.unwrap().mode.as_deref(),
        Some("real")
    );
    let modes: Vec<Option<String>> = all_events(&store, &again)
        .await
        .into_iter()
        .filter_map(|e| match e.body() {
            Ok(EventBody::Claimed { mode, .. }) => Some(mode),
            _ => None,
        })
        .collect();
    assert_eq!(
        modes,
        [Some("dry_run".to_owned()), Some("real".to_owned())],
        "each claim's own mode is in its event"
    );
    h.cleanup(store).await;
}

/// A running or awaiting row is never claimed.
pub async fn claim_never_takes_running_or_awaiting_rows<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let running = claimed(&store, "triage").await;
    let awaiting = claimed(&store, "triage").await;
    let draft = approval_draft(clock.now(), "call-1", Duration::minutes(10));
    store
        .await_approval(awaiting.id, awaiting.lease_epoch, draft)
        .await
        .unwrap();
    assert!(
        store
            .claim_next(&[], "w2", None, LEASE)
            .await
            .unwrap()
            .is_none()
    );
    let queued = dispatch(&store, "triage").await;
    let got = store
        .claim_next(&[], "w2", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, queued.id);
    assert_eq!(
        store.get(running.id).await.unwrap().lease_owner.as_deref(),
        Some("worker-a")
    );
    h.cleanup(store).await;
}

/// Refused commands hold no lock once they return: right after several
/// concurrent refusals, the row is claimable at once.
pub async fn refused_commands_leave_no_lock_behind<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    for round in 0..40 {
        let inv = dispatch(&store, "triage").await;
        // Refusals that lock the row before refusing, then a claim at once.
        let (a, b, c) = futures::join!(
            store.rescue(inv.id, "oncall", "not dead"),
            store.rescue(inv.id, "oncall", "not dead"),
            store.review(
                inv.id,
                "analyst",
                ReviewInput {
                    result: json!({}),
                    confidence: None,
                    note: None,
                },
            ),
        );
        assert_invalid_transition(a);
        assert_invalid_transition(b);
        assert_invalid_transition(c);
        let got = store.claim_next(&[], "w", None, LEASE).await.unwrap();
        assert_eq!(
            got.map(|i| i.id),
            Some(inv.id),
            "round {round}: a refused command left its row locked"
        );
    }
    h.cleanup(store).await;
}

/// Eight concurrent claimers over 200 queued rows claim every row exactly once.
pub async fn concurrent_claimers_claim_each_row_exactly_once<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let mut queued = BTreeSet::new();
    for i in 0..200 {
        let d = store
            .dispatch(request("triage", &format!("alert {i}")))
            .await
            .unwrap();
        queued.insert(d.investigation.id);
    }
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(inv) = store
                    .claim_next(&[], &format!("worker-{w}"), None, LEASE)
                    .await
                    .expect("claim")
                {
                    mine.push(inv.id);
                }
                mine
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    let unique: BTreeSet<_> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 200, "no row claimed twice");
    assert_eq!(unique, queued, "every row claimed");
    for id in queued.iter().take(20) {
        let inv = store.get(*id).await.unwrap();
        assert_eq!((inv.lease_epoch, inv.attempt), (1, 1));
    }
    h.cleanup(store).await;
}

/// A claim of several rows takes the oldest queued rows of its agents,
/// oldest first, at most its limit, each claimed as a single claim would
/// be; concurrent multi-row claimers take each row once; the look before a
/// claim says whether anything is left for the agents asked about.
pub async fn claims_of_several_rows_take_the_oldest_each_once<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let mut queued = Vec::new();
    for i in 0..10 {
        queued.push(dispatch(&store, "triage").await.id);
        clock.advance(Duration::milliseconds(1));
        if i < 2 {
            dispatch(&store, "hunt").await;
        }
    }
    let triage = ["triage".to_owned()];
    let hunt = ["hunt".to_owned()];
    assert!(store.has_claimable(&triage).await.unwrap());

    let first = store
        .claim_up_to(&triage, "worker-a", Some("real"), LEASE, 3)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|i| i.id).collect::<Vec<_>>(),
        queued[..3],
        "the three oldest, oldest first"
    );
    for inv in &first {
        assert_eq!((inv.lease_epoch, inv.attempt, inv.claims), (1, 1, 1));
        assert_eq!(inv.lease_owner.as_deref(), Some("worker-a"));
        assert_eq!(inv.mode.as_deref(), Some("real"));
        assert_eq!(
            kinds(&store, inv).await,
            [EventKind::Dispatched, EventKind::Claimed]
        );
        assert_chain_valid(&store, inv).await;
    }

    let tasks: Vec<_> = (0..3)
        .map(|w| {
            let store = store.clone();
            let triage = triage.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let runs = store
                        .claim_up_to(&triage, &format!("worker-{w}"), None, LEASE, 2)
                        .await
                        .expect("claim");
                    assert!(runs.len() <= 2, "never more than the limit");
                    if runs.is_empty() {
                        return mine;
                    }
                    mine.extend(runs.into_iter().map(|i| i.id));
                }
            })
        })
        .collect();
    let mut rest = Vec::new();
    for task in tasks {
        rest.extend(task.await.unwrap());
    }
    rest.sort();
    let mut expected = queued[3..].to_vec();
    expected.sort();
    assert_eq!(rest, expected, "every other row claimed exactly once");

    assert!(!store.has_claimable(&triage).await.unwrap());
    assert!(
        store.has_claimable(&hunt).await.unwrap(),
        "other agents' rows stay"
    );
    assert!(store.has_claimable(&[]).await.unwrap());
    assert!(
        store
            .claim_up_to(&triage, "worker-a", None, LEASE, 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_up_to(&hunt, "worker-a", None, LEASE, 0)
            .await
            .unwrap()
            .is_empty(),
        "a limit of zero claims nothing"
    );
    assert_eq!(
        store
            .claim_up_to(&hunt, "worker-a", None, LEASE, 5)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(!store.has_claimable(&[]).await.unwrap());
    h.cleanup(store).await;
}

/// Dispatch and a decision that re-queues work both wake subscribed workers.
pub async fn queued_work_wakes_workers<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let mut wakeups = store.wakeups();
    // Give a LISTEN-based stream time to subscribe before the first NOTIFY.
    let ready = tokio::time::timeout(std::time::Duration::from_millis(500), wakeups.next()).await;
    assert!(
        matches!(ready, Err(_) | Ok(Some(Wakeup::Resync))),
        "no wake-up before any work: {ready:?}"
    );
    let next_queued = async |wakeups: &mut futures::stream::BoxStream<'static, Wakeup>| loop {
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), wakeups.next())
            .await
            .expect("a wake-up within 10 s")
            .expect("the stream does not end");
        if let Wakeup::Queued { agent_id } = got {
            return agent_id;
        }
    };
    let inv = claimed(&store, "phishing").await;
    assert_eq!(next_queued(&mut wakeups).await, "phishing");
    let req = store
        .await_approval(
            inv.id,
            1,
            approval_draft(clock.now(), "c1", Duration::minutes(5)),
        )
        .await
        .unwrap();
    store
        .decide_approval(req.id, "alice", Decision::Approve, None)
        .await
        .unwrap();
    assert_eq!(next_queued(&mut wakeups).await, "phishing");
    h.cleanup(store).await;
}

#[allow(dead_code)]
fn _assert_store_is_object_safe(_: Arc<dyn Store>) {}

/// A run released to retry later is not claimed before its `not_before`,
/// while runs queued behind it are; once due it is claimed as the next
/// attempt, and the claim clears `not_before`.
pub async fn claim_skips_rows_whose_not_before_is_in_the_future<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    clock.advance(Duration::seconds(1));
    let later = dispatch(&store, "triage").await;
    let retry_at = clock.now() + Duration::seconds(30);
    let released = store
        .release(
            inv.id,
            inv.lease_epoch,
            "model unavailable: 503",
            Some(retry_at),
        )
        .await
        .unwrap();
    assert_eq!(released.not_before, Some(retry_at));
    assert_eq!(store.get(inv.id).await.unwrap().not_before, Some(retry_at));

    let got = store
        .claim_next(&[], "w2", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, later.id, "the younger row is claimed first");
    clock.advance(Duration::seconds(29));
    let only = ["triage".to_owned()];
    assert!(
        store
            .claim_next(&only, "w2", None, LEASE)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_next(&[], "w2", None, LEASE)
            .await
            .unwrap()
            .is_none()
    );

    clock.advance(Duration::seconds(1));
    let again = store
        .claim_next(&only, "w2", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, inv.id);
    assert_eq!(
        (again.not_before, again.claims, again.attempt),
        (None, 2, 2)
    );
    assert_eq!(store.get(inv.id).await.unwrap().not_before, None);
}

//! Reads: listing, keyset pagination, not-found answers.

use super::prelude::*;

/// Listing filters on every field and pages newest first without repeats.
pub async fn list_filters_and_paginates_newest_first<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let agents = ["triage", "phishing", "malware"];
    let mut made = Vec::new();
    for i in 0..30 {
        let req = DispatchRequest {
            requested_by: if i % 2 == 0 { "soar" } else { "alice" }.to_owned(),
            case_ref: (i % 5 == 0).then(|| format!("CASE-{}", i / 10)),
            ..request(agents[i % 3], &format!("alert {i}"))
        };
        made.push(store.dispatch(req).await.unwrap().investigation);
        clock.advance(Duration::seconds(1));
    }
    // Claim the three oldest "triage" rows.
    for _ in 0..3 {
        store
            .claim_next(&["triage".to_owned()], "w", None, LEASE)
            .await
            .unwrap();
    }
    // What each row should be: phase, agent, requester, case_ref.
    type Expected<'a> = (Phase, &'a str, &'a str, Option<String>);
    let mut model: HashMap<InvestigationId, Expected> = HashMap::new();
    let mut triage_seen = 0;
    for (i, inv) in made.iter().enumerate() {
        let phase = if agents[i % 3] == "triage" && triage_seen < 3 {
            triage_seen += 1;
            Phase::Running
        } else {
            Phase::Queued
        };
        model.insert(
            inv.id,
            (
                phase,
                agents[i % 3],
                if i % 2 == 0 { "soar" } else { "alice" },
                inv.case_ref.clone(),
            ),
        );
    }
    let count = |pred: &dyn Fn(&Expected) -> bool| model.values().filter(|v| pred(v)).count();
    let cases: Vec<(ListQuery, usize)> = vec![
        (
            ListQuery {
                status: Some(Status::Pending),
                ..Default::default()
            },
            30,
        ),
        (
            ListQuery {
                status: Some(Status::Completed),
                ..Default::default()
            },
            0,
        ),
        (
            ListQuery {
                phase: Some(Phase::Running),
                ..Default::default()
            },
            3,
        ),
        (
            ListQuery {
                agent_id: Some("phishing".into()),
                ..Default::default()
            },
            count(&|v| v.1 == "phishing"),
        ),
        (
            ListQuery {
                requested_by: Some("alice".into()),
                ..Default::default()
            },
            count(&|v| v.2 == "alice"),
        ),
        (
            ListQuery {
                case_ref: Some("CASE-1".into()),
                ..Default::default()
            },
            count(&|v| v.3.as_deref() == Some("CASE-1")),
        ),
        (
            ListQuery {
                created_after: Some(made[10].created_at),
                created_before: Some(made[20].created_at),
                ..Default::default()
            },
            10,
        ),
        (
            ListQuery {
                agent_id: Some("triage".into()),
                phase: Some(Phase::Queued),
                ..Default::default()
            },
            count(&|v| v.1 == "triage" && v.0 == Phase::Queued),
        ),
    ];
    for (query, expected) in cases {
        let page = store
            .list(&ListQuery {
                limit: 500,
                ..query.clone()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), expected, "{query:?}");
    }

    let mut seen = Vec::new();
    let mut query = ListQuery {
        limit: 7,
        ..Default::default()
    };
    loop {
        let page = store.list(&query).await.unwrap();
        seen.extend(page.items.iter().map(|i| i.id));
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
    }
    let newest_first: Vec<_> = made.iter().rev().map(|i| i.id).collect();
    assert_eq!(seen, newest_first);
    h.cleanup(store).await;
}

/// Rows dispatched while a client pages through never make an older row
/// repeat or disappear.
pub async fn pagination_is_stable_under_concurrent_inserts<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let mut original = Vec::new();
    for i in 0..40 {
        original.push(
            dispatch(&store, if i % 2 == 0 { "triage" } else { "phishing" })
                .await
                .id,
        );
        clock.advance(Duration::milliseconds(10));
    }
    let writer = {
        let (store, clock) = (store.clone(), clock.clone());
        tokio::spawn(async move {
            for _ in 0..40 {
                clock.advance(Duration::milliseconds(10));
                dispatch(&store, "triage").await;
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut query = ListQuery {
        limit: 5,
        ..Default::default()
    };
    loop {
        let page = store.list(&query).await.unwrap();
        seen.extend(page.items.iter().map(|inv| inv.id));
        tokio::task::yield_now().await;
        match page.next {
            Some(cursor) => query.after = Some(cursor),
            None => break,
        }
    }
    writer.await.unwrap();
    let originals_seen: Vec<_> = seen
        .iter()
        .filter(|id| original.contains(id))
        .copied()
        .collect();
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no row repeated");
    let expected: Vec<_> = original.iter().rev().copied().collect();
    assert_eq!(
        originals_seen, expected,
        "every original row once, newest first"
    );
    h.cleanup(store).await;
}

/// Unknown ids are NotFound for every read and write.
pub async fn unknown_ids_are_not_found<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let ghost = InvestigationId::new_at(clock.now());
    assert_not_found(store.get(ghost).await);
    assert_not_found(store.events(ghost, 0, 10).await);
    assert_not_found(store.verify_chain(ghost).await);
    assert_not_found(store.rescue(ghost, "oncall", "r").await);
    assert_not_found(store.cancel(ghost, "oncall", "r").await);
    assert_not_found(store.checkpoint(ghost, 1, vec![model_turn("c")]).await);
    let ghost_approval = crate::approval::ApprovalId::new_at(clock.now());
    assert_not_found(store.approval(ghost_approval).await);
    assert_not_found(
        store
            .decide_approval(ghost_approval, "alice", Decision::Approve, None)
            .await,
    );
    h.cleanup(store).await;
}

//! The conformance cases. Each takes a [`Harness`], builds a fresh store and
//! asserts behaviour through the store ports only. The cases on the records
//! beside the investigations (tokens, deliveries, presence, statistics) are
//! in `cases/admin.rs`.

mod admin;

pub use admin::*;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::Duration;
use futures::StreamExt;
use serde_json::json;

use super::Harness;
use super::support::*;
use crate::approval::{ApprovalStatus, Decision};
use crate::chain::{GENESIS, Problem};
use crate::clock::Clock;
use crate::event::{EventBody, EventKind};
use crate::model::{InvestigationId, Phase, Status};
use crate::result::Completion;
use crate::store::{
    ApprovalQuery, DispatchRequest, Dispatcher, Error, Leases, ListQuery, Operations, Reads,
    ReviewInput, Store, Sweeps, Wakeup, Wakeups,
};

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
    assert_conflict(store.dispatch(different).await);

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

/// Claims take the oldest queued row among the requested agents and set the lease.
pub async fn claim_takes_oldest_queued_for_requested_agents<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let a = dispatch(&store, "triage").await;
    clock.advance(Duration::seconds(1));
    let b = dispatch(&store, "phishing").await;
    clock.advance(Duration::seconds(1));
    let c = dispatch(&store, "triage").await;

    let got = store
        .claim_next(&["phishing".to_owned()], "w1", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, b.id);
    let got = store
        .claim_next(&["triage".to_owned(), "malware".to_owned()], "w1", LEASE)
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

    let got = store.claim_next(&[], "w1", LEASE).await.unwrap().unwrap();
    assert_eq!(got.id, c.id, "an empty agent list claims any agent");
    assert!(store.claim_next(&[], "w1", LEASE).await.unwrap().is_none());
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
    assert!(store.claim_next(&[], "w2", LEASE).await.unwrap().is_none());
    let queued = dispatch(&store, "triage").await;
    let got = store.claim_next(&[], "w2", LEASE).await.unwrap().unwrap();
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
        let got = store.claim_next(&[], "w", LEASE).await.unwrap();
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
                    .claim_next(&[], &format!("worker-{w}"), LEASE)
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
    store
        .checkpoint(inv.id, 1, vec![model_turn("c2")])
        .await
        .unwrap();
    let got = store.get(inv.id).await.unwrap();
    assert_eq!(got.last_seq, 6);
    assert_eq!(
        (
            got.usage.model_turns,
            got.usage.input_tokens,
            got.usage.output_tokens
        ),
        (2, 240, 60)
    );
    assert_eq!(
        kinds(&store, &inv).await,
        [
            EventKind::Dispatched,
            EventKind::Claimed,
            EventKind::ModelTurn,
            EventKind::ToolIntent,
            EventKind::ToolResult,
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
        .claim_next(&[], "worker-b", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.lease_epoch, again.attempt), (4, 2));
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
    let again = b.claim_next(&[], "worker-b", LEASE).await.unwrap().unwrap();
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
    assert_lease_lost(store.release(inv.id, 1, "shutdown").await);
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

/// Concurrent appenders on many investigations (and two on one) leave every
/// log contiguous and every chain valid.
pub async fn concurrent_appenders_keep_seq_contiguous<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let mut invs = Vec::new();
    for _ in 0..12 {
        invs.push(claimed(&store, "triage").await);
    }
    let shared = invs[0].clone();
    let mut tasks = Vec::new();
    for (i, inv) in invs.iter().enumerate() {
        // Investigation 0 gets two appenders at once.
        let writers = if i == 0 { 2 } else { 1 };
        for w in 0..writers {
            let (store, id) = (store.clone(), inv.id);
            tasks.push(tokio::spawn(async move {
                for n in 0..10 {
                    let call = format!("w{w}-c{n}");
                    store
                        .checkpoint(id, 1, vec![model_turn(&call)])
                        .await
                        .expect("checkpoint");
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for inv in &invs {
        let expected = if inv.id == shared.id { 22 } else { 12 };
        assert_eq!(store.get(inv.id).await.unwrap().last_seq, expected);
        assert_chain_valid(&store, inv).await;
    }
    h.cleanup(store).await;
}

/// The chain verifies; an event altered behind the trigger's back is reported
/// at its own seq.
pub async fn hash_chain_verifies_and_tampering_is_reported_at_the_right_seq<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    store
        .checkpoint(inv.id, 1, vec![model_turn("c1"), intent("c1")])
        .await
        .unwrap();
    store
        .checkpoint(inv.id, 1, vec![result("c1")])
        .await
        .unwrap();
    let report = store.verify_chain(inv.id).await.unwrap();
    assert!(report.valid);
    assert_eq!(report.events_checked, 5);
    assert_eq!(report.first_break, None);

    let forged = json!({
        "tool_call_id": "c1",
        "tool": "enrich_ip",
        "output": "{\"asn\":\"AS0\",\"tor_exit\":false}",
        "is_error": false,
        "truncated": false
    });
    h.tamper_event(&store, inv.id, 5, &forged.to_string()).await;
    let report = store.verify_chain(inv.id).await.unwrap();
    assert!(!report.valid);
    let broken = report.first_break.expect("a break");
    assert_eq!(broken.seq, 5);
    assert_eq!(broken.problem, Problem::HashMismatch);
    assert_eq!(report.events_checked, 4);

    h.tamper_event(
        &store,
        inv.id,
        3,
        r#"{"model":"x","content":null,"tool_calls":[],"input_tokens":0,"output_tokens":0}"#,
    )
    .await;
    let report = store.verify_chain(inv.id).await.unwrap();
    assert_eq!(
        report.first_break.map(|b| b.seq),
        Some(3),
        "the first break is reported"
    );
    h.cleanup(store).await;
}

/// The database itself refuses UPDATE and DELETE on events.
pub async fn events_cannot_be_updated_or_deleted<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    let before = all_events(&store, &inv).await;
    let update = h.raw_update_event(&store, inv.id, 1).await;
    assert!(
        update.as_ref().is_err_and(|e| e.contains("append-only")),
        "UPDATE must be rejected, got {update:?}"
    );
    let delete = h.raw_delete_event(&store, inv.id, 2).await;
    assert!(
        delete.as_ref().is_err_and(|e| e.contains("append-only")),
        "DELETE must be rejected, got {delete:?}"
    );
    assert_eq!(all_events(&store, &inv).await, before);
    assert_chain_valid(&store, &inv).await;
    h.cleanup(store).await;
}

/// The reaper dead-letters only running rows whose lease has expired, and bumps their epoch.
pub async fn reap_touches_only_expired_running_rows<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let short = claimed(&store, "triage").await;
    dispatch(&store, "triage").await;
    let long = store
        .claim_next(&[], "worker-b", Duration::minutes(5))
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

fn valid_completion() -> Completion {
    Completion::Valid {
        result: serde_json::from_str(&valid_result()).unwrap(),
        confidence: Some(0.85),
    }
}

fn invalid_completion(raw: &str, errors: &[&str]) -> Completion {
    Completion::Invalid {
        reason: "result does not match the output schema".to_owned(),
        result_raw: Some(raw.to_owned()),
        errors: errors.iter().map(|e| (*e).to_owned()).collect(),
    }
}

fn valid_result() -> String {
    json!({
        "summary": "Tor exit node brute-forcing SSH; no successful login.",
        "key_findings": ["185.220.101.4 is a Tor exit", "412 failures, 0 successes"],
        "recommended_next_steps": ["block at the edge"],
        "confidence": 0.85
    })
    .to_string()
}

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
        Err(Error::Forbidden(_)) => {}
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
        .claim_next(&[], "worker-b", LEASE)
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
                Err(Error::Conflict(_)) => {}
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
    assert_conflict(
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
    assert!(store.claim_next(&[], "w", LEASE).await.unwrap().is_none());

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
    let released = store.release(inv.id, 1, "shutdown").await.unwrap();
    assert_eq!(
        (released.status, released.phase),
        (Status::Pending, Some(Phase::Queued))
    );
    assert!(released.lease_owner.is_none());
    clock.advance(Duration::minutes(5));
    assert!(store.reap(100).await.unwrap().is_empty());
    let again = store
        .claim_next(&[], "worker-b", LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.lease_epoch, again.attempt), (2, 2));
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
        .claim_next(&[], "worker-b", LEASE)
        .await
        .unwrap()
        .unwrap();
    let before = store.get(inv.id).await.unwrap();
    let events_before = all_events(&store, &inv).await;

    let duplicate = approval_draft(clock.now(), "c1", Duration::minutes(5));
    assert_conflict(
        store
            .await_approval(inv.id, again.lease_epoch, duplicate)
            .await,
    );
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
            .claim_next(&["triage".to_owned()], "w", LEASE)
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

/// Events read from a position, bounded by a limit.
pub async fn events_read_after_seq_with_limit<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let inv = claimed(&store, "triage").await;
    for n in 0..6 {
        store
            .checkpoint(inv.id, 1, vec![model_turn(&format!("c{n}"))])
            .await
            .unwrap();
    }
    let page = store.events(inv.id, 3, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(store.events(inv.id, 8, 10).await.unwrap().is_empty());
    assert_eq!(store.events(inv.id, 0, 1000).await.unwrap().len(), 8);
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

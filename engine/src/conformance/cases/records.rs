//! Cases on the records beside the investigations: API tokens, the webhook
//! outbox, worker presence and queue statistics.

use std::collections::{BTreeSet, HashMap};

use chrono::Duration;

use super::super::Harness;
use super::super::support::*;
use super::prelude::{invalid_completion, valid_completion, valid_result};
use crate::approval::{ApprovalStatus, Decision};
use crate::clock::Clock;
use crate::model::{Investigation, Phase, Status};
use crate::principal::Role;
use crate::store::{
    ApprovalQuery, DeliveryOutcome, DeliveryStatus, Error, Leases, Notifications, Operations,
    Presence, Reads, ReviewInput, Stats, Store, Sweeps, Tokens, WorkerSeen,
};

fn role_set(roles: &[Role]) -> BTreeSet<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// A second token for a principal keeps its roles (empty roles mean "the
/// principal's", the same roles in another order are the same), and any
/// other roles are a conflict that writes nothing.
pub async fn token_create_reuses_principal_and_refuses_role_change<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let first = store
        .create_token(new_token(
            "tok-a",
            "alice",
            &[Role::Approver, Role::Operator],
        ))
        .await
        .unwrap();
    assert_eq!(first.principal, "alice");
    assert_eq!(
        role_set(&first.roles),
        role_set(&[Role::Operator, Role::Approver])
    );
    assert_eq!((first.created_at, first.revoked_at), (clock.now(), None));
    assert_eq!(
        store.token("tok-a").await.unwrap(),
        Some(first.clone()),
        "the returned record is what was stored"
    );

    clock.advance(Duration::seconds(1));
    let kept = store
        .create_token(new_token("tok-b", "alice", &[]))
        .await
        .unwrap();
    assert_eq!(kept.roles, first.roles, "empty roles keep the principal's");
    assert_eq!(store.token("tok-b").await.unwrap(), Some(kept.clone()));

    clock.advance(Duration::seconds(1));
    let same = store
        .create_token(new_token(
            "tok-c",
            "alice",
            &[Role::Operator, Role::Approver, Role::Operator],
        ))
        .await
        .unwrap();
    assert_eq!(same.roles, first.roles);

    clock.advance(Duration::seconds(1));
    for other in [&[Role::Admin][..], &[Role::Operator]] {
        match store.create_token(new_token("tok-d", "alice", other)).await {
            Err(Error::RolesDiffer { principal, .. }) => assert_eq!(principal, "alice"),
            wrong => panic!("expected RolesDiffer, got {wrong:?}"),
        }
    }
    assert_eq!(store.token("tok-d").await.unwrap(), None);

    let bob = store
        .create_token(new_token("tok-e", "bob", &[Role::Auditor]))
        .await
        .unwrap();
    assert_eq!(bob.roles, [Role::Auditor]);

    let all = store.tokens().await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["tok-a", "tok-b", "tok-c", "tok-e"],
        "oldest first"
    );
    for token in all.iter().filter(|t| t.principal == "alice") {
        assert_eq!(token.roles, first.roles);
    }
    h.cleanup(store).await;
}

/// Blank names and ids, a hash that is not one, empty roles for a new
/// principal and a taken id are refused naming the field, and write
/// nothing: not the token, not its principal.
pub async fn token_create_rejects_bad_input_and_writes_nothing<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let good = new_token("tok-1", "alice", &[Role::Admin]);
    assert_invalid(
        store
            .create_token(new_token("tok-1", "  ", &[Role::Admin]))
            .await,
        "principal",
    );
    assert_invalid(
        store
            .create_token(crate::store::NewToken {
                id: " ".to_owned(),
                ..good.clone()
            })
            .await,
        "id",
    );
    assert_invalid(
        store
            .create_token(crate::store::NewToken {
                token_hash: "the-secret-itself".to_owned(),
                ..good.clone()
            })
            .await,
        "token_hash",
    );
    // No roles means "another token of an existing principal".
    assert_not_found(store.create_token(new_token("tok-1", "carol", &[])).await);
    // No roles means "another token of an existing principal".
    assert_not_found(store.create_token(new_token("tok-2", "carol", &[])).await);
    assert!(store.tokens().await.unwrap().is_empty());

    let alice = store.create_token(good).await.unwrap();
    assert_invalid(
        store
            .create_token(new_token("tok-1", "dave", &[Role::Auditor]))
            .await,
        "id",
    );
    // No roles means "another token of an existing principal".
    assert_not_found(store.create_token(new_token("tok-3", "dave", &[])).await);
    assert_invalid(
        store.create_token(new_token("tok-1", "alice", &[])).await,
        "id",
    );
    assert_invalid(
        store
            .bootstrap_token(new_token("boot", " ", &[Role::Admin]))
            .await,
        "principal",
    );
    assert_eq!(store.tokens().await.unwrap(), [alice]);
    h.cleanup(store).await;
}

/// Revoking sets `revoked_at` once; revoking again returns the token
/// unchanged; other tokens of the principal stay valid; an unknown id is
/// `NotFound`.
pub async fn revoked_token_stays_revoked_and_revoke_is_idempotent<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let token = store
        .create_token(new_token("tok-a", "alice", &[Role::Operator]))
        .await
        .unwrap();
    let other = store
        .create_token(new_token("tok-b", "alice", &[]))
        .await
        .unwrap();
    clock.advance(Duration::seconds(5));
    let revoked_at = clock.now();
    let revoked = store.revoke_token("tok-a").await.unwrap();
    assert_eq!(
        revoked,
        crate::store::TokenRecord {
            revoked_at: Some(revoked_at),
            ..token
        }
    );
    clock.advance(Duration::seconds(5));
    assert_eq!(store.revoke_token("tok-a").await.unwrap(), revoked);
    assert_eq!(store.token("tok-a").await.unwrap(), Some(revoked));
    assert_eq!(store.token("tok-b").await.unwrap(), Some(other));
    match store.revoke_token("ghost").await {
        Err(Error::NotFound { what: "token", .. }) => {}
        other => panic!("expected NotFound(token), got {other:?}"),
    }
    assert_eq!(store.token("ghost").await.unwrap(), None);
    assert_eq!(store.tokens().await.unwrap().len(), 2);
    h.cleanup(store).await;
}

/// Eight bootstraps racing through two handles create exactly one token;
/// while an unrevoked token exists, bootstrap writes nothing; bootstraps
/// racing ordinary creates neither deadlock nor fail.
pub async fn concurrent_bootstraps_create_exactly_one_token<H: Harness>(h: &H) {
    let (a, clock) = setup(h).await;
    let b = h.reopen(clock.clone()).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (a, b) = (a.clone(), b.clone());
            tokio::spawn(async move {
                let token = new_token(&format!("boot-{i}"), "admin", &[Role::Admin]);
                if i % 2 == 0 {
                    a.bootstrap_token(token).await
                } else {
                    b.bootstrap_token(token).await
                }
            })
        })
        .collect();
    let mut created = Vec::new();
    for task in tasks {
        if let Some(token) = task.await.unwrap().expect("every bootstrap succeeds") {
            created.push(token);
        }
    }
    assert_eq!(created.len(), 1, "exactly one bootstrap created a token");
    assert_eq!(a.tokens().await.unwrap(), created);
    assert_eq!(
        b.bootstrap_token(new_token("boot-late", "admin", &[Role::Admin]))
            .await
            .unwrap(),
        None
    );
    assert_eq!(a.tokens().await.unwrap().len(), 1, "nothing more written");

    // Once every token is revoked, bootstrap creates one again, and races
    // with creates for the same principal end without error.
    a.revoke_token(&created[0].id).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                if i < 4 {
                    let token = new_token(&format!("again-{i}"), "admin", &[Role::Admin]);
                    store.bootstrap_token(token).await.map(|t| (true, t))
                } else {
                    let token = new_token(&format!("create-{i}"), "admin", &[]);
                    store.create_token(token).await.map(|t| (false, Some(t)))
                }
            })
        })
        .collect();
    let (mut bootstrapped, mut created) = (0, 0);
    for task in tasks {
        match task.await.unwrap().expect("no bootstrap or create fails") {
            (true, Some(_)) => bootstrapped += 1,
            (true, None) => {}
            (false, _) => created += 1,
        }
    }
    assert_eq!(created, 4);
    assert!(
        bootstrapped <= 1,
        "{bootstrapped} bootstraps created tokens"
    );
    let active = a
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .count();
    assert_eq!(active, 4 + bootstrapped);
    h.cleanup(b).await;
}

/// Each target gets one delivery per pending approval request, however
/// often (and however concurrently) enqueueing runs; decided requests get
/// none; the oldest deliveries are claimed first.
pub async fn deliveries_are_enqueued_once_per_target_for_pending_approvals<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let targets = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        store.enqueue_deliveries(&targets(&["chat"])).await.unwrap(),
        0
    );

    let (_, first) = parked(&store, &clock, "triage").await;
    let (_, decided) = parked(&store, &clock, "malware").await;
    store
        .decide_approval(decided.id, "alice", Decision::Approve, None)
        .await
        .unwrap();
    let start = clock.now();
    let both = targets(&["chat", "pager"]);
    assert_eq!(store.enqueue_deliveries(&both).await.unwrap(), 2);
    assert_eq!(
        store.enqueue_deliveries(&both).await.unwrap(),
        0,
        "idempotent"
    );
    let got = store.deliveries(first.id).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.target.as_str()).collect::<Vec<_>>(),
        ["chat", "pager"]
    );
    for d in &got {
        assert_eq!(d.approval_id, first.id);
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 0));
        assert_eq!(
            (d.next_attempt_at, d.created_at, d.updated_at),
            (start, start, start)
        );
        assert_eq!((d.last_status, d.last_error.as_deref()), (None, None));
        assert_eq!(d.delivered_at, None);
    }
    assert!(store.deliveries(decided.id).await.unwrap().is_empty());

    clock.advance(Duration::minutes(1));
    let (_, second) = parked(&store, &clock, "phishing").await;
    let three = targets(&["chat", "pager", "mail", "mail"]);
    assert_eq!(store.enqueue_deliveries(&three).await.unwrap(), 4);
    let got = store.deliveries(first.id).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.target.as_str()).collect::<Vec<_>>(),
        ["chat", "mail", "pager"]
    );
    assert_eq!(
        got[0].created_at, start,
        "existing deliveries are untouched"
    );
    assert_eq!(store.deliveries(second.id).await.unwrap().len(), 3);

    let (_, third) = parked(&store, &clock, "exfil").await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (store, three) = (store.clone(), three.clone());
            tokio::spawn(async move { store.enqueue_deliveries(&three).await })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        added += task.await.unwrap().expect("enqueue");
    }
    assert_eq!(added, 3, "concurrent enqueues add each delivery once");
    assert_eq!(store.deliveries(third.id).await.unwrap().len(), 3);

    assert_eq!(store.enqueue_deliveries(&[]).await.unwrap(), 0);
    assert_invalid(store.enqueue_deliveries(&targets(&[" "])).await, "targets");

    let oldest = store
        .claim_deliveries(Duration::minutes(1), 2)
        .await
        .unwrap();
    assert_eq!(
        oldest
            .iter()
            .map(|d| (d.approval_id, d.target.as_str()))
            .collect::<Vec<_>>(),
        [(first.id, "chat"), (first.id, "pager")],
        "the oldest deliveries are claimed first"
    );
    h.cleanup(store).await;
}

/// Six claimers over 30 due deliveries take each exactly once; a claimed
/// delivery is held until its hold runs out, then due again.
pub async fn concurrent_delivery_claimers_take_each_delivery_once<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let targets = ["chat".to_owned(), "pager".to_owned(), "mail".to_owned()];
    let mut expected = BTreeSet::new();
    for i in 0..10 {
        let (_, request) = parked(&store, &clock, &format!("agent-{i}")).await;
        for target in &targets {
            expected.insert((request.id, target.clone()));
        }
    }
    assert_eq!(store.enqueue_deliveries(&targets).await.unwrap(), 30);
    let hold = Duration::minutes(1);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_deliveries(hold, 4).await.expect("claim");
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch);
                }
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.extend(task.await.unwrap());
    }
    assert_eq!(claimed.len(), 30, "no delivery claimed twice");
    let unique: BTreeSet<_> = claimed
        .iter()
        .map(|d| (d.approval_id, d.target.clone()))
        .collect();
    assert_eq!(unique, expected, "every delivery claimed");
    for d in &claimed {
        assert_eq!(d.attempts, 1);
        assert_eq!(d.next_attempt_at, clock.now() + hold);
        assert_eq!(d.status, DeliveryStatus::Pending);
    }
    assert!(
        store.claim_deliveries(hold, 100).await.unwrap().is_empty(),
        "held deliveries are not due"
    );
    clock.advance(hold);
    let again = store.claim_deliveries(hold, 100).await.unwrap();
    assert_eq!(again.len(), 30, "due again once the hold ran out");
    assert!(again.iter().all(|d| d.attempts == 2));
    h.cleanup(store).await;
}

/// Delivered, retry and failed outcomes are recorded; a retry is due again
/// at its `at`, not before; finished deliveries are never claimed again and
/// a late outcome does not change them; unknown deliveries are `NotFound`.
pub async fn delivery_outcomes_are_recorded<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let (_, request) = parked(&store, &clock, "triage").await;
    let targets = ["ok".to_owned(), "flaky".to_owned(), "dead".to_owned()];
    assert_eq!(store.enqueue_deliveries(&targets).await.unwrap(), 3);
    let hold = Duration::seconds(30);
    assert_eq!(store.claim_deliveries(hold, 10).await.unwrap().len(), 3);

    clock.advance(Duration::seconds(2));
    let now = clock.now();
    let ok = store
        .record_delivery(request.id, "ok", DeliveryOutcome::Delivered { status: 204 })
        .await
        .unwrap();
    assert_eq!(ok.status, DeliveryStatus::Delivered);
    assert_eq!((ok.delivered_at, ok.updated_at), (Some(now), now));
    assert_eq!(
        (ok.last_status, ok.last_error.as_deref()),
        (Some(204), None)
    );
    assert_eq!(ok.attempts, 1);

    let retry_at = now + Duration::minutes(5);
    let flaky = store
        .record_delivery(
            request.id,
            "flaky",
            DeliveryOutcome::Retry {
                at: retry_at,
                status: Some(503),
                error: "service unavailable".to_owned(),
            },
        )
        .await
        .unwrap();
    assert_eq!(flaky.status, DeliveryStatus::Pending);
    assert_eq!(flaky.next_attempt_at, retry_at);
    assert_eq!(
        (flaky.last_status, flaky.last_error.as_deref()),
        (Some(503), Some("service unavailable"))
    );
    assert_eq!((flaky.delivered_at, flaky.updated_at), (None, now));

    let dead = store
        .record_delivery(
            request.id,
            "dead",
            DeliveryOutcome::Failed {
                status: None,
                error: "connection refused".to_owned(),
            },
        )
        .await
        .unwrap();
    assert_eq!(dead.status, DeliveryStatus::Failed);
    assert_eq!(
        (
            dead.last_status,
            dead.last_error.as_deref(),
            dead.delivered_at
        ),
        (None, Some("connection refused"), None)
    );
    assert_eq!(
        store.deliveries(request.id).await.unwrap(),
        [dead.clone(), flaky.clone(), ok.clone()],
        "by target"
    );

    // The hold has run out, but the retry is not due before its `at`.
    clock.advance(Duration::minutes(1));
    assert!(store.claim_deliveries(hold, 10).await.unwrap().is_empty());
    clock.advance(retry_at - clock.now() - Duration::microseconds(1));
    assert!(store.claim_deliveries(hold, 10).await.unwrap().is_empty());
    clock.advance(Duration::microseconds(1));
    let due = store.claim_deliveries(hold, 10).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|d| (d.target.as_str(), d.attempts))
            .collect::<Vec<_>>(),
        [("flaky", 2)]
    );

    // Final outcomes stay final.
    let late = store
        .record_delivery(
            request.id,
            "ok",
            DeliveryOutcome::Failed {
                status: None,
                error: "timed out".to_owned(),
            },
        )
        .await
        .unwrap();
    assert_eq!(late, ok, "a late outcome does not undo a delivery");
    let late = store
        .record_delivery(
            request.id,
            "dead",
            DeliveryOutcome::Retry {
                at: clock.now(),
                status: None,
                error: "again".to_owned(),
            },
        )
        .await
        .unwrap();
    assert_eq!(late, dead);
    clock.advance(Duration::hours(1));
    let due = store.claim_deliveries(hold, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.target.as_str()).collect::<Vec<_>>(),
        ["flaky"],
        "delivered and failed deliveries are never claimed again"
    );

    for (approval, target) in [
        (request.id, "nobody"),
        (crate::approval::ApprovalId::new_at(clock.now()), "ok"),
    ] {
        match store
            .record_delivery(approval, target, DeliveryOutcome::Delivered { status: 200 })
            .await
        {
            Err(Error::NotFound {
                what: "delivery", ..
            }) => {}
            other => panic!("expected NotFound(delivery), got {other:?}"),
        }
    }
    assert_invalid(store.claim_deliveries(Duration::zero(), 10).await, "hold");
    assert!(store.claim_deliveries(hold, 0).await.unwrap().is_empty());
    h.cleanup(store).await;
}

/// Stats count investigations per (status, phase), leaving out empty
/// combinations, and the pending approval requests with the oldest's age.
pub async fn stats_count_states_and_pending_approvals<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    assert_eq!(store.stats().await.unwrap(), Stats::default());

    let (_, oldest) = parked(&store, &clock, "triage").await;
    clock.advance(Duration::minutes(1));
    let (_, newer) = parked(&store, &clock, "triage").await;
    let _running = claimed(&store, "triage").await;
    let done = claimed(&store, "triage").await;
    store
        .complete(done.id, done.lease_epoch, valid_completion())
        .await
        .unwrap();
    let cancelled = dispatch(&store, "phishing").await;
    store
        .cancel(cancelled.id, "oncall", "duplicate")
        .await
        .unwrap();
    dispatch(&store, "phishing").await;
    dispatch(&store, "phishing").await;

    let counts = |stats: &Stats| {
        stats
            .states
            .iter()
            .map(|s| ((s.status, s.phase), s.count))
            .collect::<HashMap<_, _>>()
    };
    let stats = store.stats().await.unwrap();
    assert_eq!(
        counts(&stats),
        HashMap::from([
            ((Status::Pending, Some(Phase::Queued)), 2),
            ((Status::Pending, Some(Phase::Running)), 1),
            ((Status::Pending, Some(Phase::AwaitingApproval)), 2),
            ((Status::Completed, None), 1),
            ((Status::Failed, None), 1),
        ])
    );
    assert_eq!(stats.states.len(), 5, "one row per combination, none empty");
    assert_eq!(stats.approvals_pending, 2);
    assert_eq!(stats.oldest_pending_approval_at, Some(oldest.created_at));

    store
        .decide_approval(oldest.id, "alice", Decision::Approve, None)
        .await
        .unwrap();
    let stats = store.stats().await.unwrap();
    let after = counts(&stats);
    assert_eq!(after[&(Status::Pending, Some(Phase::Queued))], 3);
    assert_eq!(after[&(Status::Pending, Some(Phase::AwaitingApproval))], 1);
    assert_eq!(stats.approvals_pending, 1);
    assert_eq!(stats.oldest_pending_approval_at, Some(newer.created_at));
    h.cleanup(store).await;
}

/// The finished counts of `stats` follow every way into and out of a
/// finished status (completion, review, failure, cancel, reaping, rescue),
/// and stay exact under many finishes at once.
pub async fn stats_follow_runs_into_and_out_of_finished_statuses<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let finished = |stats: &Stats| {
        stats
            .states
            .iter()
            .filter(|s| s.status != Status::Pending)
            .map(|s| (s.status, s.count))
            .collect::<HashMap<_, _>>()
    };

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let inv = claimed_any(&store).await;
                store
                    .complete(inv.id, inv.lease_epoch, valid_completion())
                    .await
                    .unwrap();
            }
        }));
    }
    for _ in 0..160 {
        dispatch(&store, "triage").await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = store.stats().await.unwrap();
    assert_eq!(finished(&stats), HashMap::from([(Status::Completed, 160)]));

    let review = claimed(&store, "triage").await;
    store
        .complete(
            review.id,
            review.lease_epoch,
            invalid_completion("not json", &["not an object"]),
        )
        .await
        .unwrap();
    let failed = claimed(&store, "triage").await;
    store
        .fail(failed.id, failed.lease_epoch, "tool crashed")
        .await
        .unwrap();
    let cancelled = dispatch(&store, "phishing").await;
    store
        .cancel(cancelled.id, "oncall", "duplicate")
        .await
        .unwrap();
    let reaped = claimed(&store, "triage").await;
    clock.advance(LEASE + Duration::seconds(1));
    assert_eq!(store.reap(10).await.unwrap().len(), 1);
    let stats = store.stats().await.unwrap();
    assert_eq!(
        finished(&stats),
        HashMap::from([
            (Status::Completed, 160),
            (Status::ReviewRequired, 1),
            (Status::Failed, 2),
            (Status::DeadLettered, 1),
        ])
    );

    store
        .review(
            review.id,
            "alice",
            ReviewInput {
                result: serde_json::from_str(&valid_result()).unwrap(),
                confidence: Some(0.5),
                note: None,
            },
        )
        .await
        .unwrap();
    store.rescue(failed.id, "alice", "retry").await.unwrap();
    store.rescue(reaped.id, "alice", "retry").await.unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(
        finished(&stats),
        HashMap::from([(Status::Completed, 161), (Status::Failed, 1)]),
        "a status counted down to zero has no row"
    );
    let queued = stats
        .states
        .iter()
        .find(|s| s.phase == Some(Phase::Queued))
        .map(|s| s.count);
    assert_eq!(queued, Some(2), "the rescued runs are queued again");
    h.cleanup(store).await;
}

/// Claims whatever is queued, waiting for a dispatch if nothing is yet.
async fn claimed_any<S: Store>(store: &S) -> Investigation {
    loop {
        if let Some(inv) = store
            .claim_next(&[], "worker-a", None, LEASE)
            .await
            .unwrap()
        {
            return inv;
        }
        tokio::task::yield_now().await;
    }
}

/// `changed_since` lists requests created or decided at or after the time,
/// and combines with the other filters.
pub async fn approvals_changed_since_include_created_and_decided<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let (_, decided_later) = parked(&store, &clock, "triage").await;
    let (_, untouched) = parked(&store, &clock, "phishing").await;
    clock.advance(Duration::minutes(5));
    let since = clock.now();
    let (_, fresh) = parked(&store, &clock, "malware").await;
    clock.advance(Duration::minutes(1));
    store
        .decide_approval(decided_later.id, "alice", Decision::Reject, None)
        .await
        .unwrap();

    let ids = |query: ApprovalQuery| {
        let store = store.clone();
        async move {
            store
                .approvals(&query)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(
        ids(ApprovalQuery {
            changed_since: Some(since),
            ..ApprovalQuery::default()
        })
        .await,
        BTreeSet::from([decided_later.id, fresh.id])
    );
    assert_eq!(
        ids(ApprovalQuery {
            changed_since: Some(since + Duration::seconds(1)),
            ..ApprovalQuery::default()
        })
        .await,
        BTreeSet::from([decided_later.id]),
        "created before, decided after"
    );
    assert_eq!(
        ids(ApprovalQuery {
            changed_since: Some(since),
            status: Some(ApprovalStatus::Pending),
            ..ApprovalQuery::default()
        })
        .await,
        BTreeSet::from([fresh.id])
    );
    assert!(
        ids(ApprovalQuery {
            changed_since: Some(clock.now() + Duration::microseconds(1)),
            ..ApprovalQuery::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        ids(ApprovalQuery::default()).await,
        BTreeSet::from([decided_later.id, untouched.id, fresh.id])
    );
    h.cleanup(store).await;
}

/// Workers announce themselves; a repeat refreshes `seen_at` and agents
/// but keeps `started_at`; listings hold workers seen at or after a time,
/// most recent first.
pub async fn worker_presence_lists_recent_workers<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let t0 = clock.now();
    store
        .worker_seen("host-a:101:0aa1", &["triage".to_owned()])
        .await
        .unwrap();
    clock.advance(Duration::seconds(5));
    let t5 = clock.now();
    store.worker_seen("host-b:202:0bb2", &[]).await.unwrap();
    clock.advance(Duration::seconds(10));
    let t15 = clock.now();
    store
        .worker_seen(
            "host-a:101:0aa1",
            &["triage".to_owned(), "phishing".to_owned()],
        )
        .await
        .unwrap();

    let a = WorkerSeen {
        id: "host-a:101:0aa1".to_owned(),
        agents: vec!["triage".to_owned(), "phishing".to_owned()],
        started_at: t0,
        seen_at: t15,
    };
    let b = WorkerSeen {
        id: "host-b:202:0bb2".to_owned(),
        agents: Vec::new(),
        started_at: t5,
        seen_at: t5,
    };
    assert_eq!(
        store.workers_seen(t0).await.unwrap(),
        [a.clone(), b.clone()]
    );
    assert_eq!(store.workers_seen(t5).await.unwrap(), [a.clone(), b]);
    assert_eq!(
        store
            .workers_seen(t5 + Duration::microseconds(1))
            .await
            .unwrap(),
        [a]
    );
    assert!(
        store
            .workers_seen(t15 + Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_invalid(store.worker_seen(" ", &[]).await, "id");
    h.cleanup(store).await;
}

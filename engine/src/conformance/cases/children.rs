//! Child investigations: a parent parks on its children without a lease,
//! the last to finish queues it once, a finished set never parks it, a
//! delegated dispatch is idempotent on the parent's call, and a cancel
//! reaches every pending descendant.

use super::prelude::*;
use crate::event::ChildFinished;
use crate::model::{Investigation, ParentLink};

/// Dispatches a child of `parent` for its call `call`, as the parent's
/// `delegate_investigation` does.
async fn delegate<S: Store>(store: &S, parent: &Investigation, call: &str) -> Investigation {
    store
        .dispatch(child_request(parent, call))
        .await
        .expect("delegate")
        .investigation
}

fn child_request(parent: &Investigation, call: &str) -> DispatchRequest {
    DispatchRequest {
        requested_by: format!("investigation:{}", parent.id),
        idempotency_key: Some(call.to_owned()),
        parent: Some(ParentLink {
            id: parent.id,
            tool_call_id: call.to_owned(),
            depth: parent.depth() + 1,
        }),
        case_id: parent.case_id,
        ..request("phishing", &format!("look into {call}"))
    }
}

/// Claims `child` (the oldest queued `phishing` run) for a worker.
async fn claim_child<S: Store>(store: &S, child: &Investigation) -> Investigation {
    let claimed = store
        .claim_next(&["phishing".to_owned()], "worker-b", None, LEASE)
        .await
        .unwrap()
        .expect("a queued child");
    assert_eq!(claimed.id, child.id);
    claimed
}

async fn children_finished_events<S: Store>(
    store: &S,
    inv: &Investigation,
) -> Vec<Vec<ChildFinished>> {
    all_events(store, inv)
        .await
        .iter()
        .filter_map(|e| match e.body() {
            Ok(EventBody::ChildrenFinished { children }) => Some(children),
            _ => None,
        })
        .collect()
}

/// A parent with three children parks without a lease; two finishing
/// leave it parked, the third (a failure) queues it, naming each child's
/// status; its children list with their link and depth.
pub async fn a_parent_waits_for_every_child_and_the_last_queues_it<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let parent = claimed(&store, "triage").await;
    let mut kids = Vec::new();
    for call in ["c1", "c2", "c3"] {
        // Children list oldest first.
        clock.advance(Duration::milliseconds(5));
        kids.push(delegate(&store, &parent, call).await);
    }
    let ids: Vec<InvestigationId> = kids.iter().map(|k| k.id).collect();
    let parked = store
        .await_children(parent.id, 1, ids.clone())
        .await
        .unwrap()
        .expect("children are pending: the parent parks");
    assert_eq!(parked.phase, Some(Phase::AwaitingChildren));
    assert!(parked.lease_owner.is_none() && parked.lease_expires_at.is_none());
    assert_lease_lost(store.checkpoint(parent.id, 1, vec![model_turn("c9")]).await);
    assert!(
        store
            .claim_next(&["triage".to_owned()], "worker-c", None, LEASE)
            .await
            .unwrap()
            .is_none(),
        "a parked parent is not claimable"
    );

    let listed = store.children(parent.id).await.unwrap();
    assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), ids);
    assert!(
        listed
            .iter()
            .all(|c| c.depth() == 1 && c.parent.as_ref().is_some_and(|p| p.id == parent.id))
    );
    assert_eq!(
        listed
            .iter()
            .map(|c| c.parent.clone().unwrap().tool_call_id)
            .collect::<Vec<_>>(),
        ["c1", "c2", "c3"]
    );

    let first = claim_child(&store, &kids[0]).await;
    store
        .complete(first.id, first.lease_epoch, valid_completion())
        .await
        .unwrap();
    let second = claim_child(&store, &kids[1]).await;
    store
        .complete(
            second.id,
            second.lease_epoch,
            invalid_completion("{\"verdict\":", &["not JSON"]),
        )
        .await
        .unwrap();
    assert_eq!(
        store.get(parent.id).await.unwrap().phase,
        Some(Phase::AwaitingChildren),
        "one child is still running"
    );
    let third = claim_child(&store, &kids[2]).await;
    store
        .fail(third.id, third.lease_epoch, "the mailbox API is gone")
        .await
        .unwrap();

    let queued = store.get(parent.id).await.unwrap();
    assert!(queued.is_queued(), "{}", queued.state_name());
    let finished = children_finished_events(&store, &parent).await;
    assert_eq!(
        finished,
        [vec![
            ChildFinished {
                id: ids[0],
                status: Status::Completed
            },
            ChildFinished {
                id: ids[1],
                status: Status::ReviewRequired
            },
            ChildFinished {
                id: ids[2],
                status: Status::Failed
            },
        ]]
    );
    let kinds = kinds(&store, &parent).await;
    assert_eq!(
        kinds[kinds.len() - 2..],
        [EventKind::AwaitingChildren, EventKind::ChildrenFinished]
    );
    assert_chain_valid(&store, &parent).await;
    let resumed = store
        .claim_next(&["triage".to_owned()], "worker-a", None, LEASE)
        .await
        .unwrap()
        .expect("the parent is claimable again");
    assert_eq!(resumed.id, parent.id);
}

/// Awaiting children that have all finished does not park: the parent
/// keeps its lease and reads their results at once. A dead-lettered
/// child has not finished.
pub async fn awaiting_finished_children_does_not_park<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let parent = claimed(&store, "triage").await;
    let child = delegate(&store, &parent, "c1").await;
    let running = claim_child(&store, &child).await;
    store
        .complete(running.id, running.lease_epoch, valid_completion())
        .await
        .unwrap();
    assert_eq!(
        store
            .await_children(parent.id, 1, vec![child.id])
            .await
            .unwrap(),
        None
    );
    let still = store.get(parent.id).await.unwrap();
    assert!(still.is_running() && still.lease_epoch == 1);
    store
        .checkpoint(parent.id, 1, vec![model_turn("c2")])
        .await
        .expect("the lease is still held");
    assert!(children_finished_events(&store, &parent).await.is_empty());

    // A child whose worker died is not finished: the parent parks.
    let dying = delegate(&store, &parent, "c2").await;
    claim_child(&store, &dying).await;
    store.heartbeat(parent.id, 1, LEASE * 4).await.unwrap();
    clock.advance(LEASE + Duration::seconds(1));
    let reaped = store.reap(10).await.unwrap();
    assert_eq!(reaped.iter().map(|r| r.id).collect::<Vec<_>>(), [dying.id]);
    let parked = store
        .await_children(parent.id, 1, vec![child.id, dying.id])
        .await
        .unwrap();
    assert!(parked.is_some(), "a dead-lettered child has not finished");
    store
        .rescue(dying.id, "alice", "host is back")
        .await
        .unwrap();
    let again = claim_child(&store, &dying).await;
    store
        .complete(again.id, again.lease_epoch, valid_completion())
        .await
        .unwrap();
    assert!(store.get(parent.id).await.unwrap().is_queued());
}

/// The same call delegating twice (a parent resumed after a crash) gets
/// the child it has; no second child is created.
pub async fn a_delegation_is_idempotent_on_the_parents_call<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let parent = claimed(&store, "triage").await;
    let first = store.dispatch(child_request(&parent, "c1")).await.unwrap();
    let again = store.dispatch(child_request(&parent, "c1")).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.investigation.id, again.investigation.id);
    assert_eq!(again.investigation.parent, first.investigation.parent);
    assert_eq!(store.children(parent.id).await.unwrap().len(), 1);
    let dispatched = all_events(&store, &first.investigation).await;
    match dispatched[0].body().unwrap() {
        EventBody::Dispatched {
            parent: Some(link), ..
        } => {
            assert_eq!(
                (link.id, link.tool_call_id.as_str(), link.depth),
                (parent.id, "c1", 1)
            );
        }
        other => panic!("the dispatched event names the parent: {other:?}"),
    }
}

/// Cancelling a parent cancels every pending descendant in the same
/// transaction (a running one loses its lease) and leaves finished ones
/// as they are; a cancelled parent can delegate no more.
pub async fn cancelling_a_parent_cancels_its_pending_descendants<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let parent = claimed(&store, "triage").await;
    let done = delegate(&store, &parent, "c1").await;
    let done_run = claim_child(&store, &done).await;
    store
        .complete(done_run.id, done_run.lease_epoch, valid_completion())
        .await
        .unwrap();
    let running = delegate(&store, &parent, "c2").await;
    let running = claim_child(&store, &running).await;
    let grandchild = delegate(&store, &running, "g1").await;
    let queued = delegate(&store, &parent, "c3").await;
    store
        .await_children(parent.id, 1, vec![done.id, running.id, queued.id])
        .await
        .unwrap()
        .expect("parked");

    store
        .cancel(parent.id, "alice", "false positive")
        .await
        .unwrap();
    let reason = format!(
        "cancelled by alice: its parent {} was cancelled: false positive",
        parent.id
    );
    for id in [running.id, queued.id] {
        let child = store.get(id).await.unwrap();
        assert_eq!(child.status, Status::Failed, "{id}");
        assert_eq!(child.error.as_deref(), Some(reason.as_str()));
    }
    let grand = store.get(grandchild.id).await.unwrap();
    assert_eq!(
        grand.status,
        Status::Failed,
        "the cascade reaches grandchildren"
    );
    assert!(
        grand
            .error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("its ancestor {} was cancelled", parent.id))),
        "{:?}",
        grand.error
    );
    assert_eq!(store.get(done.id).await.unwrap().status, Status::Completed);
    assert_lease_lost(
        store
            .checkpoint(running.id, running.lease_epoch, vec![model_turn("x")])
            .await,
    );
    let parent_now = store.get(parent.id).await.unwrap();
    assert_eq!(parent_now.status, Status::Failed);
    assert!(children_finished_events(&store, &parent).await.is_empty());
    match store.dispatch(child_request(&parent, "late")).await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "parent"),
        other => panic!("a cancelled parent delegates nothing, got {other:?}"),
    }
    assert_eq!(store.children(parent.id).await.unwrap().len(), 3);
    for inv in [&parent, &running, &queued, &grandchild] {
        assert_chain_valid(&store, inv).await;
    }
}

/// Children finishing at the same moment queue their parent exactly once.
pub async fn children_finishing_together_queue_the_parent_once<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let parent = claimed(&store, "triage").await;
    let mut runs = Vec::new();
    for call in ["c1", "c2", "c3", "c4"] {
        let child = delegate(&store, &parent, call).await;
        runs.push(claim_child(&store, &child).await);
    }
    store
        .await_children(parent.id, 1, runs.iter().map(|r| r.id).collect())
        .await
        .unwrap()
        .expect("parked");
    let finishing = runs.iter().map(|run| {
        let store = store.clone();
        let (id, epoch) = (run.id, run.lease_epoch);
        tokio::spawn(async move { store.complete(id, epoch, valid_completion()).await })
    });
    for done in futures::future::join_all(finishing).await {
        done.unwrap().unwrap();
    }
    assert!(store.get(parent.id).await.unwrap().is_queued());
    assert_eq!(children_finished_events(&store, &parent).await.len(), 1);
    assert_chain_valid(&store, &parent).await;
}

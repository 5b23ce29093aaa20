//! Case-linked investigations: dispatch links both logs in one transaction;
//! completion, review and failure write back once; approvals move the case
//! as a parallel control plane, in the approval change's own transaction.

use super::prelude::*;
use crate::case::{
    APPROVAL_EXPIRED_NOTE, AuthorKind, Case, CaseEventBody, CaseEventKind, CaseId, CaseStatus,
    ObservableType, StatusChange, investigation_actor,
};
use crate::event::ToolResult;
use crate::model::Investigation;
use crate::store::{CaseReads, Cases};

/// A fresh case.
async fn a_case<S: Store>(store: &S, title: &str) -> Case {
    store.create_case("otto", new_case(title)).await.unwrap()
}

/// Dispatches an investigation linked to `case`.
async fn dispatch_for<S: Store>(store: &S, case: CaseId) -> Investigation {
    let request = DispatchRequest {
        case_id: Some(case),
        ..request("triage", "failed SSH logins from 185.220.101.4")
    };
    store.dispatch(request).await.unwrap().investigation
}

/// Dispatches and claims an investigation linked to `case`.
async fn claimed_for<S: Store>(store: &S, case: CaseId) -> Investigation {
    let inv = dispatch_for(store, case).await;
    let claimed = store
        .claim_next(&[], "worker-a", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, inv.id);
    claimed
}

/// The kinds of the case's timeline, in order.
async fn case_kinds<S: Store>(store: &S, id: CaseId) -> Vec<CaseEventKind> {
    store
        .case_timeline(id, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn count_case_kind<S: Store>(store: &S, id: CaseId, kind: CaseEventKind) -> usize {
    case_kinds(store, id)
        .await
        .into_iter()
        .filter(|k| *k == kind)
        .count()
}

async fn case_bodies<S: Store>(store: &S, id: CaseId) -> Vec<CaseEventBody> {
    store
        .case_timeline(id, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.body().unwrap())
        .collect()
}

async fn status_of<S: Store>(store: &S, id: CaseId) -> CaseStatus {
    store.case(id).await.unwrap().case.status
}

async fn assert_both_valid<S: Store>(store: &S, inv: &Investigation, case: CaseId) {
    assert_chain_valid(store, inv).await;
    let report = store.verify_case(case).await.unwrap();
    assert!(report.valid, "case timeline: {report:?}");
}

async fn move_case<S: Store>(store: &S, id: CaseId, to: CaseStatus) {
    let change = StatusChange {
        to,
        disposition: None,
        reason: None,
    };
    store.change_case_status(id, "otto", change).await.unwrap();
}

/// A dispatch with a case writes the investigation, its `dispatched` event
/// and the case's `investigation_linked` entry together; an unknown or
/// retired case refuses the dispatch and nothing is written.
pub async fn dispatch_with_a_case_links_both_logs_atomically<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let case = a_case(&store, "Tor logins").await;
    let keyed = DispatchRequest {
        case_id: Some(case.id),
        idempotency_key: Some("k-1".to_owned()),
        ..request("triage", "look at it")
    };
    let first = store.dispatch(keyed.clone()).await.unwrap();
    assert_eq!(first.investigation.case_id, Some(case.id));
    assert_eq!(
        store.get(first.investigation.id).await.unwrap().case_id,
        Some(case.id)
    );
    let linked = store.case_timeline(case.id, 1, 10).await.unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].actor, "soar");
    assert_eq!(
        linked[0].body().unwrap(),
        CaseEventBody::InvestigationLinked {
            investigation_id: first.investigation.id,
            agent_id: "triage".to_owned(),
            purpose: crate::model::CasePurpose::Investigate,
        }
    );
    // The same key again: the same investigation, no second entry.
    let again = store.dispatch(keyed).await.unwrap();
    assert!(!again.created);
    assert_eq!(
        count_case_kind(&store, case.id, CaseEventKind::InvestigationLinked).await,
        1
    );
    let listed = store
        .list(&ListQuery {
            case_id: Some(case.id),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        [first.investigation.id]
    );

    // An unknown case: invalid input naming case_id, nothing written.
    let unknown = DispatchRequest {
        case_id: Some(CaseId(uuid::Uuid::from_u128(7))),
        ..request("triage", "look at it")
    };
    assert_invalid(store.dispatch(unknown).await, "case_id");
    // A deleted case: refused as a transition, nothing written.
    let gone = a_case(&store, "gone").await;
    store.delete_case(gone.id, "otto", None).await.unwrap();
    let retired = DispatchRequest {
        case_id: Some(gone.id),
        ..request("triage", "look at it")
    };
    assert_invalid_transition(store.dispatch(retired).await);
    let all = store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(all.items.len(), 1, "a refused dispatch wrote a row");
    assert_eq!(
        count_case_kind(&store, gone.id, CaseEventKind::InvestigationLinked).await,
        0
    );
    assert_both_valid(&store, &first.investigation, case.id).await;
    h.cleanup(store).await;
}

/// A linked completion writes the note, `result_written`, the observables,
/// the confidence and `open -> in_progress` in its own transaction; a
/// retried completion is refused and writes nothing more.
pub async fn linked_completion_writes_back_exactly_once<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let case = a_case(&store, "Tor logins").await;
    let inv = claimed_for(&store, case.id).await;
    let outcome = Completion::Valid {
        result: json!({
            "summary": "Tor exit 185.220.101.4 brute-forced SSH; beacon to evil-c2.example.",
            "key_findings": ["185.220.101.4 is a Tor exit", "412 failures, 0 successes"],
            "recommended_next_steps": ["block 185.220.101.4 at the edge"],
            "confidence": 0.85
        }),
        confidence: Some(0.85),
    };
    let done = store.complete(inv.id, 1, outcome.clone()).await.unwrap();
    assert_eq!(done.status, Status::Completed);

    let after = store.case(case.id).await.unwrap().case;
    assert_eq!(after.status, CaseStatus::InProgress);
    assert_eq!(after.confidence, Some(0.85));
    assert!(
        after
            .confidence_reason
            .as_deref()
            .is_some_and(|r| r.contains(&inv.id.to_string()))
    );
    let comments = store.comments(case.id).await.unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].author_kind, AuthorKind::Machine);
    assert!(comments[0].body.contains("Tor exit"));
    let observables = store.observables(case.id).await.unwrap();
    let mut values: Vec<_> = observables
        .iter()
        .map(|o| (o.kind, o.value.as_str(), o.source.clone()))
        .collect();
    values.sort_by(|a, b| a.1.cmp(b.1));
    let source = Some(investigation_actor(inv.id));
    assert_eq!(
        values,
        [
            (ObservableType::Ip, "185.220.101.4", source.clone()),
            (ObservableType::Domain, "evil-c2.example", source.clone()),
        ]
    );
    let timeline = store.case_timeline(case.id, 0, 100).await.unwrap();
    let written: Vec<_> = timeline
        .iter()
        .filter(|e| e.kind == CaseEventKind::ResultWritten)
        .collect();
    assert_eq!(written.len(), 1);
    match written[0].body().unwrap() {
        CaseEventBody::ResultWritten {
            investigation_id,
            audit_seq,
            audit_hash,
            key_findings,
            ..
        } => {
            assert_eq!(investigation_id, inv.id);
            assert_eq!(
                (audit_seq, audit_hash),
                (done.last_seq, done.last_hash.clone())
            );
            assert_eq!(key_findings.len(), 2);
        }
        other => panic!("not a result: {other:?}"),
    }
    let moved = timeline
        .iter()
        .find(|e| e.kind == CaseEventKind::StatusChange)
        .expect("open -> in_progress");
    assert_eq!(moved.actor, investigation_actor(inv.id));

    // Retried and replayed: refused, nothing more on the case.
    let before = store.case(case.id).await.unwrap().case.last_seq;
    assert!(store.complete(inv.id, 1, outcome.clone()).await.is_err());
    assert!(store.fail(inv.id, 1, "again").await.is_err());
    assert_eq!(store.case(case.id).await.unwrap().case.last_seq, before);
    assert_eq!(store.comments(case.id).await.unwrap().len(), 1);
    assert_both_valid(&store, &done, case.id).await;
    h.cleanup(store).await;
}

/// A completion registers the entities of its tool outputs too (a JSON
/// output's strings and the hosts and users its fields name), with the
/// investigation as their source; an error output and a dry-run preview
/// are not read.
pub async fn linked_completion_registers_tool_output_entities<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let case = a_case(&store, "beaconing host").await;
    let inv = claimed_for(&store, case.id).await;
    let tool = |call: &str, output: &str, is_error: bool| {
        StepEvent::ToolResult(ToolResult {
            tool_call_id: call.to_owned(),
            tool: "edr_lookup".to_owned(),
            output: output.to_owned(),
            is_error,
            truncated: false,
            original_bytes: None,
        })
    };
    let events = vec![
        model_turn("c1"),
        intent("c1"),
        tool(
            "c1",
            r#"{"hostname":"web-01","connections":[{"dst":"203.0.113.9","sni":"beacon.evil-c2.example"}]}"#,
            false,
        ),
        model_turn("c2"),
        intent("c2"),
        tool("c2", "lookup failed for 198.51.100.77", true),
        tool(
            "c2",
            r#"{"dry_run":true,"preview":"would isolate host db-07 at 192.0.2.55"}"#,
            false,
        ),
        model_turn("c3"),
        intent("c3"),
        tool(
            "c3",
            "plain text: sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            false,
        ),
    ];
    store.checkpoint(inv.id, 1, events).await.unwrap();
    let outcome = Completion::Valid {
        result: json!({"summary": "web-01 beacons out"}),
        confidence: Some(0.7),
    };
    let done = store.complete(inv.id, 1, outcome).await.unwrap();

    let mut values: Vec<_> = store
        .observables(case.id)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.kind, o.value, o.source))
        .collect();
    values.sort_by(|a, b| a.1.cmp(&b.1));
    let source = Some(investigation_actor(inv.id));
    assert_eq!(
        values,
        [
            (ObservableType::Ip, "203.0.113.9".to_owned(), source.clone()),
            (
                ObservableType::HashSha256,
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
                source.clone()
            ),
            (
                ObservableType::Domain,
                "beacon.evil-c2.example".to_owned(),
                source.clone()
            ),
            (ObservableType::Host, "web-01".to_owned(), source.clone()),
        ]
    );
    match case_bodies(&store, case.id)
        .await
        .into_iter()
        .find(|b| matches!(b, CaseEventBody::ResultWritten { .. }))
    {
        Some(CaseEventBody::ResultWritten { observables, .. }) => {
            assert_eq!(observables.len(), 4, "{observables:?}");
        }
        other => panic!("no result_written: {other:?}"),
    }
    assert_both_valid(&store, &done, case.id).await;
    h.cleanup(store).await;
}

/// A `summarize` investigation may be dispatched for a closed case; its
/// completion writes the AI summary (an `ai_summary` comment and a
/// `summary_written` entry), once, and moves nothing: no observables, no
/// confidence, no status change. A deleted case refuses a summary.
pub async fn summary_completion_writes_the_ai_summary_once<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let case = a_case(&store, "Tor logins").await;
    let close = StatusChange {
        to: CaseStatus::Closed,
        disposition: Some(crate::case::Disposition::TruePositive),
        reason: None,
    };
    store
        .change_case_status(case.id, "otto", close)
        .await
        .unwrap();
    let closed = store.case(case.id).await.unwrap().case;
    let summary = DispatchRequest {
        case_id: Some(case.id),
        case_purpose: crate::model::CasePurpose::Summarize,
        ..request(
            "summarize",
            "Summarize CASE-1: brute force from 185.220.101.4",
        )
    };
    let inv = store.dispatch(summary).await.unwrap().investigation;
    assert_eq!(inv.case_purpose, crate::model::CasePurpose::Summarize);
    assert_eq!(
        store.get(inv.id).await.unwrap().case_purpose,
        crate::model::CasePurpose::Summarize
    );
    let claimed = store
        .claim_next(&[], "worker-a", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, inv.id);
    let outcome = Completion::Valid {
        result: json!({
            "summary": "Brute force from 185.220.101.4 succeeded on web-01; contained.",
            "immediate_actions": ["block 185.220.101.4"],
            "long_term_remediation": ["key-only SSH on web-01"],
            "policy_changes": ["no password SSH on internet-facing hosts"],
            "similar_cases": ["CASE-7"],
            "confidence": 0.8
        }),
        confidence: Some(0.8),
    };
    let done = store.complete(inv.id, 1, outcome.clone()).await.unwrap();

    let after = store.case(case.id).await.unwrap().case;
    assert_eq!(after.status, CaseStatus::Closed);
    assert_eq!(after.confidence, closed.confidence);
    assert!(store.observables(case.id).await.unwrap().is_empty());
    let comments = store.comments(case.id).await.unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].kind, crate::case::CommentKind::AiSummary);
    assert_eq!(comments[0].author, investigation_actor(inv.id));
    assert!(
        comments[0].body.contains("key-only SSH"),
        "{}",
        comments[0].body
    );
    let bodies = case_bodies(&store, case.id).await;
    assert!(bodies.iter().any(|b| matches!(
        b,
        CaseEventBody::InvestigationLinked {
            purpose: crate::model::CasePurpose::Summarize,
            ..
        }
    )));
    let written: Vec<_> = bodies
        .iter()
        .filter_map(|b| match b {
            CaseEventBody::SummaryWritten {
                comment_id,
                immediate_actions,
                similar_cases,
                audit_seq,
                ..
            } => Some((
                *comment_id,
                immediate_actions.clone(),
                similar_cases.clone(),
                *audit_seq,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        written,
        [(
            comments[0].id,
            vec!["block 185.220.101.4".to_owned()],
            vec!["CASE-7".to_owned()],
            done.last_seq
        )]
    );
    assert_eq!(
        count_case_kind(&store, case.id, CaseEventKind::ResultWritten).await,
        0
    );
    assert_eq!(
        count_case_kind(&store, case.id, CaseEventKind::StatusChange).await,
        1
    );

    // Retried: refused, nothing more.
    let before = store.case(case.id).await.unwrap().case.last_seq;
    assert!(store.complete(inv.id, 1, outcome).await.is_err());
    assert_eq!(store.case(case.id).await.unwrap().case.last_seq, before);
    assert_both_valid(&store, &done, case.id).await;

    // A deleted case takes no summary.
    let gone = a_case(&store, "gone").await;
    store.delete_case(gone.id, "otto", None).await.unwrap();
    let refused = store
        .dispatch(DispatchRequest {
            case_id: Some(gone.id),
            case_purpose: crate::model::CasePurpose::Summarize,
            ..request("summarize", "Summarize it")
        })
        .await;
    assert!(refused.is_err(), "{refused:?}");
    h.cleanup(store).await;
}

/// `review_required` writes what a person must do; the review that
/// completes it writes the result, once.
pub async fn review_required_then_review_writes_the_result_once<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let case = a_case(&store, "odd output").await;
    let inv = claimed_for(&store, case.id).await;
    store
        .complete(
            inv.id,
            1,
            invalid_completion("not json", &["not an object"]),
        )
        .await
        .unwrap();
    assert_eq!(
        count_case_kind(&store, case.id, CaseEventKind::InvestigationNeedsAttention).await,
        1
    );
    assert_eq!(
        count_case_kind(&store, case.id, CaseEventKind::ResultWritten).await,
        0
    );
    assert_eq!(status_of(&store, case.id).await, CaseStatus::Open);
    let review = || ReviewInput {
        result: serde_json::from_str(&valid_result()).unwrap(),
        confidence: Some(0.7),
        note: None,
    };
    let reviewed = store.review(inv.id, "otto", review()).await.unwrap();
    assert_eq!(reviewed.status, Status::Completed);
    assert!(store.review(inv.id, "otto", review()).await.is_err());
    assert_eq!(
        count_case_kind(&store, case.id, CaseEventKind::ResultWritten).await,
        1
    );
    let after = store.case(case.id).await.unwrap().case;
    assert_eq!(
        (after.status, after.confidence),
        (CaseStatus::InProgress, Some(0.7))
    );
    assert_both_valid(&store, &reviewed, case.id).await;
    h.cleanup(store).await;
}

/// A failed linked investigation writes what a person must do, once.
pub async fn linked_failure_writes_what_a_person_must_do<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let case = a_case(&store, "flaky").await;
    let inv = claimed_for(&store, case.id).await;
    let failed = store.fail(inv.id, 1, "model unreachable").await.unwrap();
    assert!(store.fail(inv.id, 1, "model unreachable").await.is_err());
    let attention: Vec<_> = case_bodies(&store, case.id)
        .await
        .into_iter()
        .filter_map(|b| match b {
            CaseEventBody::InvestigationNeedsAttention {
                outcome, reason, ..
            } => Some((outcome, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        attention,
        [(Status::Failed, Some("model unreachable".to_owned()))]
    );
    assert_both_valid(&store, &failed, case.id).await;
    h.cleanup(store).await;
}

/// A linked run the reaper dead-letters (its worker died) tells the case
/// what a person must do; rescued and completed, it writes its result once.
pub async fn a_dead_lettered_linked_run_tells_its_case_and_writes_back_after_a_rescue<
    H: Harness,
>(
    h: &H,
) {
    let (store, clock) = setup(h).await;
    let case = a_case(&store, "worker died").await;
    let inv = claimed_for(&store, case.id).await;
    clock.advance(LEASE + Duration::seconds(1));
    assert_eq!(store.reap(100).await.unwrap().len(), 1);
    let attention: Vec<_> = case_bodies(&store, case.id)
        .await
        .into_iter()
        .filter_map(|b| match b {
            CaseEventBody::InvestigationNeedsAttention {
                outcome, action, ..
            } => Some((outcome, action)),
            _ => None,
        })
        .collect();
    assert_eq!(attention.len(), 1, "{attention:?}");
    assert_eq!(attention[0].0, Status::DeadLettered);
    assert!(attention[0].1.contains("rescue"), "{}", attention[0].1);
    assert_eq!(status_of(&store, case.id).await, CaseStatus::Open);

    store
        .rescue(inv.id, "otto", "worker replaced")
        .await
        .unwrap();
    let again = store
        .claim_next(&[], "worker-b", None, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, inv.id);
    let done = store
        .complete(inv.id, again.lease_epoch, valid_completion())
        .await
        .unwrap();
    assert_eq!(
        count_case_kind(&store, case.id, CaseEventKind::ResultWritten).await,
        1
    );
    assert_eq!(
        count_case_kind(&store, case.id, CaseEventKind::InvestigationNeedsAttention).await,
        1
    );
    assert_both_valid(&store, &done, case.id).await;
    h.cleanup(store).await;
}

/// Parking moves an active case to `pending_approval`, remembering where it
/// was; the decision records who and why and returns it there.
pub async fn approval_parks_the_case_and_the_decision_returns_it<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = a_case(&store, "isolate web-01?").await;
    move_case(&store, case.id, CaseStatus::Contained).await;
    let inv = claimed_for(&store, case.id).await;
    let draft = approval_draft(clock.now(), "c1", Duration::minutes(10));
    let req = store.await_approval(inv.id, 1, draft).await.unwrap();
    let parked = store.case(case.id).await.unwrap().case;
    assert_eq!(
        (parked.status, parked.resume_status),
        (CaseStatus::PendingApproval, Some(CaseStatus::Contained))
    );
    store
        .decide_approval(
            req.id,
            "alice",
            Decision::Approve,
            Some("owner agreed".to_owned()),
        )
        .await
        .unwrap();
    let back = store.case(case.id).await.unwrap().case;
    assert_eq!(
        (back.status, back.resume_status),
        (CaseStatus::Contained, None)
    );
    let timeline = store.case_timeline(case.id, 0, 100).await.unwrap();
    let last = timeline.last().unwrap();
    assert_eq!(last.actor, "alice");
    assert_eq!(
        last.body().unwrap(),
        CaseEventBody::ApprovalDecided {
            approval_id: req.id,
            decision: Decision::Approve,
            decided_by: "alice".to_owned(),
            comment: Some("owner agreed".to_owned()),
            status_from: Some(CaseStatus::PendingApproval),
            status_to: Some(CaseStatus::Contained),
        }
    );
    let inv = store.get(inv.id).await.unwrap();
    assert_both_valid(&store, &inv, case.id).await;
    h.cleanup(store).await;
}

/// A person who moves the case while the approval is open wins: the
/// decision records itself and moves nothing.
pub async fn a_persons_status_change_during_an_approval_wins<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = a_case(&store, "isolate web-01?").await;
    let inv = claimed_for(&store, case.id).await;
    let draft = approval_draft(clock.now(), "c1", Duration::minutes(10));
    let req = store.await_approval(inv.id, 1, draft).await.unwrap();
    assert_eq!(
        status_of(&store, case.id).await,
        CaseStatus::PendingApproval
    );
    move_case(&store, case.id, CaseStatus::Eradicated).await;
    store
        .decide_approval(req.id, "alice", Decision::Reject, None)
        .await
        .unwrap();
    let after = store.case(case.id).await.unwrap().case;
    assert_eq!(
        (after.status, after.resume_status),
        (CaseStatus::Eradicated, None)
    );
    match case_bodies(&store, case.id).await.pop().unwrap() {
        CaseEventBody::ApprovalDecided {
            decision,
            status_to,
            ..
        } => assert_eq!((decision, status_to), (Decision::Reject, None)),
        other => panic!("expected the decision, got {other:?}"),
    }
    let inv = store.get(inv.id).await.unwrap();
    assert_both_valid(&store, &inv, case.id).await;
    h.cleanup(store).await;
}

/// An expiry records `approval_expired` and moves the case back to
/// `in_progress` with the note, so an analyst looks again.
pub async fn approval_expiry_returns_the_case_to_in_progress_with_a_note<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = a_case(&store, "disable user?").await;
    let inv = claimed_for(&store, case.id).await;
    let draft = approval_draft(clock.now(), "c1", Duration::minutes(10));
    let req = store.await_approval(inv.id, 1, draft).await.unwrap();
    clock.advance(Duration::minutes(11));
    let expired = store.expire_approvals(10).await.unwrap();
    assert_eq!(expired.len(), 1);
    let after = store.case(case.id).await.unwrap().case;
    assert_eq!(
        (after.status, after.resume_status),
        (CaseStatus::InProgress, None)
    );
    let bodies = case_bodies(&store, case.id).await;
    assert!(bodies.contains(&CaseEventBody::ApprovalExpired {
        approval_id: req.id,
        status_from: Some(CaseStatus::PendingApproval),
        status_to: Some(CaseStatus::InProgress),
    }));
    let notes = store.comments(case.id).await.unwrap();
    assert_eq!(
        notes.iter().map(|c| c.body.as_str()).collect::<Vec<_>>(),
        [APPROVAL_EXPIRED_NOTE]
    );
    let inv = store.get(inv.id).await.unwrap();
    assert_both_valid(&store, &inv, case.id).await;
    h.cleanup(store).await;
}

/// Decisions racing the expiry sweep: each request has one outcome, and
/// the investigation's log and the case's timeline agree on it.
pub async fn linked_decision_racing_expiry_has_one_outcome_in_both_timelines<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let mut runs = Vec::new();
    for n in 0..8 {
        let case = a_case(&store, &format!("race {n}")).await;
        let inv = claimed_for(&store, case.id).await;
        let draft = approval_draft(clock.now(), "c1", Duration::seconds(1));
        let req = store.await_approval(inv.id, 1, draft).await.unwrap();
        runs.push((case.id, inv, req));
    }
    let mut tasks = Vec::new();
    for (i, (_, _, req)) in runs.iter().enumerate() {
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
    for _ in 0..2 {
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
    for (case, inv, req) in &runs {
        let status = store.approval(req.id).await.unwrap().status;
        let inv_outcome = (
            count_kind(&store, inv, EventKind::ApprovalDecided).await,
            count_kind(&store, inv, EventKind::ApprovalExpired).await,
        );
        let case_outcome = (
            count_case_kind(&store, *case, CaseEventKind::ApprovalDecided).await,
            count_case_kind(&store, *case, CaseEventKind::ApprovalExpired).await,
        );
        let (expected, case_status) = match status {
            ApprovalStatus::Approved => ((1, 0), CaseStatus::Open),
            ApprovalStatus::Expired => ((0, 1), CaseStatus::InProgress),
            other => panic!("request left {other}"),
        };
        assert_eq!((inv_outcome, case_outcome), (expected, expected));
        assert_eq!(status_of(&store, *case).await, case_status);
        let inv = store.get(inv.id).await.unwrap();
        assert_both_valid(&store, &inv, *case).await;
    }
    h.cleanup(store).await;
}

/// A claim of a run whose case requires human approval says so, read from
/// the case at claim time.
pub async fn a_claim_carries_the_cases_approval_flag<H: Harness>(h: &H) {
    let (store, _clock) = setup(h).await;
    let mut strict = new_case("strict");
    strict.requires_human_approval = true;
    let strict = store.create_case("otto", strict).await.unwrap();
    assert!(claimed_for(&store, strict.id).await.case_requires_approval);
    let lax = a_case(&store, "lax").await;
    assert!(!claimed_for(&store, lax.id).await.case_requires_approval);
    assert!(!claimed(&store, "triage").await.case_requires_approval);
    h.cleanup(store).await;
}

//! Merging cases: records move, sightings are summed, sources close, and
//! every affected timeline says so, in one transaction.

use super::case_lifecycle::{assert_timeline_valid, timeline_kinds};
use super::prelude::*;
use crate::case::{
    AuthorKind, CaseEventBody, CaseEventKind, CaseId, CasePatch, CaseStatus, Disposition,
    EvidenceKind, MergeRole, NewCase, NewComment, NewEvidence, NewObservable, NewTask,
    ObservableType, StatusChange,
};
use crate::store::{CaseReads, Cases};

async fn sighted<S: Store>(
    store: &S,
    case: CaseId,
    kind: ObservableType,
    value: &str,
    times: usize,
) {
    for _ in 0..times {
        store
            .add_observable(
                case,
                "sensor",
                NewObservable {
                    kind,
                    value: value.to_owned(),
                    source: None,
                    tlp: None,
                    pap: None,
                    tags: Vec::new(),
                    enrichment: None,
                },
            )
            .await
            .unwrap();
    }
}

fn with_alerts(title: &str, alerts: &[&str]) -> NewCase {
    NewCase {
        alert_ids: alerts.iter().map(|a| (*a).to_owned()).collect(),
        ..new_case(title)
    }
}

/// A merge moves alerts, observables (summing sightings of a value the
/// target holds), evidence, comments and tasks into the target, closes each
/// source with a disposition and a link to the target, and writes
/// `case_merged` on every timeline.
pub async fn merge_moves_records_sums_sightings_and_closes_sources<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let target = store
        .create_case("alice", new_case("Campaign against finance"))
        .await
        .unwrap();
    sighted(&store, target.id, ObservableType::Ip, "185.220.101.4", 2).await;
    let a = store
        .create_case("soar", with_alerts("Spray on sso", &["a-1", "a-2"]))
        .await
        .unwrap();
    sighted(&store, a.id, ObservableType::Ip, "185.220.101.4", 3).await;
    sighted(&store, a.id, ObservableType::Domain, "login-example.com", 1).await;
    store
        .add_evidence(
            a.id,
            "soar",
            NewEvidence {
                name: "sso.log".to_owned(),
                kind: EvidenceKind::Log,
                content: Some(b"failed login".to_vec()),
                ..NewEvidence::default()
            },
        )
        .await
        .unwrap();
    store
        .add_comment(
            a.id,
            "alice",
            NewComment {
                author_kind: AuthorKind::Analyst,
                kind: crate::case::CommentKind::Note,
                body: "same ASN as last week".to_owned(),
            },
        )
        .await
        .unwrap();
    store
        .create_task(
            a.id,
            "alice",
            NewTask {
                title: "Reset passwords".to_owned(),
                ..NewTask::default()
            },
        )
        .await
        .unwrap();
    let b = store
        .create_case("soar", with_alerts("Spray on vpn", &["b-1"]))
        .await
        .unwrap();
    sighted(&store, b.id, ObservableType::Domain, "login-example.com", 1).await;
    sighted(&store, b.id, ObservableType::User, "svc-backup", 1).await;

    clock.advance(Duration::minutes(10));
    assert_invalid(
        store
            .merge_cases(target.id, &[a.id, b.id], "alice", None)
            .await,
        "disposition",
    );
    let report = store
        .merge_cases(
            target.id,
            &[a.id, b.id],
            "alice",
            Some(Disposition::TruePositive),
        )
        .await
        .unwrap();
    assert_eq!(
        report.summary,
        "Merged 2 cases: 3 alerts, 4 observables, 1 evidence item, 1 comment, 1 task moved"
    );
    let merged_target = store.case(target.id).await.unwrap();
    assert_eq!(merged_target.case, report.target);
    assert_eq!(merged_target.case.alert_ids, ["a-1", "a-2", "b-1"]);
    assert_eq!(
        merged_target.case.status,
        CaseStatus::Open,
        "the target keeps its status"
    );
    assert_eq!(merged_target.case.updated_at, clock.now());
    let counts = merged_target.counts;
    assert_eq!(
        (
            counts.alerts,
            counts.observables,
            counts.evidence,
            counts.comments,
            counts.tasks
        ),
        (3, 3, 1, 1, 1)
    );
    let mut sightings: Vec<(String, i64)> = store
        .observables(target.id)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.value, o.sightings))
        .collect();
    sightings.sort();
    assert_eq!(
        sightings,
        [
            ("185.220.101.4".to_owned(), 5),
            ("login-example.com".to_owned(), 2),
            ("svc-backup".to_owned(), 1),
        ]
    );
    for (source, merged) in [(&a, &report.merged[0]), (&b, &report.merged[1])] {
        let read = store.case(source.id).await.unwrap();
        assert_eq!(&read.case, merged);
        assert_eq!(read.case.status, CaseStatus::Closed);
        assert_eq!(read.case.disposition, Some(Disposition::TruePositive));
        assert_eq!(read.case.merged_into, Some(target.id));
        assert!(read.case.alert_ids.is_empty());
        assert_eq!(
            (
                read.counts.observables,
                read.counts.evidence,
                read.counts.tasks
            ),
            (0, 0, 0)
        );
        let kinds = timeline_kinds(&store, source.id).await;
        assert_eq!(
            &kinds[kinds.len() - 2..],
            [CaseEventKind::CaseMerged, CaseEventKind::StatusChange]
        );
        assert_timeline_valid(&store, source.id).await;
        assert_invalid_transition(
            store
                .add_comment(
                    source.id,
                    "alice",
                    NewComment {
                        author_kind: AuthorKind::Analyst,
                        kind: crate::case::CommentKind::Note,
                        body: "too late".to_owned(),
                    },
                )
                .await,
        );
    }
    let entries = store.case_timeline(target.id, 0, 100).await.unwrap();
    let last = entries.last().unwrap();
    match last.body().unwrap() {
        CaseEventBody::CaseMerged {
            role: MergeRole::Target { sources },
            alerts,
            observables,
            summary,
            ..
        } => {
            assert_eq!(
                sources.iter().map(|s| s.id).collect::<Vec<_>>(),
                [a.id, b.id]
            );
            assert_eq!((alerts, observables), (3, 4));
            assert_eq!(summary, report.summary);
        }
        other => panic!("expected case_merged, got {other:?}"),
    }
    assert_eq!(last.actor, "alice");
    assert_timeline_valid(&store, target.id).await;

    // A target with a disposition closes its sources with it.
    let resolved = store
        .create_case("alice", new_case("Known benign scanner"))
        .await
        .unwrap();
    store
        .change_case_status(
            resolved.id,
            "alice",
            StatusChange {
                to: CaseStatus::Resolved,
                disposition: Some(Disposition::Benign),
                reason: None,
            },
        )
        .await
        .unwrap();
    let c = store
        .create_case("alice", new_case("Scanner again"))
        .await
        .unwrap();
    let report = store
        .merge_cases(
            resolved.id,
            &[c.id],
            "alice",
            Some(Disposition::TruePositive),
        )
        .await
        .unwrap();
    assert_eq!(report.merged[0].disposition, Some(Disposition::Benign));
    h.cleanup(store).await;
}

/// Bad merges are refused naming the problem and write nothing.
pub async fn merge_refuses_bad_sources_and_writes_nothing<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let target = store
        .create_case("alice", new_case("Target"))
        .await
        .unwrap();
    let open = store
        .create_case("alice", with_alerts("Source", &["s-1"]))
        .await
        .unwrap();
    let closed = store
        .create_case("alice", new_case("Closed"))
        .await
        .unwrap();
    let closed = store
        .change_case_status(
            closed.id,
            "alice",
            StatusChange {
                to: CaseStatus::Closed,
                disposition: Some(Disposition::FalsePositive),
                reason: None,
            },
        )
        .await
        .unwrap();
    let benign = Some(Disposition::Benign);
    assert_invalid(
        store.merge_cases(target.id, &[], "alice", benign).await,
        "sources",
    );
    assert_invalid(
        store
            .merge_cases(target.id, &[target.id], "alice", benign)
            .await,
        "sources",
    );
    assert_invalid(
        store
            .merge_cases(target.id, &[open.id, open.id], "alice", benign)
            .await,
        "sources",
    );
    assert_invalid(
        store
            .merge_cases(target.id, &[open.id, closed.id], "alice", benign)
            .await,
        "sources",
    );
    assert_not_found(
        store
            .merge_cases(
                target.id,
                &[open.id, CaseId::new_at(start())],
                "alice",
                benign,
            )
            .await,
    );
    assert_invalid_transition(
        store
            .merge_cases(closed.id, &[open.id], "alice", benign)
            .await,
    );
    assert_eq!(store.case(target.id).await.unwrap().case, target);
    assert_eq!(store.case(open.id).await.unwrap().case, open);
    assert_eq!(store.case(closed.id).await.unwrap().case, closed);
    h.cleanup(store).await;
}

/// A merge racing an edit of its source, through two handles: the edit
/// lands before the merge (and the closed source carries it) or is refused
/// after it; two merges racing for one source, or merging each other,
/// have exactly one winner; every timeline stays valid.
pub async fn merge_racing_an_edit_has_one_consistent_outcome<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let other = h.reopen(clock.clone()).await;
    for round in 0..6 {
        let target = store
            .create_case("alice", new_case("Target"))
            .await
            .unwrap();
        let source = store
            .create_case("alice", new_case("Source"))
            .await
            .unwrap();
        let merge = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .merge_cases(target.id, &[source.id], "alice", Some(Disposition::Benign))
                    .await
            })
        };
        let edit = {
            let other = other.clone();
            tokio::spawn(async move {
                other
                    .update_case(
                        source.id,
                        "bob",
                        CasePatch {
                            title: Some(format!("Source, renamed {round}")),
                            ..CasePatch::default()
                        },
                    )
                    .await
            })
        };
        merge.await.unwrap().expect("the merge applies either way");
        let closed = store.case(source.id).await.unwrap().case;
        assert_eq!(closed.merged_into, Some(target.id));
        let kinds = timeline_kinds(&store, source.id).await;
        match edit.await.unwrap() {
            Ok(_) => {
                assert_eq!(closed.title, format!("Source, renamed {round}"));
                assert_eq!(
                    kinds,
                    [
                        CaseEventKind::Created,
                        CaseEventKind::FieldChange,
                        CaseEventKind::CaseMerged,
                        CaseEventKind::StatusChange
                    ]
                );
            }
            Err(Error::InvalidTransition { from, .. }) => {
                assert_eq!(from, "merged");
                assert_eq!(closed.title, "Source");
                assert_eq!(
                    kinds,
                    [
                        CaseEventKind::Created,
                        CaseEventKind::CaseMerged,
                        CaseEventKind::StatusChange
                    ]
                );
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
        assert_timeline_valid(&store, source.id).await;
        assert_timeline_valid(&store, target.id).await;
    }

    let one = store.create_case("alice", new_case("One")).await.unwrap();
    let two = store.create_case("alice", new_case("Two")).await.unwrap();
    let shared = store
        .create_case("alice", new_case("Shared"))
        .await
        .unwrap();
    let benign = Some(Disposition::Benign);
    let (s1, s2, o1, o2) = (store.clone(), other.clone(), store.clone(), other.clone());
    let results = futures::future::join_all([
        tokio::spawn(async move { s1.merge_cases(one.id, &[shared.id], "alice", benign).await }),
        tokio::spawn(async move { s2.merge_cases(two.id, &[shared.id], "bob", benign).await }),
    ])
    .await;
    let wins = results
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(wins, 1, "one source merges into one target");
    let crossed = futures::future::join_all([
        tokio::spawn(async move { o1.merge_cases(one.id, &[two.id], "alice", benign).await }),
        tokio::spawn(async move { o2.merge_cases(two.id, &[one.id], "bob", benign).await }),
    ])
    .await;
    let wins = crossed
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(
        wins, 1,
        "of two cases merging each other, one wins and nothing deadlocks"
    );
    for id in [one.id, two.id, shared.id] {
        assert_timeline_valid(&store, id).await;
    }
    h.cleanup(other).await;
    h.cleanup(store).await;
}

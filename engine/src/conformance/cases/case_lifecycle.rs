//! Cases: creation, field edits, the status lifecycle, deletion, alert
//! links, and concurrent writers on one case.

use super::prelude::*;
use crate::case::{
    CaseEventBody, CaseEventKind, CaseLog, CasePatch, CaseStatus, Disposition, NewCase, Severity,
    StatusChange,
};
use crate::conformance::LogFixture;
use crate::store::{CaseQuery, CaseReads, Cases};

/// The kinds of a case's timeline entries, in order.
pub(super) async fn timeline_kinds<S: Store>(
    store: &S,
    id: crate::case::CaseId,
) -> Vec<CaseEventKind> {
    store
        .case_timeline(id, 0, 1000)
        .await
        .expect("timeline")
        .iter()
        .map(|e| e.kind)
        .collect()
}

/// Asserts the case's timeline verifies, runs 1..=last_seq and the row
/// matches it.
pub(super) async fn assert_timeline_valid<S: Store>(store: &S, id: crate::case::CaseId) {
    let report = store.verify_case(id).await.expect("verify case");
    assert!(report.valid, "timeline of {id} broken: {report:?}");
    let last = CaseLog::last_seq(store, id).await;
    assert_eq!(report.events_checked, last);
    let seqs: Vec<i64> = store
        .case_timeline(id, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
}

fn status(to: CaseStatus) -> StatusChange {
    StatusChange {
        to,
        disposition: None,
        reason: None,
    }
}

/// Cases are numbered from the store's sequence, start `open` with a
/// `created` entry (and an `alert_linked` entry per alert), and read back
/// as written, by id and by number.
pub async fn case_create_numbers_cases_and_writes_the_created_entry<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let first = store
        .create_case("alice", new_case("Brute force on vpn-01"))
        .await
        .unwrap();
    assert!(first.number.0 >= 1);
    assert_eq!(first.status, CaseStatus::Open);
    assert_eq!(first.disposition, None);
    assert_eq!(first.created_by, "alice");
    assert_eq!(
        (first.created_at, first.updated_at, first.status_changed_at),
        (clock.now(), clock.now(), clock.now())
    );
    assert_eq!(
        timeline_kinds(&store, first.id).await,
        [CaseEventKind::Created]
    );

    clock.advance(Duration::seconds(1));
    let second = store
        .create_case(
            "soar",
            NewCase {
                title: "  Phishing wave  ".to_owned(),
                severity: Severity::Critical,
                description: "three users clicked".to_owned(),
                assignee: Some("bob".to_owned()),
                confidence: Some(0.4),
                tags: vec![
                    "Phishing".to_owned(),
                    "phishing".to_owned(),
                    "email".to_owned(),
                ],
                alert_ids: vec!["alert-b".to_owned(), "alert-a".to_owned()],
                ..NewCase::default()
            },
        )
        .await
        .unwrap();
    assert!(second.number > first.number, "numbers increase");
    assert_eq!(second.title, "Phishing wave", "the title is trimmed");
    assert_eq!(
        second.tags,
        ["phishing", "email"],
        "tags lower-cased, once each"
    );
    assert_eq!(second.alert_ids, ["alert-a", "alert-b"], "alert ids sorted");
    assert_eq!(
        timeline_kinds(&store, second.id).await,
        [
            CaseEventKind::Created,
            CaseEventKind::AlertLinked,
            CaseEventKind::AlertLinked
        ]
    );
    let read = store.case(second.id).await.unwrap();
    assert_eq!(read.case, second, "the returned case is what was stored");
    assert_eq!(read.counts.alerts, 2);
    assert_eq!(
        store.case_by_number(second.number).await.unwrap().case,
        second
    );
    let created = store.case_timeline(second.id, 0, 1).await.unwrap();
    match created[0].body().unwrap() {
        CaseEventBody::Created {
            number,
            severity,
            assignee,
            ..
        } => {
            assert_eq!(number, second.number);
            assert_eq!(severity, Severity::Critical);
            assert_eq!(assignee.as_deref(), Some("bob"));
        }
        other => panic!("expected created, got {other:?}"),
    }
    assert_eq!(created[0].actor, "soar");
    assert_timeline_valid(&store, second.id).await;
    h.cleanup(store).await;
}

/// Bad input is refused naming the field and writes nothing.
pub async fn case_create_rejects_bad_input_and_writes_nothing<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    assert_invalid(store.create_case("alice", new_case("   ")).await, "title");
    assert_invalid(
        store.create_case("alice", new_case(&"x".repeat(201))).await,
        "title",
    );
    assert_invalid(
        store
            .create_case(
                "alice",
                NewCase {
                    confidence: Some(1.5),
                    ..new_case("Beaconing")
                },
            )
            .await,
        "confidence",
    );
    assert_invalid(
        store
            .create_case(
                "alice",
                NewCase {
                    tags: vec!["ok".to_owned(), " ".to_owned()],
                    ..new_case("Beaconing")
                },
            )
            .await,
        "tags",
    );
    assert_invalid(
        store
            .create_case(
                "alice",
                NewCase {
                    alert_ids: vec![String::new()],
                    ..new_case("Beaconing")
                },
            )
            .await,
        "alert_id",
    );
    assert_invalid(store.create_case(" ", new_case("Beaconing")).await, "by");
    let everything = CaseQuery {
        include_deleted: true,
        ..CaseQuery::default()
    };
    assert!(
        store
            .list_cases(&everything)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(store.case_kpis(&everything).await.unwrap().total, 0);
    let created = store
        .create_case("alice", new_case("Beaconing"))
        .await
        .unwrap();
    assert!(created.number.0 >= 1, "a number is taken after refusals");
    h.cleanup(store).await;
}

/// A patch writes one entry per field it changes (old and new values,
/// the actor), moves `updated_at` but not `status_changed_at`, and a patch
/// that changes nothing writes nothing.
pub async fn case_updates_write_one_entry_per_changed_field<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = store
        .create_case("alice", new_case("Beaconing from web-03"))
        .await
        .unwrap();
    clock.advance(Duration::minutes(1));
    let patch = CasePatch {
        title: Some("Beaconing from web-03 to a Tor exit".to_owned()),
        severity: Some(Severity::Critical),
        assignee: Some(Some("bob".to_owned())),
        requires_human_approval: Some(true),
        tags: Some(vec!["C2".to_owned()]),
        description: Some(String::new()),
        ..CasePatch::default()
    };
    let edited = store
        .update_case(case.id, "carol", patch.clone())
        .await
        .unwrap();
    assert_eq!(edited.severity, Severity::Critical);
    assert_eq!(edited.assignee.as_deref(), Some("bob"));
    assert!(edited.requires_human_approval);
    assert_eq!(edited.tags, ["c2"]);
    assert_eq!(edited.updated_at, clock.now());
    assert_eq!(edited.status_changed_at, case.status_changed_at);
    assert_eq!(store.case(case.id).await.unwrap().case, edited);
    let entries = store.case_timeline(case.id, 1, 100).await.unwrap();
    let kinds: Vec<CaseEventKind> = entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            CaseEventKind::FieldChange,
            CaseEventKind::FieldChange,
            CaseEventKind::FieldChange,
            CaseEventKind::SeverityChange,
            CaseEventKind::AssignmentChange,
        ],
        "the unchanged description writes nothing"
    );
    assert!(entries.iter().all(|e| e.actor == "carol"));
    match entries[0].body().unwrap() {
        CaseEventBody::FieldChange(change) => {
            assert_eq!(change.field, "title");
            assert_eq!(change.old, json!("Beaconing from web-03"));
            assert_eq!(change.new, json!("Beaconing from web-03 to a Tor exit"));
        }
        other => panic!("expected a field change, got {other:?}"),
    }
    match entries[3].body().unwrap() {
        CaseEventBody::SeverityChange { from, to } => {
            assert_eq!((from, to), (Severity::High, Severity::Critical));
        }
        other => panic!("expected a severity change, got {other:?}"),
    }

    clock.advance(Duration::minutes(1));
    let again = store.update_case(case.id, "carol", patch).await.unwrap();
    assert_eq!(again, edited, "a patch that changes nothing writes nothing");
    let unassigned = store.assign_case(case.id, "carol", None).await.unwrap();
    assert_eq!(unassigned.assignee, None);
    let last = store
        .case_timeline(case.id, unassigned.last_seq - 1, 1)
        .await
        .unwrap();
    match last[0].body().unwrap() {
        CaseEventBody::AssignmentChange { from, to } => {
            assert_eq!((from.as_deref(), to), (Some("bob"), None));
        }
        other => panic!("expected an assignment change, got {other:?}"),
    }
    assert_invalid(
        store
            .update_case(
                case.id,
                "carol",
                CasePatch {
                    confidence: Some(Some(-0.1)),
                    title: Some("ignored".to_owned()),
                    ..CasePatch::default()
                },
            )
            .await,
        "confidence",
    );
    assert_eq!(store.case(case.id).await.unwrap().case, unassigned);
    assert_timeline_valid(&store, case.id).await;
    h.cleanup(store).await;
}

/// Forward moves may skip, `pending` is a detour, `resolved` and `closed`
/// need a disposition, reopening needs a reason and clears the disposition
/// (the timeline keeps it), a closed case takes no edits, and a refused move
/// names the statuses allowed next.
pub async fn case_status_follows_the_lifecycle_and_refusals_name_what_is_allowed<H: Harness>(
    h: &H,
) {
    let (store, clock) = setup(h).await;
    let case = store
        .create_case("alice", new_case("Ransom note on fs-02"))
        .await
        .unwrap();
    clock.advance(Duration::minutes(1));
    let contained = store
        .change_case_status(case.id, "alice", status(CaseStatus::Contained))
        .await
        .unwrap();
    assert_eq!(contained.status, CaseStatus::Contained);
    assert_eq!(contained.status_changed_at, clock.now());

    match store
        .change_case_status(case.id, "alice", status(CaseStatus::InProgress))
        .await
    {
        Err(Error::InvalidTransition {
            what,
            command,
            from,
            allowed,
        }) => {
            assert_eq!(what, "a case");
            assert_eq!(command, "move to in_progress");
            assert_eq!(from, "contained");
            assert_eq!(
                allowed,
                ["eradicated", "recovered", "resolved", "closed", "pending"]
            );
        }
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    assert_invalid_transition(
        store
            .change_case_status(case.id, "alice", status(CaseStatus::Investigating))
            .await,
    );
    assert_invalid(
        store
            .change_case_status(
                case.id,
                "alice",
                StatusChange {
                    to: CaseStatus::Pending,
                    disposition: Some(Disposition::Benign),
                    reason: None,
                },
            )
            .await,
        "disposition",
    );
    store
        .change_case_status(case.id, "alice", status(CaseStatus::Pending))
        .await
        .unwrap();
    assert_invalid(
        store
            .change_case_status(case.id, "alice", status(CaseStatus::Resolved))
            .await,
        "disposition",
    );
    clock.advance(Duration::minutes(1));
    let resolved = store
        .change_case_status(
            case.id,
            "alice",
            StatusChange {
                to: CaseStatus::Resolved,
                disposition: Some(Disposition::TruePositive),
                reason: Some("restored from backup".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(resolved.disposition, Some(Disposition::TruePositive));
    assert_eq!(resolved.status_changed_at, clock.now());
    assert_invalid_transition(
        store
            .change_case_status(case.id, "alice", status(CaseStatus::Open))
            .await,
    );
    let closed = store
        .change_case_status(case.id, "alice", status(CaseStatus::Closed))
        .await
        .unwrap();
    assert_eq!(closed.disposition, Some(Disposition::TruePositive), "kept");
    match store
        .update_case(
            case.id,
            "alice",
            CasePatch {
                title: Some("renamed".to_owned()),
                ..CasePatch::default()
            },
        )
        .await
    {
        Err(Error::InvalidTransition {
            command,
            from,
            allowed,
            ..
        }) => {
            assert_eq!((command, from.as_str()), ("update", "closed"));
            assert_eq!(
                allowed,
                ["change_status", "add_comment", "record_custody", "delete"]
            );
        }
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    assert_invalid(
        store
            .change_case_status(case.id, "alice", status(CaseStatus::Open))
            .await,
        "reason",
    );
    let reopened = store
        .update_case(
            case.id,
            "bob",
            CasePatch {
                status: Some(StatusChange {
                    to: CaseStatus::Open,
                    disposition: None,
                    reason: Some("the attacker came back".to_owned()),
                }),
                severity: Some(Severity::Critical),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reopened.status, CaseStatus::Open);
    assert_eq!(
        reopened.disposition, None,
        "a reopen clears the disposition"
    );
    assert_eq!(
        reopened.severity,
        Severity::Critical,
        "edits ride on a reopen"
    );
    let entries = store.case_timeline(case.id, 0, 100).await.unwrap();
    let reopen = entries
        .iter()
        .rev()
        .find(|e| e.kind == CaseEventKind::StatusChange)
        .unwrap();
    match reopen.body().unwrap() {
        CaseEventBody::StatusChange {
            from,
            to,
            disposition_from,
            disposition_to,
            reason,
        } => {
            assert_eq!((from, to), (CaseStatus::Closed, CaseStatus::Open));
            assert_eq!(disposition_from, Some(Disposition::TruePositive));
            assert_eq!(disposition_to, None);
            assert_eq!(reason.as_deref(), Some("the attacker came back"));
        }
        other => panic!("expected a status change, got {other:?}"),
    }
    assert_timeline_valid(&store, case.id).await;
    h.cleanup(store).await;
}

/// Of concurrent identical status changes on one case, through two
/// handles, exactly one applies; the others see the new status and are
/// refused; the timeline stays contiguous.
pub async fn concurrent_status_changes_on_one_case_exactly_one_wins<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let other = h.reopen(clock.clone()).await;
    let case = store
        .create_case("alice", new_case("Impossible travel"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let handle = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            handle
                .change_case_status(
                    case.id,
                    &format!("analyst-{i}"),
                    status(CaseStatus::InProgress),
                )
                .await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(c) => {
                assert_eq!(c.status, CaseStatus::InProgress);
                wins += 1;
            }
            Err(Error::InvalidTransition { from, .. }) => assert_eq!(from, "in_progress"),
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(wins, 1, "exactly one status change applies");
    assert_eq!(
        timeline_kinds(&store, case.id).await,
        [CaseEventKind::Created, CaseEventKind::StatusChange]
    );
    assert_timeline_valid(&store, case.id).await;
    h.cleanup(other).await;
    h.cleanup(store).await;
}

/// A deleted case detaches its alerts, writes `case_deleted`, leaves the
/// listing (unless asked for), refuses every command, and stays readable
/// with everything in it.
pub async fn soft_deleted_case_detaches_alerts_and_stays_readable<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = store
        .create_case(
            "alice",
            NewCase {
                alert_ids: vec!["alert-1".to_owned(), "alert-2".to_owned()],
                ..new_case("Duplicate of CASE-1")
            },
        )
        .await
        .unwrap();
    store
        .add_comment(
            case.id,
            "alice",
            crate::case::NewComment {
                author_kind: crate::case::AuthorKind::Analyst,
                kind: crate::case::CommentKind::Note,
                body: "same host as yesterday".to_owned(),
            },
        )
        .await
        .unwrap();
    clock.advance(Duration::minutes(5));
    let deleted = store
        .delete_case(case.id, "alice", Some("duplicate".to_owned()))
        .await
        .unwrap();
    assert_eq!(deleted.deleted_at, Some(clock.now()));
    assert!(deleted.alert_ids.is_empty());
    let read = store.case(case.id).await.unwrap();
    assert_eq!(read.case, deleted);
    assert_eq!(read.counts.alerts, 0);
    assert_eq!(read.counts.comments, 1, "its records stay readable");
    assert_eq!(store.comments(case.id).await.unwrap().len(), 1);
    let last = store
        .case_timeline(case.id, deleted.last_seq - 1, 1)
        .await
        .unwrap();
    match last[0].body().unwrap() {
        CaseEventBody::CaseDeleted {
            reason,
            alerts_detached,
        } => {
            assert_eq!(reason.as_deref(), Some("duplicate"));
            assert_eq!(alerts_detached, ["alert-1", "alert-2"]);
        }
        other => panic!("expected case_deleted, got {other:?}"),
    }
    let listed = store.list_cases(&CaseQuery::default()).await.unwrap();
    assert!(listed.items.is_empty(), "deleted cases are not listed");
    let with_deleted = CaseQuery {
        include_deleted: true,
        ..CaseQuery::default()
    };
    assert_eq!(
        store.list_cases(&with_deleted).await.unwrap().items.len(),
        1
    );
    match store.link_alert(case.id, "alice", "alert-3").await {
        Err(Error::InvalidTransition { from, allowed, .. }) => {
            assert_eq!(from, "deleted");
            assert!(allowed.is_empty());
        }
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    assert_invalid_transition(store.delete_case(case.id, "alice", None).await);
    let other = store
        .create_case("alice", new_case("The real one"))
        .await
        .unwrap();
    let relinked = store
        .link_alert(other.id, "alice", "alert-1")
        .await
        .unwrap();
    assert_eq!(
        relinked.alert_ids,
        ["alert-1"],
        "a detached alert can be linked again"
    );
    assert_timeline_valid(&store, case.id).await;
    h.cleanup(store).await;
}

/// An alert belongs to at most one case: linking it twice to one case
/// changes nothing, linking it to another is refused naming the holder.
pub async fn alerts_belong_to_one_case<H: Harness>(h: &H) {
    let (store, _) = setup(h).await;
    let a = store
        .create_case("alice", new_case("Spray on sso"))
        .await
        .unwrap();
    let b = store
        .create_case("alice", new_case("Spray on vpn"))
        .await
        .unwrap();
    let linked = store.link_alert(a.id, "alice", "det-7781").await.unwrap();
    assert_eq!(linked.alert_ids, ["det-7781"]);
    let again = store.link_alert(a.id, "alice", " det-7781 ").await.unwrap();
    assert_eq!(again, linked, "a second link changes nothing");
    match store.link_alert(b.id, "bob", "det-7781").await {
        Err(Error::AlertLinked { alert_id, case_id }) => {
            assert_eq!((alert_id.as_str(), case_id), ("det-7781", a.id));
        }
        other => panic!("expected AlertLinked, got {other:?}"),
    }
    assert_invalid(store.link_alert(b.id, "bob", "  ").await, "alert_id");
    assert_eq!(store.case(b.id).await.unwrap().case, b, "nothing written");
    assert_eq!(
        timeline_kinds(&store, a.id).await,
        [CaseEventKind::Created, CaseEventKind::AlertLinked]
    );
    h.cleanup(store).await;
}

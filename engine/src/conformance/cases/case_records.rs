//! The records inside a case: observables and their sightings, evidence
//! and its custody, comments, tasks.

use super::case_lifecycle::{assert_timeline_valid, timeline_kinds};
use super::prelude::*;
use crate::case::{
    AuthorKind, CaseEventBody, CaseEventKind, CaseId, CaseStatus, CustodyAction, Disposition,
    EvidenceKind, NewComment, NewCustody, NewEvidence, NewObservable, NewTask, ObservablePatch,
    ObservableType, Pap, StatusChange, TaskPatch, TaskPriority, TaskStatus, Tlp, sha256_hex,
};
use crate::store::{CaseReads, Cases, EvidenceContent};

fn observable(kind: ObservableType, value: &str) -> NewObservable {
    NewObservable {
        kind,
        value: value.to_owned(),
        source: None,
        tlp: None,
        pap: None,
        tags: Vec::new(),
        enrichment: None,
    }
}

fn stored(name: &str, content: &[u8]) -> NewEvidence {
    NewEvidence {
        name: name.to_owned(),
        kind: EvidenceKind::Log,
        content: Some(content.to_vec()),
        ..NewEvidence::default()
    }
}

async fn last_seq<S: Store>(store: &S, id: CaseId) -> i64 {
    store.case(id).await.unwrap().case.last_seq
}

/// Values are stored normalized; the same (type, value) reported again is
/// one observable with one more sighting; a value that does not normalize
/// is refused on `value`; TLP, PAP, tags and enrichment are edited with an
/// `observable_updated` entry naming old and new.
pub async fn observables_are_normalized_and_counted_per_sighting<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = store
        .create_case("alice", new_case("Phishing domain"))
        .await
        .unwrap();
    let first = store
        .add_observable(
            case.id,
            "alice",
            NewObservable {
                source: Some("proxy".to_owned()),
                ..observable(ObservableType::Domain, "Evil.Example.COM.")
            },
        )
        .await
        .unwrap();
    assert_eq!(first.value, "evil.example.com");
    assert_eq!(
        (first.sightings, first.tlp, first.pap),
        (1, Tlp::Amber, Pap::Amber)
    );
    assert_eq!(
        (first.first_seen, first.last_seen),
        (clock.now(), clock.now())
    );

    clock.advance(Duration::minutes(3));
    let again = store
        .add_observable(
            case.id,
            "bob",
            NewObservable {
                tags: vec!["Phish".to_owned()],
                ..observable(ObservableType::Domain, "evil[.]example[.]com")
            },
        )
        .await
        .unwrap();
    assert_eq!(again.id, first.id, "one observable per (type, value)");
    assert_eq!(again.sightings, 2);
    assert_eq!(again.first_seen, first.first_seen);
    assert_eq!(again.last_seen, clock.now());
    assert_eq!(again.tags, ["phish"]);
    assert_eq!(again.source.as_deref(), Some("proxy"));

    let host = store
        .add_observable(
            case.id,
            "bob",
            observable(ObservableType::Host, "EVIL.example.com"),
        )
        .await
        .unwrap();
    assert_ne!(host.id, first.id, "another type is another observable");
    let before = last_seq(&store, case.id).await;
    assert_invalid(
        store
            .add_observable(case.id, "bob", observable(ObservableType::Ip, "999.1.1.1"))
            .await,
        "value",
    );
    assert_invalid(
        store
            .add_observable(
                case.id,
                "bob",
                observable(ObservableType::HashSha256, "abc"),
            )
            .await,
        "value",
    );
    assert_eq!(last_seq(&store, case.id).await, before, "nothing written");

    let edited = store
        .update_observable(
            case.id,
            first.id,
            "carol",
            ObservablePatch {
                tlp: Some(Tlp::Red),
                pap: Some(Pap::Green),
                enrichment: Some(json!({"registrar": "NameCheap", "age_days": 2})),
                ..ObservablePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((edited.tlp, edited.pap), (Tlp::Red, Pap::Green));
    assert_eq!(edited.enrichment["age_days"], json!(2));
    assert_eq!(edited.sightings, 2);
    let listed = store.observables(case.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0], edited,
        "the returned observable is what was stored"
    );
    assert_invalid(
        store
            .update_observable(
                case.id,
                first.id,
                "carol",
                ObservablePatch {
                    enrichment: Some(json!(["not", "an", "object"])),
                    ..ObservablePatch::default()
                },
            )
            .await,
        "enrichment",
    );
    let other = store
        .create_case("alice", new_case("Unrelated"))
        .await
        .unwrap();
    assert_not_found(
        store
            .update_observable(other.id, first.id, "carol", ObservablePatch::default())
            .await,
    );

    let entries = store.case_timeline(case.id, 0, 100).await.unwrap();
    let kinds: Vec<CaseEventKind> = entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            CaseEventKind::Created,
            CaseEventKind::ObservableAdded,
            CaseEventKind::ObservableUpdated,
            CaseEventKind::ObservableAdded,
            CaseEventKind::ObservableUpdated,
        ]
    );
    match entries[2].body().unwrap() {
        CaseEventBody::ObservableUpdated { changes, value, .. } => {
            assert_eq!(value, "evil.example.com");
            let sightings = changes.iter().find(|c| c.field == "sightings").unwrap();
            assert_eq!((&sightings.old, &sightings.new), (&json!(1), &json!(2)));
        }
        other => panic!("expected observable_updated, got {other:?}"),
    }
    assert_eq!(entries[2].actor, "bob");
    assert_eq!(store.case(case.id).await.unwrap().counts.observables, 2);
    assert_timeline_valid(&store, case.id).await;
    h.cleanup(store).await;
}

/// Eight concurrent writers, through two handles, reporting the same value
/// count every sighting: one observable, one entry per sighting.
pub async fn concurrent_sightings_are_all_counted<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let other = h.reopen(clock.clone()).await;
    let case = store
        .create_case("alice", new_case("Scanner"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let handle = if w % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                handle
                    .add_observable(
                        case.id,
                        &format!("sensor-{w}"),
                        observable(ObservableType::Ip, "185.220.101.4"),
                    )
                    .await
                    .expect("sighting");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let observables = store.observables(case.id).await.unwrap();
    assert_eq!(observables.len(), 1);
    assert_eq!(observables[0].sightings, 40, "every sighting is counted");
    assert_eq!(last_seq(&store, case.id).await, 41);
    assert_timeline_valid(&store, case.id).await;
    h.cleanup(other).await;
    h.cleanup(store).await;
}

/// Stored content is hashed and measured by the store, limited in size,
/// and checked again on every read: altered content is an integrity error,
/// never handed out. External evidence names its URI and digest.
pub async fn evidence_content_is_hashed_and_checked_on_read<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = store
        .create_case("alice", new_case("Web shell"))
        .await
        .unwrap();
    let bytes = b"Mar  1 09:00:01 web-03 sshd[411]: Failed password for root".to_vec();
    let item = store
        .add_evidence(case.id, "alice", stored("auth.log", &bytes))
        .await
        .unwrap();
    assert_eq!(item.sha256, sha256_hex(&bytes));
    assert_eq!(item.size_bytes, Some(bytes.len() as i64));
    assert_eq!(
        (item.uri.as_deref(), item.collected_by.as_str()),
        (None, "alice")
    );
    match store.evidence_content(case.id, item.id).await.unwrap() {
        EvidenceContent::Stored {
            evidence,
            bytes: read,
        } => {
            assert_eq!(evidence, item);
            assert_eq!(read, bytes);
        }
        other => panic!("expected stored content, got {other:?}"),
    }
    clock.advance(Duration::seconds(1));
    let image = store
        .add_evidence(
            case.id,
            "bob",
            NewEvidence {
                name: "web-03 disk".to_owned(),
                kind: EvidenceKind::ForensicImage,
                uri: Some("s3://evidence/web-03.e01".to_owned()),
                sha256: Some("AB".repeat(32)),
                size_bytes: Some(64 << 30),
                collected_by: Some("ir-team".to_owned()),
                ..NewEvidence::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(image.sha256, "ab".repeat(32));
    assert!(matches!(
        store.evidence_content(case.id, image.id).await.unwrap(),
        EvidenceContent::External { .. }
    ));

    let before = last_seq(&store, case.id).await;
    assert_invalid(
        store
            .add_evidence(
                case.id,
                "bob",
                NewEvidence {
                    sha256: Some(sha256_hex(b"something else")),
                    ..stored("auth.log", &bytes)
                },
            )
            .await,
        "sha256",
    );
    assert_invalid(
        store
            .add_evidence(
                case.id,
                "bob",
                NewEvidence {
                    uri: Some("s3://evidence/x".to_owned()),
                    ..stored("x", b"x")
                },
            )
            .await,
        "content",
    );
    assert_invalid(
        store
            .add_evidence(
                case.id,
                "bob",
                NewEvidence {
                    name: "pcap".to_owned(),
                    uri: Some("s3://evidence/a.pcap".to_owned()),
                    ..NewEvidence::default()
                },
            )
            .await,
        "sha256",
    );
    let limit = crate::case::DEFAULT_EVIDENCE_LIMIT as usize;
    assert_invalid(
        store
            .add_evidence(case.id, "bob", stored("memory.raw", &vec![0u8; limit + 1]))
            .await,
        "content",
    );
    assert_invalid(
        store.add_evidence(case.id, "bob", stored(" ", b"x")).await,
        "name",
    );
    assert_eq!(last_seq(&store, case.id).await, before, "nothing written");

    let listed = store.evidence(case.id).await.unwrap();
    assert_eq!(listed, [item.clone(), image]);
    assert_eq!(store.case(case.id).await.unwrap().counts.evidence, 2);

    h.tamper_evidence_content(&store, item.id.0, b"Mar  1 09:00:01 nothing happened")
        .await;
    match store.evidence_content(case.id, item.id).await {
        Err(Error::IntegrityMismatch {
            what,
            expected,
            found,
            ..
        }) => {
            assert_eq!(what, "evidence");
            assert_eq!(expected, item.sha256);
            assert_ne!(found, expected);
        }
        other => panic!("expected IntegrityMismatch, got {other:?}"),
    }
    let other = store
        .create_case("alice", new_case("Unrelated"))
        .await
        .unwrap();
    assert_not_found(store.evidence_content(other.id, item.id).await);
    assert_eq!(
        timeline_kinds(&store, case.id).await,
        [
            CaseEventKind::Created,
            CaseEventKind::EvidenceAdded,
            CaseEventKind::EvidenceAdded
        ]
    );
    h.cleanup(store).await;
}

/// Custody records are appended with a timeline entry, also on a closed
/// case, and the database refuses to change or remove them.
pub async fn custody_records_are_append_only<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = store
        .create_case("alice", new_case("Laptop seized"))
        .await
        .unwrap();
    let item = store
        .add_evidence(case.id, "alice", stored("triage.zip", b"PK\x03\x04"))
        .await
        .unwrap();
    assert_invalid(
        store
            .record_custody(
                case.id,
                item.id,
                "alice",
                NewCustody {
                    action: CustodyAction::Transferred,
                    from: Some("alice".to_owned()),
                    to: None,
                    note: None,
                },
            )
            .await,
        "to",
    );
    let handoff = store
        .record_custody(
            case.id,
            item.id,
            "alice",
            NewCustody {
                action: CustodyAction::Transferred,
                from: Some("alice".to_owned()),
                to: Some("forensics".to_owned()),
                note: Some("sealed bag 114".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!((handoff.actor.as_str(), handoff.at), ("alice", clock.now()));
    store
        .change_case_status(
            case.id,
            "alice",
            StatusChange {
                to: CaseStatus::Closed,
                disposition: Some(Disposition::TruePositive),
                reason: None,
            },
        )
        .await
        .unwrap();
    clock.advance(Duration::days(30));
    let archived = store
        .record_custody(
            case.id,
            item.id,
            "forensics",
            NewCustody {
                action: CustodyAction::Archived,
                from: None,
                to: None,
                note: None,
            },
        )
        .await
        .expect("evidence is archived after closure");
    let chain = store.custody(case.id, item.id).await.unwrap();
    assert_eq!(chain, [handoff, archived]);

    let update = h.raw_update_custody(&store, item.id.0).await;
    assert!(
        update.as_ref().is_err_and(|e| e.contains("append-only")),
        "UPDATE must be rejected, got {update:?}"
    );
    let delete = h.raw_delete_custody(&store, item.id.0).await;
    assert!(
        delete.as_ref().is_err_and(|e| e.contains("append-only")),
        "DELETE must be rejected, got {delete:?}"
    );
    assert_eq!(store.custody(case.id, item.id).await.unwrap(), chain);
    let other = store
        .create_case("alice", new_case("Unrelated"))
        .await
        .unwrap();
    assert_not_found(store.custody(other.id, item.id).await);
    assert_not_found(
        store
            .record_custody(
                other.id,
                item.id,
                "alice",
                NewCustody {
                    action: CustodyAction::Reviewed,
                    from: None,
                    to: None,
                    note: None,
                },
            )
            .await,
    );
    assert_eq!(
        timeline_kinds(&store, case.id).await,
        [
            CaseEventKind::Created,
            CaseEventKind::EvidenceAdded,
            CaseEventKind::CustodyRecorded,
            CaseEventKind::StatusChange,
            CaseEventKind::CustodyRecorded,
        ]
    );
    assert_timeline_valid(&store, case.id).await;
    h.cleanup(store).await;
}

/// Comments carry their author and author kind; tasks move by the task
/// rules, with `completed_at` set on `done` and cleared out of it, and a
/// refused move names the statuses allowed.
pub async fn comments_and_tasks_are_written_with_their_entries<H: Harness>(h: &H) {
    let (store, clock) = setup(h).await;
    let case = store
        .create_case("alice", new_case("Malware on hr-07"))
        .await
        .unwrap();
    let note = store
        .add_comment(
            case.id,
            "agent:triage",
            NewComment {
                author_kind: AuthorKind::Machine,
                kind: crate::case::CommentKind::Note,
                body: "EDR quarantined invoice.exe".to_owned(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (note.author.as_str(), note.author_kind),
        ("agent:triage", AuthorKind::Machine)
    );
    assert_invalid(
        store
            .add_comment(
                case.id,
                "alice",
                NewComment {
                    author_kind: AuthorKind::Analyst,
                    kind: crate::case::CommentKind::Note,
                    body: "  ".to_owned(),
                },
            )
            .await,
        "body",
    );
    let task = store
        .create_task(
            case.id,
            "alice",
            NewTask {
                title: "Reimage hr-07".to_owned(),
                assignee: Some("bob".to_owned()),
                ..NewTask::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (task.status, task.priority, task.completed_at),
        (TaskStatus::Todo, TaskPriority::Medium, None)
    );
    let to = |status| TaskPatch {
        status: Some(status),
        ..TaskPatch::default()
    };
    store
        .update_task(case.id, task.id, "bob", to(TaskStatus::InProgress))
        .await
        .unwrap();
    clock.advance(Duration::hours(2));
    let done = store
        .update_task(case.id, task.id, "bob", to(TaskStatus::Done))
        .await
        .unwrap();
    assert_eq!(done.completed_at, Some(clock.now()));
    match store
        .update_task(case.id, task.id, "bob", to(TaskStatus::Blocked))
        .await
    {
        Err(Error::InvalidTransition {
            what,
            command,
            from,
            allowed,
        }) => {
            assert_eq!(
                (what, command, from.as_str()),
                ("a task", "move to blocked", "done")
            );
            assert_eq!(allowed, ["todo", "in_progress"]);
        }
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
    let reopened = store
        .update_task(
            case.id,
            task.id,
            "bob",
            TaskPatch {
                status: Some(TaskStatus::Todo),
                priority: Some(TaskPriority::High),
                ..TaskPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (reopened.status, reopened.completed_at),
        (TaskStatus::Todo, None)
    );
    assert_eq!(reopened.priority, TaskPriority::High);
    assert_eq!(store.tasks(case.id).await.unwrap(), [reopened]);
    assert_eq!(store.comments(case.id).await.unwrap(), [note]);
    let counts = store.case(case.id).await.unwrap().counts;
    assert_eq!(
        (counts.comments, counts.tasks, counts.open_tasks),
        (1, 1, 1)
    );
    let other = store
        .create_case("alice", new_case("Unrelated"))
        .await
        .unwrap();
    assert_not_found(
        store
            .update_task(other.id, task.id, "bob", to(TaskStatus::Done))
            .await,
    );
    assert_eq!(
        timeline_kinds(&store, case.id).await,
        [
            CaseEventKind::Created,
            CaseEventKind::CommentAdded,
            CaseEventKind::TaskCreated,
            CaseEventKind::TaskStatusChange,
            CaseEventKind::TaskStatusChange,
            CaseEventKind::TaskUpdated,
            CaseEventKind::TaskStatusChange,
        ]
    );
    assert_timeline_valid(&store, case.id).await;
    h.cleanup(store).await;
}

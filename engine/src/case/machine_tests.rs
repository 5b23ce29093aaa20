//! Tests of [`super::transition`] and [`super::merge`].
//!
//! Three layers, as for investigations: explicit tables over every (state,
//! command) pair and every (status, status) pair, which are the executable
//! form of `docs/cases.md`; focused tests of single behaviours; and
//! property tests that drive random command sequences and check the
//! invariants over the whole run.

use std::collections::HashMap;

use chrono::{Duration, TimeZone};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::case::audit::CaseReplay;
use crate::case::event::{CaseEventBody, CaseEventKind, MergeRole};
use crate::case::model::{CaseNumber, Disposition, Severity};
use crate::case::observable::ObservableType;
use crate::case::task::TaskStatus;
use crate::case::{CaseLog, normalize, sha256_hex};
use crate::log::{GENESIS, Verifier};

const ANALYST: &str = "alice";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap()
}

fn id(n: u128) -> CaseId {
    CaseId(Uuid::from_u128(n))
}

fn command(action: CaseAction) -> CaseCommand {
    CaseCommand {
        by: ANALYST.to_owned(),
        action,
    }
}

fn create_action(n: u128) -> CaseAction {
    CaseAction::Create {
        id: id(n),
        number: CaseNumber(n as i64),
        case: NewCase {
            title: format!("Case {n}"),
            severity: Severity::High,
            ..NewCase::default()
        },
        alert_owners: HashMap::new(),
    }
}

fn created(n: u128) -> Case {
    transition(None, command(create_action(n)), t0())
        .unwrap()
        .next
}

fn status_change(to: CaseStatus) -> StatusChange {
    StatusChange {
        to,
        disposition: to.is_terminal().then_some(Disposition::TruePositive),
        reason: (to == CaseStatus::Open).then(|| "back again".to_owned()),
    }
}

fn move_to(case: &Case, to: CaseStatus, now: DateTime<Utc>) -> Case {
    let patch = CasePatch {
        status: Some(status_change(to)),
        ..CasePatch::default()
    };
    transition(Some(case), command(CaseAction::Update(patch)), now)
        .unwrap_or_else(|e| panic!("{} -> {to}: {e}", case.status))
        .next
}

fn new_observable(kind: ObservableType, value: &str) -> NewObservable {
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

/// A stored observable of `case`.
fn observable_of(case: &Case) -> Observable {
    Observable {
        id: ObservableId(Uuid::from_u128(0x0b5)),
        case_id: case.id,
        kind: ObservableType::Ip,
        value: "185.220.101.4".to_owned(),
        source: None,
        sightings: 1,
        first_seen: t0(),
        last_seen: t0(),
        tlp: Tlp::Amber,
        pap: Pap::Amber,
        enrichment: json!({}),
        tags: Vec::new(),
        created_by: ANALYST.to_owned(),
        updated_at: t0(),
    }
}

/// A stored evidence item of `case`.
fn evidence_of(case: &Case) -> Evidence {
    Evidence {
        id: EvidenceId(Uuid::from_u128(0xe71)),
        case_id: case.id,
        name: "auth.log".to_owned(),
        kind: EvidenceKind::Log,
        description: String::new(),
        sha256: "ab".repeat(32),
        size_bytes: Some(10),
        uri: None,
        collected_by: ANALYST.to_owned(),
        collected_at: t0(),
        created_at: t0(),
    }
}

/// A stored task of `case`.
fn task_of(case: &Case) -> Task {
    Task {
        id: TaskId(Uuid::from_u128(0x7a5)),
        case_id: case.id,
        title: "Reset the VPN password".to_owned(),
        description: String::new(),
        status: TaskStatus::Todo,
        priority: TaskPriority::Medium,
        assignee: None,
        due_at: None,
        completed_at: None,
        created_by: ANALYST.to_owned(),
        created_at: t0(),
        updated_at: t0(),
    }
}

// ---------------------------------------------------------------------------
// The status table: every (from, to) pair once.
// ---------------------------------------------------------------------------

mod statuses {
    use crate::case::model::CaseStatus::{self, *};

    const Y: bool = true;
    const N: bool = false;

    /// Whether a well-formed change (disposition given for `resolved` and
    /// `closed`, a reason for a reopen) from the row's status to each status
    /// of [`CaseStatus::ALL`] is allowed.
    #[rustfmt::skip]
    pub(super) const TABLE: [(CaseStatus, [bool; 11]); 11] = [
        //                open in_pr pe_ap cont erad reco reso clos pend inve esca
        (Open,            [N,   Y,   Y,    Y,   Y,   Y,   Y,   Y,   Y,   N,   N]),
        (InProgress,      [N,   N,   Y,    Y,   Y,   Y,   Y,   Y,   Y,   N,   N]),
        (PendingApproval, [N,   N,   N,    Y,   Y,   Y,   Y,   Y,   Y,   N,   N]),
        (Contained,       [N,   N,   N,    N,   Y,   Y,   Y,   Y,   Y,   N,   N]),
        (Eradicated,      [N,   N,   N,    N,   N,   Y,   Y,   Y,   Y,   N,   N]),
        (Recovered,       [N,   N,   N,    N,   N,   N,   Y,   Y,   Y,   N,   N]),
        (Resolved,        [N,   N,   N,    N,   N,   N,   N,   Y,   N,   N,   N]),
        (Closed,          [Y,   N,   N,    N,   N,   N,   N,   N,   N,   N,   N]),
        (Pending,         [Y,   Y,   Y,    Y,   Y,   Y,   Y,   Y,   N,   N,   N]),
        (Investigating,   [Y,   Y,   Y,    Y,   Y,   Y,   Y,   Y,   Y,   N,   N]),
        (Escalated,       [Y,   Y,   Y,    Y,   Y,   Y,   Y,   Y,   Y,   N,   N]),
    ];
}

/// A case in `status`: reached through the machine where commands lead
/// there, stored as a legacy row otherwise.
fn case_in(status: CaseStatus) -> Case {
    let mut case = created(1);
    if status.is_legacy() {
        case.status = status;
        return case;
    }
    let path: &[CaseStatus] = match status {
        CaseStatus::Open => &[],
        CaseStatus::Closed => &[CaseStatus::Closed],
        other => &[other][..],
    };
    for to in path {
        case = move_to(&case, *to, t0() + Duration::minutes(1));
    }
    assert_eq!(case.status, status);
    case
}

#[test]
fn status_table_names_every_pair_once() {
    assert_eq!(statuses::TABLE.len(), CaseStatus::ALL.len());
    for (row, (from, _)) in statuses::TABLE.iter().enumerate() {
        assert_eq!(*from, CaseStatus::ALL[row], "rows in declaration order");
    }
}

#[test]
fn every_status_pair_matches_the_table() {
    let now = t0() + Duration::hours(1);
    for (from, row) in statuses::TABLE {
        let case = case_in(from);
        for (to, allowed) in CaseStatus::ALL.iter().copied().zip(row) {
            assert_eq!(from.may_move_to(to), allowed, "{from} -> {to}");
            let patch = CasePatch {
                status: Some(status_change(to)),
                ..CasePatch::default()
            };
            let result = transition(Some(&case), command(CaseAction::Update(patch)), now);
            match result {
                Ok(t) => {
                    assert!(allowed, "{from} -> {to} should be refused");
                    assert_eq!(t.next.status, to);
                    assert_eq!(t.next.status_changed_at, now);
                    assert_eq!(t.next.disposition.is_some(), to.is_terminal());
                    let kinds: Vec<CaseEventKind> = t.entries.iter().map(|e| e.kind).collect();
                    assert_eq!(kinds, [CaseEventKind::StatusChange]);
                }
                Err(CaseTransitionError::InvalidStatus {
                    from: f,
                    to: t,
                    allowed: next,
                }) => {
                    assert!(!allowed, "{from} -> {to} should be allowed");
                    assert_eq!((f, t), (from, to));
                    assert_eq!(next, from.allowed_next());
                    assert!(!next.contains(&to));
                }
                Err(e) => panic!("{from} -> {to}: unexpected {e:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The command table: every (state, command) pair once.
// ---------------------------------------------------------------------------

/// The states of `docs/cases.md`: no case, each status, deleted, merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Absent,
    Status(CaseStatus),
    Deleted,
    Merged,
}

impl State {
    fn of(case: Option<&Case>) -> State {
        match case {
            None => State::Absent,
            Some(c) if c.deleted_at.is_some() => State::Deleted,
            Some(c) if c.merged_into.is_some() => State::Merged,
            Some(c) => State::Status(c.status),
        }
    }
}

/// The command variants, without their parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Create,
    Update,
    ChangeStatus,
    Delete,
    LinkAlert,
    AddObservable,
    UpdateObservable,
    AddEvidence,
    RecordCustody,
    AddComment,
    CreateTask,
    UpdateTask,
}

impl Cmd {
    const ALL: [Cmd; 12] = [
        Cmd::Create,
        Cmd::Update,
        Cmd::ChangeStatus,
        Cmd::Delete,
        Cmd::LinkAlert,
        Cmd::AddObservable,
        Cmd::UpdateObservable,
        Cmd::AddEvidence,
        Cmd::RecordCustody,
        Cmd::AddComment,
        Cmd::CreateTask,
        Cmd::UpdateTask,
    ];

    /// Exhaustive over [`CaseAction`], so a new action fails to compile
    /// here until the table covers it.
    fn of(action: &CaseAction) -> Cmd {
        match action {
            CaseAction::Create { .. } => Cmd::Create,
            CaseAction::Update(patch) if patch.has_fields() => Cmd::Update,
            CaseAction::Update(_) => Cmd::ChangeStatus,
            CaseAction::Delete { .. } => Cmd::Delete,
            CaseAction::LinkAlert { .. } => Cmd::LinkAlert,
            CaseAction::AddObservable { .. } => Cmd::AddObservable,
            CaseAction::UpdateObservable { .. } => Cmd::UpdateObservable,
            CaseAction::AddEvidence { .. } => Cmd::AddEvidence,
            CaseAction::RecordCustody { .. } => Cmd::RecordCustody,
            CaseAction::AddComment { .. } => Cmd::AddComment,
            CaseAction::CreateTask { .. } => Cmd::CreateTask,
            CaseAction::UpdateTask { .. } => Cmd::UpdateTask,
        }
    }

    /// The entry kinds a successful command from the table appends.
    fn kinds(self) -> Vec<CaseEventKind> {
        match self {
            Cmd::Create => vec![CaseEventKind::Created],
            Cmd::Update => vec![CaseEventKind::FieldChange],
            Cmd::ChangeStatus => vec![CaseEventKind::StatusChange],
            Cmd::Delete => vec![CaseEventKind::CaseDeleted],
            Cmd::LinkAlert => vec![CaseEventKind::AlertLinked],
            Cmd::AddObservable => vec![CaseEventKind::ObservableAdded],
            Cmd::UpdateObservable => vec![CaseEventKind::ObservableUpdated],
            Cmd::AddEvidence => vec![CaseEventKind::EvidenceAdded],
            Cmd::RecordCustody => vec![CaseEventKind::CustodyRecorded],
            Cmd::AddComment => vec![CaseEventKind::CommentAdded],
            Cmd::CreateTask => vec![CaseEventKind::TaskCreated],
            Cmd::UpdateTask => vec![CaseEventKind::TaskStatusChange],
        }
    }
}

/// What a command does from a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Succeeds, leading to the state.
    To(State),
    /// The state refuses the command.
    NotAllowed,
}

/// The status the table's `change_status` moves to from `status`.
fn table_target(status: CaseStatus) -> CaseStatus {
    match status {
        CaseStatus::Open
        | CaseStatus::Pending
        | CaseStatus::Investigating
        | CaseStatus::Escalated => CaseStatus::InProgress,
        CaseStatus::InProgress => CaseStatus::PendingApproval,
        CaseStatus::PendingApproval => CaseStatus::Contained,
        CaseStatus::Contained => CaseStatus::Eradicated,
        CaseStatus::Eradicated => CaseStatus::Recovered,
        CaseStatus::Recovered => CaseStatus::Resolved,
        CaseStatus::Resolved => CaseStatus::Closed,
        CaseStatus::Closed => CaseStatus::Open,
    }
}

mod table {
    use super::Outcome::{self, *};
    use super::State::{self, *};
    use crate::case::model::CaseStatus::{self as S};

    const NA: Outcome = NotAllowed;
    const fn to(s: S) -> Outcome {
        To(Status(s))
    }
    const DEL: Outcome = To(Deleted);

    /// An active (or resolved) case accepts every command but create; a
    /// status change moves it to [`super::table_target`], anything else
    /// leaves it where it is.
    const fn live(s: S, next: S) -> (State, [Outcome; 12]) {
        (
            Status(s),
            [
                NA,
                to(s),
                to(next),
                DEL,
                to(s),
                to(s),
                to(s),
                to(s),
                to(s),
                to(s),
                to(s),
                to(s),
            ],
        )
    }

    /// Per state, the outcome of each command of `Cmd::ALL`, in order:
    /// create, update, change_status, delete, link_alert, add_observable,
    /// update_observable, add_evidence, record_custody, add_comment,
    /// create_task, update_task.
    pub(super) const TABLE: [(State, [Outcome; 12]); 14] = [
        (
            Absent,
            [
                To(Status(S::Open)),
                NA,
                NA,
                NA,
                NA,
                NA,
                NA,
                NA,
                NA,
                NA,
                NA,
                NA,
            ],
        ),
        live(S::Open, S::InProgress),
        live(S::InProgress, S::PendingApproval),
        live(S::PendingApproval, S::Contained),
        live(S::Contained, S::Eradicated),
        live(S::Eradicated, S::Recovered),
        live(S::Recovered, S::Resolved),
        live(S::Resolved, S::Closed),
        // Closed: reopen, comments, custody (archiving) and delete only.
        (
            Status(S::Closed),
            [
                NA,
                NA,
                to(S::Open),
                DEL,
                NA,
                NA,
                NA,
                NA,
                to(S::Closed),
                to(S::Closed),
                NA,
                NA,
            ],
        ),
        live(S::Pending, S::InProgress),
        live(S::Investigating, S::InProgress),
        live(S::Escalated, S::InProgress),
        (Deleted, [NA; 12]),
        (Merged, [NA; 12]),
    ];
}

/// A case in `state`, reached through the machine (legacy statuses are
/// stored rows).
fn fixture(state: State) -> Option<Case> {
    match state {
        State::Absent => None,
        State::Status(status) => Some(case_in(status)),
        State::Deleted => {
            let case = created(1);
            let t = transition(
                Some(&case),
                command(CaseAction::Delete { reason: None }),
                t0() + Duration::minutes(1),
            )
            .unwrap();
            Some(t.next)
        }
        State::Merged => {
            let target = created(2);
            let source = MergeSource {
                case: created(1),
                observables: Vec::new(),
                evidence: 0,
                comments: 0,
                tasks: 0,
            };
            let m = merge(
                &target,
                Vec::new(),
                vec![source],
                Some(Disposition::Benign),
                ANALYST,
                t0() + Duration::minutes(1),
            )
            .unwrap();
            Some(m.sources[0].next.clone())
        }
    }
}

/// A well-formed instance of `cmd` for `case`.
fn table_action(cmd: Cmd, case: Option<&Case>) -> CaseAction {
    let stand_in = created(9);
    let c = case.unwrap_or(&stand_in);
    match cmd {
        Cmd::Create => create_action(3),
        Cmd::Update => CaseAction::Update(CasePatch {
            title: Some("Renamed".to_owned()),
            ..CasePatch::default()
        }),
        Cmd::ChangeStatus => CaseAction::Update(CasePatch {
            status: Some(status_change(table_target(c.status))),
            ..CasePatch::default()
        }),
        Cmd::Delete => CaseAction::Delete {
            reason: Some("duplicate".to_owned()),
        },
        Cmd::LinkAlert => CaseAction::LinkAlert {
            alert_id: "det-1".to_owned(),
            owner: None,
        },
        Cmd::AddObservable => CaseAction::AddObservable {
            id: ObservableId(Uuid::from_u128(0x0b6)),
            observable: new_observable(ObservableType::Domain, "evil.example.com"),
            existing: None,
        },
        Cmd::UpdateObservable => CaseAction::UpdateObservable {
            current: observable_of(c),
            patch: ObservablePatch {
                tlp: Some(Tlp::Red),
                ..ObservablePatch::default()
            },
        },
        Cmd::AddEvidence => CaseAction::AddEvidence {
            id: EvidenceId(Uuid::from_u128(0xe72)),
            input: EvidenceInput {
                evidence: NewEvidence {
                    name: "flows.csv".to_owned(),
                    kind: EvidenceKind::NetworkFlow,
                    content: Some(b"src,dst".to_vec()),
                    ..NewEvidence::default()
                },
                max_content_bytes: DEFAULT_EVIDENCE_LIMIT,
            },
        },
        Cmd::RecordCustody => CaseAction::RecordCustody {
            id: CustodyId(Uuid::from_u128(0xc05)),
            evidence: evidence_of(c),
            record: NewCustody {
                action: CustodyAction::Reviewed,
                from: None,
                to: None,
                note: None,
            },
        },
        Cmd::AddComment => CaseAction::AddComment {
            id: CommentId(Uuid::from_u128(0xc0e)),
            comment: NewComment {
                author_kind: AuthorKind::Analyst,
                kind: crate::case::CommentKind::Note,
                body: "looked at the proxy logs".to_owned(),
            },
        },
        Cmd::CreateTask => CaseAction::CreateTask {
            id: TaskId(Uuid::from_u128(0x7a6)),
            task: NewTask {
                title: "Block the domain".to_owned(),
                ..NewTask::default()
            },
        },
        Cmd::UpdateTask => CaseAction::UpdateTask {
            current: task_of(c),
            patch: TaskPatch {
                status: Some(TaskStatus::InProgress),
                ..TaskPatch::default()
            },
        },
    }
}

#[test]
fn command_table_names_every_state_once() {
    let mut states = vec![State::Absent];
    states.extend(CaseStatus::ALL.iter().map(|s| State::Status(*s)));
    states.extend([State::Deleted, State::Merged]);
    for state in states {
        let rows = table::TABLE.iter().filter(|(s, _)| *s == state).count();
        assert_eq!(rows, 1, "{state:?} appears {rows} times");
    }
    assert_eq!(table::TABLE.len(), 14);
}

#[test]
fn every_state_command_pair_matches_the_table() {
    let now = t0() + Duration::hours(1);
    let mut mismatches = Vec::new();
    for (state, row) in table::TABLE {
        let case = fixture(state);
        assert_eq!(State::of(case.as_ref()), state, "fixture for {state:?}");
        for (cmd, expected) in Cmd::ALL.iter().copied().zip(row) {
            let action = table_action(cmd, case.as_ref());
            assert_eq!(Cmd::of(&action), cmd);
            let name = action.name();
            let result = transition(case.as_ref(), command(action), now);
            let got = match &result {
                Ok(t) => Outcome::To(State::of(Some(&t.next))),
                Err(CaseTransitionError::NotAllowed { .. }) => Outcome::NotAllowed,
                Err(e) => {
                    mismatches.push(format!("{state:?} + {cmd:?}: unexpected {e}"));
                    continue;
                }
            };
            if got != expected {
                mismatches.push(format!(
                    "{state:?} + {cmd:?}: expected {expected:?}, got {result:?}"
                ));
                continue;
            }
            match result {
                Ok(t) => {
                    let accepted = allowed_commands(case.as_ref());
                    assert!(
                        accepted.contains(&name) || case.is_none(),
                        "{state:?}: {name} succeeded but is not allowed"
                    );
                    let kinds: Vec<CaseEventKind> = t.entries.iter().map(|e| e.kind).collect();
                    assert_eq!(kinds, cmd.kinds(), "{state:?} + {cmd:?}");
                    let (seq, hash) = case.as_ref().map_or((0, GENESIS.to_owned()), |c| {
                        (c.last_seq, c.last_hash.clone())
                    });
                    assert_eq!(t.entries[0].seq, seq + 1);
                    assert_eq!(t.entries[0].prev_hash, hash);
                    assert_eq!(t.next.last_seq, t.entries.last().unwrap().seq);
                    assert_eq!(t.next.updated_at, now, "{state:?} + {cmd:?}");
                    assert!(t.entries.iter().all(|e| e.actor == ANALYST && e.epoch == 0));
                    if let Some(c) = &case {
                        let moved = t.next.status != c.status;
                        assert_eq!(
                            t.next.status_changed_at == now,
                            moved,
                            "{state:?} + {cmd:?}: status_changed_at"
                        );
                    }
                }
                Err(CaseTransitionError::NotAllowed {
                    command,
                    from,
                    allowed,
                }) => {
                    assert_eq!(command, name);
                    assert_eq!(allowed, allowed_commands(case.as_ref()));
                    assert!(!allowed.contains(&command));
                    let expected_from = case.as_ref().map_or("absent".to_owned(), Case::state_name);
                    assert_eq!(from, expected_from);
                }
                Err(_) => unreachable!("other refusals were recorded above"),
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

// ---------------------------------------------------------------------------
// Focused behaviour.
// ---------------------------------------------------------------------------

#[test]
fn create_starts_the_timeline_at_genesis_and_links_alerts_sorted() {
    let mut owners = HashMap::new();
    owners.insert("a-owned".to_owned(), id(77));
    let action = |alerts: Vec<&str>, owners: HashMap<String, CaseId>| CaseAction::Create {
        id: id(1),
        number: CaseNumber(1),
        case: NewCase {
            title: "Brute force".to_owned(),
            alert_ids: alerts.into_iter().map(str::to_owned).collect(),
            ..NewCase::default()
        },
        alert_owners: owners,
    };
    let t = transition(
        None,
        command(action(vec!["b", "a", "b"], HashMap::new())),
        t0(),
    )
    .unwrap();
    assert_eq!(t.entries[0].prev_hash, GENESIS);
    assert_eq!(t.next.alert_ids, ["a", "b"], "sorted, each once");
    assert_eq!(t.entries.len(), 3);
    assert_eq!(t.writes.len(), 2);
    match transition(None, command(action(vec!["a-owned"], owners)), t0()) {
        Err(CaseTransitionError::AlertLinkedElsewhere { case_id, .. }) => {
            assert_eq!(case_id, id(77))
        }
        other => panic!("expected AlertLinkedElsewhere, got {other:?}"),
    }
}

#[test]
fn a_patch_that_changes_nothing_writes_nothing() {
    let case = created(1);
    let patch = CasePatch {
        title: Some(case.title.clone()),
        severity: Some(case.severity),
        assignee: Some(None),
        ..CasePatch::default()
    };
    let t = transition(
        Some(&case),
        command(CaseAction::Update(patch)),
        t0() + Duration::hours(1),
    )
    .unwrap();
    assert!(!t.changes_anything());
    assert_eq!(t.next, case, "not even updated_at moves");
}

#[test]
fn closing_keeps_a_resolved_disposition_and_reopening_clears_it() {
    let resolved = move_to(&created(1), CaseStatus::Resolved, t0());
    let patch = |change| CasePatch {
        status: Some(change),
        ..CasePatch::default()
    };
    let close = StatusChange {
        to: CaseStatus::Closed,
        disposition: None,
        reason: None,
    };
    let closed = transition(
        Some(&resolved),
        command(CaseAction::Update(patch(close))),
        t0(),
    )
    .unwrap()
    .next;
    assert_eq!(closed.disposition, Some(Disposition::TruePositive));
    let silent_reopen = StatusChange {
        to: CaseStatus::Open,
        disposition: None,
        reason: Some("  ".to_owned()),
    };
    match transition(
        Some(&closed),
        command(CaseAction::Update(patch(silent_reopen))),
        t0(),
    ) {
        Err(CaseTransitionError::InvalidInput { field, .. }) => assert_eq!(field, "reason"),
        other => panic!("expected a missing reason, got {other:?}"),
    }
    let reopened = move_to(&closed, CaseStatus::Open, t0());
    assert_eq!(reopened.disposition, None);
}

#[test]
fn a_sighting_counts_on_the_stored_observable() {
    let case = created(1);
    let stored = observable_of(&case);
    let later = t0() + Duration::minutes(5);
    let t = transition(
        Some(&case),
        command(CaseAction::AddObservable {
            id: ObservableId(Uuid::from_u128(0xfff)),
            observable: NewObservable {
                tags: vec!["Tor".to_owned()],
                enrichment: Some(json!({"tor_exit": true})),
                ..new_observable(ObservableType::Ip, " 185.220.101.4 ")
            },
            existing: Some(stored.clone()),
        }),
        later,
    )
    .unwrap();
    match &t.writes[..] {
        [CaseWrite::UpdateObservable(o)] => {
            assert_eq!(o.id, stored.id, "the stored observable, not a new one");
            assert_eq!((o.sightings, o.last_seen, o.first_seen), (2, later, t0()));
            assert_eq!(o.tags, ["tor"]);
            assert_eq!(o.enrichment, json!({"tor_exit": true}));
        }
        other => panic!("expected one observable update, got {other:?}"),
    }
    let bad = transition(
        Some(&case),
        command(CaseAction::AddObservable {
            id: ObservableId(Uuid::from_u128(0xfff)),
            observable: new_observable(ObservableType::HashMd5, "not-a-hash"),
            existing: None,
        }),
        later,
    );
    assert!(
        matches!(
            bad,
            Err(CaseTransitionError::InvalidInput { field: "value", .. })
        ),
        "{bad:?}"
    );
}

#[test]
fn evidence_over_the_limit_is_refused_on_content() {
    let case = created(1);
    let action = |content: Vec<u8>| CaseAction::AddEvidence {
        id: EvidenceId(Uuid::from_u128(1)),
        input: EvidenceInput {
            evidence: NewEvidence {
                name: "dump".to_owned(),
                content: Some(content),
                ..NewEvidence::default()
            },
            max_content_bytes: 4,
        },
    };
    let ok = transition(Some(&case), command(action(b"1234".to_vec())), t0()).unwrap();
    match &ok.writes[..] {
        [CaseWrite::InsertEvidence { evidence, content }] => {
            assert_eq!(evidence.sha256, sha256_hex(b"1234"));
            assert_eq!(evidence.size_bytes, Some(4));
            assert_eq!(content.as_deref(), Some(&b"1234"[..]));
        }
        other => panic!("expected one evidence insert, got {other:?}"),
    }
    let big = transition(Some(&case), command(action(b"12345".to_vec())), t0());
    assert!(
        matches!(
            big,
            Err(CaseTransitionError::InvalidInput {
                field: "content",
                ..
            })
        ),
        "{big:?}"
    );
}

fn observable(
    case: &Case,
    n: u128,
    kind: ObservableType,
    value: &str,
    sightings: i64,
) -> Observable {
    Observable {
        id: ObservableId(Uuid::from_u128(n)),
        kind,
        value: value.to_owned(),
        sightings,
        ..observable_of(case)
    }
}

#[test]
fn merge_sums_sightings_moves_the_rest_and_closes_sources() {
    let target = created(1);
    let a = MergeSource {
        case: Case {
            alert_ids: vec!["a-2".to_owned(), "a-1".to_owned()],
            ..created(2)
        },
        observables: vec![
            observable(&created(2), 20, ObservableType::Ip, "10.0.0.1", 3),
            observable(&created(2), 21, ObservableType::Domain, "x.example", 1),
        ],
        evidence: 2,
        comments: 1,
        tasks: 0,
    };
    let b = MergeSource {
        case: created(3),
        observables: vec![observable(
            &created(3),
            30,
            ObservableType::Domain,
            "x.example",
            4,
        )],
        evidence: 0,
        comments: 0,
        tasks: 1,
    };
    let target_observables = vec![observable(&target, 10, ObservableType::Ip, "10.0.0.1", 2)];
    let now = t0() + Duration::hours(1);
    let m = merge(
        &target,
        target_observables,
        vec![a, b],
        Some(Disposition::Benign),
        ANALYST,
        now,
    )
    .unwrap();
    assert_eq!(m.target.next.alert_ids, ["a-1", "a-2"]);
    let final_obs: Vec<(u128, i64)> = m
        .sources
        .iter()
        .chain([&m.target])
        .flat_map(|t| t.writes.iter())
        .filter_map(|w| match w {
            CaseWrite::UpdateObservable(o) => Some((o.id.0.as_u128(), o.sightings)),
            _ => None,
        })
        .collect();
    // A's domain moves (1), then B's is folded into it (5); A's address is
    // folded into the target's (5).
    assert_eq!(final_obs, [(21, 1), (10, 5), (21, 5)]);
    let deleted: Vec<u128> = m
        .sources
        .iter()
        .flat_map(|t| t.writes.iter())
        .filter_map(|w| match w {
            CaseWrite::DeleteObservable(id) => Some(id.0.as_u128()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, [20, 30]);
    for source in &m.sources {
        assert_eq!(source.next.status, CaseStatus::Closed);
        assert_eq!(source.next.disposition, Some(Disposition::Benign));
        assert_eq!(source.next.merged_into, Some(target.id));
        assert!(source.next.alert_ids.is_empty());
        let kinds: Vec<CaseEventKind> = source.entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [CaseEventKind::CaseMerged, CaseEventKind::StatusChange]
        );
    }
    match m.target.entries[0].body().unwrap() {
        CaseEventBody::CaseMerged {
            role: MergeRole::Target { sources },
            summary,
            ..
        } => {
            assert_eq!(sources.len(), 2);
            assert_eq!(
                summary,
                "Merged 2 cases: 2 alerts, 3 observables, 2 evidence items, 1 comment, 1 task moved"
            );
        }
        other => panic!("expected case_merged, got {other:?}"),
    }
    assert_eq!(m.target.next.status, target.status);
    assert_eq!(m.target.next.updated_at, now);
}

#[test]
fn merge_needs_a_disposition_and_a_live_target() {
    let target = created(1);
    let source = || MergeSource {
        case: created(2),
        observables: Vec::new(),
        evidence: 0,
        comments: 0,
        tasks: 0,
    };
    let field = |r: Result<MergeTransition, CaseTransitionError>| match r {
        Err(CaseTransitionError::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(
        field(merge(
            &target,
            Vec::new(),
            vec![source()],
            None,
            ANALYST,
            t0()
        )),
        "disposition"
    );
    assert_eq!(
        field(merge(
            &target,
            Vec::new(),
            Vec::new(),
            Some(Disposition::Benign),
            ANALYST,
            t0()
        )),
        "sources"
    );
    let closed = move_to(&target, CaseStatus::Closed, t0());
    assert!(matches!(
        merge(&closed, Vec::new(), vec![source()], None, ANALYST, t0()),
        Err(CaseTransitionError::NotAllowed {
            command: "merge",
            ..
        })
    ));
    // The target's own disposition wins over the caller's.
    let resolved = move_to(&target, CaseStatus::Resolved, t0());
    let m = merge(
        &resolved,
        Vec::new(),
        vec![source()],
        Some(Disposition::Benign),
        ANALYST,
        t0(),
    )
    .unwrap();
    assert_eq!(
        m.sources[0].next.disposition,
        Some(Disposition::TruePositive)
    );
}

// ---------------------------------------------------------------------------
// Properties over random command sequences.
// ---------------------------------------------------------------------------

/// A random step.
#[derive(Debug, Clone)]
enum Op {
    Edit {
        blank_title: bool,
        severity: usize,
        assignee: Option<usize>,
    },
    Status {
        to: usize,
        disposition: Option<usize>,
        reason: bool,
    },
    Delete,
    Link {
        alert: usize,
        elsewhere: bool,
    },
    Sighting {
        value: usize,
    },
    Comment {
        blank: bool,
    },
    Task,
    MoveTask {
        to: usize,
    },
    Evidence {
        bytes: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 0usize..5, proptest::option::of(0usize..3)).prop_map(
            |(blank_title, severity, assignee)| Op::Edit { blank_title, severity, assignee }
        ),
        8 => (0usize..11, proptest::option::of(0usize..4), any::<bool>())
            .prop_map(|(to, disposition, reason)| Op::Status { to, disposition, reason }),
        1 => Just(Op::Delete),
        2 => (0usize..4, prop::bool::weighted(0.2))
            .prop_map(|(alert, elsewhere)| Op::Link { alert, elsewhere }),
        3 => (0usize..4).prop_map(|value| Op::Sighting { value }),
        2 => prop::bool::weighted(0.2).prop_map(|blank| Op::Comment { blank }),
        1 => Just(Op::Task),
        2 => (0usize..4).prop_map(|to| Op::MoveTask { to }),
        1 => (0usize..12).prop_map(|bytes| Op::Evidence { bytes }),
    ]
}

const VALUES: [(ObservableType, &str); 4] = [
    (ObservableType::Ip, "185.220.101.4"),
    (ObservableType::Domain, "Evil.Example.com"),
    (ObservableType::Domain, "evil.example.com."),
    (ObservableType::Ip, "not an address"),
];

/// A case driven through the machine, with the records its writes made.
struct Run {
    case: Case,
    now: DateTime<Utc>,
    entries: Vec<crate::case::CaseEvent>,
    observables: HashMap<(ObservableType, String), Observable>,
    tasks: Vec<Task>,
    started_legacy: bool,
}

impl Run {
    fn action(&self, op: &Op, step: usize) -> CaseAction {
        match op {
            Op::Edit {
                blank_title,
                severity,
                assignee,
            } => CaseAction::Update(CasePatch {
                title: Some(if *blank_title {
                    " ".to_owned()
                } else {
                    format!("Title {step}")
                }),
                severity: Some(Severity::ALL[*severity]),
                assignee: Some(assignee.map(|a| format!("analyst-{a}"))),
                ..CasePatch::default()
            }),
            Op::Status {
                to,
                disposition,
                reason,
            } => CaseAction::Update(CasePatch {
                status: Some(StatusChange {
                    to: CaseStatus::ALL[*to],
                    disposition: disposition.map(|d| Disposition::ALL[d]),
                    reason: reason.then(|| "because".to_owned()),
                }),
                ..CasePatch::default()
            }),
            Op::Delete => CaseAction::Delete { reason: None },
            Op::Link { alert, elsewhere } => CaseAction::LinkAlert {
                alert_id: format!("alert-{alert}"),
                owner: elsewhere.then(|| id(99)),
            },
            Op::Sighting { value } => {
                let (kind, raw) = VALUES[*value];
                let existing = normalize(kind, raw)
                    .ok()
                    .and_then(|v| self.observables.get(&(kind, v)).cloned());
                CaseAction::AddObservable {
                    id: ObservableId(Uuid::from_u128(1000 + step as u128)),
                    observable: new_observable(kind, raw),
                    existing,
                }
            }
            Op::Comment { blank } => CaseAction::AddComment {
                id: CommentId(Uuid::from_u128(2000 + step as u128)),
                comment: NewComment {
                    author_kind: AuthorKind::Analyst,
                    kind: crate::case::CommentKind::Note,
                    body: if *blank {
                        String::new()
                    } else {
                        format!("note {step}")
                    },
                },
            },
            Op::Task => CaseAction::CreateTask {
                id: TaskId(Uuid::from_u128(3000 + step as u128)),
                task: NewTask {
                    title: format!("task {step}"),
                    ..NewTask::default()
                },
            },
            Op::MoveTask { to } => match self.tasks.last() {
                Some(task) => CaseAction::UpdateTask {
                    current: task.clone(),
                    patch: TaskPatch {
                        status: Some(TaskStatus::ALL[*to]),
                        ..TaskPatch::default()
                    },
                },
                None => CaseAction::AddComment {
                    id: CommentId(Uuid::from_u128(4000 + step as u128)),
                    comment: NewComment {
                        author_kind: AuthorKind::Machine,
                        kind: crate::case::CommentKind::Note,
                        body: "no task yet".to_owned(),
                    },
                },
            },
            Op::Evidence { bytes } => CaseAction::AddEvidence {
                id: EvidenceId(Uuid::from_u128(5000 + step as u128)),
                input: EvidenceInput {
                    evidence: NewEvidence {
                        name: format!("item {step}"),
                        content: Some(vec![7; *bytes]),
                        ..NewEvidence::default()
                    },
                    max_content_bytes: 8,
                },
            },
        }
    }

    fn accept(&mut self, t: &CaseTransition) {
        for write in &t.writes {
            match write {
                CaseWrite::InsertObservable(o) | CaseWrite::UpdateObservable(o) => {
                    self.observables
                        .insert((o.kind, o.value.clone()), o.clone());
                }
                CaseWrite::InsertTask(task) => self.tasks.push(task.clone()),
                CaseWrite::UpdateTask(task) => {
                    if let Some(slot) = self.tasks.iter_mut().find(|t| t.id == task.id) {
                        *slot = task.clone();
                    }
                }
                CaseWrite::LinkAlert { .. }
                | CaseWrite::DetachAlerts { .. }
                | CaseWrite::MoveAlerts { .. }
                | CaseWrite::DeleteObservable(_)
                | CaseWrite::InsertEvidence { .. }
                | CaseWrite::InsertCustody(_)
                | CaseWrite::InsertComment(_)
                | CaseWrite::MoveRecords { .. } => {}
            }
        }
        self.entries.extend(t.entries.iter().cloned());
        self.case = t.next.clone();
    }
}

fn run_steps(start: usize, steps: &[(i64, Op)]) -> Result<(), TestCaseError> {
    let start = CaseStatus::ALL[start];
    let mut run = Run {
        case: created(1),
        now: t0(),
        entries: Vec::new(),
        observables: HashMap::new(),
        tasks: Vec::new(),
        started_legacy: start.is_legacy(),
    };
    run.entries = transition(None, command(create_action(1)), t0())
        .unwrap()
        .entries;
    if start.is_legacy() {
        run.case.status = start;
    } else if start != CaseStatus::Open {
        let t = transition(
            Some(&run.case),
            command(CaseAction::Update(CasePatch {
                status: Some(status_change(start)),
                ..CasePatch::default()
            })),
            t0(),
        )
        .unwrap();
        run.accept(&t);
    }
    let mut sightings: HashMap<(ObservableType, String), i64> = HashMap::new();
    for (step, (secs, op)) in steps.iter().enumerate() {
        run.now += Duration::seconds(*secs);
        let before = run.case.clone();
        let action = run.action(op, step);
        let sighted = match &action {
            CaseAction::AddObservable { observable, .. } => {
                normalize(observable.kind, &observable.value)
                    .ok()
                    .map(|v| (observable.kind, v))
            }
            _ => None,
        };
        let result = transition(Some(&before), command(action), run.now);
        match &result {
            Err(CaseTransitionError::InvalidStatus { from, to, allowed }) => {
                prop_assert_eq!(*from, before.status);
                prop_assert_eq!(allowed, &from.allowed_next());
                prop_assert!(!allowed.contains(to));
            }
            Err(CaseTransitionError::NotAllowed {
                allowed, command, ..
            }) => {
                prop_assert_eq!(allowed, &allowed_commands(Some(&before)));
                prop_assert!(!allowed.contains(command));
            }
            Err(_) => {}
            Ok(t) => {
                prop_assert!(!before.is_retired(), "a retired case accepted {:?}", op);
                if t.changes_anything() {
                    prop_assert_eq!(t.next.updated_at, run.now);
                    prop_assert_eq!(t.entries[0].seq, before.last_seq + 1);
                    prop_assert_eq!(&t.entries[0].prev_hash, &before.last_hash);
                } else {
                    prop_assert_eq!(&t.next, &before);
                }
                if t.next.status == before.status {
                    prop_assert_eq!(t.next.status_changed_at, before.status_changed_at);
                } else {
                    prop_assert_eq!(t.next.status_changed_at, run.now);
                    prop_assert!(!t.next.status.is_legacy(), "entered {}", t.next.status);
                    if before.status == CaseStatus::Closed {
                        prop_assert_eq!(t.next.status, CaseStatus::Open);
                        prop_assert_eq!(t.next.disposition, None);
                    }
                }
                if let Some(key) = sighted {
                    *sightings.entry(key).or_default() += 1;
                }
                run.accept(t);
            }
        }
        let case = &run.case;
        if !(run.started_legacy && case.status.is_legacy()) {
            prop_assert_eq!(
                case.disposition.is_some(),
                case.status.is_terminal(),
                "{:?}",
                case
            );
        }
        for task in &run.tasks {
            prop_assert_eq!(task.completed_at.is_some(), task.status == TaskStatus::Done);
        }
    }
    for (key, count) in &sightings {
        prop_assert_eq!(run.observables[key].sightings, *count);
    }
    let mut verifier = Verifier::<CaseLog>::new(run.case.id);
    for (i, entry) in run.entries.iter().enumerate() {
        prop_assert_eq!(entry.seq, i as i64 + 1);
        prop_assert!(verifier.push(entry), "chain broke at seq {}", entry.seq);
    }
    let report = verifier.finish(run.case.last_seq, &run.case.last_hash);
    prop_assert!(report.valid, "{:?}", report);
    if !run.started_legacy {
        let mut replay = CaseReplay::default();
        for entry in &run.entries {
            replay.apply(entry);
        }
        let mismatches = replay.compare(&run.case);
        prop_assert!(mismatches.is_empty(), "{:?}", mismatches);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_command_sequences_keep_the_invariants(
        start in 0usize..11,
        steps in prop::collection::vec((0i64..600, op()), 1..40),
    ) {
        run_steps(start, &steps)?;
    }
}

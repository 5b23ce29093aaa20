//! [`load_sample_cases`] against both stores: a SQLite file and a fresh
//! schema on the test PostgreSQL server (`VIGIL_TEST_DATABASE_URL`; these
//! tests fail, never skip, without it).

use std::sync::Arc;

use vigil_engine::case::{
    AuthorKind, CaseStatus, CustodyAction, Disposition, NewCase, Severity, TaskStatus,
};
use vigil_engine::store::{CaseOverview, CaseQuery, EvidenceContent};
use vigil_engine::{Clock, SystemClock};
use vigil_store_postgres::testing::TestSchema;

use super::*;

/// Every case in the store, deleted ones included, by number.
async fn every_case(store: &dyn CaseStore) -> Vec<CaseOverview> {
    let query = CaseQuery {
        include_deleted: true,
        limit: 500,
        ..CaseQuery::default()
    };
    let mut items = store.list_cases(&query).await.unwrap().items;
    items.sort_by_key(|row| row.case.number);
    items
}

fn by_title<'a>(cases: &'a [CaseOverview], words: &str) -> &'a Case {
    cases
        .iter()
        .map(|row| &row.case)
        .find(|case| case.title.contains(words))
        .unwrap_or_else(|| panic!("no sample titled `...{words}...`"))
}

/// What the five samples must be, read back through the read port.
async fn assert_samples(store: &dyn CaseStore) {
    let cases = every_case(store).await;
    assert_eq!(cases.len(), 5, "{cases:#?}");
    for row in &cases {
        let case = &row.case;
        assert_eq!(case.created_by, PRINCIPAL);
        assert!(case.tags.contains(&TAG.to_owned()), "{:?}", case.tags);
        assert!(case.title.starts_with("[Showcase] "), "{}", case.title);
        assert!(
            case.description.starts_with(DISCLAIMER),
            "{}",
            case.description
        );
        assert!(!case.alert_ids.is_empty(), "{} has no alert", case.number);
        let report = store.verify_case(case.id).await.unwrap();
        assert!(report.valid, "{}: {report:?}", case.number);
        assert!(report.mismatches.is_empty(), "{report:?}");
        let timeline = store.case_timeline(case.id, 0, 1000).await.unwrap();
        assert_eq!(timeline.len() as i64, case.last_seq);
        assert!(timeline.iter().all(|e| e.actor == PRINCIPAL));
    }

    let expect = [
        (
            "brute force",
            Severity::Critical,
            CaseStatus::Eradicated,
            None,
        ),
        (
            "phishing",
            Severity::High,
            CaseStatus::Closed,
            Some(Disposition::TruePositive),
        ),
        (
            "Impossible-travel",
            Severity::Low,
            CaseStatus::Closed,
            Some(Disposition::FalsePositive),
        ),
        ("Port scan", Severity::Medium, CaseStatus::Open, None),
        (
            "Unsigned kernel driver",
            Severity::High,
            CaseStatus::Pending,
            None,
        ),
    ];
    for (words, severity, status, disposition) in expect {
        let case = by_title(&cases, words);
        assert_eq!(
            (case.severity, case.status, case.disposition),
            (severity, status, disposition),
            "{}",
            case.title
        );
    }
    let kpis = store.case_kpis(&CaseQuery::default()).await.unwrap();
    assert_eq!(
        (kpis.total, kpis.open, kpis.critical, kpis.resolved),
        (5, 3, 1, 2)
    );

    // The open case waits for someone, with its alert.
    let scan = by_title(&cases, "Port scan");
    assert_eq!(scan.assignee, None);
    assert_eq!(scan.alert_ids, ["showcase-alert-1005"]);

    // The brute force: observables, custody, tasks in several statuses,
    // comments by a "person" and a machine, its stored log excerpt.
    let brute = by_title(&cases, "brute force");
    assert_eq!(brute.alert_ids, [CLAIM_ALERT, "showcase-alert-1002"]);
    assert!(brute.requires_human_approval);
    assert_eq!(store.observables(brute.id).await.unwrap().len(), 4);
    let tasks: Vec<TaskStatus> = store
        .tasks(brute.id)
        .await
        .unwrap()
        .iter()
        .map(|t| t.status)
        .collect();
    use TaskStatus::{Blocked, Done, InProgress, Todo};
    assert_eq!(tasks, [Done, Done, InProgress, Blocked, Todo]);
    let kinds: Vec<AuthorKind> = store
        .comments(brute.id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.author_kind)
        .collect();
    assert!(kinds.contains(&AuthorKind::Analyst) && kinds.contains(&AuthorKind::Machine));
    let evidence = store.evidence(brute.id).await.unwrap();
    assert_eq!(evidence.len(), 1);
    let custody: Vec<CustodyAction> = store
        .custody(brute.id, evidence[0].id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.action)
        .collect();
    assert_eq!(
        custody,
        [CustodyAction::Transferred, CustodyAction::Reviewed]
    );
    match store
        .evidence_content(brute.id, evidence[0].id)
        .await
        .unwrap()
    {
        EvidenceContent::Stored { bytes, .. } => {
            let text = String::from_utf8(bytes).unwrap();
            assert_eq!(text.lines().count(), 19);
            assert!(text.lines().all(|l| l.contains("\"showcase\":true")));
        }
        other => panic!("the excerpt is stored inline: {other:?}"),
    }

    // It and the port scan share an address and a host.
    let related = store.related_cases(brute.id).await.unwrap();
    assert_eq!(related.len(), 1, "{related:?}");
    assert_eq!(related[0].case.id, scan.id);
    assert_eq!(related[0].shared.len(), 2);

    // Nothing a sample says claims an action Vigil took.
    for row in &cases {
        let timeline = store.case_timeline(row.case.id, 0, 1000).await.unwrap();
        for entry in timeline {
            let text = entry.payload.to_string().to_lowercase();
            for claim in [
                "host isolated",
                "was isolated",
                "isolated web-01",
                "approved",
            ] {
                assert!(
                    !text.contains(claim),
                    "{}: `{claim}` in {text}",
                    row.case.number
                );
            }
        }
    }
}

/// Loads once, then never again: not on a second call, and not after an
/// operator deleted a sample.
async fn loads_once(store: &dyn CaseStore) {
    let now = SystemClock.now();
    let LoadOutcome::Loaded(numbers) = load_sample_cases(store, now).await.unwrap() else {
        panic!("an empty store gets the samples");
    };
    assert_eq!(numbers.len(), 5);
    assert_samples(store).await;

    assert_eq!(
        load_sample_cases(store, now).await.unwrap(),
        LoadOutcome::AlreadyPresent
    );
    let cases = every_case(store).await;
    assert_eq!(cases.len(), 5);
    for row in &cases {
        store
            .delete_case(row.case.id, "alice", Some("not needed".to_owned()))
            .await
            .unwrap();
    }
    assert_eq!(
        load_sample_cases(store, now).await.unwrap(),
        LoadOutcome::AlreadyPresent
    );
    assert_eq!(every_case(store).await.len(), 5);
}

/// A case someone else tagged `showcase` is not a sample: the samples are
/// still loaded.
async fn someone_elses_showcase_tag_is_not_a_sample(store: &dyn CaseStore) {
    let theirs = NewCase {
        title: "Demo prep".to_owned(),
        tags: vec!["Showcase".to_owned()],
        ..NewCase::default()
    };
    store.create_case("alice", theirs).await.unwrap();
    let outcome = load_sample_cases(store, SystemClock.now()).await.unwrap();
    assert!(
        matches!(outcome, LoadOutcome::Loaded(ref n) if n.len() == 5),
        "{outcome:?}"
    );
    assert_eq!(every_case(store).await.len(), 6);
}

/// A loader that finds any alert of the first sample taken (another loader
/// created it after this one looked) stops there and writes nothing. The
/// alert it trips on need not be [`CLAIM_ALERT`]: under read committed a
/// create can find that one still free and the sample's next alert already
/// taken, when the other loader commits between the two lookups.
async fn a_loader_that_lost_the_claim_stops(store: &dyn CaseStore, taken: &str) {
    let winner = NewCase {
        title: "the other loader's first sample".to_owned(),
        alert_ids: vec![taken.to_owned()],
        ..NewCase::default()
    };
    store.create_case(PRINCIPAL, winner).await.unwrap();
    assert_eq!(
        load_sample_cases(store, SystemClock.now()).await.unwrap(),
        LoadOutcome::AlreadyPresent
    );
    assert_eq!(every_case(store).await.len(), 1);
}

/// Two loaders at once (two processes starting together): one loads, the
/// other finds them, and the samples exist once.
async fn concurrent_loads_load_once(store: Arc<dyn CaseStore>) {
    let now = SystemClock.now();
    let (a, b) = (store.clone(), store.clone());
    let (a, b) = tokio::join!(
        tokio::spawn(async move { load_sample_cases(&*a, now).await.unwrap() }),
        tokio::spawn(async move { load_sample_cases(&*b, now).await.unwrap() }),
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| matches!(o, LoadOutcome::AlreadyPresent));
    assert!(
        matches!(&outcomes, [LoadOutcome::Loaded(n), LoadOutcome::AlreadyPresent] if n.len() == 5),
        "{outcomes:?}"
    );
    assert_samples(&*store).await;
}

async fn sqlite() -> (tempfile::TempDir, Arc<dyn CaseStore>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("vigil.db").display());
    let store =
        vigil_store_sqlite::open(vigil_store_sqlite::Options::new(url), Arc::new(SystemClock))
            .await
            .unwrap();
    (dir, Arc::new(store))
}

async fn postgres() -> (TestSchema, Arc<dyn CaseStore>) {
    let schema = TestSchema::new();
    let store = schema.open(Arc::new(SystemClock)).await;
    (schema, Arc::new(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loads_the_samples_once() {
    let (_dir, store) = sqlite().await;
    loads_once(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loads_the_samples_once() {
    let (schema, store) = postgres().await;
    loads_once(&*store).await;
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_ignores_someone_elses_showcase_tag() {
    let (_dir, store) = sqlite().await;
    someone_elses_showcase_tag_is_not_a_sample(&*store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ignores_someone_elses_showcase_tag() {
    let (schema, store) = postgres().await;
    someone_elses_showcase_tag_is_not_a_sample(&*store).await;
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_loads_load_once() {
    let (_dir, store) = sqlite().await;
    concurrent_loads_load_once(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_loads_load_once() {
    let (schema, store) = postgres().await;
    concurrent_loads_load_once(store).await;
    schema.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loader_that_lost_the_claim_stops() {
    for taken in [CLAIM_ALERT, "showcase-alert-1002"] {
        let (_dir, store) = sqlite().await;
        a_loader_that_lost_the_claim_stops(&*store, taken).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loader_that_lost_the_claim_stops() {
    for taken in [CLAIM_ALERT, "showcase-alert-1002"] {
        let (schema, store) = postgres().await;
        a_loader_that_lost_the_claim_stops(&*store, taken).await;
        schema.drop_now().await;
    }
}

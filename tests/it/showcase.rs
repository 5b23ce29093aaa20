//! The offline showcase's sample cases, through a real `vigil serve` on a
//! fresh SQLite file: dummy mode loads them on the first start and never
//! again, `real` and `dry_run` load none, and a load that fails leaves the
//! server serving. The cases are read back from the file through the
//! store's `CaseReads` port (the cases HTTP routes come later).

use std::path::Path;
use std::sync::Arc;

use vigil_engine::SystemClock;
use vigil_engine::store::{CaseOverview, CaseQuery, CaseReads};
use vigil_store_sqlite::SqliteStore;

use crate::support::*;

/// The repository's sample configuration: dummy mode, `sqlite://vigil.db`.
fn sample_config(dir: &Path) {
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("vigil.toml"),
        dir.join("vigil.toml"),
    )
    .unwrap();
}

/// A configuration with a model (nothing listens at its address; serving
/// calls no model until an investigation runs), for `real` and `dry_run`.
fn model_config(dir: &Path) {
    let toml = format!(
        r#"
[database]
url = "sqlite://vigil.db"

[model]
base_url = "http://127.0.0.1:{}/v1"
model = "unused"

[[agents]]
id = "triage"
system_prompt = "Investigate, then submit_result."
tools = []
"#,
        free_port()
    );
    std::fs::write(dir.join("vigil.toml"), toml).unwrap();
}

async fn open(dir: &Path) -> SqliteStore {
    let url = format!("sqlite://{}", dir.join("vigil.db").display());
    vigil_store_sqlite::connect(vigil_store_sqlite::Options::new(url), Arc::new(SystemClock))
        .await
        .unwrap()
}

/// Every case in the file, deleted ones included.
async fn every_case(store: &SqliteStore) -> Vec<CaseOverview> {
    let query = CaseQuery {
        include_deleted: true,
        limit: 500,
        ..CaseQuery::default()
    };
    store.list_cases(&query).await.unwrap().items
}

fn start(dir: &Path, args: &[&str]) -> Proc {
    let listen = format!("127.0.0.1:{}", free_port());
    serve(dir, args, &listen).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dummy_serve_loads_the_showcase_cases_once() {
    let dir = tempfile::tempdir().unwrap();
    sample_config(dir.path());

    let mut first = start(dir.path(), &[]);
    let log = first.log();
    assert!(log.contains("loaded 5 showcase cases"), "{log}");
    first.stop_gracefully();

    let store = open(dir.path()).await;
    let cases = every_case(&store).await;
    // Five sample cases and the one the sample alerts opened.
    assert_eq!(cases.len(), 6, "{cases:#?}");
    for row in &cases {
        let case = &row.case;
        assert_eq!(case.created_by, "vigil-showcase");
        assert!(case.tags.iter().any(|t| t == "showcase"), "{:?}", case.tags);
        assert!(
            case.description
                .starts_with("Bundled showcase data, not a real incident:"),
            "{}",
            case.description
        );
        let report = store.verify_case(case.id).await.unwrap();
        assert!(report.valid && report.mismatches.is_empty(), "{report:?}");
    }
    let (opened, samples): (Vec<_>, Vec<_>) = cases
        .iter()
        .partition(|r| r.case.tags.iter().any(|t| t == "alert"));
    let mut statuses: Vec<String> = samples.iter().map(|r| r.case.status.to_string()).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        ["closed", "closed", "eradicated", "open", "pending"]
    );
    // The alerts' case: both alerts, its triage linked (it may have parked
    // on its approval already).
    assert_eq!(opened.len(), 1, "{opened:#?}");
    let alerts_case = &opened[0].case;
    assert_eq!(alerts_case.alert_ids.len(), 2, "{alerts_case:#?}");
    assert!(
        matches!(
            alerts_case.status.to_string().as_str(),
            "open" | "pending_approval"
        ),
        "{alerts_case:#?}"
    );
    drop(store);

    let mut second = start(dir.path(), &[]);
    let log = second.log();
    assert!(log.contains("showcase cases already present"), "{log}");
    assert_eq!(log.matches("loaded 5 showcase cases").count(), 1, "{log}");
    second.stop_gracefully();
    assert_eq!(every_case(&open(dir.path()).await).await.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_and_dry_run_serve_load_no_showcase_cases() {
    for mode in ["real", "dry_run"] {
        let dir = tempfile::tempdir().unwrap();
        model_config(dir.path());
        let mut served = start(dir.path(), &["--mode", mode]);
        served.stop_gracefully();
        let log = served.log();
        assert!(log.contains(&format!("mode={mode}")), "{log}");
        assert!(!log.contains("showcase"), "{mode}: {log}");
        let cases = every_case(&open(dir.path()).await).await;
        assert!(cases.is_empty(), "{mode}: {cases:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_showcase_load_leaves_the_server_serving() {
    let dir = tempfile::tempdir().unwrap();
    sample_config(dir.path());
    ok(&vigil(dir.path(), &["migrate"]));
    // Sabotage, for the test only: the database refuses every new case.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("vigil.db").display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_cases BEFORE INSERT ON cases \
         BEGIN SELECT RAISE(ABORT, 'no cases today'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let listen = format!("127.0.0.1:{}", free_port());
    let (mut served, _) = serve(dir.path(), &[], &listen);
    let log = served.log();
    assert!(
        log.contains("cannot load the showcase cases; serving without them"),
        "{log}"
    );
    let health = reqwest::get(format!("http://{listen}/api/v1/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    served.stop_gracefully();
    assert!(every_case(&open(dir.path()).await).await.is_empty());
}

//! `vigil bench store`, `vigil bench e2e` and `vigil bench cases` print
//! their figures and the baseline ratio on both backends; `vigil bench
//! scale` seeds, measures and prints a line per operation on both. No test
//! asserts a timing.

use crate::support::*;

fn assert_figures(out: &str) {
    for label in ["runs/s", "events/s", "p50", "p99", "baseline", "ratio"] {
        assert!(out.contains(label), "missing {label} in:\n{out}");
    }
    let ratio: f64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("ratio"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ratio figure in:\n{out}"));
    assert!(ratio > 0.0 && ratio.is_finite(), "{ratio}");
}

/// A bench on SQLite works in a file of its own, never the configured one.
fn assert_default_database_untouched(dir: &std::path::Path) {
    assert!(
        !dir.join("vigil.db").exists(),
        "the bench leaves the configured database alone"
    );
}

/// A bench on PostgreSQL drops the scratch schema it worked in; then drops
/// the test database.
async fn assert_scratch_schema_dropped(db: TempDatabase) {
    let admin = sqlx::PgPool::connect(&db.url).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'vigil_bench_%'")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(left, 0, "the scratch schema is dropped");
    admin.close().await;
    db.drop_now().await;
}

#[test]
fn bench_store_runs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(
        dir.path(),
        &["bench", "store", "--runs", "20", "--concurrency", "4"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_figures(&stdout(&out));
    assert_default_database_untouched(dir.path());
}

#[tokio::test]
async fn bench_store_runs_on_postgres_in_a_scratch_schema() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(
        dir.path(),
        &[
            "--database",
            &db.url,
            "bench",
            "store",
            "--runs",
            "20",
            "--concurrency",
            "4",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_figures(&stdout(&out));
    assert_scratch_schema_dropped(db).await;
}

#[test]
fn bench_e2e_runs_the_whole_engine_and_prints_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(
        dir.path(),
        &["bench", "e2e", "--runs", "12", "--concurrency", "3"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for label in [
        "runs/s",
        "events/s",
        "dispatch to completion p50",
        "dispatch to claim p50",
        "worker RSS",
        "empty claims per run",
        "ratio",
    ] {
        assert!(text.contains(label), "missing {label} in:\n{text}");
    }
    assert!(text.contains("12 runs in"), "{text}");
    assert!(
        claims_per_run(&text) >= 1.0,
        "every run was claimed: {text}"
    );
    assert!(
        text.contains("batching   group commit up to 64 writes"),
        "{text}"
    );

    let off = vigil(
        dir.path(),
        &[
            "bench",
            "e2e",
            "--runs",
            "12",
            "--concurrency",
            "3",
            "--group-max-batch",
            "1",
        ],
    );
    assert!(off.status.success(), "{}", stderr(&off));
    let text = stdout(&off);
    assert!(text.contains("12 runs in"), "{text}");
    assert!(
        text.contains("batching   off: every fenced write is its own transaction"),
        "{text}"
    );
}

/// The `claims` line's claims per run.
fn claims_per_run(text: &str) -> f64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("claims"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no claims line in:\n{text}"))
}

#[tokio::test]
async fn bench_e2e_on_postgres_counts_its_claims_and_transactions() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(
        dir.path(),
        &[
            "--database",
            &db.url,
            "bench",
            "e2e",
            "--runs",
            "12",
            "--concurrency",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("12 runs in"), "{text}");
    assert!(
        claims_per_run(&text) >= 1.0,
        "every run was claimed: {text}"
    );
    let transactions: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("postgres"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no postgres line in:\n{text}"));
    // At least the dispatch and the claim of each run were transactions.
    assert!(transactions >= 2.0, "{text}");
    assert!(text.contains("WAL syncs per run"), "{text}");
    db.drop_now().await;
}

fn assert_case_figures(out: &str) {
    for label in [
        "alerts/s",
        "grouping   p50",
        "related    ",
        "queries/s",
        "p99",
        "baseline",
        "ratio",
    ] {
        assert!(out.contains(label), "missing {label} in:\n{out}");
    }
    assert!(out.contains("200 alerts in"), "{out}");
    assert!(out.contains("20 cases opened"), "{out}");
    // Every case shares its host and user with three others.
    assert!(out.contains("3.0 related cases each"), "{out}");
    let ratios: Vec<f64> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ratio"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(ratios.len(), 2, "an ingest and a related ratio in:\n{out}");
    assert!(
        ratios.iter().all(|r| *r > 0.0 && r.is_finite()),
        "{ratios:?}"
    );
}

const TINY_CASES: [&str; 10] = [
    "bench",
    "cases",
    "--alerts",
    "200",
    "--cases",
    "20",
    "--concurrency",
    "4",
    "--related-samples",
    "20",
];

#[test]
fn bench_cases_runs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(dir.path(), &TINY_CASES);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_case_figures(&stdout(&out));
    assert_default_database_untouched(dir.path());
}

#[tokio::test]
async fn bench_cases_runs_on_postgres_in_a_scratch_schema() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--database", &db.url];
    args.extend(TINY_CASES);
    let out = vigil(dir.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_case_figures(&stdout(&out));
    assert_scratch_schema_dropped(db).await;
}

#[test]
fn bench_e2e_with_telemetry_runs_off_then_on_and_prints_the_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(
        dir.path(),
        &[
            "bench",
            "e2e",
            "--runs",
            "12",
            "--concurrency",
            "3",
            "--telemetry",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let off = text.find("telemetry off").expect(&text);
    let on = text.find("telemetry on (sampling 1.0").expect(&text);
    assert!(off < on, "{text}");
    assert_eq!(text.matches("12 runs in").count(), 2, "{text}");
    let exported = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("exported"))
        .unwrap_or_else(|| panic!("no export line in:\n{text}"));
    let requests: u64 = exported.split_whitespace().next().unwrap().parse().unwrap();
    assert!(requests > 0, "the spans reached the receiver: {exported}");
    let overhead = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("overhead   telemetry on / off: "))
        .unwrap_or_else(|| panic!("no overhead line in:\n{text}"));
    let ratio: f64 = overhead.split_whitespace().next().unwrap().parse().unwrap();
    assert!(ratio > 0.0 && ratio.is_finite(), "{overhead}");
}

const TINY_SCALE: [&str; 10] = [
    "bench",
    "scale",
    "--finished",
    "2000",
    "--active",
    "200",
    "--samples",
    "20",
    "--parked",
    "50",
];

fn assert_scale_figures(out: &str) {
    for label in [
        "seeded     2200 runs",
        "claim ",
        "heartbeat ",
        "checkpoint (one event) ",
        "reaper tick ",
        "expiry sweep ",
        "list first page (50) ",
        "list deep keyset page (50) ",
        "detail ",
        "events page (100) ",
        "stats ",
        "approvals inbox (100) ",
        "worker RSS ",
        "50 runs parked on a slow model",
    ] {
        assert!(out.contains(label), "missing {label} in:\n{out}");
    }
    let timed = out.lines().filter(|l| l.contains(" p50 ")).count();
    assert_eq!(timed, 15, "one line per operation in:\n{out}");
    // The seeded rows are read back by the store: 2000 finished, 200
    // active and the template run.
    assert!(out.contains("stats counted 2201 investigations"), "{out}");
}

#[test]
fn bench_scale_seeds_and_measures_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(dir.path(), &TINY_SCALE);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_scale_figures(&stdout(&out));
    assert_default_database_untouched(dir.path());
}

#[tokio::test]
async fn bench_scale_seeds_and_measures_on_postgres_in_a_scratch_schema() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["--database", &db.url];
    args.extend(TINY_SCALE);
    let out = vigil(dir.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_scale_figures(&stdout(&out));
    assert_scratch_schema_dropped(db).await;
}

//! `vigil migrate` on a new SQLite file and on PostgreSQL.

use sqlx::Connection;

use crate::support::*;

#[test]
fn migrate_creates_a_new_sqlite_file_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    // The default database is ./vigil.db.
    let first = vigil(dir.path(), &["migrate"]);
    assert!(first.status.success(), "{}", stderr(&first));
    for applied in [
        "applied: 0001_core",
        "applied: 0002_api",
        "applied: 0003_receipts",
        "applied: 0004_runs",
        "applied: 0005_approval_mode",
        "applied: 0006_run_truth",
        "applied: 0007_cases",
        "applied: 0008_case_links",
        "applied: 0009_alerts",
        "applied: 0010_case_summaries",
        "applied: 0011_trace_context",
        "applied: 0012_segment_trace",
        "applied: 0013_children",
        "applied: 0014_scale",
    ] {
        assert!(stdout(&first).contains(applied), "{}", stdout(&first));
    }
    assert!(dir.path().join("vigil.db").exists());

    let again = vigil(dir.path(), &["migrate"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("up to date at version 0014"),
        "{}",
        stdout(&again)
    );

    let elsewhere = dir.path().join("nested.db");
    let url = format!("sqlite://{}", elsewhere.display());
    let out = vigil(dir.path(), &["--database", &url, "migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(elsewhere.exists());
}

#[test]
fn database_url_comes_from_the_environment_and_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[database]\nurl = \"sqlite://from-file.db\"\n",
    )
    .unwrap();
    let out = vigil(dir.path(), &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("from-file.db").exists());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .current_dir(dir.path())
        .env("VIGIL_DATABASE_URL", "sqlite://from-env.db")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        dir.path().join("from-env.db").exists(),
        "env beats the file"
    );
}

#[test]
fn an_unknown_database_scheme_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(
        dir.path(),
        &["--database", "mysql://root@localhost/x", "migrate"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("neither sqlite://"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_typo_in_the_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[databse]\nurl = \"sqlite://x.db\"\n",
    )
    .unwrap();
    let out = vigil(dir.path(), &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("databse"), "{}", stderr(&out));
}

#[tokio::test]
async fn migrate_prepares_a_new_postgres_database() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(dir.path(), &["--database", &db.url, "migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("applied: 0001_core"),
        "{}",
        stdout(&out)
    );
    let again = vigil(dir.path(), &["--database", &db.url, "migrate"]);
    assert!(stdout(&again).contains("up to date"), "{}", stdout(&again));

    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for table in [
        "investigations",
        "investigation_events",
        "approval_requests",
        "head_receipts",
        "investigation_finished_counts",
        "investigation_finished_deltas",
        "_vigil_migrations",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing from {tables:?}"
        );
    }
    conn.close().await.unwrap();
    db.drop_now().await;
}

#[test]
fn an_unreachable_postgres_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let out = vigil(
        dir.path(),
        &[
            "--database",
            "postgres://postgres:hunter2@127.0.0.1:1/postgres",
            "migrate",
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot be reached"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password must not be printed: {err}"
    );
}

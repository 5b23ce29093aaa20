//! Running the binary and reaching the test server.

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

/// A `vigil` command in `dir` logging at `log_level`, with no `VIGIL_*`
/// variables inherited from the test's environment.
pub fn command(dir: &std::path::Path, log_level: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.current_dir(dir).env("RUST_LOG", log_level);
    for (key, _) in std::env::vars() {
        if key.starts_with("VIGIL_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `vigil` with `args` in `dir` (see [`command`]) to completion.
pub fn vigil(dir: &std::path::Path, args: &[&str]) -> Output {
    command(dir, "warn").args(args).output().expect("run vigil")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn server_url() -> String {
    std::env::var("VIGIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub async fn admin() -> PgPool {
    let url = server_url();
    PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL tests need a server at {url}: {e}"))
}

/// A throwaway database on the test server, dropped by [`TempDatabase::drop_now`].
pub struct TempDatabase {
    pub name: String,
    pub url: String,
}

impl TempDatabase {
    pub async fn create() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("vigil_e2e_{}_{secs}", std::process::id());
        let admin = admin().await;
        // Databases left by crashed runs (named with their creation time in
        // nanoseconds) are dropped after an hour.
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'vigil\\_e2e\\_%'",
        )
        .fetch_all(&admin)
        .await
        .unwrap_or_default();
        for old in stale {
            let created = old.rsplit('_').next().and_then(|n| n.parse::<u128>().ok());
            if created.is_some_and(|c| c + 3_600_000_000_000 < secs) {
                let _ = sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {old} WITH (FORCE)"
                )))
                .execute(&admin)
                .await;
            }
        }
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let base = server_url();
        let (prefix, _) = base.rsplit_once('/').expect("URL with a database");
        Self {
            url: format!("{prefix}/{name}"),
            name,
        }
    }

    pub async fn drop_now(self) {
        let admin = admin().await;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&admin)
        .await
        .unwrap();
    }
}

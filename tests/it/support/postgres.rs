//! PostgreSQL for the tests: the shared server (`VIGIL_TEST_DATABASE_URL`)
//! with a throwaway database per test, and private clusters that a test may
//! stop and start (an outage) without disturbing anyone else.

use std::cell::Cell;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

use super::process::free_port;

/// Seconds `pg_ctl -w` waits for a start or stop (its default is 60): a
/// shutdown checkpoint on a loaded machine's disk can take longer, and an
/// outage test must not fail for that.
const PG_CTL_WAIT: &str = "600";

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

/// A PostgreSQL cluster of the test's own (`initdb` in a temporary
/// directory, on a free port, run as `postgres`), which the test can stop
/// and start; stopped for good on drop. The shared server is never stopped.
///
/// It needs root (to `runuser -u postgres`) and the server binaries under
/// `/usr/lib/postgresql/<version>/bin`, and says so when either is
/// missing. A start or stop that fails panics with the cluster's server
/// log, read before its directory is deleted.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    port: u16,
    running: Cell<bool>,
}

fn pg_bin(tool: &str) -> String {
    let versions = std::fs::read_dir("/usr/lib/postgresql").unwrap_or_else(|e| {
        panic!(
            "private PostgreSQL clusters need the server binaries in \
             /usr/lib/postgresql/<version>/bin (Debian's postgresql package): {e}"
        )
    });
    let mut versions: Vec<String> = versions
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort_by_key(|v| v.parse::<u32>().unwrap_or(0));
    format!(
        "/usr/lib/postgresql/{}/bin/{tool}",
        versions.last().expect("a PostgreSQL version")
    )
}

/// Runs `args` as the `postgres` user, capturing what it prints.
fn as_postgres(args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("private PostgreSQL clusters run their server with `runuser` (util-linux): {e}")
        })
}

fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails the test unless it runs as root, which `runuser` needs.
fn assert_root() {
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
    assert_eq!(
        uid, "0",
        "private PostgreSQL clusters need root, to run the server as `postgres` \
         with `runuser -u postgres`; run the tests as root (./test says what is missing)"
    );
}

impl PrivateCluster {
    /// Creates and starts the cluster.
    pub fn start() -> Self {
        assert_root();
        let dir = tempfile::tempdir().unwrap();
        let chown = Command::new("chown")
            .args(["-R", "postgres", &dir.path().display().to_string()])
            .output()
            .unwrap();
        assert!(chown.status.success(), "chown: {}", printed(&chown));
        let data = dir.path().join("data").display().to_string();
        let initdb = as_postgres(&[
            &pg_bin("initdb"),
            "-D",
            &data,
            "-A",
            "trust",
            "-U",
            "postgres",
        ]);
        assert!(
            initdb.status.success(),
            "initdb failed:\n{}",
            printed(&initdb)
        );
        let cluster = Self {
            dir,
            port: free_port(),
            running: Cell::new(false),
        };
        cluster.up();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn log_path(&self) -> String {
        self.dir.path().join("pg.log").display().to_string()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs `pg_ctl -D <data> <args>` as `postgres`.
    fn pg_ctl(&self, args: &[&str]) -> Output {
        let (bin, data) = (pg_bin("pg_ctl"), self.data());
        let mut argv = vec![bin.as_str(), "-D", data.as_str()];
        argv.extend_from_slice(args);
        as_postgres(&argv)
    }

    /// [`Self::pg_ctl`], failing the test with pg_ctl's output and the
    /// cluster's log unless it succeeds.
    fn pg_ctl_ok(&self, args: &[&str]) {
        let out = self.pg_ctl(args);
        assert!(
            out.status.success(),
            "pg_ctl {} failed:\n{}\nthe cluster's log:\n{}",
            args.join(" "),
            printed(&out),
            self.log()
        );
    }

    /// Starts the stopped cluster again.
    pub fn up(&self) {
        let opts = format!("-p {} -k /tmp -c listen_addresses=127.0.0.1", self.port);
        // Set first: a start that reports failure may still have left a
        // server running, which drop then stops.
        self.running.set(true);
        self.pg_ctl_ok(&[
            "-o",
            &opts,
            "-l",
            &self.log_path(),
            "-w",
            "-t",
            PG_CTL_WAIT,
            "start",
        ]);
    }

    /// Stops the cluster (fast shutdown), as an outage would.
    pub fn down(&self) {
        self.pg_ctl_ok(&["-m", "fast", "-w", "-t", PG_CTL_WAIT, "stop"]);
        self.running.set(false);
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if !self.running.get() {
            return;
        }
        let out = self.pg_ctl(&["-m", "immediate", "-w", "-t", PG_CTL_WAIT, "stop"]);
        // No panic in drop (it may run during one): say it instead.
        if !out.status.success() {
            eprintln!(
                "private cluster on port {}: pg_ctl stop failed:\n{}\nthe cluster's log:\n{}",
                self.port,
                printed(&out),
                self.log()
            );
        }
    }
}

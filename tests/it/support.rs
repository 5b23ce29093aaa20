//! Running the binary and reaching the test server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
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

/// A `vigil serve` child, killed if the test fails before stopping it.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT/api/v1`.
    pub base: String,
    /// The admin token it printed.
    pub token: String,
}

impl Served {
    /// Starts `vigil serve` in `dir` on a free port and reads the admin
    /// token it prints on its first start.
    pub fn start(dir: &std::path::Path, database: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = command(dir, "info")
            .args(["--database", database, "serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .expect("start vigil serve");
        let stdout = child.stdout.take().unwrap();
        let mut token = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(t) = line.split_whitespace().find(|w| w.starts_with("vgl_")) {
                token = Some(t.to_owned());
            }
            if line.contains("listening on") {
                break;
            }
        }
        Served {
            child,
            base: format!("http://127.0.0.1:{port}/api/v1"),
            token: token.expect("serve prints the first admin token"),
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL cluster of the test's own (initdb in a temp dir, on a free
/// port), which the test can stop and start; stopped for good on drop.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin(tool: &str) -> String {
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql");
    let mut versions: Vec<String> = versions
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    format!(
        "/usr/lib/postgresql/{}/bin/{tool}",
        versions.last().expect("a PostgreSQL version")
    )
}

fn as_postgres(args: &[&str]) -> std::process::ExitStatus {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

impl PrivateCluster {
    /// Creates and starts the cluster.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Command::new("chown")
            .args(["-R", "postgres", &dir.path().display().to_string()])
            .status()
            .unwrap();
        let data = dir.path().join("data").display().to_string();
        assert!(
            as_postgres(&[
                &pg_bin("initdb"),
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres"
            ])
            .success(),
            "initdb"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { dir, port };
        cluster.up();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Starts the stopped cluster again.
    pub fn up(&self) {
        let opts = format!("-p {} -k /tmp -c listen_addresses=127.0.0.1", self.port);
        let log = self.dir.path().join("pg.log").display().to_string();
        assert!(
            as_postgres(&[
                &pg_bin("pg_ctl"),
                "-D",
                &self.data(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "start"
            ])
            .success(),
            "pg_ctl start"
        );
    }

    /// Stops the cluster (fast shutdown), as an outage would.
    pub fn down(&self) {
        assert!(
            as_postgres(&[
                &pg_bin("pg_ctl"),
                "-D",
                &self.data(),
                "-m",
                "fast",
                "-w",
                "stop"
            ])
            .success(),
            "pg_ctl stop"
        );
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = as_postgres(&[
            &pg_bin("pg_ctl"),
            "-D",
            &self.data(),
            "-m",
            "immediate",
            "stop",
        ]);
    }
}

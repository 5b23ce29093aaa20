//! `vigil` child processes: commands with a clean environment, processes
//! killed when a test fails, `vigil serve` on a free port, and failures
//! that print what the process wrote.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a process may take to start listening or to stop after
/// SIGTERM. Generous: the machine is shared; this only turns a hang into a
/// failure that prints the log.
const PATIENCE: Duration = Duration::from_secs(60);

/// A `vigil` command in `dir` logging at `log_level`, with no `VIGIL_*`
/// variables inherited from the test's environment.
pub fn command(dir: &Path, log_level: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.current_dir(dir).env("RUST_LOG", log_level);
    for (key, _) in std::env::vars() {
        if key.starts_with("VIGIL_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A `vigil` client command in `dir` with `VIGIL_URL` and `VIGIL_TOKEN`.
pub fn client(dir: &Path, url: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut cmd = command(dir, "warn");
    cmd.env("VIGIL_URL", url).args(args);
    if let Some(token) = token {
        cmd.env("VIGIL_TOKEN", token);
    }
    cmd
}

/// Runs `cmd` to completion, killing it and failing the test after `within`.
pub fn finish(mut cmd: Command, within: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vigil");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(output) => output.expect("vigil output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} did not finish within {within:?}");
        }
    }
}

/// Runs `vigil` with `args` in `dir` (see [`command`]) to completion.
pub fn vigil(dir: &Path, args: &[&str]) -> Output {
    command(dir, "warn").args(args).output().expect("run vigil")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that a finished `vigil` succeeded, printing its exit code,
/// stdout and stderr if not; returns its stdout.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// A loopback port nothing listens on (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process whose stderr goes to a log file. It is killed when
/// dropped, so a failing test leaves nothing running (no worker holding
/// database connections), and every failure about it prints the log.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with its stderr appended to `log` (stdout as `cmd`
    /// has it).
    pub fn spawn(cmd: &mut Command, log: &Path) -> Proc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        let child = cmd
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        Proc {
            child,
            log: log.to_owned(),
        }
    }

    /// What the process wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Its piped stdout (once).
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout is piped")
    }

    /// Sends `SIG<name>` (`STOP`, `CONT`, `TERM`, ...).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{name} {}", self.id());
    }

    /// SIGKILL, then reaps it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for the exit; a process still running after
    /// a minute fails the test with its log.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not stop after SIGTERM; its log:\n{}",
                self.log.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and asserts a graceful (successful) exit, printing the log
    /// if not.
    #[track_caller]
    pub fn stop_gracefully(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "graceful exit: {status:?}; its log:\n{}",
            self.log()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `vigil [global_args] serve --listen <listen>` in `dir` at log
/// level info, its stderr appended to `dir/serve.log`, and waits until it
/// listens. Returns it and the admin token it printed (only a database's
/// first start prints one). If it exits or stays silent for a minute, the
/// test fails with its log.
pub fn serve(dir: &Path, global_args: &[&str], listen: &str) -> (Proc, Option<String>) {
    serve_with_env(dir, global_args, &[], listen)
}

/// [`serve`] with `env` set in the server's environment.
pub fn serve_with_env(
    dir: &Path,
    global_args: &[&str],
    env: &[(&str, &str)],
    listen: &str,
) -> (Proc, Option<String>) {
    let mut proc = Proc::spawn(
        command(dir, "info")
            .envs(env.iter().copied())
            .args(global_args)
            .args(["serve", "--listen", listen])
            .stdout(Stdio::piped()),
        &dir.join("serve.log"),
    );
    let stdout = proc.take_stdout();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let mut admin = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let exited = proc.try_wait();
            panic!(
                "vigil serve did not start (exit: {exited:?}); its log:\n{}",
                proc.log()
            );
        };
        if let Some(token) = line.split_whitespace().find(|w| w.starts_with("vgl_")) {
            admin = Some(token.to_owned());
        }
        if line.contains("listening on") {
            return (proc, admin);
        }
    }
}

/// A `vigil serve` on PostgreSQL or SQLite, on a free port, killed if the
/// test fails before stopping it.
pub struct Served {
    proc: Proc,
    /// `http://127.0.0.1:PORT/api/v1`.
    pub base: String,
    /// The admin token it printed.
    pub token: String,
}

impl Served {
    /// Starts `vigil serve` in `dir` on `database` and reads the admin
    /// token it prints on its first start.
    pub fn start(dir: &Path, database: &str) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let (proc, token) = serve(dir, &["--database", database], &listen);
        let token = token.unwrap_or_else(|| {
            panic!(
                "serve prints the first admin token; its log:\n{}",
                proc.log()
            )
        });
        Served {
            proc,
            base: format!("http://{listen}/api/v1"),
            token,
        }
    }

    /// Starts `vigil serve` again on a `database` that has its admin
    /// `token` already (a second start prints none).
    pub fn start_again(dir: &Path, database: &str, token: &str) -> Self {
        let listen = format!("127.0.0.1:{}", free_port());
        let (proc, _) = serve(dir, &["--database", database], &listen);
        Served {
            proc,
            base: format!("http://{listen}/api/v1"),
            token: token.to_owned(),
        }
    }

    /// SIGKILL: the process dies where it stands.
    pub fn kill(mut self) {
        self.proc.kill();
    }

    /// SIGTERM, and asserts a graceful exit (see [`Proc::stop_gracefully`]).
    #[track_caller]
    pub fn stop_gracefully(mut self) {
        self.proc.stop_gracefully();
    }
}

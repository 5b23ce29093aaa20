//! `vigil cases ...` against a real `vigil serve` on a fresh SQLite file:
//! a case walked from open to closed and reopened in `real` mode (every
//! write stored), the queue's filters, a live follow of the timeline, in
//! `dummy` mode writes that are only previews and change nothing, and in
//! `dry_run` a person's writes previewed while an agent's are stored.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// A `vigil serve` in a directory of its own; killed if the test panics.
pub(crate) struct Server {
    proc: Proc,
    dir: tempfile::TempDir,
    url: String,
    admin: String,
}

impl Server {
    /// `real` mode: a model is configured (nothing listens at its address;
    /// no investigation runs, so none is called) and every write is stored.
    pub(crate) fn real() -> Server {
        Server::with_model("real")
    }

    /// `mode` (`real` or `dry_run`) with a model configured.
    fn with_model(mode: &str) -> Server {
        let toml = format!(
            r#"
mode = "{mode}"

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
        Server::configured(&toml)
    }

    /// `dummy` mode with the repository's sample configuration: the
    /// showcase queue, and every write a preview. Returns once the sample
    /// alerts' triage has parked on its approval, so the queue holds still
    /// until a test decides it.
    pub(crate) fn dummy() -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("vigil.toml"),
            dir.path().join("vigil.toml"),
        )
        .unwrap();
        let server = Server::start(dir);
        wait_until(
            "the showcase triage to wait on its approval",
            Duration::from_secs(120),
            || {
                let out = finish(
                    server.vigil(&["--json", "approvals", "--status", "pending"]),
                    Duration::from_secs(60),
                );
                out.status.success() && stdout(&out).contains("isolate_host")
            },
        );
        server
    }

    /// `vigil.toml` as given (a SQLite `vigil.db` beside it, say).
    pub(crate) fn configured(toml: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vigil.toml"), toml).unwrap();
        Server::start(dir)
    }

    fn start(dir: tempfile::TempDir) -> Server {
        let listen = format!("127.0.0.1:{}", free_port());
        let (proc, admin) = serve(dir.path(), &[], &listen);
        let admin = admin.unwrap_or_else(|| panic!("an admin token; the log:\n{}", proc.log()));
        Server {
            proc,
            dir,
            url: format!("http://{listen}"),
            admin,
        }
    }

    /// The server's base URL (`http://127.0.0.1:<port>`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// `vigil cases <args>` as the admin.
    pub(crate) fn cli(&self, args: &[&str]) -> Command {
        self.cli_as(&self.admin, args)
    }

    /// `vigil cases <args>` with `token`.
    pub(crate) fn cli_as(&self, token: &str, args: &[&str]) -> Command {
        let mut all = vec!["cases"];
        all.extend_from_slice(args);
        self.vigil_as(token, &all)
    }

    /// `vigil <args>` (any client command) with `token`.
    pub(crate) fn vigil_as(&self, token: &str, args: &[&str]) -> Command {
        client(self.dir.path(), &self.url, Some(token), args)
    }

    /// `vigil <args>` as the admin.
    pub(crate) fn vigil(&self, args: &[&str]) -> Command {
        self.vigil_as(&self.admin, args)
    }

    /// A token for a new principal `name` with `role`, made on the
    /// server's database.
    pub(crate) fn token(&self, name: &str, role: &str) -> String {
        let out = vigil(
            self.dir.path(),
            &["token", "create", "--name", name, "--role", role],
        );
        ok(&out).trim().to_owned()
    }

    /// Runs `vigil cases <args>` as the admin to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        finish(self.cli(args), Duration::from_secs(60))
    }

    /// Runs `vigil cases <args>`, asserting success; its stdout.
    #[track_caller]
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        ok(&self.run(args))
    }

    /// `vigil --json cases <args>`, parsed.
    #[track_caller]
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        json(&self.ok(&all))
    }

    #[track_caller]
    pub(crate) fn stop(mut self) {
        self.proc.stop_gracefully();
    }
}

pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts `out` failed with `code` and that stderr holds every one of
/// `needles`; returns stderr.
#[track_caller]
pub(crate) fn fails(out: &Output, code: i32, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        stdout(out)
    );
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` in: {err}");
    }
    err
}

#[test]
fn a_case_is_walked_from_open_to_closed_and_reopened_with_every_write_stored() {
    let server = Server::real();

    let created = server.ok(&[
        "create",
        "--title",
        "SSH brute force on web-01",
        "--severity",
        "high",
        "--assignee",
        "otto",
        "--tag",
        "SSH",
        "--alert",
        "siem-4411",
    ]);
    assert!(
        created.starts_with("CASE-1: created (open, severity high, 1 alerts; id "),
        "{created}"
    );

    // The same value twice (the second defanged): new, then a sighting.
    let first = server.ok(&[
        "observe",
        "CASE-1",
        "ip",
        "185.220.101.4",
        "--source",
        "siem",
    ]);
    assert!(
        first.starts_with("CASE-1: new observable ip 185.220.101.4 (tlp amber, pap amber; id "),
        "{first}"
    );
    let again = server.ok(&["observe", "CASE-1", "ip", "185.220.101[.]4"]);
    assert_eq!(
        again.trim(),
        "CASE-1: another sighting of ip 185.220.101.4 (2 sightings)"
    );

    // Evidence from a file (bytes that are not text), downloaded and checked.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    std::fs::write(server.path("auth.bin"), &bytes).unwrap();
    let sha = vigil_engine::case::sha256_hex(&bytes);
    let added = server.ok(&[
        "evidence",
        "CASE-1",
        "--name",
        "sshd log",
        "--kind",
        "log",
        "--file",
        &server.path("auth.bin"),
        "--description",
        "auth.log from web-01",
    ]);
    assert!(
        added.contains(&format!("stored (3000 bytes, sha256 {sha})")),
        "{added}"
    );
    let listed = server.json(&["evidence", "CASE-1", "--list"]);
    let evidence = listed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["sha256"], sha.as_str());
    let download = server.path("copy.bin");
    let wrote = server.ok(&["evidence", "CASE-1", &evidence, "--download", &download]);
    assert!(wrote.starts_with("wrote 3000 bytes to "), "{wrote}");
    assert_eq!(std::fs::read(&download).unwrap(), bytes);

    let custody = server.ok(&[
        "custody",
        "CASE-1",
        &evidence,
        "transferred",
        "--from",
        "otto",
        "--to",
        "forensics",
        "--note",
        "for imaging",
    ]);
    assert!(
        custody.contains("transferred otto -> forensics"),
        "{custody}"
    );
    let chain = server.ok(&["custody", "CASE-1", &evidence]);
    assert!(
        chain.contains("transferred otto -> forensics (recorded by admin): for imaging"),
        "{chain}"
    );
    let no_to = server.run(&["custody", "CASE-1", &evidence, "transferred"]);
    fails(&no_to, 6, &["invalid_input"]);

    let commented = server.ok(&["comment", "CASE-1", "Tor exit node; blocking it"]);
    assert!(commented.contains("(analyst note by admin)"), "{commented}");
    let task = server.json(&[
        "task",
        "CASE-1",
        "--title",
        "Block 185.220.101.4",
        "--priority",
        "high",
    ]);
    let task_id = task["id"].as_str().unwrap().to_owned();
    let done = server.ok(&["task", "CASE-1", &task_id, "--status", "done"]);
    assert!(
        done.contains("\"Block 185.220.101.4\" (done, priority high)"),
        "{done}"
    );
    assert_eq!(
        server.ok(&["assign", "CASE-1", "ana"]).trim(),
        "CASE-1: assigned to ana"
    );

    for status in ["in_progress", "contained", "eradicated", "recovered"] {
        assert_eq!(
            server.ok(&["status", "CASE-1", status]).trim(),
            format!("CASE-1: status {status}")
        );
    }
    let missing = server.run(&["status", "CASE-1", "resolved"]);
    fails(&missing, 6, &["invalid_input", "(field `disposition`)"]);
    assert_eq!(
        server
            .ok(&[
                "status",
                "CASE-1",
                "resolved",
                "--disposition",
                "true_positive"
            ])
            .trim(),
        "CASE-1: status resolved (true_positive)"
    );
    let backwards = server.run(&["status", "CASE-1", "in_progress"]);
    fails(&backwards, 5, &["invalid_transition", "allowed: closed"]);
    assert_eq!(
        server.ok(&["status", "CASE-1", "closed"]).trim(),
        "CASE-1: status closed (true_positive)",
        "the disposition is kept"
    );
    let no_reason = server.run(&["status", "CASE-1", "open"]);
    fails(&no_reason, 6, &["(field `reason`)"]);
    assert_eq!(
        server
            .ok(&["status", "CASE-1", "open", "--reason", "new logins seen"])
            .trim(),
        "CASE-1: status open"
    );
    let bad = server.run(&["status", "CASE-1", "solved"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));

    let timeline = server.ok(&["timeline", "CASE-1"]);
    let first_line = timeline.lines().next().unwrap();
    assert!(
        first_line.contains("created") && first_line.ends_with(
            "admin  \"SSH brute force on web-01\" (open, severity high, assigned to otto, tags ssh)"
        ),
        "{first_line}"
    );
    for needle in [
        "alert siem-4411 linked",
        "observable ip 185.220.101.4 (new; from siem, tlp amber, pap amber)",
        "observable ip 185.220.101.4 (2 sightings)",
        "custody transferred of evidence",
        "task \"Block 185.220.101.4\" todo -> done",
        "assigned to ana (was otto)",
        "status recovered -> resolved (true_positive)",
        "status closed -> open (disposition true_positive cleared): new logins seen",
    ] {
        assert!(timeline.contains(needle), "`{needle}` in:\n{timeline}");
    }
    let seqs: Vec<i64> = timeline
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let later = server.ok(&["timeline", "CASE-1", "--after-seq", "3"]);
    assert_eq!(later.lines().count(), seqs.len() - 3);

    let trail = server.path("trail.jsonl");
    let audit = server.ok(&["audit", "CASE-1", "-o", &trail]);
    assert!(
        audit.starts_with(&format!("chain valid ({} entries; case ", seqs.len())),
        "{audit}"
    );
    let exported: Vec<Value> = std::fs::read_to_string(&trail)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    assert_eq!(exported.len(), seqs.len());
    assert_eq!(exported.last().unwrap()["kind"], "status_change");

    let shown = server.ok(&["show", "CASE-1"]);
    for needle in [
        "case:          CASE-1 (",
        "status:        open (for ",
        "disposition:   -",
        "assignee:      ana",
        "counts:        1 alerts, 1 observables, 1 evidence, 1 comments, 1 tasks (0 open)",
        "alerts:        siem-4411",
        "\nObservables (1)\n",
        "ip    185.220.101.4  2          amber",
        "sshd log  log  3000 bytes",
        "    custody: ",
        "admin (analyst): Tor exit node; blocking it",
        "\nOpen tasks (0 of 1)\n",
    ] {
        assert!(shown.contains(needle), "`{needle}` in:\n{shown}");
    }
    assert!(!shown.contains("showcase"), "{shown}");
    let whole = server.json(&["show", "CASE-1"]);
    assert_eq!(whole["case"]["number"], "CASE-1");
    assert_eq!(whole["observables"][0]["sightings"], 2);
    assert_eq!(whole["custody"][&evidence][0]["to"], "forensics");

    server.stop();
}

#[test]
fn the_queue_filters_pages_and_counts() {
    let server = Server::real();
    for args in [
        &[
            "create",
            "--title",
            "SSH brute force on web-01",
            "--severity",
            "critical",
            "--assignee",
            "otto",
        ][..],
        &[
            "create",
            "--title",
            "Phishing mail to finance",
            "--severity",
            "low",
            "--tag",
            "phish",
        ][..],
        &["create", "--title", "Port scan of the DMZ"][..],
    ] {
        server.ok(args);
    }
    server.ok(&["observe", "CASE-1", "ip", "185.220.101.4"]);
    server.ok(&["status", "CASE-3", "closed", "--disposition", "benign"]);

    let numbers = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list"];
        all.extend_from_slice(args);
        server
            .ok(&all)
            .lines()
            .skip(1)
            .filter(|l| l.starts_with("CASE-"))
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        numbers(&["--sort", "number", "--order", "asc"]),
        ["CASE-1", "CASE-2", "CASE-3"]
    );
    assert_eq!(numbers(&["--severity", "critical,low"]).len(), 2);
    assert_eq!(numbers(&["--tag", "phish"]), ["CASE-2"]);
    assert_eq!(numbers(&["--observable", "185.220.101.4"]), ["CASE-1"]);
    assert_eq!(numbers(&["--assignee", "otto"]), ["CASE-1"]);
    assert_eq!(numbers(&["--unassigned", "--status", "open"]), ["CASE-2"]);
    assert_eq!(numbers(&["--search", "DMZ"]), ["CASE-3"]);

    let table = server.ok(&["list", "--status", "open"]);
    let header: Vec<&str> = table.lines().next().unwrap().split("  ").collect();
    let header: Vec<&str> = header
        .iter()
        .map(|h| h.trim())
        .filter(|h| !h.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "NUMBER",
            "SEVERITY",
            "STATUS",
            "TITLE",
            "ALERTS",
            "OBSERVABLES",
            "ASSIGNEE",
            "LAST ACTIVITY"
        ]
    );
    assert!(
        table.contains(
            "\n3 total, 2 open, 1 critical, 1 resolved (over the filters, status aside)\n"
        ),
        "{table}"
    );
    assert!(!table.contains("showcase"), "{table}");

    // Pages: a cursor, then the rest; --all follows the cursors.
    let page = server.json(&["list", "--sort", "number", "--order", "asc", "--limit", "2"]);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["kpis"]["total"], 3);
    assert_eq!(page["showcase"], false);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let first = server.ok(&["list", "--sort", "number", "--order", "asc", "--limit", "2"]);
    assert!(first.ends_with(&format!("next: {cursor}\n")), "{first}");
    assert_eq!(numbers(&["--limit", "2", "--cursor", &cursor]), ["CASE-3"]);
    assert_eq!(
        numbers(&[
            "--sort", "number", "--order", "asc", "--limit", "1", "--all"
        ]),
        ["CASE-1", "CASE-2", "CASE-3"]
    );
    let pages: Vec<Value> = server
        .ok(&["--json", "list", "--limit", "2", "--all"])
        .lines()
        .map(json)
        .collect();
    assert_eq!(pages.len(), 2, "one body per page");

    let conflict = server.run(&["list", "--cursor", &cursor, "--sort", "title"]);
    fails(&conflict, 5, &["cursor_sort_conflict"]);
    let unknown = server.run(&["show", "CASE-99"]);
    fails(&unknown, 3, &["not_found"]);

    server.stop();
}

/// Polls `check` every 50 ms until it holds, failing after `within`.
#[track_caller]
pub(crate) fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_timeline_follow_prints_entries_written_after_it_started_and_ends_on_delete() {
    let server = Server::real();
    server.ok(&["create", "--title", "Beaconing from fin-laptop-7"]);
    let out = server.path("follow.out");
    let err = server.path("follow.err");
    let mut follower = Proc::spawn(
        server
            .cli(&["timeline", "CASE-1", "--follow"])
            .stdout(std::fs::File::create(&out).unwrap()),
        Path::new(&err),
    );
    let printed = || std::fs::read_to_string(&out).unwrap_or_default();
    wait_until("the history", Duration::from_secs(30), || {
        printed().contains("created")
    });

    server.ok(&["comment", "CASE-1", "written while following"]);
    wait_until("the new entry", Duration::from_secs(30), || {
        printed().contains("analyst comment: written while following")
    });

    // A deleted case takes no more entries: the stream ends, and so does
    // the follow, by itself.
    server.ok(&["delete", "CASE-1", "--reason", "duplicate"]);
    wait_until("the follow to end", Duration::from_secs(30), || {
        follower.try_wait().is_some()
    });
    assert!(follower.try_wait().unwrap().success(), "{}", follower.log());
    assert!(
        follower.log().contains("takes no more entries"),
        "{}",
        follower.log()
    );
    let lines: Vec<String> = printed().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[2].contains("case_deleted") && lines[2].contains("deleted: duplicate"));

    server.stop();
}

#[test]
fn dummy_mode_writes_print_a_preview_and_change_nothing() {
    let server = Server::dummy();
    let before = server.json(&["list"]);
    assert_eq!(before["showcase"], true);
    let table = server.ok(&["list"]);
    assert!(
        table.starts_with("Showcase queue (dummy mode): bundled sample cases"),
        "{table}"
    );
    assert!(table.contains("CASE-4*"), "{table}");

    let preview = server.ok(&["status", "CASE-4", "in_progress"]);
    assert!(
        preview.starts_with(
            "preview (dummy mode): nothing was stored — would write: status_change: status open \
             -> in_progress\n  why: "
        ),
        "{preview}"
    );
    let created = server.ok(&["create", "--title", "Not stored"]);
    assert!(
        created.starts_with("preview (dummy mode): nothing was stored — would write: created:"),
        "{created}"
    );
    let sighting = server.ok(&["observe", "CASE-1", "ip", "185.220.101.4"]);
    assert!(
        sighting
            .contains("would write: observable_updated: observable ip 185.220.101.4 (2 sightings)"),
        "{sighting}"
    );
    let body = server.json(&["assign", "CASE-4", "otto"]);
    assert_eq!(body["preview"], true);
    assert_eq!(body["mode"], "dummy");
    // A preview is refused exactly when the write would be.
    let refused = server.run(&["status", "CASE-2", "in_progress"]);
    fails(&refused, 5, &["invalid_transition", "allowed: open"]);

    let after = server.json(&["list"]);
    assert_eq!(before, after, "nothing changed");
    let timeline = server.ok(&["timeline", "CASE-4"]);
    assert!(!timeline.contains("in_progress"), "{timeline}");

    server.stop();
}

#[test]
fn dry_run_previews_what_a_person_writes_and_stores_what_an_agent_writes() {
    let server = Server::with_model("dry_run");
    let soar = server.token("soar", "orchestrator");
    let ana = server.token("ana", "operator");
    let run = |token: &str, args: &[&str]| {
        ok(&finish(server.cli_as(token, args), Duration::from_secs(60)))
    };

    let filed = run(&soar, &["create", "--title", "Beaconing from fin-laptop-7"]);
    assert!(filed.starts_with("CASE-1: created (open"), "{filed}");
    let machine = run(&soar, &["comment", "CASE-1", "C2 beacon every 60 s"]);
    assert!(machine.contains("(machine note by soar)"), "{machine}");

    let person = run(&ana, &["status", "CASE-1", "in_progress"]);
    assert!(
        person.starts_with(
            "preview (dry_run mode): nothing was stored — would write: status_change: status \
             open -> in_progress\n"
        ),
        "{person}"
    );
    let note = run(&ana, &["comment", "CASE-1", "looking"]);
    assert!(
        note.starts_with("preview (dry_run mode): nothing was stored"),
        "{note}"
    );

    let case = server.json(&["show", "CASE-1"]);
    assert_eq!(case["case"]["status"], "open");
    assert_eq!(case["comments"].as_array().unwrap().len(), 1);

    server.stop();
}

#[test]
fn dispatch_with_a_case_links_the_run_to_it() {
    let server = Server::real();
    let soar = server.token("soar", "orchestrator");
    server.ok(&["create", "--title", "Linked from the CLI"]);
    let run = |args: &[&str]| finish(server.vigil_as(&soar, args), Duration::from_secs(60));
    let dispatched = ok(&run(&[
        "dispatch",
        "--agent",
        "triage",
        "--case",
        "CASE-1",
        "Failed SSH logins from 185.220.101.4",
    ]));
    let id = dispatched.split_whitespace().next().unwrap().to_owned();
    let linked = server.json(&["investigations", "CASE-1"]);
    assert_eq!(linked["items"][0]["id"], id.as_str(), "{linked}");
    let timeline = server.ok(&["timeline", "CASE-1"]);
    assert!(timeline.contains(&id), "{timeline}");
    let unknown = run(&["dispatch", "--agent", "triage", "--case", "CASE-99", "p"]);
    fails(&unknown, 3, &["case_id"]);
    server.stop();
}

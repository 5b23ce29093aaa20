//! The CLI client against a real `vigil serve` on loopback: the README's
//! newcomer flow entirely through the CLI, and the exit codes scripts rely
//! on. SQLite in a temporary directory with the repository's sample
//! `vigil.toml` (dummy mode: the scripted triage run asks for an
//! `isolate_host` approval).

use std::path::Path;
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const PROMPT: &str = "Failed SSH logins on web-01 from 185.220.101.4";

/// A `vigil serve` in a directory of its own with the sample
/// configuration; killed if the test panics.
struct Server {
    proc: Proc,
    dir: tempfile::TempDir,
    listen: String,
    url: String,
    admin: String,
}

impl Server {
    /// Starts `vigil serve` in a fresh directory with the sample
    /// configuration and reads the admin token it prints on first start.
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("vigil.toml"),
            dir.path().join("vigil.toml"),
        )
        .unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let (proc, admin) = serve(dir.path(), &[], &listen);
        let server = Server {
            proc,
            url: format!("http://{listen}"),
            listen,
            dir,
            admin: admin.unwrap_or_default(),
        };
        assert!(
            server.admin.starts_with("vgl_"),
            "the first start prints an admin token; the log:\n{}",
            server.log()
        );
        server
    }

    /// Starts `vigil serve` again on the same database and address.
    fn restart(&mut self) {
        let (proc, admin) = serve(self.dir.path(), &[], &self.listen);
        self.proc = proc;
        assert_eq!(admin, None, "the admin token is printed only once");
    }

    fn log(&self) -> String {
        self.proc.log()
    }

    /// `vigil <args>` against this server with `token` (none: no token).
    fn cli(&self, token: Option<&str>, args: &[&str]) -> Command {
        client(self.dir.path(), &self.url, token, args)
    }

    /// Runs `vigil <args>` as `token` to completion (at most a minute).
    fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        finish(self.cli(token, args), Duration::from_secs(60))
    }

    /// Stops the server with SIGTERM and waits for its exit.
    fn stop(&mut self) -> ExitStatus {
        self.proc.terminate()
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn a_newcomer_dispatches_approves_as_a_second_principal_and_verifies_the_audit_trail() {
    let mut server = Server::start();
    let admin = server.admin.clone();
    let admin = Some(admin.as_str());

    // A second principal, made on the same database.
    let created = vigil(
        server.dir.path(),
        &["token", "create", "--name", "ana", "--role", "approver"],
    );
    let ana_token = ok(&created).trim().to_owned();
    assert!(ana_token.starts_with("vgl_"), "{ana_token}");
    let ana = Some(ana_token.as_str());

    let dispatched = ok(&server.run(
        admin,
        &[
            "dispatch",
            "--agent",
            "triage",
            "--case-ref",
            "INC-4411",
            PROMPT,
        ],
    ));
    assert!(
        dispatched.contains("pending/queued (dispatched; agent triage)"),
        "{dispatched}"
    );
    let id = dispatched.split_whitespace().next().unwrap().to_owned();

    // Follow the live stream until it parks on the approval.
    let parked = finish(
        server.cli(
            admin,
            &["events", &id, "--until-state", "awaiting_approval"],
        ),
        Duration::from_secs(60),
    );
    let timeline = ok(&parked);
    let last = timeline.lines().last().unwrap();
    assert!(last.contains("approval_requested"), "{timeline}");
    assert!(last.contains("isolate_host"), "{timeline}");
    assert!(
        timeline.lines().next().unwrap().contains("dispatched"),
        "{timeline}"
    );

    let detail = json(&ok(&server.run(admin, &["--json", "show", &id])));
    assert_eq!(detail["phase"], "awaiting_approval");
    let approval = detail["pending_approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = ok(&server.run(admin, &["show", &id]));
    assert!(
        shown.starts_with("state:        pending/awaiting_approval"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("Waiting on approval {approval}: isolate_host")),
        "{shown}"
    );

    // The dispatcher may not approve its own investigation.
    let own = server.run(admin, &["approve", &approval]);
    assert_eq!(code(&own), Some(4), "{}", stderr(&own));
    assert!(
        stderr(&own).contains("separation_of_duties"),
        "{}",
        stderr(&own)
    );

    let inbox = ok(&server.run(ana, &["approvals"]));
    let row = inbox
        .lines()
        .find(|l| l.starts_with(&approval))
        .unwrap_or_else(|| panic!("{inbox}"));
    assert!(
        row.contains("pending") && row.contains("isolate_host"),
        "{row}"
    );
    let context = ok(&server.run(ana, &["approvals", "show", &approval]));
    assert!(context.contains("you decide:    yes"), "{context}");
    assert!(context.contains(PROMPT), "{context}");

    let approved = ok(&server.run(ana, &["approve", &approval, "--comment", "contain it"]));
    assert!(approved.contains("approved by ana"), "{approved}");
    let again = server.run(ana, &["approve", &approval]);
    assert_eq!(code(&again), Some(5), "already decided: {}", stderr(&again));

    // Follow to the end, as JSON Lines, from where the first follow stopped.
    let after = detail["last_seq"].as_i64().unwrap().to_string();
    let rest = finish(
        server.cli(
            admin,
            &[
                "--json",
                "events",
                &id,
                "--after-seq",
                &after,
                "--until-state",
                "finished",
            ],
        ),
        Duration::from_secs(60),
    );
    let rest: Vec<Value> = ok(&rest).lines().map(json).collect();
    assert_eq!(rest.first().unwrap()["kind"], "approval_decided");
    assert_eq!(rest.first().unwrap()["actor"], "ana");
    assert_eq!(rest.last().unwrap()["kind"], "completed");

    let result = ok(&server.run(admin, &["show", &id]));
    assert!(result.starts_with("state:        completed"), "{result}");
    assert!(result.contains("  summary:    "), "{result}");
    assert!(result.contains("  confidence: 0."), "{result}");
    assert!(result.contains("recommended next steps:"), "{result}");

    let verified = ok(&server.run(admin, &["audit", "verify", &id]));
    assert!(verified.starts_with("chain valid ("), "{verified}");
    let trail = server.dir.path().join("trail.jsonl");
    ok(&server.run(
        admin,
        &["audit", "export", &id, "-o", trail.to_str().unwrap()],
    ));
    let events: Vec<Value> = std::fs::read_to_string(&trail)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "contiguous from 1");
    assert_eq!(events.last().unwrap()["kind"], "completed");
    assert!(
        verified.contains(&format!("{} events", events.len())),
        "{verified}"
    );

    let listed = ok(&server.run(
        admin,
        &["list", "--status", "completed", "--case-ref", "INC-4411"],
    ));
    assert!(listed.lines().any(|l| l.starts_with(&id)), "{listed}");

    // Even traced, the client never prints the token.
    let traced = client(server.dir.path(), &server.url, admin, &["show", &id])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    ok(&traced);
    let secret = server.admin.as_str();
    assert!(!stderr(&traced).contains(secret) && !stdout(&traced).contains(secret));

    let status = server.stop();
    assert!(
        status.success(),
        "graceful exit: {status:?}\n{}",
        server.log()
    );
}

#[test]
fn exit_codes_tell_scripts_what_went_wrong() {
    let mut server = Server::start();
    let admin = server.admin.clone();
    let admin = Some(admin.as_str());

    let missing = uuid::Uuid::now_v7().to_string();
    for id in [missing.as_str(), "not-an-id"] {
        let out = server.run(admin, &["show", id]);
        assert_eq!(code(&out), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("not_found"), "{}", stderr(&out));
    }

    let anonymous = server.run(None, &["list"]);
    assert_eq!(code(&anonymous), Some(4), "{}", stderr(&anonymous));
    assert!(stderr(&anonymous).contains("unauthenticated"));
    let forged = format!("vgl_{}_{}", "0".repeat(16), "0".repeat(64));
    assert_eq!(code(&server.run(Some(&forged), &["list"])), Some(4));

    // An orchestrator may dispatch but not read the approval inbox.
    let orch = ok(&vigil(
        server.dir.path(),
        &[
            "token",
            "create",
            "--name",
            "soar",
            "--role",
            "orchestrator",
        ],
    ));
    let forbidden = server.run(Some(orch.trim()), &["approvals"]);
    assert_eq!(code(&forbidden), Some(4), "{}", stderr(&forbidden));
    assert!(
        stderr(&forbidden).contains("forbidden"),
        "{}",
        stderr(&forbidden)
    );

    let unknown = server.run(
        admin,
        &["dispatch", "--agent", "phishing", "Mail to the CFO"],
    );
    assert_eq!(code(&unknown), Some(6), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("unknown_agent") && stderr(&unknown).contains("agent_id"),
        "code, detail and field: {}",
        stderr(&unknown)
    );
    let bad_filter = server.run(admin, &["list", "--since", "yesterday"]);
    assert_eq!(code(&bad_filter), Some(6), "{}", stderr(&bad_filter));

    // --json: the API's bodies on stdout, its problems on stderr.
    let dispatched = json(&ok(&server.run(
        admin,
        &[
            "--json",
            "dispatch",
            "--agent",
            "triage",
            "--idempotency-key",
            "k1",
            PROMPT,
        ],
    )));
    let replay = json(&ok(&server.run(
        admin,
        &[
            "--json",
            "dispatch",
            "--agent",
            "triage",
            "--idempotency-key",
            "k1",
            PROMPT,
        ],
    )));
    assert_eq!(dispatched["id"], replay["id"], "one investigation per key");
    let reused = server.run(
        admin,
        &[
            "dispatch",
            "--agent",
            "triage",
            "--idempotency-key",
            "k1",
            "Another prompt",
        ],
    );
    assert_eq!(code(&reused), Some(5), "{}", stderr(&reused));
    let page = json(&ok(&server.run(admin, &["--json", "list"])));
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == dispatched["id"])
    );
    let problem = server.run(admin, &["--json", "show", &missing]);
    assert_eq!(code(&problem), Some(3));
    assert_eq!(json(&stderr(&problem))["code"], "not_found");

    let status = server.stop();
    assert!(
        status.success(),
        "graceful exit: {status:?}\n{}",
        server.log()
    );
}

#[test]
fn an_unreachable_server_and_bad_settings_have_their_own_codes() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["list"][..],
        &["events", "01a210ba-781c-7a5d-874e-8b73d3bb0f91", "--follow"][..],
    ] {
        let out = finish(
            client(dir.path(), &nowhere, Some("vgl_x"), args),
            Duration::from_secs(30),
        );
        assert_eq!(code(&out), Some(7), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot reach the Vigil API"),
            "{}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("vgl_x"),
            "the token is never printed"
        );
    }
    let bad_url = finish(
        client(dir.path(), "ftp://example", None, &["list"]),
        Duration::from_secs(30),
    );
    assert_eq!(code(&bad_url), Some(2), "{}", stderr(&bad_url));
    let usage = vigil(
        dir.path(),
        &["review", "01a210ba-781c-7a5d-874e-8b73d3bb0f91"],
    );
    assert_eq!(code(&usage), Some(2), "neither --accept-raw nor --result");
    assert!(
        !dir.path().join("vigil.db").exists(),
        "client commands never open a database"
    );
}

/// Polls `check` every 50 ms until it holds, failing after `within`.
#[track_caller]
fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_follow_resumes_after_a_server_restart_without_gaps_or_repeats() {
    let mut server = Server::start();
    let admin = server.admin.clone();
    let admin = Some(admin.as_str());
    let ana = ok(&vigil(
        server.dir.path(),
        &["token", "create", "--name", "ana", "--role", "approver"],
    ));
    let dispatched = ok(&server.run(admin, &["dispatch", "--agent", "triage", PROMPT]));
    let id = dispatched.split_whitespace().next().unwrap().to_owned();
    ok(&finish(
        server.cli(
            admin,
            &["events", &id, "--until-state", "awaiting_approval"],
        ),
        Duration::from_secs(60),
    ));
    let parked = json(&ok(&server.run(admin, &["--json", "show", &id])));
    let parked_seq = parked["last_seq"].as_i64().unwrap();
    let approval = parked["pending_approval"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let out_path = server.dir.path().join("follow.out");
    let err_path = server.dir.path().join("follow.err");
    let mut follower = Proc::spawn(
        server
            .cli(
                admin,
                &["--json", "events", &id, "--until-state", "finished"],
            )
            .stdout(std::fs::File::create(&out_path).unwrap()),
        &err_path,
    );
    let lines = || {
        std::fs::read_to_string(&out_path)
            .unwrap_or_default()
            .lines()
            .count()
    };
    wait_until(
        "the follower to print the history",
        Duration::from_secs(30),
        || lines() as i64 == parked_seq,
    );

    let stopped = server.stop();
    assert!(stopped.success(), "graceful exit: {stopped:?}");
    let err = || std::fs::read_to_string(&err_path).unwrap_or_default();
    wait_until("the follower to notice", Duration::from_secs(30), || {
        err().contains("reconnecting")
    });
    server.restart();
    ok(&server.run(Some(ana.trim()), &["approve", &approval]));

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = follower.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            panic!("the follower did not finish: {}", err());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}: {}", err());
    assert!(
        err().contains(&format!("reconnected; resuming after seq {parked_seq}")),
        "{}",
        err()
    );
    let events: Vec<Value> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "every event once, in order");
    assert_eq!(events[parked_seq as usize]["kind"], "approval_decided");
    assert_eq!(events.last().unwrap()["kind"], "completed");

    let status = server.stop();
    assert!(
        status.success(),
        "graceful exit: {status:?}\n{}",
        server.log()
    );
}

/// The audit key of the receipt test: 32 bytes, hex.
const AUDIT_KEY: &str = "4242424242424242424242424242424242424242424242424242424242424242";

#[test]
fn a_saved_head_receipt_catches_a_trail_cut_short_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("vigil.toml"),
        dir.path().join("vigil.toml"),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{listen}");
    let env = [("VIGIL_AUDIT_KEY", AUDIT_KEY)];
    let (mut proc, admin) = serve_with_env(dir.path(), &[], &env, &listen);
    let admin = admin.expect("an admin token");
    let run = |args: &[&str]| {
        finish(
            client(dir.path(), &url, Some(&admin), args),
            Duration::from_secs(60),
        )
    };

    // The public key, printed locally from the environment, no server asked.
    let mut key_command = command(dir.path(), "warn");
    key_command
        .env("VIGIL_AUDIT_KEY", AUDIT_KEY)
        .args(["audit", "key"]);
    let key = ok(&finish(key_command, Duration::from_secs(60)))
        .trim()
        .to_owned();
    assert_eq!(key.len(), 64, "{key}");

    let dispatched = json(&ok(&run(&[
        "--json", "dispatch", "--agent", "triage", PROMPT,
    ])));
    let id = dispatched["id"].as_str().unwrap().to_owned();
    ok(&run(&["cancel", &id, "--reason", "duplicate alert"]));
    let receipt = dir.path().join("receipt.json");
    ok(&run(&[
        "audit",
        "receipt",
        &id,
        "-o",
        receipt.to_str().unwrap(),
    ]));
    let saved = json(&std::fs::read_to_string(&receipt).unwrap());
    assert_eq!(saved["status"], "failed");

    let verified = ok(&run(&[
        "audit",
        "verify",
        &id,
        "--receipt",
        receipt.to_str().unwrap(),
        "--public-key",
        &key,
    ]));
    assert!(verified.contains("receipt holds"), "{verified}");

    // A superuser cuts the last event off and rewinds the row's tail.
    proc.terminate();
    let db = dir.path().join("vigil.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        for sql in [
            "DROP TRIGGER investigation_events_no_delete".to_owned(),
            format!(
                "DELETE FROM investigation_events WHERE investigation_id = '{id}' AND seq = \
                 (SELECT last_seq FROM investigations WHERE id = '{id}')"
            ),
            format!(
                "UPDATE investigations SET last_seq = last_seq - 1, last_hash = (SELECT hash FROM \
                 investigation_events WHERE investigation_id = '{id}' ORDER BY seq DESC LIMIT 1) \
                 WHERE id = '{id}'"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
    });
    let (_proc, _) = serve_with_env(dir.path(), &[], &env, &listen);

    let out = run(&[
        "audit",
        "verify",
        &id,
        "--receipt",
        receipt.to_str().unwrap(),
        "--public-key",
        &key,
    ]);
    assert_eq!(code(&out), Some(8), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("events were removed"),
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    // A forged receipt does not verify either.
    let mut forged = saved.clone();
    forged["seq"] = serde_json::json!(saved["seq"].as_i64().unwrap() - 1);
    std::fs::write(&receipt, forged.to_string()).unwrap();
    let out = run(&[
        "audit",
        "verify",
        &id,
        "--receipt",
        receipt.to_str().unwrap(),
        "--public-key",
        &key,
    ]);
    assert_eq!(code(&out), Some(8));
    assert!(
        stderr(&out).contains("altered or forged"),
        "{}",
        stderr(&out)
    );
}

//! Crash safety with real `vigil` processes, a scripted model server and a
//! tool server on loopback.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_agents::testing::model::{self as scripted, tool_calls};
use vigil_agents::testing::tools;

use crate::support::*;

const RESULT: &str = r#"{"summary":"Tor exit brute force","key_findings":["24 failures"],"recommended_next_steps":["block"],"confidence":0.8}"#;

/// A model that looks the address up, then submits. The first time it is
/// asked for its second turn it stalls for `stall`, so a test can kill the
/// worker in the middle of a run.
async fn model_with_stall(stall: Duration) -> std::net::SocketAddr {
    let (addr, script) = scripted::serve().await;
    let stalls = Arc::new(AtomicUsize::new(0));
    script.respond_with(Arc::new(move |body: &Value| {
        let results = body["messages"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["role"] == "tool").count());
        match results {
            0 => tool_calls(&[("ip_lookup", r#"{"ip":"185.220.101.4"}"#, Some("c1"))]),
            _ => {
                let reply = tool_calls(&[("submit_result", RESULT, Some("final"))]);
                if stalls.fetch_add(1, Ordering::SeqCst) == 0 {
                    reply.delayed(stall)
                } else {
                    reply
                }
            }
        }
    }));
    addr
}

fn config(dir: &Path, database: &str, model: std::net::SocketAddr, tools: std::net::SocketAddr) {
    let toml = format!(
        r#"
[database]
url = "{database}"

[model]
base_url = "http://{model}/v1"
model = "scripted-1"
timeout = "60s"
retry = {{ max_retries = 0 }}

[[agents]]
id = "triage"
system_prompt = "Investigate, then submit_result."
tools = ["ip_lookup"]

[[tools]]
kind = "http"
name = "ip_lookup"
description = "Look an IP up"
url = "http://{tools}/echo/ip/{{ip}}"
parameters = {{ type = "object", properties = {{ ip = {{ type = "string" }} }}, required = ["ip"] }}

[worker]
poll_interval = "200ms"
grace = "5s"
lease = "3s"

[reaper]
schedule = "*/1 * * * * *"

[expiry]
schedule = "*/1 * * * * *"
"#
    );
    std::fs::write(dir.join("vigil.toml"), toml).unwrap();
}

/// Starts `vigil <subcommand>` in the background, its log in `dir/log`.
fn spawn(dir: &Path, subcommand: &str, log: &str) -> Proc {
    let mut cmd = command(dir, "info");
    cmd.arg(subcommand);
    if subcommand == "serve" {
        // Any free port: these tests do not call the API.
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    Proc::spawn(cmd.stdout(Stdio::null()), &dir.join(log))
}

/// Polls `vigil admin status` until the investigation's state (`status` or
/// `pending/phase`) is `want` or `within` has passed; returns the last state.
async fn wait_for_state(url: &str, id: &str, want: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let state = state(url, id);
        if state == want || Instant::now() > deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn state(url: &str, id: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["--database", url, "admin", "status", id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

async fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn dispatched_id(out: &std::process::Output) -> String {
    ok(out).split_whitespace().next().unwrap().to_owned()
}

async fn kill_rescue_finish(dir: &Path, url: &str, serve_cmd: &str) {
    let model = model_with_stall(Duration::from_secs(30)).await;
    let (tool_addr, tool_log) = tools::serve().await;
    config(dir, url, model, tool_addr);
    if url.starts_with("postgres") {
        ok(&vigil(dir, &["migrate"]));
    }
    let id = dispatched_id(&vigil(
        dir,
        &[
            "admin",
            "dispatch",
            "--agent",
            "triage",
            "--requested-by",
            "soar",
            "Failed SSH logins from 185.220.101.4",
        ],
    ));

    let mut first = spawn(dir, serve_cmd, "first.log");
    // The first tool call has a result and the second model turn is stalled.
    wait_until("the first tool call", Duration::from_secs(30), || {
        tool_log.count() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill(); // SIGKILL

    let mut second = spawn(dir, serve_cmd, "second.log");
    let state = wait_for_state(url, &id, "dead_lettered", Duration::from_secs(15)).await;
    assert_eq!(
        state,
        "dead_lettered",
        "reaped within the lease + a tick; the second process's log:\n{}",
        second.log()
    );
    ok(&vigil(
        dir,
        &["admin", "rescue", &id, "--reason", "worker host died"],
    ));
    let state = wait_for_state(url, &id, "completed", Duration::from_secs(30)).await;
    assert_eq!(state, "completed", "{}", second.log());
    assert_eq!(
        tool_log.count(),
        1,
        "the tool call that had a result was not called again"
    );
    second.stop_gracefully();
    let audit = vigil(dir, &["--database", url, "admin", "audit", &id]);
    assert!(stdout(&audit).contains("chain valid"), "{}", stdout(&audit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_is_reaped_rescued_and_finished_by_another() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    kill_rescue_finish(dir.path(), &db.url, "worker").await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_serve_killed_and_restarted_rescues_its_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("vigil.db").display());
    kill_rescue_finish(dir.path(), &url, "serve").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_linked_run_killed_after_a_tool_result_writes_one_result_to_its_case() {
    use vigil_engine::case::{CaseEventKind, NewCase};
    use vigil_engine::store::{CaseReads, Cases, Dispatcher, Reads};

    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    // The second model turn, after the tool result, stalls the first time:
    // the worker is killed while it waits for it.
    let model = model_with_stall(Duration::from_secs(30)).await;
    let (tool_addr, tool_log) = tools::serve().await;
    config(dir.path(), &db.url, model, tool_addr);
    ok(&vigil(dir.path(), &["migrate"]));
    let store = vigil_store_postgres::connect(
        vigil_store_postgres::Options::new(&db.url),
        Arc::new(vigil_engine::SystemClock),
    )
    .await
    .unwrap();
    let case = store
        .create_case(
            "soar",
            NewCase {
                title: "SSH brute force on web-01".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = store
        .dispatch(vigil_engine::store::DispatchRequest {
            agent_id: "triage".into(),
            prompt: "Failed SSH logins from 185.220.101.4".into(),
            requested_by: "soar".into(),
            case_id: Some(case.id),
            ..Default::default()
        })
        .await
        .unwrap()
        .investigation
        .id;

    let mut first = spawn(dir.path(), "worker", "first.log");
    let events = |kind: &str| {
        format!(
            "SELECT count(*) FROM investigation_events WHERE investigation_id = '{id}' \
             AND kind = '{kind}'"
        )
    };
    // Killed once the tool's result is checkpointed, while the model's
    // next turn is stalled: the run has not completed.
    wait_until_pg(&db.url, &events("tool_result"), 1).await;
    first.kill(); // SIGKILL
    assert_eq!(pg_count(&db.url, &events("completed")).await, 0);

    let mut second = spawn(dir.path(), "worker", "second.log");
    let state = wait_for_state(
        &db.url,
        &id.to_string(),
        "dead_lettered",
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(
        state,
        "dead_lettered",
        "the second worker's log:\n{}",
        second.log()
    );
    ok(&vigil(
        dir.path(),
        &[
            "admin",
            "rescue",
            &id.to_string(),
            "--reason",
            "worker host died",
        ],
    ));
    let state = wait_for_state(
        &db.url,
        &id.to_string(),
        "completed",
        // The stub model answers the rescued run's call only after the
        // killed worker's stalled one (30 s) is over: wait well past it.
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(
        state,
        "completed",
        "the second worker's log:\n{}",
        second.log()
    );
    second.stop_gracefully();
    assert_eq!(
        tool_log.count(),
        1,
        "the checkpointed tool call was not run again"
    );
    assert_eq!(pg_count(&db.url, &events("completed")).await, 1);

    let timeline = store.case_timeline(case.id, 0, 1000).await.unwrap();
    let count = |kind: CaseEventKind| timeline.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count(CaseEventKind::InvestigationLinked), 1);
    assert_eq!(
        count(CaseEventKind::ResultWritten),
        1,
        "one result on the case: {:?}",
        timeline.iter().map(|e| e.kind).collect::<Vec<_>>()
    );
    let audit = store.verify_case(case.id).await.unwrap();
    assert!(audit.valid && audit.mismatches.is_empty(), "{audit:?}");
    let chain = store.verify_chain(id).await.unwrap();
    assert!(chain.valid && chain.mismatches.is_empty(), "{chain:?}");
    let shown = store.case(case.id).await.unwrap();
    assert_eq!(
        shown.case.confidence,
        Some(0.8),
        "the result's confidence is the case's"
    );
    store.backend().close().await;
    db.drop_now().await;
}

/// A model that looks the address up and submits, answering every turn
/// after `delay`.
async fn steady_model(delay: Duration) -> std::net::SocketAddr {
    let (addr, script) = scripted::serve().await;
    script.respond_with(Arc::new(move |body: &Value| {
        let results = body["messages"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["role"] == "tool").count());
        let reply = match results {
            0 => tool_calls(&[("ip_lookup", r#"{"ip":"185.220.101.4"}"#, Some("c1"))]),
            _ => tool_calls(&[("submit_result", RESULT, Some("final"))]),
        };
        reply.delayed(delay)
    }));
    addr
}

async fn pg_count(url: &str, sql: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

async fn dispatch_many(url: &str, n: usize) {
    let store = vigil_store_postgres::connect(
        vigil_store_postgres::Options::new(url),
        Arc::new(vigil_engine::SystemClock),
    )
    .await
    .unwrap();
    use vigil_engine::store::Dispatcher;
    for i in 0..n {
        store
            .dispatch(vigil_engine::store::DispatchRequest {
                agent_id: "triage".into(),
                prompt: format!("Alert {i}: failed SSH logins from 185.220.101.4"),
                requested_by: "soar".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    store.backend().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_zombie_worker_writes_nothing_after_it_was_reaped() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let model = model_with_stall(Duration::from_secs(8)).await;
    let (tool_addr, tool_log) = tools::serve().await;
    config(dir.path(), &db.url, model, tool_addr);
    ok(&vigil(dir.path(), &["migrate"]));
    let id = dispatched_id(&vigil(
        dir.path(),
        &[
            "admin",
            "dispatch",
            "--agent",
            "triage",
            "--requested-by",
            "soar",
            "Failed SSH logins",
        ],
    ));

    let mut zombie = spawn(dir.path(), "worker", "zombie.log");
    wait_until("the first tool call", Duration::from_secs(30), || {
        tool_log.count() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    zombie.signal("STOP");

    let mut other = spawn(dir.path(), "worker", "other.log");
    assert_eq!(
        wait_for_state(&db.url, &id, "dead_lettered", Duration::from_secs(15)).await,
        "dead_lettered",
        "the other worker's log:\n{}",
        other.log()
    );
    ok(&vigil(
        dir.path(),
        &["admin", "rescue", &id, "--reason", "worker frozen"],
    ));
    assert_eq!(
        wait_for_state(&db.url, &id, "completed", Duration::from_secs(30)).await,
        "completed",
        "the other worker's log:\n{}",
        other.log()
    );

    // Wake the zombie: its stalled model call returns and it tries to go on.
    zombie.signal("CONT");
    wait_until("the zombie to notice", Duration::from_secs(20), || {
        zombie.log().contains("lease lost")
    })
    .await;
    let late = pg_count(
        &db.url,
        &format!(
            "SELECT count(*) FROM investigation_events WHERE investigation_id = '{id}' AND epoch = 1 \
             AND seq > (SELECT seq FROM investigation_events WHERE investigation_id = '{id}' AND kind = 'dead_lettered')"
        ),
    )
    .await;
    assert_eq!(late, 0, "the zombie's epoch wrote nothing after the reap");
    assert_eq!(
        tool_log.count(),
        1,
        "the zombie did not call the tool again"
    );
    assert!(stdout(&vigil(dir.path(), &["admin", "audit", &id])).contains("chain valid"));
    zombie.stop_gracefully();
    other.stop_gracefully();
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_finish_two_hundred_investigations_exactly_once() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let model = steady_model(Duration::ZERO).await;
    let (tool_addr, tool_log) = tools::serve().await;
    config(dir.path(), &db.url, model, tool_addr);
    ok(&vigil(dir.path(), &["migrate"]));
    let mut a = spawn(dir.path(), "worker", "a.log");
    let mut b = spawn(dir.path(), "worker", "b.log");
    dispatch_many(&db.url, 200).await;
    wait_for_completed(&db.url, 200, Duration::from_secs(120)).await;
    assert_eq!(
        pg_count(
            &db.url,
            "SELECT count(*) FROM investigation_events WHERE kind = 'completed'"
        )
        .await,
        200
    );
    assert_eq!(
        pg_count(
            &db.url,
            "SELECT count(*) FROM investigation_events WHERE kind = 'claimed'"
        )
        .await,
        200,
        "each claimed once"
    );
    assert_eq!(tool_log.count(), 200, "each tool call ran once");
    let workers = pg_count(
        &db.url,
        "SELECT count(DISTINCT actor) FROM investigation_events WHERE kind = 'claimed'",
    )
    .await;
    assert_eq!(workers, 2, "both workers took part");
    // A tool-calling model turn is committed with its call's intent: both
    // rows carry the same transaction id.
    let pair = "FROM investigation_events t JOIN investigation_events i \
                ON i.investigation_id = t.investigation_id AND i.seq = t.seq + 1 \
                WHERE t.kind = 'model_turn' AND i.kind = 'tool_intent'";
    assert_eq!(
        pg_count(&db.url, &format!("SELECT count(*) {pair}")).await,
        200
    );
    assert_eq!(
        pg_count(
            &db.url,
            &format!("SELECT count(*) {pair} AND t.xmin::text <> i.xmin::text")
        )
        .await,
        0,
        "turn and intent in one transaction"
    );
    let store = vigil_store_postgres::connect(
        vigil_store_postgres::Options::new(&db.url),
        Arc::new(vigil_engine::SystemClock),
    )
    .await
    .unwrap();
    use vigil_engine::store::Reads;
    let page = store
        .list(&vigil_engine::store::ListQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    for inv in &page.items {
        let report = store.verify_chain(inv.id).await.unwrap();
        assert!(report.valid, "{report:?}");
    }
    store.backend().close().await;
    a.stop_gracefully();
    b.stop_gracefully();
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_releases_runs_that_the_other_worker_finishes() {
    let db = TempDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let model = steady_model(Duration::from_millis(400)).await;
    let (tool_addr, _) = tools::serve().await;
    config(dir.path(), &db.url, model, tool_addr);
    ok(&vigil(dir.path(), &["migrate"]));
    let mut a = spawn(dir.path(), "worker", "a.log");
    let mut b = spawn(dir.path(), "worker", "b.log");
    dispatch_many(&db.url, 60).await;
    wait_until_pg(
        &db.url,
        "SELECT count(*) FROM investigations WHERE status = 'completed'",
        5,
    )
    .await;
    a.stop_gracefully();
    wait_for_completed(&db.url, 60, Duration::from_secs(90)).await;
    assert_eq!(
        pg_count(
            &db.url,
            "SELECT count(*) FROM investigation_events WHERE kind = 'dead_lettered'"
        )
        .await,
        0
    );
    let released = pg_count(
        &db.url,
        "SELECT count(*) FROM investigation_events WHERE kind = 'released'",
    )
    .await;
    assert!(released > 0, "runs in flight were released, not abandoned");
    b.stop_gracefully();
    db.drop_now().await;
}

async fn wait_until_pg(url: &str, sql: &str, at_least: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while pg_count(url, sql).await < at_least {
        assert!(Instant::now() < deadline, "timed out waiting for {sql}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_ride_out_a_database_restart() {
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let model = steady_model(Duration::from_millis(300)).await;
    let (tool_addr, _) = tools::serve().await;
    config(dir.path(), &url, model, tool_addr);
    // Leases must outlive the outage: this test is about reconnecting.
    let toml = std::fs::read_to_string(dir.path().join("vigil.toml"))
        .unwrap()
        .replace("lease = \"3s\"", "lease = \"30s\"");
    std::fs::write(dir.path().join("vigil.toml"), toml).unwrap();
    ok(&vigil(dir.path(), &["migrate"]));
    let mut a = spawn(dir.path(), "worker", "a.log");
    let mut b = spawn(dir.path(), "worker", "b.log");
    dispatch_many(&url, 40).await;
    wait_until_pg(
        &url,
        "SELECT count(*) FROM investigations WHERE status = 'completed'",
        5,
    )
    .await;

    cluster.down();
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.up();

    wait_for_completed(&url, 40, Duration::from_secs(90)).await;
    assert_eq!(
        pg_count(
            &url,
            "SELECT count(*) FROM investigation_events WHERE kind = 'completed'"
        )
        .await,
        40,
        "none duplicated"
    );
    assert_eq!(
        pg_count(
            &url,
            "SELECT count(*) FROM investigations WHERE status <> 'completed'"
        )
        .await,
        0,
        "none lost"
    );
    a.stop_gracefully();
    b.stop_gracefully();
}

/// Waits until exactly `n` investigations are completed.
async fn wait_for_completed(url: &str, n: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let done = pg_count(
            url,
            "SELECT count(*) FROM investigations WHERE status = 'completed'",
        )
        .await;
        if done == n {
            return;
        }
        assert!(Instant::now() < deadline, "only {done} of {n} completed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

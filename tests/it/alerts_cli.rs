//! `vigil alerts ...` and the case run commands (`vigil cases investigate`,
//! `investigations`, `related`) against a real `vigil serve` on a fresh
//! SQLite file: alerts ingested from a file and from stdin (a redelivery
//! linked once), grouped, listed with filters and pages, an ungrouped one
//! promoted; a case investigated by a scripted model until its result is
//! on the case's timeline; and in `dummy` mode previews that store
//! nothing.

use std::io::Write as _;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vigil_agents::testing::model::{self as scripted, tool_calls};

use crate::cases_cli::{Server, fails, json, wait_until};
use crate::support::*;

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const RESULT: &str = r#"{"summary":"Tor exit brute force from 185.220.101.4","key_findings":["24 failures"],"recommended_next_steps":["block"],"confidence":0.8}"#;

/// A detection of `rule` from splunk, its raw event naming `ip` and the
/// payload's URL and hash.
fn alert(source_id: &str, ip: &str) -> Value {
    json!({
        "source": "splunk",
        "source_id": source_id,
        "rule": "SSH brute force",
        "severity": "high",
        "observed_at": "2026-03-01T09:00:00Z",
        "raw": {"src_ip": ip, "user": "deploy",
                "msg": format!("fetched hxxp://evil[.]example/payload sha256 {HASH}")},
    })
}

/// An EDR detection with no address, host or user: no grouping rule
/// applies, so it is stored ungrouped.
fn loose_alert() -> Value {
    json!({
        "source": "edr",
        "source_id": "x-1",
        "rule": "Odd download",
        "severity": "medium",
        "raw": {"msg": format!("download of http://evil.example/payload, sha256 {HASH}")},
    })
}

/// A `real`-mode server whose model (scripted, on loopback) submits
/// [`RESULT`] at once.
async fn server_with_model() -> Server {
    let (model, script) = scripted::serve().await;
    script.respond_with(Arc::new(|_: &Value| {
        tool_calls(&[("submit_result", RESULT, Some("final"))])
    }));
    Server::configured(&format!(
        r#"
mode = "real"

[database]
url = "sqlite://vigil.db"

[model]
base_url = "http://{model}/v1"
model = "scripted-1"
retry = {{ max_retries = 0 }}

[[agents]]
id = "triage"
system_prompt = "Investigate, then submit_result."
tools = []

[worker]
poll_interval = "100ms"
"#
    ))
}

/// Runs `vigil <args>` as the admin with `input` on stdin.
fn with_stdin(server: &Server, args: &[&str], input: &str) -> Output {
    let mut child = server
        .vigil(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `vigil <args>` (any client command) as the admin to completion.
fn run(server: &Server, args: &[&str]) -> Output {
    finish(server.vigil(args), Duration::from_secs(60))
}

/// The first word of every line: the ids (or numbers) a table lists.
fn first_words(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_group_into_cases_and_a_case_is_investigated_until_its_result_is_written() {
    let server = server_with_model().await;

    // One object from a file: it opens CASE-1 under its key.
    std::fs::write(
        server.path("one.json"),
        alert("d-1", "185.220.101[.]4").to_string(),
    )
    .unwrap();
    let first = ok(&run(
        &server,
        &["alerts", "ingest", &server.path("one.json")],
    ));
    let (first_id, rest) = first.trim().split_once(' ').unwrap();
    assert!(uuid::Uuid::parse_str(first_id).is_ok(), "{first}");
    assert_eq!(
        rest,
        "created: splunk/d-1, key SSH brute force|ip=185.220.101.4, CASE-1 (opened)"
    );

    // JSON Lines on stdin: the same detection again, then another with its
    // key. The first is a redelivery; the second joins the case.
    let lines = format!(
        "{}\n{}\n",
        alert("d-1", "185.220.101.4"),
        alert("d-2", "185.220.101.4")
    );
    let again = ok(&with_stdin(&server, &["alerts", "ingest"], &lines));
    let again: Vec<&str> = again.lines().collect();
    assert_eq!(again.len(), 2, "{again:?}");
    assert_eq!(
        again[0],
        format!(
            "{first_id} redelivery (stored before; nothing written): splunk/d-1, key SSH brute \
             force|ip=185.220.101.4, CASE-1"
        )
    );
    assert!(
        again[1].ends_with(
            "created: splunk/d-2, key SSH brute force|ip=185.220.101.4, CASE-1 (joined)"
        ),
        "{}",
        again[1]
    );
    let case = server.json(&["show", "CASE-1"]);
    assert_eq!(
        case["case"]["counts"]["alerts"], 2,
        "the redelivery linked once"
    );
    let linked = server
        .ok(&["timeline", "CASE-1"])
        .lines()
        .filter(|l| l.contains(" alert_linked "))
        .count();
    assert_eq!(linked, 2);

    // An array: an alert no rule groups.
    std::fs::write(server.path("many.json"), json!([loose_alert()]).to_string()).unwrap();
    let loose = ok(&run(
        &server,
        &["alerts", "ingest", &server.path("many.json")],
    ));
    let loose_id = loose.split_whitespace().next().unwrap().to_owned();
    assert!(
        loose.trim().ends_with(&format!(
            "created: edr/x-1, key -, no case (ungrouped; vigil alerts promote {loose_id})"
        )),
        "{loose}"
    );

    // Refusals: local input that is not alerts is refused before anything
    // is sent; the API's refusal names the alert and the field.
    let not_json = with_stdin(&server, &["alerts", "ingest"], "{\"source\": ");
    fails(&not_json, 6, &["the alerts are not JSON"]);
    let bad = with_stdin(
        &server,
        &["alerts", "ingest"],
        &json!([alert("d-3", "10.0.0.1"), {"source": "edr", "source_id": "x-2", "rule": "R", "severity": "dire"}]).to_string(),
    );
    fails(
        &bad,
        6,
        &[
            "alert 2 of 2 (edr/x-2); 1 sent before it",
            "(field `severity`)",
        ],
    );

    // The listing: filters, the case by number, pages.
    let by_rule = ok(&run(
        &server,
        &["alerts", "list", "--rule", "SSH brute force"],
    ));
    let header = by_rule.lines().next().unwrap();
    for column in [
        "ID", "SOURCE", "RULE", "SEVERITY", "OBSERVED", "KEY", "CASE", "TITLE",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert_eq!(first_words(&by_rule).len(), 3, "{by_rule}");
    assert!(by_rule.contains("splunk/d-3"), "{by_rule}");
    let by_case = ok(&run(&server, &["alerts", "list", "--case", "CASE-1"]));
    assert_eq!(first_words(&by_case).len(), 2, "{by_case}");
    assert!(
        by_case.lines().skip(1).all(|l| l.contains("  CASE-1  ")),
        "{by_case}"
    );
    let by_source = ok(&run(&server, &["alerts", "list", "--source", "edr"]));
    assert_eq!(first_words(&by_source), [loose_id.as_str()], "{by_source}");
    let page = ok(&run(&server, &["alerts", "list", "--limit", "3"]));
    let more = page.lines().last().unwrap();
    let cursor = more
        .strip_prefix("More: vigil alerts list --cursor ")
        .and_then(|m| m.strip_suffix(" (with the same filters)"))
        .unwrap_or_else(|| panic!("{page}"));
    let rest = json(&ok(&run(
        &server,
        &[
            "--json", "alerts", "list", "--limit", "2", "--cursor", cursor,
        ],
    )));
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["source_id"], "d-1", "newest first");
    assert_eq!(rest["next_cursor"], Value::Null);
    let none = ok(&run(&server, &["alerts", "list", "--source", "nobody"]));
    assert_eq!(none.trim(), "No alerts match.");

    // Promotion opens a case by hand, once.
    let promoted = ok(&run(&server, &["alerts", "promote", &loose_id]));
    assert!(
        promoted.starts_with(&format!(
            "CASE-3: opened for alert {loose_id} (severity medium, "
        )),
        "{promoted}"
    );
    let twice = run(&server, &["alerts", "promote", &loose_id]);
    fails(&twice, 5, &["alert_already_linked"]);
    let unknown = run(
        &server,
        &["alerts", "promote", &uuid::Uuid::now_v7().to_string()],
    );
    fails(&unknown, 3, &["not_found"]);

    // CASE-3 shares the payload's URL and hash with CASE-1.
    let related = server.ok(&["related", "CASE-3"]);
    let row = related
        .lines()
        .find(|l| l.starts_with("CASE-1 "))
        .unwrap_or_else(|| panic!("{related}"));
    assert!(row.contains("SSH brute force"), "{row}");
    assert!(row.contains(&format!("hash_sha256 {HASH}")), "{row}");
    assert!(row.contains("url http://evil.example/payload"), "{row}");
    let scored = server.json(&["related", "CASE-3"]);
    assert!(scored[0]["score"].as_f64().unwrap() > 0.0, "{scored}");
    let score = format!("{:.2}", scored[0]["score"].as_f64().unwrap());
    assert!(row.contains(&score), "{row}");

    // An investigation for CASE-1; a retry with the key is the same run.
    let investigate = [
        "investigate",
        "CASE-1",
        "--agent",
        "triage",
        "--prompt",
        "Failed SSH logins from 185.220.101.4",
        "--idempotency-key",
        "case-1-triage",
        "--max-turns",
        "4",
    ];
    let dispatched = server.ok(&investigate);
    let (inv, rest) = dispatched.trim().split_once(' ').unwrap();
    assert!(
        rest.ends_with("(dispatched for CASE-1; agent triage)"),
        "{dispatched}"
    );
    let retried = server.ok(&investigate);
    assert!(
        retried.starts_with(&format!("{inv} "))
            && retried
                .trim()
                .ends_with("(already dispatched with this key for CASE-1; agent triage)"),
        "{retried}"
    );
    wait_until("the run to complete", Duration::from_secs(60), || {
        server.json(&["investigations", "CASE-1"])["items"][0]["status"] == "completed"
    });
    let runs = server.ok(&["investigations", "CASE-1"]);
    assert_eq!(first_words(&runs), [inv.to_owned()], "{runs}");
    let row = runs.lines().nth(1).unwrap();
    assert!(
        row.contains("  completed  triage  admin  ") && row.contains("  0.80  "),
        "{row}"
    );
    let timeline = server.ok(&["timeline", "CASE-1"]);
    for needle in [
        "investigation_linked".to_owned(),
        format!("investigation {inv} (agent triage)"),
        format!("result of investigation {inv}"),
    ] {
        assert!(timeline.contains(&needle), "`{needle}` in:\n{timeline}");
    }
    assert_eq!(
        timeline.matches(" result_written ").count(),
        1,
        "{timeline}"
    );
    let audit = server.ok(&["audit", "CASE-1"]);
    assert!(audit.starts_with("chain valid ("), "{audit}");

    let unknown_agent = server.run(&["investigate", "CASE-1", "--agent", "nope", "--prompt", "x"]);
    fails(&unknown_agent, 6, &["unknown_agent"]);
    let no_case = server.run(&[
        "investigate",
        "CASE-99",
        "--agent",
        "triage",
        "--prompt",
        "x",
    ]);
    fails(&no_case, 3, &["not_found"]);
    let no_runs = server.ok(&["investigations", "CASE-3"]);
    assert_eq!(no_runs.trim(), "No investigations are linked to CASE-3.");

    server.stop();
}

#[test]
fn in_dummy_mode_an_ingest_and_a_case_dispatch_are_previews() {
    let server = Server::dummy();
    let before = json(&ok(&run(&server, &["--json", "alerts", "list"])));

    std::fs::write(
        server.path("one.json"),
        alert("d-1", "185.220.101.4").to_string(),
    )
    .unwrap();
    let ingest = ok(&run(
        &server,
        &["alerts", "ingest", &server.path("one.json")],
    ));
    assert!(
        ingest.starts_with(
            "preview (dummy mode): nothing was stored — alert splunk/d-1 would be stored with \
             key SSH brute force|ip=185.220.101.4, entities "
        ),
        "{ingest}"
    );
    assert!(ingest.contains("\n  why: "), "{ingest}");
    let body = json(&ok(&run(
        &server,
        &["--json", "alerts", "ingest", &server.path("one.json")],
    )));
    assert_eq!(body["preview"], true);
    assert_eq!(body["would"]["record"]["id"], Value::Null);

    let runs_before = server.json(&["investigations", "CASE-4"]);
    let dispatch = server.ok(&[
        "investigate",
        "CASE-4",
        "--agent",
        "triage",
        "--prompt",
        "look",
    ]);
    assert!(
        dispatch.starts_with(
            "preview (dummy mode): nothing was stored — would dispatch agent triage for CASE-4 \
             (investigation_linked)\n  why: "
        ),
        "{dispatch}"
    );

    assert_eq!(
        json(&ok(&run(&server, &["--json", "alerts", "list"]))),
        before,
        "no alert was stored"
    );
    assert_eq!(server.json(&["investigations", "CASE-4"]), runs_before);

    server.stop();
}

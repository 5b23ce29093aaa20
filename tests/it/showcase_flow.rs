//! The showcase flow end to end through the CLI, against a real `vigil
//! serve` in `dummy` mode on a fresh SQLite file: the bundled sample
//! alerts group into one case, its triage investigation runs on the
//! scripted model and parks on its approval (the case shows
//! `pending_approval`), a second principal approves, the result is written
//! back (`in_progress`, the note, the observables), a close is only a
//! preview, and the AI summary a person asks for is written back; both
//! audit chains verify.

use std::time::Duration;

use serde_json::Value;

use crate::cases_cli::{Server, json, wait_until};
use crate::support::*;

/// Long enough for a loaded machine; the flow itself takes about a second.
const WITHIN: Duration = Duration::from_secs(120);

/// `vigil --json <args>` as `token`, parsed.
fn json_as(server: &Server, token: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    json(&ok(&finish(server.vigil_as(token, &all), WITHIN)))
}

/// `vigil <args>` as `token`, asserting success: its stdout.
fn run_as(server: &Server, token: &str, args: &[&str]) -> String {
    ok(&finish(server.vigil_as(token, args), WITHIN))
}

/// The kinds of the case's timeline (`vigil --json cases timeline`: one
/// entry per line), in order.
fn kinds(server: &Server, token: &str, case: &str) -> Vec<String> {
    run_as(server, token, &["--json", "cases", "timeline", case])
        .lines()
        .map(|l| json(l)["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_showcase_alerts_go_from_case_to_approval_to_write_back_to_summary() {
    let server = Server::dummy();
    let ana = server.token("ana", "operator");
    let dee = server.token("dee", "approver");

    // The two sample alerts are stored and grouped into one case.
    let alerts = json_as(
        &server,
        &ana,
        &["alerts", "list", "--source", "showcase-siem"],
    );
    let items = alerts["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{alerts}");
    let case_id = items[0]["case_id"].as_str().unwrap().to_owned();
    assert!(
        items.iter().all(|a| a["case_id"] == case_id.as_str()),
        "{alerts}"
    );

    // Its triage parks on the isolation's approval: the case shows it.
    let mut case = Value::Null;
    wait_until("the case waits on the approval", WITHIN, || {
        case = json_as(&server, &ana, &["cases", "show", &case_id]);
        case["case"]["status"] == "pending_approval"
    });
    let number = case["case"]["number"].as_str().unwrap().to_owned();
    assert_eq!(case["case"]["showcase"], true, "{case}");
    assert!(
        case["case"]["title"]
            .as_str()
            .unwrap()
            .starts_with("[Showcase]"),
        "{case}"
    );
    let linked = json_as(&server, &ana, &["cases", "investigations", &number]);
    let triage = linked["items"][0].clone();
    assert_eq!(triage["agent_id"], "triage", "{linked}");
    let investigation = triage["id"].as_str().unwrap().to_owned();
    let approval = triage["waiting_on"].as_str().unwrap().to_owned();

    // The request came from the showcase: a second principal approves.
    let decided = run_as(
        &server,
        &dee,
        &["approve", &approval, "--comment", "contain it"],
    );
    assert!(decided.contains("approved"), "{decided}");

    // The result is written back to the case.
    let mut kinds_now = Vec::new();
    wait_until("the result is written back", WITHIN, || {
        kinds_now = kinds(&server, &ana, &number);
        kinds_now.iter().any(|k| k == "result_written")
    });
    for kind in [
        "created",
        "alert_linked",
        "investigation_linked",
        "approval_requested",
        "approval_decided",
        "comment_added",
        "result_written",
        "status_change",
    ] {
        assert!(
            kinds_now.iter().any(|k| k == kind),
            "{kind} missing: {kinds_now:?}"
        );
    }
    let shown = run_as(&server, &ana, &["cases", "show", &number]);
    assert!(shown.contains("in_progress"), "{shown}");
    assert!(shown.contains("185.220.101.4"), "{shown}");
    assert!(shown.contains("web-01"), "{shown}");
    // The fixture EDR isolated nothing, and the case says so.
    let written = run_as(&server, &ana, &["cases", "timeline", &number]);
    assert!(!written.contains("web-01 was isolated"), "{written}");

    // In dummy mode a close is a preview: nothing changes.
    let close = run_as(
        &server,
        &ana,
        &[
            "cases",
            "status",
            &number,
            "closed",
            "--disposition",
            "true_positive",
        ],
    );
    assert!(close.starts_with("preview (dummy mode)"), "{close}");
    let after = json_as(&server, &ana, &["cases", "show", &number]);
    assert_eq!(after["case"]["status"], "in_progress", "{after}");

    // The AI summary a person asks for is written back.
    let asked = run_as(&server, &ana, &["cases", "summarize", &number]);
    assert!(asked.contains("dispatched for"), "{asked}");
    wait_until("the summary is written back", WITHIN, || {
        kinds(&server, &ana, &number)
            .iter()
            .any(|k| k == "summary_written")
    });
    let shown = run_as(&server, &ana, &["cases", "show", &number]);
    assert!(shown.contains("AI summary"), "{shown}");
    assert!(
        shown.contains("[Scripted showcase summary, not a model]"),
        "{shown}"
    );
    assert!(shown.contains(&number), "{shown}");

    // Both audit chains verify.
    let audit = run_as(&server, &ana, &["cases", "audit", &number]);
    assert!(audit.contains("valid"), "{audit}");
    let auditor = server.token("aude", "auditor");
    let chain = run_as(&server, &auditor, &["audit", "verify", &investigation]);
    assert!(chain.contains("chain valid"), "{chain}");

    server.stop();
}

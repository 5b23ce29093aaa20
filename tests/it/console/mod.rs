//! The operator console in a real browser: headless Chromium, driven over
//! chromedriver (WebDriver) with fantoccini, against a real `vigil serve` in
//! dummy mode on a PostgreSQL cluster of the test's own.
//!
//! One run walks what an operator and an approver do: sign in, dispatch the
//! sample triage from the console, watch its timeline fill live until it
//! waits on `isolate_host`, see the approval refused to its requester,
//! issue an approver token, approve as that second principal in another
//! window, and see the result arrive live (the stream having been cut and
//! resumed after the last event on the way). Then a run claimed by a worker
//! that dies is dead-lettered, rescued from the console and completed by a
//! worker started afterwards; a result that fails the schema is reviewed;
//! the narrow layout holds; and stopping the database shows the recovery
//! card until the console recovers by itself.
//!
//! `cases` walks the case workspace the same way, `delegation` an
//! investigation's delegation tree, and `linked` a case's
//! linked investigation in `real` mode with a scripted model (see their
//! module docs).
//!
//! Each main view is saved as a PNG under `target/console-screenshots/` and
//! checked not to be blank. Chromium and chromedriver come from Debian's
//! `chromium` and `chromium-driver` packages (`./test` installs them); the
//! test fails, never skips, without them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value, json};
use vigil_engine::result::Completion;
use vigil_engine::store::{DispatchRequest, Dispatcher, Leases, Operations, Reads, Sweeps};
use vigil_engine::{InvestigationId, Status};

use crate::support::{PrivateCluster, Proc, Served, command, ok, vigil};

mod browser;
mod cases;
mod delegation;
mod linked;

use browser::{Browser, DEADLINE, Driver};

/// The sample triage: parks on an `isolate_host` approval.
const NEEDS_APPROVAL: &str = "Failed SSH logins on web-01 from 185.220.101.4";
/// Completes without an approval.
const SCANNER: &str = "Scanner at 203.0.113.7 hitting web-02";

/// The repository's sample configuration, plus a second agent that
/// `serve`'s workers do not serve (so the test decides who runs it).
fn write_config(dir: &Path) {
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vigil.toml")).unwrap();
    let extra = r#"
[worker]
agents = ["triage"]

[[agents]]
id = "triage-later"
system_prompt = "You are a SOC analyst triaging an alert; call submit_result when done."
tools = ["siem_search", "ip_reputation", "isolate_host"]
"#;
    std::fs::write(dir.join("vigil.toml"), format!("{sample}{extra}")).unwrap();
    // A worker process for the second agent only.
    std::fs::write(
        dir.join("later.toml"),
        format!("{sample}{extra}").replace("agents = [\"triage\"]", "agents = [\"triage-later\"]"),
    )
    .unwrap();
}

/// Waits for the showcase alerts' triage (dummy mode starts it) to park on
/// its approval, then cancels it, so the approvals inbox holds only the
/// requests this test makes. Returns its id.
async fn cancel_the_showcase_triage(store: &vigil_store_postgres::PgStore) -> String {
    let query = vigil_engine::store::ListQuery {
        requested_by: Some("vigil-showcase".to_owned()),
        ..Default::default()
    };
    let deadline = Instant::now() + DEADLINE;
    loop {
        let page = store.list(&query).await.unwrap();
        if let Some(run) = page
            .items
            .iter()
            .find(|i| i.phase == Some(vigil_engine::Phase::AwaitingApproval))
        {
            store
                .cancel(run.id, "console-test", "not part of this test")
                .await
                .unwrap();
            return run.id.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the showcase triage never parked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status_of(store: &vigil_store_postgres::PgStore, id: &str) -> Status {
    let id = InvestigationId(id.parse().unwrap());
    store.get(id).await.unwrap().status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_runs_an_investigation_from_dispatch_through_approval_rescue_review_and_outage() {
    let started = Instant::now();
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    ok(&vigil(dir.path(), &["--database", &url, "migrate"]));
    let served = Served::start(dir.path(), &url);
    let origin = served.base.trim_end_matches("/api/v1").to_owned();
    let store = vigil_store_postgres::connect(
        vigil_store_postgres::Options::new(&url),
        Arc::new(vigil_engine::SystemClock),
    )
    .await
    .unwrap();
    cancel_the_showcase_triage(&store).await;
    let driver = Driver::start(&dir.path().join("chromedriver.log"));
    let b = Browser::start(&driver, &origin).await;

    // Sign in with the token `serve` printed.
    b.goto("/").await;
    b.until("the sign-in form", "document.querySelector('form.signin')")
        .await;
    b.shot("signin").await;
    b.assert_accessible("on the sign-in page").await;
    b.sign_in(&served.token).await;
    assert!(b.text("#mode").await.contains("dummy"), "the mode is shown");
    b.until(
        "the queue counts",
        "document.querySelector('.stats-box[data-loaded]')",
    )
    .await;

    // Dispatch the sample triage from the console.
    b.click("details.dispatch-box > summary").await;
    b.click(".samples button").await;
    assert_eq!(
        b.js("return document.querySelector('.dispatch textarea[name=prompt]').value;")
            .await,
        json!(NEEDS_APPROVAL)
    );
    b.click(".dispatch button[type=submit]").await;
    b.until(
        "the investigation's page",
        "location.pathname.startsWith('/investigations/') && document.querySelector('.timeline')",
    )
    .await;
    let first = b.js("return location.pathname.split('/').pop();").await;
    let first = first.as_str().unwrap().to_owned();
    // The detail shows the run's trace id, the one to search a trace UI for.
    let stored = store
        .get(InvestigationId(first.parse().unwrap()))
        .await
        .unwrap()
        .trace_id();
    b.until(
        "the trace id",
        &format!("document.querySelector('.summary .trace-id')?.textContent === '{stored}'"),
    )
    .await;

    // Its timeline fills live until it waits on isolate_host.
    b.until(
        "the approval request in the timeline",
        "document.querySelector('.timeline li[data-kind=approval_requested]')",
    )
    .await;
    let kinds = b
        .js("return [...document.querySelectorAll('.timeline li.event')].map(e => e.dataset.kind);")
        .await;
    let kinds: Vec<&str> = kinds
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"dispatched"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"approval_requested"), "{kinds:?}");
    for kind in ["claimed", "model_turn", "tool_intent", "tool_result"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let parked = b.assert_timeline_whole().await;
    b.until(
        "the phase",
        "document.querySelector('.summary .phase-awaiting_approval')",
    )
    .await;
    let reasoning = b
        .text(".timeline li[data-kind=model_turn] .reasoning")
        .await;
    assert!(reasoning.contains("185.220.101.4"), "{reasoning}");
    b.until(
        "the audit verification",
        "document.querySelector('.audit [data-valid=true]')",
    )
    .await;
    b.until(
        "the pending approval card",
        "document.querySelector('.pending-approval .approval')",
    )
    .await;
    b.shot("detail").await;
    b.assert_accessible("on the detail page").await;
    b.assert_clean("after dispatching").await;

    // As the requester, the approval is disabled with the reason; the
    // server refuses it too when the button is forced.
    b.click("a[data-nav=approvals]").await;
    b.until(
        "the approval in the inbox",
        "document.querySelector('.approvals .approval button[data-decision=approve]')",
    )
    .await;
    assert_eq!(
        b.js("return [...document.querySelectorAll('.approvals .approval button[data-decision]')].map(b => b.disabled);")
            .await,
        json!([true, true])
    );
    let why = b.text(".approvals .approval .why-not").await;
    assert!(why.contains("separation of duties"), "{why}");
    let countdown = b.text(".approvals .approval .countdown").await;
    assert!(countdown.starts_with("expires in"), "{countdown}");
    for part in [NEEDS_APPROVAL, "isolate_host", "web-01", "dummy mode"] {
        assert!(
            b.text(".approvals .approval").await.contains(part),
            "the card shows {part}"
        );
    }
    b.shot("approvals").await;
    b.assert_accessible("in the approvals inbox").await;
    b.js("const x = document.querySelector('.approvals .approval button[data-decision=approve]'); x.disabled = false; x.click(); return true;")
        .await;
    b.until(
        "the server's refusal",
        "document.querySelector('.approvals .approval .problem .code')",
    )
    .await;
    assert_eq!(
        b.text(".approvals .approval .problem .code").await,
        "separation_of_duties"
    );

    // An admin issues a token for an approver.
    b.click("a[data-nav=tokens]").await;
    b.until("the token form", "document.querySelector('form.issue')")
        .await;
    b.type_into("form.issue input[name=name]", "ana").await;
    b.click("form.issue input[value=approver]").await;
    b.click("form.issue button[type=submit]").await;
    b.until(
        "the issued token",
        "document.querySelector('.issued-token')",
    )
    .await;
    let ana = b
        .js("return document.querySelector('.issued-token').value;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(ana.starts_with("vgl_"), "{ana}");
    b.assert_accessible("on the tokens page").await;
    b.assert_clean("after issuing a token").await;

    // Back on the investigation (a deep link), its live stream is cut; it
    // must resume after the last event it saw.
    b.goto(&format!("/investigations/{first}")).await;
    b.until(
        "the timeline after a reload",
        &format!(
            "document.querySelectorAll('.timeline li.event').length === {}",
            parked.len()
        ),
    )
    .await;
    b.until(
        "the live stream",
        "document.querySelector('.live[data-state=live]')",
    )
    .await;
    b.js("window.__marker = 'same page'; return window.__vigilStreams.dropStreams();")
        .await;
    let admin_window = b.client.window().await.unwrap();

    // The approver signs in in another window (its own session storage) on
    // the inbox's deep link and approves with a comment.
    let other = b.client.new_window(false).await.unwrap();
    b.client.switch_to_window(other.handle).await.unwrap();
    b.goto("/approvals").await;
    b.sign_in(&ana).await;
    assert_eq!(b.js("return location.pathname;").await, json!("/approvals"));
    b.until(
        "an enabled approve button",
        "document.querySelector('.approvals .approval button[data-decision=approve]:not([disabled])')",
    )
    .await;
    b.type_into(
        ".approvals .approval textarea[name=comment]",
        "Confirmed: Tor exit logged in as deploy. Isolate.",
    )
    .await;
    b.click(".approvals .approval button[data-decision=approve]")
        .await;
    b.until(
        "the decision in the decided list",
        "[...document.querySelectorAll('table.decided tbody tr')].some(r => r.innerText.includes('ana') && r.innerText.includes('approved'))",
    )
    .await;
    b.shot("approvals-decided").await;
    b.assert_clean("after approving").await;
    b.click("#sign-out").await;
    b.until(
        "the sign-in form after signing out",
        "document.querySelector('form.signin')",
    )
    .await;
    assert_eq!(
        b.js("return sessionStorage.getItem('vigil.token');").await,
        Value::Null,
        "signing out forgets the token"
    );
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(admin_window).await.unwrap();

    // The requester's page shows the result as it arrives, without a reload.
    b.until(
        "the result",
        "document.querySelector('.result-card .result-summary')",
    )
    .await;
    b.until(
        "the completed status",
        "document.querySelector('.summary .status-completed')",
    )
    .await;
    assert_eq!(b.js("return window.__marker;").await, json!("same page"));
    assert!(!b.text(".result-card .result-summary").await.is_empty());
    let findings = b
        .js("return document.querySelectorAll('.result-card .key-findings li').length;")
        .await;
    assert!(findings.as_i64().unwrap() >= 1, "key findings shown");
    let confidence = b.text(".result-card .result-confidence").await;
    assert!(confidence.contains('%'), "{confidence}");
    // Its whole text, folded parts included (innerText leaves out what a
    // collapsed entry hides).
    let decided = b
        .js("return document.querySelector('.timeline li[data-kind=approval_decided]').textContent;")
        .await;
    let decided = decided.as_str().unwrap_or_default();
    assert!(
        decided.contains("ana") && decided.contains("Confirmed: Tor exit"),
        "{decided}"
    );
    let seqs = b.assert_timeline_whole().await;
    assert!(seqs.len() > parked.len());
    let connects = b
        .js("return window.__vigilStreams.connects.filter(c => c.path.includes('/events/stream')).map(c => c.lastEventId);")
        .await;
    assert_eq!(
        connects,
        json!([null, parked.len().to_string()]),
        "the stream reconnected once, resuming after the last event seen"
    );
    b.until(
        "the audit verification of the whole trail",
        &format!(
            "(document.querySelector('.audit [data-valid=true]') || {{}}).innerText?.includes('{} events')",
            seqs.len()
        ),
    )
    .await;
    b.shot("detail-result").await;
    b.js("document.getElementById('timeline-h').scrollIntoView(); return true;")
        .await;
    b.shot("detail-timeline").await;
    b.assert_clean("after the result arrived").await;

    // A run whose worker dies is dead-lettered; rescued from the console, a
    // worker started afterwards completes it.
    b.click("a[data-nav=investigations]").await;
    b.click("details.dispatch-box > summary").await;
    b.client
        .find(Locator::Css(".dispatch select[name=agent_id]"))
        .await
        .unwrap()
        .select_by_value("triage-later")
        .await
        .unwrap();
    b.type_into(".dispatch textarea[name=prompt]", SCANNER)
        .await;
    b.type_into(".dispatch input[name=case_ref]", "INC-7").await;
    b.click(".dispatch button[type=submit]").await;
    b.until(
        "the second investigation's page",
        &format!(
            "location.pathname.startsWith('/investigations/') && !location.pathname.endsWith('{first}') && document.querySelector('.summary .phase-queued')"
        ),
    )
    .await;
    let doomed = b.js("return location.pathname.split('/').pop();").await;
    let doomed = doomed.as_str().unwrap().to_owned();
    let claimed = store
        .claim_next(
            &["triage-later".to_owned()],
            "console-test:worker-that-dies",
            None,
            chrono::TimeDelta::seconds(1),
        )
        .await
        .unwrap()
        .expect("the queued triage-later run");
    assert_eq!(claimed.id.0.to_string(), doomed);
    let deadline = Instant::now() + DEADLINE;
    while status_of(&store, &doomed).await != Status::DeadLettered {
        assert!(Instant::now() < deadline, "never dead-lettered");
        store.reap(10).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.until(
        "the dead-lettered run",
        "document.querySelector('.summary .status-dead_lettered') && document.querySelector('.timeline li[data-kind=dead_lettered]') && document.querySelector('form.action-rescue')",
    )
    .await;
    b.click("a[data-nav=investigations]").await;
    b.until(
        "the dead-lettered count",
        "document.querySelector('.s-dead .stat-count')?.innerText === '1'",
    )
    .await;
    b.click(".s-dead a").await;
    b.until(
        "the filtered list",
        &format!(
            "location.search === '?status=dead_lettered' && document.querySelectorAll('tbody tr[data-id]').length === 1 && document.querySelector('tbody tr[data-id=\"{doomed}\"]')"
        ),
    )
    .await;
    assert_eq!(
        b.js("return document.querySelector('.filters select[name=status]').value;")
            .await,
        json!("dead_lettered"),
        "the filter is read back from the URL"
    );
    b.shot("list-dead-lettered").await;
    b.click(&format!("tbody tr[data-id=\"{doomed}\"] a")).await;
    b.until(
        "the rescue form",
        "document.querySelector('form.action-rescue textarea')",
    )
    .await;
    b.shot("detail-dead-lettered").await;
    b.type_into(
        "form.action-rescue textarea",
        "Worker host lost power; resume from the checkpoint.",
    )
    .await;
    b.click("form.action-rescue button[type=submit]").await;
    b.until(
        "the rescue in the timeline",
        "document.querySelector('.timeline li[data-kind=rescued]') && document.querySelector('.summary .phase-queued')",
    )
    .await;
    let mut later = Proc::spawn(
        command(dir.path(), "info")
            .args(["--database", &url, "--config", "later.toml", "worker"])
            .stdout(Stdio::null()),
        &dir.path().join("later.log"),
    );
    b.until(
        "the rescued run's result",
        "document.querySelector('.summary .status-completed') && document.querySelector('.result-card .result-summary')",
    )
    .await;
    // The worker stops cleanly.
    later.stop_gracefully();
    let rescued = b.text(".timeline li[data-kind=rescued]").await;
    assert!(
        rescued.contains("admin") && rescued.contains("lost power"),
        "{rescued}"
    );
    b.assert_timeline_whole().await;
    b.assert_clean("after the rescue").await;

    // A result that fails the schema waits for review; accepting it as it
    // is gets the server's reasons, a corrected one completes it.
    let graded = store
        .dispatch(DispatchRequest {
            agent_id: "triage-later".into(),
            prompt: SCANNER.into(),
            requested_by: "soar".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .investigation;
    let run = store
        .claim_next(
            &["triage-later".to_owned()],
            "console-test:grader",
            None,
            chrono::TimeDelta::seconds(60),
        )
        .await
        .unwrap()
        .expect("the run to grade");
    assert_eq!(run.id, graded.id);
    let raw = r#"{"summary": "Scanner probing web-02", "key_findings": ["6 failed SSH logins from 203.0.113.7"], "recommended_next_steps": ["Block 203.0.113.7 at the edge"], "confidence": 1.7}"#;
    store
        .complete(
            run.id,
            run.lease_epoch,
            Completion::Invalid {
                reason: "the result does not satisfy the output schema".into(),
                result_raw: Some(raw.into()),
                errors: vec!["/confidence: 1.7 is greater than the maximum of 1".into()],
            },
        )
        .await
        .unwrap();
    b.goto(&format!("/investigations/{}", graded.id.0)).await;
    b.until(
        "the review section",
        "document.querySelector('.review .schema-errors li') && document.querySelector('.review pre.raw')",
    )
    .await;
    assert!(b.text(".review pre.raw").await.contains("1.7"));
    assert!(
        b.text(".review .schema-errors")
            .await
            .contains("/confidence")
    );
    b.shot("review").await;
    b.assert_accessible("in the review").await;
    b.click(".review-form button.secondary").await;
    b.until(
        "the schema errors from the server",
        "document.querySelector('.review-form .problem .code')",
    )
    .await;
    assert_eq!(
        b.text(".review-form .problem .code").await,
        "result_invalid"
    );
    assert!(b.text(".review-form .problem").await.contains("confidence"));
    b.type_into(".review-form textarea", "{not json").await;
    b.click(".review-form button:not(.secondary)").await;
    b.until(
        "the local JSON check",
        "document.querySelector('.review-form .problem')?.innerText.includes('not valid JSON')",
    )
    .await;
    b.type_into(".review-form textarea", &raw.replace("1.7", "0.7"))
        .await;
    b.click(".review-form button:not(.secondary)").await;
    b.until(
        "the reviewed result",
        "document.querySelector('.summary .status-completed') && document.querySelector('.timeline li[data-kind=reviewed]') && document.querySelector('.result-card .result-summary')",
    )
    .await;
    assert!(
        b.text(".result-card .result-confidence")
            .await
            .contains("70%")
    );
    b.assert_clean("after the review").await;

    // New approval requests appear in the inbox without a reload; one
    // dispatched by someone else is the admin's to decide.
    b.click("a[data-nav=approvals]").await;
    b.until(
        "the empty inbox",
        "document.querySelector('.approvals') && !document.querySelector('.empty').hidden",
    )
    .await;
    b.js("window.__marker = 'inbox'; return true;").await;
    let soar = store
        .dispatch(DispatchRequest {
            agent_id: "triage".into(),
            prompt: NEEDS_APPROVAL.into(),
            requested_by: "soar".into(),
            case_ref: Some("INC-9".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .investigation;
    b.until(
        "the new request, enabled for the admin",
        "document.querySelector('.approvals .approval button[data-decision=reject]:not([disabled])')",
    )
    .await;
    assert_eq!(b.js("return window.__marker;").await, json!("inbox"));
    assert!(b.text(".approvals .approval").await.contains("soar"));
    b.type_into(
        ".approvals .approval textarea[name=comment]",
        "web-01 is the payment gateway; contain at the firewall instead.",
    )
    .await;
    b.click(".approvals .approval button[data-decision=reject]")
        .await;
    b.until(
        "the rejection in the decided list",
        "!document.querySelector('.approvals .approval') && [...document.querySelectorAll('table.decided tbody tr')].some(r => r.innerText.includes('rejected') && r.innerText.includes('payment gateway'))",
    )
    .await;
    let deadline = Instant::now() + DEADLINE;
    while status_of(&store, &soar.id.0.to_string()).await != Status::Completed {
        assert!(
            Instant::now() < deadline,
            "the rejected run never completed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.assert_clean("after rejecting").await;

    // A narrow screen: no sideways scrolling, table rows become cards.
    b.client.set_window_size(400, 860).await.unwrap();
    b.click("a[data-nav=investigations]").await;
    b.until(
        "the list",
        "document.querySelectorAll('tbody tr[data-id]').length === 5",
    )
    .await;
    let widths = b
        .js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];")
        .await;
    assert!(
        widths[0].as_i64() <= widths[1].as_i64(),
        "no horizontal overflow on a narrow screen: {widths}"
    );
    b.shot("list-narrow").await;
    b.click(&format!("tbody tr[data-id=\"{first}\"] a")).await;
    b.until("the detail", "document.querySelector('.result-card')")
        .await;
    let widths = b
        .js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];")
        .await;
    assert!(
        widths[0].as_i64() <= widths[1].as_i64(),
        "no horizontal overflow on the narrow detail: {widths}"
    );
    b.shot("detail-narrow").await;
    b.client.set_window_size(1280, 900).await.unwrap();

    // The list at 1280 px with every kind of run.
    b.click("a[data-nav=investigations]").await;
    b.until(
        "the full list",
        "document.querySelectorAll('tbody tr[data-id]').length === 5 && document.querySelector('.stats-box[data-loaded]')",
    )
    .await;
    b.shot("list").await;
    b.assert_accessible("on the list").await;

    // Filters live in the URL: a shared link shows the same view.
    b.goto("/investigations?requested_by=soar").await;
    b.until(
        "soar's investigations",
        "document.querySelectorAll('tbody tr[data-id]').length === 2 && document.querySelector('.filters input[name=requested_by]').value === 'soar'",
    )
    .await;
    b.type_into(".filters input[name=case_ref]", "INC-9").await;
    b.click(".filters button[type=submit]").await;
    b.until(
        "the case filter",
        &format!(
            "location.search === '?requested_by=soar&case_ref=INC-9' && document.querySelectorAll('tbody tr[data-id]').length === 1 && document.querySelector('tbody tr[data-id=\"{}\"]')",
            soar.id.0
        ),
    )
    .await;
    b.goto("/investigations?created_after=2999-06-01T12:00:00.000Z")
        .await;
    b.until(
        "an empty time range",
        "document.querySelector('tbody tr.empty') && document.querySelector('.filters input[name=created_after]').value.startsWith('2999-06-01')",
    )
    .await;
    // Keyset pages: newest first, older on the next page, no repeats.
    b.goto("/investigations?limit=3").await;
    b.until("the first page", "document.querySelectorAll('tbody tr[data-id]').length === 3 && document.querySelector('.pager a[rel=next]')")
        .await;
    let page_one = b
        .js("return [...document.querySelectorAll('tbody tr[data-id]')].map(r => r.dataset.id);")
        .await;
    b.click(".pager a[rel=next]").await;
    b.until(
        "the second page",
        "location.search.includes('cursor=') && document.querySelectorAll('tbody tr[data-id]').length === 2 && !document.querySelector('.pager a[rel=next]')",
    )
    .await;
    let page_two = b
        .js("return document.querySelector('tbody tr[data-id]').dataset.id;")
        .await;
    assert!(
        !page_one.as_array().unwrap().contains(&page_two),
        "no repeats across pages"
    );
    assert_eq!(
        page_two,
        json!(first),
        "the test's first investigation is on the last page, before the showcase's"
    );
    b.click("a[data-nav=investigations]").await;
    b.until(
        "the whole list again",
        "document.querySelectorAll('tbody tr[data-id]').length === 5",
    )
    .await;
    b.assert_clean("after filtering and paging").await;

    // The database stops: a recovery card with the cause instead of empty
    // tables, no actions; it recovers by itself when the database is back.
    cluster.down();
    b.until(
        "the recovery card",
        "!document.getElementById('down').hidden && document.getElementById('view').hidden",
    )
    .await;
    let card = b.text("#down").await;
    assert!(card.contains("Database unavailable"), "{card}");
    assert!(
        b.text("#down-cause").await.trim().len() > 5,
        "the card names the cause"
    );
    assert_eq!(
        b.js("return [...document.querySelectorAll('#view button, #view textarea')].filter(e => !e.disabled).length;")
            .await,
        json!(0),
        "no action is available while the database is down"
    );
    b.shot("recovery").await;
    cluster.up();
    b.until(
        "the recovered list",
        "document.getElementById('down').hidden && !document.getElementById('view').hidden && document.querySelectorAll('tbody tr[data-id]').length === 5",
    )
    .await;
    b.assert_clean("after the outage").await;

    // The token never reached the server's log.
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    for token in [&served.token, &ana] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!log.contains(secret), "a token leaked into the server log");
    }

    b.client.close().await.unwrap();
    drop(driver);
    drop(served);
    store.backend().close().await;
    eprintln!(
        "console test: {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/console-screenshots")
            .display()
    );
}

//! The cases workspace in a real browser, against a real `vigil serve`: in
//! `real` mode on a PostgreSQL cluster of the test's own (every write is
//! stored), and in `dummy` mode on SQLite (every person's write a preview).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{PrivateCluster, Served, free_port, ok, vigil};

use super::browser::{Browser, DEADLINE, Driver};

/// `real` mode: a model is configured (nothing listens at its address; no
/// investigation runs in this test, so none is called).
fn write_real_config(dir: &std::path::Path) {
    let toml = format!(
        r#"
mode = "real"

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
    std::fs::write(dir.join("vigil.toml"), toml).unwrap();
}

/// Calls the API as `token`; panics unless it answers 2xx.
async fn call(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn post(base: &str, token: &str, path: &str, body: Value) -> Value {
    call(base, token, reqwest::Method::POST, path, Some(body)).await
}

/// Picks `value` in the `<select>` at `css`. A live view may render the
/// element again between finding and picking (a stale element): it is
/// found again, for up to a minute.
async fn choose(b: &Browser, css: &str, value: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let picked = match b.client.find(fantoccini::Locator::Css(css)).await {
            Ok(select) => select.select_by_value(value).await,
            Err(e) => Err(e),
        };
        match picked {
            Ok(_) => return,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot pick {value} in {css}: {e}"),
        }
    }
}

/// No sideways scrolling: names the outermost elements that stick out when there is.
async fn assert_no_overflow(b: &Browser, when: &str) {
    let wide = b
        .js(r#"
            const w = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= w) return [];
            const out = (e) => e.getBoundingClientRect().right > w + 1;
            const texts = [];
            const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
            for (let n = walk.nextNode(); n; n = walk.nextNode()) {
                const r = document.createRange();
                r.selectNodeContents(n);
                if (r.getBoundingClientRect().right > w + 1) texts.push(n.parentElement);
            }
            return [...document.querySelectorAll('body *')]
                .filter(e => out(e) && !out(e.parentElement))
                .concat(texts)
                .slice(0, 8)
                .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
                .concat([`scrollWidth ${document.documentElement.scrollWidth} > ${w}`]);
        "#)
        .await;
    assert_eq!(wide, json!([]), "horizontal overflow {when}");
}

/// The timeline entries' kinds, in page order.
async fn kinds(b: &Browser) -> Vec<String> {
    let v = b
        .js("return [...document.querySelectorAll('.case-timeline li.event')].map(e => e.dataset.kind);")
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// Opens the palette (Ctrl+K), types `text` and runs the command labelled
/// `label` once it is the active, enabled item.
async fn palette_command(b: &Browser, text: &str, label: &str) {
    b.client
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E009}k")
        .await
        .unwrap();
    b.until(
        "the palette",
        "document.querySelector('dialog.palette').open",
    )
    .await;
    b.type_into("dialog.palette input", text).await;
    b.until(
        &format!("the palette's {label}"),
        &format!("document.querySelector('.palette-item.active')?.innerText.startsWith(\"{label}\") && document.querySelector('.palette-item.active').getAttribute('aria-disabled') !== 'true'"),
    )
    .await;
    b.client
        .find(fantoccini::Locator::Css("dialog.palette input"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_cases_workspace_creates_works_and_closes_a_case_live_and_degrades_without_the_database()
 {
    let started = Instant::now();
    let cluster = PrivateCluster::start();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    write_real_config(dir.path());
    ok(&vigil(dir.path(), &["--database", &url, "migrate"]));
    let served = Served::start(dir.path(), &url);
    let base = served.base.clone();
    let admin = served.token.clone();
    let origin = base.trim_end_matches("/api/v1").to_owned();
    let driver = Driver::start(&dir.path().join("chromedriver.log"));
    let b = Browser::start(&driver, &origin).await;

    // The queue at /cases: live KPI cards, an empty table, the mode badge.
    b.goto("/cases").await;
    b.sign_in(&admin).await;
    assert!(b.text("#mode").await.contains("real"), "the mode is shown");
    b.until(
        "the live KPI cards",
        "document.querySelector('.kpis[data-state=live]') && document.querySelector('tbody tr.empty')",
    )
    .await;
    assert_eq!(b.text(".kpi[data-kpi=total] .stat-count").await, "0");
    b.assert_accessible("on the empty cases queue").await;

    // Key C opens the New Case form; the created case opens, pinned in the URL.
    b.js("document.activeElement.blur(); document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'c', bubbles: true})); return true;")
        .await;
    b.until(
        "the new case form",
        "!document.querySelector('form.new-case-form').hidden && document.activeElement.name === 'title'",
    )
    .await;
    b.type_into(
        "form.new-case-form input[name=title]",
        "Tor logins on web-01",
    )
    .await;
    choose(&b, "form.new-case-form select[name=severity]", "critical").await;
    b.click("form.new-case-form button[type=submit]").await;
    b.until(
        "the new case's detail",
        "document.querySelector('.case-detail .case-heading')?.innerText.startsWith('CASE-1') && location.search.includes('selectedCase=')",
    )
    .await;
    b.until(
        "the case in the queue with its KPIs",
        "document.querySelector('tbody tr[data-number=CASE-1].selected') && document.querySelector('.kpi[data-kpi=critical] .stat-count').innerText === '1'",
    )
    .await;
    b.until(
        "the created entry, live",
        "document.querySelector('.case-timeline li[data-kind=created]') && document.querySelector('.case-timeline-box .live[data-state=live]')",
    )
    .await;
    let case_id = b
        .js("return document.querySelector('.case-detail').dataset.case;")
        .await
        .as_str()
        .unwrap()
        .to_owned();

    // An observable, evidence and a custody handoff, each in the panels and
    // on the timeline.
    b.type_into(".add-observable input[name=value]", "185.220.101[.]4")
        .await;
    b.click(".add-observable button[type=submit]").await;
    b.until(
        "the observable",
        "document.querySelector('.observable[data-value=\"185.220.101.4\"]') && document.querySelector('.case-timeline li[data-kind=observable_added]')",
    )
    .await;
    b.type_into(".add-evidence input[name=name]", "auth.log")
        .await;
    b.type_into(
        ".add-evidence textarea[name=content_text]",
        "Accepted password for root from 185.220.101.4",
    )
    .await;
    b.click(".add-evidence button[type=submit]").await;
    b.until(
        "the evidence",
        "document.querySelector('.evidence-item[data-name=\"auth.log\"] .sha') && document.querySelector('.case-timeline li[data-kind=evidence_added]')",
    )
    .await;
    b.click(".evidence-item button.download").await;
    b.until(
        "the downloaded content, hash re-checked",
        "document.querySelector('.evidence-item .download-check[data-verified=true]')",
    )
    .await;
    b.click(".evidence-item details.custody > summary").await;
    b.type_into(".custody-form input[name=to]", "forensics")
        .await;
    b.type_into(".custody-form input[name=note]", "sealed bag 7")
        .await;
    b.click(".custody-form button[type=submit]").await;
    b.until(
        "the custody record",
        "document.querySelector('.custody-list li[data-action=transferred]')?.innerText.includes('forensics') && document.querySelector('.case-timeline li[data-kind=custody_recorded]')",
    )
    .await;

    // A status change shows old -> new and who.
    choose(&b, ".edit-status", "in_progress").await;
    b.click(".edit-status-form button[type=submit]").await;
    b.until(
        "the status change",
        "document.querySelector('.case-timeline li[data-kind=status_change]')",
    )
    .await;
    let change = b.text(".case-timeline li[data-kind=status_change]").await;
    assert!(
        change.contains("open -> in progress") && change.contains("admin"),
        "{change}"
    );
    // Resolving needs a disposition: the API's 422 is shown, then it resolves.
    choose(&b, ".edit-status", "resolved").await;
    b.click(".edit-status-form button[type=submit]").await;
    b.until(
        "the missing disposition",
        "document.querySelector('.edit-status-form .problem')?.innerText.includes('disposition')",
    )
    .await;
    choose(&b, ".edit-disposition", "true_positive").await;
    b.click(".edit-status-form button[type=submit]").await;
    b.until(
        "the resolved case",
        "document.querySelector('.case-detail[data-status=resolved]') && document.querySelector('tbody tr[data-number=CASE-1][data-status=resolved]')",
    )
    .await;
    // Assignment and severity.
    b.click(".assign-me").await;
    b.until(
        "the assignment",
        "document.querySelector('.case-timeline li[data-kind=assignment_change]') && document.querySelector('tbody tr[data-number=CASE-1] td[data-label=Assignee]').innerText === 'admin'",
    )
    .await;
    b.click(".edit-severity-form button[type=submit]").await;
    b.until(
        "the severity edit done",
        "document.querySelector('.detail-notice .done-note')",
    )
    .await;
    // A task moved inline; a note.
    b.type_into(".add-task input[name=title]", "Rotate root's password")
        .await;
    b.click(".add-task button[type=submit]").await;
    b.until("the task", "document.querySelector('.task select')")
        .await;
    choose(&b, ".task select", "in_progress").await;
    b.until(
        "the task moved",
        "document.querySelector('.task[data-status=in_progress]') && document.querySelector('.case-timeline li[data-kind=task_status_change]')",
    )
    .await;
    b.type_into(".add-comment textarea", "Root logged in from a Tor exit.")
        .await;
    b.click(".add-comment button[type=submit]").await;
    b.until(
        "the analyst note",
        "document.querySelector('.comment[data-author-kind=analyst]')",
    )
    .await;
    b.assert_accessible("on the case detail").await;
    b.assert_clean("after working the case").await;
    b.js("document.querySelector('.case-timeline-box').scrollIntoView(); return true;")
        .await;
    b.shot("cases-detail").await;

    // Close it, then an invalid move: the API's reason is shown.
    choose(&b, ".edit-status", "closed").await;
    b.click(".edit-status-form button[type=submit]").await;
    b.until(
        "the closed case",
        "document.querySelector('.case-detail[data-status=closed]')",
    )
    .await;
    choose(&b, ".edit-status", "in_progress").await;
    b.click(".edit-status-form button[type=submit]").await;
    b.until(
        "the refused move",
        "document.querySelector('.edit-status-form .problem .code')?.innerText === 'invalid_transition'",
    )
    .await;
    // Reopen with a reason.
    choose(&b, ".edit-status", "open").await;
    b.type_into(".edit-reason", "same actor seen again").await;
    b.click(".edit-status-form button[type=submit]").await;
    b.until(
        "the reopened case",
        "document.querySelector('.case-detail[data-status=open]') && [...document.querySelectorAll('.case-timeline li[data-kind=status_change]')].some(e => e.innerText.includes('closed -> open') && e.innerText.includes('same actor seen again'))",
    )
    .await;

    // The live stream is cut; a change made elsewhere arrives after the
    // resume, with no gap and no repeat.
    b.js("window.__marker = 'same page'; return window.__vigilStreams.dropStreams();")
        .await;
    post(
        &base,
        &admin,
        &format!("/cases/{case_id}/comments"),
        json!({"body": "Written by a script."}),
    )
    .await;
    b.until(
        "the script's note on the timeline",
        "[...document.querySelectorAll('.case-timeline li[data-kind=comment_added]')].some(e => e.innerText.includes('Written by a script.'))",
    )
    .await;
    let seqs = b
        .js("return [...document.querySelectorAll('.case-timeline li.event')].map(e => Number(e.dataset.seq));")
        .await;
    let seqs: Vec<i64> = seqs
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "every entry once, in order"
    );
    let connects = b
        .js("return window.__vigilStreams.connects.filter(c => c.path.includes('/timeline/stream')).map(c => c.lastEventId);")
        .await;
    let connects = connects.as_array().unwrap();
    assert!(connects.len() >= 2 && connects[0].is_null(), "{connects:?}");
    assert!(
        connects[1..].iter().all(|c| c.is_string()),
        "reconnects resume with Last-Event-ID: {connects:?}"
    );
    let all = kinds(&b).await;
    for kind in [
        "created",
        "observable_added",
        "evidence_added",
        "custody_recorded",
        "status_change",
        "assignment_change",
        "task_created",
        "task_status_change",
        "comment_added",
    ] {
        assert!(all.iter().any(|k| k == kind), "{kind} in {all:?}");
    }

    // New cases appear in the queue without a reload.
    for title in [
        "Scanner on web-02",
        "Phishing wave",
        "Impossible travel for ana",
    ] {
        post(
            &base,
            &admin,
            "/cases",
            json!({"title": title, "severity": "high", "tags": ["wave"]}),
        )
        .await;
    }
    b.until(
        "the new cases, live",
        "document.querySelectorAll('tbody tr[data-id]').length === 4 && document.querySelector('.kpi[data-kpi=total] .stat-count').innerText === '4'",
    )
    .await;
    assert_eq!(b.js("return window.__marker;").await, json!("same page"));
    b.assert_clean("after the live queue update").await;

    // Bulk: one request per selected case, each outcome listed.
    b.click("tbody tr[data-number=CASE-3] input.select-case")
        .await;
    b.click("tbody tr[data-number=CASE-4] input.select-case")
        .await;
    b.until(
        "the bulk bar",
        "!document.querySelector('form.bulk').hidden && document.querySelector('.bulk-count').innerText === '2'",
    )
    .await;
    b.type_into(".bulk-assignee", "ana").await;
    b.click(".bulk-apply-assign").await;
    b.until(
        "both assigned",
        "document.querySelectorAll('.bulk-results li[data-outcome=done]').length === 2 && document.querySelector('tbody tr[data-number=CASE-4] td[data-label=Assignee]').innerText === 'ana' && document.querySelector('tbody tr[data-number=CASE-3] td[data-label=Assignee]').innerText === 'ana'",
    )
    .await;
    choose(&b, ".bulk-status", "resolved").await;
    b.click(".bulk-apply-status").await;
    b.until(
        "both refused without a disposition, each with the reason",
        "document.querySelectorAll('.bulk-results li[data-outcome=refused] .problem').length === 2",
    )
    .await;
    assert!(
        b.text(".bulk-results li[data-number=CASE-3]")
            .await
            .contains("disposition"),
        "the API's reason is shown per case"
    );
    b.shot("cases-bulk").await;
    for n in ["CASE-3", "CASE-4"] {
        b.click(&format!("tbody tr[data-number={n}] input.select-case"))
            .await;
    }

    // Title, description and the approval flag.
    b.click(".edit-details > summary").await;
    b.type_into(".edit-title", "Tor logins on web-01 (root)")
        .await;
    b.click(".edit-flag").await;
    b.click(".edit-details-form button[type=submit]").await;
    b.until(
        "the field changes",
        "document.querySelector('.case-detail .case-heading').innerText === 'CASE-1 · Tor logins on web-01 (root)' && [...document.querySelectorAll('.case-timeline li[data-kind=field_change]')].some(e => e.innerText.includes('requires_human_approval'))",
    )
    .await;
    b.click(".collapse-case").await;
    b.until(
        "the collapsed case",
        "!document.querySelector('.case-detail') && !location.search.includes('selectedCase')",
    )
    .await;
    b.shot("cases-table").await;

    // Filters and title search live in the URL; sorting by a column too.
    b.type_into(".case-filters input[name=q]", "phish").await;
    b.click(".case-filters button[type=submit]").await;
    b.until(
        "the title search",
        "location.search === '?q=phish' && document.querySelectorAll('tbody tr[data-id]').length === 1",
    )
    .await;
    b.goto("/cases?tag=wave&severity=high").await;
    b.until(
        "the tag and severity filters from the URL",
        "document.querySelectorAll('tbody tr[data-id]').length === 3 && document.querySelector('.case-filters select[name=severity]').value === 'high' && document.querySelector('.case-filters input[name=tag]').value === 'wave'",
    )
    .await;
    b.goto("/cases").await;
    b.until(
        "the queue",
        "document.querySelectorAll('tbody tr[data-id]').length === 4",
    )
    .await;
    b.click("th a[data-sort=number]").await;
    b.until(
        "sorted by number",
        "location.search.includes('sort=number') && document.querySelector('tbody tr[data-id]').dataset.number === 'CASE-4'",
    )
    .await;
    b.click("th a[data-sort=number]").await;
    b.until(
        "sorted by number, ascending",
        "location.search.includes('order=asc') && document.querySelector('tbody tr[data-id]').dataset.number === 'CASE-1'",
    )
    .await;

    // Keyset pages; a deep link to a case not on the page fetches it.
    b.goto("/cases?limit=2").await;
    b.until(
        "the first page",
        "document.querySelectorAll('tbody tr[data-id]').length === 2 && document.querySelector('.pager a[rel=next]')",
    )
    .await;
    let first_page = b
        .js("return [...document.querySelectorAll('tbody tr[data-id]')].map(r => r.dataset.number);")
        .await;
    b.click(".pager a[rel=next]").await;
    b.until(
        "the second page",
        "location.search.includes('cursor=') && document.querySelectorAll('tbody tr[data-id]').length === 2",
    )
    .await;
    let second_page = b
        .js("return [...document.querySelectorAll('tbody tr[data-id]')].map(r => r.dataset.number);")
        .await;
    for n in second_page.as_array().unwrap() {
        assert!(!first_page.as_array().unwrap().contains(n), "no repeats");
    }
    b.goto("/cases?limit=1&sort=number&order=desc&selectedCase=CASE-1")
        .await;
    b.until(
        "the deep-linked case, fetched",
        "document.querySelector('.case-detail .case-heading')?.innerText.startsWith('CASE-1') && !document.querySelector('tbody tr[data-number=CASE-1]')",
    )
    .await;
    b.assert_clean("after the deep link").await;

    // The Kanban board (key V): a drag to a later status is stored; a drag
    // backwards snaps back with the API's reason; the keyboard moves a card
    // (Alt+ArrowRight, and the Move select, which asks for a disposition).
    b.goto("/cases").await;
    b.until(
        "the queue",
        "document.querySelectorAll('tbody tr[data-id]').length === 4",
    )
    .await;
    b.js("document.activeElement.blur(); document.body.dispatchEvent(new KeyboardEvent('keydown', {key: 'v', bubbles: true})); return true;")
        .await;
    b.until(
        "the board",
        "location.search.includes('view=kanban') && document.querySelectorAll('.board-card').length === 4 && document.querySelector('.board-column[data-status=open] .board-card[data-number=CASE-2]')",
    )
    .await;
    let drag = |number: &str, status: &str| {
        format!(
            "const card = document.querySelector('.board-card[data-number={number}]');
             const col = document.querySelector('.board-column[data-status={status}]');
             const dt = new DataTransfer();
             card.dispatchEvent(new DragEvent('dragstart', {{bubbles: true, dataTransfer: dt}}));
             col.dispatchEvent(new DragEvent('dragover', {{bubbles: true, cancelable: true, dataTransfer: dt}}));
             col.dispatchEvent(new DragEvent('drop', {{bubbles: true, cancelable: true, dataTransfer: dt}}));
             card.dispatchEvent(new DragEvent('dragend', {{bubbles: true, dataTransfer: dt}}));
             return true;"
        )
    };
    b.js(&drag("CASE-2", "contained")).await;
    b.until(
        "the dragged card, stored",
        "document.querySelector('.board-column[data-status=contained] .board-card[data-number=CASE-2]:not(.moving)') && document.querySelector('.case-notice .done-note')",
    )
    .await;
    let stored = call(&base, &admin, reqwest::Method::GET, "/cases/CASE-2", None).await;
    assert_eq!(stored["status"], "contained");
    b.js(&drag("CASE-2", "open")).await;
    b.until(
        "the refused move, snapped back with the reason",
        "document.querySelector('.board-column[data-status=contained] .board-card[data-number=CASE-2] .card-reason .code')?.innerText === 'invalid_transition'",
    )
    .await;
    let reason = b.text(".board-card[data-number=CASE-2] .card-reason").await;
    assert!(reason.contains("Stays contained"), "{reason}");
    let button = b
        .client
        .find(fantoccini::Locator::Css(
            ".board-card[data-number=CASE-3] .card-open",
        ))
        .await
        .unwrap();
    button.send_keys("\u{E00A}\u{E014}").await.unwrap();
    b.until(
        "the keyboard move",
        "document.querySelector('.board-column[data-status=in_progress] .board-card[data-number=CASE-3]:not(.moving)') && document.activeElement.closest('.board-card')?.dataset.number === 'CASE-3'",
    )
    .await;
    choose(&b, ".board-card[data-number=CASE-4] .card-move", "resolved").await;
    b.until(
        "the disposition dialog",
        "document.querySelector('dialog.disposition-dialog').open",
    )
    .await;
    choose(&b, "dialog.disposition-dialog select", "benign").await;
    b.click("dialog.disposition-dialog .confirm-move").await;
    b.until(
        "the resolved card",
        "document.querySelector('.board-column[data-status=resolved] .board-card[data-number=CASE-4]:not(.moving)')",
    )
    .await;
    let stored = call(&base, &admin, reqwest::Method::GET, "/cases/CASE-4", None).await;
    assert_eq!(
        (stored["status"].as_str(), stored["disposition"].as_str()),
        (Some("resolved"), Some("benign"))
    );
    b.assert_accessible("on the board").await;
    b.assert_clean("after the board moves").await;
    b.shot("cases-kanban").await;

    // The palette (Ctrl+K): jump to a case by number, run "new case".
    let body = b
        .client
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap();
    body.send_keys("\u{E009}k").await.unwrap();
    b.until(
        "the palette",
        "document.querySelector('dialog.palette').open && document.activeElement.classList.contains('palette-input')",
    )
    .await;
    b.type_into("dialog.palette input", "case-1").await;
    b.until(
        "the palette's match",
        "document.querySelector('.palette-item.active')?.innerText.startsWith('CASE-1 ')",
    )
    .await;
    b.shot("cases-palette").await;
    b.client
        .find(fantoccini::Locator::Css("dialog.palette input"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    b.until(
        "the case opened from the palette",
        "!document.querySelector('dialog.palette').open && document.querySelector('.case-detail .case-heading')?.innerText.startsWith('CASE-1 ')",
    )
    .await;
    body.send_keys("\u{E009}k").await.unwrap();
    b.until(
        "the palette again",
        "document.querySelector('dialog.palette').open",
    )
    .await;
    b.type_into("dialog.palette input", "new case").await;
    b.client
        .find(fantoccini::Locator::Css("dialog.palette input"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    b.until(
        "the new case form from the palette",
        "!document.querySelector('form.new-case-form').hidden",
    )
    .await;

    // "Assign the open case to me" and "Change the open case's status" act
    // on the open case, and what they did shows where its controls show it.
    b.goto("/cases?selectedCase=CASE-2").await;
    b.until(
        "CASE-2, unassigned and contained",
        "document.querySelector('.case-detail[data-status=contained] .case-heading')?.innerText.startsWith('CASE-2 ') && document.querySelector('tbody tr[data-number=CASE-2] td[data-label=Assignee]')?.innerText === 'unassigned'",
    )
    .await;
    palette_command(&b, "assign", "Assign the open case to me").await;
    b.until(
        "CASE-2 assigned to me from the palette",
        "!document.querySelector('dialog.palette').open && document.querySelector('tbody tr[data-number=CASE-2] td[data-label=Assignee]')?.innerText === 'admin' && [...document.querySelectorAll('.case-timeline li[data-kind=assignment_change]')].some(e => e.innerText.includes('admin')) && document.querySelector('.detail-notice .done-note')",
    )
    .await;
    let stored = call(&base, &admin, reqwest::Method::GET, "/cases/CASE-2", None).await;
    assert_eq!(stored["assignee"], "admin");
    palette_command(&b, "status", "Change the open case's status").await;
    b.until(
        "the statuses to move CASE-2 to",
        "document.querySelector('dialog.palette').open && [...document.querySelectorAll('.palette-item')].some(i => i.innerText.startsWith('Move CASE-2 to eradicated')) && ![...document.querySelectorAll('.palette-item')].some(i => i.innerText.startsWith('Move CASE-2 to contained'))",
    )
    .await;
    b.type_into("dialog.palette input", "eradicated").await;
    b.until(
        "the move to eradicated chosen",
        "document.querySelector('.palette-item.active')?.innerText.startsWith('Move CASE-2 to eradicated')",
    )
    .await;
    b.client
        .find(fantoccini::Locator::Css("dialog.palette input"))
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    b.until(
        "CASE-2 moved from the palette",
        "!document.querySelector('dialog.palette').open && document.querySelector('.case-detail[data-status=eradicated]') && document.querySelector('tbody tr[data-number=CASE-2][data-status=eradicated]') && [...document.querySelectorAll('.case-timeline li[data-kind=status_change]')].some(e => e.innerText.includes('contained -> eradicated'))",
    )
    .await;
    let stored = call(&base, &admin, reqwest::Method::GET, "/cases/CASE-2", None).await;
    assert_eq!(stored["status"], "eradicated");
    b.assert_clean("after the palette").await;

    // A narrow screen: no sideways scrolling on the queue, the board or a case.
    b.client.set_window_size(400, 860).await.unwrap();
    b.goto("/cases?selectedCase=CASE-1").await;
    b.until(
        "the narrow queue and case",
        "document.querySelectorAll('tbody tr[data-id]').length === 4 && document.querySelector('.case-detail[data-status] .observable')",
    )
    .await;
    assert_no_overflow(&b, "on the narrow queue and case").await;
    b.shot("cases-narrow").await;
    b.goto("/cases?view=kanban").await;
    b.until(
        "the narrow board",
        "document.querySelectorAll('.board-card').length === 4",
    )
    .await;
    assert_no_overflow(&b, "on the narrow board").await;
    b.client.set_window_size(1280, 900).await.unwrap();

    // The database stops: the queue degrades in place, the pinned case is
    // cleared; it recovers by itself.
    b.goto(&format!("/cases?selectedCase={case_id}")).await;
    b.until(
        "the pinned case",
        "document.querySelector('.case-detail[data-status]')",
    )
    .await;
    b.client.set_window_size(1280, 1000).await.unwrap();
    cluster.down();
    b.until(
        "the degraded queue",
        "document.querySelector('.queue-recovery') && document.querySelector('.kpis[data-state=unavailable]')",
    )
    .await;
    assert!(
        b.text(".queue-recovery")
            .await
            .contains("Live case queue unavailable"),
        "the recovery card"
    );
    assert!(
        b.text(".queue-recovery .recovery-cause").await.trim().len() > 5,
        "the card names the cause"
    );
    assert_eq!(
        b.js("return [...document.querySelectorAll('.kpi .stat-count')].map(e => e.innerText);")
            .await,
        json!(["—", "—", "—", "—"]),
        "placeholders, never zeros"
    );
    assert_eq!(
        b.js("return [document.querySelector('.case-filters fieldset').disabled, document.querySelector('button.new-case').disabled, document.querySelector('form.new-case-form').hidden, !!document.querySelector('.case-detail'), location.search.includes('selectedCase'), document.getElementById('down').hidden, !document.getElementById('mode').hidden];")
            .await,
        json!([true, true, true, false, false, true, true]),
        "filters read-only, New Case disabled and closed, the pinned case cleared, the mode badge kept"
    );
    b.shot("cases-degraded").await;
    b.click(".queue-recovery a.review-settings").await;
    b.until(
        "the read-only settings",
        "location.pathname === '/settings' && document.querySelector('.settings')?.innerText.includes('real')",
    )
    .await;
    // What the console kept of `GET /system/settings`, marked as such: the
    // model by name and host, the agent, no webhooks.
    b.until(
        "the kept settings",
        "document.querySelector('.settings .notice[role=status]')?.innerText.includes('what it said last') && document.querySelector('.settings-model')?.innerText.includes('unused') && document.querySelector('.settings-model')?.innerText.includes('127.0.0.1:') && document.querySelector('.settings-agents tr[data-agent=triage]') && document.querySelector('.settings-webhooks')?.innerText.includes('No webhooks')",
    )
    .await;
    b.js("history.back(); return true;").await;
    b.until(
        "the degraded queue again",
        "document.querySelector('.queue-recovery')",
    )
    .await;
    cluster.up();
    b.until(
        "the recovered queue",
        "!document.querySelector('.queue-recovery') && document.querySelector('.kpis[data-state=live]') && document.querySelectorAll('tbody tr[data-id]').length === 4 && !document.querySelector('.case-filters fieldset').disabled && !document.querySelector('button.new-case').disabled",
    )
    .await;
    b.assert_clean("after the outage").await;

    // An alert ingested through the API opens a case (the default grouping
    // rule), which appears in the open queue without a reload.
    b.js("window.__marker = 'before the alert'; return true;")
        .await;
    post(
        &base,
        &admin,
        "/alerts",
        json!({
            "source": "siem",
            "source_id": "evt-4711",
            "rule": "SSH brute force",
            "severity": "high",
            "title": "SSH brute force against web-03",
            "observed_at": "2026-06-01T12:00:00Z",
            "raw": {"src_ip": "198.51.100.23", "host": "web-03", "failures": 31}
        }),
    )
    .await;
    b.until(
        "the alert's case, live",
        "[...document.querySelectorAll('tbody tr[data-id]')].some(r => r.querySelector('td[data-label=Alerts]').innerText === '1') && document.querySelector('.kpi[data-kpi=total] .stat-count').innerText === '5'",
    )
    .await;
    assert_eq!(
        b.js("const r = document.querySelector('tbody tr[data-number=CASE-5]'); return [r.querySelector('td[data-label=Title]').innerText, r.querySelector('td[data-label=Alerts]').innerText, r.querySelector('td[data-label=Observables]').innerText];")
            .await,
        json!(["SSH brute force", "1", "2"]),
        "the case the alert opened, with the address and host it carried"
    );
    assert_eq!(
        b.js("return window.__marker;").await,
        json!("before the alert")
    );

    // The alert and observable counts sort the queue: CASE-5 holds the one
    // alert and two observables, CASE-1 one observable, the others none.
    b.click("th a[data-sort=alert_count]").await;
    b.until(
        "sorted by alerts, most first",
        "location.search.includes('sort=alert_count') && location.search.includes('order=desc') && document.querySelector('tbody tr[data-id]').dataset.number === 'CASE-5'",
    )
    .await;
    b.click("th a[data-sort=observable_count]").await;
    b.until(
        "sorted by observables, most first",
        "location.search.includes('sort=observable_count') && [...document.querySelectorAll('tbody tr[data-id]')].slice(0, 2).map(r => r.dataset.number).join() === 'CASE-5,CASE-1'",
    )
    .await;
    b.click("th a[data-sort=observable_count]").await;
    b.until(
        "sorted by observables, fewest first",
        "location.search.includes('order=asc') && [...document.querySelectorAll('tbody tr[data-id]')].slice(-2).map(r => r.dataset.number).join() === 'CASE-1,CASE-5'",
    )
    .await;
    b.goto("/cases?sort=observable_count&order=desc&limit=2")
        .await;
    b.until(
        "the first page by observables",
        "[...document.querySelectorAll('tbody tr[data-id]')].map(r => r.dataset.number).join() === 'CASE-5,CASE-1' && document.querySelector('.pager a[rel=next]')",
    )
    .await;
    b.click(".pager a[rel=next]").await;
    b.until(
        "the next page by observables",
        "location.search.includes('cursor=observable_count.desc.') && document.querySelectorAll('tbody tr[data-id]').length === 2 && ![...document.querySelectorAll('tbody tr[data-id]')].some(r => ['CASE-5', 'CASE-1'].includes(r.dataset.number))",
    )
    .await;

    // Dummy mode: the showcase queue; an edit shows the API's preview and
    // changes nothing.
    let dummy_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/vigil.toml"),
        dummy_dir.path().join("vigil.toml"),
    )
    .unwrap();
    let dummy = Served::start(dummy_dir.path(), "sqlite://vigil.db");
    let dummy_origin = dummy.base.trim_end_matches("/api/v1").to_owned();
    let d = Browser::start(&driver, &dummy_origin).await;
    d.goto("/cases?sort=number&order=asc").await;
    d.sign_in(&dummy.token).await;
    d.until(
        "the showcase queue",
        "!document.querySelector('.showcase-note').hidden && document.querySelectorAll('tbody tr[data-id]').length >= 5",
    )
    .await;
    assert!(d.text("#mode").await.contains("dummy"));
    d.until(
        "the showcase KPIs",
        "document.querySelector('.kpis[data-state=live]')",
    )
    .await;
    d.shot("cases-showcase").await;
    let number = d
        .js("return document.querySelector('tbody tr[data-id]').dataset.number;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    d.click("tbody tr[data-id] button.open-case").await;
    d.until(
        "the showcase case",
        "document.querySelector('.case-detail[data-status] .edit-severity')",
    )
    .await;
    let before = call(
        &dummy.base,
        &dummy.token,
        reqwest::Method::GET,
        &format!("/cases/{number}"),
        None,
    )
    .await;
    let other = if before["severity"] == "low" {
        "high"
    } else {
        "low"
    };
    choose(&d, ".edit-severity", other).await;
    d.click(".edit-severity-form button[type=submit]").await;
    d.until(
        "the preview",
        "document.querySelector('.detail-notice .preview-note')",
    )
    .await;
    let note = d.text(".detail-notice .preview-note").await;
    assert!(
        note.contains(&format!(
            "Preview: would set {number} severity to {other}; nothing was changed"
        )),
        "{note}"
    );
    let after = call(
        &dummy.base,
        &dummy.token,
        reqwest::Method::GET,
        &format!("/cases/{number}"),
        None,
    )
    .await;
    assert_eq!(before["severity"], after["severity"], "nothing changed");
    assert_eq!(before["last_seq"], after["last_seq"], "nothing was written");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        d.js("return document.querySelector('.case-detail .case-summary-body .badge[class*=severity-]').innerText;")
            .await,
        json!(before["severity"].as_str().unwrap()),
        "the page still shows the stored severity"
    );
    assert_eq!(
        d.js("return document.querySelector('.edit-severity').value;")
            .await,
        before["severity"],
        "the form is back to the stored severity"
    );
    // Dispatching an investigation for the case is a preview too.
    d.click(".dispatch-case > summary").await;
    d.type_into(".dispatch-prompt", "Check the Tor exit's other targets")
        .await;
    d.click(".case-dispatch button[type=submit]").await;
    d.until(
        "the dispatch preview",
        &format!("document.querySelector('.detail-notice .preview-note')?.innerText.includes('would dispatch triage for {number}; nothing was changed')"),
    )
    .await;

    // Deleting asks for a reason first; in dummy mode it is a preview too.
    d.click(".delete-case > summary").await;
    d.click(".delete-case .confirm-delete").await;
    d.until(
        "the reason asked for",
        "document.querySelector('.delete-case .form-error')?.innerText.includes('why')",
    )
    .await;
    d.type_into(".delete-reason", "duplicate").await;
    d.click(".delete-case .confirm-delete").await;
    d.until(
        "the delete preview",
        &format!("document.querySelector('.detail-notice .preview-note')?.innerText.includes('would delete {number}; nothing was changed')"),
    )
    .await;
    let after = call(
        &dummy.base,
        &dummy.token,
        reqwest::Method::GET,
        &format!("/cases/{number}"),
        None,
    )
    .await;
    assert!(after["deleted_at"].is_null(), "not deleted: {after}");
    d.assert_clean("after the dummy preview").await;
    d.js("document.querySelector('.case-detail').scrollIntoView(); return true;")
        .await;
    d.shot("cases-preview").await;

    // The entity graph: the brute force shares 203.0.113.7 and web-01 with
    // the port scan. A related case's node opens it; an observable's node
    // (by keyboard) filters the queue by its value.
    assert_eq!(
        number, "CASE-1",
        "the brute force sample is first by number"
    );
    d.until(
        "the entity graph",
        "document.querySelector('.entity-graph .node.related[data-number=CASE-4]') && document.querySelectorAll('.entity-graph .node.observable').length >= 4",
    )
    .await;
    d.js("document.querySelector('.case-graph').scrollIntoView(); return true;")
        .await;
    d.shot("cases-graph").await;
    d.click(".entity-graph .node.related[data-number=CASE-4]")
        .await;
    d.until(
        "the related case, opened from the graph",
        "document.querySelector('.case-detail .case-heading')?.innerText.startsWith('CASE-4 ') && location.search.includes('selectedCase=')",
    )
    .await;
    d.until(
        "its graph",
        "document.querySelector('.entity-graph .node.observable[data-value=\"203.0.113.7\"]')",
    )
    .await;
    d.js("document.querySelector('.entity-graph .node.observable[data-value=\"203.0.113.7\"]').focus(); return true;")
        .await;
    d.client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    d.until(
        "the queue filtered by the observable",
        "location.search === '?observable=203.0.113.7' && document.querySelector('.case-filters input[name=observable]').value === '203.0.113.7' && document.querySelector('tbody tr[data-number=CASE-1]') && document.querySelector('tbody tr[data-number=CASE-4]') && !document.querySelector('tbody tr[data-number=CASE-2]')",
    )
    .await;
    d.assert_accessible("with the entity graph").await;

    // On the board a move is a preview too: the card snaps back.
    d.goto("/cases?view=kanban").await;
    d.until(
        "the showcase board",
        "document.querySelector('.board-column[data-status=open] .board-card[data-number=CASE-4]')",
    )
    .await;
    d.js(&drag("CASE-4", "in_progress")).await;
    d.until(
        "the board's preview, snapped back",
        "document.querySelector('.case-notice .preview-note')?.innerText.includes('would move CASE-4 to in progress; nothing was changed') && document.querySelector('.board-column[data-status=open] .board-card[data-number=CASE-4]:not(.moving)')",
    )
    .await;

    // The sample alerts' case: its triage waits on an approval. Approved by
    // a second principal (the admin; the showcase requested it), the
    // receipt, the write-back and the status arrive live; then the AI
    // summary the console asks for.
    let deadline = Instant::now() + DEADLINE;
    let (alerts_case, approval) = loop {
        let page = call(
            &dummy.base,
            &dummy.token,
            reqwest::Method::GET,
            "/cases?status=pending_approval",
            None,
        )
        .await;
        if let Some(c) = page["items"].as_array().unwrap().first() {
            let number = c["number"].as_str().unwrap().to_owned();
            let linked = call(
                &dummy.base,
                &dummy.token,
                reqwest::Method::GET,
                &format!("/cases/{number}/investigations"),
                None,
            )
            .await;
            if let Some(waiting) = linked["items"][0]["waiting_on"].as_str() {
                break (number, waiting.to_owned());
            }
        }
        assert!(
            Instant::now() < deadline,
            "the sample alerts' case never waited on its approval"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    d.goto(&format!("/cases?selectedCase={alerts_case}")).await;
    d.until(
        "the receipt waiting on the approval",
        "document.querySelector('.case-detail[data-status=pending_approval] .receipt[data-phase=awaiting_approval] a[href=\"/approvals\"]') && document.querySelector('.case-timeline li[data-kind=approval_requested]') && document.querySelector('.case-timeline-box .live[data-state=live]')",
    )
    .await;
    d.js("window.__marker = 'alerts case'; return true;").await;
    // A second principal approves in another window (its own session).
    let dee = post(
        &dummy.base,
        &dummy.token,
        "/tokens",
        json!({"name": "dee", "roles": ["approver"]}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let pending = call(
        &dummy.base,
        &dummy.token,
        reqwest::Method::GET,
        "/approvals?status=pending",
        None,
    )
    .await;
    assert_eq!(
        pending["items"][0]["id"],
        json!(approval),
        "the one pending request: {pending}"
    );
    let case_window = d.client.window().await.unwrap();
    let other = d.client.new_window(false).await.unwrap();
    d.client.switch_to_window(other.handle).await.unwrap();
    d.goto("/approvals").await;
    d.sign_in(&dee).await;
    d.until(
        "an enabled approve button",
        "document.querySelector('.approvals .approval button[data-decision=approve]:not([disabled])')",
    )
    .await;
    d.type_into(".approvals .approval textarea[name=comment]", "contain it")
        .await;
    d.click(".approvals .approval button[data-decision=approve]")
        .await;
    d.until(
        "the decision",
        "[...document.querySelectorAll('table.decided tbody tr')].some(r => r.innerText.includes('dee') && r.innerText.includes('approved'))",
    )
    .await;
    d.client.close_window().await.unwrap();
    d.client.switch_to_window(case_window).await.unwrap();
    d.until(
        "the write-back, live",
        "document.querySelector('.case-timeline li[data-kind=result_written] .key-findings li') && document.querySelector('.case-detail[data-status=in_progress]') && document.querySelector('.receipt[data-status=completed]')",
    )
    .await;
    let decided = d
        .text(".case-timeline li[data-kind=approval_decided]")
        .await;
    assert!(
        decided.contains("approve") && decided.contains("dee") && decided.contains("contain it"),
        "{decided}"
    );
    let written = d.text(".case-timeline li[data-kind=result_written]").await;
    assert!(written.contains("Key findings"), "{written}");
    assert!(
        d.js("return [...document.querySelectorAll('.case-timeline li[data-kind=status_change], .case-timeline li[data-kind=result_written]')].some(e => e.innerText.includes('-> in progress'));").await
            == json!(true),
        "the move to in_progress is shown"
    );
    assert!(
        d.js(
            "return !!document.querySelector('.comment[data-author-kind=machine] .author-machine');"
        )
        .await
            == json!(true),
        "the machine note is marked"
    );
    d.click(".case-ai button.summarize").await;
    d.until(
        "the AI summary",
        "document.querySelector('.case-timeline li[data-kind=summary_written] .ai-summary-text') && document.querySelector('.case-ai .ai-summary')?.innerText.includes('Scripted showcase summary')",
    )
    .await;
    assert_eq!(d.js("return window.__marker;").await, json!("alerts case"));
    d.assert_clean("after the write-back and the summary").await;
    d.js("document.querySelector('.case-timeline li[data-kind=result_written]').scrollIntoView(); return true;").await;
    d.shot("cases-writeback").await;
    assert_no_overflow(&d, "on the case detail at 1280 px").await;

    d.client.close().await.unwrap();
    b.client.close().await.unwrap();
    drop(driver);
    drop(dummy);
    drop(served);
    eprintln!(
        "console cases test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

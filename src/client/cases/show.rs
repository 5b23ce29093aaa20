//! `vigil cases show` (one case and the records inside it) and `vigil
//! cases related`.

use serde_json::{Map, Value, json};
use vigil_api::views::cases::{
    CaseDetail, CommentView, CustodyView, EvidenceView, ObservableView, RelatedCaseView, TaskView,
};

use super::entries::short_hash;
use crate::client::Client;
use crate::client::render::{self, Table};

/// A case, by id or number (`CASE-12`).
#[derive(Debug, clap::Args)]
pub struct CaseArg {
    /// The case: its id or its number (`CASE-12`).
    id: String,
}

/// `vigil cases show` options.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
}

/// Everything `show` reads about a case.
struct Shown {
    detail: CaseDetail,
    observables: Vec<ObservableView>,
    evidence: Vec<(EvidenceView, Vec<CustodyView>)>,
    comments: Vec<CommentView>,
    tasks: Vec<TaskView>,
}

/// `GET /cases/{id}` and its sub-resources. Under `--json`, one object
/// holding each body as the API sent it: `case`, `observables`,
/// `evidence`, `custody` (by evidence id), `comments`, `tasks`.
pub async fn show(client: &Client, args: ShowArgs, json: bool) -> anyhow::Result<()> {
    let detail = client.get::<CaseDetail>(&["cases", &args.id], &[]).await?;
    let id = detail.value.summary.id.to_string();
    let observables = client
        .get::<Vec<ObservableView>>(&["cases", &id, "observables"], &[])
        .await?;
    let evidence = client
        .get::<Vec<EvidenceView>>(&["cases", &id, "evidence"], &[])
        .await?;
    let mut custody = Vec::with_capacity(evidence.value.len());
    for e in &evidence.value {
        let e_id = e.id.to_string();
        custody.push(
            client
                .get::<Vec<CustodyView>>(&["cases", &id, "evidence", &e_id, "custody"], &[])
                .await?,
        );
    }
    let comments = client
        .get::<Vec<CommentView>>(&["cases", &id, "comments"], &[])
        .await?;
    let tasks = client
        .get::<Vec<TaskView>>(&["cases", &id, "tasks"], &[])
        .await?;
    if json {
        let parse = |raw: &str| serde_json::from_str::<Value>(raw).unwrap_or(Value::Null);
        let custody: Map<String, Value> = evidence
            .value
            .iter()
            .zip(&custody)
            .map(|(e, c)| (e.id.to_string(), parse(&c.raw)))
            .collect();
        let all = json!({
            "case": parse(&detail.raw),
            "observables": parse(&observables.raw),
            "evidence": parse(&evidence.raw),
            "custody": custody,
            "comments": parse(&comments.raw),
            "tasks": parse(&tasks.raw),
        });
        println!("{all}");
        return Ok(());
    }
    let shown = Shown {
        detail: detail.value,
        observables: observables.value,
        evidence: evidence
            .value
            .into_iter()
            .zip(custody.into_iter().map(|c| c.value))
            .collect(),
        comments: comments.value,
        tasks: tasks.value,
    };
    print!("{}", show_text(&shown));
    Ok(())
}

fn show_text(s: &Shown) -> String {
    let d = &s.detail;
    let c = &d.summary;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("{label:<15}{value}\n"));
    };
    line("case:", format!("{} ({})", c.number, c.id));
    line("title:", c.title.clone());
    if c.showcase {
        line(
            "showcase:",
            "bundled sample data, not a real incident".to_owned(),
        );
    }
    line(
        "status:",
        format!(
            "{} (for {})",
            c.status,
            render::duration_ms(d.time_in_status_ms)
        ),
    );
    line(
        "disposition:",
        c.disposition.clone().unwrap_or_else(|| "-".to_owned()),
    );
    line("severity:", c.severity.clone());
    line(
        "assignee:",
        c.assignee.clone().unwrap_or_else(|| "-".to_owned()),
    );
    let reason = c
        .confidence_reason
        .as_deref()
        .map_or_else(String::new, |r| format!(" ({})", render::clip(r, 120)));
    line(
        "confidence:",
        format!("{}{reason}", render::confidence(c.confidence)),
    );
    line(
        "approval:",
        if c.requires_human_approval {
            "actions need a human approval"
        } else {
            "not required"
        }
        .to_owned(),
    );
    let n = &c.counts;
    line(
        "counts:",
        format!(
            "{} alerts, {} observables, {} evidence, {} comments, {} tasks ({} open)",
            n.alerts, n.observables, n.evidence, n.comments, n.tasks, n.open_tasks
        ),
    );
    line("alerts:", list_or_dash(&d.alert_ids));
    line("tags:", list_or_dash(&c.tags));
    line(
        "created:",
        format!("{} by {}", render::time(c.created_at), c.created_by),
    );
    line("last activity:", render::time(c.updated_at));
    line("timeline:", format!("{} entries", d.last_seq));
    if let Some(at) = c.deleted_at {
        line("deleted:", render::time(at));
    }
    if let Some(into) = c.merged_into {
        line("merged into:", into.to_string());
    }
    if !d.description.is_empty() {
        line("description:", render::clip(&d.description, 300));
    }

    out.push_str(&format!("\nObservables ({})\n", s.observables.len()));
    let mut table = Table::new(vec![
        "TYPE",
        "VALUE",
        "SIGHTINGS",
        "TLP",
        "PAP",
        "SOURCE",
        "LAST SEEN",
    ]);
    for o in &s.observables {
        table.row(vec![
            o.kind.clone(),
            render::clip(&o.value, 60),
            o.sightings.to_string(),
            o.tlp.clone(),
            o.pap.clone(),
            o.source.clone().unwrap_or_else(|| "-".to_owned()),
            render::time(o.last_seen),
        ]);
    }
    indented(&mut out, &table);

    out.push_str(&format!("\nEvidence ({})\n", s.evidence.len()));
    for (e, custody) in &s.evidence {
        out.push_str(&format!(
            "  {}  {}  {}  {}  sha256 {}  {}\n",
            e.id,
            render::clip(&e.name, 40),
            e.kind,
            e.size_bytes
                .map_or_else(|| "size ?".to_owned(), |n| format!("{n} bytes")),
            short_hash(&e.sha256),
            evidence_place(e)
        ));
        out.push_str(&format!(
            "    collected by {} at {}\n",
            e.collected_by,
            render::time(e.collected_at)
        ));
        for r in custody {
            out.push_str(&format!("    custody: {}\n", custody_text(r)));
        }
    }

    if let Some(summary) = s.comments.iter().rev().find(|c| c.kind == "ai_summary") {
        out.push_str(&format!(
            "\nAI summary ({}, {})\n",
            render::time(summary.created_at),
            summary.author
        ));
        for line in summary.body.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }

    let notes: Vec<&CommentView> = s
        .comments
        .iter()
        .filter(|c| c.kind != "ai_summary")
        .collect();
    out.push_str(&format!("\nComments ({})\n", notes.len()));
    for c in notes {
        out.push_str(&format!(
            "  {}  {} ({}): {}\n",
            render::time(c.created_at),
            c.author,
            c.author_kind,
            render::clip(&c.body, 120)
        ));
    }

    let open: Vec<&TaskView> = s.tasks.iter().filter(|t| t.status != "done").collect();
    out.push_str(&format!(
        "\nOpen tasks ({} of {})\n",
        open.len(),
        s.tasks.len()
    ));
    indented(&mut out, &task_table(open));
    out
}

pub fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// A table indented by two spaces; nothing when it has no rows.
fn indented(out: &mut String, table: &Table) {
    if table.is_empty() {
        return;
    }
    for l in table.render().lines() {
        out.push_str(&format!("  {l}\n"));
    }
}

/// Where an evidence item's content is: `stored`, or its URI.
pub fn evidence_place(e: &EvidenceView) -> String {
    match &e.uri {
        Some(uri) => format!("kept at {uri}"),
        None => "stored".to_owned(),
    }
}

/// One custody record: `time  action  from -> to  by actor: note`.
pub fn custody_text(r: &CustodyView) -> String {
    let parties = match (&r.from, &r.to) {
        (Some(f), Some(t)) => format!(" {f} -> {t}"),
        (None, Some(t)) => format!(" to {t}"),
        (Some(f), None) => format!(" from {f}"),
        (None, None) => String::new(),
    };
    let note = r
        .note
        .as_deref()
        .map_or_else(String::new, |n| format!(": {}", render::clip(n, 80)));
    format!(
        "{}  {}{parties} (recorded by {}){note}",
        render::time(r.at),
        r.action,
        r.actor
    )
}

/// Tasks as a table.
pub fn task_table<'a>(tasks: impl IntoIterator<Item = &'a TaskView>) -> Table {
    let mut table = Table::new(vec!["ID", "STATUS", "PRIORITY", "TITLE", "ASSIGNEE", "DUE"]);
    for t in tasks {
        table.row(vec![
            t.id.to_string(),
            t.status.clone(),
            t.priority.clone(),
            render::clip(&t.title, 50),
            t.assignee.clone().unwrap_or_else(|| "-".to_owned()),
            render::maybe_time(t.due_at),
        ]);
    }
    table
}

/// `GET /cases/{id}/related`: best score first.
pub async fn related(client: &Client, args: CaseArg, json: bool) -> anyhow::Result<()> {
    let reply = client
        .get::<Vec<RelatedCaseView>>(&["cases", &args.id, "related"], &[])
        .await?;
    if json {
        reply.print_raw();
        return Ok(());
    }
    let mut table = Table::new(vec![
        "NUMBER", "SCORE", "SEVERITY", "STATUS", "TITLE", "SHARED",
    ]);
    for r in &reply.value {
        // Every shared value, each clipped: the list is the last column,
        // so its length costs no alignment.
        let shared: Vec<String> = r
            .shared
            .iter()
            .map(|s| format!("{} {}", s.kind, render::clip(&s.value, 80)))
            .collect();
        table.row(vec![
            r.number.clone(),
            format!("{:.2}", r.score),
            r.severity.clone(),
            r.status.clone(),
            render::clip(&r.title, 50),
            shared.join(", "),
        ]);
    }
    if table.is_empty() {
        println!("No related cases (none shares two or more observables with it).");
    } else {
        print!("{}", table.render());
    }
    Ok(())
}

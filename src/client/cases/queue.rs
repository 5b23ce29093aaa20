//! `vigil cases list`, `show`, `create`, `update`, `status`, `assign`,
//! `comment`, `delete`, `link-alert`, `related` and `merge`: the queue and
//! the case itself.

use reqwest::Method;
use serde_json::{Map, Value, json};
use vigil_api::views::cases::{
    AssignBody, CaseDetail, CasePageView, CaseStatusBody, CommentBody, CommentView, CreateCaseBody,
    CustodyView, EvidenceView, LinkAlertBody, MergeBody, MergeView, ObservableView,
    RelatedCaseView, TaskView,
};
use vigil_engine::store::{CaseSortKey, SortDirection};
use vigil_engine::{CaseStatus, Disposition, Severity};

use super::entries::{short_hash, status_text};
use super::{report, vocabulary, write};
use crate::client::render::{self, Table};
use crate::client::{Client, Error};

/// A case, by id or number (`CASE-12`).
#[derive(Debug, clap::Args)]
pub struct CaseArg {
    /// The case: its id or its number (`CASE-12`).
    id: String,
}

/// `vigil cases list` options.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only these statuses (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = vocabulary(CaseStatus::ALL, CaseStatus::as_str))]
    status: Vec<CaseStatus>,
    /// Only these severities (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = vocabulary(Severity::ALL, Severity::as_str))]
    severity: Vec<Severity>,
    /// Only cases assigned to this principal.
    #[arg(long, value_name = "NAME", conflicts_with = "unassigned")]
    assignee: Option<String>,
    /// Only unassigned cases.
    #[arg(long)]
    unassigned: bool,
    /// Only cases with this tag.
    #[arg(long, value_name = "T")]
    tag: Option<String>,
    /// Only cases holding an observable with this value (any type).
    #[arg(long, value_name = "V")]
    observable: Option<String>,
    /// Only cases whose title contains this text (any letter case).
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Sort key (server default: updated_at, the last activity).
    #[arg(long, value_name = "KEY", value_parser = vocabulary(CaseSortKey::ALL, CaseSortKey::as_str))]
    sort: Option<CaseSortKey>,
    /// Sort direction (server default: desc).
    #[arg(long, value_parser = vocabulary(SortDirection::ALL, SortDirection::as_str))]
    order: Option<SortDirection>,
    /// Include deleted cases.
    #[arg(long)]
    include_deleted: bool,
    /// Page size, 1 to 500 (server default 50).
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// The cursor printed after the previous page (`next: ...`).
    #[arg(long, value_name = "C", conflicts_with = "all")]
    cursor: Option<String>,
    /// Every page, following the cursors.
    #[arg(long)]
    all: bool,
}

impl ListArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let join = |names: Vec<&str>| (!names.is_empty()).then(|| names.join(","));
        [
            (
                "status",
                join(self.status.iter().map(|s| s.as_str()).collect()),
            ),
            (
                "severity",
                join(self.severity.iter().map(|s| s.as_str()).collect()),
            ),
            ("assignee", self.assignee.clone()),
            ("unassigned", self.unassigned.then(|| "true".to_owned())),
            ("tag", self.tag.clone()),
            ("observable", self.observable.clone()),
            ("q", self.search.clone()),
            ("sort", self.sort.map(|s| s.as_str().to_owned())),
            ("order", self.order.map(|o| o.as_str().to_owned())),
            (
                "include_deleted",
                self.include_deleted.then(|| "true".to_owned()),
            ),
            ("limit", self.limit.map(|l| l.to_string())),
            ("cursor", self.cursor.clone()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// `GET /cases`: a page (or, with `--all`, every page) as a table, the
/// header counts, and the next page's cursor.
pub async fn list(client: &Client, args: ListArgs, json: bool) -> anyhow::Result<()> {
    let mut query = args.query();
    let mut pages: Vec<CasePageView> = Vec::new();
    loop {
        let reply = client.get::<CasePageView>(&["cases"], &query).await?;
        if json {
            // One page body per line, as the API sent it.
            println!("{}", reply.raw.trim_end());
        }
        let next = reply.value.next_cursor.clone();
        pages.push(reply.value);
        match next {
            Some(cursor) if args.all => {
                query.retain(|(k, _)| *k != "cursor");
                query.push(("cursor", cursor));
            }
            _ => break,
        }
    }
    if !json {
        print!("{}", list_text(&pages));
    }
    Ok(())
}

/// The queue as text: a showcase notice, the table, the counts and the
/// next cursor.
fn list_text(pages: &[CasePageView]) -> String {
    let mut out = String::new();
    let Some(first) = pages.first() else {
        return out;
    };
    if first.showcase {
        out.push_str(
            "Showcase queue (dummy mode): bundled sample cases, not real incidents; writes are \
             previews.\n",
        );
    }
    let mut table = Table::new(vec![
        "NUMBER",
        "SEVERITY",
        "STATUS",
        "TITLE",
        "ALERTS",
        "OBSERVABLES",
        "ASSIGNEE",
        "LAST ACTIVITY",
    ]);
    let mut showcase_rows = false;
    for c in pages.iter().flat_map(|p| &p.items) {
        showcase_rows |= c.showcase;
        let mut number = c.number.clone();
        if c.showcase {
            number.push('*');
        }
        if c.deleted_at.is_some() {
            number.push_str(" (deleted)");
        }
        table.row(vec![
            number,
            c.severity.clone(),
            status_text(&c.status, c.disposition.as_deref()),
            render::clip(&c.title, 50),
            c.counts.alerts.to_string(),
            c.counts.observables.to_string(),
            c.assignee.clone().unwrap_or_else(|| "-".to_owned()),
            render::time(c.updated_at),
        ]);
    }
    if table.is_empty() {
        out.push_str("No cases match.\n");
    } else {
        out.push_str(&table.render());
    }
    if showcase_rows {
        out.push_str("* showcase data: a bundled sample, not a real incident\n");
    }
    let k = first.kpis;
    out.push_str(&format!(
        "{} total, {} open, {} critical, {} resolved (over the filters, status aside)\n",
        k.total, k.open, k.critical, k.resolved
    ));
    if let Some(cursor) = pages.last().and_then(|p| p.next_cursor.as_deref()) {
        out.push_str(&format!("next: {cursor}\n"));
    }
    out
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

    out.push_str(&format!("\nComments ({})\n", s.comments.len()));
    for c in &s.comments {
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

fn list_or_dash(items: &[String]) -> String {
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

/// `vigil cases create` options.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The title (at most 200 characters).
    #[arg(long)]
    title: String,
    /// The severity (server default: medium).
    #[arg(long, value_parser = vocabulary(Severity::ALL, Severity::as_str))]
    severity: Option<Severity>,
    /// What it is about.
    #[arg(long)]
    description: Option<String>,
    /// The owning principal.
    #[arg(long, value_name = "A")]
    assignee: Option<String>,
    /// A label (repeat for more).
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,
    /// An alert to link (repeat for more); an alert belongs to one case.
    #[arg(long = "alert", value_name = "ID")]
    alerts: Vec<String>,
    /// Actions for this case need a human approval.
    #[arg(long)]
    requires_approval: bool,
}

/// `POST /cases`: `CASE-12: created (...)`, or the preview.
pub async fn create(client: &Client, args: CreateArgs, json: bool) -> anyhow::Result<()> {
    let body = CreateCaseBody {
        title: args.title,
        severity: args.severity,
        description: args.description,
        assignee: args.assignee,
        requires_human_approval: args.requires_approval.then_some(true),
        confidence: None,
        confidence_reason: None,
        tags: (!args.tags.is_empty()).then_some(args.tags),
        alert_ids: (!args.alerts.is_empty()).then_some(args.alerts),
    };
    let answer =
        write::<CaseDetail>(client, client.request(Method::POST, &["cases"]).json(&body)).await?;
    report(answer, json, |d: &CaseDetail, _| {
        let c = &d.summary;
        format!(
            "{}: created ({}, severity {}, {} alerts; id {})",
            c.number, c.status, c.severity, c.counts.alerts, c.id
        )
    });
    Ok(())
}

/// `vigil cases update` options.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// A new title.
    #[arg(long)]
    title: Option<String>,
    /// A new description.
    #[arg(long)]
    description: Option<String>,
    /// A new severity.
    #[arg(long, value_parser = vocabulary(Severity::ALL, Severity::as_str))]
    severity: Option<Severity>,
    /// A new assignee.
    #[arg(long, value_name = "A", conflicts_with = "unassign")]
    assignee: Option<String>,
    /// Remove the assignee.
    #[arg(long)]
    unassign: bool,
    /// Whether actions for this case need a human approval.
    #[arg(long, value_name = "true|false")]
    requires_approval: Option<bool>,
    /// The labels, replacing the case's (repeat for more).
    #[arg(long = "tag", value_name = "T")]
    tags: Vec<String>,
}

/// `PATCH /cases/{id}` with the fields given.
pub async fn update(client: &Client, args: UpdateArgs, json: bool) -> anyhow::Result<()> {
    // Built field by field rather than from `PatchCaseBody`: that type
    // writes an absent assignee as `null`, which the API reads as
    // "unassign". Only what was asked for is sent.
    let mut body = Map::new();
    if let Some(title) = args.title {
        body.insert("title".into(), title.into());
    }
    if let Some(description) = args.description {
        body.insert("description".into(), description.into());
    }
    if let Some(severity) = args.severity {
        body.insert("severity".into(), severity.as_str().into());
    }
    if let Some(assignee) = args.assignee {
        body.insert("assignee".into(), assignee.into());
    } else if args.unassign {
        body.insert("assignee".into(), Value::Null);
    }
    if let Some(flag) = args.requires_approval {
        body.insert("requires_human_approval".into(), flag.into());
    }
    if !args.tags.is_empty() {
        body.insert("tags".into(), args.tags.into());
    }
    if body.is_empty() {
        return Err(Error::Usage(
            "nothing to change: give --title, --description, --severity, --assignee, \
             --unassign, --requires-approval or --tag"
                .to_owned(),
        )
        .into());
    }
    let answer = write::<CaseDetail>(
        client,
        client
            .request(Method::PATCH, &["cases", &args.id])
            .json(&body),
    )
    .await?;
    report(answer, json, |d: &CaseDetail, _| {
        let c = &d.summary;
        format!(
            "{}: updated (now {}, severity {}, assignee {}, tags {})",
            c.number,
            status_text(&c.status, c.disposition.as_deref()),
            c.severity,
            c.assignee.as_deref().unwrap_or("-"),
            list_or_dash(&c.tags)
        )
    });
    Ok(())
}

/// `vigil cases status` options.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The status to move to.
    #[arg(value_parser = vocabulary(CaseStatus::ALL, CaseStatus::as_str))]
    status: CaseStatus,
    /// What the case turned out to be (needed for resolved and closed).
    #[arg(long, value_parser = vocabulary(Disposition::ALL, Disposition::as_str))]
    disposition: Option<Disposition>,
    /// Why (needed to reopen a closed case).
    #[arg(long)]
    reason: Option<String>,
}

/// `POST /cases/{id}/status`: `CASE-12: status closed (true_positive)`.
pub async fn status(client: &Client, args: StatusArgs, json: bool) -> anyhow::Result<()> {
    let body = CaseStatusBody {
        status: args.status,
        disposition: args.disposition,
        reason: args.reason,
    };
    let answer = write::<CaseDetail>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "status"])
            .json(&body),
    )
    .await?;
    report(answer, json, |d: &CaseDetail, _| {
        let c = &d.summary;
        format!(
            "{}: status {}",
            c.number,
            status_text(&c.status, c.disposition.as_deref())
        )
    });
    Ok(())
}

/// `vigil cases assign` options.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["principal", "none"])))]
pub struct AssignArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The principal to assign it to.
    principal: Option<String>,
    /// Unassign it.
    #[arg(long)]
    none: bool,
}

/// `POST /cases/{id}/assign`: `CASE-12: assigned to otto`.
pub async fn assign(client: &Client, args: AssignArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<CaseDetail>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "assign"])
            .json(&AssignBody {
                assignee: args.principal,
            }),
    )
    .await?;
    report(answer, json, |d: &CaseDetail, _| {
        let c = &d.summary;
        match &c.assignee {
            Some(a) => format!("{}: assigned to {a}", c.number),
            None => format!("{}: unassigned", c.number),
        }
    });
    Ok(())
}

/// `vigil cases comment` options.
#[derive(Debug, clap::Args)]
pub struct CommentArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The comment.
    text: String,
}

/// `POST /cases/{id}/comments`.
pub async fn comment(client: &Client, args: CommentArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<CommentView>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "comments"])
            .json(&CommentBody { body: args.text }),
    )
    .await?;
    report(answer, json, |c: &CommentView, _| {
        format!(
            "{}: comment {} added ({} note by {})",
            args.id, c.id, c.author_kind, c.author
        )
    });
    Ok(())
}

/// `vigil cases merge` options.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The case that survives: its id or number.
    target: String,
    /// The cases merged into it (they are closed and linked to it).
    #[arg(required = true, num_args = 1..)]
    sources: Vec<String>,
    /// The disposition the sources close with (needed when the target has
    /// none).
    #[arg(long, value_parser = vocabulary(Disposition::ALL, Disposition::as_str))]
    disposition: Option<Disposition>,
}

/// `POST /cases/{target}/merge`.
pub async fn merge(client: &Client, args: MergeArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<MergeView>(
        client,
        client
            .request(Method::POST, &["cases", &args.target, "merge"])
            .json(&MergeBody {
                sources: args.sources,
                disposition: args.disposition,
            }),
    )
    .await?;
    report(answer, json, |m: &MergeView, _| {
        let merged: Vec<&str> = m.merged.iter().map(|c| c.number.as_str()).collect();
        format!(
            "{}: merged {} ({})",
            m.target.summary.number,
            merged.join(", "),
            m.summary
        )
    });
    Ok(())
}

/// `vigil cases delete` options.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// Why (recorded on the timeline).
    #[arg(long)]
    reason: Option<String>,
}

/// `DELETE /cases/{id}`: soft; the case stays readable by id.
pub async fn delete(client: &Client, args: DeleteArgs, json: bool) -> anyhow::Result<()> {
    let mut request = client.request(Method::DELETE, &["cases", &args.id]);
    if let Some(reason) = &args.reason {
        request = request.query(&[("reason", reason)]);
    }
    let answer = write::<CaseDetail>(client, request).await?;
    report(answer, json, |d: &CaseDetail, _| {
        format!(
            "{}: deleted (its alerts were detached; it stays readable by id)",
            d.summary.number
        )
    });
    Ok(())
}

/// `vigil cases link-alert` options.
#[derive(Debug, clap::Args)]
pub struct LinkAlertArgs {
    /// The case: its id or its number (`CASE-12`).
    id: String,
    /// The alert's id.
    alert_id: String,
}

/// `POST /cases/{id}/alerts`.
pub async fn link_alert(client: &Client, args: LinkAlertArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<CaseDetail>(
        client,
        client
            .request(Method::POST, &["cases", &args.id, "alerts"])
            .json(&LinkAlertBody {
                alert_id: args.alert_id.clone(),
            }),
    )
    .await?;
    report(answer, json, |d: &CaseDetail, _| {
        format!(
            "{}: alert {} linked ({} alerts)",
            d.summary.number, args.alert_id, d.summary.counts.alerts
        )
    });
    Ok(())
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
        let shared: Vec<String> = r
            .shared
            .iter()
            .map(|s| format!("{} {}", s.kind, s.value))
            .collect();
        table.row(vec![
            r.number.clone(),
            format!("{:.2}", r.score),
            r.severity.clone(),
            r.status.clone(),
            render::clip(&r.title, 50),
            render::clip(&shared.join(", "), 80),
        ]);
    }
    if table.is_empty() {
        println!("No related cases (none shares two or more observables with it).");
    } else {
        print!("{}", table.render());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn page(showcase: bool, next: Option<&str>) -> CasePageView {
        serde_json::from_value(json!({
            "items": [{
                "id": "01a210ba-781c-7a5d-874e-8b73d3bb0f91", "number": "CASE-1",
                "title": "[Showcase] SSH brute force", "severity": "critical",
                "status": "closed", "disposition": "true_positive", "assignee": null,
                "requires_human_approval": false, "confidence": null,
                "confidence_reason": null, "tags": ["showcase"],
                "created_by": "vigil-showcase", "created_at": "2026-11-24T02:15:00Z",
                "updated_at": "2026-11-24T02:15:00Z",
                "status_changed_at": "2026-11-24T02:15:00Z", "deleted_at": null,
                "merged_into": null, "showcase": showcase,
                "counts": {"alerts": 2, "observables": 4, "evidence": 1, "comments": 3,
                           "tasks": 5, "open_tasks": 3}
            }],
            "next_cursor": next,
            "kpis": {"total": 5, "open": 3, "critical": 1, "resolved": 2},
            "showcase": showcase
        }))
        .unwrap()
    }

    #[test]
    fn the_queue_marks_showcase_rows_and_ends_on_counts_and_cursor() {
        let text = list_text(&[page(true, Some("number.asc.1.x"))]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("Showcase queue (dummy mode)"),
            "{text}"
        );
        assert!(lines[1].starts_with("NUMBER"), "{text}");
        assert!(
            lines[2].starts_with("CASE-1*  critical  closed (true_positive)"),
            "{text}"
        );
        assert!(lines[3].starts_with("* showcase data"), "{text}");
        assert_eq!(
            lines[4],
            "5 total, 3 open, 1 critical, 2 resolved (over the filters, status aside)"
        );
        assert_eq!(lines[5], "next: number.asc.1.x");
        let real = list_text(&[page(false, None)]);
        assert!(!real.contains("Showcase queue"), "{real}");
        assert!(
            !real.contains("CASE-1*") && !real.contains("showcase data"),
            "{real}"
        );
        assert!(!real.contains("next:"), "{real}");
    }
}

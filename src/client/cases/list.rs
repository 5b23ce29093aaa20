//! `vigil cases list`: the queue, a page at a time or every page, with its
//! header counts.

use vigil_api::views::cases::CasePageView;
use vigil_engine::store::{CaseSortKey, SortDirection};
use vigil_engine::{CaseStatus, Severity};

use super::entries::status_text;
use super::vocabulary;
use crate::client::Client;
use crate::client::render::{self, Table};

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

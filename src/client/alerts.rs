//! `vigil alerts ingest`, `list` and `promote`, over `/api/v1/alerts`.
//!
//! An ingest is stored in `real` and `dry_run` whoever sends it, and
//! answered with a preview in `dummy`; a promotion is a person's case
//! write, a preview in `dummy` and `dry_run`. Either preview is printed as
//! one (`preview (<mode> mode): nothing was stored ...`), never as a
//! stored alert or case.

use std::io::Read as _;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;
use vigil_api::views::alerts::{AlertPageView, AlertView, IngestView};
use vigil_api::views::cases::{CaseDetail, PreviewView};

use super::cases::{Written, write};
use super::render::{self, Table};
use super::{Client, Error};

/// `vigil alerts` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Send alerts to be stored and grouped into cases (operator or
    /// orchestrator): one JSON object, an array of them, or JSON Lines.
    Ingest(IngestArgs),
    /// Alerts, newest first (operator, auditor, orchestrator).
    List(ListArgs),
    /// Open a case for an alert linked to none (operator).
    Promote(PromoteArgs),
}

/// Runs a `vigil alerts` subcommand.
pub async fn alerts(client: &Client, command: AlertsCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AlertsCommand::Ingest(args) => ingest(client, args, json).await,
        AlertsCommand::List(args) => list(client, args, json).await,
        AlertsCommand::Promote(args) => promote(client, args, json).await,
    }
}

/// `vigil alerts ingest` options.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// A file holding the alerts (`-` or absent: stdin).
    #[arg(value_name = "FILE", default_value = "-")]
    file: PathBuf,
}

/// `POST /alerts` once per alert, in order. Every alert is read and
/// checked to be a JSON object before the first is sent. The first
/// refusal stops the run (the alerts before it stay stored; sending the
/// file again is safe, each is a redelivery).
pub async fn ingest(client: &Client, args: IngestArgs, json: bool) -> anyhow::Result<()> {
    let text = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Input(format!("cannot read alerts from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .map_err(|e| Error::Input(format!("cannot read {}: {e}", args.file.display())))?
    };
    let alerts = parse_alerts(&text)?;
    let total = alerts.len();
    for (i, alert) in alerts.iter().enumerate() {
        let answer = write::<IngestView>(
            client,
            client.request(Method::POST, &["alerts"]).json(alert),
        )
        .await
        .map_err(|e| {
            let stored = if i == 0 {
                String::new()
            } else {
                format!("; {i} sent before it")
            };
            e.context(format!(
                "alert {} of {total} ({}){stored}",
                i + 1,
                alert_name(alert)
            ))
        })?;
        let (written, raw) = answer;
        match written {
            _ if json => println!("{}", raw.trim_end()),
            Written::Stored { value, .. } => println!("{}", ingested_text(&value)),
            Written::Preview(p) => print!("{}", ingest_preview_text(alert, &p)),
        }
    }
    Ok(())
}

/// The alerts in `text`: one JSON object, an array of objects, or JSON
/// Lines (objects one after another). Anything else is invalid input,
/// named by its position.
pub fn parse_alerts(text: &str) -> Result<Vec<Value>, Error> {
    let mut values = Vec::new();
    for (i, value) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let value = value
            .map_err(|e| Error::Input(format!("the alerts are not JSON (value {}): {e}", i + 1)))?;
        values.push(value);
    }
    let alerts = match values.as_slice() {
        [Value::Array(items)] => items.clone(),
        _ => values,
    };
    if alerts.is_empty() {
        return Err(Error::Input("no alerts to send".to_owned()));
    }
    if let Some(i) = alerts.iter().position(|a| !a.is_object()) {
        return Err(Error::Input(format!(
            "alert {} is not a JSON object",
            i + 1
        )));
    }
    Ok(alerts)
}

/// `source/source_id` as the sender gave them, for messages.
fn alert_name(alert: &Value) -> String {
    let field = |name: &str| alert.get(name).and_then(Value::as_str).unwrap_or("?");
    format!("{}/{}", field("source"), field("source_id"))
}

/// Where an alert went: `CASE-3 (opened)`, `CASE-3 (joined)`, or ungrouped.
fn case_text(v: &IngestView) -> String {
    match &v.case {
        Some(c) if v.case_created => format!("{} (opened)", c.number),
        Some(c) if v.created => format!("{} (joined)", c.number),
        Some(c) => c.number.clone(),
        None => format!("no case (ungrouped; vigil alerts promote {})", v.alert.id),
    }
}

/// One line per ingested alert, its id first:
/// `<id> created: splunk/d-1, key <key>, CASE-3 (opened)`.
fn ingested_text(v: &IngestView) -> String {
    let a = &v.alert;
    let how = if v.created {
        "created"
    } else {
        "redelivery (stored before; nothing written)"
    };
    format!(
        "{} {how}: {}/{}, key {}, {}",
        a.id,
        a.source,
        a.source_id,
        a.grouping_key.as_deref().unwrap_or("-"),
        case_text(v)
    )
}

/// A previewed ingest: what would be stored, and why nothing was.
fn ingest_preview_text(alert: &Value, p: &PreviewView) -> String {
    let record = p.would.get("record").cloned().unwrap_or(Value::Null);
    let key = record
        .get("grouping_key")
        .and_then(Value::as_str)
        .unwrap_or("- (ungrouped)");
    let entities = record
        .get("entities")
        .and_then(Value::as_array)
        .map(|e| entity_list(e))
        .unwrap_or_default();
    format!(
        "preview ({} mode): nothing was stored — alert {} would be stored with key {key}{}\n  \
         why: {}\n",
        p.mode,
        alert_name(alert),
        if entities.is_empty() {
            String::new()
        } else {
            format!(", entities {entities}")
        },
        p.reason
    )
}

/// `ip 1.2.3.4, user deploy`.
fn entity_list(entities: &[Value]) -> String {
    let names: Vec<String> = entities
        .iter()
        .map(|e| {
            let field = |name: &str| e.get(name).and_then(Value::as_str).unwrap_or("?");
            format!("{} {}", field("type"), field("value"))
        })
        .collect();
    names.join(", ")
}

/// `vigil alerts list` options.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only alerts linked to this case: its id or its number (`CASE-12`).
    #[arg(long, value_name = "CASE")]
    case: Option<String>,
    /// Only alerts of this detection rule (exact).
    #[arg(long)]
    rule: Option<String>,
    /// Only alerts from this source (exact).
    #[arg(long)]
    source: Option<String>,
    /// Page size, 1 to 200 (server default 50).
    #[arg(long)]
    limit: Option<u32>,
    /// The cursor printed after the previous page.
    #[arg(long)]
    cursor: Option<String>,
}

/// `GET /alerts`: one page as a table, newest first, and the next page's
/// cursor. A case given by number is looked up first (the route filters
/// by id).
pub async fn list(client: &Client, args: ListArgs, json: bool) -> anyhow::Result<()> {
    let case_id = match &args.case {
        Some(case) => Some(case_id(client, case).await?),
        None => None,
    };
    let query: Vec<(&str, String)> = [
        ("case_id", case_id),
        ("rule", args.rule),
        ("source", args.source),
        ("limit", args.limit.map(|l| l.to_string())),
        ("after", args.cursor),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let reply = client.get::<AlertPageView>(&["alerts"], &query).await?;
    if json {
        reply.print_raw();
        return Ok(());
    }
    let page = reply.value;
    let numbers = case_numbers(client, &page.items).await?;
    print!("{}", alert_table(&page.items, &numbers));
    if let Some(cursor) = page.next_cursor {
        println!("More: vigil alerts list --cursor {cursor} (with the same filters)");
    }
    Ok(())
}

/// The id of a case given by id or number.
async fn case_id(client: &Client, case: &str) -> anyhow::Result<String> {
    if uuid::Uuid::parse_str(case).is_ok() {
        return Ok(case.to_owned());
    }
    let detail = client.get::<CaseDetail>(&["cases", case], &[]).await?;
    Ok(detail.value.summary.id.to_string())
}

/// The number of each case the alerts are linked to, read once per case.
async fn case_numbers(
    client: &Client,
    alerts: &[AlertView],
) -> anyhow::Result<Vec<(uuid::Uuid, String)>> {
    let mut numbers: Vec<(uuid::Uuid, String)> = Vec::new();
    for id in alerts.iter().filter_map(|a| a.case_id) {
        if numbers.iter().any(|(known, _)| *known == id) {
            continue;
        }
        let detail = client
            .get::<CaseDetail>(&["cases", &id.to_string()], &[])
            .await?;
        numbers.push((id, detail.value.summary.number));
    }
    Ok(numbers)
}

fn alert_table(alerts: &[AlertView], numbers: &[(uuid::Uuid, String)]) -> String {
    if alerts.is_empty() {
        return "No alerts match.\n".to_owned();
    }
    let mut table = Table::new(vec![
        "ID", "SOURCE", "RULE", "SEVERITY", "OBSERVED", "KEY", "CASE", "TITLE",
    ]);
    for a in alerts {
        let case = a.case_id.map_or_else(
            || "-".to_owned(),
            |id| {
                numbers
                    .iter()
                    .find(|(known, _)| *known == id)
                    .map_or_else(|| id.to_string(), |(_, n)| n.clone())
            },
        );
        table.row(vec![
            a.id.to_string(),
            render::clip(&format!("{}/{}", a.source, a.source_id), 40),
            render::clip(&a.rule, 40),
            a.severity.clone(),
            render::time(a.observed_at),
            a.grouping_key
                .as_deref()
                .map_or_else(|| "-".to_owned(), |k| render::clip(k, 60)),
            case,
            render::clip(&a.title, 60),
        ]);
    }
    table.render()
}

/// `vigil alerts promote` options.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The alert's id.
    id: String,
}

/// `POST /alerts/{id}/promote`: `CASE-5: opened for alert <id> (...)`, or
/// the preview.
pub async fn promote(client: &Client, args: PromoteArgs, json: bool) -> anyhow::Result<()> {
    let answer = write::<IngestView>(
        client,
        client.request(Method::POST, &["alerts", &args.id, "promote"]),
    )
    .await?;
    let (written, raw) = answer;
    match written {
        _ if json => println!("{}", raw.trim_end()),
        Written::Stored { value, .. } => println!("{}", promoted_text(&value)),
        Written::Preview(p) => print!("{}", promote_preview_text(&args.id, &p)),
    }
    Ok(())
}

fn promoted_text(v: &IngestView) -> String {
    match &v.case {
        Some(c) => format!(
            "{}: opened for alert {} (severity {}, {} observables; id {})",
            c.number, v.alert.id, c.severity, c.counts.observables, c.id
        ),
        None => format!("alert {}: no case was opened", v.alert.id),
    }
}

fn promote_preview_text(id: &str, p: &PreviewView) -> String {
    let record = p.would.get("record").cloned().unwrap_or(Value::Null);
    let field = |name: &str| record.get(name).and_then(Value::as_str).unwrap_or("?");
    let observables = record
        .get("observables")
        .and_then(Value::as_array)
        .map(|o| entity_list(o))
        .unwrap_or_default();
    format!(
        "preview ({} mode): nothing was stored — would open a case \"{}\" (severity {}) for \
         alert {id}{}\n  why: {}\n",
        p.mode,
        field("title"),
        field("severity"),
        if observables.is_empty() {
            String::new()
        } else {
            format!(", observables {observables}")
        },
        p.reason
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn alerts_are_read_as_one_object_an_array_or_json_lines() {
        let one = parse_alerts(r#"{"source": "s", "source_id": "1"}"#).unwrap();
        assert_eq!(one.len(), 1);
        let array = parse_alerts(r#"[{"source_id": "1"}, {"source_id": "2"}]"#).unwrap();
        assert_eq!(array.len(), 2);
        let lines = parse_alerts("{\"source_id\": \"1\"}\n\n{\"source_id\": \"2\"}\n").unwrap();
        assert_eq!(lines[1]["source_id"], "2");
        for bad in ["", "  \n", "[1]", "{\"a\": 1}\n[", "42", "[]"] {
            let e = parse_alerts(bad).unwrap_err();
            assert_eq!(e.exit(), crate::client::Exit::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn an_ingest_preview_says_nothing_was_stored() {
        let p = PreviewView {
            preview: true,
            mode: "dummy".into(),
            reason: "showcase".into(),
            would: json!({"record": {"id": null, "grouping_key": "R|ip=1.2.3.4",
                "entities": [{"type": "ip", "value": "1.2.3.4"}]}, "timeline": []}),
        };
        let alert = json!({"source": "splunk", "source_id": "d-1"});
        assert_eq!(
            ingest_preview_text(&alert, &p),
            "preview (dummy mode): nothing was stored — alert splunk/d-1 would be stored with \
             key R|ip=1.2.3.4, entities ip 1.2.3.4\n  why: showcase\n"
        );
    }
}

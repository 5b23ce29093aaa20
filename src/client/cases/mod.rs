//! `vigil cases ...`: the case queue, one case and the records inside it,
//! its lifecycle, its timeline (live with `--follow`) and its audit, over
//! `/api/v1/cases`.
//!
//! **Mode truth.** Every write is answered either with the record as
//! stored (201 or 200) or, when the server's runtime mode stores nothing
//! (`dummy`, and `dry_run` for people), with a preview:
//! `{"preview": true, "mode", "reason", "would": {"record", "timeline"}}`.
//! [`Written`] tells the two apart and every command says which happened:
//! a stored write prints what changed (`CASE-12: status closed
//! (true_positive)`), a preview prints a line that begins `preview (<mode>
//! mode): nothing was stored` and names the timeline entries it would have
//! written. Both exit 0: no exit code means "previewed". `--json` prints
//! the server's body as it is, preview or not.
//!
//! - [`list`]: the queue; [`show`]: one case, and related cases;
//! - [`writes`]: `create`, `update`, `status`, `assign`, `comment`,
//!   `merge`, `delete`, `link-alert`;
//! - [`records`]: `observe`, `evidence`, `custody`, `task`;
//! - [`timeline`]: `timeline` (and `--follow`), `audit`;
//! - [`investigations`]: `investigate` (a run linked to the case) and
//!   `investigations` (the linked runs);
//! - [`entries`]: one timeline entry in a few words.

pub mod entries;
pub mod investigations;
pub mod list;
pub mod records;
pub mod show;
pub mod timeline;
pub mod writes;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use serde_json::Value;
use vigil_api::views::cases::PreviewView;

use super::{Client, Error};

/// `vigil cases` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CasesCommand {
    /// The case queue: a table, its header counts, and the next page's
    /// cursor.
    List(list::ListArgs),
    /// One case: its fields, observables, evidence with custody,
    /// comments and open tasks.
    Show(show::ShowArgs),
    /// Open a case (operator or orchestrator).
    Create(writes::CreateArgs),
    /// Change a case's fields (operator).
    Update(writes::UpdateArgs),
    /// Move a case to another status (operator).
    Status(writes::StatusArgs),
    /// Assign a case to a principal, or unassign it (operator).
    Assign(writes::AssignArgs),
    /// Add a comment (operator or orchestrator).
    Comment(writes::CommentArgs),
    /// Report an observable: new, or another sighting (operator or
    /// orchestrator).
    Observe(records::ObserveArgs),
    /// Register evidence, list it, or download its content.
    Evidence(records::EvidenceArgs),
    /// Record a chain-of-custody action on an evidence item, or list them.
    Custody(records::CustodyArgs),
    /// Create a task, change one, or list them.
    Task(records::TaskArgs),
    /// Merge other cases into a target case (operator).
    Merge(writes::MergeArgs),
    /// Delete a case: soft, its alerts detached (operator).
    Delete(writes::DeleteArgs),
    /// Link an alert to a case (operator or orchestrator).
    LinkAlert(writes::LinkAlertArgs),
    /// Cases that share two or more observables with this one: score and
    /// the shared values.
    Related(show::CaseArg),
    /// Dispatch an investigation linked to the case: its result and
    /// approvals are written back to it (orchestrator or operator).
    Investigate(investigations::InvestigateArgs),
    /// The investigations linked to the case, newest first, with their
    /// live state.
    Investigations(investigations::InvestigationsArgs),
    /// Ask the `summarize` agent for the case's AI summary: summary,
    /// immediate actions, long-term remediation, policy changes, similar
    /// cases (orchestrator or operator; closing a case asks by itself).
    Summarize(investigations::SummarizeArgs),
    /// The case's timeline, one line per entry; `--follow` tails it live.
    Timeline(timeline::TimelineArgs),
    /// Verify the case's timeline (and export it with -o).
    Audit(timeline::AuditArgs),
}

/// Runs a `vigil cases` subcommand.
pub async fn cases(client: &Client, command: CasesCommand, json: bool) -> anyhow::Result<()> {
    match command {
        CasesCommand::List(args) => list::list(client, args, json).await,
        CasesCommand::Show(args) => show::show(client, args, json).await,
        CasesCommand::Create(args) => writes::create(client, args, json).await,
        CasesCommand::Update(args) => writes::update(client, args, json).await,
        CasesCommand::Status(args) => writes::status(client, args, json).await,
        CasesCommand::Assign(args) => writes::assign(client, args, json).await,
        CasesCommand::Comment(args) => writes::comment(client, args, json).await,
        CasesCommand::Observe(args) => records::observe(client, args, json).await,
        CasesCommand::Evidence(args) => records::evidence(client, args, json).await,
        CasesCommand::Custody(args) => records::custody(client, args, json).await,
        CasesCommand::Task(args) => records::task(client, args, json).await,
        CasesCommand::Merge(args) => writes::merge(client, args, json).await,
        CasesCommand::Delete(args) => writes::delete(client, args, json).await,
        CasesCommand::LinkAlert(args) => writes::link_alert(client, args, json).await,
        CasesCommand::Related(args) => show::related(client, args, json).await,
        CasesCommand::Investigate(args) => investigations::investigate(client, args, json).await,
        CasesCommand::Investigations(args) => {
            investigations::investigations(client, args, json).await
        }
        CasesCommand::Summarize(args) => investigations::summarize(client, args, json).await,
        CasesCommand::Timeline(args) => timeline::timeline(client, args, json).await,
        CasesCommand::Audit(args) => timeline::audit(client, args, json).await,
    }
}

/// What a case write did: stored, or only previewed.
#[derive(Debug)]
pub enum Written<T> {
    /// The record as stored, and the status (201 for a new record).
    Stored {
        /// The record.
        value: T,
        /// 201 or 200.
        status: u16,
    },
    /// Nothing was stored: what the write would have done.
    Preview(PreviewView),
}

/// Sends a case write and tells a stored answer from a preview by its
/// `"preview": true`. Returns the answer and its raw text (for `--json`).
pub async fn write<T: DeserializeOwned>(
    client: &Client,
    request: RequestBuilder,
) -> anyhow::Result<(Written<T>, String)> {
    let reply = client.call::<Value>(request).await?;
    let unexpected = |e: serde_json::Error| Error::Unexpected(e.to_string());
    let written = if reply.value.get("preview").and_then(Value::as_bool) == Some(true) {
        Written::Preview(serde_json::from_value(reply.value).map_err(unexpected)?)
    } else {
        Written::Stored {
            value: serde_json::from_value(reply.value).map_err(unexpected)?,
            status: reply.status,
        }
    };
    Ok((written, reply.raw))
}

/// Prints a write's outcome: under `--json` the body as it is; otherwise
/// `stored`'s line for a stored record, or the preview's lines.
pub fn report<T>(
    (written, raw): (Written<T>, String),
    json: bool,
    stored: impl FnOnce(&T, u16) -> String,
) {
    if json {
        println!("{}", raw.trim_end());
        return;
    }
    match written {
        Written::Stored { value, status } => println!("{}", stored(&value, status)),
        Written::Preview(preview) => print!("{}", preview_text(&preview)),
    }
}

/// A preview, unmistakably: `preview (<mode> mode): nothing was stored —
/// would write: <entry>; <entry>`, then the server's reason.
pub fn preview_text(p: &PreviewView) -> String {
    let entries: Vec<String> = p
        .would
        .get("timeline")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let kind = e.get("kind").and_then(Value::as_str).unwrap_or("?");
                    let payload = e.get("payload").cloned().unwrap_or(Value::Null);
                    format!("{kind}: {}", entries::summary(kind, &payload))
                })
                .collect()
        })
        .unwrap_or_default();
    let would = if entries.is_empty() {
        "would write nothing (no change)".to_owned()
    } else {
        format!("would write: {}", entries.join("; "))
    };
    format!(
        "preview ({} mode): nothing was stored — {would}\n  why: {}\n",
        p.mode, p.reason
    )
}

/// A clap parser for one of the engine's wire vocabularies (statuses,
/// severities, ...): its names are the possible values `--help` lists.
pub fn vocabulary<T>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T>
where
    T: Copy + Clone + Send + Sync + 'static + std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    PossibleValuesParser::new(all.iter().map(|v| name(*v))).try_map(|s| s.parse::<T>())
}

/// A time given on the command line: RFC 3339.
pub fn rfc3339(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("not an RFC 3339 time (2026-11-24T18:00:00Z): {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_preview_says_nothing_was_stored_and_what_it_would_write() {
        let p = PreviewView {
            preview: true,
            mode: "dry_run".into(),
            reason: "people's changes are previewed".into(),
            would: json!({"record": {}, "timeline": [{"kind": "status_change", "actor": "ana",
                "payload": {"from": "resolved", "to": "closed", "disposition_from": "true_positive",
                "disposition_to": "true_positive", "reason": null}}]}),
        };
        assert_eq!(
            preview_text(&p),
            "preview (dry_run mode): nothing was stored — would write: status_change: status \
             resolved -> closed (true_positive)\n  why: people's changes are previewed\n"
        );
        let nothing = PreviewView {
            would: json!({"record": {}, "timeline": []}),
            ..p
        };
        assert!(preview_text(&nothing).contains("would write nothing (no change)"));
    }
}

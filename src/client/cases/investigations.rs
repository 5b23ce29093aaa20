//! `vigil cases investigate` and `vigil cases investigations`: runs
//! linked to a case, over `/cases/{id}/investigations`.
//!
//! A run started for a case goes through [`start`]: it sends the request,
//! tells a stored investigation from a preview, and prints either. Another
//! route that starts a linked run (a body and a path under the case) is
//! one `clap::Args` struct and one call to it.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::Value;
use vigil_api::views::cases::PreviewView;
use vigil_api::views::{CaseDispatchBody, InvestigationDetail, InvestigationPage};

use super::{Written, write};
use crate::client::Client;
use crate::client::investigations::{BudgetArgs, idempotency_headers};
use crate::client::render::{self, Table};

/// `vigil cases investigate` options.
#[derive(Debug, clap::Args)]
pub struct InvestigateArgs {
    /// The case: its id or its number (`CASE-12`).
    case: String,
    /// The agent to run (one the server has configured).
    #[arg(long)]
    agent: String,
    /// What to investigate.
    #[arg(long)]
    prompt: String,
    /// An external case or ticket id, kept beside the link.
    #[arg(long)]
    case_ref: Option<String>,
    /// Makes retries safe: repeating the request with the same key
    /// returns the first investigation instead of a new one.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    budget: BudgetArgs,
}

/// `POST /cases/{id}/investigations`: `<id> <state> (dispatched for
/// CASE-12; agent triage)`, or the preview.
pub async fn investigate(client: &Client, args: InvestigateArgs, json: bool) -> anyhow::Result<()> {
    let body = CaseDispatchBody {
        agent_id: args.agent,
        prompt: args.prompt,
        case_ref: args.case_ref,
        budget: args.budget.body(),
    };
    let headers = idempotency_headers(args.idempotency_key.as_deref())?;
    start(
        client,
        &args.case,
        &["cases", &args.case, "investigations"],
        &body,
        headers,
        json,
    )
    .await
}

/// `vigil cases summarize` options.
#[derive(Debug, clap::Args)]
pub struct SummarizeArgs {
    /// The case: its id or its number (`CASE-12`).
    case: String,
    /// Makes retries safe: repeating the request with the same key
    /// returns the first summary investigation instead of a new one.
    #[arg(long)]
    idempotency_key: Option<String>,
}

/// `POST /cases/{id}/summarize`: dispatches the `summarize` agent for the
/// case; its result is written back as the case's AI summary (read it with
/// `vigil cases show` or `vigil cases timeline`).
pub async fn summarize(client: &Client, args: SummarizeArgs, json: bool) -> anyhow::Result<()> {
    let headers = idempotency_headers(args.idempotency_key.as_deref())?;
    start(
        client,
        &args.case,
        &["cases", &args.case, "summarize"],
        &serde_json::json!({}),
        headers,
        json,
    )
    .await
}

/// Sends a request that starts an investigation linked to `case`
/// (`POST segments` with `body`) and prints the answer: the stored
/// investigation, id first (`<id> <state> (dispatched for <case>; agent
/// <agent>)`, or `already dispatched with this key` for a 200), or the
/// preview, which says nothing was stored. `--json` prints the body as is.
pub async fn start<B: Serialize>(
    client: &Client,
    case: &str,
    segments: &[&str],
    body: &B,
    headers: HeaderMap,
    json: bool,
) -> anyhow::Result<()> {
    let (written, raw) = write::<InvestigationDetail>(
        client,
        client
            .request(Method::POST, segments)
            .headers(headers)
            .json(body),
    )
    .await?;
    match written {
        _ if json => println!("{}", raw.trim_end()),
        Written::Stored { value, status } => {
            let inv = &value.summary;
            let how = if status == 201 {
                "dispatched"
            } else {
                "already dispatched with this key"
            };
            println!(
                "{} {} ({how} for {case}; agent {})",
                inv.id,
                render::summary_state(inv),
                inv.agent_id
            );
        }
        Written::Preview(p) => print!("{}", preview_text(case, &p)),
    }
    Ok(())
}

/// A previewed dispatch: the agent that would run, and why nothing was
/// stored.
fn preview_text(case: &str, p: &PreviewView) -> String {
    let agent = p
        .would
        .pointer("/record/agent_id")
        .and_then(Value::as_str)
        .unwrap_or("?");
    format!(
        "preview ({} mode): nothing was stored — would dispatch agent {agent} for {case} \
         (investigation_linked)\n  why: {}\n",
        p.mode, p.reason
    )
}

/// `vigil cases investigations` options.
#[derive(Debug, clap::Args)]
pub struct InvestigationsArgs {
    /// The case: its id or its number (`CASE-12`).
    case: String,
}

/// `GET /cases/{id}/investigations`: the linked runs, newest first, with
/// their state as of now.
pub async fn investigations(
    client: &Client,
    args: InvestigationsArgs,
    json: bool,
) -> anyhow::Result<()> {
    let reply = client
        .get::<InvestigationPage>(&["cases", &args.case, "investigations"], &[])
        .await?;
    if json {
        reply.print_raw();
        return Ok(());
    }
    let mut table = Table::new(vec![
        "ID",
        "STATE",
        "AGENT",
        "REQUESTED BY",
        "CREATED",
        "DURATION",
        "CONFIDENCE",
        "WAITING ON",
    ]);
    for i in &reply.value.items {
        table.row(vec![
            i.id.to_string(),
            render::summary_state(i),
            i.agent_id.clone(),
            i.requested_by.clone(),
            render::time(i.created_at),
            i.duration_ms.map_or("-".to_owned(), render::duration_ms),
            render::confidence(i.confidence),
            i.waiting_on
                .map_or_else(|| "-".to_owned(), |a| format!("approval {a}")),
        ]);
    }
    if table.is_empty() {
        println!("No investigations are linked to {}.", args.case);
    } else {
        print!("{}", table.render());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_previewed_dispatch_says_nothing_was_stored() {
        let p = PreviewView {
            preview: true,
            mode: "dummy".into(),
            reason: "showcase".into(),
            would: json!({"record": {"agent_id": "triage"}, "timeline": []}),
        };
        assert_eq!(
            preview_text("CASE-4", &p),
            "preview (dummy mode): nothing was stored — would dispatch agent triage for CASE-4 \
             (investigation_linked)\n  why: showcase\n"
        );
    }
}

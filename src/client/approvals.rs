//! `vigil approvals` (the inbox), `vigil approvals show`, `vigil approve`
//! and `vigil reject`.

use chrono::Utc;
use reqwest::header::HeaderMap;
use vigil_api::views::{ApprovalDetail, ApprovalList, ApprovalView, DecisionBody};

use super::Client;
use super::render::{self, Table};

/// `vigil approvals` options.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    command: Option<ApprovalsCommand>,
    /// pending, approved, rejected or expired (default: all, pending first).
    #[arg(long)]
    status: Option<String>,
    /// Only this investigation's requests.
    #[arg(long, value_name = "ID")]
    investigation: Option<String>,
    /// At most this many, 1 to 500 (server default 100).
    #[arg(long)]
    limit: Option<u32>,
}

/// `vigil approvals` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ApprovalsCommand {
    /// One approval request with what an approver needs to decide it.
    Show {
        /// The approval request id.
        id: String,
    },
}

/// Lists approval requests, or shows one.
pub async fn approvals(client: &Client, args: ApprovalsArgs, json: bool) -> anyhow::Result<()> {
    if let Some(ApprovalsCommand::Show { id }) = args.command {
        return show(client, &id, json).await;
    }
    let query: Vec<(&str, String)> = [
        ("status", args.status),
        ("investigation_id", args.investigation),
        ("limit", args.limit.map(|l| l.to_string())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let reply = client.get::<ApprovalList>(&["approvals"], &query).await?;
    if json {
        reply.print_raw();
        return Ok(());
    }
    let now = Utc::now();
    let mut table = Table::new(vec![
        "ID",
        "STATUS",
        "ACTION",
        "ARGUMENTS",
        "INVESTIGATION",
        "EXPIRES",
        "DECIDED BY",
    ]);
    for a in &reply.value.items {
        let expires = if a.status == "pending" {
            let left = (a.expires_at - now).num_milliseconds();
            format!(
                "{} (in {})",
                render::time(a.expires_at),
                render::duration_ms(left)
            )
        } else {
            render::time(a.expires_at)
        };
        table.row(vec![
            a.id.to_string(),
            a.status.clone(),
            a.action.clone(),
            render::clip(&render::compact(&a.arguments), 40),
            a.investigation_id.to_string(),
            expires,
            a.decided_by.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    if table.is_empty() {
        println!("No approval requests.");
    } else {
        print!("{}", table.render());
    }
    Ok(())
}

async fn show(client: &Client, id: &str, json: bool) -> anyhow::Result<()> {
    let reply = client
        .get::<ApprovalDetail>(&["approvals", id], &[])
        .await?;
    if json {
        reply.print_raw();
    } else {
        print!("{}", detail_text(&reply.value));
    }
    Ok(())
}

/// The readable form of an approval request and its context.
fn detail_text(d: &ApprovalDetail) -> String {
    let a = &d.approval;
    let c = &d.context;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("{label:<15}{value}\n"));
    };
    line("status:", a.status.clone());
    line("id:", a.id.to_string());
    let effect = c
        .tool
        .as_ref()
        .map_or_else(String::new, |t| format!(" ({} tool)", t.effect));
    line("action:", format!("{}{effect}", a.action));
    line("arguments:", render::compact(&a.arguments));
    if let Some(rationale) = &a.rationale {
        line("rationale:", rationale.clone());
    }
    line("approving:", c.effect_in_mode.clone());
    line("requested:", render::time(a.created_at));
    line("expires:", render::time(a.expires_at));
    if let Some(by) = &a.decided_by {
        line(
            "decided by:",
            format!("{by} at {}", render::maybe_time(a.decided_at)),
        );
    }
    if let Some(comment) = &a.comment {
        line("comment:", comment.clone());
    }
    line(
        "investigation:",
        format!(
            "{} ({}, {})",
            a.investigation_id,
            c.agent_id,
            render::state(&c.status, c.phase.as_deref())
        ),
    );
    line("dispatched by:", c.requested_by.clone());
    if let Some(case) = &c.case_ref {
        line("case:", case.clone());
    }
    line("prompt:", render::clip(&c.prompt, 200));
    line(
        "you decide:",
        match &d.cannot_decide_reason {
            None if d.can_decide => "yes: vigil approve|reject <id> [--comment C]".to_owned(),
            None => "no".to_owned(),
            Some(reason) => format!("no: {reason}"),
        },
    );
    for n in &d.notifications {
        line(
            "webhook:",
            format!(
                "{} {} after {} attempt(s){}",
                n.target,
                n.status,
                n.attempts,
                n.last_error
                    .as_deref()
                    .map_or_else(String::new, |e| format!(": {}", render::clip(e, 80)))
            ),
        );
    }
    out
}

/// `vigil approve` and `vigil reject` options.
#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The approval request id (`vigil approvals` lists them).
    id: String,
    /// A comment for the record (on reject, the model is told it).
    #[arg(long)]
    comment: Option<String>,
}

/// `POST /approvals/{id}/decision` with `decision`.
pub async fn decide(
    client: &Client,
    args: DecideArgs,
    decision: &str,
    json: bool,
) -> anyhow::Result<()> {
    let reply = client
        .post::<_, ApprovalView>(
            &["approvals", &args.id, "decision"],
            &DecisionBody {
                decision: decision.to_owned(),
                comment: args.comment,
            },
            HeaderMap::new(),
        )
        .await?;
    if json {
        reply.print_raw();
        return Ok(());
    }
    let a = &reply.value;
    println!(
        "{} {} by {} ({} {}); investigation {} is queued again",
        a.id,
        a.status,
        a.decided_by.as_deref().unwrap_or("-"),
        a.action,
        render::compact(&a.arguments),
        a.investigation_id
    );
    Ok(())
}

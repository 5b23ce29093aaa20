//! `vigil dispatch`, `list`, `show`, `rescue`, `cancel` and `review`.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use vigil_api::views::{
    BudgetBody, DispatchBody, InvestigationDetail, InvestigationPage, ReasonBody, ReviewBody,
};

use super::render::{self, Table};
use super::{Client, Error};

/// `vigil dispatch` options.
#[derive(Debug, clap::Args)]
pub struct DispatchArgs {
    /// The agent to run (one the server has configured).
    #[arg(long)]
    agent: String,
    /// An external case or ticket id.
    #[arg(long)]
    case_ref: Option<String>,
    /// The Vigil case to link the investigation to (`CASE-12` or its id):
    /// its result and approvals are written back to that case.
    #[arg(long, value_name = "CASE")]
    case: Option<String>,
    /// Makes retries safe: repeating a dispatch with the same key (and the
    /// same request) returns the first investigation instead of a new one.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// What to investigate.
    prompt: String,
}

/// The budget flags of a dispatch: each overrides the agent's default for
/// this run.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct BudgetArgs {
    /// At most this many model turns (default: the agent's budget).
    #[arg(long)]
    max_turns: Option<u32>,
    /// At most this many tokens, input and output together.
    #[arg(long)]
    max_tokens: Option<u64>,
    /// At most this many seconds of running (time parked on approvals excluded).
    #[arg(long)]
    max_wall_secs: Option<u64>,
}

impl BudgetArgs {
    /// The request's `budget`: none when no flag was given.
    pub fn body(self) -> Option<BudgetBody> {
        let budget = BudgetBody {
            max_turns: self.max_turns,
            max_tokens: self.max_tokens,
            max_wall_secs: self.max_wall_secs,
        };
        (budget != BudgetBody::default()).then_some(budget)
    }
}

/// The `Idempotency-Key` header, when a key is given.
pub fn idempotency_headers(key: Option<&str>) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        let value = HeaderValue::from_str(key).map_err(|_| {
            Error::Input("--idempotency-key must be visible ASCII characters".to_owned())
        })?;
        headers.insert("idempotency-key", value);
    }
    Ok(headers)
}

/// `POST /investigations`. Prints `<id> <state> (dispatched; agent <agent>)`:
/// the id comes first, for scripts.
pub async fn dispatch(client: &Client, args: DispatchArgs, json: bool) -> anyhow::Result<()> {
    let body = DispatchBody {
        agent_id: args.agent,
        prompt: args.prompt,
        case_ref: args.case_ref,
        case_id: args.case,
        budget: args.budget.body(),
    };
    let headers = idempotency_headers(args.idempotency_key.as_deref())?;
    let reply = client
        .post::<_, InvestigationDetail>(&["investigations"], &body, headers)
        .await?;
    if json {
        reply.print_raw();
        return Ok(());
    }
    let inv = &reply.value.summary;
    let how = if reply.status == 201 {
        "dispatched"
    } else {
        "already dispatched with this key"
    };
    println!(
        "{} {} ({how}; agent {})",
        inv.id,
        render::summary_state(inv),
        inv.agent_id
    );
    Ok(())
}

/// `vigil list` options.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// pending, completed, review_required, failed or dead_lettered.
    #[arg(long)]
    status: Option<String>,
    /// queued, running, awaiting_approval or awaiting_children (pending
    /// investigations).
    #[arg(long)]
    phase: Option<String>,
    /// Only this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Only investigations this principal dispatched.
    #[arg(long)]
    requested_by: Option<String>,
    /// Only this external case.
    #[arg(long)]
    case_ref: Option<String>,
    /// Created at or after this time (RFC 3339, e.g. 2026-11-24T00:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Created before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Page size, 1 to 500 (server default 50).
    #[arg(long)]
    limit: Option<u32>,
    /// The cursor printed after the previous page.
    #[arg(long)]
    cursor: Option<String>,
}

/// `GET /investigations`: one page as a table, and the next page's cursor.
pub async fn list(client: &Client, args: ListArgs, json: bool) -> anyhow::Result<()> {
    let query: Vec<(&str, String)> = [
        ("status", args.status),
        ("phase", args.phase),
        ("agent_id", args.agent),
        ("requested_by", args.requested_by),
        ("case_ref", args.case_ref),
        ("created_after", args.since),
        ("created_before", args.until),
        ("limit", args.limit.map(|l| l.to_string())),
        ("cursor", args.cursor),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let reply = client
        .get::<InvestigationPage>(&["investigations"], &query)
        .await?;
    if json {
        reply.print_raw();
        return Ok(());
    }
    let page = reply.value;
    let mut table = Table::new(vec![
        "ID",
        "STATE",
        "AGENT",
        "REQUESTED BY",
        "CASE",
        "CREATED",
        "DURATION",
        "CONFIDENCE",
    ]);
    for i in &page.items {
        table.row(vec![
            i.id.to_string(),
            render::summary_state(i),
            i.agent_id.clone(),
            i.requested_by.clone(),
            i.case_ref
                .as_deref()
                .map_or("-".to_owned(), |c| render::clip(c, 24)),
            render::time(i.created_at),
            i.duration_ms.map_or("-".to_owned(), render::duration_ms),
            render::confidence(i.confidence),
        ]);
    }
    if table.is_empty() {
        println!("No investigations match.");
    } else {
        print!("{}", table.render());
    }
    if let Some(cursor) = &page.next_cursor {
        println!("More: vigil list --cursor {cursor} (with the same filters)");
    }
    Ok(())
}

/// `vigil show` options.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The investigation id.
    id: String,
}

/// `GET /investigations/{id}`: the state on the first line, then details,
/// the pending approval and the result.
pub async fn show(client: &Client, args: ShowArgs, json: bool) -> anyhow::Result<()> {
    let reply = client
        .get::<InvestigationDetail>(&["investigations", &args.id], &[])
        .await?;
    if json {
        reply.print_raw();
    } else {
        print!("{}", detail_text(&reply.value));
    }
    Ok(())
}

/// The readable form of an investigation.
pub fn detail_text(d: &InvestigationDetail) -> String {
    let s = &d.summary;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("{label:<14}{value}\n"));
    };
    line("state:", render::summary_state(s));
    line("id:", s.id.to_string());
    line("agent:", s.agent_id.clone());
    line("requested by:", s.requested_by.clone());
    if let Some(case) = &s.case_ref {
        line("case:", case.clone());
    }
    line("prompt:", render::clip(&d.prompt, 200));
    line("created:", render::time(s.created_at));
    if let Some(started) = s.started_at {
        line("started:", render::time(started));
    }
    if let Some(finished) = s.finished_at {
        line("finished:", render::time(finished));
    }
    if let Some(ms) = s.duration_ms {
        line("duration:", duration_text(ms));
    }
    line("attempt:", attempt_text(s.attempt, s.claims, d.lease.epoch));
    if let Some(owner) = &d.lease.owner {
        line(
            "lease:",
            format!("{owner} until {}", render::maybe_time(d.lease.expires_at)),
        );
    }
    line("events:", d.last_seq.to_string());
    if !d.trace_id.is_empty() {
        line("trace:", d.trace_id.clone());
    }
    line(
        "usage:",
        format!(
            "{} model turns ({} lost), {} input + {} output tokens, ${:.6}",
            s.model_turns, s.lost_turns, s.input_tokens, s.output_tokens, s.cost_usd
        ),
    );
    if let Some(mode) = &s.mode {
        line("mode:", format!("claimed in {mode} mode"));
    }
    if let Some(error) = &d.error {
        line("reason:", error.clone());
    }
    if let Some(parent) = &d.parent {
        line(
            "delegated by:",
            format!(
                "{} in call {} (depth {})",
                parent.id, parent.tool_call_id, parent.depth
            ),
        );
    }
    if !d.children.is_empty() {
        out.push_str("\nDelegated\n");
        for c in &d.children {
            let state = match &c.phase {
                Some(phase) => format!("{}/{phase}", c.status),
                None => c.status.clone(),
            };
            out.push_str(&format!(
                "  {}  {:<16} {:<26} call {}\n",
                c.id, c.agent_id, state, c.tool_call_id
            ));
        }
    }
    if let Some(a) = &d.pending_approval {
        out.push_str(&format!(
            "\nWaiting on approval {}: {} {}\n",
            a.id,
            a.action,
            render::compact(&a.arguments)
        ));
        if let Some(rationale) = &a.rationale {
            out.push_str(&format!("  rationale: {rationale}\n"));
        }
        out.push_str(&format!("  expires:   {}\n", render::time(a.expires_at)));
        out.push_str(&format!(
            "  decide:    vigil approve {id} | vigil reject {id} (an approver other than {})\n",
            s.requested_by,
            id = a.id
        ));
    }
    if let Some(result) = &d.result {
        out.push_str("\nResult\n");
        out.push_str(&result_text(result));
    }
    if let Some(raw) = &d.result_raw {
        out.push_str("\nRaw output (needs review: vigil review --accept-raw or --result FILE)\n");
        out.push_str(raw.trim_end());
        out.push('\n');
    }
    out
}

/// The default result schema's fields as text; other fields as JSON.
fn result_text(result: &Value) -> String {
    let Some(fields) = result.as_object() else {
        return format!("{}\n", render::compact(result));
    };
    let mut out = String::new();
    let mut rest = fields.clone();
    if let Some(Value::String(summary)) = rest.remove("summary") {
        out.push_str(&format!("  summary:    {summary}\n"));
    }
    if let Some(confidence) = rest.remove("confidence") {
        let text = confidence
            .as_f64()
            .map_or_else(|| render::compact(&confidence), |c| format!("{c:.2}"));
        out.push_str(&format!("  confidence: {text}\n"));
    }
    for (key, title) in [
        ("key_findings", "key findings"),
        ("recommended_next_steps", "recommended next steps"),
    ] {
        if let Some(Value::Array(items)) = rest.remove(key) {
            out.push_str(&format!("  {title}:\n"));
            for item in items {
                let text = item
                    .as_str()
                    .map_or_else(|| render::compact(&item), str::to_owned);
                out.push_str(&format!("    - {text}\n"));
            }
        }
    }
    for (key, value) in rest {
        out.push_str(&format!("  {key}: {}\n", render::compact(&value)));
    }
    out
}

/// `vigil rescue` and `vigil cancel` options.
#[derive(Debug, clap::Args)]
pub struct ReasonArgs {
    /// The investigation id.
    id: String,
    /// Why (recorded in the event log with your principal).
    #[arg(long)]
    reason: String,
}

/// `POST /investigations/{id}/rescue`.
pub async fn rescue(client: &Client, args: ReasonArgs, json: bool) -> anyhow::Result<()> {
    transition(client, args, "rescue", "rescued", json).await
}

/// `POST /investigations/{id}/cancel`.
pub async fn cancel(client: &Client, args: ReasonArgs, json: bool) -> anyhow::Result<()> {
    transition(client, args, "cancel", "cancelled", json).await
}

async fn transition(
    client: &Client,
    args: ReasonArgs,
    action: &str,
    done: &str,
    json: bool,
) -> anyhow::Result<()> {
    let reply = client
        .post::<_, InvestigationDetail>(
            &["investigations", &args.id, action],
            &ReasonBody {
                reason: args.reason,
            },
            HeaderMap::new(),
        )
        .await?;
    if json {
        reply.print_raw();
    } else {
        let s = &reply.value.summary;
        println!("{} {} ({done})", s.id, render::summary_state(s));
    }
    Ok(())
}

/// `vigil review` options.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("grade").required(true).args(["accept_raw", "result"])))]
pub struct ReviewArgs {
    /// The investigation id.
    id: String,
    /// Accept the raw output as it is (it must satisfy the agent's schema).
    #[arg(long)]
    accept_raw: bool,
    /// A corrected result document: a JSON file, or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    result: Option<PathBuf>,
    /// A note for the record.
    #[arg(long)]
    note: Option<String>,
}

/// `POST /investigations/{id}/review`.
pub async fn review(client: &Client, args: ReviewArgs, json: bool) -> anyhow::Result<()> {
    let result = match &args.result {
        None => None,
        Some(path) => Some(read_result(path)?),
    };
    let reply = client
        .post::<_, InvestigationDetail>(
            &["investigations", &args.id, "review"],
            &ReviewBody {
                accept_raw: args.accept_raw,
                result,
                note: args.note,
            },
            HeaderMap::new(),
        )
        .await?;
    if json {
        reply.print_raw();
    } else {
        let s = &reply.value.summary;
        println!(
            "{} {} (reviewed; confidence {})",
            s.id,
            render::summary_state(s),
            render::confidence(s.confidence)
        );
    }
    Ok(())
}

/// Reads a JSON document from `path` (`-`: stdin).
fn read_result(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Input(format!("cannot read the result from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?
    };
    let value = serde_json::from_str(&text)
        .map_err(|e| Error::Input(format!("the result is not JSON: {e}")))
        .with_context(|| format!("--result {}", path.display()))?;
    Ok(value)
}

/// The duration line of `vigil show`, saying what the wall clock includes.
fn duration_text(ms: i64) -> String {
    format!(
        "{} (wall clock from the first claim: time parked on approvals and in review included)",
        render::duration_ms(ms)
    )
}

/// The attempt line of `vigil show`: the try the run is on, and apart
/// from it every claim (resuming after an approval or a graceful release is
/// a claim, not a new attempt).
fn attempt_text(attempt: i32, claims: i32, epoch: i64) -> String {
    let claims = if claims == 1 {
        "1 claim".to_owned()
    } else {
        format!("{claims} claims")
    };
    format!("{attempt} ({claims}, lease epoch {epoch})")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn show_says_what_the_duration_includes() {
        let text = duration_text(90_000);
        assert!(text.starts_with(&render::duration_ms(90_000)), "{text}");
        assert!(
            text.contains("parked on approvals") && text.contains("in review"),
            "{text}"
        );
    }

    #[test]
    fn show_counts_claims_apart_from_attempts() {
        assert_eq!(attempt_text(1, 3, 3), "1 (3 claims, lease epoch 3)");
        assert_eq!(attempt_text(1, 1, 1), "1 (1 claim, lease epoch 1)");
    }

    #[test]
    fn results_of_the_default_schema_read_as_text() {
        let text = result_text(&json!({
            "summary": "Brute force from a Tor exit",
            "key_findings": ["24 failures", {"host": "web-01"}],
            "recommended_next_steps": ["block 185.220.101.4"],
            "confidence": 0.873,
            "extra": [1]
        }));
        assert_eq!(
            text,
            "  summary:    Brute force from a Tor exit\n  confidence: 0.87\n  key findings:\n    - \
             24 failures\n    - {\"host\":\"web-01\"}\n  recommended next steps:\n    - block \
             185.220.101.4\n  extra: [1]\n"
        );
    }
}

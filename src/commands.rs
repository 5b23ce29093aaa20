//! `vigil admin dispatch|rescue|status|audit`: break-glass commands that
//! work on the database directly, without the HTTP API.
//!
//! They are for when no API is running (workers only, or an outage) and for
//! whoever can reach the database, which is already full control over it.
//! No token is checked: the principal recorded on a write is `--requested-by`
//! or `--by`, `cli:<user>` by default. Day-to-day use goes through the API
//! client commands (`vigil dispatch`, `vigil rescue`, ...), which enforce
//! roles and separation of duties.

use anyhow::Context;
use vigil_engine::store::DispatchRequest;

use crate::config::Config;
use crate::stores;

/// `vigil admin` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Start an investigation (directly against the database).
    Dispatch(DispatchArgs),
    /// Put a dead-lettered or failed investigation back in the queue.
    Rescue(RescueArgs),
    /// Show an investigation (its state on the first line).
    Status(IdArgs),
    /// Verify an investigation's hash chain and event sequence.
    Audit(IdArgs),
}

/// Runs a `vigil admin` subcommand.
pub async fn admin_command(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Dispatch(args) => dispatch_command(config, args).await,
        AdminCommand::Rescue(args) => rescue_command(config, args).await,
        AdminCommand::Status(args) => status_command(config, args).await,
        AdminCommand::Audit(args) => audit_command(config, args).await,
    }
}

/// `vigil admin dispatch` options.
#[derive(Debug, clap::Args)]
pub struct DispatchArgs {
    /// The agent to run (declared in the configuration).
    #[arg(long)]
    agent: String,
    /// External case or ticket id.
    #[arg(long)]
    case_ref: Option<String>,
    /// Repeating a dispatch with the same key returns the first investigation.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// The principal recorded as the requester (default `cli:<user>`).
    #[arg(long)]
    requested_by: Option<String>,
    /// What to investigate.
    prompt: String,
}

/// Checks the agent against the configured catalog, then dispatches.
/// An unknown agent is refused before anything is written.
async fn dispatch_command(config: &Config, args: DispatchArgs) -> anyhow::Result<()> {
    let setup = config.agent_setup()?;
    setup.catalog.get(&args.agent)?;
    let store = stores::connect(config).await?;
    store.prepare_embedded().await?;
    let requested_by = args.requested_by.unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
        )
    });
    let dispatched = store
        .ports()
        .dispatch(DispatchRequest {
            agent_id: args.agent,
            prompt: args.prompt,
            requested_by,
            case_ref: args.case_ref,
            case_id: None,
            case_purpose: Default::default(),
            idempotency_key: args.idempotency_key,
            budget: Default::default(),
            traceparent: None,
            parent: None,
        })
        .await?;
    let inv = dispatched.investigation;
    let state = match inv.phase {
        Some(phase) => format!("{}/{phase}", inv.status),
        None => inv.status.to_string(),
    };
    let how = if dispatched.created {
        "dispatched"
    } else {
        "already dispatched with this key"
    };
    println!(
        "{} {state} ({how}; agent {}, mode {})",
        inv.id, inv.agent_id, setup.mode
    );
    Ok(())
}

/// `vigil admin rescue` options.
#[derive(Debug, clap::Args)]
pub struct RescueArgs {
    /// The investigation id.
    id: String,
    /// Why it is being rescued (recorded on the event).
    #[arg(long)]
    reason: String,
    /// The operator recorded on the event (default `cli:<user>`).
    #[arg(long)]
    by: Option<String>,
}

/// Puts a dead-lettered or failed investigation back in the queue.
async fn rescue_command(config: &Config, args: RescueArgs) -> anyhow::Result<()> {
    let id = args
        .id
        .parse()
        .with_context(|| format!("`{}` is not an investigation id", args.id))?;
    let by = args.by.unwrap_or_else(|| {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
        )
    });
    let store = stores::connect(config).await?;
    let inv = store.ports().rescue(id, &by, &args.reason).await?;
    println!(
        "{} pending/queued (rescued by {by}; epoch {})",
        inv.id, inv.lease_epoch
    );
    Ok(())
}

/// `vigil admin status` and `vigil admin audit` options.
#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// The investigation id.
    id: String,
}

fn parse_id(text: &str) -> anyhow::Result<vigil_engine::InvestigationId> {
    text.parse()
        .with_context(|| format!("`{text}` is not an investigation id"))
}

/// Prints an investigation's state on the first line (`status` or
/// `pending/<phase>`), then its details.
async fn status_command(config: &Config, args: IdArgs) -> anyhow::Result<()> {
    let store = stores::connect(config).await?;
    let inv = store.ports().get(parse_id(&args.id)?).await?;
    match inv.phase {
        Some(phase) => println!("{}/{phase}", inv.status),
        None => println!("{}", inv.status),
    }
    println!("agent: {}", inv.agent_id);
    println!("requested by: {}", inv.requested_by);
    println!(
        "attempt: {}, epoch: {}, events: {}",
        inv.attempt, inv.lease_epoch, inv.last_seq
    );
    if let Some(owner) = &inv.lease_owner {
        println!(
            "lease: {owner} until {}",
            inv.lease_expires_at
                .map_or_else(String::new, |t| t.to_rfc3339())
        );
    }
    println!(
        "usage: {} model turns, {} input + {} output tokens, ${:.6}",
        inv.usage.model_turns, inv.usage.input_tokens, inv.usage.output_tokens, inv.usage.cost_usd
    );
    if let Some(error) = &inv.error {
        println!("reason: {error}");
    }
    if let Some(result) = &inv.result {
        println!("result: {result}");
    }
    Ok(())
}

/// Verifies the investigation's hash chain and seq sequence.
async fn audit_command(config: &Config, args: IdArgs) -> anyhow::Result<()> {
    let store = stores::connect(config).await?;
    let report = store.ports().verify_chain(parse_id(&args.id)?).await?;
    match &report.first_break {
        None => println!("chain valid ({} events)", report.events_checked),
        Some(b) => {
            println!("chain broken at seq {}: {:?}", b.seq, b.problem);
            anyhow::bail!("audit failed");
        }
    }
    Ok(())
}

//! The command-line client of the HTTP API: `dispatch`, `list`, `show`,
//! `events`, `rescue`, `cancel`, `review`, `approvals`, `approve`, `reject`,
//! `audit`, `cases ...` and `alerts ...`.
//!
//! These commands talk to a running `vigil serve` at `--url` (`VIGIL_URL`,
//! default `http://127.0.0.1:8080`) with the bearer token `--token`
//! (`VIGIL_TOKEN`). They need no database and no configuration file, and the
//! server applies every rule (roles, separation of duties, validation) and
//! records the token's principal on every write.
//!
//! This module tree stands apart from the server commands: it uses none of
//! the binary's other modules (configuration, stores, workers), only the
//! API's wire types (`vigil_api::views`, `vigil_api::Problem`) and the
//! engine's state names. [`main`] is its entry point.
//!
//! - [`settings`]: `--url`, `--token`, `--json`;
//! - [`http`]: the API client (URLs, token, timeouts, error statuses);
//! - [`error`]: failures and their exit codes;
//! - [`stream`]: the live event stream's messages (Server-Sent Events);
//! - [`follow`]: following a log's stream, resuming after drops;
//! - [`render`]: tables and one-line summaries;
//! - one module per group of commands: [`investigations`], [`events`],
//!   [`approvals`], [`audit`], [`cases`] for the case commands and
//!   [`alerts`] for alert ingest, listing and promotion.
//!
//! Output is a readable table or summary by default; `--json` prints the
//! API's JSON bodies as they are. Failures map to the exit codes of
//! [`error::Exit`]. The token is sent only in the `Authorization` header and
//! is never printed or logged.

pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod cases;
pub mod error;
pub mod events;
pub mod follow;
pub mod http;
pub mod investigations;
pub mod mcp;
pub mod render;
pub mod settings;
pub mod stream;

use std::process::ExitCode;

pub use error::{Error, Exit};
pub use http::Client;
pub use settings::Settings;

/// The client commands.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Dispatch an investigation (needs the orchestrator role).
    Dispatch(investigations::DispatchArgs),
    /// Serve Vigil's MCP tools over stdin/stdout for a local agent client,
    /// calling the server at --url with --token (VIGIL_TOKEN).
    Mcp,
    /// List investigations, newest first.
    List(investigations::ListArgs),
    /// Show an investigation: state, result, pending approval.
    Show(investigations::ShowArgs),
    /// Print an investigation's events; `--follow` tails them live.
    Events(events::EventsArgs),
    /// Queue a dead-lettered or failed investigation again (operator).
    Rescue(investigations::ReasonArgs),
    /// Stop a pending investigation; it becomes failed (operator).
    Cancel(investigations::ReasonArgs),
    /// Grade a review_required investigation (operator).
    Review(investigations::ReviewArgs),
    /// The approval inbox, pending first; `approvals show ID` for one request.
    Approvals(approvals::ApprovalsArgs),
    /// Approve a pending approval request (approver; not the dispatcher).
    Approve(approvals::DecideArgs),
    /// Reject a pending approval request (approver; not the dispatcher).
    Reject(approvals::DecideArgs),
    /// Verify or export an investigation's audit trail (auditor, operator).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Cases: the queue, one case, its records, lifecycle, timeline and
    /// audit (operator, auditor, orchestrator; writes may be previews).
    #[command(subcommand)]
    Cases(cases::CasesCommand),
    /// Alerts: ingest (grouped into cases), list, promote an ungrouped one
    /// to a case (operator, orchestrator; auditors list).
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
}

/// Runs a client command.
pub async fn run(command: ClientCommand, settings: &Settings) -> anyhow::Result<()> {
    if let ClientCommand::Audit(audit::AuditCommand::Key { generate }) = command {
        return audit::key(generate);
    }
    let client = Client::new(settings)?;
    let json = settings.json;
    match command {
        ClientCommand::Dispatch(args) => investigations::dispatch(&client, args, json).await,
        ClientCommand::Mcp => mcp::serve_stdio(client).await,
        ClientCommand::List(args) => investigations::list(&client, args, json).await,
        ClientCommand::Show(args) => investigations::show(&client, args, json).await,
        ClientCommand::Events(args) => events::events(&client, args, json).await,
        ClientCommand::Rescue(args) => investigations::rescue(&client, args, json).await,
        ClientCommand::Cancel(args) => investigations::cancel(&client, args, json).await,
        ClientCommand::Review(args) => investigations::review(&client, args, json).await,
        ClientCommand::Approvals(args) => approvals::approvals(&client, args, json).await,
        ClientCommand::Approve(args) => approvals::decide(&client, args, "approve", json).await,
        ClientCommand::Reject(args) => approvals::decide(&client, args, "reject", json).await,
        ClientCommand::Audit(command) => audit::audit(&client, command, json).await,
        ClientCommand::Cases(command) => cases::cases(&client, command, json).await,
        ClientCommand::Alerts(command) => alerts::alerts(&client, command, json).await,
    }
}

/// Runs a client command on a runtime of its own and prints a failure:
/// the `vigil` binary's entry point for every client command. Logging is
/// the caller's to set up.
pub fn main(command: ClientCommand, settings: &Settings) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error::print(&e, settings.json);
            ExitCode::from(error::exit_code(&e))
        }
    }
}

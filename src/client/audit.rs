//! `vigil audit verify` and `vigil audit export`: an investigation's audit
//! trail as the server verifies it.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use reqwest::Method;
use vigil_api::views::AuditReport;

use super::{Client, Error};

/// `vigil audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the trail: seq without gaps, every hash and link. Exits 8
    /// when it does not verify.
    Verify {
        /// The investigation id.
        id: String,
    },
    /// Download the trail as JSON Lines, one event per line in seq order.
    /// Exits 8 (after writing it) when the server reports it broken.
    Export {
        /// The investigation id.
        id: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs an `audit` subcommand.
pub async fn audit(client: &Client, command: AuditCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { id } => verify(client, &id, json).await,
        AuditCommand::Export { id, output } => export(client, &id, output).await,
    }
}

async fn verify(client: &Client, id: &str, json: bool) -> anyhow::Result<()> {
    let reply = client
        .get::<AuditReport>(&["investigations", id, "audit"], &[])
        .await?;
    let report = &reply.value;
    if json {
        reply.print_raw();
    } else if report.valid {
        println!(
            "chain valid ({} events; investigation {})",
            report.events_checked, report.investigation_id
        );
    } else {
        println!(
            "chain broken at seq {}: {} ({} events checked; investigation {})",
            report
                .broken_at_seq
                .map_or_else(|| "?".to_owned(), |s| s.to_string()),
            report.problem.as_deref().unwrap_or("unknown problem"),
            report.events_checked,
            report.investigation_id
        );
    }
    if report.valid {
        Ok(())
    } else {
        Err(Error::AuditFailed(format!(
            "the audit trail of investigation {id} does not verify"
        ))
        .into())
    }
}

async fn export(client: &Client, id: &str, output: Option<PathBuf>) -> anyhow::Result<()> {
    let request = client
        .request(Method::GET, &["investigations", id, "audit"])
        .query(&[("format", "jsonl")])
        .timeout(std::time::Duration::from_secs(300));
    let response = client.send(request, true).await?;
    let valid = response
        .headers()
        .get("vigil-chain-valid")
        .and_then(|v| v.to_str().ok())
        .map(|v| v == "true");
    let body = response.bytes().await.map_err(|e| client.transport(e))?;
    let lines = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    match &output {
        Some(path) => {
            std::fs::write(path, &body).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {lines} events to {}", path.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&body).context("writing to stdout")?;
            stdout.flush().context("writing to stdout")?;
        }
    }
    match valid {
        Some(false) => Err(Error::AuditFailed(format!(
            "the audit trail of investigation {id} does not verify (exported as it is stored)"
        ))
        .into()),
        _ => Ok(()),
    }
}

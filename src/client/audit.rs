//! `vigil audit verify`, `export`, `receipt` and `key`: an investigation's
//! audit trail as the server verifies it, and, with a saved head receipt,
//! as this client verifies it itself.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use reqwest::Method;
use vigil_api::views::{AuditReport, EventView, ReceiptList};
use vigil_engine::log::{EntryKind as _, GENESIS, StoredEntry, Verifier};
use vigil_engine::receipt::Receipt;
use vigil_engine::{Event, EventKind, InvestigationId, InvestigationLog};

use super::{Client, Error};

/// `vigil audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the trail: seq without gaps, every hash and link, and the
    /// record against its events. With --receipt, also check here, without
    /// trusting the server, that the exported trail still holds the saved
    /// receipt's head. Exits 8 when anything does not verify.
    Verify {
        /// The investigation id.
        id: String,
        /// A head receipt saved earlier (`vigil audit receipt ID -o FILE`).
        #[arg(long)]
        receipt: Option<PathBuf>,
        /// The audit public key (64 hex digits) the receipt must be signed
        /// with; by default VIGIL_AUDIT_PUBLIC_KEY, or the key of
        /// VIGIL_AUDIT_KEY.
        #[arg(long, env = "VIGIL_AUDIT_PUBLIC_KEY")]
        public_key: Option<String>,
    },
    /// Print the public key of the audit key in VIGIL_AUDIT_KEY (what
    /// auditors check receipts with), or, with --generate, make a new audit
    /// key. Needs no server.
    Key {
        /// Print a new random audit key (keep it secret: it goes into
        /// VIGIL_AUDIT_KEY of every serve and worker process) and its
        /// public key.
        #[arg(long)]
        generate: bool,
    },
    /// Print the newest signed head receipt of a finished investigation (as
    /// JSON, to keep outside the database).
    Receipt {
        /// The investigation id.
        id: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
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
        AuditCommand::Verify {
            id, receipt: None, ..
        } => verify(client, &id, json).await,
        AuditCommand::Verify {
            id,
            receipt: Some(path),
            public_key,
        } => {
            let server = verify(client, &id, json).await;
            // The receipt's finding is checked whatever the server says,
            // and is the one reported: it does not depend on the server.
            match verify_receipt(client, &id, &path, public_key).await {
                Ok(()) => server,
                Err(local) => Err(local),
            }
        }
        AuditCommand::Receipt { id, output } => receipt(client, &id, output).await,
        AuditCommand::Key { generate } => key(generate),
        AuditCommand::Export { id, output } => export(client, &id, output).await,
    }
}

/// `vigil audit key`: runs locally, without a server.
pub fn key(generate: bool) -> anyhow::Result<()> {
    if generate {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let signer = vigil_engine::receipt::ReceiptSigner::from_seed(seed);
        // Written, not printed: a reader that stops early (`| head -1`)
        // ends the command quietly instead of making it panic.
        let mut out = std::io::stdout().lock();
        let written = writeln!(out, "VIGIL_AUDIT_KEY={}", hex::encode(seed))
            .and_then(|()| writeln!(out, "public key: {}", signer.public_key()))
            .and_then(|()| writeln!(out, "key id:     {}", signer.key_id()));
        return match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.context("writing to stdout"),
        };
    }
    match crate::stores::audit_signer()? {
        Some(signer) => {
            println!("{}", signer.public_key());
            eprintln!("key id {}", signer.key_id());
            Ok(())
        }
        None => Err(Error::Usage(format!(
            "{} is not set; `vigil audit key --generate` makes one",
            crate::stores::AUDIT_KEY_ENV
        ))
        .into()),
    }
}

async fn receipt(client: &Client, id: &str, output: Option<PathBuf>) -> anyhow::Result<()> {
    let reply = client
        .get::<ReceiptList>(&["investigations", id, "receipts"], &[])
        .await?;
    let Some(newest) = reply.value.items.last() else {
        return Err(Error::AuditFailed(format!(
            "investigation {id} has no head receipt: it has not finished, or the server signs none (no VIGIL_AUDIT_KEY)"
        ))
        .into());
    };
    let text = serde_json::to_string_pretty(newest)? + "\n";
    match output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote the receipt of seq {} ({}) to {}",
                newest.seq,
                newest.status,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Checks the saved receipt's signature, then fetches the trail and checks,
/// here, that its chain is intact and still holds the receipt's head.
async fn verify_receipt(
    client: &Client,
    id: &str,
    path: &std::path::Path,
    public_key: Option<String>,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let receipt: Receipt = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a head receipt", path.display()))?;
    let key = match public_key {
        Some(key) => key,
        None => crate::stores::audit_signer()?
            .map(|s| s.public_key())
            .ok_or_else(|| {
                Error::Usage(
                    "--public-key (or VIGIL_AUDIT_PUBLIC_KEY) is needed to check a receipt"
                        .to_owned(),
                )
            })?,
    };
    let failed = |why: String| -> anyhow::Result<()> {
        Err(Error::AuditFailed(format!("receipt check of investigation {id} failed: {why}")).into())
    };
    if let Err(e) = receipt.verify(&key) {
        return failed(e.to_string());
    }
    let trail = fetch_trail(client, id).await?;
    let mut verifier = Verifier::<InvestigationLog>::new(receipt_investigation(&receipt)?);
    for entry in &trail {
        if !verifier.push(entry) {
            break;
        }
    }
    let last = trail
        .last()
        .map_or((0, GENESIS.to_owned()), |e| (e.seq, e.hash.clone()));
    let report = verifier.finish(last.0, &last.1);
    if let Some(broken) = report.first_break {
        return failed(format!(
            "the exported trail is broken at seq {}: {:?}",
            broken.seq, broken.problem
        ));
    }
    if let Err(e) = receipt.check_trail(&trail) {
        return failed(e.to_string());
    }
    println!(
        "receipt holds: seq {} ({}) is in the trail with the signed hash; key {}",
        receipt.seq, receipt.status, receipt.key_id
    );
    Ok(())
}

fn receipt_investigation(receipt: &Receipt) -> anyhow::Result<InvestigationId> {
    Ok(InvestigationId(receipt.id))
}

/// The trail as the server exports it, decoded into entries.
async fn fetch_trail(client: &Client, id: &str) -> anyhow::Result<Vec<Event>> {
    let request = client
        .request(Method::GET, &["investigations", id, "audit"])
        .query(&[("format", "jsonl")])
        .timeout(std::time::Duration::from_secs(300));
    let response = client.send(request, true).await?;
    let body = response.text().await.map_err(|e| client.transport(e))?;
    body.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let view: EventView = serde_json::from_str(line).context("a trail line")?;
            let kind = EventKind::from_name(&view.kind)
                .with_context(|| format!("unknown event kind `{}`", view.kind))?;
            Ok(Event::from(StoredEntry::<InvestigationLog> {
                aggregate_id: InvestigationId(view.investigation_id),
                seq: view.seq,
                kind,
                payload: view.payload,
                actor: view.actor,
                epoch: view.epoch,
                created_at: view.created_at,
                prev_hash: view.prev_hash,
                hash: view.hash,
            }))
        })
        .collect()
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
    } else if report.broken_at_seq.is_none() {
        println!(
            "chain intact ({} events), but the investigation does not match its events:",
            report.events_checked
        );
        for m in &report.mismatches {
            println!(
                "  {}: the record says {}, the events say {}",
                m.field, m.row, m.log
            );
        }
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

//! `vigil token create|list|revoke`: API token management directly against
//! the database (whoever can reach the database administers its tokens),
//! and the admin token of the first `serve`.

use std::sync::Arc;

use anyhow::Context;
use vigil_engine::Role;
use vigil_engine::store::Store;

use crate::config::Config;
use crate::stores;

/// `vigil token` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Issue a token (creating the principal on first use) and print it once.
    Create(CreateArgs),
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id; it stops working at once.
    Revoke(RevokeArgs),
}

/// `vigil token create` options.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The principal's name (recorded on everything it does).
    #[arg(long)]
    name: String,
    /// A role: orchestrator, operator, approver, auditor or admin. Repeat
    /// for several. Omit to issue another token for an existing principal.
    #[arg(long = "role")]
    roles: Vec<String>,
}

/// `vigil token revoke` options.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The token id (the 16 hex characters after `vgl_`, as `token list` shows).
    id: String,
}

/// Runs a `vigil token` subcommand.
pub async fn token_command(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let store = stores::connect(config).await?;
    store.prepare_embedded().await?;
    let ports = store.ports();
    match command {
        TokenCommand::Create(args) => {
            let roles = parse_roles(&args.roles)?;
            let issued = vigil_api::auth::issue(args.name.trim(), roles)?;
            let record = ports.create_token(issued.record).await?;
            let roles: Vec<&str> = record.roles.iter().map(|r| r.as_str()).collect();
            eprintln!(
                "Token {} for principal `{}` ({}). It is shown only this once:",
                record.id,
                record.principal,
                roles.join(", ")
            );
            println!("{}", issued.token);
        }
        TokenCommand::List => {
            let tokens = ports.tokens().await?;
            println!(
                "{:<16}  {:<20}  {:<32}  {:<20}  REVOKED",
                "ID", "PRINCIPAL", "ROLES", "CREATED"
            );
            for t in tokens {
                let roles: Vec<&str> = t.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{:<16}  {:<20}  {:<32}  {:<20}  {}",
                    t.id,
                    t.principal,
                    roles.join(","),
                    t.created_at.format("%Y-%m-%d %H:%M:%S"),
                    t.revoked_at.map_or("-".to_owned(), |r| r
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string())
                );
            }
        }
        TokenCommand::Revoke(args) => {
            let t = ports
                .revoke_token(args.id.trim())
                .await
                .with_context(|| format!("revoking token {}", args.id))?;
            println!("revoked {} (principal `{}`)", t.id, t.principal);
        }
    }
    Ok(())
}

fn parse_roles(names: &[String]) -> anyhow::Result<Vec<Role>> {
    names
        .iter()
        .map(|n| n.parse::<Role>().map_err(anyhow::Error::from))
        .collect()
}

/// Creates the first token (principal `admin`, role admin) when no
/// unrevoked token exists; returns it to print once. Safe when several
/// processes start at once: exactly one creates it.
pub async fn bootstrap_admin(store: &Arc<dyn Store>) -> anyhow::Result<Option<String>> {
    let issued = vigil_api::auth::issue("admin", vec![Role::Admin])?;
    let created = store
        .bootstrap_token(issued.record)
        .await
        .context("creating the first API token")?;
    Ok(created.map(|_| issued.token))
}

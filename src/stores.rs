//! Opening the configured store and the `migrate` command.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use vigil_engine::SystemClock;
use vigil_engine::receipt::ReceiptSigner;
use vigil_engine::store::Store;
use vigil_store_postgres::PgStore;
use vigil_store_sqlite::SqliteStore;

use crate::config::{Config, redact_url};
use crate::showcase::CaseStore;

/// The store a URL selects.
#[derive(Clone)]
pub enum AnyStore {
    /// `sqlite://...`
    Sqlite(SqliteStore),
    /// `postgres://...`
    Postgres(PgStore),
}

impl AnyStore {
    /// The backend's name.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }

    /// The store behind its ports.
    pub fn ports(&self) -> Arc<dyn Store> {
        match self {
            AnyStore::Sqlite(s) => Arc::new(s.clone()),
            AnyStore::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// The store behind the case ports.
    pub fn cases(&self) -> Arc<dyn CaseStore> {
        match self {
            AnyStore::Sqlite(s) => Arc::new(s.clone()),
            AnyStore::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// The public key head receipts are signed with, when they are.
    pub fn receipt_key(&self) -> Option<String> {
        match self {
            AnyStore::Sqlite(s) => s.receipt_key(),
            AnyStore::Postgres(s) => s.receipt_key(),
        }
    }

    /// The store as the HTTP API uses it.
    pub fn api(&self) -> Arc<dyn vigil_api::ApiStore> {
        match self {
            AnyStore::Sqlite(s) => Arc::new(s.clone()),
            AnyStore::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Migrates the embedded SQLite database, which prepares itself wherever
    /// it is opened; PostgreSQL is left to `vigil migrate`.
    pub async fn prepare_embedded(&self) -> anyhow::Result<()> {
        if let AnyStore::Sqlite(_) = self {
            self.migrate().await?;
        }
        Ok(())
    }

    /// Applies pending migrations; returns the versions applied now.
    pub async fn migrate(&self) -> anyhow::Result<Vec<i64>> {
        Ok(match self {
            AnyStore::Sqlite(s) => vigil_store_sqlite::migrate(s).await?,
            AnyStore::Postgres(s) => vigil_store_postgres::migrate(s).await?,
        })
    }
}

/// PostgreSQL options from the configuration.
pub fn postgres_options(config: &Config) -> vigil_store_postgres::Options {
    let mut options = vigil_store_postgres::Options::new(&config.database.url);
    options.max_connections = config.database.max_connections;
    options.acquire_timeout = Duration::from_secs(config.database.acquire_timeout_secs.max(1));
    options
}

/// The environment variable holding the audit key: the 32-byte Ed25519
/// seed as 64 hex digits. Head receipts are signed only when it is set.
pub const AUDIT_KEY_ENV: &str = "VIGIL_AUDIT_KEY";

/// The receipt signer from [`AUDIT_KEY_ENV`], if it is set.
pub fn audit_signer() -> anyhow::Result<Option<ReceiptSigner>> {
    match std::env::var(AUDIT_KEY_ENV) {
        Ok(secret) if !secret.trim().is_empty() => ReceiptSigner::from_secret(&secret)
            .map(Some)
            .with_context(|| format!("{AUDIT_KEY_ENV} is not a valid audit key")),
        _ => Ok(None),
    }
}

/// Connects to the configured database (creating a SQLite file if missing)
/// without migrating. With an audit key in the environment, the store signs
/// head receipts.
pub async fn connect(config: &Config) -> anyhow::Result<AnyStore> {
    let url = &config.database.url;
    let clock = Arc::new(SystemClock);
    let signer = audit_signer()?;
    if url.starts_with("sqlite:") {
        let options = vigil_store_sqlite::Options::new(url);
        let store = vigil_store_sqlite::connect(options, clock)
            .await
            .with_context(|| format!("cannot open {}", redact_url(url)))?;
        let store = store
            .with_evidence_limit(config.api.evidence_limit)
            .with_group_commit(config.database.group_commit());
        Ok(AnyStore::Sqlite(match &signer {
            Some(signer) => store.with_signer(signer.clone()),
            None => store,
        }))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = vigil_store_postgres::connect(postgres_options(config), clock)
            .await?
            .with_evidence_limit(config.api.evidence_limit)
            .with_group_commit(config.database.group_commit());
        Ok(AnyStore::Postgres(match &signer {
            Some(signer) => store.with_signer(signer.clone()),
            None => store,
        }))
    } else {
        bail!(
            "database URL `{}` is neither sqlite://... nor postgres://...",
            redact_url(url)
        )
    }
}

/// `vigil migrate`: creates the database if needed, applies pending
/// migrations and reports the schema version.
pub async fn migrate_command(config: &Config) -> anyhow::Result<()> {
    let url = redact_url(&config.database.url);
    let store = connect(config).await?;
    let applied = store
        .migrate()
        .await
        .with_context(|| format!("migrating {url}"))?;
    store
        .ports()
        .ping()
        .await
        .with_context(|| format!("checking {url}"))?;
    let files = vigil_migrations::FILES;
    let latest = files.last().map_or(0, |f| f.version);
    println!("database: {url} ({})", store.kind());
    if applied.is_empty() {
        println!("schema: up to date at version {latest:04}; nothing to apply");
    } else {
        for version in &applied {
            let name = files
                .iter()
                .find(|f| f.version == *version)
                .map_or("?", |f| f.name);
            println!("applied: {version:04}_{name}");
        }
        println!("schema: now at version {latest:04}");
    }
    println!(
        "tables: investigations, investigation_events (append-only), approval_requests, principals, api_tokens, webhook_deliveries, workers, head_receipts (append-only)"
    );
    Ok(())
}

//! # vigil
//!
//! The `vigil` binary: command-line interface, configuration loading and the
//! wiring of stores (and, as they arrive, workers and the HTTP API).
//!
//! `vigil migrate` prepares a database; `vigil bench store` measures the
//! store against a bare-insert baseline. The database is `--database URL` or
//! `VIGIL_DATABASE_URL`: `sqlite://vigil.db` by default (created if missing),
//! or a `postgres://` URL.

mod bench;
mod bench_e2e;
mod check;
mod commands;
mod config;
mod metrics;
mod serve;
mod stores;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use vigil_agents::runner::Mode;

use crate::config::{Config, LogFormat, Overrides};

fn parse_mode(text: &str) -> Result<Mode, String> {
    match text {
        "dummy" => Ok(Mode::Dummy),
        "dry_run" | "dry-run" => Ok(Mode::DryRun),
        "real" => Ok(Mode::Real),
        other => Err(format!("`{other}` is not a mode (dummy, dry_run, real)")),
    }
}

/// Vigil: durable workflow engine for LLM agent investigations.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about)]
struct Cli {
    /// Configuration file (TOML). Defaults to ./vigil.toml when it exists.
    #[arg(long, global = true, env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,

    /// Database URL: sqlite://path.db (default sqlite://vigil.db) or postgres://...
    #[arg(long, global = true)]
    database: Option<String>,

    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,

    /// Runtime mode: dummy (scripted showcase, offline), dry_run or real.
    #[arg(long, global = true, value_parser = parse_mode)]
    mode: Option<Mode>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Check the configuration (mode, model, agents, tools) and print it.
    Check,
    /// Start an investigation (directly against the database).
    Dispatch(commands::DispatchArgs),
    /// Put a dead-lettered or failed investigation back in the queue.
    Rescue(commands::RescueArgs),
    /// Show an investigation (its state on the first line).
    Status(commands::IdArgs),
    /// Verify an investigation's hash chain and event sequence.
    Audit(commands::IdArgs),
    /// Run workers, the reaper and the approval-expiry sweep (many may share one PostgreSQL).
    Worker(serve::WorkerArgs),
    /// Run everything in one process: the HTTP API, workers, reaper, expiry and webhooks.
    Serve(serve::ServeArgs),
    /// Manage API tokens (directly against the database).
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Measure performance.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Drive investigation-shaped runs through the store and compare with a
    /// bare single-row INSERT baseline on the same pool.
    Store(bench::StoreArgs),
    /// Run workload W1 through the whole engine (store, workers, agent loop)
    /// with an in-process scripted model and no-op tools.
    E2e(bench_e2e::E2eArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        database_url: cli.database.clone(),
        log_format: cli.log_format,
        mode: cli.mode,
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("vigil: configuration error: {e:#}");
            return ExitCode::from(2);
        }
    };
    config::init_logging(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigil: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Migrate => stores::migrate_command(&config).await,
            Command::Check => check::check_command(&config),
            Command::Dispatch(args) => commands::dispatch_command(&config, args).await,
            Command::Rescue(args) => commands::rescue_command(&config, args).await,
            Command::Status(args) => commands::status_command(&config, args).await,
            Command::Audit(args) => commands::audit_command(&config, args).await,
            Command::Worker(args) => serve::worker_command(&config, args).await,
            Command::Serve(args) => serve::serve_command(&config, args).await,
            Command::Token(command) => tokens::token_command(&config, command).await,
            Command::Bench(BenchCommand::Store(args)) => bench::store(&config, args).await,
            Command::Bench(BenchCommand::E2e(args)) => bench_e2e::e2e(&config, args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}

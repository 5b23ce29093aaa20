//! # vigil
//!
//! The `vigil` binary: command-line interface, configuration loading and the
//! wiring of stores, workers and the HTTP API.
//!
//! Server-side commands read the layered configuration and reach the
//! database (`--database URL` or `VIGIL_DATABASE_URL`: `sqlite://vigil.db` by
//! default, created if missing, or a `postgres://` URL): `vigil serve` runs
//! the HTTP API with workers, `vigil worker` runs workers only, `vigil
//! migrate` prepares a database, `vigil token` manages API tokens, `vigil
//! admin` holds the break-glass commands that act on the database directly,
//! and `vigil bench` measures.
//!
//! The client commands (`dispatch`, `list`, `show`, `events`, `rescue`,
//! `cancel`, `review`, `approvals`, `approve`, `reject`, `audit`, `cases`,
//! `alerts`) use the
//! HTTP API at `--url` / `VIGIL_URL` with `--token` / `VIGIL_TOKEN`, and need
//! neither a database nor a configuration file (see [`client`] and
//! `docs/cli.md`).

mod bench;
mod bench_cases;
mod bench_e2e;
mod bench_scale;
mod check;
mod client;
mod commands;
mod config;
mod metrics;
mod serve;
mod showcase;
mod stores;
mod telemetry;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use vigil_agents::Mode;

use crate::config::{Config, LogConfig, LogFormat, Overrides};

/// The exit codes, in `vigil --help`.
const EXIT_CODES: &str = "\
Exit codes (client commands):
  0  ok
  1  anything else (a server error, an unexpected answer)
  2  usage or configuration error
  3  not found (404)
  4  unauthenticated or forbidden (401, 403), including separation of duties
  5  conflict with the current state (409)
  6  invalid input (400, 413, 415, 422)
  7  server or database unavailable (503, connection refused, timeout)
  8  audit verification failed (or downloaded evidence does not match its SHA-256)";

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
#[command(name = "vigil", version, about, after_help = EXIT_CODES)]
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

    #[command(flatten)]
    client: client::Settings,

    #[command(subcommand)]
    command: AnyCommand,
}

/// Every command: those that run against the database and configuration,
/// and the API client's.
#[derive(Debug, Subcommand)]
enum AnyCommand {
    #[command(flatten)]
    Server(Command),
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// The commands that read the configuration and reach the database.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Check the configuration (mode, model, agents, tools) and print it.
    Check,
    /// Break-glass commands on the database directly (no API, no token).
    #[command(subcommand)]
    Admin(commands::AdminCommand),
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
    /// Ingest alerts grouped into cases, then read related cases, through
    /// the store, and compare with the same bare INSERT baseline.
    Cases(bench_cases::CasesArgs),
    /// Seed a million finished investigations in bulk, then measure worker
    /// writes, sweeps and reads against them, and a worker's memory with
    /// ten thousand runs parked on a slow model.
    Scale(bench_scale::ScaleArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        AnyCommand::Client(command) => return client_main(command, &cli.client, cli.log_format),
        AnyCommand::Server(command) => command,
    };
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
    // Benchmarks measure the engine, not the terminal: per-run logs only
    // when asked for with RUST_LOG.
    let default_log = match command {
        Command::Bench(_) => "warn",
        _ => "info,sqlx=warn",
    };
    let (telemetry, layer) = match telemetry::Telemetry::start(&config.telemetry) {
        Ok(Some((telemetry, layer))) => (Some(telemetry), Some(layer)),
        Ok(None) => (None, None),
        Err(e) => {
            eprintln!("vigil: configuration error: {e:#}");
            return ExitCode::from(2);
        }
    };
    config::init_logging(&config.log, default_log, layer);
    config.warn_deprecated();
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
        match command {
            Command::Migrate => stores::migrate_command(&config).await,
            Command::Check => check::check_command(&config).await,
            Command::Admin(command) => commands::admin_command(&config, command).await,
            Command::Worker(args) => serve::worker_command(&config, args).await,
            Command::Serve(args) => serve::serve_command(&config, args).await,
            Command::Token(command) => tokens::token_command(&config, command).await,
            Command::Bench(BenchCommand::Store(args)) => bench::store(&config, args).await,
            Command::Bench(BenchCommand::E2e(args)) => bench_e2e::e2e(&config, args).await,
            Command::Bench(BenchCommand::Cases(args)) => bench_cases::cases(&config, args).await,
            Command::Bench(BenchCommand::Scale(args)) => bench_scale::scale(&config, args).await,
        }
    });
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a client command: no configuration file and no database, only the
/// API settings. Exits with the code of [`client::Exit`] on failure.
fn client_main(
    command: client::ClientCommand,
    settings: &client::Settings,
    log_format: Option<LogFormat>,
) -> ExitCode {
    config::init_logging(
        &LogConfig {
            format: log_format.unwrap_or_default(),
        },
        "info,sqlx=warn",
        None,
    );
    client::main(command, settings)
}

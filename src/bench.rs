//! `vigil bench store`: investigation-shaped runs through the store, compared
//! in the same process with a bare baseline on the same pool.
//!
//! A run is shaped like a short investigation (W1): dispatch, claim, nine
//! single-event checkpoints (three rounds of model turn, tool intent, tool
//! result), complete: twelve events. The baseline writes the same number of
//! event-shaped rows, each in its own single-row INSERT transaction, through
//! the same pool at the same concurrency. The ratio of the two event rates is
//! what the store's guarantees (row lock, fencing, seq, hash chain, row
//! update) cost over the cheapest durable write of an event.
//!
//! SQLite runs in a fresh file in a temporary directory; PostgreSQL runs in a
//! scratch schema of the given database, dropped afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Duration as ChronoDuration;
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;
use vigil_engine::event::{Effect, ModelTurn, StepEvent, ToolCall, ToolIntent, ToolResult};
use vigil_engine::result::Completion;
use vigil_engine::store::{DispatchRequest, Store};
use vigil_engine::{Clock, SystemClock};

use crate::config::{Config, redact_url};
use crate::stores::postgres_options;

/// Events one run appends.
const EVENTS_PER_RUN: usize = 12;
const CHECKPOINTS_PER_RUN: usize = 9;
const AGENT: &str = "bench";

/// `vigil bench store` options.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Investigation-shaped runs to drive.
    #[arg(long, default_value_t = 2000)]
    runs: usize,
    /// Concurrent runs (and concurrent baseline writers).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// What one measured phase produced.
pub(crate) struct Measured {
    pub(crate) elapsed: Duration,
    pub(crate) events: usize,
    /// Checkpoint (or baseline insert) latencies.
    pub(crate) latencies: Vec<Duration>,
    /// Dispatch, claim and complete latencies (store runs only).
    others: [Vec<Duration>; 3],
}

impl Measured {
    pub(crate) fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// The store under test and what to clean up afterwards.
pub(crate) enum Target {
    Sqlite {
        store: vigil_store_sqlite::SqliteStore,
        _dir: tempfile::TempDir,
    },
    Postgres {
        store: vigil_store_postgres::PgStore,
        admin: sqlx::PgPool,
        schema: String,
    },
}

impl Target {
    pub(crate) fn ports(&self) -> Arc<dyn Store> {
        match self {
            Target::Sqlite { store, .. } => Arc::new(store.clone()),
            Target::Postgres { store, .. } => Arc::new(store.clone()),
        }
    }
}

/// Runs the benchmark and prints its figures.
pub async fn store(config: &Config, args: StoreArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let (target, description) = open_target(config, args.concurrency).await?;
    let store = target.ports();

    println!("vigil bench store");
    println!("  backend    {description}");
    println!(
        "  workload   {} runs x {EVENTS_PER_RUN} events (dispatch, claim, {CHECKPOINTS_PER_RUN} checkpoints, complete), concurrency {}",
        args.runs, args.concurrency
    );

    // Warm up connections and statement caches.
    drive_runs(&store, (args.runs / 20).clamp(1, 50), args.concurrency).await?;

    let rows = args.runs * EVENTS_PER_RUN;
    let baseline = target.baseline(rows, args.concurrency).await?;
    let measured = drive_runs(&store, args.runs, args.concurrency).await?;

    let runs_per_sec = args.runs as f64 / measured.elapsed.as_secs_f64();
    println!(
        "  store      {} runs in {:.3} s: {:.1} runs/s, {:.1} events/s",
        args.runs,
        measured.elapsed.as_secs_f64(),
        runs_per_sec,
        measured.events_per_sec()
    );
    let mut latencies = measured.latencies.clone();
    latencies.sort_unstable();
    println!(
        "  append     p50 {:.2} ms, p99 {:.2} ms over {} checkpoints",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.len()
    );
    let mut others = measured.others.clone();
    for (name, latencies) in ["dispatch", "claim", "complete"]
        .iter()
        .zip(others.iter_mut())
    {
        latencies.sort_unstable();
        println!(
            "  {name:<10} p50 {:.2} ms, p99 {:.2} ms",
            percentile(latencies, 0.50),
            percentile(latencies, 0.99)
        );
    }
    let mut base_latencies = baseline.latencies.clone();
    base_latencies.sort_unstable();
    println!(
        "  baseline   {} single-row INSERT transactions in {:.3} s: {:.1} events/s (p50 {:.2} ms, p99 {:.2} ms)",
        baseline.events,
        baseline.elapsed.as_secs_f64(),
        baseline.events_per_sec(),
        percentile(&base_latencies, 0.50),
        percentile(&base_latencies, 0.99),
    );
    println!(
        "  ratio      {:.2} (store events/s over baseline events/s)",
        measured.events_per_sec() / baseline.events_per_sec()
    );

    drop(store);
    target.cleanup().await
}

/// A fresh store for a benchmark, with an event-shaped baseline table:
/// SQLite in a temporary file, PostgreSQL in a scratch schema of the
/// configured database. Returns it with a one-line description.
pub(crate) async fn open_target(
    config: &Config,
    pool_at_least: usize,
) -> anyhow::Result<(Target, String)> {
    let url = config.database.url.clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (target, description) = if url.starts_with("sqlite:") {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let file = dir.path().join("bench.db");
        let options = vigil_store_sqlite::Options::new(format!("sqlite://{}", file.display()));
        let store = vigil_store_sqlite::open(options, clock).await?;
        create_sqlite_baseline(&store).await?;
        let description = format!("sqlite, fresh file {}", file.display());
        (Target::Sqlite { store, _dir: dir }, description)
    } else {
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .with_context(|| format!("connecting to {}", redact_url(&url)))?;
        let schema = format!("vigil_bench_{}", std::process::id());
        for sql in [
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ] {
            sqlx::query(AssertSqlSafe(sql)).execute(&admin).await?;
        }
        let mut options = postgres_options(config);
        options.schema = Some(schema.clone());
        options.channel = format!("{schema}_wakeups");
        options.max_connections = options.max_connections.max(pool_at_least as u32);
        let pool_size = options.max_connections;
        let store = vigil_store_postgres::open(options, clock).await?;
        create_pg_baseline(&store).await?;
        let description = format!(
            "postgres, scratch schema {schema} in {}, pool of {pool_size}",
            redact_url(&url)
        );
        (
            Target::Postgres {
                store,
                admin,
                schema,
            },
            description,
        )
    };
    Ok((target, description))
}

impl Target {
    /// Measures the bare baseline: `rows` single-row INSERT transactions
    /// through the store's own (writer) pool at `concurrency`.
    pub(crate) async fn baseline(
        &self,
        rows: usize,
        concurrency: usize,
    ) -> anyhow::Result<Measured> {
        match self {
            Target::Sqlite { store, .. } => {
                baseline_sqlite(store.backend().writer().clone(), rows, concurrency).await
            }
            Target::Postgres { store, .. } => {
                baseline_pg(store.backend().pool().clone(), rows, concurrency).await
            }
        }
    }

    /// Drops the scratch schema (PostgreSQL); the SQLite directory goes with `self`.
    pub(crate) async fn cleanup(self) -> anyhow::Result<()> {
        if let Target::Postgres {
            store,
            admin,
            schema,
        } = self
        {
            store.backend().close().await;
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .context("dropping the scratch schema")?;
        }
        Ok(())
    }
}

/// Milliseconds at quantile `q` of sorted latencies.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Checkpoint `which` (model turn, tool intent, tool result) of round `round`.
pub(crate) fn step(round: usize, which: usize) -> StepEvent {
    let call = format!("call-{round}");
    match which {
        0 => StepEvent::ModelTurn(ModelTurn {
            model: "bench".to_owned(),
            content: Some("Checking the source address against threat intel.".to_owned()),
            tool_calls: vec![ToolCall {
                id: call,
                name: "enrich_ip".to_owned(),
                arguments: r#"{"ip":"185.220.101.4"}"#.to_owned(),
                wire_id: None,
            }],
            input_tokens: 812,
            output_tokens: 64,
            cost_usd: 0.0011,
        }),
        1 => StepEvent::ToolIntent(ToolIntent {
            tool_call_id: call,
            tool: "enrich_ip".to_owned(),
            arguments: json!({"ip": "185.220.101.4"}),
            effect: Effect::Read,
        }),
        _ => StepEvent::ToolResult(ToolResult {
            tool_call_id: call,
            tool: "enrich_ip".to_owned(),
            output: r#"{"asn":"AS60729","country":"DE","tor_exit":true,"reports":412}"#.to_owned(),
            is_error: false,
            truncated: false,
            original_bytes: None,
        }),
    }
}

/// The result a benchmark run completes with.
pub(crate) fn final_result() -> Value {
    json!({
        "summary": "Tor exit node brute-forcing SSH; no successful login.",
        "key_findings": ["185.220.101.4 is a Tor exit", "412 failures, 0 successes"],
        "recommended_next_steps": ["block at the edge"],
        "confidence": 0.85
    })
}

/// Drives `runs` runs with `concurrency` tasks; returns elapsed time, events
/// appended and per-checkpoint latencies.
async fn drive_runs(
    store: &Arc<dyn Store>,
    runs: usize,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (store, next) = (Arc::clone(store), Arc::clone(&next));
        tasks.spawn(async move {
            let worker_id = format!("bench-worker-{worker}");
            let agents = [AGENT.to_owned()];
            let lease = ChronoDuration::minutes(5);
            let mut latencies = Vec::new();
            let mut others: [Vec<Duration>; 3] = Default::default();
            while next.fetch_add(1, Ordering::Relaxed) < runs {
                let t = Instant::now();
                store
                    .dispatch(DispatchRequest {
                        agent_id: AGENT.to_owned(),
                        prompt: "Investigate failed SSH logins from 185.220.101.4 on web-01"
                            .to_owned(),
                        requested_by: "bench".to_owned(),
                        ..DispatchRequest::default()
                    })
                    .await?;
                others[0].push(t.elapsed());
                // Every task dispatches before it claims, so a queued run exists.
                let t = Instant::now();
                let inv = loop {
                    if let Some(inv) = store.claim_next(&agents, &worker_id, None, lease).await? {
                        break inv;
                    }
                    tokio::task::yield_now().await;
                };
                others[1].push(t.elapsed());
                for n in 0..CHECKPOINTS_PER_RUN {
                    let t = Instant::now();
                    store
                        .checkpoint(inv.id, inv.lease_epoch, vec![step(n / 3, n % 3)])
                        .await?;
                    latencies.push(t.elapsed());
                }
                let t = Instant::now();
                store
                    .complete(
                        inv.id,
                        inv.lease_epoch,
                        Completion::Valid {
                            result: final_result(),
                            confidence: Some(0.85),
                        },
                    )
                    .await?;
                others[2].push(t.elapsed());
            }
            anyhow::Ok((latencies, others))
        });
    }
    let mut latencies = Vec::with_capacity(runs * CHECKPOINTS_PER_RUN);
    let mut others: [Vec<Duration>; 3] = Default::default();
    while let Some(done) = tasks.join_next().await {
        let (mine, my_others) = done.context("bench task panicked")??;
        latencies.extend(mine);
        for (all, mine) in others.iter_mut().zip(my_others) {
            all.extend(mine);
        }
    }
    Ok(Measured {
        elapsed: started.elapsed(),
        events: runs * EVENTS_PER_RUN,
        latencies,
        others,
    })
}

/// An event-shaped row: the payload and hashes of a real checkpoint.
fn baseline_row(n: usize) -> (String, i64, String) {
    let payload = match step(n / 3 % 3, n % 3) {
        StepEvent::ModelTurn(t) => serde_json::to_string(&t),
        StepEvent::ToolIntent(t) => serde_json::to_string(&t),
        StepEvent::ToolResult(t) => serde_json::to_string(&t),
        StepEvent::ModelCallFailed(f) => serde_json::to_string(&f),
    }
    .unwrap_or_default();
    (format!("{:08x}", n / EVENTS_PER_RUN), n as i64, payload)
}

const HASH: &str = "9f2c6e1d4b8a7f3e0c5d2b9a8e7f6c5d4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e";

async fn create_sqlite_baseline(store: &vigil_store_sqlite::SqliteStore) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE bench_baseline (investigation_id TEXT NOT NULL, seq INTEGER NOT NULL, \
         kind TEXT NOT NULL, payload TEXT NOT NULL, actor TEXT NOT NULL, epoch INTEGER NOT NULL, \
         created_at INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, \
         PRIMARY KEY (investigation_id, seq)) WITHOUT ROWID",
    )
    .execute(store.backend().writer())
    .await?;
    Ok(())
}

async fn create_pg_baseline(store: &vigil_store_postgres::PgStore) -> anyhow::Result<()> {
    sqlx::query(
        "CREATE TABLE bench_baseline (investigation_id text NOT NULL, seq bigint NOT NULL, \
         kind text NOT NULL, payload json NOT NULL, actor text NOT NULL, epoch bigint NOT NULL, \
         created_at timestamptz NOT NULL, prev_hash text NOT NULL, hash text NOT NULL, \
         PRIMARY KEY (investigation_id, seq))",
    )
    .execute(store.backend().pool())
    .await?;
    Ok(())
}

/// The SQLite baseline: the store's own writer pool (one connection,
/// `BEGIN IMMEDIATE`), one event-shaped row per transaction.
async fn baseline_sqlite(
    pool: sqlx::SqlitePool,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    run_baseline(total, concurrency, move |n| {
        let pool = pool.clone();
        async move {
            let (id, seq, payload) = baseline_row(n);
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(
                "INSERT INTO bench_baseline (investigation_id, seq, kind, payload, actor, epoch, \
                 created_at, prev_hash, hash) VALUES (?1, ?2, 'model_turn', ?3, 'bench', 1, ?4, ?5, ?5)",
            )
            .bind(id)
            .bind(seq)
            .bind(payload)
            .bind(chrono::Utc::now().timestamp_micros())
            .bind(HASH)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            anyhow::Ok(())
        }
    })
    .await
}

/// The PostgreSQL baseline: the store's own pool, one event-shaped row per transaction.
async fn baseline_pg(
    pool: sqlx::PgPool,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    run_baseline(total, concurrency, move |n| {
        let pool = pool.clone();
        async move {
            let (id, seq, payload) = baseline_row(n);
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO bench_baseline (investigation_id, seq, kind, payload, actor, epoch, \
                 created_at, prev_hash, hash) VALUES ($1, $2, 'model_turn', $3::json, 'bench', 1, now(), $4, $4)",
            )
            .bind(id)
            .bind(seq)
            .bind(payload)
            .bind(HASH)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            anyhow::Ok(())
        }
    })
    .await
}

async fn run_baseline<F, Fut>(
    total: usize,
    concurrency: usize,
    insert: F,
) -> anyhow::Result<Measured>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (next, insert) = (Arc::clone(&next), insert.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(latencies);
                }
                let t = Instant::now();
                insert(n).await?;
                latencies.push(t.elapsed());
            }
        });
    }
    let mut latencies = Vec::with_capacity(total);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.context("baseline task panicked")??);
    }
    Ok(Measured {
        elapsed: started.elapsed(),
        events: total,
        latencies,
        others: Default::default(),
    })
}

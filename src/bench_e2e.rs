//! `vigil bench e2e`: workload W1 from dispatch to completion through the
//! whole engine (store, worker runtime, agent loop), with an in-process
//! zero-latency scripted model and no-op tools, so the figures are the
//! engine's own cost. Compared in the same run with the bare-insert
//! baseline of `vigil bench store`.
//!
//! W1: three model turns (two read tool calls, then `submit_result`), i.e.
//! dispatched, claimed, 3 model turns, 2 intents, 2 results, completed:
//! ten events per run. The load is closed: `--concurrency` runs are kept in
//! flight, each new dispatch replacing a finished run.
//!
//! With `--telemetry` the workload runs twice in the same invocation, each
//! time in a child process on a fresh database: once with tracing off, once
//! exporting every span (sampling 1.0) over OTLP/HTTP to a loopback
//! receiver the bench starts (or `--otlp-endpoint`), and the two are
//! compared as a ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vigil_agents::Mode;
use vigil_agents::model::{ChatModel, ChatRequest, ChatResponse, Message, ModelError, ToolCall};
use vigil_agents::runner::Runner;
use vigil_agents::tool::{ApprovalPolicy, Effect, Tool, ToolError, ToolSpec};
use vigil_agents::{AgentBudget, AgentConfig, Catalog, ToolRegistry};
use vigil_engine::store::{DispatchRequest, GroupCommit, GroupStats};
use vigil_engine::{InvestigationId, Status, SystemClock};
use vigil_workers::{SweepSettings, WorkerSettings};

use crate::bench::{Target, open_target, percentile};
use crate::config::Config;

/// `vigil bench e2e` options.
#[derive(Debug, Clone, clap::Args)]
pub struct E2eArgs {
    /// Runs to complete.
    #[arg(long, default_value_t = 1000)]
    runs: usize,
    /// Runs kept in flight (workers get twice as many slots).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Worker runtimes in this process.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Claim streams per worker runtime (as `worker.claimers`).
    #[arg(long, default_value_t = 2)]
    claimers: usize,
    /// Latency of each scripted model turn (e.g. 2s): shows memory with runs parked on a slow model.
    #[arg(long, default_value = "0s", value_parser = vigil_agents::config::duration::parse)]
    model_latency: Duration,
    /// Run the workload twice, tracing off then on (every span exported),
    /// and print the overhead as a ratio.
    #[arg(long)]
    telemetry: bool,
    /// With `--telemetry`: the OTLP/HTTP endpoint to export to instead of
    /// the loopback receiver the bench starts.
    #[arg(long, requires = "telemetry")]
    otlp_endpoint: Option<String>,
    /// Most fenced worker writes per transaction (`1`: each commits on its
    /// own); defaults to `[database] group_commit_max_batch`.
    #[arg(long)]
    group_max_batch: Option<usize>,
    /// How long a batch that is not full waits for more writes; defaults to
    /// `[database] group_commit_max_wait`.
    #[arg(long, value_parser = vigil_agents::config::duration::parse)]
    group_max_wait: Option<Duration>,
}

impl E2eArgs {
    fn group_commit(&self, config: &Config) -> GroupCommit {
        let configured = config.database.group_commit();
        GroupCommit {
            max_batch: self.group_max_batch.unwrap_or(configured.max_batch).max(1),
            max_wait: self.group_max_wait.unwrap_or(configured.max_wait),
        }
    }
}

/// The process's claim counters, read from the metrics recorder.
fn claim_counters(metrics: &PrometheusHandle) -> (f64, f64) {
    let text = metrics.render();
    let read = |name: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    (read("vigil_claims_total"), read("vigil_claims_empty_total"))
}

/// The metrics recorder of this process, installed on first use.
fn recorder() -> anyhow::Result<&'static PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let handle = crate::metrics::install()?;
    Ok(HANDLE.get_or_init(|| handle))
}

/// PostgreSQL's own counters, cluster-wide: transactions ended in the
/// current database and WAL syncs (`pg_stat_database`, `pg_stat_wal`).
#[derive(Debug, Clone, Copy, Default)]
struct PgCounters {
    transactions: i64,
    wal_syncs: i64,
}

impl Target {
    /// `self` with its fenced writes batched as `settings` say.
    fn with_group_commit(self, settings: GroupCommit) -> Self {
        match self {
            Target::Sqlite { store, _dir } => Target::Sqlite {
                store: store.with_group_commit(settings),
                _dir,
            },
            Target::Postgres {
                store,
                admin,
                schema,
            } => Target::Postgres {
                store: store.with_group_commit(settings),
                admin,
                schema,
            },
        }
    }

    fn group_stats(&self) -> Option<GroupStats> {
        match self {
            Target::Sqlite { store, .. } => store.group_stats(),
            Target::Postgres { store, .. } => store.group_stats(),
        }
    }

    /// PostgreSQL's counters now; `None` on SQLite. Backends publish their
    /// counters when they have been idle for a while, so this waits first.
    async fn pg_counters(&self, settle: Duration) -> anyhow::Result<Option<PgCounters>> {
        let Target::Postgres { admin, .. } = self else {
            return Ok(None);
        };
        tokio::time::sleep(settle).await;
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(admin)
            .await?;
        let transactions: i64 = sqlx::query_scalar(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(admin)
        .await?;
        let wal_syncs: i64 = sqlx::query_scalar("SELECT wal_sync FROM pg_stat_wal")
            .fetch_one(admin)
            .await?;
        Ok(Some(PgCounters {
            transactions,
            wal_syncs,
        }))
    }
}

/// How long PostgreSQL backends must be idle before their statistics are
/// published (`PGSTAT_IDLE_INTERVAL` is 10 s).
const PG_STATS_SETTLE: Duration = Duration::from_secs(11);

/// The figures one pass of the workload measured.
#[derive(Debug, Clone, Copy)]
struct Figures {
    runs_per_sec: f64,
    events_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// A no-op read tool.
#[derive(Debug)]
struct Noop(ToolSpec);

#[async_trait]
impl Tool for Noop {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }
    fn is_local(&self) -> bool {
        true
    }
    async fn call(&self, _: &vigil_agents::CallContext, _: &Value) -> Result<String, ToolError> {
        Ok("{\"ok\":true}".to_owned())
    }
}

fn noop(name: &str) -> Arc<dyn Tool> {
    Arc::new(Noop(ToolSpec {
        name: name.to_owned(),
        description: "does nothing".to_owned(),
        parameters: json!({"type": "object"}),
        effect: Effect::Read,
        approval: ApprovalPolicy::default(),
    }))
}

/// The W1 script: lookup_a, lookup_b, then submit_result.
#[derive(Debug)]
struct W1 {
    latency: Duration,
    submitted: Arc<AtomicUsize>,
}

#[async_trait]
impl ChatModel for W1 {
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ModelError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let done = request
            .messages
            .iter()
            .filter(|m| matches!(m, Message::Tool { .. }))
            .count();
        let (name, arguments) = match done {
            0 => ("lookup_a", "{}".to_owned()),
            1 => ("lookup_b", "{}".to_owned()),
            _ => {
                self.submitted.fetch_add(1, Ordering::SeqCst);
                (
                    "submit_result",
                    json!({"summary": "benchmark", "key_findings": [], "recommended_next_steps": [], "confidence": 0.5})
                        .to_string(),
                )
            }
        };
        Ok(ChatResponse {
            model: "bench-w1".to_owned(),
            content: None,
            tool_calls: vec![ToolCall {
                id: format!("w1_{done}"),
                name: name.to_owned(),
                arguments,
                wire_id: None,
            }],
            input_tokens: 100,
            output_tokens: 10,
            finish_reason: None,
        })
    }
}

fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs the benchmark and prints its figures.
pub async fn e2e(config: &Config, args: E2eArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.runs > 0 && args.concurrency > 0 && args.workers > 0,
        "--runs, --concurrency and --workers must be at least 1"
    );
    if !args.telemetry {
        return pass(config, &args).await.map(drop);
    }
    let (endpoint, receiver) = match &args.otlp_endpoint {
        Some(url) => (url.clone(), None),
        None => {
            let (url, receiver) = loopback_receiver().await?;
            (url, Some(receiver))
        }
    };
    println!("vigil bench e2e --telemetry: the same workload twice, each in a process of its own");
    println!("telemetry off");
    let off = child(&[("OTEL_SDK_DISABLED", "true".to_owned())]).await?;
    println!("telemetry on (sampling 1.0, every span exported over OTLP/HTTP to {endpoint})");
    let on = child(&[
        ("VIGIL_TELEMETRY_ENABLED", "true".to_owned()),
        ("VIGIL_TELEMETRY_ENDPOINT", endpoint.clone()),
        ("VIGIL_TELEMETRY_SAMPLING_RATIO", "1.0".to_owned()),
        ("VIGIL_TELEMETRY_QUEUE_SIZE", "65536".to_owned()),
    ])
    .await?;
    if let Some(receiver) = receiver {
        println!(
            "  exported   {} OTLP requests, {:.1} KB to the loopback receiver",
            receiver.requests.load(Ordering::SeqCst),
            receiver.bytes.load(Ordering::SeqCst) as f64 / 1024.0
        );
    }
    println!(
        "  overhead   telemetry on / off: {:.2} runs/s, {:.2} events/s, p50 latency {:.2}, p99 latency {:.2}",
        on.runs_per_sec / off.runs_per_sec,
        on.events_per_sec / off.events_per_sec,
        on.p50_ms / off.p50_ms,
        on.p99_ms / off.p99_ms,
    );
    Ok(())
}

/// Runs this command again without `--telemetry` (and its endpoint), in a
/// child process with `env` set, prints its output and reads its figures.
/// A process each keeps the passes apart: nothing of one (tracing
/// subscriber, export thread, database) is left in the other.
async fn child(env: &[(&str, String)]) -> anyhow::Result<Figures> {
    let mut args = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        if arg == "--telemetry" || arg.starts_with("--otlp-endpoint=") {
            continue;
        }
        if arg == "--otlp-endpoint" {
            given.next();
            continue;
        }
        args.push(arg);
    }
    let exe = std::env::current_exe().context("the vigil binary")?;
    let mut command = std::process::Command::new(exe);
    command.args(&args).stdin(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .context("the benchmark pass")?
        .context("the benchmark pass")?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    anyhow::ensure!(
        out.status.success(),
        "the benchmark pass failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_figures(&text).with_context(|| format!("no figures in:\n{text}"))
}

/// The figures in a pass's output (its `e2e` and `latency` lines).
fn parse_figures(text: &str) -> Option<Figures> {
    let number_before = |line: &str, unit: &str| -> Option<f64> {
        let head = &line[..line.find(unit)?];
        head.split_whitespace().last()?.parse().ok()
    };
    let e2e = text.lines().find(|l| l.trim_start().starts_with("e2e "))?;
    let latency = text
        .lines()
        .find(|l| l.trim_start().starts_with("latency "))?;
    let (p50, p99) = latency.split_once("p99")?;
    Some(Figures {
        runs_per_sec: number_before(e2e, " runs/s")?,
        events_per_sec: number_before(e2e, " events/s")?,
        p50_ms: number_before(p50, " ms")?,
        p99_ms: number_before(p99, " ms")?,
    })
}

/// What the loopback OTLP receiver got.
#[derive(Debug, Default)]
struct Received {
    requests: AtomicUsize,
    bytes: AtomicUsize,
}

/// An OTLP/HTTP receiver on loopback that accepts every export (counting
/// requests and bytes, decoding nothing), as a collector on the same host
/// would. Returns its base URL.
async fn loopback_receiver() -> anyhow::Result<(String, Arc<Received>)> {
    let received = Arc::new(Received::default());
    let counts = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let counts = counts.clone();
            async move {
                counts.requests.fetch_add(1, Ordering::SeqCst);
                counts.bytes.fetch_add(body.len(), Ordering::SeqCst);
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("the loopback OTLP receiver")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{addr}"), received))
}

/// One pass of the workload on a fresh target: prints its figures and
/// returns them.
async fn pass(config: &Config, args: &E2eArgs) -> anyhow::Result<Figures> {
    let slots = args.concurrency * args.workers;
    let (target, description) = open_target(config, slots.min(64) + 8).await?;
    let group = args.group_commit(config);
    let target = target.with_group_commit(group);
    let store = target.ports();
    let metrics = recorder()?;
    // Backends idle since the migrations publish their counters first.
    let pg_before = target.pg_counters(PG_STATS_SETTLE).await?;
    let claims_before = claim_counters(metrics);

    let mut registry = ToolRegistry::new(16 * 1024);
    registry.register(noop("lookup_a"))?;
    registry.register(noop("lookup_b"))?;
    let agent = AgentConfig {
        id: "w1".to_owned(),
        system_prompt: "benchmark".to_owned(),
        model: None,
        tools: vec!["lookup_a".to_owned(), "lookup_b".to_owned()],
        budget: AgentBudget::default(),
        output_schema: None,
    };
    let catalog = Arc::new(Catalog::new(vec![agent], &registry)?);
    let submitted = Arc::new(AtomicUsize::new(0));
    let model = Arc::new(W1 {
        latency: args.model_latency,
        submitted: submitted.clone(),
    });
    let runner = Arc::new(Runner::new(
        store.clone(),
        catalog,
        Arc::new(registry),
        model,
        Arc::new(SystemClock),
        Mode::Real,
    ));
    let shutdown = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    for k in 0..args.workers {
        let mut settings = WorkerSettings::new(format!("bench-worker-{k}"));
        // Spare slots: a new dispatch never waits for a busy slot, so the
        // claim latency measured is the engine's, not a queue's.
        settings.concurrency = args.concurrency * 2;
        settings.claimers = args.claimers;
        settings.grace = Duration::from_secs(5);
        workers.spawn(vigil_workers::run(
            store.clone(),
            runner.clone(),
            settings,
            SweepSettings::default(),
            shutdown.clone(),
        ));
    }

    println!("vigil bench e2e");
    println!("  backend    {description}");
    println!(
        "  workload   {} W1 runs (3 model turns, 2 read tool calls, submit_result; 10 events each), {} in flight, {} worker runtime(s), model latency {:?}",
        args.runs, args.concurrency, args.workers, args.model_latency
    );

    let started = Instant::now();
    // Dispatchers: several at once, so dispatching is not the bottleneck;
    // together they keep `--concurrency` runs in flight.
    let next = Arc::new(AtomicUsize::new(0));
    let mut dispatchers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.min(8) {
        let (store, next, submitted) = (store.clone(), next.clone(), submitted.clone());
        let (runs, in_flight) = (args.runs, args.concurrency);
        dispatchers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let n = next.load(Ordering::SeqCst);
                if n >= runs {
                    return anyhow::Ok(mine);
                }
                if n - submitted.load(Ordering::SeqCst) >= in_flight {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                    continue;
                }
                if next
                    .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    continue;
                }
                let d = store
                    .dispatch(DispatchRequest {
                        agent_id: "w1".to_owned(),
                        prompt: format!("benchmark run {n}"),
                        requested_by: "bench".to_owned(),
                        ..DispatchRequest::default()
                    })
                    .await?;
                mine.push((n, d.investigation.id));
            }
        });
    }
    let mut numbered = Vec::with_capacity(args.runs);
    while let Some(done) = dispatchers.join_next().await {
        numbered.extend(done.context("dispatcher task")??);
    }
    numbered.sort_unstable();
    let ids: Vec<InvestigationId> = numbered.into_iter().map(|(_, id)| id).collect();
    let peak_in_flight_rss = rss_mb("VmRSS:");
    // The clock stops when the last runs are completed in the store; the
    // records are read for the statistics afterwards.
    while submitted.load(Ordering::SeqCst) < args.runs {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let tail = ids.len().saturating_sub(args.concurrency * 2);
    for id in &ids[tail..] {
        while store.get(*id).await?.status != Status::Completed {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    let elapsed = started.elapsed();
    // The counters are read before the bench reads every run back for its
    // statistics, so those reads are not counted as the workload's.
    shutdown.cancel();
    while let Some(done) = workers.join_next().await {
        done.context("worker task")??;
    }
    let claims_after = claim_counters(metrics);
    let group_stats = target.group_stats();
    let pg_after = target.pg_counters(PG_STATS_SETTLE).await?;
    let mut finished = Vec::with_capacity(ids.len());
    for id in &ids {
        let inv = store.get(*id).await?;
        anyhow::ensure!(
            inv.status == Status::Completed,
            "run {id} ended {}: {:?}",
            inv.status,
            inv.error
        );
        finished.push(inv);
    }
    let events: i64 = finished.iter().map(|i| i.last_seq).sum();
    let to_ms = |d: chrono::Duration| {
        Duration::from_micros(d.num_microseconds().unwrap_or(0).max(0) as u64)
    };
    let mut latency: Vec<Duration> = finished
        .iter()
        .filter_map(|i| Some(to_ms(i.finished_at? - i.created_at)))
        .collect();
    let mut claim: Vec<Duration> = finished
        .iter()
        .filter_map(|i| Some(to_ms(i.started_at? - i.created_at)))
        .collect();
    latency.sort_unstable();
    claim.sort_unstable();
    let events_per_sec = events as f64 / elapsed.as_secs_f64();

    let baseline = target.baseline(events as usize, args.concurrency).await?;
    let figures = Figures {
        runs_per_sec: args.runs as f64 / elapsed.as_secs_f64(),
        events_per_sec,
        p50_ms: percentile(&latency, 0.5),
        p99_ms: percentile(&latency, 0.99),
    };

    println!(
        "  e2e        {} runs in {:.3} s: {:.1} runs/s, {:.1} events/s",
        args.runs,
        elapsed.as_secs_f64(),
        args.runs as f64 / elapsed.as_secs_f64(),
        events_per_sec
    );
    println!(
        "  latency    dispatch to completion p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latency, 0.5),
        percentile(&latency, 0.99)
    );
    println!(
        "  claim      dispatch to claim p50 {:.2} ms, p99 {:.2} ms",
        percentile(&claim, 0.5),
        percentile(&claim, 0.99)
    );
    println!(
        "  memory     worker RSS {:.1} MB with all runs dispatched, peak {:.1} MB",
        peak_in_flight_rss,
        rss_mb("VmHWM:")
    );
    let runs = args.runs as f64;
    let claims = claims_after.0 - claims_before.0;
    let empty = claims_after.1 - claims_before.1;
    println!(
        "  claims     {:.2} claims per run, {:.3} empty claims per run (claim transactions that found nothing)",
        claims / runs,
        empty / runs
    );
    match group_stats {
        Some(g) => println!(
            "  batching   group commit up to {} writes, wait {:?}: {} fenced writes in {} transactions ({:.1} per transaction, largest {}), {:.2} per run",
            group.max_batch,
            group.max_wait,
            g.writes,
            g.batches,
            g.writes as f64 / g.batches.max(1) as f64,
            g.largest,
            g.batches as f64 / runs
        ),
        None => println!("  batching   off: every fenced write is its own transaction"),
    }
    if let (Some(before), Some(after)) = (pg_before, pg_after) {
        println!(
            "  postgres   {:.2} transactions per run (reads count too, and the bench's polling of the last runs), {:.2} WAL syncs per run (pg_stat_database, pg_stat_wal: anything else on this cluster meanwhile counts too)",
            (after.transactions - before.transactions) as f64 / runs,
            (after.wal_syncs - before.wal_syncs) as f64 / runs
        );
    }
    println!(
        "  baseline   {} single-row INSERT transactions: {:.1} events/s",
        baseline.events,
        baseline.events_per_sec()
    );
    println!(
        "  ratio      {:.2} (e2e events/s over baseline events/s)",
        events_per_sec / baseline.events_per_sec()
    );
    drop(store);
    drop(runner);
    target.cleanup().await?;
    Ok(figures)
}

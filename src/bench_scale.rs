//! `vigil bench scale`: the store's reads, worker writes and sweeps against
//! a store holding a million finished investigations.
//!
//! The store is seeded in bulk, in SQL: one template run goes through the
//! store (dispatch, claim, seven checkpoints, complete: ten events), then
//! its row and its events are copied `--finished` times as finished runs
//! (completed, failed, review_required and dead_lettered, every tenth with a
//! decided approval request) and `--active` times as queued, running (leased
//! for a day) and parked-on-approval runs (with their pending requests).
//! Seeded rows are what the store's readers expect (status and phase agree,
//! `last_seq` is the number of events, ids are UUID v7 of `created_at`), but
//! every copy carries the template's event hashes, so the hash chains of
//! seeded runs do not verify: nothing here reads them.
//!
//! Each operation is then called `--samples` times, one call at a time,
//! through the store ports the API and the workers use, and its p50 and p99
//! printed with the target it is held to. Last, a worker runtime in this
//! process claims `--parked` runs whose model never answers (each waits on
//! it for an hour) and the process's resident memory is read from
//! `/proc/self/status` before the worker starts and once every run is
//! parked.
//!
//! Benchmarks print; the tests of this command check its lines, never its
//! timings.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sqlx::AssertSqlSafe;
use tokio_util::sync::CancellationToken;
use vigil_agents::Mode;
use vigil_agents::model::{ChatModel, ChatRequest, ChatResponse, ModelError};
use vigil_agents::runner::Runner;
use vigil_agents::{AgentBudget, AgentConfig, Catalog, ToolRegistry};
use vigil_engine::approval::ApprovalStatus;
use vigil_engine::result::Completion;
use vigil_engine::store::{ApprovalQuery, Cursor, DispatchRequest, ListQuery, Store};
use vigil_engine::{Investigation, InvestigationId, Status, SystemClock};
use vigil_workers::{SweepSettings, WorkerSettings};

use crate::bench::{Target, final_result, open_target, percentile, step};
use crate::config::Config;

/// Agents the seeded runs are spread over (`agent-0` .. `agent-7`).
const AGENTS: u64 = 8;
/// Requesters the seeded runs are spread over.
const REQUESTERS: u64 = 50;
/// Seconds between two seeded finished runs.
const SPACING_SECS: i64 = 30;
/// Runs per seeding statement.
const CHUNK: u64 = 50_000;
/// Checkpoints of the template run: with dispatch, claim and completion, ten events.
const TEMPLATE_CHECKPOINTS: usize = 7;
/// The agent of the parked runs.
const SLOW_AGENT: &str = "slow";

/// `vigil bench scale` options.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// Finished investigations to seed (ten events each).
    #[arg(long, default_value_t = 1_000_000)]
    finished: u64,
    /// Queued, running and approval-parked investigations to seed (4:4:2).
    #[arg(long, default_value_t = 10_000)]
    active: u64,
    /// Calls measured per operation.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Runs parked on a model that never answers while the worker's memory
    /// is read (0: skip).
    #[arg(long, default_value_t = 10_000)]
    parked: usize,
}

/// Runs the benchmark and prints its figures.
pub async fn scale(config: &Config, args: ScaleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.finished >= 10, "--finished must be at least 10");
    anyhow::ensure!(args.active >= 10, "--active must be at least 10");
    anyhow::ensure!(args.samples > 0, "--samples must be at least 1");
    let (target, description) = open_target(config, 16).await?;
    let store = target.ports();

    println!("vigil bench scale");
    println!("  backend    {description}");
    println!(
        "  workload   {} finished runs, {} active (queued, running, awaiting approval); {} calls per operation, one at a time",
        args.finished, args.active, args.samples
    );

    let now = Utc::now();
    let template = template_run(&store).await?;
    let seeded = Seed {
        template: template.id,
        finished: args.finished,
        active: args.active,
        finished_from: now
            - ChronoDuration::seconds(SPACING_SECS * args.finished as i64)
            - ChronoDuration::days(1),
        active_from: now - ChronoDuration::hours(3),
        now,
    };
    let started = Instant::now();
    seed(&target, &seeded).await?;
    let seeding = started.elapsed();
    let started = Instant::now();
    settle(&target).await?;
    let settling = started.elapsed();
    let events = args.finished * template.last_seq as u64;
    println!(
        "  seeded     {} runs, {} events, {} approval requests in {:.1} s ({:.0} events/s); {} in {:.1} s",
        args.finished + args.active,
        events + args.active / 10 * (4 + 4 * 2 + 2 * 4),
        args.finished / 10 + args.active / 5,
        seeding.as_secs_f64(),
        events as f64 / seeding.as_secs_f64(),
        target.settle_description(),
        settling.as_secs_f64()
    );
    println!(
        "             (every seeded run copies the template's event hashes: seeded chains do not verify and are not read)"
    );

    measure(&store, &seeded, args.samples).await?;
    if args.parked > 0 {
        parked_memory(&store, args.parked).await?;
    }
    drop(store);
    target.cleanup().await
}

/// One investigation driven through the store: dispatched, claimed, seven
/// single-event checkpoints, completed.
async fn template_run(store: &Arc<dyn Store>) -> anyhow::Result<Investigation> {
    store
        .dispatch(DispatchRequest {
            agent_id: "agent-0".to_owned(),
            prompt: "Investigate failed SSH logins from 185.220.101.4 on web-01".to_owned(),
            requested_by: "analyst-0".to_owned(),
            ..DispatchRequest::default()
        })
        .await?;
    let inv = store
        .claim_next(
            &["agent-0".to_owned()],
            "seed-worker",
            Some("real"),
            ChronoDuration::minutes(5),
        )
        .await?
        .context("the template run was not claimed")?;
    for n in 0..TEMPLATE_CHECKPOINTS {
        store
            .checkpoint(inv.id, inv.lease_epoch, vec![step(n / 3, n % 3)])
            .await?;
    }
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
    Ok(store.get(inv.id).await?)
}

/// What is seeded: finished run `g` (1..=finished) was created at
/// `finished_from + g * 30 s`; active run `k` (1..=active) at
/// `active_from + k * (3 h / active)`.
struct Seed {
    template: InvestigationId,
    finished: u64,
    active: u64,
    finished_from: DateTime<Utc>,
    active_from: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Seed {
    fn active_spacing_micros(&self) -> i64 {
        3 * 3600 * 1_000_000 / self.active as i64
    }

    /// Creation time of finished run `g`.
    fn finished_at(&self, g: u64) -> DateTime<Utc> {
        self.finished_from + ChronoDuration::seconds(SPACING_SECS * g as i64)
    }
}

fn chunks(total: u64) -> Vec<(u64, u64)> {
    (0..total.div_ceil(CHUNK))
        .map(|c| (c * CHUNK + 1, ((c + 1) * CHUNK).min(total)))
        .collect()
}

async fn seed(target: &Target, seed: &Seed) -> anyhow::Result<()> {
    match target {
        Target::Postgres { store, .. } => pg::seed(store.backend().pool(), seed).await,
        Target::Sqlite { store, .. } => sqlite::seed(store.backend().writer(), seed).await,
    }
}

/// What a database holding this much would have done by itself by now:
/// PostgreSQL's autovacuum sets the visibility map and the planner
/// statistics; SQLite has no background work.
async fn settle(target: &Target) -> anyhow::Result<()> {
    if let Target::Postgres { store, .. } = target {
        for table in [
            "investigations",
            "investigation_events",
            "approval_requests",
        ] {
            sqlx::query(AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                .execute(store.backend().pool())
                .await?;
        }
    }
    Ok(())
}

impl Target {
    fn settle_description(&self) -> &'static str {
        match self {
            Target::Postgres { .. } => "VACUUM ANALYZE (what autovacuum does after a bulk load)",
            Target::Sqlite { .. } => "nothing to settle",
        }
    }
}

mod pg;
mod sqlite;

/// A small deterministic generator for the rows each read picks.
struct Picks(u64);

impl Picks {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Latencies of calls, sorted.
#[derive(Default)]
struct Samples(Vec<Duration>);

impl Samples {
    async fn time<T, F: std::future::Future<Output = vigil_engine::store::Result<T>>>(
        &mut self,
        call: F,
    ) -> anyhow::Result<T> {
        let t = Instant::now();
        let out = call.await?;
        self.0.push(t.elapsed());
        Ok(out)
    }

    fn print(mut self, name: &str, target_ms: Option<f64>) {
        self.0.sort_unstable();
        let (p50, p99) = (percentile(&self.0, 0.50), percentile(&self.0, 0.99));
        let verdict = match target_ms {
            Some(t) if p99 < t => format!("  target p99 < {t} ms: met"),
            Some(t) => format!("  target p99 < {t} ms: MISSED"),
            None => String::new(),
        };
        println!(
            "  {name:<26} p50 {p50:>7.2} ms, p99 {p99:>7.2} ms over {:>4}{verdict}",
            self.0.len()
        );
    }
}

/// Finished runs picked at random, through `list` (not measured).
async fn pick_finished(
    store: &Arc<dyn Store>,
    seed: &Seed,
    n: usize,
) -> anyhow::Result<Vec<Investigation>> {
    let mut picks = Picks(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let g = 2 + picks.below(seed.finished - 1);
        let page = store
            .list(&ListQuery {
                created_before: Some(seed.finished_at(g)),
                limit: 1,
                ..ListQuery::default()
            })
            .await?;
        out.extend(page.items);
    }
    Ok(out)
}

async fn measure(store: &Arc<dyn Store>, seed: &Seed, samples: usize) -> anyhow::Result<()> {
    let agents: Vec<String> = (0..AGENTS).map(|a| format!("agent-{a}")).collect();
    let lease = ChronoDuration::minutes(5);
    println!("  worker writes (claims take the seeded queued runs, oldest first)");
    let mut claim = Samples::default();
    let mut claimed = Vec::with_capacity(samples);
    for _ in 0..samples {
        match claim
            .time(store.claim_next(&agents, "bench-scale", Some("real"), lease))
            .await?
        {
            Some(inv) => claimed.push(inv),
            None => anyhow::bail!("no queued run left to claim: seed more with --active"),
        }
    }
    claim.print("claim", Some(5.0));
    let mut heartbeat = Samples::default();
    for inv in &claimed {
        heartbeat
            .time(store.heartbeat(inv.id, inv.lease_epoch, lease))
            .await?;
    }
    heartbeat.print("heartbeat", None);
    let mut checkpoint = Samples::default();
    for (n, inv) in claimed.iter().enumerate() {
        checkpoint
            .time(store.checkpoint(inv.id, inv.lease_epoch, vec![step(n, 0)]))
            .await?;
    }
    checkpoint.print("checkpoint (one event)", None);

    println!("  sweeps (nothing due: the steady state of a tick)");
    let mut reap = Samples::default();
    for _ in 0..samples {
        let reaped = reap.time(store.reap(100)).await?;
        anyhow::ensure!(reaped.is_empty(), "the reaper found expired leases");
    }
    reap.print("reaper tick", Some(5.0));
    let mut expire = Samples::default();
    for _ in 0..samples {
        let expired = expire.time(store.expire_approvals(100)).await?;
        anyhow::ensure!(expired.is_empty(), "the expiry sweep found due approvals");
    }
    expire.print("expiry sweep", Some(5.0));

    println!("  reads");
    let mut first = Samples::default();
    for _ in 0..samples {
        first.time(store.list(&ListQuery::default())).await?;
    }
    first.print("list first page (50)", Some(20.0));
    let mut filtered = Samples::default();
    for n in 0..samples {
        filtered
            .time(store.list(&ListQuery {
                status: Some(Status::Failed),
                agent_id: Some(format!("agent-{}", n as u64 % AGENTS)),
                ..ListQuery::default()
            }))
            .await?;
    }
    filtered.print("list failed + agent (50)", None);
    let mut by_status = Samples::default();
    for _ in 0..samples {
        by_status
            .time(store.list(&ListQuery {
                status: Some(Status::DeadLettered),
                ..ListQuery::default()
            }))
            .await?;
    }
    by_status.print("list dead_lettered (50)", None);
    let picked = pick_finished(store, seed, samples).await?;
    let mut deep = Samples::default();
    for inv in &picked {
        deep.time(store.list(&ListQuery {
            after: Some(Cursor {
                created_at: inv.created_at,
                id: inv.id,
            }),
            ..ListQuery::default()
        }))
        .await?;
    }
    deep.print("list deep keyset page (50)", None);
    let mut detail = Samples::default();
    for inv in &picked {
        detail.time(store.get(inv.id)).await?;
    }
    detail.print("detail", None);
    let mut events = Samples::default();
    for inv in &picked {
        events.time(store.events(inv.id, 0, 100)).await?;
    }
    events.print("events page (100)", None);
    let mut stats = Samples::default();
    let mut counted = 0;
    for _ in 0..samples {
        let s = stats.time(store.stats()).await?;
        counted = s.states.iter().map(|c| c.count).sum::<i64>();
    }
    stats.print("stats", Some(20.0));
    let mut inbox = Samples::default();
    for _ in 0..samples {
        inbox
            .time(store.approvals(&ApprovalQuery::default()))
            .await?;
    }
    inbox.print("approvals inbox (100)", None);
    let mut pending = Samples::default();
    for _ in 0..samples {
        pending
            .time(store.approvals(&ApprovalQuery {
                status: Some(ApprovalStatus::Pending),
                ..ApprovalQuery::default()
            }))
            .await?;
    }
    pending.print("approvals pending (100)", None);
    let mut changes = Samples::default();
    for _ in 0..samples {
        changes
            .time(store.approvals(&ApprovalQuery {
                changed_since: Some(Utc::now() - ChronoDuration::seconds(10)),
                limit: 500,
                ..ApprovalQuery::default()
            }))
            .await?;
    }
    changes.print("approvals changed in 10 s", None);
    println!("             (stats counted {counted} investigations)");
    Ok(())
}

/// A model that never answers within the benchmark: every call waits an hour.
#[derive(Debug, Default)]
struct Slow {
    calls: AtomicUsize,
}

#[async_trait]
impl ChatModel for Slow {
    async fn complete(&self, _: &ChatRequest) -> Result<ChatResponse, ModelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Err(ModelError::Timeout)
    }
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Starts a worker runtime in this process, lets it claim `parked` runs of
/// an agent whose model never answers, and prints the process's resident
/// memory before and once all of them are parked.
async fn parked_memory(store: &Arc<dyn Store>, parked: usize) -> anyhow::Result<()> {
    let registry = ToolRegistry::new(16 * 1024);
    let agent = AgentConfig {
        id: SLOW_AGENT.to_owned(),
        system_prompt: "benchmark".to_owned(),
        model: None,
        tools: Vec::new(),
        budget: AgentBudget::default(),
        output_schema: None,
    };
    let catalog = Arc::new(Catalog::new(vec![agent], &registry)?);
    let model = Arc::new(Slow::default());
    for n in 0..parked {
        store
            .dispatch(DispatchRequest {
                agent_id: SLOW_AGENT.to_owned(),
                prompt: format!("parked run {n}"),
                requested_by: "bench".to_owned(),
                ..DispatchRequest::default()
            })
            .await?;
    }
    let before = rss_mb();
    let runner = Arc::new(Runner::new(
        store.clone(),
        catalog,
        Arc::new(registry),
        model.clone(),
        Arc::new(SystemClock),
        Mode::Real,
    ));
    let shutdown = CancellationToken::new();
    let mut settings = WorkerSettings::new("bench-scale-worker");
    settings.concurrency = parked;
    settings.claimers = 4;
    settings.grace = Duration::from_secs(1);
    let started = Instant::now();
    let worker = tokio::spawn(vigil_workers::run(
        store.clone(),
        runner.clone(),
        settings,
        SweepSettings::default(),
        shutdown.clone(),
    ));
    while model.calls.load(Ordering::SeqCst) < parked {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1200),
            "only {} of {parked} runs reached the model in 20 minutes",
            model.calls.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let claimed_in = started.elapsed();
    // Let the allocator and the heartbeats settle before reading.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_mb();
    println!("  worker memory (a worker runtime in this process, the store's pools included)");
    let verdict = if after < 100.0 { "met" } else { "MISSED" };
    println!(
        "  {:<26} {after:.1} MB with {parked} runs parked on a slow model ({before:.1} MB before the worker started, +{:.1} KB per run; all claimed in {:.1} s)  target < 100 MB: {verdict}",
        "worker RSS",
        (after - before) * 1024.0 / parked as f64,
        claimed_in.as_secs_f64()
    );
    shutdown.cancel();
    worker.await.context("worker task")??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_run_once() {
        assert_eq!(chunks(10), vec![(1, 10)]);
        let all = chunks(2 * CHUNK + 3);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], (1, CHUNK));
        assert_eq!(all[2], (2 * CHUNK + 1, 2 * CHUNK + 3));
    }

    #[test]
    fn picks_stay_below_the_bound() {
        let mut p = Picks(7);
        assert!((0..1000).all(|_| p.below(13) < 13));
    }
}

//! `vigil bench cases`: alert ingest with grouping into cases, then the
//! related-cases read, through the store ports, compared in the same run
//! with the bare-insert baseline of `vigil bench store`.
//!
//! Alert `n` belongs to case `k = n % cases`: its source address (the
//! grouping key under the default rule) is case `k`'s own, and it names a
//! host and a user that case `k` shares with the three other cases of its
//! block of four (`k / 4`). So every case has three observables and shares
//! two of them with three other cases: `related_cases` finds three, each
//! scored 0.5. `--concurrency` writers ingest at once, then as many readers
//! ask `related_cases` for `--related-samples` cases spread over the lot.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use vigil_engine::case::{AlertEntity, CaseId, GroupingRule, NewAlert, ObservableType, Severity};
use vigil_engine::store::Store;

use crate::bench::{open_target, percentile};
use crate::config::Config;

const RULE: &str = "SSH brute force";
const SOURCE: &str = "bench";
/// Cases sharing a host and a user.
const BLOCK: usize = 4;

/// `vigil bench cases` options.
#[derive(Debug, clap::Args)]
pub struct CasesArgs {
    /// Alerts to ingest.
    #[arg(long, default_value_t = 100_000)]
    alerts: usize,
    /// Cases they group into (one source address each).
    #[arg(long, default_value_t = 10_000)]
    cases: usize,
    /// Concurrent writers (and concurrent baseline writers and related readers).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Cases whose related cases are read.
    #[arg(long, default_value_t = 1000)]
    related_samples: usize,
}

/// Case `k`'s entities: its own source address, its block's host and user.
fn entities(k: usize) -> [AlertEntity; 3] {
    let block = k / BLOCK;
    [
        AlertEntity {
            kind: ObservableType::Ip,
            value: format!("10.{}.{}.{}", (k >> 16) & 255, (k >> 8) & 255, k & 255),
        },
        AlertEntity {
            kind: ObservableType::Host,
            value: format!("ws-{block:05}"),
        },
        AlertEntity {
            kind: ObservableType::User,
            value: format!("svc-{block:05}"),
        },
    ]
}

/// The `n`th alert of case `k`, entities named explicitly and in the raw event.
fn alert(prefix: &str, rule: &str, n: usize, entities: [AlertEntity; 3]) -> NewAlert {
    let [ip, host, user] = entities;
    NewAlert {
        source: SOURCE.to_owned(),
        source_id: format!("{prefix}{n}"),
        rule: rule.to_owned(),
        severity: Severity::High,
        title: String::new(),
        observed_at: Utc::now(),
        raw: json!({
            "event": "sshd: authentication failure",
            "src_ip": ip.value,
            "host": host.value,
            "user": user.value,
            "attempts": 40 + n % 60,
        }),
        entities: vec![ip, host, user],
        traceparent: None,
    }
}

/// What the ingest phase produced.
struct Ingest {
    elapsed: Duration,
    /// Latencies of ingests that opened a case, and of those that linked.
    opened: Vec<Duration>,
    linked: Vec<Duration>,
    /// Each case's id by its index `k`.
    cases: Vec<Option<CaseId>>,
}

/// Ingests `alerts` alerts into `cases` cases with `concurrency` writers.
async fn ingest(
    store: &Arc<dyn Store>,
    alerts: usize,
    cases: usize,
    concurrency: usize,
    rules: &Arc<[GroupingRule]>,
) -> anyhow::Result<Ingest> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, next, rules) = (Arc::clone(store), Arc::clone(&next), Arc::clone(rules));
        tasks.spawn(async move {
            let (mut opened, mut linked, mut ids) = (Vec::new(), Vec::new(), Vec::new());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= alerts {
                    return anyhow::Ok((opened, linked, ids));
                }
                let k = n % cases;
                let t = Instant::now();
                let done = store
                    .ingest_alert(SOURCE, alert("alert-", RULE, n, entities(k)), &rules)
                    .await?;
                let took = t.elapsed();
                let case = done.case.context("a bench alert was left ungrouped")?;
                if done.case_created {
                    opened.push(took);
                    ids.push((k, case.id));
                } else {
                    linked.push(took);
                }
            }
        });
    }
    let mut result = Ingest {
        elapsed: Duration::ZERO,
        opened: Vec::new(),
        linked: Vec::with_capacity(alerts),
        cases: vec![None; cases.min(alerts)],
    };
    while let Some(done) = tasks.join_next().await {
        let (opened, linked, ids) = done.context("ingest task panicked")??;
        result.opened.extend(opened);
        result.linked.extend(linked);
        for (k, id) in ids {
            anyhow::ensure!(
                result.cases[k].replace(id).is_none(),
                "two cases were opened for one source address"
            );
        }
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

/// What the related phase produced.
struct Related {
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// Related cases found, over all queries.
    found: usize,
}

/// Asks `related_cases` for each of `sample` with `concurrency` readers.
async fn related(
    store: &Arc<dyn Store>,
    sample: Arc<[CaseId]>,
    concurrency: usize,
) -> anyhow::Result<Related> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, next, sample) = (Arc::clone(store), Arc::clone(&next), Arc::clone(&sample));
        tasks.spawn(async move {
            let (mut latencies, mut found) = (Vec::new(), 0);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = sample.get(n) else {
                    return anyhow::Ok((latencies, found));
                };
                let t = Instant::now();
                found += store.related_cases(*id).await?.len();
                latencies.push(t.elapsed());
            }
        });
    }
    let mut result = Related {
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(sample.len()),
        found: 0,
    };
    while let Some(done) = tasks.join_next().await {
        let (latencies, found) = done.context("related task panicked")??;
        result.latencies.extend(latencies);
        result.found += found;
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

/// `samples` cases spread evenly over `cases` (each taken again when
/// there are more samples than cases).
fn spread(cases: &[CaseId], samples: usize) -> Vec<CaseId> {
    (0..samples)
        .map(|i| {
            cases[if samples <= cases.len() {
                i * cases.len() / samples
            } else {
                i % cases.len()
            }]
        })
        .collect()
}

fn p50_p99(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort_unstable();
    (percentile(latencies, 0.50), percentile(latencies, 0.99))
}

/// Runs the benchmark and prints its figures.
pub async fn cases(config: &Config, args: CasesArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.alerts > 0 && args.cases > 0 && args.concurrency > 0 && args.related_samples > 0,
        "--alerts, --cases, --concurrency and --related-samples must be at least 1"
    );
    let (target, description) = open_target(config, args.concurrency).await?;
    let store = target.ports();
    let rules: Arc<[GroupingRule]> = Arc::new([GroupingRule::default_rule()]);

    println!("vigil bench cases");
    println!("  backend    {description}");
    println!(
        "  workload   {} alerts (source address, host, user) grouped by source address into {} cases, each sharing host and user with {} others; concurrency {}; related cases of {} cases",
        args.alerts,
        args.cases.min(args.alerts),
        BLOCK - 1,
        args.concurrency,
        args.related_samples
    );

    // Warm up connections and statement caches, under another rule and
    // values the measured cases never share.
    let warm_up = (args.alerts / 20).clamp(1, 50);
    for n in 0..warm_up {
        let values = [
            AlertEntity {
                kind: ObservableType::Ip,
                value: format!("198.51.100.{}", n % 256),
            },
            AlertEntity {
                kind: ObservableType::Host,
                value: format!("warm-up-{n}"),
            },
            AlertEntity {
                kind: ObservableType::User,
                value: format!("warm-up-{n}"),
            },
        ];
        store
            .ingest_alert(SOURCE, alert("warm-up-", "warm-up", n, values), &rules)
            .await?;
    }

    let baseline = target.baseline(args.alerts, args.concurrency).await?;
    let mut ingested = ingest(&store, args.alerts, args.cases, args.concurrency, &rules).await?;
    let cases: Vec<CaseId> = ingested.cases.iter().flatten().copied().collect();
    anyhow::ensure!(
        cases.len() == ingested.cases.len(),
        "{} of {} cases were opened",
        cases.len(),
        ingested.cases.len()
    );
    let sample = spread(&cases, args.related_samples);
    let mut related = related(&store, sample.into(), args.concurrency).await?;

    let alerts_per_sec = args.alerts as f64 / ingested.elapsed.as_secs_f64();
    println!(
        "  ingest     {} alerts in {:.3} s: {:.1} alerts/s, {} cases opened",
        args.alerts,
        ingested.elapsed.as_secs_f64(),
        alerts_per_sec,
        cases.len()
    );
    let mut all: Vec<Duration> = ingested
        .opened
        .iter()
        .chain(&ingested.linked)
        .copied()
        .collect();
    let (p50, p99) = p50_p99(&mut all);
    let (open50, open99) = p50_p99(&mut ingested.opened);
    let (link50, link99) = p50_p99(&mut ingested.linked);
    println!(
        "  grouping   p50 {p50:.2} ms, p99 {p99:.2} ms per ingest (opening a case p50 {open50:.2} ms, p99 {open99:.2} ms; linking p50 {link50:.2} ms, p99 {link99:.2} ms)"
    );
    let queries = related.latencies.len();
    let related_per_sec = queries as f64 / related.elapsed.as_secs_f64();
    let (rel50, rel99) = p50_p99(&mut related.latencies);
    println!(
        "  related    {queries} queries in {:.3} s: {related_per_sec:.1} queries/s, p50 {rel50:.2} ms, p99 {rel99:.2} ms, {:.1} related cases each",
        related.elapsed.as_secs_f64(),
        related.found as f64 / queries as f64
    );
    let mut base_latencies = baseline.latencies.clone();
    let (base50, base99) = p50_p99(&mut base_latencies);
    println!(
        "  baseline   {} single-row INSERT transactions in {:.3} s: {:.1} inserts/s (p50 {base50:.2} ms, p99 {base99:.2} ms)",
        baseline.events,
        baseline.elapsed.as_secs_f64(),
        baseline.events_per_sec(),
    );
    println!(
        "  ratio      {:.2} ingest (alerts/s over baseline inserts/s)",
        alerts_per_sec / baseline.events_per_sec()
    );
    println!(
        "  ratio      {:.2} related (related queries/s over baseline inserts/s)",
        related_per_sec / baseline.events_per_sec()
    );

    drop(store);
    target.cleanup().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_of_cases_shares_host_and_user_but_not_the_address() {
        let [ip0, host0, user0] = entities(0);
        let [ip3, host3, user3] = entities(3);
        let [_, host4, user4] = entities(4);
        assert_ne!(ip0, ip3);
        assert_eq!((&host0, &user0), (&host3, &user3));
        assert_ne!((&host0, &user0), (&host4, &user4));
        assert_eq!(entities(256 * 256 + 1)[0].value, "10.1.0.1");
    }

    #[test]
    fn samples_spread_over_the_cases_and_repeat_when_more() {
        let ids: Vec<CaseId> = (0..10).map(|_| CaseId::new_at(Utc::now())).collect();
        let few = spread(&ids, 5);
        assert_eq!(few, [ids[0], ids[2], ids[4], ids[6], ids[8]]);
        let many = spread(&ids, 25);
        assert_eq!(many.len(), 25);
        assert_eq!((many[10], many[24]), (ids[0], ids[4]));
    }
}

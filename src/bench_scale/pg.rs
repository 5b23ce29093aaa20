//! The seeding statements of PostgreSQL: `generate_series` cross the
//! template's row and events.

use super::*;

/// A UUID v7 of `ms` (milliseconds) whose random bits are `tag` and `g`.
fn id(ms: &str, tag: &str, g: &str) -> String {
    format!(
        "(substr(lpad(to_hex({ms}), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex({ms}), 12, '0'), 9, 4) \
         || '-7000-8{tag}-' || lpad(to_hex({g}), 12, '0'))::uuid"
    )
}

const COLUMNS: &str = "id, agent_id, prompt, requested_by, case_ref, idempotency_key, \
    request_digest, status, phase, lease_owner, lease_epoch, lease_expires_at, heartbeat_at, \
    attempt, last_seq, last_hash, waiting_on, result, result_raw, confidence, error, \
    model_turns, input_tokens, output_tokens, cost_usd, budget, created_at, started_at, \
    updated_at, finished_at, claims, not_before, lost_turns, mode, case_purpose, depth";

/// Finished runs `$2..=$3` created from `$1`, the template `$4`.
fn finished_runs() -> String {
    format!(
        "INSERT INTO investigations ({COLUMNS}) \
         SELECT s.id, 'agent-' || (s.g % {AGENTS}), t.prompt, 'analyst-' || (s.g % {REQUESTERS}), \
         NULL, NULL, t.request_digest, s.status, NULL, NULL, 1, NULL, s.created + interval '50 seconds', \
         1, t.last_seq, t.last_hash, NULL, \
         CASE WHEN s.status = 'completed' THEN t.result END, \
         CASE WHEN s.status = 'review_required' THEN 'not a result' END, \
         CASE WHEN s.status = 'completed' THEN t.confidence END, \
         CASE WHEN s.status IN ('failed', 'dead_lettered') THEN 'seeded failure' END, \
         t.model_turns, t.input_tokens, t.output_tokens, t.cost_usd, t.budget, s.created, \
         s.created + interval '1 second', s.created + interval '60 seconds', \
         s.created + interval '60 seconds', 1, NULL, 0, t.mode, t.case_purpose, 0 \
         FROM (SELECT g, created, {id} AS id, \
               CASE WHEN g % 100 < 90 THEN 'completed' WHEN g % 100 < 95 THEN 'failed' \
                    WHEN g % 100 < 98 THEN 'review_required' ELSE 'dead_lettered' END AS status \
               FROM (SELECT g, $1::timestamptz + g * interval '{SPACING_SECS} seconds' AS created \
                     FROM generate_series($2::bigint, $3::bigint) g) c) s \
         CROSS JOIN (SELECT * FROM investigations WHERE id = $4) t",
        id = id("(extract(epoch FROM created) * 1000)::bigint", "000", "g"),
    )
}

/// Every event of each finished run `$2..=$3`.
fn finished_events() -> String {
    format!(
        "INSERT INTO investigation_events (investigation_id, seq, kind, payload, actor, epoch, \
         created_at, prev_hash, hash) \
         SELECT {id}, e.seq, e.kind, e.payload, e.actor, e.epoch, \
         c.created + e.seq * interval '5 seconds', e.prev_hash, e.hash \
         FROM (SELECT g, $1::timestamptz + g * interval '{SPACING_SECS} seconds' AS created \
               FROM generate_series($2::bigint, $3::bigint) g) c \
         CROSS JOIN (SELECT * FROM investigation_events WHERE investigation_id = $4) e \
         ORDER BY c.g, e.seq",
        id = id(
            "(extract(epoch FROM c.created) * 1000)::bigint",
            "000",
            "c.g"
        ),
    )
}

/// A decided approval request for every tenth finished run `$2..=$3`.
fn finished_approvals() -> String {
    format!(
        "INSERT INTO approval_requests (id, investigation_id, tool_call_id, action, arguments, \
         rationale, status, created_at, expires_at, decided_by, decided_at, comment, mode) \
         SELECT {approval}, {inv}, 'call-1', 'isolate_host', '{{\"host\":\"web-01\"}}', \
         'Contain the host.', 'approved', c.created + interval '5 seconds', \
         c.created + interval '1 hour', 'approver-1', c.created + interval '30 seconds', NULL, 'real' \
         FROM (SELECT g, $1::timestamptz + g * interval '{SPACING_SECS} seconds' AS created \
               FROM generate_series($2::bigint, $3::bigint) g WHERE g % 10 = 0) c \
         WHERE $4::uuid IS NOT NULL",
        approval = id(
            "(extract(epoch FROM c.created) * 1000)::bigint",
            "002",
            "c.g"
        ),
        inv = id(
            "(extract(epoch FROM c.created) * 1000)::bigint",
            "000",
            "c.g"
        ),
    )
}

/// The active runs `1..=$2` created from `$1` every `$3` µs, kind by
/// `k % 10`: queued (0-3), running (4-7), awaiting approval (8, 9);
/// leases and approvals run out at `$5`, the template `$4`.
fn active_runs() -> String {
    format!(
        "INSERT INTO investigations ({COLUMNS}) \
         SELECT s.id, 'agent-' || (s.k % {AGENTS}), t.prompt, 'analyst-' || (s.k % {REQUESTERS}), \
         NULL, NULL, t.request_digest, 'pending', s.phase, \
         CASE WHEN s.phase = 'running' THEN 'seed-worker' END, \
         CASE WHEN s.phase = 'queued' THEN 0 ELSE 1 END, \
         CASE WHEN s.phase = 'running' THEN $5::timestamptz END, \
         CASE WHEN s.phase = 'running' THEN s.created + interval '2 seconds' END, \
         CASE WHEN s.phase = 'queued' THEN 0 ELSE 1 END, s.last_seq, \
         (SELECT hash FROM investigation_events WHERE investigation_id = $4 AND seq = s.last_seq), \
         CASE WHEN s.phase = 'awaiting_approval' THEN {approval} END, \
         NULL, NULL, NULL, NULL, 0, 0, 0, 0, t.budget, s.created, \
         CASE WHEN s.phase = 'queued' THEN NULL ELSE s.created + interval '1 second' END, \
         s.created + interval '2 seconds', NULL, \
         CASE WHEN s.phase = 'queued' THEN 0 ELSE 1 END, NULL, 0, \
         CASE WHEN s.phase = 'queued' THEN NULL ELSE t.mode END, t.case_purpose, 0 \
         FROM (SELECT k, created, ms, {inv} AS id, \
               CASE WHEN k % 10 < 4 THEN 'queued' WHEN k % 10 < 8 THEN 'running' \
                    ELSE 'awaiting_approval' END AS phase, \
               CASE WHEN k % 10 < 4 THEN 1 WHEN k % 10 < 8 THEN 2 ELSE 4 END AS last_seq \
               FROM (SELECT k, created, (extract(epoch FROM created) * 1000)::bigint AS ms \
                     FROM (SELECT k, $1::timestamptz + k * $3::bigint * interval '1 microsecond' AS created \
                           FROM generate_series(1::bigint, $2::bigint) k) a) b) s \
         CROSS JOIN (SELECT * FROM investigations WHERE id = $4) t",
        inv = id("ms", "001", "k"),
        approval = id("s.ms", "003", "s.k"),
    )
}

const ACTIVE_EVENTS: &str = "INSERT INTO investigation_events (investigation_id, seq, kind, \
     payload, actor, epoch, created_at, prev_hash, hash) \
     SELECT i.id, e.seq, e.kind, e.payload, e.actor, e.epoch, \
     i.created_at + e.seq * interval '1 second', e.prev_hash, e.hash \
     FROM investigations i JOIN investigation_events e \
     ON e.investigation_id = $1 AND e.seq <= i.last_seq \
     WHERE i.status = 'pending' AND i.id <> $1 ORDER BY i.id, e.seq";

/// A pending request for each run parked on approval.
fn active_approvals() -> &'static str {
    "INSERT INTO approval_requests (id, investigation_id, tool_call_id, action, arguments, \
     rationale, status, created_at, expires_at, mode) \
     SELECT waiting_on, id, 'call-1', 'isolate_host', '{\"host\":\"web-01\"}', \
     'Contain the host.', 'pending', created_at + interval '2 seconds', \
     $1::timestamptz + (extract(epoch FROM created_at) * 1000)::bigint % 3600000 * interval '1 millisecond', \
     'real' FROM investigations WHERE phase = 'awaiting_approval'"
}

pub(super) async fn seed(pool: &sqlx::PgPool, seed: &Seed) -> anyhow::Result<()> {
    let template = seed.template.0;
    let (runs, events, approvals) = (finished_runs(), finished_events(), finished_approvals());
    // Two chunks at a time: one per core of a small machine.
    let pending = chunks(seed.finished);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let (pool, next, pending) = (pool.clone(), next.clone(), pending.clone());
        let (runs, events, approvals) = (runs.clone(), events.clone(), approvals.clone());
        let from = seed.finished_from;
        tasks.spawn(async move {
            while let Some(&(lo, hi)) = pending.get(next.fetch_add(1, Ordering::SeqCst)) {
                let mut tx = pool.begin().await?;
                for sql in [&runs, &events, &approvals] {
                    sqlx::query(AssertSqlSafe(sql.clone()))
                        .bind(from)
                        .bind(lo as i64)
                        .bind(hi as i64)
                        .bind(template)
                        .execute(&mut *tx)
                        .await
                        .with_context(|| format!("seeding runs {lo}..={hi}"))?;
                }
                tx.commit().await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("seeding task")??;
    }
    let mut tx = pool.begin().await?;
    sqlx::query(AssertSqlSafe(active_runs()))
        .bind(seed.active_from)
        .bind(seed.active as i64)
        .bind(seed.active_spacing_micros())
        .bind(template)
        .bind(seed.now + ChronoDuration::days(1))
        .execute(&mut *tx)
        .await
        .context("seeding active runs")?;
    sqlx::query(ACTIVE_EVENTS)
        .bind(template)
        .execute(&mut *tx)
        .await
        .context("seeding active events")?;
    sqlx::query(active_approvals())
        .bind(seed.now + ChronoDuration::days(1))
        .execute(&mut *tx)
        .await
        .context("seeding pending approvals")?;
    tx.commit().await?;
    Ok(())
}

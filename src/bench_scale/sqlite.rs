//! The seeding statements of SQLite: a recursive CTE cross the template's
//! row and events, one transaction per chunk on the store's writer.

use super::*;

/// A UUID v7 of `ms` (milliseconds) whose random bits are `tag` and `g`.
fn id(ms: &str, tag: &str, g: &str) -> String {
    format!("printf('%08x-%04x-7000-8{tag}-%012x', ({ms}) >> 16, ({ms}) & 65535, {g})")
}

const COLUMNS: &str = "id, agent_id, prompt, requested_by, case_ref, idempotency_key, \
    request_digest, status, phase, lease_owner, lease_epoch, lease_expires_at, heartbeat_at, \
    attempt, last_seq, last_hash, waiting_on, result, result_raw, confidence, error, \
    model_turns, input_tokens, output_tokens, cost_usd, budget, created_at, started_at, \
    updated_at, finished_at, claims, not_before, lost_turns, mode, case_purpose, depth";

/// `g` from `?2` to `?3`, created at `?1 + g * spacing` (µs).
fn series(filter: &str) -> String {
    format!(
        "WITH RECURSIVE n(g) AS (SELECT ?2 UNION ALL SELECT g + 1 FROM n WHERE g < ?3), \
         c AS (SELECT g, ?1 + g * {spacing} AS created FROM n {filter})",
        spacing = SPACING_SECS * 1_000_000
    )
}

fn finished_runs() -> String {
    format!(
        "{series} INSERT INTO investigations ({COLUMNS}) \
         SELECT {id}, 'agent-' || (c.g % {AGENTS}), t.prompt, 'analyst-' || (c.g % {REQUESTERS}), \
         NULL, NULL, t.request_digest, s.status, NULL, NULL, 1, NULL, c.created + 50000000, \
         1, t.last_seq, t.last_hash, NULL, \
         CASE WHEN s.status = 'completed' THEN t.result END, \
         CASE WHEN s.status = 'review_required' THEN 'not a result' END, \
         CASE WHEN s.status = 'completed' THEN t.confidence END, \
         CASE WHEN s.status IN ('failed', 'dead_lettered') THEN 'seeded failure' END, \
         t.model_turns, t.input_tokens, t.output_tokens, t.cost_usd, t.budget, c.created, \
         c.created + 1000000, c.created + 60000000, c.created + 60000000, 1, NULL, 0, t.mode, \
         t.case_purpose, 0 \
         FROM c JOIN (SELECT g, CASE WHEN g % 100 < 90 THEN 'completed' \
               WHEN g % 100 < 95 THEN 'failed' WHEN g % 100 < 98 THEN 'review_required' \
               ELSE 'dead_lettered' END AS status FROM c) s ON s.g = c.g \
         CROSS JOIN (SELECT * FROM investigations WHERE id = ?4) t ORDER BY c.g",
        series = series(""),
        id = id("c.created / 1000", "000", "c.g"),
    )
}

fn finished_events() -> String {
    format!(
        "{series} INSERT INTO investigation_events (investigation_id, seq, kind, payload, actor, \
         epoch, created_at, prev_hash, hash) \
         SELECT {id}, e.seq, e.kind, e.payload, e.actor, e.epoch, c.created + e.seq * 5000000, \
         e.prev_hash, e.hash FROM c \
         CROSS JOIN (SELECT * FROM investigation_events WHERE investigation_id = ?4) e \
         ORDER BY c.g, e.seq",
        series = series(""),
        id = id("c.created / 1000", "000", "c.g"),
    )
}

fn finished_approvals() -> String {
    format!(
        "{series} INSERT INTO approval_requests (id, investigation_id, tool_call_id, action, \
         arguments, rationale, status, created_at, expires_at, decided_by, decided_at, comment, \
         mode) SELECT {approval}, {inv}, 'call-1', 'isolate_host', '{{\"host\":\"web-01\"}}', \
         'Contain the host.', 'approved', c.created + 5000000, c.created + 3600000000, \
         'approver-1', c.created + 30000000, NULL, 'real' FROM c WHERE ?4 IS NOT NULL",
        series = series("WHERE g % 10 = 0"),
        approval = id("c.created / 1000", "002", "c.g"),
        inv = id("c.created / 1000", "000", "c.g"),
    )
}

/// As the PostgreSQL statement: `k` in `1..=?2` from `?1` every `?3` µs,
/// template `?4`, leases run out at `?5`.
fn active_runs() -> String {
    format!(
        "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?2), \
         s AS (SELECT k, ?1 + k * ?3 AS created, \
               CASE WHEN k % 10 < 4 THEN 'queued' WHEN k % 10 < 8 THEN 'running' \
                    ELSE 'awaiting_approval' END AS phase, \
               CASE WHEN k % 10 < 4 THEN 1 WHEN k % 10 < 8 THEN 2 ELSE 4 END AS last_seq FROM n) \
         INSERT INTO investigations ({COLUMNS}) \
         SELECT {inv}, 'agent-' || (s.k % {AGENTS}), t.prompt, 'analyst-' || (s.k % {REQUESTERS}), \
         NULL, NULL, t.request_digest, 'pending', s.phase, \
         CASE WHEN s.phase = 'running' THEN 'seed-worker' END, \
         CASE WHEN s.phase = 'queued' THEN 0 ELSE 1 END, \
         CASE WHEN s.phase = 'running' THEN ?5 END, \
         CASE WHEN s.phase = 'running' THEN s.created + 2000000 END, \
         CASE WHEN s.phase = 'queued' THEN 0 ELSE 1 END, s.last_seq, \
         (SELECT hash FROM investigation_events WHERE investigation_id = ?4 AND seq = s.last_seq), \
         CASE WHEN s.phase = 'awaiting_approval' THEN {approval} END, \
         NULL, NULL, NULL, NULL, 0, 0, 0, 0, t.budget, s.created, \
         CASE WHEN s.phase = 'queued' THEN NULL ELSE s.created + 1000000 END, \
         s.created + 2000000, NULL, CASE WHEN s.phase = 'queued' THEN 0 ELSE 1 END, NULL, 0, \
         CASE WHEN s.phase = 'queued' THEN NULL ELSE t.mode END, t.case_purpose, 0 \
         FROM s CROSS JOIN (SELECT * FROM investigations WHERE id = ?4) t ORDER BY s.k",
        inv = id("s.created / 1000", "001", "s.k"),
        approval = id("s.created / 1000", "003", "s.k"),
    )
}

const ACTIVE_EVENTS: &str = "INSERT INTO investigation_events (investigation_id, seq, kind, \
     payload, actor, epoch, created_at, prev_hash, hash) \
     SELECT i.id, e.seq, e.kind, e.payload, e.actor, e.epoch, i.created_at + e.seq * 1000000, \
     e.prev_hash, e.hash FROM investigations i JOIN investigation_events e \
     ON e.investigation_id = ?1 AND e.seq <= i.last_seq \
     WHERE i.status = 'pending' AND i.id <> ?1 ORDER BY i.id, e.seq";

const ACTIVE_APPROVALS: &str = "INSERT INTO approval_requests (id, investigation_id, \
     tool_call_id, action, arguments, rationale, status, created_at, expires_at, mode) \
     SELECT waiting_on, id, 'call-1', 'isolate_host', '{\"host\":\"web-01\"}', \
     'Contain the host.', 'pending', created_at + 2000000, \
     ?1 + (created_at / 1000) % 3600000 * 1000, 'real' \
     FROM investigations WHERE phase = 'awaiting_approval'";

pub(super) async fn seed(pool: &sqlx::SqlitePool, seed: &Seed) -> anyhow::Result<()> {
    let template = seed.template.0.to_string();
    let from = seed.finished_from.timestamp_micros();
    for (lo, hi) in chunks(seed.finished) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for sql in [finished_runs(), finished_events(), finished_approvals()] {
            sqlx::query(AssertSqlSafe(sql))
                .bind(from)
                .bind(lo as i64)
                .bind(hi as i64)
                .bind(&template)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("seeding runs {lo}..={hi}"))?;
        }
        tx.commit().await?;
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(AssertSqlSafe(active_runs()))
        .bind(seed.active_from.timestamp_micros())
        .bind(seed.active as i64)
        .bind(seed.active_spacing_micros())
        .bind(&template)
        .bind((seed.now + ChronoDuration::days(1)).timestamp_micros())
        .execute(&mut *tx)
        .await
        .context("seeding active runs")?;
    sqlx::query(ACTIVE_EVENTS)
        .bind(&template)
        .execute(&mut *tx)
        .await
        .context("seeding active events")?;
    sqlx::query(ACTIVE_APPROVALS)
        .bind((seed.now + ChronoDuration::days(1)).timestamp_micros())
        .execute(&mut *tx)
        .await
        .context("seeding pending approvals")?;
    tx.commit().await?;
    Ok(())
}

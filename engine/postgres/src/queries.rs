//! Every SQL statement of the PostgreSQL store, one named constant each. The
//! SQLite store uses the same names for the same statements.

use vigil_engine::log::LogName;

macro_rules! investigation_columns {
    () => {
        "id, agent_id, prompt, requested_by, case_ref, idempotency_key, status, phase, \
         lease_owner, lease_epoch, lease_expires_at, heartbeat_at, attempt, last_seq, last_hash, \
         waiting_on, result, result_raw, confidence, error, model_turns, input_tokens, \
         output_tokens, cost_usd, budget, created_at, started_at, updated_at, finished_at, claims, not_before, \
         lost_turns, mode, case_id, case_purpose, traceparent, segment_traceparent, \
         parent_id, parent_call_id, depth"
    };
}

macro_rules! approval_columns {
    () => {
        "id, investigation_id, tool_call_id, action, arguments, rationale, status, created_at, \
         expires_at, decided_by, decided_at, comment, mode"
    };
}

pub const GET_INVESTIGATION: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE id = $1"
);

pub const LOCK_INVESTIGATION: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE id = $1 FOR UPDATE"
);

pub const FIND_IDEMPOTENT: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    ", request_digest FROM investigations WHERE requested_by = $1 AND idempotency_key = $2"
);

pub const NEXT_QUEUED_ANY: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE status = 'pending' AND phase = 'queued' \
     AND (not_before IS NULL OR not_before <= $1) \
     ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED"
);

pub const NEXT_QUEUED_FOR_AGENTS: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE status = 'pending' AND phase = 'queued' \
     AND agent_id = ANY($1) AND (not_before IS NULL OR not_before <= $2) \
     ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED"
);

/// Whether a queued, due investigation exists (any agent): `$1` now.
pub const HAS_QUEUED_ANY: &str = "SELECT EXISTS (SELECT 1 FROM investigations \
     WHERE status = 'pending' AND phase = 'queued' AND (not_before IS NULL OR not_before <= $1))";

/// As [`HAS_QUEUED_ANY`] for the agents `$1`; `$2` now.
pub const HAS_QUEUED_FOR_AGENTS: &str = "SELECT EXISTS (SELECT 1 FROM investigations \
     WHERE status = 'pending' AND phase = 'queued' AND agent_id = ANY($1) \
     AND (not_before IS NULL OR not_before <= $2))";

pub const EXPIRED_LEASES: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE status = 'pending' AND phase = 'running' \
     AND lease_expires_at <= $1 ORDER BY lease_expires_at, id LIMIT $2 FOR UPDATE SKIP LOCKED"
);

/// Locks the investigations of due requests (not the requests: every change
/// to a request happens under its investigation's lock).
pub const DUE_APPROVALS: &str = "SELECT a.id, a.investigation_id, a.tool_call_id, a.action, \
     a.arguments, a.rationale, a.status, a.created_at, a.expires_at, a.decided_by, \
     a.decided_at, a.comment, a.mode FROM approval_requests a \
     JOIN investigations i ON i.id = a.investigation_id \
     WHERE a.status = 'pending' AND a.expires_at <= $1 \
     ORDER BY a.expires_at, a.id LIMIT $2 FOR UPDATE OF i SKIP LOCKED";

pub const GET_APPROVAL: &str = concat!(
    "SELECT ",
    approval_columns!(),
    " FROM approval_requests WHERE id = $1"
);

/// Followed by optional filters and [`LIST_APPROVALS_ORDER`].
pub const LIST_APPROVALS: &str = concat!(
    "SELECT ",
    approval_columns!(),
    " FROM approval_requests WHERE 1 = 1"
);
pub const LIST_APPROVALS_ORDER: &str =
    " ORDER BY CASE status WHEN 'pending' THEN 0 ELSE 1 END, expires_at, id LIMIT ";

/// Followed by optional filters, the keyset condition and [`LIST_ORDER`].
pub const LIST_INVESTIGATIONS: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE 1 = 1"
);
pub const LIST_ORDER: &str = " ORDER BY created_at DESC, id DESC LIMIT ";

/// Binds like [`UPDATE_INVESTIGATION`] for `1`..`26`, then the columns that
/// never change: agent, prompt, requester, case, key, budget, creation time
/// and request digest (`27`..`34`).
pub const INSERT_INVESTIGATION: &str = "INSERT INTO investigations (id, status, phase, \
     lease_owner, lease_epoch, lease_expires_at, heartbeat_at, attempt, last_seq, last_hash, \
     waiting_on, result, result_raw, confidence, error, model_turns, input_tokens, \
     output_tokens, cost_usd, started_at, updated_at, finished_at, claims, not_before, lost_turns, mode, agent_id, prompt, \
     requested_by, case_ref, idempotency_key, budget, created_at, request_digest, traceparent) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
     $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35) \
     ON CONFLICT (requested_by, idempotency_key) DO NOTHING";

/// Links a just-inserted investigation to the one that delegated it (the
/// dispatch transaction; the link never changes).
pub const LINK_INVESTIGATION_PARENT: &str = "UPDATE investigations \
     SET parent_id = $2, parent_call_id = $3, depth = $4 WHERE id = $1 AND parent_id IS NULL";

/// A parent's children, oldest first.
pub const CHILDREN: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE parent_id = $1 ORDER BY created_at, id"
);

/// Each of a parent's children and its status.
pub const CHILD_STATUSES: &str =
    "SELECT id, status FROM investigations WHERE parent_id = $1 ORDER BY created_at, id";

/// Links a just-inserted investigation to its case (the dispatch
/// transaction; the link never changes).
pub const LINK_INVESTIGATION_CASE: &str =
    "UPDATE investigations SET case_id = $2, case_purpose = $3 WHERE id = $1 AND case_id IS NULL";

pub const UPDATE_INVESTIGATION: &str = "UPDATE investigations SET status = $2, phase = $3, \
     lease_owner = $4, lease_epoch = $5, lease_expires_at = $6, heartbeat_at = $7, attempt = $8, \
     last_seq = $9, last_hash = $10, waiting_on = $11, result = $12, result_raw = $13, \
     confidence = $14, error = $15, model_turns = $16, input_tokens = $17, output_tokens = $18, \
     cost_usd = $19, started_at = $20, updated_at = $21, finished_at = $22, claims = $23, not_before = $24, lost_turns = $25, mode = $26 WHERE id = $1";

/// Appends log entries to `$table` (id column `$id`) from one array
/// parameter per column, starting at `$a`, in seq order.
macro_rules! unnest_entries {
    ($table:literal, $id:literal, $a:literal, $b:literal, $c:literal, $d:literal, $e:literal, $f:literal, $g:literal, $h:literal, $i:literal) => {
        concat!(
            "INSERT INTO ",
            $table,
            " (",
            $id,
            ", seq, kind, payload, actor, epoch, created_at, prev_hash, hash) \
             SELECT e.aggregate_id, e.seq, e.kind, e.payload::json, e.actor, e.epoch, \
             e.created_at, e.prev_hash, e.hash FROM UNNEST(",
            $a,
            "::uuid[], ",
            $b,
            "::bigint[], ",
            $c,
            "::text[], ",
            $d,
            "::text[], ",
            $e,
            "::text[], ",
            $f,
            "::bigint[], ",
            $g,
            "::timestamptz[], ",
            $h,
            "::text[], ",
            $i,
            "::text[]) AS e(aggregate_id, seq, kind, payload, actor, epoch, created_at, \
             prev_hash, hash)"
        )
    };
}

/// [`unnest_entries`] into `investigation_events`.
macro_rules! unnest_events {
    ($($arg:literal),+) => {
        unnest_entries!("investigation_events", "investigation_id", $($arg),+)
    };
}

/// One statement: [`UPDATE_INVESTIGATION`] only if the row still has the
/// `last_seq` (`$27`), `lease_epoch` (`$28`), `lease_expires_at` (`$29`) and
/// `heartbeat_at` (`$30`) it was read with, and the events (`$31`..`$39`)
/// only if it was updated.
/// Returns the number of rows updated (0 or 1).
pub const UPDATE_INVESTIGATION_AND_APPEND_IF_UNCHANGED: &str = concat!(
    "WITH updated AS (UPDATE investigations SET status = $2, phase = $3, lease_owner = $4, \
     lease_epoch = $5, lease_expires_at = $6, heartbeat_at = $7, attempt = $8, last_seq = $9, \
     last_hash = $10, waiting_on = $11, result = $12, result_raw = $13, confidence = $14, \
     error = $15, model_turns = $16, input_tokens = $17, output_tokens = $18, cost_usd = $19, \
     started_at = $20, updated_at = $21, finished_at = $22, claims = $23, not_before = $24, lost_turns = $25, mode = $26 WHERE id = $1 AND last_seq = $27 \
     AND lease_epoch = $28 AND lease_expires_at IS NOT DISTINCT FROM $29 \
     AND heartbeat_at IS NOT DISTINCT FROM $30 RETURNING id), appended AS (",
    unnest_events!(
        "$31", "$32", "$33", "$34", "$35", "$36", "$37", "$38", "$39"
    ),
    " WHERE EXISTS (SELECT 1 FROM updated) RETURNING 1) SELECT count(*) FROM updated"
);

/// One statement for a batch of fenced writes: every row of the batch
/// (`$1`..`$26` as arrays, one element per write, in the columns of
/// [`UPDATE_INVESTIGATION_AND_APPEND_IF_UNCHANGED`]) is updated only if it
/// still has its `last_seq` (`$27`), `lease_epoch` (`$28`),
/// `lease_expires_at` (`$29`) and `heartbeat_at` (`$30`); the events of
/// every write (`$31`..`$39`) are appended only for the rows that were
/// updated. Returns the ids of the updated rows.
pub const UPDATE_BATCH_AND_APPEND_IF_UNCHANGED: &str = concat!(
    "WITH v AS (SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], \
     $5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::integer[], $9::bigint[], \
     $10::text[], $11::uuid[], $12::jsonb[], $13::text[], $14::float8[], $15::text[], \
     $16::bigint[], $17::bigint[], $18::bigint[], $19::float8[], $20::timestamptz[], \
     $21::timestamptz[], $22::timestamptz[], $23::integer[], $24::timestamptz[], $25::bigint[], \
     $26::text[], $27::bigint[], $28::bigint[], $29::timestamptz[], $30::timestamptz[]) \
     AS v(id, status, phase, lease_owner, lease_epoch, lease_expires_at, heartbeat_at, attempt, \
     last_seq, last_hash, waiting_on, result, result_raw, confidence, error, model_turns, \
     input_tokens, output_tokens, cost_usd, started_at, updated_at, finished_at, claims, \
     not_before, lost_turns, mode, before_seq, before_epoch, before_expires_at, \
     before_heartbeat_at)), \
     updated AS (UPDATE investigations i SET status = v.status, phase = v.phase, \
     lease_owner = v.lease_owner, lease_epoch = v.lease_epoch, \
     lease_expires_at = v.lease_expires_at, heartbeat_at = v.heartbeat_at, attempt = v.attempt, \
     last_seq = v.last_seq, last_hash = v.last_hash, waiting_on = v.waiting_on, \
     result = v.result, result_raw = v.result_raw, confidence = v.confidence, error = v.error, \
     model_turns = v.model_turns, input_tokens = v.input_tokens, \
     output_tokens = v.output_tokens, cost_usd = v.cost_usd, started_at = v.started_at, \
     updated_at = v.updated_at, finished_at = v.finished_at, claims = v.claims, \
     not_before = v.not_before, lost_turns = v.lost_turns, mode = v.mode FROM v \
     WHERE i.id = v.id AND i.last_seq = v.before_seq AND i.lease_epoch = v.before_epoch \
     AND i.lease_expires_at IS NOT DISTINCT FROM v.before_expires_at \
     AND i.heartbeat_at IS NOT DISTINCT FROM v.before_heartbeat_at RETURNING i.id), \
     appended AS (",
    unnest_events!(
        "$31", "$32", "$33", "$34", "$35", "$36", "$37", "$38", "$39"
    ),
    " WHERE e.aggregate_id IN (SELECT id FROM updated) RETURNING 1) SELECT id FROM updated"
);

/// As above for [`UPDATE_PROGRESS`]: compare on `$10`..`$13`, events `$14`..`$22`.
pub const UPDATE_PROGRESS_AND_APPEND_IF_UNCHANGED: &str = concat!(
    "WITH updated AS (UPDATE investigations SET last_seq = $2, last_hash = $3, updated_at = $4, \
     model_turns = $5, input_tokens = $6, output_tokens = $7, cost_usd = $8, lost_turns = $9 WHERE id = $1 \
     AND last_seq = $10 AND lease_epoch = $11 AND lease_expires_at IS NOT DISTINCT FROM $12 \
     AND heartbeat_at IS NOT DISTINCT FROM $13 RETURNING id), appended AS (",
    unnest_events!(
        "$14", "$15", "$16", "$17", "$18", "$19", "$20", "$21", "$22"
    ),
    " WHERE EXISTS (SELECT 1 FROM updated) RETURNING 1) SELECT count(*) FROM updated"
);

/// One statement: [`UPDATE_INVESTIGATION`] and the events (`$27`..`$35`).
pub const UPDATE_INVESTIGATION_AND_APPEND: &str = concat!(
    "WITH updated AS (UPDATE investigations SET status = $2, phase = $3, lease_owner = $4, \
     lease_epoch = $5, lease_expires_at = $6, heartbeat_at = $7, attempt = $8, last_seq = $9, \
     last_hash = $10, waiting_on = $11, result = $12, result_raw = $13, confidence = $14, \
     error = $15, model_turns = $16, input_tokens = $17, output_tokens = $18, cost_usd = $19, \
     started_at = $20, updated_at = $21, finished_at = $22, claims = $23, not_before = $24, lost_turns = $25, mode = $26 WHERE id = $1 RETURNING id) ",
    unnest_events!(
        "$27", "$28", "$29", "$30", "$31", "$32", "$33", "$34", "$35"
    )
);

/// One statement: [`UPDATE_PROGRESS`] and the events (`$10`..`$18`).
pub const UPDATE_PROGRESS_AND_APPEND: &str = concat!(
    "WITH updated AS (UPDATE investigations SET last_seq = $2, last_hash = $3, updated_at = $4, \
     model_turns = $5, input_tokens = $6, output_tokens = $7, cost_usd = $8, lost_turns = $9 WHERE id = $1 \
     RETURNING id) ",
    unnest_events!(
        "$10", "$11", "$12", "$13", "$14", "$15", "$16", "$17", "$18"
    )
);

/// One statement: [`INSERT_INVESTIGATION`] and, only if it inserted, the
/// events (`$35`..`$43`). Returns the number of investigations inserted.
pub const INSERT_INVESTIGATION_AND_APPEND: &str = concat!(
    "WITH inserted AS (INSERT INTO investigations (id, status, phase, \
     lease_owner, lease_epoch, lease_expires_at, heartbeat_at, attempt, last_seq, last_hash, \
     waiting_on, result, result_raw, confidence, error, model_turns, input_tokens, \
     output_tokens, cost_usd, started_at, updated_at, finished_at, claims, not_before, lost_turns, mode, agent_id, prompt, \
     requested_by, case_ref, idempotency_key, budget, created_at, request_digest, traceparent) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
     $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $44) \
     ON CONFLICT (requested_by, idempotency_key) DO NOTHING RETURNING id), appended AS (",
    unnest_events!(
        "$35", "$36", "$37", "$38", "$39", "$40", "$41", "$42", "$43"
    ),
    " WHERE EXISTS (SELECT 1 FROM inserted) RETURNING 1) SELECT count(*) FROM inserted"
);

/// A checkpoint's update: the log tail and the usage counters, nothing indexed.
pub const UPDATE_PROGRESS: &str = "UPDATE investigations SET last_seq = $2, last_hash = $3, \
     updated_at = $4, model_turns = $5, input_tokens = $6, output_tokens = $7, cost_usd = $8, lost_turns = $9 \
     WHERE id = $1";

/// The two statements of one log table (see `vigil_engine::log`).
pub struct LogSql {
    /// Appends a batch of entries: one array per column (`$1`..`$9`: id,
    /// seq, kind, payload, actor, epoch, created_at, prev_hash, hash),
    /// unnested in seq order.
    pub insert: &'static str,
    /// Entries of `$1` after seq `$2`, in seq order, at most `$3`, with the
    /// id column named `aggregate_id` and `payload` read back as the exact
    /// text that was written.
    pub after: &'static str,
}

macro_rules! log_sql {
    ($table:literal, $id:literal) => {
        LogSql {
            insert: unnest_entries!(
                $table, $id, "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9"
            ),
            after: concat!(
                "SELECT ",
                $id,
                " AS aggregate_id, seq, kind, payload::text AS payload, actor, epoch, \
                 created_at, prev_hash, hash FROM ",
                $table,
                " WHERE ",
                $id,
                " = $1 AND seq > $2 ORDER BY seq LIMIT $3"
            ),
        }
    };
}

/// The table behind each log.
pub fn log_sql(log: LogName) -> &'static LogSql {
    const INVESTIGATION: LogSql = log_sql!("investigation_events", "investigation_id");
    const CASE: LogSql = log_sql!("case_events", "case_id");
    match log {
        LogName::Investigation => &INVESTIGATION,
        LogName::Case => &CASE,
    }
}

pub const INSERT_APPROVAL: &str = concat!(
    "INSERT INTO approval_requests (",
    approval_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

pub const RESOLVE_APPROVAL: &str = "UPDATE approval_requests SET status = $2, decided_by = $3, \
     decided_at = $4, comment = $5 WHERE id = $1 AND status = 'pending'";

pub const NOTIFY: &str = "SELECT pg_notify($1, $2)";

pub const PING: &str = "SELECT 1";

/// Records the trace context of a running segment, only under its lease
/// (`lease_epoch` still the one it claimed with, the run still running).
pub const RECORD_SEGMENT: &str = "UPDATE investigations SET segment_traceparent = $3 \
     WHERE id = $1 AND lease_epoch = $2 AND phase = 'running'";

/// Investigations per (status, phase): the live ones counted from the
/// `investigations_live_phase` partial index, the finished ones from the
/// counts and deltas the triggers of migration 0014 keep, in one snapshot.
/// A status whose count is zero has no row.
pub const STATE_COUNTS: &str = "SELECT 'pending' AS status, phase, count(*) AS count \
     FROM investigations WHERE status = 'pending' GROUP BY phase \
     UNION ALL SELECT status, NULL AS phase, sum(n)::bigint AS count FROM \
     (SELECT status, count AS n FROM investigation_finished_counts \
      UNION ALL SELECT status, delta FROM investigation_finished_deltas) finished \
     GROUP BY status HAVING sum(n) <> 0";

/// How many approval requests are pending, and when the oldest was created.
pub const PENDING_APPROVALS: &str = "SELECT count(*) AS count, min(created_at) AS oldest \
     FROM approval_requests WHERE status = 'pending'";

macro_rules! token_columns {
    () => {
        "t.id, t.principal, p.roles, t.token_hash, t.created_at, t.revoked_at \
         FROM api_tokens t JOIN principals p ON p.name = t.principal"
    };
}

pub const GET_TOKEN: &str = concat!("SELECT ", token_columns!(), " WHERE t.id = $1");

pub const LOCK_TOKEN: &str = concat!(
    "SELECT ",
    token_columns!(),
    " WHERE t.id = $1 FOR UPDATE OF t"
);

/// Text ties are broken bytewise (`COLLATE "C"`), as SQLite does.
pub const LIST_TOKENS: &str = concat!(
    "SELECT ",
    token_columns!(),
    " ORDER BY t.created_at, t.id COLLATE \"C\""
);

/// What every INSERT or UPDATE takes anyway, taken first: conflicts only
/// with [`LOCK_TOKENS_EXCLUSIVE`].
pub const LOCK_TOKENS_WRITE: &str = "LOCK TABLE api_tokens IN ROW EXCLUSIVE MODE";

/// Conflicts with itself and with every INSERT, UPDATE and DELETE on the
/// table, not with reads: token writers queue behind the holder.
pub const LOCK_TOKENS_EXCLUSIVE: &str = "LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE";

pub const HAS_ACTIVE_TOKEN: &str =
    "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE revoked_at IS NULL)";

pub const LOCK_PRINCIPAL: &str = "SELECT roles FROM principals WHERE name = $1 FOR UPDATE";

pub const INSERT_PRINCIPAL: &str = "INSERT INTO principals (name, roles, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

pub const INSERT_TOKEN: &str = "INSERT INTO api_tokens (id, principal, token_hash, created_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING";

pub const REVOKE_TOKEN: &str =
    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";

macro_rules! delivery_columns {
    () => {
        "approval_id, target, status, attempts, next_attempt_at, last_status, last_error, \
         created_at, updated_at, delivered_at"
    };
}

/// One target (`$1`) for every pending approval request without a delivery
/// to it; due, created and updated at `$2`.
pub const ENQUEUE_DELIVERIES: &str = "INSERT INTO webhook_deliveries (approval_id, target, \
     status, attempts, next_attempt_at, created_at, updated_at) \
     SELECT id, $1, 'pending', 0, $2, $2, $2 FROM approval_requests WHERE status = 'pending' \
     ON CONFLICT (approval_id, target) DO NOTHING";

/// Due pending deliveries (`next_attempt_at <= $1`), oldest first, at most
/// `$3`, locked past those another claimer holds: attempts + 1, due again
/// at `$2`, updated at `$1`.
pub const CLAIM_DELIVERIES: &str = "WITH due AS (SELECT approval_id, target \
     FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
     ORDER BY created_at, approval_id, target COLLATE \"C\" LIMIT $3 FOR UPDATE SKIP LOCKED) \
     UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2, \
     updated_at = $1 FROM due WHERE d.approval_id = due.approval_id AND d.target = due.target \
     RETURNING d.approval_id, d.target, d.status, d.attempts, d.next_attempt_at, d.last_status, \
     d.last_error, d.created_at, d.updated_at, d.delivered_at";

/// Only a pending delivery changes; `$4` NULL keeps `next_attempt_at`.
pub const UPDATE_DELIVERY: &str = concat!(
    "UPDATE webhook_deliveries SET status = $3, \
     next_attempt_at = coalesce($4, next_attempt_at), last_status = $5, last_error = $6, \
     delivered_at = $7, updated_at = $8 \
     WHERE approval_id = $1 AND target = $2 AND status = 'pending' RETURNING ",
    delivery_columns!()
);

pub const GET_DELIVERY: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE approval_id = $1 AND target = $2"
);

pub const LIST_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE approval_id = $1 ORDER BY target COLLATE \"C\""
);

/// Inserts worker `$1` or refreshes its agents and `seen_at`.
pub const WORKER_SEEN: &str = "INSERT INTO workers (id, agents, started_at, seen_at) \
     VALUES ($1, $2, $3, $3) ON CONFLICT (id) DO UPDATE SET agents = excluded.agents, \
     seen_at = excluded.seen_at";

pub const WORKERS_SEEN: &str = "SELECT id, agents, started_at, seen_at FROM workers \
     WHERE seen_at >= $1 ORDER BY seen_at DESC, id COLLATE \"C\"";

pub const INSERT_RECEIPT: &str = "INSERT INTO head_receipts \
     (log, aggregate_id, seq, hash, status, issued_at, key_id, signature) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const RECEIPTS: &str = "SELECT log, aggregate_id, seq, hash, status, issued_at, key_id, \
     signature FROM head_receipts WHERE log = $1 AND aggregate_id = $2 ORDER BY seq";

/// The payloads of an investigation's `tool_result` events, in log order.
pub const TOOL_RESULT_PAYLOADS: &str = "SELECT payload::text FROM investigation_events WHERE investigation_id = $1 AND kind = 'tool_result' ORDER BY seq";

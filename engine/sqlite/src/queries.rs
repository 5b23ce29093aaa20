//! Every SQL statement of the SQLite store, one named constant each. The
//! PostgreSQL store uses the same names for the same statements.

use vigil_engine::log::LogName;

/// The investigation columns, in the order `rows::investigation` reads them.
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
    " FROM investigations WHERE id = ?1"
);

/// Inside `BEGIN IMMEDIATE` the whole database is write-locked, so reading
/// the row is enough to hold it.
pub const LOCK_INVESTIGATION: &str = GET_INVESTIGATION;

pub const FIND_IDEMPOTENT: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    ", request_digest FROM investigations WHERE requested_by = ?1 AND idempotency_key = ?2"
);

pub const NEXT_QUEUED_ANY: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE status = 'pending' AND phase = 'queued' \
     AND (not_before IS NULL OR not_before <= ?1) ORDER BY created_at, id LIMIT ?2"
);

/// Followed by the time (bound), `) AND agent_id IN (...)` over the agent ids
/// and [`NEXT_QUEUED_TAIL`].
pub const NEXT_QUEUED_FOR_AGENTS: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE status = 'pending' AND phase = 'queued' \
     AND (not_before IS NULL OR not_before <= "
);
/// Followed by the limit (bound).
pub const NEXT_QUEUED_TAIL: &str = " ORDER BY created_at, id LIMIT ";

/// Whether a queued, due investigation exists: followed by the time
/// (bound), then, for some agents only, `) AND agent_id IN (...)`, then
/// `)`.
pub const HAS_QUEUED: &str = "SELECT EXISTS (SELECT 1 FROM investigations \
     WHERE status = 'pending' AND phase = 'queued' AND (not_before IS NULL OR not_before <= ";

/// Through the `investigations_reap` partial index by name: without
/// statistics SQLite would read every running (or pending) row by another
/// index and sort them, milliseconds a tick at a few thousand live runs,
/// where the range of due leases is usually empty.
pub const EXPIRED_LEASES: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations INDEXED BY investigations_reap \
     WHERE status = 'pending' AND phase = 'running' \
     AND lease_expires_at <= ?1 ORDER BY lease_expires_at, id LIMIT ?2"
);

pub const DUE_APPROVALS: &str = concat!(
    "SELECT ",
    approval_columns!(),
    " FROM approval_requests WHERE status = 'pending' AND expires_at <= ?1 \
     ORDER BY expires_at, id LIMIT ?2"
);

pub const GET_APPROVAL: &str = concat!(
    "SELECT ",
    approval_columns!(),
    " FROM approval_requests WHERE id = ?1"
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
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
     ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35) \
     ON CONFLICT (requested_by, idempotency_key) DO NOTHING";

/// Links a just-inserted investigation to the one that delegated it (the
/// dispatch transaction; the link never changes).
pub const LINK_INVESTIGATION_PARENT: &str = "UPDATE investigations \
     SET parent_id = ?2, parent_call_id = ?3, depth = ?4 WHERE id = ?1 AND parent_id IS NULL";

/// A parent's children, oldest first.
pub const CHILDREN: &str = concat!(
    "SELECT ",
    investigation_columns!(),
    " FROM investigations WHERE parent_id = ?1 ORDER BY created_at, id"
);

/// Each of a parent's children and its status.
pub const CHILD_STATUSES: &str =
    "SELECT id, status FROM investigations WHERE parent_id = ?1 ORDER BY created_at, id";

/// Links a just-inserted investigation to its case (the dispatch
/// transaction; the link never changes).
pub const LINK_INVESTIGATION_CASE: &str =
    "UPDATE investigations SET case_id = ?2, case_purpose = ?3 WHERE id = ?1 AND case_id IS NULL";

pub const UPDATE_INVESTIGATION: &str = "UPDATE investigations SET status = ?2, phase = ?3, \
     lease_owner = ?4, lease_epoch = ?5, lease_expires_at = ?6, heartbeat_at = ?7, attempt = ?8, \
     last_seq = ?9, last_hash = ?10, waiting_on = ?11, result = ?12, result_raw = ?13, \
     confidence = ?14, error = ?15, model_turns = ?16, input_tokens = ?17, output_tokens = ?18, \
     cost_usd = ?19, started_at = ?20, updated_at = ?21, finished_at = ?22, claims = ?23, not_before = ?24, lost_turns = ?25, mode = ?26 WHERE id = ?1";

/// [`UPDATE_INVESTIGATION`], only if the row still has the `last_seq`,
/// `lease_epoch`, `lease_expires_at` and `heartbeat_at` it was read with.
pub const UPDATE_INVESTIGATION_IF_UNCHANGED: &str = "UPDATE investigations SET status = ?2, \
     phase = ?3, lease_owner = ?4, lease_epoch = ?5, lease_expires_at = ?6, heartbeat_at = ?7, \
     attempt = ?8, last_seq = ?9, last_hash = ?10, waiting_on = ?11, result = ?12, \
     result_raw = ?13, confidence = ?14, error = ?15, model_turns = ?16, input_tokens = ?17, \
     output_tokens = ?18, cost_usd = ?19, started_at = ?20, updated_at = ?21, finished_at = ?22, claims = ?23, not_before = ?24, lost_turns = ?25, mode = ?26 \
     WHERE id = ?1 AND last_seq = ?27 AND lease_epoch = ?28 AND lease_expires_at IS ?29 \
     AND heartbeat_at IS ?30";

/// [`UPDATE_PROGRESS`], only if the row is unchanged (as above).
pub const UPDATE_PROGRESS_IF_UNCHANGED: &str = "UPDATE investigations SET last_seq = ?2, \
     last_hash = ?3, updated_at = ?4, model_turns = ?5, input_tokens = ?6, output_tokens = ?7, \
     cost_usd = ?8, lost_turns = ?9 WHERE id = ?1 AND last_seq = ?10 AND lease_epoch = ?11 AND lease_expires_at IS ?12 \
     AND heartbeat_at IS ?13";

/// A checkpoint's update: the log tail and the usage counters, nothing indexed.
pub const UPDATE_PROGRESS: &str = "UPDATE investigations SET last_seq = ?2, last_hash = ?3, \
     updated_at = ?4, model_turns = ?5, input_tokens = ?6, output_tokens = ?7, cost_usd = ?8, lost_turns = ?9 \
     WHERE id = ?1";

/// The two statements of one log table (see `vigil_engine::log`): append one
/// entry, and read entries after a seq with the id column named
/// `aggregate_id`.
pub struct LogSql {
    /// `INSERT` one entry: id, seq, kind, payload, actor, epoch, created_at,
    /// prev_hash, hash as `?1`..`?9`.
    pub insert: &'static str,
    /// Entries of `?1` after seq `?2`, in seq order, at most `?3`.
    pub after: &'static str,
}

macro_rules! log_sql {
    ($table:literal, $id:literal) => {
        LogSql {
            insert: concat!(
                "INSERT INTO ",
                $table,
                " (",
                $id,
                ", seq, kind, payload, actor, epoch, created_at, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            after: concat!(
                "SELECT ",
                $id,
                " AS aggregate_id, seq, kind, payload, actor, epoch, created_at, prev_hash, hash \
                 FROM ",
                $table,
                " WHERE ",
                $id,
                " = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
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
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
);

pub const RESOLVE_APPROVAL: &str = "UPDATE approval_requests SET status = ?2, decided_by = ?3, \
     decided_at = ?4, comment = ?5 WHERE id = ?1 AND status = 'pending'";

pub const PING: &str = "SELECT 1";

/// Records the trace context of a running segment, only under its lease
/// (`lease_epoch` still the one it claimed with, the run still running).
pub const RECORD_SEGMENT: &str = "UPDATE investigations SET segment_traceparent = ?3 \
     WHERE id = ?1 AND lease_epoch = ?2 AND phase = 'running'";

/// Investigations per (status, phase): the live ones counted from the
/// `investigations_live_phase` partial index, the finished ones from the
/// counts the triggers of migration 0014 keep. A status whose count is zero
/// has no row.
pub const STATE_COUNTS: &str = "SELECT 'pending' AS status, phase, count(*) AS count \
     FROM investigations INDEXED BY investigations_live_phase WHERE status = 'pending' \
     GROUP BY phase \
     UNION ALL SELECT status, NULL AS phase, count FROM investigation_finished_counts \
     WHERE count <> 0";

/// How many approval requests are pending, and when the oldest was created.
pub const PENDING_APPROVALS: &str = "SELECT count(*) AS count, min(created_at) AS oldest \
     FROM approval_requests WHERE status = 'pending'";

macro_rules! token_columns {
    () => {
        "t.id, t.principal, p.roles, t.token_hash, t.created_at, t.revoked_at \
         FROM api_tokens t JOIN principals p ON p.name = t.principal"
    };
}

pub const GET_TOKEN: &str = concat!("SELECT ", token_columns!(), " WHERE t.id = ?1");

/// Inside `BEGIN IMMEDIATE` the whole database is write-locked.
pub const LOCK_TOKEN: &str = GET_TOKEN;

pub const LIST_TOKENS: &str = concat!("SELECT ", token_columns!(), " ORDER BY t.created_at, t.id");

pub const HAS_ACTIVE_TOKEN: &str =
    "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE revoked_at IS NULL)";

/// Inside `BEGIN IMMEDIATE` the whole database is write-locked.
pub const LOCK_PRINCIPAL: &str = "SELECT roles FROM principals WHERE name = ?1";

pub const INSERT_PRINCIPAL: &str = "INSERT INTO principals (name, roles, created_at) \
     VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING";

pub const INSERT_TOKEN: &str = "INSERT INTO api_tokens (id, principal, token_hash, created_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING";

pub const REVOKE_TOKEN: &str =
    "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL";

macro_rules! delivery_columns {
    () => {
        "approval_id, target, status, attempts, next_attempt_at, last_status, last_error, \
         created_at, updated_at, delivered_at"
    };
}

/// One target (`?1`) for every pending approval request without a delivery
/// to it; due, created and updated at `?2`.
pub const ENQUEUE_DELIVERIES: &str = "INSERT INTO webhook_deliveries (approval_id, target, \
     status, attempts, next_attempt_at, created_at, updated_at) \
     SELECT id, ?1, 'pending', 0, ?2, ?2, ?2 FROM approval_requests WHERE status = 'pending' \
     ON CONFLICT (approval_id, target) DO NOTHING";

/// Due pending deliveries (`next_attempt_at <= ?1`), oldest first, at most
/// `?3`: attempts + 1, due again at `?2`, updated at `?1`.
pub const CLAIM_DELIVERIES: &str = concat!(
    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?2, \
     updated_at = ?1 WHERE (approval_id, target) IN (SELECT approval_id, target \
     FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?1 \
     ORDER BY created_at, approval_id, target LIMIT ?3) RETURNING ",
    delivery_columns!()
);

/// Only a pending delivery changes; `?4` NULL keeps `next_attempt_at`.
pub const UPDATE_DELIVERY: &str = concat!(
    "UPDATE webhook_deliveries SET status = ?3, next_attempt_at = coalesce(?4, next_attempt_at), \
     last_status = ?5, last_error = ?6, delivered_at = ?7, updated_at = ?8 \
     WHERE approval_id = ?1 AND target = ?2 AND status = 'pending' RETURNING ",
    delivery_columns!()
);

pub const GET_DELIVERY: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE approval_id = ?1 AND target = ?2"
);

pub const LIST_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE approval_id = ?1 ORDER BY target"
);

/// Inserts worker `?1` or refreshes its agents and `seen_at`.
pub const WORKER_SEEN: &str = "INSERT INTO workers (id, agents, started_at, seen_at) \
     VALUES (?1, ?2, ?3, ?3) ON CONFLICT (id) DO UPDATE SET agents = excluded.agents, \
     seen_at = excluded.seen_at";

pub const WORKERS_SEEN: &str = "SELECT id, agents, started_at, seen_at FROM workers \
     WHERE seen_at >= ?1 ORDER BY seen_at DESC, id";

pub const INSERT_RECEIPT: &str = "INSERT INTO head_receipts \
     (log, aggregate_id, seq, hash, status, issued_at, key_id, signature) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

pub const RECEIPTS: &str = "SELECT log, aggregate_id, seq, hash, status, issued_at, key_id, \
     signature FROM head_receipts WHERE log = ?1 AND aggregate_id = ?2 ORDER BY seq";

/// The payloads of an investigation's `tool_result` events, in log order.
pub const TOOL_RESULT_PAYLOADS: &str = "SELECT payload FROM investigation_events WHERE investigation_id = ? AND kind = 'tool_result' ORDER BY seq";

-- Child investigations (SQLite). Mirrors postgres/0013_children.sql.
--
-- investigations.parent_id: the investigation that delegated this one
-- through its `delegate_investigation` call (NULL: a principal dispatched
-- it); parent_call_id: that call's id; depth: how many delegations deep it
-- is (0 for a dispatch by a principal). Set in the dispatch transaction and
-- never changed.
-- phase 'awaiting_children': parked, without a lease, until every child
-- has finished.
--
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt
-- (https://www.sqlite.org/lang_altertable.html#otheralter): with foreign
-- keys off, outside the migration runner's transaction, in a transaction of
-- its own. Every column, constraint and index is as the earlier migrations
-- left it.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TABLE IF EXISTS investigations_rebuilt;
CREATE TABLE investigations_rebuilt (
    id               TEXT PRIMARY KEY NOT NULL,
    agent_id         TEXT NOT NULL,
    prompt           TEXT NOT NULL,
    requested_by     TEXT NOT NULL,
    case_ref         TEXT,
    idempotency_key  TEXT,
    request_digest   TEXT NOT NULL,
    status           TEXT NOT NULL
        CHECK (status IN ('pending', 'completed', 'review_required', 'failed', 'dead_lettered')),
    phase            TEXT
        CHECK (phase IN ('queued', 'running', 'awaiting_approval', 'awaiting_children')),
    lease_owner      TEXT,
    lease_epoch      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at INTEGER,
    heartbeat_at     INTEGER,
    attempt          INTEGER NOT NULL DEFAULT 0,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_hash        TEXT NOT NULL,
    waiting_on       TEXT,
    result           TEXT,
    result_raw       TEXT,
    confidence       REAL,
    error            TEXT,
    model_turns      INTEGER NOT NULL DEFAULT 0,
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    cost_usd         REAL NOT NULL DEFAULT 0,
    budget           TEXT NOT NULL DEFAULT '{}',
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    claims           INTEGER NOT NULL DEFAULT 0 CHECK (claims >= 0),
    not_before       INTEGER,
    lost_turns       INTEGER NOT NULL DEFAULT 0,
    mode             TEXT CHECK (mode IS NULL OR mode IN ('dummy', 'dry_run', 'real')),
    case_id          TEXT REFERENCES cases (id),
    case_purpose     TEXT NOT NULL DEFAULT 'investigate'
        CHECK (case_purpose IN ('investigate', 'summarize')),
    traceparent      TEXT,
    segment_traceparent TEXT,
    parent_id        TEXT REFERENCES investigations (id),
    parent_call_id   TEXT,
    depth            INTEGER NOT NULL DEFAULT 0 CHECK (depth >= 0),
    CHECK ((status = 'pending') = (phase IS NOT NULL)),
    CHECK ((phase IS 'running') = (lease_owner IS NOT NULL)),
    CHECK ((parent_id IS NULL) = (parent_call_id IS NULL))
);
INSERT INTO investigations_rebuilt (id, agent_id, prompt, requested_by, case_ref,
    idempotency_key, request_digest, status, phase, lease_owner, lease_epoch,
    lease_expires_at, heartbeat_at, attempt, last_seq, last_hash, waiting_on, result,
    result_raw, confidence, error, model_turns, input_tokens, output_tokens, cost_usd,
    budget, created_at, started_at, updated_at, finished_at, claims, not_before,
    lost_turns, mode, case_id, case_purpose, traceparent, segment_traceparent)
SELECT id, agent_id, prompt, requested_by, case_ref,
    idempotency_key, request_digest, status, phase, lease_owner, lease_epoch,
    lease_expires_at, heartbeat_at, attempt, last_seq, last_hash, waiting_on, result,
    result_raw, confidence, error, model_turns, input_tokens, output_tokens, cost_usd,
    budget, created_at, started_at, updated_at, finished_at, claims, not_before,
    lost_turns, mode, case_id, case_purpose, traceparent, segment_traceparent
FROM investigations;
DROP TABLE investigations;
ALTER TABLE investigations_rebuilt RENAME TO investigations;

CREATE UNIQUE INDEX investigations_idempotency
    ON investigations (requested_by, idempotency_key);
CREATE INDEX investigations_claim_by_agent
    ON investigations (agent_id, created_at, id)
    WHERE status = 'pending' AND phase = 'queued';
CREATE INDEX investigations_claim_any
    ON investigations (created_at, id)
    WHERE status = 'pending' AND phase = 'queued';
CREATE INDEX investigations_reap
    ON investigations (lease_expires_at)
    WHERE status = 'pending' AND phase = 'running';
CREATE INDEX investigations_list ON investigations (created_at, id);
CREATE INDEX investigations_list_status ON investigations (status, created_at, id);
CREATE INDEX investigations_list_agent ON investigations (agent_id, created_at, id);
CREATE INDEX investigations_list_requester ON investigations (requested_by, created_at, id);
CREATE INDEX investigations_list_case ON investigations (case_ref, created_at, id)
    WHERE case_ref IS NOT NULL;
CREATE INDEX investigations_by_case ON investigations (case_id, created_at, id)
    WHERE case_id IS NOT NULL;
-- A parent's children, oldest first.
CREATE INDEX investigations_by_parent ON investigations (parent_id, created_at, id)
    WHERE parent_id IS NOT NULL;
COMMIT;
PRAGMA foreign_keys = ON;

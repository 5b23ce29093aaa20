-- Vigil core schema (SQLite). Times are INTEGER microseconds since the Unix
-- epoch (UTC); JSON documents are TEXT. Mirrors postgres/0001_core.sql.

CREATE TABLE investigations (
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
        CHECK (phase IN ('queued', 'running', 'awaiting_approval')),
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
    CHECK ((status = 'pending') = (phase IS NOT NULL)),
    CHECK ((phase IS 'running') = (lease_owner IS NOT NULL))
);

-- The same key from the same requester names one investigation.
CREATE UNIQUE INDEX investigations_idempotency
    ON investigations (requested_by, idempotency_key);

-- Claim: queued rows by agent, oldest first (and oldest first across agents).
CREATE INDEX investigations_claim_by_agent
    ON investigations (agent_id, created_at, id)
    WHERE status = 'pending' AND phase = 'queued';
CREATE INDEX investigations_claim_any
    ON investigations (created_at, id)
    WHERE status = 'pending' AND phase = 'queued';

-- Reaper: running rows by lease expiry.
CREATE INDEX investigations_reap
    ON investigations (lease_expires_at)
    WHERE status = 'pending' AND phase = 'running';

-- Listing, newest first, overall and by the common filters.
CREATE INDEX investigations_list ON investigations (created_at, id);
CREATE INDEX investigations_list_status ON investigations (status, created_at, id);
CREATE INDEX investigations_list_agent ON investigations (agent_id, created_at, id);
CREATE INDEX investigations_list_requester ON investigations (requested_by, created_at, id);
CREATE INDEX investigations_list_case ON investigations (case_ref, created_at, id)
    WHERE case_ref IS NOT NULL;

CREATE TABLE investigation_events (
    investigation_id TEXT NOT NULL REFERENCES investigations (id),
    seq              INTEGER NOT NULL CHECK (seq >= 1),
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    actor            TEXT NOT NULL,
    epoch            INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    PRIMARY KEY (investigation_id, seq)
) WITHOUT ROWID;

-- The event log is append-only, enforced by the database itself.
CREATE TRIGGER investigation_events_no_update
    BEFORE UPDATE ON investigation_events
BEGIN
    SELECT RAISE(ABORT, 'investigation_events is append-only: UPDATE rejected');
END;

CREATE TRIGGER investigation_events_no_delete
    BEFORE DELETE ON investigation_events
BEGIN
    SELECT RAISE(ABORT, 'investigation_events is append-only: DELETE rejected');
END;

CREATE TABLE approval_requests (
    id               TEXT PRIMARY KEY NOT NULL,
    investigation_id TEXT NOT NULL REFERENCES investigations (id),
    tool_call_id     TEXT NOT NULL,
    action           TEXT NOT NULL,
    arguments        TEXT NOT NULL,
    rationale        TEXT,
    status           TEXT NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    decided_by       TEXT,
    decided_at       INTEGER,
    comment          TEXT,
    UNIQUE (investigation_id, tool_call_id)
);

-- Expiry sweep: pending requests by deadline.
CREATE INDEX approval_requests_due
    ON approval_requests (expires_at)
    WHERE status = 'pending';
-- Inbox: by status, soonest to expire first.
CREATE INDEX approval_requests_status ON approval_requests (status, expires_at, id);

CREATE TABLE principals (
    name       TEXT PRIMARY KEY NOT NULL,
    roles      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- API tokens are stored as hashes only; the token itself is shown once.
CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    principal  TEXT NOT NULL REFERENCES principals (name),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Vigil core schema (PostgreSQL >= 14). Mirrors sqlite/0001_core.sql.
-- Event payloads are `json` (kept byte for byte); other documents are `jsonb`.

CREATE TABLE investigations (
    id               uuid PRIMARY KEY,
    agent_id         text NOT NULL,
    prompt           text NOT NULL,
    requested_by     text NOT NULL,
    case_ref         text,
    idempotency_key  text,
    request_digest   text NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('pending', 'completed', 'review_required', 'failed', 'dead_lettered')),
    phase            text
        CHECK (phase IN ('queued', 'running', 'awaiting_approval')),
    lease_owner      text,
    lease_epoch      bigint NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    heartbeat_at     timestamptz,
    attempt          integer NOT NULL DEFAULT 0,
    last_seq         bigint NOT NULL DEFAULT 0,
    last_hash        text NOT NULL,
    waiting_on       uuid,
    result           jsonb,
    result_raw       text,
    confidence       double precision,
    error            text,
    model_turns      bigint NOT NULL DEFAULT 0,
    input_tokens     bigint NOT NULL DEFAULT 0,
    output_tokens    bigint NOT NULL DEFAULT 0,
    cost_usd         double precision NOT NULL DEFAULT 0,
    budget           jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    updated_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    CHECK ((status = 'pending') = (phase IS NOT NULL)),
    CHECK ((phase IS NOT DISTINCT FROM 'running') = (lease_owner IS NOT NULL))
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

-- Reaper: running rows by lease expiry (partial: only running rows).
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
    investigation_id uuid NOT NULL REFERENCES investigations (id),
    seq              bigint NOT NULL CHECK (seq >= 1),
    kind             text NOT NULL,
    payload          json NOT NULL,
    actor            text NOT NULL,
    epoch            bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    prev_hash        text NOT NULL,
    hash             text NOT NULL,
    PRIMARY KEY (investigation_id, seq)
);

-- The event log is append-only, enforced by the database itself.
CREATE FUNCTION vigil_reject_event_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'investigation_events is append-only: % rejected', TG_OP
        USING ERRCODE = 'raise_exception';
END;
$$;

CREATE TRIGGER investigation_events_append_only
    BEFORE UPDATE OR DELETE ON investigation_events
    FOR EACH ROW EXECUTE FUNCTION vigil_reject_event_mutation();

CREATE TRIGGER investigation_events_no_truncate
    BEFORE TRUNCATE ON investigation_events
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_reject_event_mutation();

CREATE TABLE approval_requests (
    id               uuid PRIMARY KEY,
    investigation_id uuid NOT NULL REFERENCES investigations (id),
    tool_call_id     text NOT NULL,
    action           text NOT NULL,
    arguments        jsonb NOT NULL,
    rationale        text,
    status           text NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    decided_by       text,
    decided_at       timestamptz,
    comment          text,
    UNIQUE (investigation_id, tool_call_id)
);

-- Expiry sweep: pending requests by deadline.
CREATE INDEX approval_requests_due
    ON approval_requests (expires_at)
    WHERE status = 'pending';
-- Inbox: by status, soonest to expire first.
CREATE INDEX approval_requests_status ON approval_requests (status, expires_at, id);

CREATE TABLE principals (
    name       text PRIMARY KEY,
    roles      jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- API tokens are stored as hashes only; the token itself is shown once.
CREATE TABLE api_tokens (
    id         uuid PRIMARY KEY,
    principal  text NOT NULL REFERENCES principals (name),
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

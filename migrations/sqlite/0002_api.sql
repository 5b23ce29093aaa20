-- Records beside the investigations (SQLite): the webhook outbox and worker
-- presence. Mirrors postgres/0002_api.sql. Times are INTEGER microseconds
-- since the Unix epoch (UTC); JSON documents are TEXT.
--
-- API tokens use `principals` and `api_tokens` from 0001 as they are:
-- `principals.roles` holds a JSON array of role names, and `api_tokens.id`
-- is already TEXT here (PostgreSQL's becomes text in its 0002).

-- One notification of one approval request to one webhook target, tried
-- until delivered or given up.
CREATE TABLE webhook_deliveries (
    approval_id     TEXT NOT NULL REFERENCES approval_requests (id),
    target          TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    PRIMARY KEY (approval_id, target),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

-- The outbox sweep: pending deliveries by when they are due.
CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

-- Worker processes that announced themselves; `agents` is a JSON array
-- (empty: all agents).
CREATE TABLE workers (
    id         TEXT PRIMARY KEY NOT NULL,
    agents     TEXT NOT NULL DEFAULT '[]',
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);

CREATE INDEX workers_seen ON workers (seen_at);

-- Records beside the investigations (PostgreSQL): the webhook outbox and
-- worker presence. Mirrors sqlite/0002_api.sql.
--
-- API tokens use `principals` and `api_tokens` from 0001: `principals.roles`
-- holds a JSON array of role names. A token's public id is any text chosen
-- by the API, not necessarily a UUID, so `api_tokens.id` becomes text, as it
-- is on SQLite.
ALTER TABLE api_tokens ALTER COLUMN id TYPE text USING id::text;

-- One notification of one approval request to one webhook target, tried
-- until delivered or given up.
CREATE TABLE webhook_deliveries (
    approval_id     uuid NOT NULL REFERENCES approval_requests (id),
    target          text NOT NULL,
    status          text NOT NULL
        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
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
    id         text PRIMARY KEY,
    agents     jsonb NOT NULL DEFAULT '[]',
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL
);

CREATE INDEX workers_seen ON workers (seen_at);

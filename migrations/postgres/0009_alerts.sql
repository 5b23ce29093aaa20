-- Alerts and grouping (engine/src/case/alert.rs), PostgreSQL. Mirrors
-- sqlite/0009_alerts.sql. Written by vigil-engine's TransactionalStore:
-- an ingest inserts the alert, claims its grouping key and links or opens
-- the case in one transaction.

-- One row per detection: (source, source_id) is unique, so a redelivery
-- finds the stored alert and writes nothing.
CREATE TABLE alerts (
    id           uuid PRIMARY KEY,
    source       text COLLATE "C" NOT NULL CHECK (source <> ''),
    source_id    text COLLATE "C" NOT NULL CHECK (source_id <> ''),
    rule         text COLLATE "C" NOT NULL CHECK (rule <> ''),
    severity     text NOT NULL
        CHECK (severity IN ('critical', 'high', 'medium', 'low', 'informational')),
    title        text NOT NULL,
    observed_at  timestamptz NOT NULL,
    raw          jsonb NOT NULL,
    entities     jsonb NOT NULL DEFAULT '[]',
    grouping_key text COLLATE "C",
    case_id      uuid REFERENCES cases (id),
    created_at   timestamptz NOT NULL
);

CREATE UNIQUE INDEX alerts_source_id ON alerts (source, source_id);
CREATE INDEX alerts_by_case ON alerts (case_id, id) WHERE case_id IS NOT NULL;
CREATE INDEX alerts_by_rule ON alerts (rule, id);
CREATE INDEX alerts_by_source ON alerts (source, id);

-- The case a grouping key currently feeds and its last alert's time. The
-- key is the primary key: an ingest inserts the row (or finds it) and locks
-- it before deciding, so concurrent ingests under one key take turns and
-- open one case. case_id is NULL between a claim and its first case.
CREATE TABLE alert_groups (
    grouping_key  text COLLATE "C" PRIMARY KEY,
    case_id       uuid REFERENCES cases (id),
    last_alert_at timestamptz
);

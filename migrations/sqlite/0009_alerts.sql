-- Alerts and grouping (engine/src/case/alert.rs), SQLite. Mirrors
-- postgres/0009_alerts.sql. Written by vigil-engine's TransactionalStore:
-- an ingest inserts the alert, claims its grouping key and links or opens
-- the case in one transaction.

-- One row per detection: (source, source_id) is unique, so a redelivery
-- finds the stored alert and writes nothing.
CREATE TABLE alerts (
    id           TEXT PRIMARY KEY NOT NULL,
    source       TEXT NOT NULL CHECK (source <> ''),
    source_id    TEXT NOT NULL CHECK (source_id <> ''),
    rule         TEXT NOT NULL CHECK (rule <> ''),
    severity     TEXT NOT NULL
        CHECK (severity IN ('critical', 'high', 'medium', 'low', 'informational')),
    title        TEXT NOT NULL,
    observed_at  INTEGER NOT NULL,
    raw          TEXT NOT NULL,
    entities     TEXT NOT NULL DEFAULT '[]',
    grouping_key TEXT,
    case_id      TEXT REFERENCES cases (id),
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE UNIQUE INDEX alerts_source_id ON alerts (source, source_id);
CREATE INDEX alerts_by_case ON alerts (case_id, id) WHERE case_id IS NOT NULL;
CREATE INDEX alerts_by_rule ON alerts (rule, id);
CREATE INDEX alerts_by_source ON alerts (source, id);

-- The case a grouping key currently feeds and its last alert's time. The
-- key is the primary key: an ingest inserts the row (or finds it) and locks
-- it before deciding, so concurrent ingests under one key take turns and
-- open one case. case_id is NULL between a claim and its first case.
CREATE TABLE alert_groups (
    grouping_key  TEXT PRIMARY KEY NOT NULL,
    case_id       TEXT REFERENCES cases (id),
    last_alert_at INTEGER
) WITHOUT ROWID;

-- Cases (engine/src/case/), SQLite. Mirrors postgres/0007_cases.sql. Times
-- are INTEGER microseconds since the Unix epoch (UTC), ids UUID text, JSON
-- documents TEXT. Every row here is written by vigil-engine's
-- TransactionalStore, one transaction per case command, with the case's
-- timeline entries (case_events).

-- Case numbers (CASE-n): one counter row, taken inside the write
-- transaction. A create that rolls back gives its number back.
CREATE TABLE case_numbers (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
INSERT INTO case_numbers (id, last) VALUES (1, 0);

CREATE TABLE cases (
    id                      TEXT PRIMARY KEY NOT NULL,
    number                  INTEGER NOT NULL CHECK (number >= 1),
    title                   TEXT NOT NULL CHECK (title <> ''),
    -- The lower-case title, written by the engine: sorting and title search
    -- compare it byte by byte, the same on both backends.
    title_key               TEXT NOT NULL,
    severity                TEXT NOT NULL
        CHECK (severity IN ('critical', 'high', 'medium', 'low', 'informational')),
    description             TEXT NOT NULL DEFAULT '',
    assignee                TEXT,
    requires_human_approval INTEGER NOT NULL DEFAULT 0 CHECK (requires_human_approval IN (0, 1)),
    confidence              REAL CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
    confidence_reason       TEXT,
    status                  TEXT NOT NULL
        CHECK (status IN ('open', 'in_progress', 'pending_approval', 'contained', 'eradicated',
                          'recovered', 'resolved', 'closed', 'pending', 'investigating',
                          'escalated')),
    disposition             TEXT
        CHECK (disposition IN ('true_positive', 'false_positive', 'benign', 'inconclusive')),
    tags                    TEXT NOT NULL DEFAULT '[]',
    created_by              TEXT NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    status_changed_at       INTEGER NOT NULL,
    deleted_at              INTEGER,
    merged_into             TEXT REFERENCES cases (id),
    last_seq                INTEGER NOT NULL DEFAULT 0,
    last_hash               TEXT NOT NULL,
    -- Exactly the finished statuses carry a disposition; a merged case is closed.
    CHECK ((status IN ('resolved', 'closed')) = (disposition IS NOT NULL)),
    CHECK (merged_into IS NULL OR status = 'closed')
);

CREATE UNIQUE INDEX cases_number ON cases (number);

-- Listing: every sort key with the id, overall and by the common filters.
CREATE INDEX cases_by_updated ON cases (updated_at, id);
CREATE INDEX cases_by_created ON cases (created_at, id);
CREATE INDEX cases_by_status_changed ON cases (status_changed_at, id);
CREATE INDEX cases_by_title ON cases (title_key, id);
CREATE INDEX cases_by_status ON cases (status, updated_at, id);
CREATE INDEX cases_by_severity ON cases (severity, updated_at, id);
CREATE INDEX cases_by_assignee ON cases (assignee, updated_at, id);

-- Alert links: an alert belongs to at most one case.
CREATE TABLE case_alerts (
    alert_id  TEXT PRIMARY KEY NOT NULL,
    case_id   TEXT NOT NULL REFERENCES cases (id),
    linked_at INTEGER NOT NULL,
    linked_by TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX case_alerts_case ON case_alerts (case_id, alert_id);

-- The case timeline: the same shape as investigation_events, sealed and
-- verified by the same code (engine/src/log.rs).
CREATE TABLE case_events (
    case_id    TEXT NOT NULL REFERENCES cases (id),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    actor      TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;

CREATE TRIGGER case_events_no_update
    BEFORE UPDATE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only: UPDATE rejected');
END;

CREATE TRIGGER case_events_no_delete
    BEFORE DELETE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only: DELETE rejected');
END;

-- Observables: one row per (case, type, normalized value), counted on
-- every sighting.
CREATE TABLE observables (
    id         TEXT PRIMARY KEY NOT NULL,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    type       TEXT NOT NULL
        CHECK (type IN ('ip', 'domain', 'url', 'hash_md5', 'hash_sha1', 'hash_sha256', 'email',
                        'user', 'host', 'file', 'other')),
    value      TEXT NOT NULL,
    source     TEXT,
    sightings  INTEGER NOT NULL CHECK (sightings >= 1),
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    tlp        TEXT NOT NULL CHECK (tlp IN ('clear', 'green', 'amber', 'amber+strict', 'red')),
    pap        TEXT NOT NULL CHECK (pap IN ('clear', 'green', 'amber', 'red')),
    enrichment TEXT NOT NULL DEFAULT '{}',
    tags       TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (case_id, type, value)
);
-- The observable filter and related cases: by value across cases.
CREATE INDEX observables_value ON observables (value, type);

-- Evidence: content stored here (content) or kept elsewhere (uri), never both.
CREATE TABLE evidence (
    id           TEXT PRIMARY KEY NOT NULL,
    case_id      TEXT NOT NULL REFERENCES cases (id),
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL
        CHECK (kind IN ('log', 'network_flow', 'endpoint_scan', 'forensic_image', 'screenshot',
                        'file', 'other')),
    description  TEXT NOT NULL DEFAULT '',
    sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
    size_bytes   INTEGER CHECK (size_bytes >= 0),
    content      BLOB,
    uri          TEXT,
    collected_by TEXT NOT NULL,
    collected_at INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    CHECK ((content IS NULL) <> (uri IS NULL))
);
CREATE INDEX evidence_case ON evidence (case_id, created_at, id);

-- Stored evidence never changes and is never removed; only the case it
-- belongs to moves (a merge).
CREATE TRIGGER evidence_content_immutable
    BEFORE UPDATE OF id, name, kind, sha256, size_bytes, content, uri, collected_by,
        collected_at, created_at ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is immutable apart from its case: UPDATE rejected');
END;

CREATE TRIGGER evidence_no_delete
    BEFORE DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is append-only: DELETE rejected');
END;

-- The chain of custody: append-only.
CREATE TABLE evidence_custody (
    id          TEXT PRIMARY KEY NOT NULL,
    evidence_id TEXT NOT NULL REFERENCES evidence (id),
    action      TEXT NOT NULL CHECK (action IN ('transferred', 'duplicated', 'reviewed', 'archived')),
    from_party  TEXT,
    to_party    TEXT,
    note        TEXT,
    actor       TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX evidence_custody_evidence ON evidence_custody (evidence_id, at, id);

CREATE TRIGGER evidence_custody_no_update
    BEFORE UPDATE ON evidence_custody
BEGIN
    SELECT RAISE(ABORT, 'evidence_custody is append-only: UPDATE rejected');
END;

CREATE TRIGGER evidence_custody_no_delete
    BEFORE DELETE ON evidence_custody
BEGIN
    SELECT RAISE(ABORT, 'evidence_custody is append-only: DELETE rejected');
END;

-- Comments are never edited or removed; only the case they belong to moves.
CREATE TABLE case_comments (
    id          TEXT PRIMARY KEY NOT NULL,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    author      TEXT NOT NULL,
    author_kind TEXT NOT NULL CHECK (author_kind IN ('analyst', 'machine')),
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX case_comments_case ON case_comments (case_id, created_at, id);

CREATE TRIGGER case_comments_immutable
    BEFORE UPDATE OF id, author, author_kind, body, created_at ON case_comments
BEGIN
    SELECT RAISE(ABORT, 'case_comments is immutable apart from its case: UPDATE rejected');
END;

CREATE TRIGGER case_comments_no_delete
    BEFORE DELETE ON case_comments
BEGIN
    SELECT RAISE(ABORT, 'case_comments is append-only: DELETE rejected');
END;

CREATE TABLE case_tasks (
    id           TEXT PRIMARY KEY NOT NULL,
    case_id      TEXT NOT NULL REFERENCES cases (id),
    title        TEXT NOT NULL CHECK (title <> ''),
    description  TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('todo', 'in_progress', 'blocked', 'done')),
    priority     TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    assignee     TEXT,
    due_at       INTEGER,
    completed_at INTEGER,
    created_by   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CHECK ((status = 'done') = (completed_at IS NOT NULL))
);
CREATE INDEX case_tasks_case ON case_tasks (case_id, created_at, id);

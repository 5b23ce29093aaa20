-- Cases (engine/src/case/), PostgreSQL. Mirrors sqlite/0007_cases.sql.
-- Timeline payloads are `json` (kept byte for byte, like
-- investigation_events); other documents are `jsonb`. Every row here is
-- written by vigil-engine's TransactionalStore, one transaction per case
-- command, with the case's timeline entries (case_events).

-- Case numbers (CASE-n). A create that rolls back leaves a gap.
CREATE SEQUENCE case_numbers AS bigint START 1;

CREATE TABLE cases (
    id                      uuid PRIMARY KEY,
    number                  bigint NOT NULL CHECK (number >= 1),
    title                   text NOT NULL CHECK (title <> ''),
    -- The lower-case title, written by the engine: sorting and title search
    -- compare it byte by byte (COLLATE "C"), the same on both backends.
    title_key               text COLLATE "C" NOT NULL,
    severity                text NOT NULL
        CHECK (severity IN ('critical', 'high', 'medium', 'low', 'informational')),
    description             text NOT NULL DEFAULT '',
    assignee                text COLLATE "C",
    requires_human_approval boolean NOT NULL DEFAULT false,
    confidence              double precision
        CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
    confidence_reason       text,
    status                  text NOT NULL
        CHECK (status IN ('open', 'in_progress', 'pending_approval', 'contained', 'eradicated',
                          'recovered', 'resolved', 'closed', 'pending', 'investigating',
                          'escalated')),
    disposition             text
        CHECK (disposition IN ('true_positive', 'false_positive', 'benign', 'inconclusive')),
    tags                    jsonb NOT NULL DEFAULT '[]',
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    status_changed_at       timestamptz NOT NULL,
    deleted_at              timestamptz,
    merged_into             uuid REFERENCES cases (id),
    last_seq                bigint NOT NULL DEFAULT 0,
    last_hash               text NOT NULL,
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
CREATE INDEX cases_tags ON cases USING gin (tags);

-- Alert links: an alert belongs to at most one case.
CREATE TABLE case_alerts (
    alert_id  text COLLATE "C" PRIMARY KEY,
    case_id   uuid NOT NULL REFERENCES cases (id),
    linked_at timestamptz NOT NULL,
    linked_by text NOT NULL
);
CREATE INDEX case_alerts_case ON case_alerts (case_id, alert_id);

-- The case timeline: the same shape as investigation_events, sealed and
-- verified by the same code (engine/src/log.rs), append-only through the
-- same trigger function (0003 made it name its table).
CREATE TABLE case_events (
    case_id    uuid NOT NULL REFERENCES cases (id),
    seq        bigint NOT NULL CHECK (seq >= 1),
    kind       text NOT NULL,
    payload    json NOT NULL,
    actor      text NOT NULL,
    epoch      bigint NOT NULL,
    created_at timestamptz NOT NULL,
    prev_hash  text NOT NULL,
    hash       text NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TRIGGER case_events_append_only
    BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION vigil_reject_event_mutation();

CREATE TRIGGER case_events_no_truncate
    BEFORE TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_reject_event_mutation();

-- Observables: one row per (case, type, normalized value), counted on
-- every sighting.
CREATE TABLE observables (
    id         uuid PRIMARY KEY,
    case_id    uuid NOT NULL REFERENCES cases (id),
    type       text NOT NULL
        CHECK (type IN ('ip', 'domain', 'url', 'hash_md5', 'hash_sha1', 'hash_sha256', 'email',
                        'user', 'host', 'file', 'other')),
    value      text NOT NULL,
    source     text,
    sightings  bigint NOT NULL CHECK (sightings >= 1),
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    tlp        text NOT NULL CHECK (tlp IN ('clear', 'green', 'amber', 'amber+strict', 'red')),
    pap        text NOT NULL CHECK (pap IN ('clear', 'green', 'amber', 'red')),
    enrichment jsonb NOT NULL DEFAULT '{}',
    tags       jsonb NOT NULL DEFAULT '[]',
    created_by text NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (case_id, type, value)
);
-- The observable filter and related cases: by value across cases.
CREATE INDEX observables_value ON observables (value, type);

-- Rows that never change apart from the case they belong to (a merge
-- moves them), and are never removed.
CREATE FUNCTION vigil_reject_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '% is append-only: DELETE rejected', TG_TABLE_NAME
            USING ERRCODE = 'raise_exception';
    END IF;
    RAISE EXCEPTION '% is immutable apart from its case: UPDATE rejected', TG_TABLE_NAME
        USING ERRCODE = 'raise_exception';
END;
$$;

-- Evidence: content stored here (content) or kept elsewhere (uri), never both.
CREATE TABLE evidence (
    id           uuid PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES cases (id),
    name         text NOT NULL,
    kind         text NOT NULL
        CHECK (kind IN ('log', 'network_flow', 'endpoint_scan', 'forensic_image', 'screenshot',
                        'file', 'other')),
    description  text NOT NULL DEFAULT '',
    sha256       text NOT NULL CHECK (length(sha256) = 64),
    size_bytes   bigint CHECK (size_bytes >= 0),
    content      bytea,
    uri          text,
    collected_by text NOT NULL,
    collected_at timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    CHECK ((content IS NULL) <> (uri IS NULL))
);
CREATE INDEX evidence_case ON evidence (case_id, created_at, id);

CREATE TRIGGER evidence_content_immutable
    BEFORE UPDATE OF id, name, kind, sha256, size_bytes, content, uri, collected_by,
        collected_at, created_at ON evidence
    FOR EACH ROW EXECUTE FUNCTION vigil_reject_record_change();

CREATE TRIGGER evidence_no_delete
    BEFORE DELETE ON evidence
    FOR EACH ROW EXECUTE FUNCTION vigil_reject_record_change();

-- The chain of custody: append-only.
CREATE TABLE evidence_custody (
    id          uuid PRIMARY KEY,
    evidence_id uuid NOT NULL REFERENCES evidence (id),
    action      text NOT NULL CHECK (action IN ('transferred', 'duplicated', 'reviewed', 'archived')),
    from_party  text,
    to_party    text,
    note        text,
    actor       text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX evidence_custody_evidence ON evidence_custody (evidence_id, at, id);

CREATE TRIGGER evidence_custody_append_only
    BEFORE UPDATE OR DELETE ON evidence_custody
    FOR EACH ROW EXECUTE FUNCTION vigil_reject_event_mutation();

CREATE TRIGGER evidence_custody_no_truncate
    BEFORE TRUNCATE ON evidence_custody
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_reject_event_mutation();

-- Comments are never edited or removed; only the case they belong to moves.
CREATE TABLE case_comments (
    id          uuid PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id),
    author      text NOT NULL,
    author_kind text NOT NULL CHECK (author_kind IN ('analyst', 'machine')),
    body        text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX case_comments_case ON case_comments (case_id, created_at, id);

CREATE TRIGGER case_comments_immutable
    BEFORE UPDATE OF id, author, author_kind, body, created_at ON case_comments
    FOR EACH ROW EXECUTE FUNCTION vigil_reject_record_change();

CREATE TRIGGER case_comments_no_delete
    BEFORE DELETE ON case_comments
    FOR EACH ROW EXECUTE FUNCTION vigil_reject_record_change();

CREATE TABLE case_tasks (
    id           uuid PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES cases (id),
    title        text NOT NULL CHECK (title <> ''),
    description  text NOT NULL DEFAULT '',
    status       text NOT NULL CHECK (status IN ('todo', 'in_progress', 'blocked', 'done')),
    priority     text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    assignee     text,
    due_at       timestamptz,
    completed_at timestamptz,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CHECK ((status = 'done') = (completed_at IS NOT NULL))
);
CREATE INDEX case_tasks_case ON case_tasks (case_id, created_at, id);

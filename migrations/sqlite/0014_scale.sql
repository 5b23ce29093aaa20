-- What a store holding millions of finished investigations needs (SQLite).
-- Mirrors postgres/0014_scale.sql. Each index answers a figure of `vigil
-- bench scale`; docs/benchmarks.md has the figures before and after.

-- `stats` counts the live rows (status 'pending', by phase) from this
-- partial index, a covering scan over the few thousand runs in flight, and
-- never reads a finished row.
CREATE INDEX investigations_live_phase ON investigations (phase, status) WHERE status = 'pending';

-- Finished rows are counted as they finish instead, by triggers, in the
-- writing transaction. SQLite has one writer at a time, so a counter row
-- per status makes no writer wait that would not have waited anyway (the
-- PostgreSQL store appends deltas instead, for its concurrent writers).
-- A migration that rebuilds `investigations` must create these triggers
-- again.
CREATE TABLE investigation_finished_counts (
    status TEXT PRIMARY KEY NOT NULL,
    count  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER investigations_count_finished_inserted
    AFTER INSERT ON investigations WHEN NEW.status <> 'pending'
BEGIN
    INSERT INTO investigation_finished_counts (status, count) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER investigations_count_finished_deleted
    AFTER DELETE ON investigations WHEN OLD.status <> 'pending'
BEGIN
    UPDATE investigation_finished_counts SET count = count - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER investigations_count_finished_changed
    AFTER UPDATE OF status ON investigations
    WHEN OLD.status IS NOT NEW.status AND (OLD.status <> 'pending' OR NEW.status <> 'pending')
BEGIN
    UPDATE investigation_finished_counts SET count = count - 1
    WHERE status = OLD.status AND OLD.status <> 'pending';
    INSERT INTO investigation_finished_counts (status, count)
    SELECT NEW.status, 1 WHERE NEW.status <> 'pending'
    ON CONFLICT (status) DO UPDATE SET count = count + 1;
END;

-- The rows already there (the migration runs in one transaction).
INSERT INTO investigation_finished_counts (status, count)
SELECT status, count(*) FROM investigations WHERE status <> 'pending' GROUP BY status;

-- The approvals inbox lists every request, pending first, then soonest to
-- expire (`LIST_APPROVALS_ORDER`): this index is that order, so the first
-- page is read from it instead of sorting every request ever made.
CREATE INDEX approval_requests_inbox
    ON approval_requests ((CASE status WHEN 'pending' THEN 0 ELSE 1 END), expires_at, id);
-- The console's approvals stream asks for requests created or decided since
-- its last poll: each side of that OR from its own index.
CREATE INDEX approval_requests_created ON approval_requests (created_at);
CREATE INDEX approval_requests_decided ON approval_requests (decided_at)
    WHERE decided_at IS NOT NULL;

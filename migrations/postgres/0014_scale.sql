-- What a store holding millions of finished investigations needs (PostgreSQL).
-- Mirrors sqlite/0014_scale.sql. Each index answers a figure of `vigil bench
-- scale`; docs/benchmarks.md has the figures before and after.

-- `stats` counts the live rows (status 'pending', by phase) from this
-- partial index, an index-only scan over the few thousand runs in flight,
-- and never reads a finished row.
CREATE INDEX investigations_live_phase ON investigations (phase, status) WHERE status = 'pending';

-- Finished rows are counted as they finish instead. A single counter row per
-- status, updated by every finishing transaction, would make concurrent
-- finishes wait on one another's row lock until commit (and deadlock when a
-- transaction finishes runs of two statuses in one order while another does
-- in the other). So a statement that moves rows into or out of a finished
-- status only appends its net change per status to
-- investigation_finished_deltas: an INSERT, which waits on nobody. Now and
-- then (about one finishing transaction in 64) the writer that gets the
-- advisory lock without waiting folds every committed delta into
-- investigation_finished_counts in one statement; a writer that does not
-- get it skips the fold. The fold and the deltas it removes commit
-- together, so a reader sums counts and deltas in one snapshot and gets the
-- exact count, whichever side of a fold it sees.
CREATE TABLE investigation_finished_counts (
    status text PRIMARY KEY,
    count  bigint NOT NULL
);
CREATE TABLE investigation_finished_deltas (
    status text NOT NULL,
    delta  bigint NOT NULL
);

CREATE FUNCTION vigil_fold_finished_deltas() RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF random() < 1.0 / 64
        AND pg_try_advisory_xact_lock('investigation_finished_deltas'::regclass::oid::bigint)
    THEN
        WITH folded AS (DELETE FROM investigation_finished_deltas RETURNING status, delta)
        INSERT INTO investigation_finished_counts AS c (status, count)
        SELECT status, sum(delta) FROM folded GROUP BY status
        ON CONFLICT (status) DO UPDATE SET count = c.count + excluded.count;
    END IF;
END;
$$;

-- Inserted rows, per statement (a bulk load appends one delta per status).
CREATE FUNCTION vigil_count_finished_inserted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO investigation_finished_deltas (status, delta)
    SELECT status, count(*) FROM inserted WHERE status <> 'pending' GROUP BY status;
    IF FOUND THEN
        PERFORM vigil_fold_finished_deltas();
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION vigil_count_finished_deleted() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO investigation_finished_deltas (status, delta)
    SELECT status, -count(*) FROM deleted WHERE status <> 'pending' GROUP BY status;
    RETURN NULL;
END;
$$;

-- A status change: only finishing, rescuing and reviewing change a finished
-- count, and the trigger's WHEN keeps every other update (claims,
-- heartbeats, checkpoints) from calling it at all.
CREATE FUNCTION vigil_count_finished_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO investigation_finished_deltas (status, delta)
    SELECT OLD.status, -1 WHERE OLD.status <> 'pending'
    UNION ALL
    SELECT NEW.status, 1 WHERE NEW.status <> 'pending';
    PERFORM vigil_fold_finished_deltas();
    RETURN NULL;
END;
$$;

CREATE TRIGGER investigations_count_finished_inserted
    AFTER INSERT ON investigations REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_count_finished_inserted();
CREATE TRIGGER investigations_count_finished_deleted
    AFTER DELETE ON investigations REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_count_finished_deleted();
CREATE TRIGGER investigations_count_finished_changed
    AFTER UPDATE OF status ON investigations
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
        AND (OLD.status <> 'pending' OR NEW.status <> 'pending'))
    EXECUTE FUNCTION vigil_count_finished_changed();

-- The rows already there. CREATE TRIGGER above holds a lock that keeps
-- writers out of the table until this migration commits, so none is missed
-- or counted twice.
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

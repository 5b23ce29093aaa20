-- What a run's record says about how it ran (PostgreSQL). Mirrors
-- sqlite/0006_run_truth.sql.
-- lost_turns: model calls that produced no turn (timeouts, 429s, outages).
-- mode: the runtime mode of the worker that last claimed the run; NULL
-- before its first claim and on runs claimed before modes were recorded.
ALTER TABLE investigations ADD COLUMN lost_turns bigint NOT NULL DEFAULT 0;
ALTER TABLE investigations ADD COLUMN mode text
    CHECK (mode IS NULL OR mode IN ('dummy', 'dry_run', 'real'));

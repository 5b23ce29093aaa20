-- Claims counted apart from attempts, PostgreSQL. Mirrors sqlite/0004_runs.sql.

-- `claims` counts every claim; `attempt` moves only on the first claim and
-- on a rescue (engine/src/machine/worker.rs, operator.rs). Until now
-- `attempt` counted every claim, so that is what existing rows have claimed.
ALTER TABLE investigations ADD COLUMN claims integer NOT NULL DEFAULT 0 CHECK (claims >= 0);
UPDATE investigations SET claims = attempt;

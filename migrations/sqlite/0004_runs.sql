-- Claims counted apart from attempts, and retries held back, SQLite. Mirrors postgres/0004_runs.sql.

-- `claims` counts every claim; `attempt` moves only on the first claim and
-- on a retry (a rescue, or a release to retry later: engine/src/machine/). Until now
-- `attempt` counted every claim, so that is what existing rows have claimed.
ALTER TABLE investigations ADD COLUMN claims INTEGER NOT NULL DEFAULT 0 CHECK (claims >= 0);
UPDATE investigations SET claims = attempt;

-- A run released to retry later (a model that failed for now) is not
-- claimed before `not_before`; the claim queries skip it until then and the
-- claim clears it. NULL: claimable at once.
ALTER TABLE investigations ADD COLUMN not_before INTEGER;

-- The runtime mode of the worker that asked for an approval (SQLite).
-- Mirrors postgres/0005_approval_mode.sql. An approval is valid only in that
-- mode; NULL on requests made before modes were recorded.
ALTER TABLE approval_requests ADD COLUMN mode TEXT
    CHECK (mode IS NULL OR mode IN ('dummy', 'dry_run', 'real'));

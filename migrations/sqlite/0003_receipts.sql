-- Signed head receipts (engine/src/receipt.rs), SQLite. Mirrors
-- postgres/0003_receipts.sql. Times are INTEGER microseconds, ids UUID text.

-- A receipt states that a log had the head (seq, hash) when its aggregate
-- reached `status`, signed with the audit key (which is never stored here).
CREATE TABLE head_receipts (
    log          TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    hash         TEXT NOT NULL,
    status       TEXT NOT NULL,
    issued_at    INTEGER NOT NULL,
    key_id       TEXT NOT NULL,
    signature    TEXT NOT NULL,
    PRIMARY KEY (log, aggregate_id, seq)
) WITHOUT ROWID;

CREATE TRIGGER head_receipts_no_update
    BEFORE UPDATE ON head_receipts
BEGIN
    SELECT RAISE(ABORT, 'head_receipts is append-only: UPDATE rejected');
END;

CREATE TRIGGER head_receipts_no_delete
    BEFORE DELETE ON head_receipts
BEGIN
    SELECT RAISE(ABORT, 'head_receipts is append-only: DELETE rejected');
END;

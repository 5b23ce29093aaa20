-- Signed head receipts (engine/src/receipt.rs), PostgreSQL. Mirrors
-- sqlite/0003_receipts.sql.
--
-- One append-only trigger function guards every log-shaped table: it names
-- the table in its refusal instead of assuming investigation_events.
CREATE OR REPLACE FUNCTION vigil_reject_event_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'raise_exception';
END;
$$;

-- A receipt states that a log had the head (seq, hash) when its aggregate
-- reached `status`, signed with the audit key (which is never stored here).
CREATE TABLE head_receipts (
    log          text NOT NULL,
    aggregate_id uuid NOT NULL,
    seq          bigint NOT NULL CHECK (seq >= 1),
    hash         text NOT NULL,
    status       text NOT NULL,
    issued_at    timestamptz NOT NULL,
    key_id       text NOT NULL,
    signature    text NOT NULL,
    PRIMARY KEY (log, aggregate_id, seq)
);

CREATE TRIGGER head_receipts_append_only
    BEFORE UPDATE OR DELETE ON head_receipts
    FOR EACH ROW EXECUTE FUNCTION vigil_reject_event_mutation();

CREATE TRIGGER head_receipts_no_truncate
    BEFORE TRUNCATE ON head_receipts
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_reject_event_mutation();

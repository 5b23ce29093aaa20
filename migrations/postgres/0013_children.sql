-- Child investigations (PostgreSQL). Mirrors sqlite/0013_children.sql.
--
-- investigations.parent_id: the investigation that delegated this one
-- through its `delegate_investigation` call (NULL: a principal dispatched
-- it); parent_call_id: that call's id; depth: how many delegations deep it
-- is (0 for a dispatch by a principal). Set in the dispatch transaction and
-- never changed.
-- phase 'awaiting_children': parked, without a lease, until every child
-- has finished.
ALTER TABLE investigations ADD COLUMN parent_id uuid REFERENCES investigations (id);
ALTER TABLE investigations ADD COLUMN parent_call_id text;
ALTER TABLE investigations ADD COLUMN depth integer NOT NULL DEFAULT 0 CHECK (depth >= 0);
ALTER TABLE investigations ADD CONSTRAINT investigations_parent_call
    CHECK ((parent_id IS NULL) = (parent_call_id IS NULL));

ALTER TABLE investigations DROP CONSTRAINT investigations_phase_check;
ALTER TABLE investigations ADD CONSTRAINT investigations_phase_check
    CHECK (phase IN ('queued', 'running', 'awaiting_approval', 'awaiting_children'));

-- A parent's children, oldest first.
CREATE INDEX investigations_by_parent ON investigations (parent_id, created_at, id)
    WHERE parent_id IS NOT NULL;

-- Case-linked investigations and the approval control plane on cases.
--
-- investigations.case_id: the case an investigation was dispatched for
-- (NULL: none; the free-text case_ref stays for external case systems).
-- It is set in the dispatch transaction and never changes.
ALTER TABLE investigations ADD COLUMN case_id uuid REFERENCES cases (id);

CREATE INDEX investigations_by_case ON investigations (case_id, created_at, id)
    WHERE case_id IS NOT NULL;

-- cases.resume_status: the status a case left when a linked investigation's
-- approval request moved it to pending_approval; a decision returns it
-- there. NULL when no approval holds the case (a person's status change
-- clears it: the person wins).
ALTER TABLE cases ADD COLUMN resume_status text
    CHECK (resume_status IN ('open', 'in_progress', 'pending_approval', 'contained',
                             'eradicated', 'recovered', 'resolved', 'closed', 'pending',
                             'investigating', 'escalated'));

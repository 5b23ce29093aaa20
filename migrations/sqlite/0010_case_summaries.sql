-- AI summaries of cases.
--
-- investigations.case_purpose: what an investigation linked to a case is
-- for. 'investigate' (every investigation before this migration): its
-- result is written back as a note, result_written, observables and the
-- case's confidence. 'summarize': its result becomes the case's AI summary.
-- Set with case_id in the dispatch transaction and never changed.
ALTER TABLE investigations ADD COLUMN case_purpose TEXT NOT NULL DEFAULT 'investigate'
    CHECK (case_purpose IN ('investigate', 'summarize'));

-- case_comments.kind: 'note' (every comment before this migration) or
-- 'ai_summary' (a summarize investigation's result). Immutable like the
-- comment's other columns.
ALTER TABLE case_comments ADD COLUMN kind TEXT NOT NULL DEFAULT 'note'
    CHECK (kind IN ('note', 'ai_summary'));

CREATE TRIGGER case_comments_kind_immutable
    BEFORE UPDATE OF kind ON case_comments
BEGIN
    SELECT RAISE(ABORT, 'case_comments is immutable apart from its case: UPDATE rejected');
END;

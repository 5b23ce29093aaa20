//! Every SQL statement of the PostgreSQL store's cases, one named constant
//! each (fragments for the dynamic listing are named too). The SQLite
//! store uses the same names for the same statements.

/// The case columns, in the order `case_rows::case` reads them, with the
/// sorted alert ids as a JSON array; the table is aliased `c`.
macro_rules! case_columns {
    () => {
        "c.id, c.number, c.title, c.severity, c.description, c.assignee, \
         c.requires_human_approval, c.confidence, c.confidence_reason, c.status, c.disposition, \
         c.tags, c.created_by, c.created_at, c.updated_at, c.status_changed_at, c.deleted_at, \
         c.merged_into, c.last_seq, c.last_hash, c.resume_status, \
         (SELECT coalesce(json_agg(a.alert_id ORDER BY a.alert_id), '[]'::json) \
          FROM case_alerts a WHERE a.case_id = c.id) AS alert_ids"
    };
}

/// How many alerts are linked to case `c`.
macro_rules! alert_count {
    () => {
        "(SELECT count(*) FROM case_alerts a WHERE a.case_id = c.id)"
    };
}

/// How many observables case `c` holds.
macro_rules! observable_count {
    () => {
        "(SELECT count(*) FROM observables o WHERE o.case_id = c.id)"
    };
}

/// [`case_columns`] and the counts of what the case holds.
macro_rules! overview_columns {
    () => {
        concat!(
            case_columns!(),
            ", ",
            alert_count!(),
            " AS alert_count, ",
            observable_count!(),
            " AS observable_count, \
             (SELECT count(*) FROM evidence e WHERE e.case_id = c.id) AS evidence_count, \
             (SELECT count(*) FROM case_comments m WHERE m.case_id = c.id) AS comment_count, \
             (SELECT count(*) FROM case_tasks t WHERE t.case_id = c.id) AS task_count, \
             (SELECT count(*) FROM case_tasks t WHERE t.case_id = c.id AND t.status <> 'done') \
             AS open_task_count"
        )
    };
}

macro_rules! observable_columns {
    () => {
        "id, case_id, type, value, source, sightings, first_seen, last_seen, tlp, pap, \
         enrichment, tags, created_by, updated_at"
    };
}

macro_rules! evidence_columns {
    () => {
        "id, case_id, name, kind, description, sha256, size_bytes, uri, collected_by, \
         collected_at, created_at"
    };
}

macro_rules! custody_columns {
    () => {
        "id, evidence_id, action, from_party, to_party, note, actor, at"
    };
}

macro_rules! comment_columns {
    () => {
        "id, case_id, author, author_kind, body, created_at, kind"
    };
}

macro_rules! task_columns {
    () => {
        "id, case_id, title, description, status, priority, assignee, due_at, completed_at, \
         created_by, created_at, updated_at"
    };
}

pub const GET_CASE: &str = concat!(
    "SELECT ",
    overview_columns!(),
    " FROM cases c WHERE c.id = $1"
);

pub const GET_CASE_BY_NUMBER: &str = concat!(
    "SELECT ",
    overview_columns!(),
    " FROM cases c WHERE c.number = $1"
);

/// The case a case was merged into, unless it is deleted; no lock.
pub const CASE_MERGE_TARGET: &str =
    "SELECT merged_into FROM cases WHERE id = $1 AND deleted_at IS NULL";

pub const LOCK_CASE: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases c WHERE c.id = $1 FOR UPDATE OF c"
);

/// Followed by the filters, the keyset condition and the order.
pub const LIST_CASES: &str = concat!("SELECT ", overview_columns!(), " FROM cases c WHERE 1 = 1");

/// The sort expression of [`vigil_engine::store::CaseSortKey::AlertCount`]:
/// the same count the listing returns as `alert_count`.
pub const COUNT_ALERTS: &str = alert_count!();

/// The sort expression of
/// [`vigil_engine::store::CaseSortKey::ObservableCount`]: the same count the
/// listing returns as `observable_count`.
pub const COUNT_OBSERVABLES: &str = observable_count!();

/// Followed by the filters.
pub const CASE_KPIS: &str = "SELECT count(*) AS total, \
     count(*) FILTER (WHERE c.status NOT IN ('resolved', 'closed')) AS open, \
     count(*) FILTER (WHERE c.severity = 'critical') AS critical, \
     count(*) FILTER (WHERE c.status IN ('resolved', 'closed')) AS resolved \
     FROM cases c WHERE 1 = 1";

/// The tag filter, followed by the tag and `)`.
pub const FILTER_TAG: &str = " AND c.tags @> jsonb_build_array(";

/// The observable filter, followed by the two values and `))`.
pub const FILTER_OBSERVABLE: &str =
    " AND EXISTS (SELECT 1 FROM observables o WHERE o.case_id = c.id AND o.value IN (";

/// The title filter, followed by the lower-case needle and `) > 0`.
pub const FILTER_TEXT: &str = " AND strpos(c.title_key, ";

pub const NEXT_CASE_NUMBER: &str = "SELECT nextval('case_numbers')";

pub const INSERT_CASE: &str = "INSERT INTO cases (id, title, title_key, severity, description, \
     assignee, requires_human_approval, confidence, confidence_reason, status, disposition, tags, \
     updated_at, status_changed_at, deleted_at, merged_into, last_seq, last_hash, resume_status, \
     number, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
     $14, $15, $16, $17, $18, $19, $20, $21, $22)";

pub const UPDATE_CASE: &str = "UPDATE cases SET title = $2, title_key = $3, severity = $4, \
     description = $5, assignee = $6, requires_human_approval = $7, confidence = $8, \
     confidence_reason = $9, status = $10, disposition = $11, tags = $12, updated_at = $13, \
     status_changed_at = $14, deleted_at = $15, merged_into = $16, last_seq = $17, \
     last_hash = $18, resume_status = $19 WHERE id = $1";

pub const ALERT_OWNER: &str = "SELECT case_id FROM case_alerts WHERE alert_id = $1";

pub const LINK_ALERT: &str =
    "INSERT INTO case_alerts (alert_id, case_id, linked_at, linked_by) VALUES ($1, $2, $3, $4)";

pub const DETACH_ALERTS: &str = "DELETE FROM case_alerts WHERE case_id = $1";

pub const MOVE_ALERTS: &str = "UPDATE case_alerts SET case_id = $2 WHERE case_id = $1";

pub const FIND_OBSERVABLE: &str = concat!(
    "SELECT ",
    observable_columns!(),
    " FROM observables WHERE case_id = $1 AND type = $2 AND value = $3"
);

pub const GET_OBSERVABLE: &str = concat!(
    "SELECT ",
    observable_columns!(),
    " FROM observables WHERE id = $1"
);

pub const CASE_OBSERVABLES: &str = concat!(
    "SELECT ",
    observable_columns!(),
    " FROM observables WHERE case_id = $1 ORDER BY first_seen, id"
);

pub const INSERT_OBSERVABLE: &str = concat!(
    "INSERT INTO observables (",
    observable_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
);

/// Binds like [`INSERT_OBSERVABLE`]; `type`, `value`, `created_by` (`$3`,
/// `$4`, `$13`) never change.
pub const UPDATE_OBSERVABLE: &str = "UPDATE observables SET case_id = $2, source = $5, \
     sightings = $6, first_seen = $7, last_seen = $8, tlp = $9, pap = $10, enrichment = $11, \
     tags = $12, updated_at = $14 WHERE id = $1 AND type = $3 AND value = $4 AND created_by = $13";

pub const DELETE_OBSERVABLE: &str = "DELETE FROM observables WHERE id = $1";

/// Other cases (not deleted) holding one of case `$1`'s observables.
pub const SHARED_OBSERVABLES: &str = "SELECT o2.case_id, o2.type, o2.value, \
     (SELECT count(*) FROM observables o3 WHERE o3.case_id = o2.case_id) AS other_total \
     FROM observables o1 \
     JOIN observables o2 ON o2.type = o1.type AND o2.value = o1.value AND o2.case_id <> o1.case_id \
     JOIN cases c ON c.id = o2.case_id AND c.deleted_at IS NULL \
     WHERE o1.case_id = $1";

pub const GET_EVIDENCE: &str = concat!(
    "SELECT ",
    evidence_columns!(),
    " FROM evidence WHERE id = $1"
);

pub const GET_EVIDENCE_CONTENT: &str = concat!(
    "SELECT ",
    evidence_columns!(),
    ", content FROM evidence WHERE id = $1"
);

pub const CASE_EVIDENCE: &str = concat!(
    "SELECT ",
    evidence_columns!(),
    " FROM evidence WHERE case_id = $1 ORDER BY created_at, id"
);

pub const INSERT_EVIDENCE: &str = concat!(
    "INSERT INTO evidence (",
    evidence_columns!(),
    ", content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);

pub const MOVE_EVIDENCE: &str = "UPDATE evidence SET case_id = $2 WHERE case_id = $1";

pub const INSERT_CUSTODY: &str = concat!(
    "INSERT INTO evidence_custody (",
    custody_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

pub const EVIDENCE_CUSTODY: &str = concat!(
    "SELECT ",
    custody_columns!(),
    " FROM evidence_custody WHERE evidence_id = $1 ORDER BY at, id"
);

pub const INSERT_COMMENT: &str = concat!(
    "INSERT INTO case_comments (",
    comment_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);

pub const CASE_COMMENTS: &str = concat!(
    "SELECT ",
    comment_columns!(),
    " FROM case_comments WHERE case_id = $1 ORDER BY created_at, id"
);

pub const MOVE_COMMENTS: &str = "UPDATE case_comments SET case_id = $2 WHERE case_id = $1";

pub const GET_TASK: &str = concat!("SELECT ", task_columns!(), " FROM case_tasks WHERE id = $1");

pub const CASE_TASKS: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM case_tasks WHERE case_id = $1 ORDER BY created_at, id"
);

pub const INSERT_TASK: &str = concat!(
    "INSERT INTO case_tasks (",
    task_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);

/// Binds like [`INSERT_TASK`]; `created_by` and `created_at` (`$10`,
/// `$11`) never change.
pub const UPDATE_TASK: &str = "UPDATE case_tasks SET case_id = $2, title = $3, \
     description = $4, status = $5, priority = $6, assignee = $7, due_at = $8, \
     completed_at = $9, updated_at = $12 WHERE id = $1 AND created_by = $10 AND created_at = $11";

pub const MOVE_TASKS: &str = "UPDATE case_tasks SET case_id = $2 WHERE case_id = $1";

pub const CASE_COUNTS: &str = "SELECT \
     (SELECT count(*) FROM case_alerts a WHERE a.case_id = $1) AS alert_count, \
     (SELECT count(*) FROM observables o WHERE o.case_id = $1) AS observable_count, \
     (SELECT count(*) FROM evidence e WHERE e.case_id = $1) AS evidence_count, \
     (SELECT count(*) FROM case_comments m WHERE m.case_id = $1) AS comment_count, \
     (SELECT count(*) FROM case_tasks t WHERE t.case_id = $1) AS task_count, \
     (SELECT count(*) FROM case_tasks t WHERE t.case_id = $1 AND t.status <> 'done') \
     AS open_task_count";

// Alerts (migration 0009_alerts).

macro_rules! alert_columns {
    () => {
        "id, source, source_id, rule, severity, title, observed_at, raw, entities, \
         grouping_key, case_id, created_at"
    };
}

pub const INSERT_ALERT: &str = concat!(
    "INSERT INTO alerts (",
    alert_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (source, source_id) DO NOTHING"
);

pub const GET_ALERT: &str = concat!("SELECT ", alert_columns!(), " FROM alerts WHERE id = $1");

pub const LOCK_ALERT: &str = concat!(
    "SELECT ",
    alert_columns!(),
    " FROM alerts WHERE id = $1 FOR UPDATE"
);

pub const ALERT_BY_SOURCE: &str = concat!(
    "SELECT ",
    alert_columns!(),
    " FROM alerts WHERE source = $1 AND source_id = $2"
);

/// The head of the alert listing; filters and paging are appended.
pub const LIST_ALERTS: &str = concat!("SELECT ", alert_columns!(), " FROM alerts WHERE true");

/// Under READ COMMITTED a concurrent insert of the same key makes this
/// wait for that transaction's end, then do nothing; the `FOR UPDATE` read
/// that follows then sees the committed row.
pub const CLAIM_ALERT_GROUP: &str =
    "INSERT INTO alert_groups (grouping_key) VALUES ($1) ON CONFLICT (grouping_key) DO NOTHING";

pub const GET_ALERT_GROUP: &str =
    "SELECT case_id, last_alert_at FROM alert_groups WHERE grouping_key = $1 FOR UPDATE";

pub const UPDATE_ALERT_GROUP: &str =
    "UPDATE alert_groups SET case_id = $2, last_alert_at = $3 WHERE grouping_key = $1";

pub const LINK_ALERT_RECORD: &str = "UPDATE alerts SET case_id = $2 WHERE id = $1";

pub const DETACH_ALERT_RECORDS: &str = "UPDATE alerts SET case_id = NULL WHERE case_id = $1";

pub const MOVE_ALERT_RECORDS: &str = "UPDATE alerts SET case_id = $2 WHERE case_id = $1";

//! Decoding case rows, and binding case records, for SQLite.

use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite};
use vigil_engine::case::{
    Alert, AlertId, Case, CaseId, CaseNumber, Comment, CommentId, CustodyId, CustodyRecord,
    Evidence, EvidenceId, Observable, ObservableId, Task, TaskId,
};
use vigil_engine::store::{
    CaseCounts, CaseKpis, CaseOverview, Result, SharedObservable, SharedRow, sort_title,
};

use crate::rows::{col, json, map_err, micros, opt_micros, opt_time, parse, time, to_json, uuid};

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

fn case_id(s: &str) -> Result<CaseId> {
    uuid(s).map(CaseId)
}

fn strings(row: &SqliteRow, name: &str) -> Result<Vec<String>> {
    let text: String = col(row, name)?;
    serde_json::from_str(&text)
        .map_err(|e| vigil_engine::store::Error::corrupt(format!("bad {name} `{text}`: {e}")))
}

pub(crate) fn case(row: &SqliteRow) -> Result<Case> {
    let assignee: Option<String> = col(row, "assignee")?;
    let disposition: Option<String> = col(row, "disposition")?;
    let resume_status: Option<String> = col(row, "resume_status")?;
    let merged_into: Option<String> = col(row, "merged_into")?;
    Ok(Case {
        id: case_id(&col::<String>(row, "id")?)?,
        number: CaseNumber(col(row, "number")?),
        title: col(row, "title")?,
        severity: parse(&col::<String>(row, "severity")?)?,
        description: col(row, "description")?,
        assignee,
        requires_human_approval: col(row, "requires_human_approval")?,
        confidence: col(row, "confidence")?,
        confidence_reason: col(row, "confidence_reason")?,
        status: parse(&col::<String>(row, "status")?)?,
        disposition: disposition.as_deref().map(parse).transpose()?,
        alert_ids: strings(row, "alert_ids")?,
        tags: strings(row, "tags")?,
        created_by: col(row, "created_by")?,
        created_at: time(col(row, "created_at")?)?,
        updated_at: time(col(row, "updated_at")?)?,
        status_changed_at: time(col(row, "status_changed_at")?)?,
        deleted_at: opt_time(col(row, "deleted_at")?)?,
        merged_into: merged_into.as_deref().map(case_id).transpose()?,
        last_seq: col(row, "last_seq")?,
        last_hash: col(row, "last_hash")?,
        resume_status: resume_status.as_deref().map(parse).transpose()?,
    })
}

pub(crate) fn counts(row: &SqliteRow) -> Result<CaseCounts> {
    Ok(CaseCounts {
        alerts: col(row, "alert_count")?,
        observables: col(row, "observable_count")?,
        evidence: col(row, "evidence_count")?,
        comments: col(row, "comment_count")?,
        tasks: col(row, "task_count")?,
        open_tasks: col(row, "open_task_count")?,
    })
}

pub(crate) fn overview(row: &SqliteRow) -> Result<CaseOverview> {
    Ok(CaseOverview {
        case: case(row)?,
        counts: counts(row)?,
    })
}

pub(crate) fn kpis(row: &SqliteRow) -> Result<CaseKpis> {
    Ok(CaseKpis {
        total: col(row, "total")?,
        open: col(row, "open")?,
        critical: col(row, "critical")?,
        resolved: col(row, "resolved")?,
    })
}

pub(crate) fn observable(row: &SqliteRow) -> Result<Observable> {
    Ok(Observable {
        id: ObservableId(uuid(&col::<String>(row, "id")?)?),
        case_id: case_id(&col::<String>(row, "case_id")?)?,
        kind: parse(&col::<String>(row, "type")?)?,
        value: col(row, "value")?,
        source: col(row, "source")?,
        sightings: col(row, "sightings")?,
        first_seen: time(col(row, "first_seen")?)?,
        last_seen: time(col(row, "last_seen")?)?,
        tlp: parse(&col::<String>(row, "tlp")?)?,
        pap: parse(&col::<String>(row, "pap")?)?,
        enrichment: json(&col::<String>(row, "enrichment")?)?,
        tags: strings(row, "tags")?,
        created_by: col(row, "created_by")?,
        updated_at: time(col(row, "updated_at")?)?,
    })
}

pub(crate) fn shared(row: &SqliteRow) -> Result<SharedRow> {
    Ok(SharedRow {
        case_id: case_id(&col::<String>(row, "case_id")?)?,
        observable: SharedObservable {
            kind: parse(&col::<String>(row, "type")?)?,
            value: col(row, "value")?,
        },
        other_total: col(row, "other_total")?,
    })
}

pub(crate) fn evidence(row: &SqliteRow) -> Result<Evidence> {
    Ok(Evidence {
        id: EvidenceId(uuid(&col::<String>(row, "id")?)?),
        case_id: case_id(&col::<String>(row, "case_id")?)?,
        name: col(row, "name")?,
        kind: parse(&col::<String>(row, "kind")?)?,
        description: col(row, "description")?,
        sha256: col(row, "sha256")?,
        size_bytes: col(row, "size_bytes")?,
        uri: col(row, "uri")?,
        collected_by: col(row, "collected_by")?,
        collected_at: time(col(row, "collected_at")?)?,
        created_at: time(col(row, "created_at")?)?,
    })
}

pub(crate) fn content(row: &SqliteRow) -> Result<Option<Vec<u8>>> {
    row.try_get("content").map_err(map_err)
}

pub(crate) fn custody(row: &SqliteRow) -> Result<CustodyRecord> {
    Ok(CustodyRecord {
        id: CustodyId(uuid(&col::<String>(row, "id")?)?),
        evidence_id: EvidenceId(uuid(&col::<String>(row, "evidence_id")?)?),
        action: parse(&col::<String>(row, "action")?)?,
        from: col(row, "from_party")?,
        to: col(row, "to_party")?,
        note: col(row, "note")?,
        actor: col(row, "actor")?,
        at: time(col(row, "at")?)?,
    })
}

pub(crate) fn comment(row: &SqliteRow) -> Result<Comment> {
    Ok(Comment {
        id: CommentId(uuid(&col::<String>(row, "id")?)?),
        case_id: case_id(&col::<String>(row, "case_id")?)?,
        author: col(row, "author")?,
        author_kind: parse(&col::<String>(row, "author_kind")?)?,
        kind: parse(&col::<String>(row, "kind")?)?,
        body: col(row, "body")?,
        created_at: time(col(row, "created_at")?)?,
    })
}

pub(crate) fn task(row: &SqliteRow) -> Result<Task> {
    Ok(Task {
        id: TaskId(uuid(&col::<String>(row, "id")?)?),
        case_id: case_id(&col::<String>(row, "case_id")?)?,
        title: col(row, "title")?,
        description: col(row, "description")?,
        status: parse(&col::<String>(row, "status")?)?,
        priority: parse(&col::<String>(row, "priority")?)?,
        assignee: col(row, "assignee")?,
        due_at: opt_time(col(row, "due_at")?)?,
        completed_at: opt_time(col(row, "completed_at")?)?,
        created_by: col(row, "created_by")?,
        created_at: time(col(row, "created_at")?)?,
        updated_at: time(col(row, "updated_at")?)?,
    })
}

/// Binds the mutable case columns `?1`..`?19`, as in `UPDATE_CASE`.
pub(crate) fn bind_case<'q>(sql: &'static str, c: &'q Case) -> Query<'q> {
    sqlx::query(sql)
        .bind(c.id.to_string())
        .bind(&c.title)
        .bind(sort_title(&c.title))
        .bind(c.severity.as_str())
        .bind(&c.description)
        .bind(&c.assignee)
        .bind(c.requires_human_approval)
        .bind(c.confidence)
        .bind(&c.confidence_reason)
        .bind(c.status.as_str())
        .bind(c.disposition.map(|d| d.as_str()))
        .bind(to_json(&c.tags))
        .bind(micros(c.updated_at))
        .bind(micros(c.status_changed_at))
        .bind(opt_micros(c.deleted_at))
        .bind(c.merged_into.map(|id| id.to_string()))
        .bind(c.last_seq)
        .bind(&c.last_hash)
        .bind(c.resume_status.map(|s| s.as_str()))
}

/// Binds every observable column `?1`..`?14`, as in `INSERT_OBSERVABLE`.
pub(crate) fn bind_observable<'q>(sql: &'static str, o: &'q Observable) -> Query<'q> {
    sqlx::query(sql)
        .bind(o.id.to_string())
        .bind(o.case_id.to_string())
        .bind(o.kind.as_str())
        .bind(&o.value)
        .bind(&o.source)
        .bind(o.sightings)
        .bind(micros(o.first_seen))
        .bind(micros(o.last_seen))
        .bind(o.tlp.as_str())
        .bind(o.pap.as_str())
        .bind(to_json(&o.enrichment))
        .bind(to_json(&o.tags))
        .bind(&o.created_by)
        .bind(micros(o.updated_at))
}

/// Binds every task column `?1`..`?12`, as in `INSERT_TASK`.
pub(crate) fn bind_task<'q>(sql: &'static str, t: &'q Task) -> Query<'q> {
    sqlx::query(sql)
        .bind(t.id.to_string())
        .bind(t.case_id.to_string())
        .bind(&t.title)
        .bind(&t.description)
        .bind(t.status.as_str())
        .bind(t.priority.as_str())
        .bind(&t.assignee)
        .bind(opt_micros(t.due_at))
        .bind(opt_micros(t.completed_at))
        .bind(&t.created_by)
        .bind(micros(t.created_at))
        .bind(micros(t.updated_at))
}

pub(crate) fn alert(row: &SqliteRow) -> Result<Alert> {
    let entities: String = col(row, "entities")?;
    let case: Option<String> = col(row, "case_id")?;
    Ok(Alert {
        id: AlertId(uuid(&col::<String>(row, "id")?)?),
        source: col(row, "source")?,
        source_id: col(row, "source_id")?,
        rule: col(row, "rule")?,
        severity: parse(&col::<String>(row, "severity")?)?,
        title: col(row, "title")?,
        observed_at: time(col(row, "observed_at")?)?,
        raw: json(&col::<String>(row, "raw")?)?,
        entities: serde_json::from_str(&entities).map_err(|e| {
            vigil_engine::store::Error::corrupt(format!("bad entities `{entities}`: {e}"))
        })?,
        grouping_key: col(row, "grouping_key")?,
        case_id: case.as_deref().map(case_id).transpose()?,
        created_at: time(col(row, "created_at")?)?,
    })
}

pub(crate) fn bind_alert<'q>(sql: &'static str, a: &'q Alert) -> Query<'q> {
    sqlx::query(sql)
        .bind(a.id.to_string())
        .bind(a.source.as_str())
        .bind(a.source_id.as_str())
        .bind(a.rule.as_str())
        .bind(a.severity.as_str())
        .bind(a.title.as_str())
        .bind(micros(a.observed_at))
        .bind(to_json(&a.raw))
        .bind(to_json(&a.entities))
        .bind(a.grouping_key.as_deref())
        .bind(a.case_id.map(|c| c.to_string()))
        .bind(micros(a.created_at))
}

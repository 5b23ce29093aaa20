//! Decoding case rows, and binding case records, for PostgreSQL.

use serde_json::Value;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::types::Json;
use sqlx::{Postgres, Row};
use uuid::Uuid;
use vigil_engine::case::{
    Alert, AlertEntity, AlertId, Case, CaseId, CaseNumber, Comment, CommentId, CustodyId,
    CustodyRecord, Evidence, EvidenceId, Observable, ObservableId, Task, TaskId,
};
use vigil_engine::store::{
    CaseCounts, CaseKpis, CaseOverview, Result, SharedObservable, SharedRow, sort_title,
};

use crate::rows::{col, map_err, parse};

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

fn strings(row: &PgRow, name: &str) -> Result<Vec<String>> {
    Ok(col::<Json<Vec<String>>>(row, name)?.0)
}

pub(crate) fn case(row: &PgRow) -> Result<Case> {
    let disposition: Option<String> = col(row, "disposition")?;
    let resume_status: Option<String> = col(row, "resume_status")?;
    let merged_into: Option<Uuid> = col(row, "merged_into")?;
    Ok(Case {
        id: CaseId(col(row, "id")?),
        number: CaseNumber(col(row, "number")?),
        title: col(row, "title")?,
        severity: parse(&col::<String>(row, "severity")?)?,
        description: col(row, "description")?,
        assignee: col(row, "assignee")?,
        requires_human_approval: col(row, "requires_human_approval")?,
        confidence: col(row, "confidence")?,
        confidence_reason: col(row, "confidence_reason")?,
        status: parse(&col::<String>(row, "status")?)?,
        disposition: disposition.as_deref().map(parse).transpose()?,
        alert_ids: strings(row, "alert_ids")?,
        tags: strings(row, "tags")?,
        created_by: col(row, "created_by")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
        status_changed_at: col(row, "status_changed_at")?,
        deleted_at: col(row, "deleted_at")?,
        merged_into: merged_into.map(CaseId),
        last_seq: col(row, "last_seq")?,
        last_hash: col(row, "last_hash")?,
        resume_status: resume_status.as_deref().map(parse).transpose()?,
    })
}

pub(crate) fn counts(row: &PgRow) -> Result<CaseCounts> {
    Ok(CaseCounts {
        alerts: col(row, "alert_count")?,
        observables: col(row, "observable_count")?,
        evidence: col(row, "evidence_count")?,
        comments: col(row, "comment_count")?,
        tasks: col(row, "task_count")?,
        open_tasks: col(row, "open_task_count")?,
    })
}

pub(crate) fn overview(row: &PgRow) -> Result<CaseOverview> {
    Ok(CaseOverview {
        case: case(row)?,
        counts: counts(row)?,
    })
}

pub(crate) fn kpis(row: &PgRow) -> Result<CaseKpis> {
    Ok(CaseKpis {
        total: col(row, "total")?,
        open: col(row, "open")?,
        critical: col(row, "critical")?,
        resolved: col(row, "resolved")?,
    })
}

pub(crate) fn observable(row: &PgRow) -> Result<Observable> {
    Ok(Observable {
        id: ObservableId(col(row, "id")?),
        case_id: CaseId(col(row, "case_id")?),
        kind: parse(&col::<String>(row, "type")?)?,
        value: col(row, "value")?,
        source: col(row, "source")?,
        sightings: col(row, "sightings")?,
        first_seen: col(row, "first_seen")?,
        last_seen: col(row, "last_seen")?,
        tlp: parse(&col::<String>(row, "tlp")?)?,
        pap: parse(&col::<String>(row, "pap")?)?,
        enrichment: col::<Value>(row, "enrichment")?,
        tags: strings(row, "tags")?,
        created_by: col(row, "created_by")?,
        updated_at: col(row, "updated_at")?,
    })
}

pub(crate) fn shared(row: &PgRow) -> Result<SharedRow> {
    Ok(SharedRow {
        case_id: CaseId(col(row, "case_id")?),
        observable: SharedObservable {
            kind: parse(&col::<String>(row, "type")?)?,
            value: col(row, "value")?,
        },
        other_total: col(row, "other_total")?,
    })
}

pub(crate) fn evidence(row: &PgRow) -> Result<Evidence> {
    Ok(Evidence {
        id: EvidenceId(col(row, "id")?),
        case_id: CaseId(col(row, "case_id")?),
        name: col(row, "name")?,
        kind: parse(&col::<String>(row, "kind")?)?,
        description: col(row, "description")?,
        sha256: col(row, "sha256")?,
        size_bytes: col(row, "size_bytes")?,
        uri: col(row, "uri")?,
        collected_by: col(row, "collected_by")?,
        collected_at: col(row, "collected_at")?,
        created_at: col(row, "created_at")?,
    })
}

pub(crate) fn content(row: &PgRow) -> Result<Option<Vec<u8>>> {
    row.try_get("content").map_err(map_err)
}

pub(crate) fn custody(row: &PgRow) -> Result<CustodyRecord> {
    Ok(CustodyRecord {
        id: CustodyId(col(row, "id")?),
        evidence_id: EvidenceId(col(row, "evidence_id")?),
        action: parse(&col::<String>(row, "action")?)?,
        from: col(row, "from_party")?,
        to: col(row, "to_party")?,
        note: col(row, "note")?,
        actor: col(row, "actor")?,
        at: col(row, "at")?,
    })
}

pub(crate) fn comment(row: &PgRow) -> Result<Comment> {
    Ok(Comment {
        id: CommentId(col(row, "id")?),
        case_id: CaseId(col(row, "case_id")?),
        author: col(row, "author")?,
        author_kind: parse(&col::<String>(row, "author_kind")?)?,
        kind: parse(&col::<String>(row, "kind")?)?,
        body: col(row, "body")?,
        created_at: col(row, "created_at")?,
    })
}

pub(crate) fn task(row: &PgRow) -> Result<Task> {
    Ok(Task {
        id: TaskId(col(row, "id")?),
        case_id: CaseId(col(row, "case_id")?),
        title: col(row, "title")?,
        description: col(row, "description")?,
        status: parse(&col::<String>(row, "status")?)?,
        priority: parse(&col::<String>(row, "priority")?)?,
        assignee: col(row, "assignee")?,
        due_at: col(row, "due_at")?,
        completed_at: col(row, "completed_at")?,
        created_by: col(row, "created_by")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    })
}

/// Binds the mutable case columns `$1`..`$19`, as in `UPDATE_CASE`.
pub(crate) fn bind_case<'q>(sql: &'static str, c: &'q Case) -> Query<'q> {
    sqlx::query(sql)
        .bind(c.id.0)
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
        .bind(Json(&c.tags))
        .bind(c.updated_at)
        .bind(c.status_changed_at)
        .bind(c.deleted_at)
        .bind(c.merged_into.map(|id| id.0))
        .bind(c.last_seq)
        .bind(&c.last_hash)
        .bind(c.resume_status.map(|s| s.as_str()))
}

/// Binds every observable column `$1`..`$14`, as in `INSERT_OBSERVABLE`.
pub(crate) fn bind_observable<'q>(sql: &'static str, o: &'q Observable) -> Query<'q> {
    sqlx::query(sql)
        .bind(o.id.0)
        .bind(o.case_id.0)
        .bind(o.kind.as_str())
        .bind(&o.value)
        .bind(&o.source)
        .bind(o.sightings)
        .bind(o.first_seen)
        .bind(o.last_seen)
        .bind(o.tlp.as_str())
        .bind(o.pap.as_str())
        .bind(&o.enrichment)
        .bind(Json(&o.tags))
        .bind(&o.created_by)
        .bind(o.updated_at)
}

/// Binds every task column `$1`..`$12`, as in `INSERT_TASK`.
pub(crate) fn bind_task<'q>(sql: &'static str, t: &'q Task) -> Query<'q> {
    sqlx::query(sql)
        .bind(t.id.0)
        .bind(t.case_id.0)
        .bind(&t.title)
        .bind(&t.description)
        .bind(t.status.as_str())
        .bind(t.priority.as_str())
        .bind(&t.assignee)
        .bind(t.due_at)
        .bind(t.completed_at)
        .bind(&t.created_by)
        .bind(t.created_at)
        .bind(t.updated_at)
}

pub(crate) fn alert(row: &PgRow) -> Result<Alert> {
    let entities: Json<Vec<AlertEntity>> = col(row, "entities")?;
    let case: Option<Uuid> = col(row, "case_id")?;
    Ok(Alert {
        id: AlertId(col(row, "id")?),
        source: col(row, "source")?,
        source_id: col(row, "source_id")?,
        rule: col(row, "rule")?,
        severity: parse(&col::<String>(row, "severity")?)?,
        title: col(row, "title")?,
        observed_at: col(row, "observed_at")?,
        raw: col::<Value>(row, "raw")?,
        entities: entities.0,
        grouping_key: col(row, "grouping_key")?,
        case_id: case.map(CaseId),
        created_at: col(row, "created_at")?,
    })
}

pub(crate) fn bind_alert<'q>(sql: &'static str, a: &'q Alert) -> Query<'q> {
    sqlx::query(sql)
        .bind(a.id.0)
        .bind(a.source.as_str())
        .bind(a.source_id.as_str())
        .bind(a.rule.as_str())
        .bind(a.severity.as_str())
        .bind(a.title.as_str())
        .bind(a.observed_at)
        .bind(Json(&a.raw))
        .bind(Json(&a.entities))
        .bind(a.grouping_key.as_deref())
        .bind(a.case_id.map(|c| c.0))
        .bind(a.created_at)
}

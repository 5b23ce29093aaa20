//! The records beside a case: alerts, observables, evidence and custody,
//! comments, tasks. Each write appends one timeline entry (two for a task
//! edit that also moves its status).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{
    CaseTransitionError, CaseWrite, Decided, EvidenceInput, MAX_ENRICHMENT, MAX_NAME, MAX_REASON,
    MAX_TEXT, NewComment, NewCustody, NewObservable, NewTask, ObservablePatch, TaskPatch, invalid,
    optional, required, tags, within,
};
use crate::case::comment::{Comment, CommentId};
use crate::case::event::{CaseEventBody, Change};
use crate::case::evidence::{
    CustodyAction, CustodyId, CustodyRecord, Evidence, EvidenceId, sha256_hex,
};
use crate::case::model::{Case, CaseId};
use crate::case::observable::{Observable, ObservableId, Pap, Tlp, normalize};
use crate::case::task::{Task, TaskId, TaskPriority, TaskStatus, task_transition};

/// Longest evidence URI, in characters.
const MAX_URI: usize = 2048;

fn one(body: CaseEventBody, write: CaseWrite) -> Decided {
    Decided {
        bodies: vec![body],
        writes: vec![write],
    }
}

pub(crate) fn link_alert(
    next: &mut Case,
    alert_id: String,
    owner: Option<CaseId>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    let alert_id = required("alert_id", &alert_id, MAX_NAME)?;
    match owner {
        Some(case_id) if case_id == next.id => return Ok(Decided::nothing()),
        Some(case_id) => {
            return Err(CaseTransitionError::AlertLinkedElsewhere { alert_id, case_id });
        }
        None => {}
    }
    if next.alert_ids.contains(&alert_id) {
        return Ok(Decided::nothing());
    }
    next.alert_ids.push(alert_id.clone());
    next.alert_ids.sort();
    Ok(one(
        CaseEventBody::AlertLinked {
            alert_id: alert_id.clone(),
        },
        CaseWrite::LinkAlert {
            case_id: next.id,
            alert_id,
            at: now,
            by: by.to_owned(),
        },
    ))
}

/// Checks an enrichment document: a JSON object of bounded size.
fn enrichment(value: Value) -> Result<Map<String, Value>, CaseTransitionError> {
    match value {
        Value::Object(map) => {
            if Value::Object(map.clone()).to_string().len() > MAX_ENRICHMENT {
                return Err(invalid("enrichment", "must be at most 64 KiB of JSON"));
            }
            Ok(map)
        }
        _ => Err(invalid("enrichment", "must be a JSON object")),
    }
}

fn change(field: &str, old: Value, new: Value) -> Option<Change> {
    (old != new).then(|| Change {
        field: field.to_owned(),
        old,
        new,
    })
}

pub(super) fn add_observable(
    next: &mut Case,
    id: ObservableId,
    new: NewObservable,
    existing: Option<Observable>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    let value = normalize(new.kind, &new.value).map_err(|e| invalid("value", e.message))?;
    let source = optional("source", new.source.as_deref(), MAX_NAME)?;
    let given_tags = tags("tags", &new.tags)?;
    let given_enrichment = new.enrichment.map(enrichment).transpose()?;
    match existing {
        Some(stored) => {
            if stored.case_id != next.id || stored.kind != new.kind || stored.value != value {
                return Err(invalid(
                    "existing",
                    "is not this case's observable of that type and value",
                ));
            }
            let mut seen = stored.clone();
            seen.sightings += 1;
            seen.last_seen = now;
            seen.updated_at = now;
            if seen.source.is_none() {
                seen.source = source;
            }
            for tag in given_tags {
                if !seen.tags.contains(&tag) {
                    seen.tags.push(tag);
                }
            }
            seen.tags = tags("tags", &seen.tags)?;
            if let Some(more) = given_enrichment {
                let mut merged = match &seen.enrichment {
                    Value::Object(map) => map.clone(),
                    _ => Map::new(),
                };
                merged.extend(more);
                seen.enrichment = Value::Object(enrichment(Value::Object(merged))?);
            }
            let changes: Vec<Change> = [
                change("sightings", json!(stored.sightings), json!(seen.sightings)),
                change("last_seen", json!(stored.last_seen), json!(seen.last_seen)),
                change("source", json!(stored.source), json!(seen.source)),
                change("tags", json!(stored.tags), json!(seen.tags)),
                change(
                    "enrichment",
                    stored.enrichment.clone(),
                    seen.enrichment.clone(),
                ),
            ]
            .into_iter()
            .flatten()
            .collect();
            Ok(one(
                CaseEventBody::ObservableUpdated {
                    observable_id: seen.id,
                    kind: seen.kind,
                    value: seen.value.clone(),
                    changes,
                },
                CaseWrite::UpdateObservable(seen),
            ))
        }
        None => {
            let observable = Observable {
                id,
                case_id: next.id,
                kind: new.kind,
                value,
                source,
                sightings: 1,
                first_seen: now,
                last_seen: now,
                tlp: new.tlp.unwrap_or(Tlp::Amber),
                pap: new.pap.unwrap_or(Pap::Amber),
                enrichment: Value::Object(given_enrichment.unwrap_or_default()),
                tags: given_tags,
                created_by: by.to_owned(),
                updated_at: now,
            };
            Ok(one(
                CaseEventBody::ObservableAdded {
                    observable_id: observable.id,
                    kind: observable.kind,
                    value: observable.value.clone(),
                    source: observable.source.clone(),
                    tlp: observable.tlp,
                    pap: observable.pap,
                },
                CaseWrite::InsertObservable(observable),
            ))
        }
    }
}

pub(super) fn update_observable(
    next: &mut Case,
    current: Observable,
    patch: ObservablePatch,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    if current.case_id != next.id {
        return Err(invalid(
            "observable_id",
            "is not an observable of this case",
        ));
    }
    let mut edited = current.clone();
    if let Some(tlp) = patch.tlp {
        edited.tlp = tlp;
    }
    if let Some(pap) = patch.pap {
        edited.pap = pap;
    }
    if let Some(given) = &patch.tags {
        edited.tags = tags("tags", given)?;
    }
    if let Some(doc) = patch.enrichment {
        edited.enrichment = Value::Object(enrichment(doc)?);
    }
    let changes: Vec<Change> = [
        change("tlp", json!(current.tlp), json!(edited.tlp)),
        change("pap", json!(current.pap), json!(edited.pap)),
        change("tags", json!(current.tags), json!(edited.tags)),
        change(
            "enrichment",
            current.enrichment.clone(),
            edited.enrichment.clone(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if changes.is_empty() {
        return Ok(Decided::nothing());
    }
    edited.updated_at = now;
    Ok(one(
        CaseEventBody::ObservableUpdated {
            observable_id: edited.id,
            kind: edited.kind,
            value: edited.value.clone(),
            changes,
        },
        CaseWrite::UpdateObservable(edited),
    ))
}

fn hex_sha256(field: &'static str, given: &str) -> Result<String, CaseTransitionError> {
    let digest = given.trim().to_ascii_lowercase();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(field, "must be a SHA-256 in hex (64 digits)"));
    }
    Ok(digest)
}

pub(super) fn add_evidence(
    next: &mut Case,
    id: EvidenceId,
    input: EvidenceInput,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    let EvidenceInput {
        evidence: new,
        max_content_bytes,
    } = input;
    let name = required("name", &new.name, MAX_NAME)?;
    within("description", &new.description, MAX_TEXT)?;
    let collected_by = match optional("collected_by", new.collected_by.as_deref(), MAX_NAME)? {
        Some(who) => who,
        None => by.to_owned(),
    };
    if new.size_bytes.is_some_and(|n| n < 0) {
        return Err(invalid("size_bytes", "must not be negative"));
    }
    let (sha256, size_bytes, uri, content) = match (new.content, new.uri) {
        (Some(content), None) => {
            let len = content.len() as u64;
            if len > max_content_bytes {
                return Err(invalid(
                    "content",
                    format!(
                        "is {len} bytes; content stored with the case is limited to \
                         {max_content_bytes} bytes (register larger evidence by uri and sha256)"
                    ),
                ));
            }
            let digest = sha256_hex(&content);
            if let Some(given) = &new.sha256
                && hex_sha256("sha256", given)? != digest
            {
                return Err(invalid("sha256", "does not match the content"));
            }
            let size = content.len() as i64;
            if new.size_bytes.is_some_and(|n| n != size) {
                return Err(invalid("size_bytes", "does not match the content"));
            }
            (digest, Some(size), None, Some(content))
        }
        (None, Some(uri)) => {
            let uri = required("uri", &uri, MAX_URI)?;
            let has_scheme = uri.split_once(':').is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && !rest.is_empty()
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            });
            if !has_scheme || uri.contains(char::is_whitespace) {
                return Err(invalid("uri", "must be an absolute URI (scheme:...)"));
            }
            let Some(given) = &new.sha256 else {
                return Err(invalid(
                    "sha256",
                    "is required for evidence kept elsewhere (uri)",
                ));
            };
            (
                hex_sha256("sha256", given)?,
                new.size_bytes,
                Some(uri),
                None,
            )
        }
        (Some(_), Some(_)) => {
            return Err(invalid("content", "give either content or uri, not both"));
        }
        (None, None) => return Err(invalid("content", "give either content or uri")),
    };
    let evidence = Evidence {
        id,
        case_id: next.id,
        name,
        kind: new.kind,
        description: new.description,
        sha256,
        size_bytes,
        uri,
        collected_by,
        collected_at: new.collected_at.unwrap_or(now),
        created_at: now,
    };
    Ok(one(
        CaseEventBody::EvidenceAdded {
            evidence_id: evidence.id,
            name: evidence.name.clone(),
            evidence_kind: evidence.kind,
            sha256: evidence.sha256.clone(),
            size_bytes: evidence.size_bytes,
            uri: evidence.uri.clone(),
        },
        CaseWrite::InsertEvidence { evidence, content },
    ))
}

pub(super) fn record_custody(
    next: &mut Case,
    id: CustodyId,
    evidence: Evidence,
    new: NewCustody,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    if evidence.case_id != next.id {
        return Err(invalid(
            "evidence_id",
            "is not an evidence item of this case",
        ));
    }
    let from = optional("from", new.from.as_deref(), MAX_NAME)?;
    let to = optional("to", new.to.as_deref(), MAX_NAME)?;
    let note = optional("note", new.note.as_deref(), MAX_REASON)?;
    if new.action == CustodyAction::Transferred && to.is_none() {
        return Err(invalid("to", "a transfer names who received the evidence"));
    }
    let record = CustodyRecord {
        id,
        evidence_id: evidence.id,
        action: new.action,
        from,
        to,
        note,
        actor: by.to_owned(),
        at: now,
    };
    Ok(one(
        CaseEventBody::CustodyRecorded {
            custody_id: record.id,
            evidence_id: record.evidence_id,
            action: record.action,
            from: record.from.clone(),
            to: record.to.clone(),
            note: record.note.clone(),
        },
        CaseWrite::InsertCustody(record),
    ))
}

pub(super) fn add_comment(
    next: &mut Case,
    id: CommentId,
    new: NewComment,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    let body = required("body", &new.body, MAX_TEXT)?;
    let comment = Comment {
        id,
        case_id: next.id,
        author: by.to_owned(),
        author_kind: new.author_kind,
        kind: new.kind,
        body,
        created_at: now,
    };
    Ok(one(
        CaseEventBody::CommentAdded {
            comment_id: comment.id,
            author_kind: comment.author_kind,
            kind: comment.kind,
            body: comment.body.clone(),
        },
        CaseWrite::InsertComment(comment),
    ))
}

pub(super) fn create_task(
    next: &mut Case,
    id: TaskId,
    new: NewTask,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    let task = Task {
        id,
        case_id: next.id,
        title: required("title", &new.title, Case::MAX_TITLE)?,
        description: {
            within("description", &new.description, MAX_TEXT)?;
            new.description
        },
        status: TaskStatus::Todo,
        priority: new.priority.unwrap_or(TaskPriority::Medium),
        assignee: optional("assignee", new.assignee.as_deref(), MAX_NAME)?,
        due_at: new.due_at,
        completed_at: None,
        created_by: by.to_owned(),
        created_at: now,
        updated_at: now,
    };
    Ok(one(
        CaseEventBody::TaskCreated {
            task_id: task.id,
            title: task.title.clone(),
            status: task.status,
            priority: task.priority,
            assignee: task.assignee.clone(),
            due_at: task.due_at,
        },
        CaseWrite::InsertTask(task),
    ))
}

pub(super) fn update_task(
    next: &mut Case,
    current: Task,
    patch: TaskPatch,
    now: DateTime<Utc>,
) -> Result<Decided, CaseTransitionError> {
    if current.case_id != next.id {
        return Err(invalid("task_id", "is not a task of this case"));
    }
    let mut edited = current.clone();
    if let Some(title) = &patch.title {
        edited.title = required("title", title, Case::MAX_TITLE)?;
    }
    if let Some(description) = &patch.description {
        within("description", description, MAX_TEXT)?;
        edited.description.clone_from(description);
    }
    if let Some(priority) = patch.priority {
        edited.priority = priority;
    }
    if let Some(assignee) = &patch.assignee {
        edited.assignee = optional("assignee", assignee.as_deref(), MAX_NAME)?;
    }
    if let Some(due_at) = patch.due_at {
        edited.due_at = due_at;
    }
    let changes: Vec<Change> = [
        change("title", json!(current.title), json!(edited.title)),
        change(
            "description",
            json!(current.description),
            json!(edited.description),
        ),
        change("priority", json!(current.priority), json!(edited.priority)),
        change("assignee", json!(current.assignee), json!(edited.assignee)),
        change("due_at", json!(current.due_at), json!(edited.due_at)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut bodies = Vec::new();
    if !changes.is_empty() {
        bodies.push(CaseEventBody::TaskUpdated {
            task_id: edited.id,
            changes,
        });
    }
    if let Some(to) = patch.status
        && to != current.status
    {
        edited = task_transition(&edited, to, now)?;
        bodies.push(CaseEventBody::TaskStatusChange {
            task_id: edited.id,
            title: edited.title.clone(),
            from: current.status,
            to,
        });
    }
    if bodies.is_empty() {
        return Ok(Decided::nothing());
    }
    edited.updated_at = now;
    Ok(Decided {
        bodies,
        writes: vec![CaseWrite::UpdateTask(edited)],
    })
}

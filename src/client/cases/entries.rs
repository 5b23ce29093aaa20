//! A case timeline entry in a few words: `status open -> in_progress`,
//! `assigned to otto`, `observable ip 185.220.101.4 (2 sightings)`. Pure
//! functions of the wire form, shared by `vigil cases timeline` and the
//! preview lines of every write.

use serde_json::Value;
use vigil_api::views::cases::CaseEventView;
use vigil_engine::CaseStatus;
use vigil_engine::case::{CaseEventBody, CaseEventKind, CaseRef, Change, MergeRole};

use crate::client::render::{self, clip, compact};

/// One line per entry: `seq  time  kind  actor  what happened`.
pub fn line(e: &CaseEventView) -> String {
    format!(
        "{:>4}  {}  {:<20}  {}  {}",
        e.seq,
        render::time(e.created_at),
        e.kind,
        e.actor,
        summary(&e.kind, &e.payload)
    )
}

/// What an entry of `kind` with `payload` says. A kind this client does
/// not know, or a payload it cannot read, is shown as compact JSON.
pub fn summary(kind: &str, payload: &Value) -> String {
    let raw = || clip(&compact(payload), 120);
    let Ok(kind) = kind.parse::<CaseEventKind>() else {
        return raw();
    };
    let mut payload = payload.clone();
    // A preview of a create has no number yet (the store assigns it), and
    // the summary does not show it.
    if kind == CaseEventKind::Created
        && let Some(fields) = payload.as_object_mut()
    {
        fields.entry("number").or_insert(Value::from(0));
    }
    match CaseEventBody::decode(kind, &payload) {
        Ok(body) => body_summary(body),
        Err(_) => raw(),
    }
}

fn body_summary(body: CaseEventBody) -> String {
    match body {
        CaseEventBody::Created {
            title,
            severity,
            status,
            assignee,
            tags,
            ..
        } => {
            let mut text = format!("{} ({status}, severity {severity}", quoted(&title, 60));
            if let Some(a) = assignee {
                text.push_str(&format!(", assigned to {a}"));
            }
            if !tags.is_empty() {
                text.push_str(&format!(", tags {}", tags.join(", ")));
            }
            text.push(')');
            text
        }
        CaseEventBody::StatusChange {
            from,
            to,
            disposition_from,
            disposition_to,
            reason,
        } => {
            let mut text = format!("status {from} -> {to}");
            match (disposition_from, disposition_to) {
                (_, Some(d)) => text.push_str(&format!(" ({d})")),
                (Some(d), None) => text.push_str(&format!(" (disposition {d} cleared)")),
                (None, None) => {}
            }
            if let Some(reason) = reason {
                text.push_str(&format!(": {}", clip(&reason, 80)));
            }
            text
        }
        CaseEventBody::AssignmentChange { from, to } => match (to, from) {
            (Some(to), Some(from)) => format!("assigned to {to} (was {from})"),
            (Some(to), None) => format!("assigned to {to}"),
            (None, Some(from)) => format!("unassigned (was {from})"),
            (None, None) => "unassigned".to_owned(),
        },
        CaseEventBody::SeverityChange { from, to } => format!("severity {from} -> {to}"),
        CaseEventBody::FieldChange(change) => change_text(&change),
        CaseEventBody::CommentAdded {
            author_kind, body, ..
        } => format!("{author_kind} comment: {}", clip(&body, 90)),
        CaseEventBody::ObservableAdded {
            kind,
            value,
            source,
            tlp,
            pap,
            ..
        } => {
            let source = source.map_or_else(String::new, |s| format!("from {s}, "));
            format!(
                "observable {kind} {} (new; {source}tlp {tlp}, pap {pap})",
                clip(&value, 80)
            )
        }
        CaseEventBody::ObservableUpdated {
            kind,
            value,
            changes,
            ..
        } => {
            let value = clip(&value, 80);
            let sightings = changes.iter().find(|c| c.field == "sightings");
            let others: Vec<String> = changes
                .iter()
                .filter(|c| !matches!(c.field.as_str(), "sightings" | "last_seen"))
                .map(change_text)
                .collect();
            let mut text = match sightings.and_then(|c| c.new.as_i64()) {
                Some(n) => format!("observable {kind} {value} ({n} sightings)"),
                None => format!("observable {kind} {value}"),
            };
            if !others.is_empty() {
                text.push_str(&format!(": {}", others.join(", ")));
            }
            text
        }
        CaseEventBody::EvidenceAdded {
            evidence_id,
            name,
            evidence_kind,
            sha256,
            size_bytes,
            uri,
        } => {
            let size = size_bytes.map_or_else(String::new, |n| format!(", {n} bytes"));
            let place = uri.map_or_else(
                || "stored".to_owned(),
                |u| format!("kept at {}", clip(&u, 60)),
            );
            format!(
                "evidence {evidence_id} {} ({evidence_kind}{size}, {place}, sha256 {})",
                quoted(&name, 40),
                short_hash(&sha256)
            )
        }
        CaseEventBody::CustodyRecorded {
            evidence_id,
            action,
            from,
            to,
            note,
            ..
        } => {
            let mut text = format!("custody {action} of evidence {evidence_id}");
            match (from, to) {
                (Some(f), Some(t)) => text.push_str(&format!(": {f} -> {t}")),
                (None, Some(t)) => text.push_str(&format!(": to {t}")),
                (Some(f), None) => text.push_str(&format!(": from {f}")),
                (None, None) => {}
            }
            if let Some(note) = note {
                text.push_str(&format!(" ({})", clip(&note, 60)));
            }
            text
        }
        CaseEventBody::TaskCreated {
            title,
            status,
            priority,
            assignee,
            due_at,
            ..
        } => {
            let mut text = format!("task {} ({status}, priority {priority}", quoted(&title, 60));
            if let Some(a) = assignee {
                text.push_str(&format!(", assigned to {a}"));
            }
            if let Some(due) = due_at {
                text.push_str(&format!(", due {}", render::time(due)));
            }
            text.push(')');
            text
        }
        CaseEventBody::TaskStatusChange {
            title, from, to, ..
        } => format!("task {} {from} -> {to}", quoted(&title, 60)),
        CaseEventBody::TaskUpdated { task_id, changes } => {
            let changes: Vec<String> = changes.iter().map(change_text).collect();
            format!("task {task_id}: {}", changes.join(", "))
        }
        CaseEventBody::AlertLinked { alert_id } => format!("alert {alert_id} linked"),
        CaseEventBody::CaseMerged { role, summary, .. } => match role {
            MergeRole::Target { sources } => {
                format!("{summary} (from {})", numbers(&sources))
            }
            MergeRole::Source { target } => {
                let number = target.number.to_string();
                if summary.contains(&number) {
                    summary
                } else {
                    format!("merged into {number}: {summary}")
                }
            }
        },
        CaseEventBody::CaseDeleted {
            reason,
            alerts_detached,
        } => {
            let reason = reason.map_or_else(String::new, |r| format!(": {}", clip(&r, 80)));
            format!(
                "deleted{reason} ({} alerts detached)",
                alerts_detached.len()
            )
        }
        CaseEventBody::InvestigationLinked {
            investigation_id,
            agent_id,
            purpose,
        } => match purpose {
            vigil_engine::CasePurpose::Summarize => {
                format!("summary requested: investigation {investigation_id} (agent {agent_id})")
            }
            vigil_engine::CasePurpose::Investigate => {
                format!("investigation {investigation_id} (agent {agent_id})")
            }
        },
        CaseEventBody::SummaryWritten {
            investigation_id,
            summary,
            immediate_actions,
            similar_cases,
            ..
        } => {
            let summary = summary.map_or_else(String::new, |s| format!(": {}", clip(&s, 80)));
            format!(
                "AI summary by investigation {investigation_id}, {} immediate actions, {} similar cases{summary}",
                immediate_actions.len(),
                similar_cases.len()
            )
        }
        CaseEventBody::ResultWritten {
            investigation_id,
            summary,
            confidence,
            observables,
            audit_seq,
            status_from,
            status_to,
            ..
        } => {
            let summary = summary.map_or_else(String::new, |s| format!(": {}", clip(&s, 80)));
            format!(
                "result of investigation {investigation_id} (audit head seq {audit_seq}), confidence {}, {} observables{summary}{}",
                render::confidence(confidence),
                observables.len(),
                moved(status_from, status_to)
            )
        }
        CaseEventBody::InvestigationNeedsAttention {
            investigation_id,
            outcome,
            action,
            ..
        } => format!(
            "investigation {investigation_id} ended {}: {}",
            outcome.as_str(),
            clip(&action, 80)
        ),
        CaseEventBody::ApprovalRequested {
            approval_id,
            investigation_id,
            action,
            status_from,
            status_to,
        } => format!(
            "{action} needs approval {approval_id} (investigation {investigation_id}){}",
            moved(status_from, status_to)
        ),
        CaseEventBody::ApprovalDecided {
            approval_id,
            decision,
            decided_by,
            comment,
            status_from,
            status_to,
        } => format!(
            "approval {approval_id} {} by {decided_by}{}{}",
            decision.status(),
            comment.map_or_else(String::new, |c| format!(": {}", clip(&c, 60))),
            moved(status_from, status_to)
        ),
        CaseEventBody::ApprovalExpired {
            approval_id,
            status_from,
            status_to,
        } => format!(
            "approval {approval_id} expired undecided{}",
            moved(status_from, status_to)
        ),
    }
}

/// `field old -> new`, values as compact JSON.
fn change_text(c: &Change) -> String {
    format!(
        "{} {} -> {}",
        c.field,
        clip(&compact(&c.old), 40),
        clip(&compact(&c.new), 40)
    )
}

/// `; status a -> b` when an entry moved the case.
fn moved(from: Option<CaseStatus>, to: Option<CaseStatus>) -> String {
    match (from, to) {
        (Some(from), Some(to)) => format!("; status {from} -> {to}"),
        _ => String::new(),
    }
}

fn numbers(cases: &[CaseRef]) -> String {
    cases
        .iter()
        .map(|c| c.number.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted(text: &str, max: usize) -> String {
    format!("\"{}\"", clip(text, max))
}

/// The first 12 hex digits of a hash, then `…`.
pub fn short_hash(hash: &str) -> String {
    clip(hash, 13)
}

/// `closed (true_positive)`, or the status alone.
pub fn status_text(status: &str, disposition: Option<&str>) -> String {
    match disposition {
        Some(d) => format!("{status} ({d})"),
        None => status.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;

    fn entry(seq: i64, kind: &str, payload: Value) -> CaseEventView {
        CaseEventView {
            case_id: uuid::Uuid::nil(),
            seq,
            kind: kind.into(),
            payload,
            actor: "otto".into(),
            created_at: DateTime::from_timestamp(1_764_000_000, 0).unwrap(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn entries_read_as_what_happened() {
        let cases = [
            (
                "status_change",
                json!({"from": "open", "to": "in_progress", "disposition_from": null,
                       "disposition_to": null, "reason": null}),
                "status open -> in_progress",
            ),
            (
                "status_change",
                json!({"from": "closed", "to": "open", "disposition_from": "benign",
                       "disposition_to": null, "reason": "new evidence"}),
                "status closed -> open (disposition benign cleared): new evidence",
            ),
            (
                "assignment_change",
                json!({"from": null, "to": "otto"}),
                "assigned to otto",
            ),
            (
                "observable_updated",
                json!({"observable_id": "01a210ba-781c-7a5d-874e-8b73d3bb0f91", "type": "ip",
                       "value": "185.220.101.4", "changes": [
                           {"field": "sightings", "old": 1, "new": 2},
                           {"field": "last_seen", "old": "a", "new": "b"}]}),
                "observable ip 185.220.101.4 (2 sightings)",
            ),
            (
                "created",
                json!({"title": "SSH brute force", "severity": "high", "status": "open",
                       "description": "", "assignee": null, "requires_human_approval": false,
                       "confidence": null, "tags": ["ssh"]}),
                "\"SSH brute force\" (open, severity high, tags ssh)",
            ),
            ("from_the_future", json!({"x": 1}), "{\"x\":1}"),
        ];
        for (kind, payload, expected) in cases {
            assert_eq!(summary(kind, &payload), expected, "{kind}");
        }
        let line = line(&entry(3, "alert_linked", json!({"alert_id": "siem-4411"})));
        assert_eq!(
            line,
            "   3  2025-11-24 16:00:00Z  alert_linked          otto  alert siem-4411 linked"
        );
    }
}

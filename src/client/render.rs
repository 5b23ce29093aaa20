//! Human-readable output: tables, states, times, durations, and the
//! one-line form of an event. Pure functions of the API's bodies, so they
//! are tested without a server. (`--json` bypasses all of this.)

use chrono::{DateTime, Utc};
use serde_json::Value;
use vigil_api::views::{EventView, InvestigationSummary};
use vigil_engine::event::{EventBody, EventKind};

/// A plain text table: a header row, then rows, columns separated by two
/// spaces and padded to the widest cell (the last column is not padded).
#[derive(Debug)]
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: Vec<&'static str>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    /// Appends a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending in `\n`.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(columns) {
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `status`, or `pending/<phase>` while pending: the state on one word.
pub fn state(status: &str, phase: Option<&str>) -> String {
    match phase {
        Some(phase) => format!("{status}/{phase}"),
        None => status.to_owned(),
    }
}

/// The state of a listed investigation.
pub fn summary_state(s: &InvestigationSummary) -> String {
    state(&s.status, s.phase.as_deref())
}

/// A time in UTC to the second: `2026-11-24 02:15:00Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// An optional time, `-` when absent.
pub fn maybe_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), time)
}

/// A duration in milliseconds, short: `850ms`, `3.2s`, `4m05s`, `2h03m`.
pub fn duration_ms(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// At most `max` characters of `text` on one line, with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = one_line.trim();
    if one_line.chars().count() <= max {
        return one_line.to_owned();
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A JSON value on one line (compact).
pub fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `0.87`, or `-`.
pub fn confidence(c: Option<f64>) -> String {
    c.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"))
}

/// One line per event: `seq  time  kind  actor  what happened`.
pub fn event_line(e: &EventView) -> String {
    format!(
        "{:>4}  {}  {:<18}  {}  {}",
        e.seq,
        e.created_at.format("%H:%M:%S%.3f"),
        e.kind,
        e.actor,
        event_summary(e)
    )
}

/// What an event says, in a few words.
fn event_summary(e: &EventView) -> String {
    let Ok(kind) = e.kind.parse::<EventKind>() else {
        return clip(&compact(&e.payload), 120);
    };
    let Ok(body) = EventBody::decode(kind, &e.payload) else {
        return clip(&compact(&e.payload), 120);
    };
    match body {
        EventBody::Dispatched {
            agent_id,
            prompt,
            case_ref,
            parent,
            ..
        } => {
            let case = case_ref.map_or_else(String::new, |c| format!(" (case {c})"));
            let by = parent.map_or_else(String::new, |p| {
                format!(" (delegated by {} in call {})", p.id, p.tool_call_id)
            });
            format!("agent {agent_id}{case}{by}: {}", clip(&prompt, 80))
        }
        EventBody::AwaitingChildren { children } => {
            let ids: Vec<String> = children.iter().map(ToString::to_string).collect();
            format!("waiting for {} delegated: {}", ids.len(), ids.join(", "))
        }
        EventBody::ChildrenFinished { children } => {
            let each: Vec<String> = children
                .iter()
                .map(|c| format!("{} {}", c.id, c.status))
                .collect();
            format!(
                "every delegated investigation finished: {}",
                each.join(", ")
            )
        }
        EventBody::Claimed {
            worker,
            attempt,
            mode,
            ..
        } => format!(
            "attempt {attempt} by {worker}{}",
            mode.map_or_else(String::new, |m| format!(" in {m} mode"))
        ),
        EventBody::ModelCallFailed(failed) => format!(
            "{} gave no turn after {} ms: {}",
            failed.model.as_deref().unwrap_or("the model"),
            failed.elapsed_ms,
            clip(&failed.error, 80)
        ),
        EventBody::ModelTurn(turn) => {
            let mut text = turn
                .content
                .as_deref()
                .map(|c| clip(c, 90))
                .unwrap_or_default();
            if !turn.tool_calls.is_empty() {
                let names: Vec<&str> = turn.tool_calls.iter().map(|c| c.name.as_str()).collect();
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&format!("-> {}", names.join(", ")));
            }
            text
        }
        EventBody::ToolIntent(intent) => {
            let effect = match intent.effect {
                vigil_engine::event::Effect::Read => "",
                vigil_engine::event::Effect::Write => " [write]",
            };
            format!(
                "{}{effect} {}",
                intent.tool,
                clip(&compact(&intent.arguments), 80)
            )
        }
        EventBody::ToolResult(result) => {
            let outcome = if result.is_error { "error" } else { "ok" };
            let truncated = if result.truncated { ", truncated" } else { "" };
            format!(
                "{} {outcome} ({} bytes{truncated}): {}",
                result.tool,
                result.output.len(),
                clip(&result.output, 60)
            )
        }
        EventBody::ApprovalRequested {
            approval_id,
            action,
            arguments,
            expires_at,
            mode,
            ..
        } => format!(
            "{action} {} needs approval {approval_id} (expires {}{})",
            clip(&compact(&arguments), 60),
            time(expires_at),
            mode.map_or_else(String::new, |m| format!("; asked in {m} mode"))
        ),
        EventBody::ApprovalDecided {
            decision,
            decided_by,
            comment,
            ..
        } => {
            let comment = comment.map_or_else(String::new, |c| format!(": {}", clip(&c, 80)));
            format!("{} by {decided_by}{comment}", decision.status())
        }
        EventBody::ApprovalExpired { approval_id, .. } => {
            format!("approval {approval_id} expired undecided")
        }
        EventBody::Released {
            worker,
            reason,
            not_before,
        } => match not_before {
            Some(at) => format!(
                "by {worker}: {}; retried from {}",
                clip(&reason, 80),
                time(at)
            ),
            None => format!("by {worker}: {}", clip(&reason, 80)),
        },
        EventBody::Completed { result, confidence } => {
            let summary = result
                .get("summary")
                .and_then(Value::as_str)
                .map(|s| format!(": {}", clip(s, 80)))
                .unwrap_or_default();
            format!("confidence {}{summary}", self::confidence(confidence))
        }
        EventBody::ReviewRequired { reason, .. } | EventBody::Failed { reason } => {
            clip(&reason, 100)
        }
        EventBody::DeadLettered {
            worker, attempt, ..
        } => format!(
            "attempt {attempt} (worker {}) stopped heartbeating",
            worker.as_deref().unwrap_or("-")
        ),
        EventBody::Rescued { by, reason, from } => {
            format!("by {by} from {from}: {}", clip(&reason, 80))
        }
        EventBody::Cancelled { by, reason } => format!("by {by}: {}", clip(&reason, 80)),
        EventBody::Reviewed {
            by,
            confidence,
            note,
            ..
        } => {
            let note = note.map_or_else(String::new, |n| format!(": {}", clip(&n, 80)));
            format!("by {by}, confidence {}{note}", self::confidence(confidence))
        }
        EventBody::OperatorNote { by, text } => format!("by {by}: {}", clip(&text, 80)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let mut t = Table::new(vec!["ID", "STATE", "AGENT"]);
        t.row(vec!["1".into(), "pending/queued".into(), "triage".into()]);
        t.row(vec!["22".into(), "completed".into(), "x".into()]);
        assert_eq!(
            t.render(),
            "ID  STATE           AGENT\n1   pending/queued  triage\n22  completed       x\n"
        );
    }

    #[test]
    fn durations_and_clipping_are_short() {
        assert_eq!(duration_ms(850), "850ms");
        assert_eq!(duration_ms(3_240), "3.2s");
        assert_eq!(duration_ms(245_000), "4m05s");
        assert_eq!(duration_ms(7_380_000), "2h03m");
        assert_eq!(clip("a\nb", 10), "a b");
        assert_eq!(clip("abcdef", 4), "abc…");
    }

    fn event(kind: &str, payload: Value) -> EventView {
        EventView {
            investigation_id: uuid::Uuid::nil(),
            seq: 10,
            kind: kind.into(),
            payload,
            actor: "w1".into(),
            epoch: 1,
            created_at: DateTime::from_timestamp(1_764_000_000, 5_000_000).unwrap(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn events_fit_on_one_line() {
        let line = event_line(&event(
            "approval_requested",
            json!({
                "approval_id": "01a210ba-782d-7db4-97d0-900aa55f7000",
                "tool_call_id": "c3",
                "action": "isolate_host",
                "arguments": {"host": "web-01"},
                "rationale": "bad",
                "expires_at": "2026-11-25T03:38:05Z"
            }),
        ));
        assert_eq!(
            line,
            "  10  16:00:00.005  approval_requested  w1  isolate_host {\"host\":\"web-01\"} needs \
             approval 01a210ba-782d-7db4-97d0-900aa55f7000 (expires 2026-11-25 03:38:05Z)"
        );
        let done = event_line(&event(
            "completed",
            json!({"result": {"summary": "Tor brute force"}, "confidence": 0.87}),
        ));
        assert!(done.ends_with("confidence 0.87: Tor brute force"), "{done}");
        let unknown = event_line(&event("from_the_future", json!({"x": 1})));
        assert!(
            unknown.ends_with("from_the_future     w1  {\"x\":1}"),
            "{unknown}"
        );
    }
}

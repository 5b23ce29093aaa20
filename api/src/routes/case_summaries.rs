//! `POST /cases/{id}/summarize`, and the summary a close requests: a
//! `summarize` investigation linked to the case, whose prompt carries the
//! case's metadata, its whole timeline (lifecycle entries included) and
//! its related cases, and whose result the store writes back as the case's
//! AI summary (an `ai_summary` comment and a `summary_written` entry).
//!
//! A summary is an internal pipeline: it reads the case and writes only its
//! note, so it is dispatched in every runtime mode. It never blocks a
//! close: a close that is stored requests one after it commits, and a
//! summary that cannot be requested (no `summarize` agent declared, the
//! database gone for a moment) is logged and counted
//! (`vigil_case_summaries_skipped_total`), never turned into an error of
//! the close. `POST /cases/{id}/summarize` asks again at any time.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use tracing::Instrument;
use vigil_engine::case::{CaseEvent, CaseId};
use vigil_engine::store::{CaseOverview, RelatedCase};
use vigil_engine::{CasePurpose, Role};

use super::cases::load;
use super::investigations::{DispatchParts, dispatch_request};
use crate::auth::Caller;
use crate::error::{ApiResult, Problem};
use crate::state::AppState;
use crate::views::InvestigationDetail;

/// The declared agent that writes case summaries.
pub const SUMMARY_AGENT: &str = "summarize";

/// Who may ask for a summary: agents and analysts.
const SUMMARY_REQUESTERS: &[Role] = &[Role::Orchestrator, Role::Operator];
/// Timeline entries read for a prompt (the newest kept when there are more).
const MAX_ENTRIES: u32 = 2_000;
/// Characters of one entry's payload in the prompt.
const MAX_ENTRY_CHARS: usize = 600;
/// Related cases named in the prompt.
const MAX_RELATED: usize = 10;

/// Dispatches a `summarize` investigation for the case. Its result becomes
/// the case's AI summary (summary, immediate actions, long-term
/// remediation, policy changes, similar past cases), written back when it
/// completes; the case does not move. Stored in every runtime mode.
#[utoipa::path(
    post, path = "/cases/{id}/summarize", tag = "cases",
    params(
        ("id" = String, Path, description = "Case id or number (CASE-12)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: one summary per key and requester"),
    ),
    responses(
        (status = 201, description = "Dispatched", body = InvestigationDetail),
        (status = 200, description = "The summary an earlier request with this key dispatched", body = InvestigationDetail),
        (status = 400, description = "Malformed Idempotency-Key", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "Needs the orchestrator or operator role", body = Problem),
        (status = 404, description = "No such case", body = Problem),
        (status = 409, description = "The case is deleted or merged, or the key was reused", body = Problem),
        (status = 422, description = "No `summarize` agent is declared", body = Problem),
        (status = 503, description = "Database unavailable", body = Problem),
    ),
    security(("bearer" = []))
)]
pub async fn summarize(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<InvestigationDetail>)> {
    caller.require(SUMMARY_REQUESTERS, "asking for a case summary")?;
    let current = load(&state, &id).await?;
    let (created, detail) = dispatch_summary(&state, caller.name(), &headers, &current).await?;
    Ok((super::created(created), Json(detail)))
}

/// Requests the summary a stored close calls for, after the close
/// committed. Never fails the close: a summary that cannot be requested is
/// logged and counted. The idempotency key names the close (the case's
/// timeline head), so a repeated call for the same close dispatches once.
pub(crate) async fn summary_on_close(state: &AppState, by: &str, case: CaseId) {
    let requested = async {
        let current = state.store.case(case).await?;
        let mut headers = HeaderMap::new();
        let key = format!("case-closed:{}:{}", case, current.case.last_seq);
        if let Ok(value) = key.parse() {
            headers.insert("idempotency-key", value);
        }
        dispatch_summary(state, by, &headers, &current).await
    }
    .await;
    match requested {
        Ok((_, detail)) => {
            tracing::info!(case = %case, investigation = %detail.summary.id, "summary requested on close");
        }
        Err(e) => {
            metrics::counter!("vigil_case_summaries_skipped_total").increment(1);
            tracing::warn!(case = %case, error = %e, "closing the case requested no summary");
        }
    }
}

/// Builds the prompt and dispatches the summary for `current`.
async fn dispatch_summary(
    state: &AppState,
    by: &str,
    headers: &HeaderMap,
    current: &CaseOverview,
) -> ApiResult<(bool, InvestigationDetail)> {
    let id = current.case.id;
    let timeline = timeline_tail(state, id, current.case.last_seq).await?;
    let related = state.store.related_cases(id).await?;
    let prompt = summary_prompt(current, &timeline, &related, state.limits.prompt_chars);
    let parts = DispatchParts {
        agent_id: SUMMARY_AGENT.to_owned(),
        prompt,
        case_ref: None,
        budget: None,
    };
    let mut request = dispatch_request(state, by, headers, parts, Some(id))?;
    request.case_purpose = CasePurpose::Summarize;
    let span = tracing::info_span!("dispatch_investigation", otel.kind = "server");
    request.traceparent = Some(crate::trace::dispatch_context(headers, &span));
    let dispatched = state.store.dispatch(request).instrument(span).await?;
    if dispatched.created {
        metrics::counter!("vigil_dispatches_total").increment(1);
        metrics::counter!("vigil_case_summaries_total").increment(1);
    }
    let detail = InvestigationDetail::of(&dispatched.investigation, None, Utc::now());
    Ok((dispatched.created, detail))
}

/// The newest [`MAX_ENTRIES`] entries of the case's timeline, oldest first.
async fn timeline_tail(state: &AppState, id: CaseId, last_seq: i64) -> ApiResult<Vec<CaseEvent>> {
    let after = (last_seq - i64::from(MAX_ENTRIES)).max(0);
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let page = state.store.case_timeline(id, cursor, 500).await?;
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        out.extend(page);
        if cursor >= last_seq {
            break;
        }
    }
    Ok(out)
}

/// The summary prompt: the case's metadata, its timeline (one line per
/// entry, each payload cut to [`MAX_ENTRY_CHARS`]) and its related cases,
/// at most `limit` characters (older entries give way first, and the
/// prompt says how many were left out).
pub fn summary_prompt(
    case: &CaseOverview,
    timeline: &[CaseEvent],
    related: &[RelatedCase],
    limit: usize,
) -> String {
    let c = &case.case;
    let mut head = String::from(
        "Summarize this security case for the analysts and the compliance record. \
         Call submit_result with: summary (what happened, what was done, the outcome), \
         immediate_actions, long_term_remediation, policy_changes, and similar_cases \
         (the related cases below that look like the same activity).\n\n",
    );
    head.push_str(&format!("Number: {}\n", c.number));
    head.push_str(&format!("Title: {}\n", c.title));
    head.push_str(&format!("Severity: {}\n", c.severity));
    head.push_str(&format!("Status: {}\n", c.status));
    head.push_str(&format!(
        "Disposition: {}\n",
        c.disposition.map_or("none".to_owned(), |d| d.to_string())
    ));
    if let Some(conf) = c.confidence {
        head.push_str(&format!("Confidence: {conf:.2}\n"));
    }
    head.push_str(&format!(
        "Alerts: {}, observables: {}, evidence items: {}\n",
        case.counts.alerts, case.counts.observables, case.counts.evidence
    ));
    head.push_str(&format!("Description: {}\n", c.description));

    let mut tail = String::from("\nRelated cases (sharing two or more observables):\n");
    if related.is_empty() {
        tail.push_str("- none\n");
    }
    for r in related.iter().take(MAX_RELATED) {
        let shared: Vec<String> = r
            .shared
            .iter()
            .map(|s| format!("{}:{}", s.kind, s.value))
            .collect();
        tail.push_str(&format!(
            "- Related {} ({}, {}): {} [score {:.2}; shared {}]\n",
            r.case.number,
            r.case.severity,
            r.case.status,
            r.case.title,
            r.score,
            shared.join(", ")
        ));
    }

    let lines: Vec<String> = timeline
        .iter()
        .map(|e| {
            let payload = e.payload.to_string();
            format!(
                "- #{} {} {} by {}: {}\n",
                e.seq,
                e.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                e.kind.as_str(),
                e.actor,
                clip(&payload, MAX_ENTRY_CHARS)
            )
        })
        .collect();
    let budget = limit.saturating_sub(head.chars().count() + tail.chars().count() + 120);
    let mut kept = Vec::new();
    let mut used = 0;
    for line in lines.iter().rev() {
        let n = line.chars().count();
        if used + n > budget {
            break;
        }
        used += n;
        kept.push(line.as_str());
    }
    kept.reverse();
    let left_out = lines.len() - kept.len() + timeline.first().map_or(0, |e| (e.seq - 1) as usize);
    let mut prompt = head;
    prompt.push_str("\nTimeline (oldest first):\n");
    if left_out > 0 {
        prompt.push_str(&format!("- ({left_out} older entries left out)\n"));
    }
    for line in kept {
        prompt.push_str(line);
    }
    prompt.push_str(&tail);
    clip(&prompt, limit)
}

/// `text` in at most `max` characters, cut on a character boundary and
/// marked with `...`.
fn clip(text: &str, max: usize) -> String {
    if text.chars().nth(max).is_none() {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

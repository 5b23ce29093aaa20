//! Helpers shared by the conformance cases.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Harness;
use crate::approval::{ApprovalId, ApprovalRequest};
use crate::case::{NewCase, Severity};
use crate::clock::{Clock, ManualClock};
use crate::event::{
    Effect, Event, EventKind, ModelTurn, StepEvent, ToolCall, ToolIntent, ToolResult,
};
use crate::machine::ApprovalDraft;
use crate::model::Investigation;
use crate::principal::Role;
use crate::store::{DispatchRequest, Error, NewToken, Reads, Store};

/// The lease every case claims with.
pub const LEASE: Duration = Duration::seconds(30);

/// The fixed start of every case's clock.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).single().unwrap()
}

/// A fresh store and its clock.
pub async fn setup<H: Harness>(h: &H) -> (H::Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start()));
    (h.fresh(clock.clone()).await, clock)
}

/// A dispatch request for `agent`.
pub fn request(agent: &str, prompt: &str) -> DispatchRequest {
    DispatchRequest {
        agent_id: agent.to_owned(),
        prompt: prompt.to_owned(),
        requested_by: "soar".to_owned(),
        ..DispatchRequest::default()
    }
}

/// Dispatches a triage investigation.
pub async fn dispatch<S: Store>(store: &S, agent: &str) -> Investigation {
    store
        .dispatch(request(agent, "failed SSH logins from 185.220.101.4"))
        .await
        .expect("dispatch")
        .investigation
}

/// Dispatches and claims one investigation for `agent`.
pub async fn claimed<S: Store>(store: &S, agent: &str) -> Investigation {
    let inv = dispatch(store, agent).await;
    let claimed = store
        .claim_next(&[agent.to_owned()], "worker-a", None, LEASE)
        .await
        .expect("claim")
        .expect("something to claim");
    assert_eq!(claimed.id, inv.id, "claimed another investigation");
    claimed
}

/// A model turn asking for one tool call.
pub fn model_turn(call: &str) -> StepEvent {
    StepEvent::ModelTurn(ModelTurn {
        model: "scripted".to_owned(),
        content: Some("checking the source address".to_owned()),
        tool_calls: vec![ToolCall {
            id: call.to_owned(),
            name: "enrich_ip".to_owned(),
            arguments: r#"{"ip":"185.220.101.4"}"#.to_owned(),
            wire_id: None,
        }],
        input_tokens: 120,
        output_tokens: 30,
        cost_usd: 0.001,
    })
}

/// A read tool's intent.
pub fn intent(call: &str) -> StepEvent {
    StepEvent::ToolIntent(ToolIntent {
        tool_call_id: call.to_owned(),
        tool: "enrich_ip".to_owned(),
        arguments: json!({"ip": "185.220.101.4"}),
        effect: Effect::Read,
    })
}

/// A tool result.
pub fn result(call: &str) -> StepEvent {
    StepEvent::ToolResult(ToolResult {
        tool_call_id: call.to_owned(),
        tool: "enrich_ip".to_owned(),
        output: r#"{"asn":"AS60729","tor_exit":true}"#.to_owned(),
        is_error: false,
        truncated: false,
        original_bytes: None,
    })
}

/// An approval draft for isolating a host, expiring `in_` from `now`.
pub fn approval_draft(now: DateTime<Utc>, call: &str, in_: Duration) -> ApprovalDraft {
    ApprovalDraft {
        id: ApprovalId::new_at(now),
        tool_call_id: call.to_owned(),
        action: "isolate_host".to_owned(),
        arguments: json!({"host": "web-01"}),
        rationale: Some("beaconing to a Tor exit".to_owned()),
        expires_at: now + in_,
        mode: None,
    }
}

/// Every event of an investigation.
pub async fn all_events<S: Store>(store: &S, inv: &Investigation) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map_or(0, |e: &Event| e.seq);
        let page = store.events(inv.id, after, 1000).await.expect("events");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The kinds of an investigation's events, in order.
pub async fn kinds<S: Store>(store: &S, inv: &Investigation) -> Vec<EventKind> {
    all_events(store, inv)
        .await
        .iter()
        .map(|e| e.kind)
        .collect()
}

/// Asserts the chain verifies and seqs run 1..=last_seq.
pub async fn assert_chain_valid<S: Store>(store: &S, inv: &Investigation) {
    let current = store.get(inv.id).await.expect("get");
    let report = store.verify_chain(inv.id).await.expect("verify");
    assert!(report.valid, "chain of {} broken: {report:?}", inv.id);
    assert_eq!(report.events_checked, current.last_seq);
    let seqs: Vec<i64> = all_events(store, inv).await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=current.last_seq).collect::<Vec<_>>());
}

/// Asserts `result` is a `LeaseLost` error.
pub fn assert_lease_lost<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::LeaseLost { .. }) => {}
        other => panic!("expected LeaseLost, got {other:?}"),
    }
}

/// Asserts `result` is a `NotFound` error.
pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Asserts `result` is an `InvalidTransition` error.
pub fn assert_invalid_transition<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::InvalidTransition { .. }) => {}
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
}

/// Asserts `result` says the approval request was already decided or
/// expired.
pub fn assert_already_decided<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::ApprovalNotPending { .. } | Error::ApprovalExpired { .. }) => {}
        other => panic!("expected ApprovalNotPending, got {other:?}"),
    }
}

/// The number of events of `kind`.
pub async fn count_kind<S: Reads + Store>(
    store: &S,
    inv: &Investigation,
    kind: EventKind,
) -> usize {
    kinds(store, inv)
        .await
        .into_iter()
        .filter(|k| *k == kind)
        .count()
}

/// Dispatches, claims and parks one investigation of `agent` on an approval
/// request that expires in ten minutes. No other investigation of `agent`
/// may be queued.
pub async fn parked<S: Store>(
    store: &S,
    clock: &ManualClock,
    agent: &str,
) -> (Investigation, ApprovalRequest) {
    let inv = claimed(store, agent).await;
    let draft = approval_draft(clock.now(), "call-1", Duration::minutes(10));
    let request = store
        .await_approval(inv.id, inv.lease_epoch, draft)
        .await
        .expect("await approval");
    (inv, request)
}

/// A token for `principal` with `roles`, whose hash is derived from `id`.
pub fn new_token(id: &str, principal: &str, roles: &[Role]) -> NewToken {
    NewToken {
        id: id.to_owned(),
        principal: principal.to_owned(),
        roles: roles.to_vec(),
        token_hash: hex::encode(Sha256::digest(format!("secret of {id}"))),
    }
}

/// Asserts `result` is an `InvalidInput` error naming `field`.
pub fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Error>, field: &str) {
    match result {
        Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected InvalidInput({field}), got {other:?}"),
    }
}

/// A new `high` case titled `title`, with nothing else.
pub fn new_case(title: &str) -> NewCase {
    NewCase {
        title: title.to_owned(),
        severity: Severity::High,
        ..NewCase::default()
    }
}

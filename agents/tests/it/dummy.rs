//! `dummy` mode end to end: the scripted showcase model and fixture tools on
//! a real store.

use std::sync::Arc;

use chrono::Duration as Span;
use tokio_util::sync::CancellationToken;
use vigil_agents::Mode;
use vigil_agents::dummy::{self, SCRIPTED_MODEL, ScriptedModel};
use vigil_agents::runner::{Runner, Step};
use vigil_agents::{Catalog, ToolRegistry};
use vigil_engine::event::EventKind;
use vigil_engine::store::{DispatchRequest, Store};
use vigil_engine::{Decision, Investigation, ManualClock, Status};

use crate::support::{Backend, Keep, on_both_stores, open_store};

struct Dummy {
    store: Arc<dyn Store>,
    runner: Runner,
    keep: Keep,
}

async fn dummy(backend: Backend) -> Dummy {
    dummy_with(backend, dummy::triage_agent()).await
}

async fn dummy_with(backend: Backend, agent: vigil_agents::AgentConfig) -> Dummy {
    let clock = Arc::new(ManualClock::starting_now());
    let (store, keep) = open_store(backend, clock.clone()).await;
    let mut registry = ToolRegistry::new(16 * 1024);
    for tool in dummy::tools() {
        registry.register(tool).unwrap();
    }
    let catalog = Catalog::new(vec![agent], &registry).unwrap();
    let runner = Runner::new(
        store.clone(),
        Arc::new(catalog),
        Arc::new(registry),
        Arc::new(ScriptedModel),
        clock,
        Mode::Dummy,
    );
    Dummy {
        store,
        runner,
        keep,
    }
}

async fn start(d: &Dummy, prompt: &str) -> Investigation {
    d.store
        .dispatch(DispatchRequest {
            agent_id: "triage".into(),
            prompt: prompt.into(),
            requested_by: "soar".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    d.store
        .claim_next(&[], "worker-1", None, Span::seconds(60))
        .await
        .unwrap()
        .unwrap()
}

async fn decide_and_finish(d: &Dummy, inv: &Investigation, decision: Decision) -> Investigation {
    let parked = d.store.get(inv.id).await.unwrap();
    let approval = d.store.approval(parked.waiting_on.unwrap()).await.unwrap();
    assert_eq!(approval.action, "isolate_host");
    assert_eq!(approval.arguments["host"], "web-01");
    d.store
        .decide_approval(
            approval.id,
            "bob",
            decision,
            Some("checked with the owner".into()),
        )
        .await
        .unwrap();
    let again = d
        .store
        .claim_next(&[], "worker-2", None, Span::seconds(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.runner
            .run(&again, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    d.store.get(inv.id).await.unwrap()
}

pub async fn the_dummy_triage_finds_the_tor_login_and_isolates_after_approval(b: Backend) {
    let d = dummy(b).await;
    let inv = start(
        &d,
        "Alert 4411: failed SSH logins on web-01 from 185.220.101.4",
    )
    .await;
    assert_eq!(
        d.runner.run(&inv, &CancellationToken::new()).await.unwrap(),
        Step::AwaitingApproval
    );
    let done = decide_and_finish(&d, &inv, Decision::Approve).await;
    assert_eq!(done.status, Status::Completed);
    assert_eq!(done.confidence, Some(0.9));
    let result = done.result.unwrap();
    assert_eq!(
        result["summary"],
        "Brute force from 185.220.101.4 succeeded: logged in as deploy on web-01."
    );
    let findings = result["key_findings"].to_string();
    assert!(
        findings.contains("24 failed and 1 successful"),
        "{findings}"
    );
    assert!(findings.contains("Tor exit true"), "{findings}");
    // The fixture EDR is not an EDR: the result says the isolation was
    // simulated, never that the host was isolated.
    assert!(
        findings.contains("isolation of web-01 was simulated"),
        "{findings}"
    );
    assert!(!findings.contains("was isolated"), "{findings}");
    let events = d.store.events(inv.id, 0, 1000).await.unwrap();
    let turns: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::ModelTurn)
        .collect();
    assert_eq!(turns.len(), 4);
    assert!(
        turns.iter().all(|e| e.payload["model"] == SCRIPTED_MODEL),
        "every turn is labelled as the showcase"
    );
    d.keep.release().await;
}

pub async fn a_rejected_isolation_shows_in_the_dummy_result(b: Backend) {
    let d = dummy(b).await;
    let inv = start(&d, "Failed SSH logins on web-01 from 185.220.101.4").await;
    assert_eq!(
        d.runner.run(&inv, &CancellationToken::new()).await.unwrap(),
        Step::AwaitingApproval
    );
    let done = decide_and_finish(&d, &inv, Decision::Reject).await;
    let findings = done.result.unwrap()["key_findings"].to_string();
    assert!(
        findings.contains("not carried out: rejected by bob: checked with the owner"),
        "{findings}"
    );
    d.keep.release().await;
}

pub async fn the_dummy_run_is_deterministic(b: Backend) {
    let d = dummy(b).await;
    let mut results = Vec::new();
    for _ in 0..2 {
        let inv = start(&d, "Scanner at 203.0.113.7 hitting web-02").await;
        assert_eq!(
            d.runner.run(&inv, &CancellationToken::new()).await.unwrap(),
            Step::Completed,
            "a scanner that never got in needs no approval"
        );
        let done = d.store.get(inv.id).await.unwrap();
        let kinds: Vec<_> = d
            .store
            .events(inv.id, 0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        results.push((done.result, kinds, done.usage.input_tokens));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0].0.as_ref().unwrap()["confidence"], 0.6);
    d.keep.release().await;
}

/// An agent that may not isolate is refused the call; the showcase result
/// then says the host was not isolated, and why.
pub async fn the_showcase_never_claims_an_isolation_that_did_not_run(b: Backend) {
    let mut agent = dummy::triage_agent();
    agent.tools.retain(|t| t != "isolate_host");
    let d = dummy_with(b, agent).await;
    let inv = start(&d, "Failed SSH logins on web-01 from 185.220.101.4").await;
    assert_eq!(
        d.runner.run(&inv, &CancellationToken::new()).await.unwrap(),
        Step::Completed
    );
    let done = d.store.get(inv.id).await.unwrap();
    let result = done.result.unwrap();
    let text = result.to_string();
    assert!(!text.contains("was isolated"), "{text}");
    let findings = result["key_findings"].to_string();
    assert!(
        findings.contains("isolation of web-01 was not carried out: unknown tool"),
        "{findings}"
    );
    d.keep.release().await;
}

on_both_stores!(
    the_showcase_never_claims_an_isolation_that_did_not_run,
    the_dummy_triage_finds_the_tor_login_and_isolates_after_approval,
    a_rejected_isolation_shows_in_the_dummy_result,
    the_dummy_run_is_deterministic,
);

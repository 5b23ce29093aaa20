//! `delegate_investigation` through the agent loop, on both stores: a
//! parent delegating three children in one turn parks without a lease,
//! their outcomes (one failed) become its calls' results, and fan-out and
//! depth stop at the budget; a parent that dies after dispatching and is
//! rescued dispatches no child twice.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration as Span;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vigil_agents::runner::{Ports, Runner, Step};
use vigil_agents::{AgentBudget, AgentConfig, Catalog, Mode, ToolRegistry};
use vigil_engine::event::{Event, EventBody, EventKind};
use vigil_engine::store::{DispatchRequest, Store};
use vigil_engine::{Investigation, InvestigationId, ManualClock, Phase, Status};

use crate::runner::{VALID, submit};
use crate::support::scripted::{self, Reply, Scripted, tool_calls};
use crate::support::{
    Backend, Fault, FaultyLeases, Keep, on_both_stores, open_store, scripted_model,
};

on_both_stores!(
    a_parent_delegates_three_children_and_reads_their_outcomes,
    a_parent_rescued_after_dispatching_dispatches_no_child_twice,
);

const LEASE: Span = Span::seconds(60);

struct Fixture {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    model: Scripted,
    model_addr: std::net::SocketAddr,
    catalog: Arc<Catalog>,
    registry: Arc<ToolRegistry>,
    keep: Keep,
}

/// The tool results the model was shown, by call id: (content).
fn results(body: &Value) -> HashMap<String, String> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn system_prompt(body: &Value) -> String {
    body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn user_prompt(body: &Value) -> String {
    body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn delegate(id: &str, prompt: &str) -> (String, String) {
    (
        id.to_owned(),
        json!({"agent": "phishing", "prompt": prompt}).to_string(),
    )
}

/// The orchestrator delegates four questions in one turn (its budget
/// allows three), then submits. A phishing child first tries to delegate
/// further (its depth allows none), then submits, except the one asked
/// about an unreachable mailbox, whose model refuses the request.
fn responder(body: &Value) -> Reply {
    let seen = results(body);
    if system_prompt(body).starts_with("Orchestrate") {
        if seen.is_empty() {
            let calls = [
                delegate("c1", "Was the sender spoofed?"),
                delegate("c2", "Did anyone click the link?"),
                delegate("c3", "Check the unreachable mailbox"),
                delegate("c4", "One question too many"),
            ];
            let calls: Vec<(&str, &str, Option<&str>)> = calls
                .iter()
                .map(|(id, args)| ("delegate_investigation", args.as_str(), Some(id.as_str())))
                .collect();
            return tool_calls(&calls);
        }
        return submit(VALID);
    }
    if user_prompt(body).contains("unreachable mailbox") {
        return Reply::status(
            400,
            r#"{"error":{"message":"mailbox API refused the request"}}"#,
        );
    }
    if seen.is_empty() {
        let args = delegate("deeper", "and one level down").1;
        return tool_calls(&[("delegate_investigation", &args, Some("deeper"))]);
    }
    submit(VALID)
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let (store, keep) = open_store(backend, clock.clone()).await;
        let (model_addr, model) = scripted::serve().await;
        model.respond_with(Arc::new(responder));
        let agents = vec![
            AgentConfig {
                id: "orchestrator".into(),
                system_prompt: "Orchestrate: delegate each question, then submit_result.".into(),
                model: None,
                tools: vec!["delegate_investigation".into()],
                budget: AgentBudget {
                    max_children: 3,
                    max_depth: 1,
                    ..AgentBudget::default()
                },
                output_schema: None,
            },
            AgentConfig {
                id: "phishing".into(),
                system_prompt: "Phishing analyst: answer the question, then submit_result.".into(),
                model: None,
                tools: vec!["delegate_investigation".into()],
                budget: AgentBudget {
                    max_depth: 1,
                    ..AgentBudget::default()
                },
                output_schema: None,
            },
        ];
        let mut registry = ToolRegistry::new(4096);
        let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        registry
            .register(vigil_agents::delegate::tool(&ids))
            .unwrap();
        let catalog = Arc::new(Catalog::new(agents, &registry).unwrap());
        Self {
            store,
            clock,
            model,
            model_addr,
            catalog,
            registry: Arc::new(registry),
            keep,
        }
    }

    fn runner_on(&self, ports: Ports) -> Runner {
        Runner::new(
            ports,
            self.catalog.clone(),
            self.registry.clone(),
            Arc::new(scripted_model(self.model_addr)),
            self.clock.clone(),
            Mode::Real,
        )
    }

    async fn run(&self, inv: &Investigation) -> Step {
        self.runner_on(self.store.clone().into())
            .run(inv, &CancellationToken::new())
            .await
            .expect("the run reaches a step")
    }

    async fn claim(&self, agent: &str) -> Option<Investigation> {
        self.store
            .claim_next(&[agent.to_owned()], "worker-1", None, LEASE)
            .await
            .unwrap()
    }

    async fn dispatch_parent(&self) -> Investigation {
        self.store
            .dispatch(DispatchRequest {
                agent_id: "orchestrator".into(),
                prompt: "A phishing wave reached finance".into(),
                requested_by: "soar".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .investigation
    }

    async fn events(&self, id: InvestigationId) -> Vec<Event> {
        self.store.events(id, 0, 1000).await.unwrap()
    }
}

fn tool_results(events: &[Event]) -> HashMap<String, (String, bool)> {
    events
        .iter()
        .filter_map(|e| match e.body() {
            Ok(EventBody::ToolResult(r)) => Some((r.tool_call_id, (r.output, r.is_error))),
            _ => None,
        })
        .collect()
}

async fn a_parent_delegates_three_children_and_reads_their_outcomes(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let parent = fx.dispatch_parent().await;
    let claimed = fx.claim("orchestrator").await.unwrap();
    assert_eq!(fx.run(&claimed).await, Step::AwaitingChildren);
    let parked = fx.store.get(parent.id).await.unwrap();
    assert_eq!(parked.phase, Some(Phase::AwaitingChildren));
    assert!(parked.lease_owner.is_none(), "no lease while it waits");

    let children = fx.store.children(parent.id).await.unwrap();
    assert_eq!(children.len(), 3, "fan-out stops at the budget's three");
    let calls: Vec<&str> = children
        .iter()
        .map(|c| c.parent.as_ref().unwrap().tool_call_id.as_str())
        .collect();
    let mut sorted = calls.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["c1", "c2", "c3"]);
    assert!(children.iter().all(|c| {
        c.depth() == 1
            && c.requested_by == format!("investigation:{}", parent.id)
            && c.traceparent
                .as_deref()
                .is_some_and(|t| t.contains(&parent.trace_id()))
    }));
    let parent_results = tool_results(&fx.events(parent.id).await);
    let refused = &parent_results["c4"];
    assert!(
        refused.1 && refused.0.contains("max_children"),
        "{refused:?}"
    );

    for _ in 0..3 {
        let child = fx.claim("phishing").await.expect("a queued child");
        let step = fx.run(&child).await;
        let expected = if child.prompt.contains("unreachable") {
            Step::Failed
        } else {
            Step::Completed
        };
        assert_eq!(step, expected, "{}", child.prompt);
        let deeper = tool_results(&fx.events(child.id).await);
        if expected == Step::Completed {
            let (text, is_error) = &deeper["deeper"];
            assert!(
                *is_error && text.contains("max_depth"),
                "depth 1 of 1: {text}"
            );
        }
        assert!(fx.store.children(child.id).await.unwrap().is_empty());
    }

    let queued = fx.store.get(parent.id).await.unwrap();
    assert!(queued.is_queued(), "{}", queued.state_name());
    let resumed = fx.claim("orchestrator").await.unwrap();
    assert_eq!(fx.run(&resumed).await, Step::Completed);

    let events = fx.events(parent.id).await;
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::AwaitingChildren));
    assert!(kinds.contains(&EventKind::ChildrenFinished));
    let results = tool_results(&events);
    for child in &children {
        let call = &child.parent.as_ref().unwrap().tool_call_id;
        let (text, is_error) = &results[call];
        let shown: Value = serde_json::from_str(text).unwrap();
        assert_eq!(shown["investigation_id"], json!(child.id));
        if child.prompt.contains("unreachable") {
            assert!(*is_error);
            assert_eq!(shown["status"], "failed");
            assert!(
                shown["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{shown}"
            );
        } else {
            assert!(!*is_error);
            assert_eq!(shown["status"], "completed");
            assert_eq!(shown["result"]["confidence"], 0.9);
        }
    }
    let last = fx.model.requests().last().unwrap().1.clone();
    assert_eq!(
        results_len(&last),
        4,
        "the model saw every call's result: {last}"
    );
    let chain = fx.store.verify_chain(parent.id).await.unwrap();
    assert!(chain.valid, "{chain:?}");
    fx.keep.release().await;
}

fn results_len(body: &Value) -> usize {
    results(body).len()
}

async fn a_parent_rescued_after_dispatching_dispatches_no_child_twice(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let parent = fx.dispatch_parent().await;
    let claimed = fx.claim("orchestrator").await.unwrap();
    let ports = Ports {
        leases: Arc::new(FaultyLeases::new(
            fx.store.clone(),
            Fault::DiesBeforeParking,
        )),
        reads: fx.store.clone(),
        dispatcher: fx.store.clone(),
    };
    fx.runner_on(ports)
        .run(&claimed, &CancellationToken::new())
        .await
        .expect_err("the worker died before parking");
    assert_eq!(fx.store.children(parent.id).await.unwrap().len(), 3);

    fx.clock.advance(LEASE + Span::seconds(1));
    let reaped = fx.store.reap(10).await.unwrap();
    assert_eq!(reaped.iter().map(|r| r.id).collect::<Vec<_>>(), [parent.id]);
    fx.store
        .rescue(parent.id, "alice", "worker host died")
        .await
        .unwrap();
    let again = fx.claim("orchestrator").await.unwrap();
    assert_eq!(fx.run(&again).await, Step::AwaitingChildren);

    let children = fx.store.children(parent.id).await.unwrap();
    assert_eq!(children.len(), 3, "no child dispatched twice");
    for child in &children {
        let dispatched = fx
            .events(child.id)
            .await
            .iter()
            .filter(|e| e.kind == EventKind::Dispatched)
            .count();
        assert_eq!(dispatched, 1);
    }
    let parent_now = fx.store.get(parent.id).await.unwrap();
    assert_eq!(parent_now.status, Status::Pending);
    assert_eq!(parent_now.phase, Some(Phase::AwaitingChildren));
    fx.keep.release().await;
}

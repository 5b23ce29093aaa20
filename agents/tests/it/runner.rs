//! The agent loop against real stores (SQLite and PostgreSQL), a scripted
//! OpenAI-compatible model server and a loopback tool server.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vigil_agents::http::{HttpTool, HttpToolConfig};
use vigil_agents::runner::{Runner, Step};
use vigil_agents::tool::{ApprovalPolicy, Effect};
use vigil_agents::{AgentBudget, AgentConfig, Catalog, ToolRegistry};
use vigil_agents::{Mode, Price};
use vigil_engine::event::{
    EventBody, EventKind, ModelFailureCause, ModelTurn, StepEvent, ToolCall, ToolIntent, ToolResult,
};
use vigil_engine::store::{DispatchRequest, Store};
use vigil_engine::{Clock, Decision, Investigation, ManualClock, Status};

use crate::support::scripted::{self, Reply, Scripted, text, tool_calls};
use crate::support::tools::{self, Recorder};
use crate::support::{Backend, Keep, on_both_stores, open_store};

pub const VALID: &str = r#"{"summary":"Tor exit node brute-forcing SSH; no login succeeded.","key_findings":["185.220.101.4 is a Tor exit","412 failures"],"recommended_next_steps":["block at the edge"],"confidence":0.9}"#;
const LEASE: Span = Span::seconds(60);

pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub model: Scripted,
    pub model_addr: std::net::SocketAddr,
    pub tools: Recorder,
    pub catalog: Arc<Catalog>,
    pub registry: Arc<ToolRegistry>,
    keep: Keep,
}

fn http_tool(
    name: &str,
    method: &str,
    url: String,
    param: &str,
    effect: Effect,
    approval: ApprovalPolicy,
) -> HttpToolConfig {
    HttpToolConfig {
        name: name.into(),
        description: format!("{name} (test)"),
        method: method.into(),
        url,
        headers: Default::default(),
        parameters: json!({"type": "object", "properties": {param: {"type": "string"}}, "required": [param]}),
        effect,
        timeout: Duration::from_secs(5),
        approval,
    }
}

impl Fixture {
    pub async fn new(backend: Backend) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let (store, keep) = open_store(backend, clock.clone()).await;
        let (model_addr, model) = scripted::serve().await;
        let (tool_addr, tools) = tools::serve().await;
        let gated = ApprovalPolicy {
            required: true,
            ..ApprovalPolicy::default()
        };
        let mut registry = ToolRegistry::new(4096);
        for cfg in [
            http_tool(
                "ip_reputation",
                "GET",
                format!("http://{tool_addr}/echo/ip/{{ip}}"),
                "ip",
                Effect::Read,
                ApprovalPolicy::default(),
            ),
            http_tool(
                "isolate_host",
                "POST",
                format!("http://{tool_addr}/echo/isolate/{{host}}"),
                "host",
                Effect::Write,
                gated,
            ),
            http_tool(
                "disable_user",
                "POST",
                format!("http://{tool_addr}/echo/users/{{user}}/disable"),
                "user",
                Effect::Write,
                ApprovalPolicy::default(),
            ),
        ] {
            registry
                .register(Arc::new(
                    HttpTool::new(cfg, reqwest::Client::new(), &|_| None).unwrap(),
                ))
                .unwrap();
        }
        let agent = AgentConfig {
            id: "triage".into(),
            system_prompt: "You are a SOC analyst. Investigate, then call submit_result.".into(),
            model: None,
            tools: vec![
                "ip_reputation".into(),
                "isolate_host".into(),
                "disable_user".into(),
            ],
            budget: AgentBudget {
                max_turns: 4,
                ..AgentBudget::default()
            },
            output_schema: None,
        };
        let catalog = Arc::new(Catalog::new(vec![agent], &registry).unwrap());
        Self {
            store,
            clock,
            model,
            model_addr,
            tools,
            catalog,
            registry: Arc::new(registry),
            keep,
        }
    }

    /// Runs `inv` in `mode` to the step it stops at.
    pub async fn step(&self, mode: Mode, inv: &Investigation) -> Step {
        self.runner(mode)
            .run(inv, &CancellationToken::new())
            .await
            .expect("the run reaches a step")
    }

    pub fn runner(&self, mode: Mode) -> Runner {
        self.runner_on(self.store.clone().into(), mode)
    }

    /// A runner whose store calls go through `ports`.
    pub fn runner_on(&self, ports: vigil_agents::runner::Ports, mode: Mode) -> Runner {
        let model = crate::support::scripted_model(self.model_addr);
        Runner::new(
            ports,
            self.catalog.clone(),
            self.registry.clone(),
            Arc::new(model),
            self.clock.clone(),
            mode,
        )
        .with_prices(HashMap::from([(
            "scripted-1".to_owned(),
            Price {
                input_per_million: 2.5,
                output_per_million: 10.0,
            },
        )]))
    }

    pub async fn dispatch(&self, agent: &str) -> Investigation {
        self.store
            .dispatch(DispatchRequest {
                agent_id: agent.into(),
                prompt: "Failed SSH logins on web-01 from 185.220.101.4".into(),
                requested_by: "soar".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .investigation
    }

    /// Dispatches a triage run and claims it as `worker-1`.
    pub async fn start(&self) -> Investigation {
        self.dispatch("triage").await;
        self.claim("worker-1").await
    }

    pub async fn claim(&self, worker: &str) -> Investigation {
        self.store
            .claim_next(&[], worker, None, LEASE)
            .await
            .unwrap()
            .expect("a queued run")
    }

    pub async fn events(&self, inv: &Investigation) -> Vec<vigil_engine::Event> {
        self.store.events(inv.id, 0, 1000).await.unwrap()
    }

    pub async fn kinds(&self, inv: &Investigation) -> Vec<EventKind> {
        self.store
            .events(inv.id, 0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect()
    }

    /// The tool messages the model was sent in its `n`th request.
    pub fn tool_messages(&self, n: usize) -> Vec<String> {
        self.model.requests()[n].1["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Kills the current lease holder: the lease runs out, the reaper acts,
    /// an operator rescues, and another worker claims.
    pub async fn crash_and_rescue(&self, worker: &str) -> Investigation {
        self.clock.advance(LEASE + Span::seconds(1));
        assert_eq!(self.store.reap(10).await.unwrap().len(), 1);
        let dead = self.store.list(&Default::default()).await.unwrap().items[0].clone();
        self.store
            .rescue(dead.id, "oncall", "worker died")
            .await
            .unwrap();
        self.claim(worker).await
    }

    pub async fn cleanup(self) {
        self.keep.release().await;
    }
}

pub fn submit(json_text: &str) -> Reply {
    tool_calls(&[("submit_result", json_text, Some("final"))])
}

pub async fn a_tool_call_then_a_valid_result_completes(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model
        .push(tool_calls(&[(
            "ip_reputation",
            r#"{"ip":"185.220.101.4"}"#,
            Some("c1"),
        )]))
        .push(submit(VALID));
    let inv = fx.dispatch("triage").await;
    let inv2 = fx.claim("worker-1").await;
    assert_eq!(inv.id, inv2.id);
    let step = fx
        .runner(Mode::Real)
        .run(&inv2, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(step, Step::Completed);
    let done = fx.store.get(inv.id).await.unwrap();
    assert_eq!(done.status, Status::Completed);
    assert_eq!(done.confidence, Some(0.9));
    assert_eq!(
        (
            done.usage.model_turns,
            done.usage.input_tokens,
            done.usage.output_tokens
        ),
        (2, 200, 40)
    );
    assert!(
        (done.usage.cost_usd - 2.0 * (100.0 * 2.5 + 20.0 * 10.0) / 1e6).abs() < 1e-12,
        "{}",
        done.usage.cost_usd
    );
    assert_eq!(
        fx.kinds(&inv).await,
        [
            EventKind::Dispatched,
            EventKind::Claimed,
            EventKind::ModelTurn,
            EventKind::ToolIntent,
            EventKind::ToolResult,
            EventKind::ModelTurn,
            EventKind::Completed
        ]
    );
    assert_eq!(fx.tools.count(), 1);
    assert!(
        fx.tool_messages(1)[0].contains("/echo/ip/185.220.101.4"),
        "the model saw the tool output"
    );
    let requests = fx.model.requests();
    let tools_offered: Vec<&str> = requests[0].1["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(tools_offered.contains(&"submit_result") && tools_offered.contains(&"ip_reputation"));
    fx.cleanup().await;
}

pub async fn bad_calls_become_results_the_model_sees(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model
        .push(tool_calls(&[
            ("ip_reputation", r#"{"ip": "185.220.101.4""#, Some("c1")),
            ("wipe_disk", "{}", Some("c2")),
            ("ip_reputation", r#"{"address": "x"}"#, Some("c3")),
        ]))
        .push(submit(VALID));
    let inv = fx.start().await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    assert_eq!(fx.tools.count(), 0, "nothing ran");
    let seen = fx.tool_messages(1);
    assert_eq!(seen.len(), 3);
    assert!(seen[0].contains("not valid JSON"), "{seen:?}");
    assert!(seen[1].contains("unknown tool"), "{seen:?}");
    assert!(seen[2].contains("invalid arguments"), "{seen:?}");
    fx.cleanup().await;
}

pub async fn a_model_that_never_submits_ends_in_review(b: Backend) {
    let fx = Fixture::new(b).await;
    for n in 0..4 {
        fx.model.push(text(&format!("Still thinking ({n})")));
    }
    let inv = fx.start().await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::ReviewRequired
    );
    let done = fx.store.get(inv.id).await.unwrap();
    assert!(
        done.error
            .as_deref()
            .unwrap()
            .contains("budget exhausted: 4 model turns"),
        "{:?}",
        done.error
    );
    assert_eq!(done.result_raw.as_deref(), Some("Still thinking (3)"));
    let second = &fx.model.requests()[1].1["messages"];
    assert!(
        second.as_array().unwrap().iter().any(
            |m| m["role"] == "user" && m["content"].as_str().unwrap().contains("submit_result")
        )
    );
    fx.cleanup().await;
}

pub async fn a_result_that_fails_the_schema_requires_review(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model
        .push(submit(r#"{"summary":"looks bad","confidence":"high"}"#));
    let inv = fx.start().await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::ReviewRequired
    );
    let done = fx.store.get(inv.id).await.unwrap();
    assert_eq!(done.status, Status::ReviewRequired);
    assert_eq!(
        done.result_raw.as_deref(),
        Some(r#"{"summary":"looks bad","confidence":"high"}"#)
    );
    // Every field error is on the record (so in `vigil show`, the API's
    // `error` and the console), not only in the event.
    let error = done.error.unwrap();
    assert!(
        error.starts_with("result does not match the agent's output schema: "),
        "{error}"
    );
    for field in ["/confidence", "key_findings", "recommended_next_steps"] {
        assert!(error.contains(field), "{field} missing from {error}");
    }
    fx.cleanup().await;
}

pub async fn park_on_isolation(fx: &Fixture) -> (Investigation, vigil_engine::ApprovalRequest) {
    park_on_isolation_in(fx, Mode::Real).await
}

/// Starts a run whose model asks to isolate web-01 and runs it in `mode`
/// until it parks on the approval; returns the run and the request.
pub async fn park_on_isolation_in(
    fx: &Fixture,
    mode: Mode,
) -> (Investigation, vigil_engine::ApprovalRequest) {
    fx.model.push(tool_calls(&[(
        "isolate_host",
        r#"{"host":"web-01"}"#,
        Some("c1"),
    )]));
    let inv = fx.start().await;
    assert_eq!(fx.step(mode, &inv).await, Step::AwaitingApproval);
    let parked = fx.store.get(inv.id).await.unwrap();
    let approval = fx
        .store
        .approval(parked.waiting_on.expect("parked on a request"))
        .await
        .unwrap();
    assert_eq!(
        (approval.action.as_str(), &approval.arguments),
        ("isolate_host", &json!({"host": "web-01"}))
    );
    assert_eq!(fx.tools.count(), 0, "nothing runs before the decision");
    (inv, approval)
}

pub async fn an_approved_write_runs_once(b: Backend) {
    let fx = Fixture::new(b).await;
    let (inv, approval) = park_on_isolation(&fx).await;
    fx.store
        .decide_approval(approval.id, "bob", Decision::Approve, Some("go".into()))
        .await
        .unwrap();
    fx.model.push(submit(VALID));
    let again = fx.claim("worker-2").await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&again, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    assert_eq!(fx.tools.count(), 1);
    assert_eq!(fx.tools.all()[0].uri, "/echo/isolate/web-01");
    assert_eq!(
        fx.store.get(inv.id).await.unwrap().status,
        Status::Completed
    );
    fx.cleanup().await;
}

pub async fn a_rejected_write_is_reported_to_the_model(b: Backend) {
    let fx = Fixture::new(b).await;
    let (_, approval) = park_on_isolation(&fx).await;
    fx.store
        .decide_approval(
            approval.id,
            "bob",
            Decision::Reject,
            Some("production database host".into()),
        )
        .await
        .unwrap();
    fx.model.push(submit(VALID));
    let again = fx.claim("worker-2").await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&again, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    assert_eq!(fx.tools.count(), 0);
    assert_eq!(
        fx.tool_messages(1),
        ["rejected by bob: production database host"]
    );
    fx.cleanup().await;
}

pub async fn an_expired_approval_is_reported_to_the_model(b: Backend) {
    let fx = Fixture::new(b).await;
    park_on_isolation(&fx).await;
    fx.clock.advance(Span::minutes(16));
    assert_eq!(fx.store.expire_approvals(10).await.unwrap().len(), 1);
    fx.model.push(submit(VALID));
    let again = fx.claim("worker-2").await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&again, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    assert_eq!(fx.tools.count(), 0);
    assert!(
        fx.tool_messages(1)[0].starts_with("expired"),
        "{:?}",
        fx.tool_messages(1)
    );
    fx.cleanup().await;
}

/// Where a simulated crash stops the first worker.
#[derive(Debug, Clone, Copy)]
enum CrashAfter {
    Turn,
    Intent,
    Result,
}

async fn crash_at(
    fx: &Fixture,
    tool: &str,
    arg: (&str, &str),
    effect: Effect,
    boundary: CrashAfter,
) -> (Investigation, Step) {
    fx.dispatch("triage").await;
    let first = fx.claim("worker-1").await;
    // A three-turn run: turn 1 finished (call c0), the crash hits turn 2
    // (call c1, the tool under test), and turn 3 submits after the resume.
    let step = |id: &str, tool: &str, arguments: Value, effect: Effect| {
        let turn = StepEvent::ModelTurn(ModelTurn {
            model: "scripted-1".into(),
            content: Some("checking".into()),
            tool_calls: vec![ToolCall {
                id: id.into(),
                name: tool.into(),
                arguments: arguments.to_string(),
                wire_id: None,
            }],
            input_tokens: 10,
            output_tokens: 5,
            cost_usd: 0.0,
        });
        let intent = StepEvent::ToolIntent(ToolIntent {
            tool_call_id: id.into(),
            tool: tool.into(),
            arguments,
            effect,
        });
        let result = StepEvent::ToolResult(ToolResult {
            tool_call_id: id.into(),
            tool: tool.into(),
            output: "{\"done\":true}".into(),
            is_error: false,
            truncated: false,
            original_bytes: None,
        });
        [turn, intent, result]
    };
    let [turn1, intent1, result1] = step(
        "c0",
        "ip_reputation",
        json!({"ip": "10.20.0.15"}),
        Effect::Read,
    );
    let [turn, intent, result] = step("c1", tool, json!({arg.0: arg.1}), effect);
    let mut written = vec![turn1, intent1, result1];
    written.extend(match boundary {
        CrashAfter::Turn => vec![turn],
        CrashAfter::Intent => vec![turn, intent],
        CrashAfter::Result => vec![turn, intent, result],
    });
    for event in written {
        fx.store
            .checkpoint(first.id, first.lease_epoch, vec![event])
            .await
            .unwrap();
    }
    let second = fx.crash_and_rescue("worker-2").await;
    let step = fx
        .runner(Mode::Real)
        .run(&second, &CancellationToken::new())
        .await
        .unwrap();
    (second, step)
}

pub async fn resume_after_a_crash_runs_read_tools_again_but_never_blind_writes(b: Backend) {
    let fx = Fixture::new(b).await;
    let cases = [
        (
            "ip_reputation",
            ("ip", "185.220.101.4"),
            Effect::Read,
            CrashAfter::Turn,
            1,
            Step::Completed,
        ),
        (
            "ip_reputation",
            ("ip", "185.220.101.4"),
            Effect::Read,
            CrashAfter::Intent,
            1,
            Step::Completed,
        ),
        (
            "ip_reputation",
            ("ip", "185.220.101.4"),
            Effect::Read,
            CrashAfter::Result,
            0,
            Step::Completed,
        ),
        (
            "disable_user",
            ("user", "jdoe"),
            Effect::Write,
            CrashAfter::Turn,
            1,
            Step::Completed,
        ),
        (
            "disable_user",
            ("user", "jdoe"),
            Effect::Write,
            CrashAfter::Intent,
            0,
            Step::ReviewRequired,
        ),
        (
            "disable_user",
            ("user", "jdoe"),
            Effect::Write,
            CrashAfter::Result,
            0,
            Step::Completed,
        ),
    ];
    for (tool, arg, effect, boundary, calls, expected) in cases {
        let before = fx.tools.count();
        if expected == Step::Completed {
            fx.model.push(submit(VALID));
        }
        let (inv, step) = crash_at(&fx, tool, arg, effect, boundary).await;
        assert_eq!(step, expected, "{tool} crashed {boundary:?}");
        assert_eq!(
            fx.tools.count() - before,
            calls,
            "{tool} crashed {boundary:?}: tool server calls"
        );
        let done = fx.store.get(inv.id).await.unwrap();
        if expected == Step::ReviewRequired {
            assert_eq!(
                done.error.as_deref(),
                Some(r#"outcome of c1 (`disable_user` with {"user":"jdoe"}) unknown"#),
                "the reason names the tool and its arguments"
            );
        }
        let report = fx.store.verify_chain(inv.id).await.unwrap();
        assert!(report.valid, "{report:?}");
        // Settle this run so the next case claims its own.
        assert!(
            done.status.is_terminal(),
            "{tool} {boundary:?} left {:?}",
            done.status
        );
    }
    fx.cleanup().await;
}

pub async fn lease_lost_mid_run_stops_without_another_call(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.push(
        tool_calls(&[("ip_reputation", r#"{"ip":"185.220.101.4"}"#, Some("c1"))])
            .delayed(Duration::from_millis(800)),
    );
    let inv = fx.start().await;
    let runner = fx.runner(Mode::Real);
    let run = async { runner.run(&inv, &CancellationToken::new()).await.unwrap() };
    let reap = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        fx.clock.advance(LEASE + Span::seconds(1));
        assert_eq!(fx.store.reap(10).await.unwrap().len(), 1);
    };
    let (step, ()) = tokio::join!(run, reap);
    assert_eq!(step, Step::LeaseLost);
    assert_eq!(fx.tools.count(), 0, "no tool call after the lease was lost");
    assert_eq!(fx.model.requests().len(), 1, "no further model call");
    assert_eq!(
        fx.kinds(&inv).await.last(),
        Some(&EventKind::DeadLettered),
        "nothing written after the reap"
    );
    fx.cleanup().await;
}

pub async fn an_unavailable_model_releases_the_run(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.push(Reply::status(503, "overloaded"));
    let inv = fx.start().await;
    let step = fx
        .runner(Mode::Real)
        .run(&inv, &CancellationToken::new())
        .await
        .unwrap();
    assert!(
        matches!(step, Step::RetryLater(ref r) if r.contains("503")),
        "{step:?}"
    );
    let back = fx.store.get(inv.id).await.unwrap();
    assert_eq!(
        (back.status, back.phase),
        (Status::Pending, Some(vigil_engine::Phase::Queued))
    );
    fx.cleanup().await;
}

/// A model that keeps failing is retried later with a growing backoff that
/// claims respect, each release a new attempt, and after
/// `max_model_failures` failures in a row the run fails naming the error.
pub async fn a_model_that_keeps_failing_backs_off_then_fails_naming_the_error(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.respond_with(Arc::new(|_: &Value| -> Reply {
        Reply::status(503, "overloaded")
    }));
    let runner = fx.runner(Mode::Real);
    let mut inv = fx.start().await;
    let mut waits = Vec::new();
    for n in 1..=4 {
        let step = runner.run(&inv, &CancellationToken::new()).await.unwrap();
        assert!(matches!(step, Step::RetryLater(_)), "failure {n}: {step:?}");
        let back = fx.store.get(inv.id).await.unwrap();
        let not_before = back.not_before.expect("a retry is held back");
        waits.push((not_before - fx.clock.now()).num_seconds());
        assert_eq!(back.attempt, n + 1, "each retry is a new attempt");
        assert!(
            fx.store
                .claim_next(&[], "worker-1", None, LEASE)
                .await
                .unwrap()
                .is_none(),
            "not claimed again before its time"
        );
        fx.clock.advance(not_before - fx.clock.now());
        inv = fx.claim("worker-1").await;
    }
    assert_eq!(waits, [10, 20, 40, 80], "the backoff doubles per failure");
    assert_eq!(
        runner.run(&inv, &CancellationToken::new()).await.unwrap(),
        Step::Failed
    );
    let done = fx.store.get(inv.id).await.unwrap();
    let error = done.error.unwrap();
    assert!(
        error.contains("5 times in a row") && error.contains("503"),
        "{error}"
    );
    assert_eq!(fx.model.requests().len(), 5);
    assert_eq!(
        (done.usage.model_turns, done.usage.lost_turns),
        (0, 5),
        "every failed call is a lost turn"
    );
    fx.cleanup().await;
}

/// A model call that gives no turn (an outage, a rate limit) is journaled as
/// `model_call_failed` with its cause and counted in `usage.lost_turns`;
/// the turn that finally answers is the only one counted as a turn.
pub async fn model_calls_that_give_no_turn_count_as_lost_turns(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.push(Reply::status(503, "overloaded"));
    fx.model.push(Reply::status(429, "slow down"));
    fx.model.push(submit(VALID));
    let runner = fx.runner(Mode::Real);
    let mut inv = fx.start().await;
    for _ in 0..2 {
        let step = runner.run(&inv, &CancellationToken::new()).await.unwrap();
        assert!(matches!(step, Step::RetryLater(_)), "{step:?}");
        let back = fx.store.get(inv.id).await.unwrap();
        fx.clock.advance(back.not_before.unwrap() - fx.clock.now());
        inv = fx.claim("worker-1").await;
    }
    assert_eq!(
        runner.run(&inv, &CancellationToken::new()).await.unwrap(),
        Step::Completed
    );
    let done = fx.store.get(inv.id).await.unwrap();
    assert_eq!((done.usage.model_turns, done.usage.lost_turns), (1, 2));
    let causes: Vec<ModelFailureCause> = fx
        .events(&done)
        .await
        .into_iter()
        .filter_map(|e| match e.body() {
            Ok(EventBody::ModelCallFailed(f)) => Some(f.cause),
            _ => None,
        })
        .collect();
    assert_eq!(
        causes,
        [
            ModelFailureCause::Unavailable,
            ModelFailureCause::RateLimited
        ]
    );
    fx.cleanup().await;
}

/// A 429 that says when to come back holds the run in the queue at least
/// that long.
pub async fn a_rate_limited_run_waits_out_the_retry_after(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model
        .push(Reply::status(429, "slow down").header("retry-after", "90"));
    let inv = fx.start().await;
    let step = fx
        .runner(Mode::Real)
        .run(&inv, &CancellationToken::new())
        .await
        .unwrap();
    assert!(matches!(step, Step::RetryLater(_)), "{step:?}");
    let back = fx.store.get(inv.id).await.unwrap();
    let wait = back.not_before.expect("held back") - fx.clock.now();
    assert_eq!(wait.num_seconds(), 90, "Retry-After beats the 10 s backoff");
    fx.cleanup().await;
}

pub async fn a_stopped_run_finishes_its_step_then_releases_itself(b: Backend) {
    let fx = Fixture::new(b).await;
    let stop = CancellationToken::new();
    // The stop comes while the first model call is under way.
    let stopping = stop.clone();
    fx.model.respond_with(Arc::new(move |_: &Value| -> Reply {
        stopping.cancel();
        tool_calls(&[("ip_reputation", r#"{"ip":"185.220.101.4"}"#, Some("c1"))])
    }));
    let inv = fx.start().await;
    let step = fx.runner(Mode::Real).run(&inv, &stop).await.unwrap();
    assert_eq!(step, Step::Released);
    assert_eq!(fx.model.requests().len(), 1, "no model call after the stop");
    assert_eq!(fx.tools.count(), 1, "the call under way was finished");
    assert_eq!(
        fx.kinds(&inv).await,
        [
            EventKind::Dispatched,
            EventKind::Claimed,
            EventKind::ModelTurn,
            EventKind::ToolIntent,
            EventKind::ToolResult,
            EventKind::Released,
        ]
    );
    let back = fx.store.get(inv.id).await.unwrap();
    assert_eq!(
        (back.status, back.phase, back.lease_owner),
        (Status::Pending, Some(vigil_engine::Phase::Queued), None)
    );
    fx.cleanup().await;
}

pub async fn dry_run_previews_writes_and_runs_reads(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model
        .push(tool_calls(&[
            ("disable_user", r#"{"user":"jdoe"}"#, Some("c1")),
            ("ip_reputation", r#"{"ip":"1.2.3.4"}"#, Some("c2")),
        ]))
        .push(submit(VALID));
    let inv = fx.start().await;
    assert_eq!(
        fx.runner(Mode::DryRun)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    assert_eq!(fx.tools.count(), 1, "only the read ran");
    let seen = fx.tool_messages(1);
    let preview: Value = serde_json::from_str(&seen[0]).unwrap();
    assert_eq!(preview["dry_run"], true);
    assert!(
        preview["preview"]
            .as_str()
            .unwrap()
            .contains("users/jdoe/disable"),
        "{preview}"
    );
    fx.cleanup().await;
}

pub async fn an_agent_missing_from_the_catalog_releases_the_run(b: Backend) {
    // A mixed pool or a rolling deploy: the run is for an agent this
    // worker's catalog lacks, so it goes back to the queue for a worker that
    // has it, instead of failing for good.
    let fx = Fixture::new(b).await;
    fx.dispatch("phishing").await;
    let inv = fx.claim("worker-1").await;
    let step = fx
        .runner(Mode::Real)
        .run(&inv, &CancellationToken::new())
        .await
        .unwrap();
    assert!(
        matches!(step, Step::NotServed(ref r) if r.contains("unknown agent `phishing`")),
        "{step:?}"
    );
    let back = fx.store.get(inv.id).await.unwrap();
    assert_eq!(
        (back.status, back.phase),
        (Status::Pending, Some(vigil_engine::Phase::Queued))
    );
    assert_eq!(back.error, None);
    assert_eq!(
        fx.kinds(&inv).await,
        [
            EventKind::Dispatched,
            EventKind::Claimed,
            EventKind::Released
        ]
    );
    assert!(fx.model.requests().is_empty());
    fx.cleanup().await;
}

pub async fn every_tool_request_carries_its_calls_idempotency_key(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model
        .push(tool_calls(&[(
            "ip_reputation",
            r#"{"ip":"185.220.101.4"}"#,
            Some("c1"),
        )]))
        .push(tool_calls(&[(
            "disable_user",
            r#"{"user":"jdoe"}"#,
            Some("c2"),
        )]))
        .push(submit(VALID));
    let inv = fx.start().await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    let keys: Vec<String> = fx
        .tools
        .all()
        .iter()
        .map(|seen| {
            seen.headers
                .get("idempotency-key")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(keys, [format!("{}:c1", inv.id), format!("{}:c2", inv.id)]);
    fx.cleanup().await;
}

pub async fn a_write_tool_that_could_outlast_the_lease_is_not_sent_and_the_run_is_released(
    b: Backend,
) {
    let fx = Fixture::new(b).await;
    fx.model.push(tool_calls(&[(
        "disable_user",
        r#"{"user":"jdoe"}"#,
        Some("c1"),
    )]));
    let inv = fx.start().await;
    // The lease this runner renews to (3 s) is shorter than the tool's
    // timeout (5 s): the request could still be under way after the lease
    // ran out and another worker took the run.
    let step = fx
        .runner(Mode::Real)
        .with_lease(Duration::from_secs(3))
        .run(&inv, &CancellationToken::new())
        .await
        .unwrap();
    assert!(
        matches!(step, Step::LeaseShort(ref r) if r.contains("disable_user")),
        "{step:?}"
    );
    assert_eq!(fx.tools.count(), 0, "the write was never sent");
    let back = fx.store.get(inv.id).await.unwrap();
    assert_eq!(
        (back.status, back.phase),
        (Status::Pending, Some(vigil_engine::Phase::Queued))
    );
    assert_eq!(
        fx.kinds(&inv).await,
        [
            EventKind::Dispatched,
            EventKind::Claimed,
            EventKind::ModelTurn,
            EventKind::Released
        ],
        "no intent: the call can run on the next claim"
    );
    fx.cleanup().await;
}

pub async fn repeated_identical_calls_end_the_run(b: Backend) {
    let fx = Fixture::new(b).await;
    for n in 0..4 {
        fx.model.push(tool_calls(&[(
            "ip_reputation",
            r#"{"ip":"185.220.101.4"}"#,
            Some(&format!("c{n}")),
        )]));
    }
    let inv = fx.start().await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::ReviewRequired
    );
    let done = fx.store.get(inv.id).await.unwrap();
    assert!(
        done.error
            .as_deref()
            .unwrap()
            .starts_with("repeated tool call: `ip_reputation`"),
        "{:?}",
        done.error
    );
    assert_eq!(fx.tools.count(), 3, "the fourth identical call did not run");
    fx.cleanup().await;
}

pub async fn wall_time_runs_out_while_working(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.push(tool_calls(&[(
        "ip_reputation",
        r#"{"ip":"1.2.3.4"}"#,
        Some("c1"),
    )]));
    let inv = fx.start().await;
    // Sixteen minutes of work pass, the worker heartbeating all along. (The
    // expired-approval case shows that time parked on an approval does not count.)
    let runner = fx.runner(Mode::Real);
    for _ in 0..20 {
        fx.clock.advance(Span::seconds(50));
        fx.store
            .heartbeat(inv.id, inv.lease_epoch, LEASE)
            .await
            .unwrap();
    }
    assert_eq!(
        runner.run(&inv, &CancellationToken::new()).await.unwrap(),
        Step::ReviewRequired
    );
    let done = fx.store.get(inv.id).await.unwrap();
    assert!(
        done.error.as_deref().unwrap().contains("wall time"),
        "{:?}",
        done.error
    );
    fx.cleanup().await;
}

/// Wall time counts only while a worker holds the lease: an hour spent
/// dead-lettered and queued again is not work.
pub async fn time_dead_lettered_or_queued_is_not_work(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.push(submit(VALID));
    fx.start().await;
    // The worker dies at once; the run waits dead-lettered for an hour, then
    // queued for another ten minutes before a worker claims it.
    fx.clock.advance(LEASE + Span::seconds(1));
    assert_eq!(fx.store.reap(10).await.unwrap().len(), 1);
    fx.clock.advance(Span::hours(1));
    let dead = fx.store.list(&Default::default()).await.unwrap().items[0].clone();
    fx.store
        .rescue(dead.id, "oncall", "worker died")
        .await
        .unwrap();
    fx.clock.advance(Span::minutes(10));
    let again = fx.claim("worker-2").await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&again, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed,
        "{:?}",
        fx.store.get(again.id).await.unwrap().error
    );
    fx.cleanup().await;
}

/// Dispatches a triage run with `max_wall_time = secs` and claims it.
async fn start_with_wall_time(fx: &Fixture, secs: u64) -> Investigation {
    fx.store
        .dispatch(DispatchRequest {
            agent_id: "triage".into(),
            prompt: "Failed SSH logins on web-01 from 185.220.101.4".into(),
            requested_by: "soar".into(),
            budget: vigil_engine::Budget {
                max_wall_secs: Some(secs),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    fx.claim("worker-1").await
}

/// A dead worker's segment ends when its lease expired, not when the reaper
/// got round to it: the wait for a late reaper tick is not work.
pub async fn time_after_the_lease_expired_is_not_work(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.push(submit(VALID));
    start_with_wall_time(&fx, 300).await;
    // The lease (60 s) runs out; the reaper acts ten minutes after the claim.
    fx.clock.advance(Span::minutes(10));
    assert_eq!(fx.store.reap(10).await.unwrap().len(), 1);
    let dead = fx.store.list(&Default::default()).await.unwrap().items[0].clone();
    fx.store
        .rescue(dead.id, "oncall", "worker died")
        .await
        .unwrap();
    let again = fx.claim("worker-2").await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&again, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed,
        "{:?}",
        fx.store.get(again.id).await.unwrap().error
    );
    fx.cleanup().await;
}

/// A model call is cut off when the wall-time budget runs out, and the
/// reason says it ran out waiting for the model.
pub async fn wall_time_bounds_a_model_call_in_progress(b: Backend) {
    let fx = Fixture::new(b).await;
    // The model would answer long after the one second of budget left.
    fx.model
        .push(submit(VALID).delayed(Duration::from_secs(30)));
    let inv = start_with_wall_time(&fx, 30).await;
    fx.clock.advance(Span::seconds(29));
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::ReviewRequired
    );
    let done = fx.store.get(inv.id).await.unwrap();
    let error = done.error.clone().unwrap();
    assert!(
        error.contains("wall time") && error.contains("waiting for the model"),
        "{error}"
    );
    assert_eq!(
        done.usage.lost_turns, 1,
        "the call cut off by the budget is a lost turn"
    );
    let last_failure = fx
        .events(&done)
        .await
        .into_iter()
        .rev()
        .find_map(|e| match e.body() {
            Ok(EventBody::ModelCallFailed(f)) => Some(f.cause),
            _ => None,
        });
    assert_eq!(last_failure, Some(ModelFailureCause::WallTime));
    fx.cleanup().await;
}

/// A tool call is never started once the wall-time budget is spent.
pub async fn no_tool_call_starts_after_the_wall_time_is_spent(b: Backend) {
    let fx = Fixture::new(b).await;
    let clock = fx.clock.clone();
    // The budget runs out while the model thinks.
    fx.model.respond_with(Arc::new(move |_: &Value| -> Reply {
        clock.advance(Span::seconds(31));
        tool_calls(&[("ip_reputation", r#"{"ip":"185.220.101.4"}"#, Some("c1"))])
    }));
    let inv = start_with_wall_time(&fx, 30).await;
    assert_eq!(
        fx.runner(Mode::Real)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::ReviewRequired
    );
    assert_eq!(fx.tools.count(), 0, "no tool call after the budget ran out");
    let error = fx.store.get(inv.id).await.unwrap().error.unwrap();
    assert!(error.contains("wall time"), "{error}");
    assert_eq!(
        fx.store.get(inv.id).await.unwrap().usage.model_turns,
        1,
        "the turn is kept"
    );
    fx.cleanup().await;
}

pub async fn dry_run_still_asks_for_approval_before_a_preview(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model.push(tool_calls(&[(
        "isolate_host",
        r#"{"host":"web-01"}"#,
        Some("c1"),
    )]));
    let inv = fx.start().await;
    assert_eq!(
        fx.runner(Mode::DryRun)
            .run(&inv, &CancellationToken::new())
            .await
            .unwrap(),
        Step::AwaitingApproval
    );
    let parked = fx.store.get(inv.id).await.unwrap();
    let approval = parked.waiting_on.unwrap();
    fx.store
        .decide_approval(approval, "bob", Decision::Approve, None)
        .await
        .unwrap();
    fx.model.push(submit(VALID));
    let again = fx.claim("worker-2").await;
    assert_eq!(
        fx.runner(Mode::DryRun)
            .run(&again, &CancellationToken::new())
            .await
            .unwrap(),
        Step::Completed
    );
    assert_eq!(fx.tools.count(), 0, "approved, but only previewed");
    assert!(
        fx.tool_messages(1)[0].contains("\"dry_run\":true"),
        "{:?}",
        fx.tool_messages(1)
    );
    fx.cleanup().await;
}

on_both_stores!(
    a_tool_call_then_a_valid_result_completes,
    bad_calls_become_results_the_model_sees,
    a_model_that_never_submits_ends_in_review,
    a_result_that_fails_the_schema_requires_review,
    an_approved_write_runs_once,
    a_rejected_write_is_reported_to_the_model,
    an_expired_approval_is_reported_to_the_model,
    resume_after_a_crash_runs_read_tools_again_but_never_blind_writes,
    lease_lost_mid_run_stops_without_another_call,
    an_unavailable_model_releases_the_run,
    a_model_that_keeps_failing_backs_off_then_fails_naming_the_error,
    model_calls_that_give_no_turn_count_as_lost_turns,
    a_rate_limited_run_waits_out_the_retry_after,
    a_stopped_run_finishes_its_step_then_releases_itself,
    dry_run_previews_writes_and_runs_reads,
    an_agent_missing_from_the_catalog_releases_the_run,
    every_tool_request_carries_its_calls_idempotency_key,
    a_write_tool_that_could_outlast_the_lease_is_not_sent_and_the_run_is_released,
    repeated_identical_calls_end_the_run,
    wall_time_runs_out_while_working,
    time_dead_lettered_or_queued_is_not_work,
    time_after_the_lease_expired_is_not_work,
    wall_time_bounds_a_model_call_in_progress,
    no_tool_call_starts_after_the_wall_time_is_spent,
    dry_run_still_asks_for_approval_before_a_preview,
);

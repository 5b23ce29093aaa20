//! Lease loss and shutdown, one worker process at a time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use vigil_agents::Mode;
use vigil_agents::runner::Runner;
use vigil_agents::testing::model::{self as scripted, Reply, Scripted, tool_calls};
use vigil_agents::tool::{Effect, Tool, ToolError, ToolSpec};
use vigil_agents::{
    AgentBudget, AgentConfig, Catalog, OpenAiConfig, OpenAiModel, RetryPolicy, Secret, ToolRegistry,
};
use vigil_engine::event::EventKind;
use vigil_engine::store::{DispatchRequest, Store};
use vigil_engine::{Investigation, InvestigationId, Phase, Status, SystemClock};
use vigil_workers::{SweepSettings, WorkerSettings};

const VALID: &str =
    r#"{"summary":"s","key_findings":["f"],"recommended_next_steps":["n"],"confidence":0.5}"#;
/// How long a stalled model call takes: far longer than any test waits.
const STALL: Duration = Duration::from_secs(600);

struct Fixture {
    store: Arc<dyn Store>,
    model: Scripted,
    model_addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A store and a model that stalls on prompts containing "stall" and
    /// submits a valid result at once otherwise.
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store =
            vigil_store_sqlite::open(vigil_store_sqlite::Options::new(url), Arc::new(SystemClock))
                .await
                .unwrap();
        let (model_addr, model) = scripted::serve().await;
        model.respond_with(Arc::new(|body: &Value| -> Reply {
            let reply = tool_calls(&[("submit_result", VALID, Some("call_1"))]);
            if body.to_string().contains("stall") {
                reply.delayed(STALL)
            } else {
                reply
            }
        }));
        Self {
            store: Arc::new(store),
            model,
            model_addr,
            _dir: dir,
        }
    }

    fn runner(&self) -> Arc<Runner> {
        self.runner_with(Vec::new())
    }

    /// A runner whose agent `t` may call `tools`.
    fn runner_with(&self, tools: Vec<Arc<dyn Tool>>) -> Arc<Runner> {
        let mut registry = ToolRegistry::new(16 * 1024);
        let names = tools.iter().map(|t| t.spec().name.clone()).collect();
        for tool in tools {
            registry.register(tool).unwrap();
        }
        let agent = AgentConfig {
            id: "t".into(),
            system_prompt: "Investigate.".into(),
            model: None,
            tools: names,
            budget: AgentBudget::default(),
            output_schema: None,
        };
        let catalog = Arc::new(Catalog::new(vec![agent], &registry).unwrap());
        let model = OpenAiModel::new(OpenAiConfig {
            base_url: format!("http://{}/v1", self.model_addr),
            api_key: Secret::new("sk-test"),
            model: "scripted-1".into(),
            timeout: STALL * 2,
            temperature: None,
            max_output_tokens: None,
            retry: RetryPolicy {
                max_retries: 0,
                ..RetryPolicy::default()
            },
            compat: Default::default(),
        })
        .unwrap();
        Arc::new(Runner::new(
            self.store.clone(),
            catalog,
            Arc::new(registry),
            Arc::new(model),
            Arc::new(SystemClock),
            Mode::Real,
        ))
    }

    async fn dispatch(&self, prompt: &str) -> InvestigationId {
        self.dispatch_to("t", prompt).await
    }

    async fn dispatch_to(&self, agent: &str, prompt: &str) -> InvestigationId {
        self.store
            .dispatch(DispatchRequest {
                agent_id: agent.into(),
                prompt: prompt.into(),
                requested_by: "test".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .investigation
            .id
    }

    async fn get(&self, id: InvestigationId) -> Investigation {
        self.store.get(id).await.unwrap()
    }

    /// Waits (up to a minute) until `check` holds for investigation `id`.
    async fn wait_for(
        &self,
        id: InvestigationId,
        what: &str,
        check: impl Fn(&Investigation) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let inv = self.get(id).await;
            if check(&inv) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} never became {what}: {:?}/{:?}",
                inv.status,
                inv.phase
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn settings(concurrency: usize, grace: Duration) -> WorkerSettings {
    let mut s = WorkerSettings::new("test-worker");
    s.concurrency = concurrency;
    s.claimers = 1;
    s.lease = Duration::from_millis(900);
    s.poll_interval = Duration::from_millis(50);
    s.grace = grace;
    s
}

fn sweeps() -> SweepSettings {
    // Once a day: these tests are about one worker, not the reaper.
    SweepSettings {
        reaper: "0 0 3 * * *".into(),
        expiry: "0 0 3 * * *".into(),
    }
}

fn running(inv: &Investigation) -> bool {
    inv.is_running()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_cancels_that_run_at_once_and_frees_its_slot() {
    let fx = Fixture::new().await;
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(vigil_workers::run(
        fx.store.clone(),
        fx.runner(),
        settings(2, Duration::from_secs(5)),
        sweeps(),
        shutdown.clone(),
    ));

    let a = fx.dispatch("stall on this one").await;
    let b = fx.dispatch("stall on this one too").await;
    fx.wait_for(a, "running", running).await;
    fx.wait_for(b, "running", running).await;
    let a_epoch = fx.get(a).await.lease_epoch;

    // An operator cancels A: its epoch moves. A's next heartbeat sees it and
    // cancels A's step, although A's model call would take ten minutes.
    fx.store.cancel(a, "otto", "wrong host").await.unwrap();
    // Both slots were taken; C can only run once A's slot is free.
    let c = fx.dispatch("answer at once").await;
    fx.wait_for(c, "completed", |i| i.status == Status::Completed)
        .await;

    let b_now = fx.get(b).await;
    assert!(running(&b_now), "B is untouched: {:?}", b_now.phase);
    let a_events = fx.store.events(a, 0, 1000).await.unwrap();
    let last = a_events.last().unwrap();
    assert_eq!(last.kind, EventKind::Cancelled);
    assert!(
        a_events.iter().all(|e| e.epoch <= a_epoch + 1),
        "nothing written after the cancel"
    );

    shutdown.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_runs_still_busy_after_the_grace_period() {
    let fx = Fixture::new().await;
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(vigil_workers::run(
        fx.store.clone(),
        fx.runner(),
        settings(4, Duration::from_millis(300)),
        sweeps(),
        shutdown.clone(),
    ));
    let stuck = fx.dispatch("stall here").await;
    fx.wait_for(stuck, "running", running).await;
    let epoch = fx.get(stuck).await.lease_epoch;
    // Busy means inside the model call that stalls: a stop before it is
    // reached is a release at the next checkpoint, a different case.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while fx.model.requests().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the model was never called"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), worker)
        .await
        .expect("the worker stops after its grace period")
        .unwrap()
        .unwrap();

    let inv = fx.get(stuck).await;
    assert_eq!(inv.status, Status::Pending);
    assert_eq!(
        inv.phase,
        Some(Phase::Queued),
        "released, not dead-lettered"
    );
    assert_eq!(inv.lease_owner, None);
    let events = fx.store.events(stuck, 0, 1000).await.unwrap();
    let released = events.last().unwrap();
    assert_eq!(released.kind, EventKind::Released);
    assert_eq!(released.epoch, epoch, "released by the lease holder");
    // A dispatch after the shutdown is not claimed: the worker is gone.
    let later = fx.dispatch("answer at once").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fx.get(later).await.phase, Some(Phase::Queued));
    assert_eq!(
        fx.model.requests().len(),
        1,
        "one model call, the stalled one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_no_agents_listed_claims_only_its_catalogs_agents() {
    let fx = Fixture::new().await;
    // Dispatched first, for an agent this worker's catalog lacks (another
    // pool serves it, or a deploy is adding it).
    let other = fx.dispatch_to("phishing", "answer at once").await;
    let mine = fx.dispatch("answer at once").await;
    let shutdown = CancellationToken::new();
    let mut s = settings(2, Duration::from_secs(5));
    s.agents = Vec::new();
    let worker = tokio::spawn(vigil_workers::run(
        fx.store.clone(),
        fx.runner(),
        s,
        sweeps(),
        shutdown.clone(),
    ));
    fx.wait_for(mine, "completed", |i| i.status == Status::Completed)
        .await;
    shutdown.cancel();
    worker.await.unwrap().unwrap();

    let left = fx.get(other).await;
    assert_eq!(
        (left.status, left.phase),
        (Status::Pending, Some(Phase::Queued))
    );
    assert_eq!(left.attempt, 0, "never claimed");
    let kinds: Vec<EventKind> = fx
        .store
        .events(other, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [EventKind::Dispatched]);
}

/// A read tool that panics on its first call and answers after that.
#[derive(Debug)]
struct PanicsOnce {
    spec: ToolSpec,
    calls: std::sync::atomic::AtomicUsize,
    /// Panic on every call, not only the first.
    always: bool,
}

impl PanicsOnce {
    fn new() -> Arc<Self> {
        Self::with(false)
    }

    fn always() -> Arc<Self> {
        Self::with(true)
    }

    fn with(always: bool) -> Arc<Self> {
        Arc::new(Self {
            always,
            spec: ToolSpec {
                name: "flaky_lookup".into(),
                description: "Looks something up.".into(),
                parameters: serde_json::json!({"type": "object"}),
                effect: Effect::Read,
                approval: Default::default(),
            },
            calls: Default::default(),
        })
    }
}

#[async_trait::async_trait]
impl Tool for PanicsOnce {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, _: &vigil_agents::CallContext, _: &Value) -> Result<String, ToolError> {
        if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 || self.always {
            panic!("lookup table corrupted");
        }
        Ok("nothing found".into())
    }

    fn is_local(&self) -> bool {
        true
    }
}

/// A model that calls `flaky_lookup` once, then submits; and a worker with
/// one slot and one claim stream (a panic that ended the stream would
/// leave nothing to claim the run again) offering `tool`.
fn one_slot_worker_calling(
    fx: &Fixture,
    tool: &Arc<PanicsOnce>,
) -> (
    tokio::task::JoinHandle<Result<(), vigil_workers::Error>>,
    CancellationToken,
) {
    fx.model.respond_with(Arc::new(|body: &Value| -> Reply {
        let answered = body["messages"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
        if answered {
            tool_calls(&[("submit_result", VALID, Some("call_2"))])
        } else {
            tool_calls(&[("flaky_lookup", "{}", Some("call_1"))])
        }
    }));
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(vigil_workers::run(
        fx.store.clone(),
        fx.runner_with(vec![tool.clone()]),
        settings(1, Duration::from_secs(5)),
        sweeps(),
        shutdown.clone(),
    ));
    (worker, shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_tool_releases_the_run_and_the_worker_keeps_claiming() {
    let fx = Fixture::new().await;
    let tool = PanicsOnce::new();
    let (worker, shutdown) = one_slot_worker_calling(&fx, &tool);
    let id = fx.dispatch("look it up").await;
    fx.wait_for(id, "completed", |i| i.status == Status::Completed)
        .await;
    shutdown.cancel();
    worker.await.unwrap().unwrap();

    let events = fx.store.events(id, 0, 1000).await.unwrap();
    let released: Vec<String> = events
        .iter()
        .filter(|e| e.kind == EventKind::Released)
        .map(|e| e.payload["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(released.len(), 1, "{released:?}");
    assert!(
        released[0].contains("panicked") && released[0].contains("lookup table corrupted"),
        "{released:?}"
    );
    assert_eq!(fx.get(id).await.claims, 2, "claimed again after the panic");
    assert_eq!(tool.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A run that panics every time it is claimed, with no progress between,
/// is not claimed forever: the third panic in a row fails it, naming the
/// panic, and the worker goes on claiming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_panics_every_time_fails_after_three_panics_in_a_row() {
    let fx = Fixture::new().await;
    let tool = PanicsOnce::always();
    let (worker, shutdown) = one_slot_worker_calling(&fx, &tool);
    let id = fx.dispatch("look it up").await;
    fx.wait_for(id, "failed", |i| i.status == Status::Failed)
        .await;
    let failed = fx.get(id).await;
    // The worker still claims: a healthy run after the poisoned one ends.
    fx.model.respond_with(Arc::new(|_: &Value| -> Reply {
        tool_calls(&[("submit_result", VALID, Some("call_9"))])
    }));
    let healthy = fx.dispatch("nothing to look up").await;
    fx.wait_for(healthy, "completed", |i| i.status == Status::Completed)
        .await;
    shutdown.cancel();
    worker.await.unwrap().unwrap();

    let reason = failed.error.unwrap_or_default();
    assert!(
        reason.contains("panicked 3 times in a row") && reason.contains("lookup table corrupted"),
        "{reason}"
    );
    assert_eq!(failed.claims, 3);
    assert_eq!(tool.calls.load(std::sync::atomic::Ordering::SeqCst), 3);
}

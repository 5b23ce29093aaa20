//! The built-in case tools, against real stores (SQLite and PostgreSQL) and
//! a scripted OpenAI-compatible model: what an agent writes to cases, as
//! whom, what it is refused, what a dry run previews, and that a retried
//! create opens one case.

use std::sync::Arc;

use chrono::Duration as Span;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vigil_agents::case_tools::{self, CaseToolConfig, CaseToolError, CaseToolName, CaseToolsStore};
use vigil_agents::runner::{Runner, Step};
use vigil_agents::setup::ToolConfig;
use vigil_agents::{AgentBudget, AgentConfig, CallContext, Catalog, Mode, ToolRegistry};
use vigil_engine::case::{
    AuthorKind, CaseStatus, Disposition, NewCase, Severity, StatusChange, investigation_actor,
};
use vigil_engine::store::{CaseQuery, DispatchRequest, Store};
use vigil_engine::{Investigation, InvestigationId, ManualClock};

use crate::runner::{VALID, submit};
use crate::support::scripted::{self, Scripted, tool_calls};
use crate::support::{Backend, Keep, on_both_stores, open_store};

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

fn config(name: CaseToolName) -> CaseToolConfig {
    CaseToolConfig {
        name,
        description: None,
        allowed_severities: None,
        approval: Default::default(),
    }
}

impl Fixture {
    /// The four case tools, `create_case` limited to high and critical,
    /// bound to a fresh store, and an `orchestrator` agent given them.
    async fn new(backend: Backend) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let (store, keep) = open_store(backend, clock.clone()).await;
        let (model_addr, model) = scripted::serve().await;
        let cases = CaseToolsStore::default();
        assert!(cases.bind(store.clone()));
        let mut registry = ToolRegistry::new(16 * 1024);
        let mut create = config(CaseToolName::CreateCase);
        create.allowed_severities = Some(vec![Severity::High, Severity::Critical]);
        for cfg in [
            create,
            config(CaseToolName::AddObservable),
            config(CaseToolName::AddComment),
            config(CaseToolName::LinkAlert),
        ] {
            registry
                .register(case_tools::build(cfg, cases.clone()).unwrap())
                .unwrap();
        }
        let agent = AgentConfig {
            id: "orchestrator".into(),
            system_prompt: "Open a case for what you find, then submit_result.".into(),
            model: None,
            tools: ["create_case", "add_observable", "add_comment", "link_alert"]
                .map(String::from)
                .to_vec(),
            budget: AgentBudget {
                max_turns: 6,
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
            catalog,
            registry: Arc::new(registry),
            keep,
        }
    }

    fn runner(&self, mode: Mode) -> Runner {
        let model = crate::support::scripted_model(self.model_addr);
        Runner::new(
            self.store.clone(),
            self.catalog.clone(),
            self.registry.clone(),
            Arc::new(model),
            self.clock.clone(),
            mode,
        )
    }

    /// Dispatches an orchestrator run (linked to `case` if given), claims
    /// it and runs it in `mode` to the step it stops at.
    async fn run(
        &self,
        mode: Mode,
        case: Option<vigil_engine::case::CaseId>,
    ) -> (Investigation, Step) {
        self.store
            .dispatch(DispatchRequest {
                agent_id: "orchestrator".into(),
                prompt: "Brute force on web-01 from 185.220.101.4".into(),
                requested_by: "soar".into(),
                case_id: case,
                ..Default::default()
            })
            .await
            .unwrap();
        let inv = self
            .store
            .claim_next(&[], "worker-1", Some(mode.as_str()), LEASE)
            .await
            .unwrap()
            .expect("a queued run");
        let step = self
            .runner(mode)
            .run(&inv, &CancellationToken::new())
            .await
            .expect("the run reaches a step");
        (inv, step)
    }

    /// The tool results the model was sent in its `n`th request, as text.
    fn tool_messages(&self, n: usize) -> Vec<String> {
        self.model.requests()[n].1["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn case_count(&self) -> usize {
        self.store
            .list_cases(&CaseQuery::default())
            .await
            .unwrap()
            .items
            .len()
    }

    /// A case a person opened, as `otto`.
    async fn analyst_case(&self) -> vigil_engine::case::Case {
        self.store
            .create_case(
                "otto",
                NewCase {
                    title: "SSH brute force on web-01".into(),
                    severity: Severity::High,
                    ..NewCase::default()
                },
            )
            .await
            .unwrap()
    }

    async fn cleanup(self) {
        self.keep.release().await;
    }
}

fn call(name: &str, args: Value, id: &str) -> scripted::Reply {
    tool_calls(&[(name, &args.to_string(), Some(id))])
}

async fn an_agent_opens_a_case_and_writes_to_it_as_the_investigation(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model
        .push(call(
            "create_case",
            json!({"title": "Tor exit brute-forcing SSH on web-01", "severity": "high",
                   "description": "412 failed logins, then one success as deploy",
                   "tags": ["SSH", "brute-force"], "alert_ids": ["siem-4411"]}),
            "c1",
        ))
        .push(call(
            "add_observable",
            json!({"case": "CASE-1", "type": "ip", "value": "185.220.101[.]4", "tlp": "green",
                   "enrichment": {"tor_exit": true}}),
            "c2",
        ))
        .push(call(
            "add_comment",
            json!({"case": "CASE-1", "body": "The address is a Tor exit node; web-01 should be isolated."}),
            "c3",
        ))
        .push(submit(VALID));
    let (inv, step) = fx.run(Mode::Real, None).await;
    assert_eq!(step, Step::Completed);
    let actor = investigation_actor(inv.id);

    let results = fx.tool_messages(3);
    let created: Value = serde_json::from_str(&results[0]).unwrap();
    assert_eq!(created["case"], "CASE-1", "{created}");
    assert_eq!(created["created"], true);
    let observed: Value = serde_json::from_str(&results[1]).unwrap();
    assert_eq!(
        observed["value"], "185.220.101.4",
        "stored refanged: {observed}"
    );

    let cases = fx
        .store
        .list_cases(&CaseQuery::default())
        .await
        .unwrap()
        .items;
    assert_eq!(cases.len(), 1);
    let case = &cases[0].case;
    assert_eq!(case.created_by, actor);
    assert_eq!(case.severity, Severity::High);
    assert_eq!(case.status, CaseStatus::Open);
    assert_eq!(case.assignee, None, "an agent never assigns");
    assert_eq!(case.tags, ["ssh", "brute-force"]);
    assert_eq!(
        case.alert_ids,
        ["siem-4411".to_owned(), format!("vigil-call:{}:c1", inv.id)],
        "the call's marker is linked beside the model's alert (sorted)"
    );

    let timeline = fx.store.case_timeline(case.id, 0, 100).await.unwrap();
    let kinds: Vec<String> = timeline.iter().map(|e| e.kind.to_string()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "alert_linked",
            "alert_linked",
            "observable_added",
            "comment_added"
        ]
    );
    assert!(timeline.iter().all(|e| e.actor == actor), "{timeline:?}");
    assert!(fx.store.verify_case(case.id).await.unwrap().valid);

    let observables = fx.store.observables(case.id).await.unwrap();
    assert_eq!(observables.len(), 1);
    assert_eq!(observables[0].source.as_deref(), Some(actor.as_str()));
    assert_eq!(observables[0].tlp.as_str(), "green");
    let comments = fx.store.comments(case.id).await.unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].author, actor);
    assert_eq!(comments[0].author_kind, AuthorKind::Machine);
    fx.cleanup().await;
}

async fn a_linked_investigation_writes_to_its_own_case_when_none_is_named(b: Backend) {
    let fx = Fixture::new(b).await;
    let case = fx.analyst_case().await;
    fx.model
        .push(call(
            "add_comment",
            json!({"body": "Checked: Tor exit."}),
            "c1",
        ))
        .push(call("link_alert", json!({"alert_id": "siem-7"}), "c2"))
        .push(submit(VALID));
    let (inv, step) = fx.run(Mode::Real, Some(case.id)).await;
    assert_eq!(step, Step::Completed);
    let comments = fx.store.comments(case.id).await.unwrap();
    // The completion's write-back adds its own note beside the tool's.
    let written: Vec<_> = comments
        .iter()
        .filter(|c| c.body == "Checked: Tor exit.")
        .collect();
    assert_eq!(written.len(), 1, "{comments:?}");
    assert_eq!(written[0].author, investigation_actor(inv.id));
    let stored = fx.store.case(case.id).await.unwrap().case;
    assert_eq!(stored.alert_ids, ["siem-7"]);
    fx.cleanup().await;
}

async fn store_refusals_reach_the_model_and_write_nothing(b: Backend) {
    let fx = Fixture::new(b).await;
    let case = fx.analyst_case().await;
    fx.store
        .change_case_status(
            case.id,
            "otto",
            StatusChange {
                to: CaseStatus::Closed,
                disposition: Some(Disposition::FalsePositive),
                reason: None,
            },
        )
        .await
        .unwrap();
    let before = fx.store.case(case.id).await.unwrap().case.last_seq;
    fx.model
        .push(tool_calls(&[
            (
                "add_observable",
                r#"{"case":"CASE-99","type":"ip","value":"10.0.0.1"}"#,
                Some("c1"),
            ),
            (
                "add_observable",
                r#"{"case":"CASE-1","type":"ip","value":"999.1.1.1"}"#,
                Some("c2"),
            ),
            (
                "link_alert",
                r#"{"case":"CASE-1","alert_id":"siem-1"}"#,
                Some("c3"),
            ),
            ("add_comment", r#"{"body":"no case named"}"#, Some("c4")),
        ]))
        .push(submit(VALID));
    let (_, step) = fx.run(Mode::Real, None).await;
    assert_eq!(step, Step::Completed);
    let results = fx.tool_messages(1);
    assert_eq!(results.len(), 4, "{results:?}");
    assert!(results[0].contains("not found"), "{}", results[0]);
    assert!(results[1].contains("invalid value"), "{}", results[1]);
    assert!(results[2].contains("closed"), "{}", results[2]);
    assert!(results[3].contains("linked to no case"), "{}", results[3]);
    let after = fx.store.case(case.id).await.unwrap().case.last_seq;
    assert_eq!(before, after, "the closed case took nothing");
    fx.cleanup().await;
}

async fn a_severity_outside_the_allowed_list_is_a_tool_error_and_writes_nothing(b: Backend) {
    let fx = Fixture::new(b).await;
    fx.model
        .push(call(
            "create_case",
            json!({"title": "Port scan", "severity": "low"}),
            "c1",
        ))
        .push(submit(VALID));
    let (_, step) = fx.run(Mode::Real, None).await;
    assert_eq!(step, Step::Completed);
    let result = &fx.tool_messages(1)[0];
    assert!(
        result.contains("severity `low` is not allowed for create_case; allowed: high, critical"),
        "{result}"
    );
    let events = fx.store.list(&Default::default()).await.unwrap().items;
    let log = fx.store.events(events[0].id, 0, 100).await.unwrap();
    let outcome = log
        .iter()
        .find_map(|e| match e.body() {
            Ok(vigil_engine::EventBody::ToolResult(r)) => Some(r),
            _ => None,
        })
        .unwrap();
    assert!(outcome.is_error, "the refusal is an error result");
    assert_eq!(fx.case_count().await, 0);
    fx.cleanup().await;
}

async fn dry_run_previews_each_write_and_stores_nothing(b: Backend) {
    let fx = Fixture::new(b).await;
    let case = fx.analyst_case().await;
    let before = fx.store.case(case.id).await.unwrap().case.last_seq;
    fx.model
        .push(tool_calls(&[
            (
                "create_case",
                r#"{"title":"Tor exit on web-01","severity":"critical"}"#,
                Some("c1"),
            ),
            (
                "create_case",
                r#"{"title":"Port scan","severity":"low"}"#,
                Some("c2"),
            ),
            (
                "add_observable",
                r#"{"case":"CASE-1","type":"domain","value":"Evil[.]Example.com."}"#,
                Some("c3"),
            ),
            (
                "add_comment",
                r#"{"case":"CASE-1","body":"Tor exit node"}"#,
                Some("c4"),
            ),
        ]))
        .push(submit(VALID));
    let (inv, step) = fx.run(Mode::DryRun, None).await;
    assert_eq!(step, Step::Completed);
    let actor = investigation_actor(inv.id);
    let previews: Vec<String> = fx
        .tool_messages(1)
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_str(m).unwrap();
            assert_eq!(v["dry_run"], true, "{v}");
            v["preview"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        previews[0].starts_with(&format!(
            "would write a new case (the store assigns its id and number) as {actor}: created {{"
        )) && previews[0].contains(r#""severity":"critical""#)
            && previews[0].contains(&format!(
                "alert_linked {{\"alert_id\":\"vigil-call:{}:c1\"}}",
                inv.id
            )),
        "{}",
        previews[0]
    );
    assert!(
        previews[1].starts_with("would refuse `create_case`: severity `low` is not allowed"),
        "{}",
        previews[1]
    );
    assert!(
        previews[2].starts_with(&format!(
            "would write to CASE-1 as {actor}: observable_added {{"
        )) && previews[2].contains(r#""value":"evil.example.com""#),
        "the preview shows the value as it would be stored: {}",
        previews[2]
    );
    assert!(
        previews[3].starts_with(&format!(
            "would write to CASE-1 as {actor}: comment_added {{"
        )) && previews[3].contains(r#""author_kind":"machine""#),
        "{}",
        previews[3]
    );
    assert_eq!(fx.case_count().await, 1, "no case was created");
    let stored = fx.store.case(case.id).await.unwrap().case;
    assert_eq!(stored.last_seq, before, "nothing was written to the case");
    fx.cleanup().await;
}

async fn a_retried_create_returns_the_case_the_call_made(b: Backend) {
    let fx = Fixture::new(b).await;
    let create = fx.registry.get("create_case").unwrap().clone();
    let ctx = |call: &str| CallContext {
        investigation: InvestigationId::new_at(chrono::Utc::now()),
        tool_call_id: call.into(),
        case: None,
    };
    let args = json!({"title": "Tor exit on web-01", "severity": "high", "alert_ids": ["siem-1"]});
    let first_call = ctx("c1");
    let first: Value =
        serde_json::from_str(&create.call(&first_call, &args).await.unwrap()).unwrap();
    assert_eq!(first["created"], true);
    let again: Value =
        serde_json::from_str(&create.call(&first_call, &args).await.unwrap()).unwrap();
    assert_eq!(again["created"], false, "{again}");
    assert_eq!(again["case"], first["case"]);
    assert_eq!(fx.case_count().await, 1, "a retry opens no second case");

    // Two attempts at once (a worker that lost its lease and its
    // successor) still open one case.
    let racing = ctx("c2");
    let other = json!({"title": "Second finding", "severity": "critical"});
    let (a, b2) = tokio::join!(create.call(&racing, &other), create.call(&racing, &other));
    let a: Value = serde_json::from_str(&a.unwrap()).unwrap();
    let b2: Value = serde_json::from_str(&b2.unwrap()).unwrap();
    assert_eq!(a["case"], b2["case"]);
    assert_ne!(
        a["created"], b2["created"],
        "exactly one created it: {a} {b2}"
    );
    assert_eq!(fx.case_count().await, 2, "another call opens its own case");
    fx.cleanup().await;
}

on_both_stores!(
    an_agent_opens_a_case_and_writes_to_it_as_the_investigation,
    a_linked_investigation_writes_to_its_own_case_when_none_is_named,
    store_refusals_reach_the_model_and_write_nothing,
    a_severity_outside_the_allowed_list_is_a_tool_error_and_writes_nothing,
    dry_run_previews_each_write_and_stores_nothing,
    a_retried_create_returns_the_case_the_call_made,
);

#[test]
fn case_tools_are_declared_in_configuration() {
    let parsed: Vec<ToolConfig> = toml::from_str::<toml::Table>(
        r#"
[[tools]]
kind = "case"
name = "create_case"
allowed_severities = ["high", "critical"]

[[tools]]
kind = "case"
name = "add_comment"
approval = { required = true }
"#,
    )
    .unwrap()["tools"]
        .clone()
        .try_into()
        .unwrap();
    assert_eq!(
        parsed,
        [
            ToolConfig::Case(CaseToolConfig {
                allowed_severities: Some(vec![Severity::High, Severity::Critical]),
                ..config(CaseToolName::CreateCase)
            }),
            ToolConfig::Case(CaseToolConfig {
                approval: vigil_agents::ApprovalPolicy {
                    required: true,
                    ..Default::default()
                },
                ..config(CaseToolName::AddComment)
            }),
        ]
    );
    let unknown = toml::from_str::<toml::Table>("kind = \"case\"\nname = \"close_case\"")
        .unwrap()
        .try_into::<ToolConfig>();
    assert!(unknown.is_err(), "there is no tool that closes a case");

    let store = CaseToolsStore::default();
    let mut misplaced = config(CaseToolName::AddComment);
    misplaced.allowed_severities = Some(vec![Severity::High]);
    assert_eq!(
        case_tools::build(misplaced, store.clone()).unwrap_err(),
        CaseToolError::SeveritiesNotApplicable("add_comment")
    );
    let mut none = config(CaseToolName::CreateCase);
    none.allowed_severities = Some(vec![]);
    assert_eq!(
        case_tools::build(none, store.clone()).unwrap_err(),
        CaseToolError::NoSeverities
    );
    let tool = case_tools::build(config(CaseToolName::CreateCase), store).unwrap();
    let spec = tool.spec();
    assert_eq!(spec.effect, vigil_agents::tool::Effect::Write);
    assert_eq!(spec.parameters["additionalProperties"], false);
    for field in ["assignee", "status", "requires_human_approval"] {
        assert!(
            spec.parameters["properties"].get(field).is_none(),
            "create_case cannot set {field}"
        );
    }
}

#[tokio::test]
async fn an_unbound_case_tool_writes_nothing_and_says_why() {
    let tool =
        case_tools::build(config(CaseToolName::AddComment), CaseToolsStore::default()).unwrap();
    let ctx = CallContext {
        investigation: InvestigationId::new_at(chrono::Utc::now()),
        tool_call_id: "c1".into(),
        case: None,
    };
    let err = tool.call(&ctx, &json!({"body": "x"})).await.unwrap_err();
    assert!(err.to_string().contains("no store"), "{err}");
}

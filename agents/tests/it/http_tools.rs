//! HTTP tools and the registry, against the loopback server.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use vigil_agents::http::{HttpTool, HttpToolConfig, HttpToolError};
use vigil_agents::tool::{AllowRule, ApprovalPolicy, Effect};
use vigil_agents::{CallContext, RegistryError, ToolRegistry};

use crate::support::tools::serve;

fn config(name: &str, method: &str, url: String) -> HttpToolConfig {
    HttpToolConfig {
        name: name.to_owned(),
        description: format!("{name} for tests"),
        method: method.to_owned(),
        url,
        headers: Default::default(),
        parameters: json!({
            "type": "object",
            "properties": {"ip": {"type": "string"}, "verbose": {"type": "boolean"}},
            "required": ["ip"],
            "additionalProperties": false
        }),
        effect: Effect::Read,
        timeout: Duration::from_secs(5),
        approval: ApprovalPolicy::default(),
    }
}

/// The call every request in these tests is made as.
fn ctx() -> CallContext {
    CallContext {
        investigation: vigil_engine::InvestigationId::new_at(chrono::Utc::now()),
        tool_call_id: "call_7".into(),
        case: None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn registry_with(tools: Vec<HttpToolConfig>, cap: usize) -> ToolRegistry {
    let mut registry = ToolRegistry::new(cap);
    for cfg in tools {
        let tool = HttpTool::new(cfg, reqwest::Client::new(), &no_env).unwrap();
        registry.register(Arc::new(tool)).unwrap();
    }
    registry
}

#[tokio::test]
async fn get_substitutes_encoded_arguments_and_sends_env_headers() {
    let (addr, rec) = serve().await;
    let mut cfg = config(
        "ip_reputation",
        "GET",
        format!("http://{addr}/echo/ip/{{ip}}"),
    );
    cfg.headers
        .insert("Authorization".into(), "Bearer ${INTEL_TOKEN}".into());
    let env = |v: &str| (v == "INTEL_TOKEN").then(|| "s3cret".to_owned());
    let tool = HttpTool::new(cfg, reqwest::Client::new(), &env).unwrap();
    assert!(
        !format!("{tool:?}").contains("s3cret"),
        "credentials never print"
    );
    let mut registry = ToolRegistry::new(4096);
    registry.register(Arc::new(tool)).unwrap();

    let call = registry
        .prepare(
            "ip_reputation",
            r#"{"ip": "10.0.0.1/8 x", "verbose": true}"#,
        )
        .unwrap();
    let context = ctx();
    let outcome = registry.run(&call, &context).await;
    assert!(!outcome.is_error, "{outcome:?}");
    let seen = rec.all();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/echo/ip/10.0.0.1%2F8%20x?verbose=true");
    assert_eq!(seen[0].headers["authorization"], "Bearer s3cret");
    assert_eq!(
        seen[0].headers["idempotency-key"],
        format!("{}:call_7", context.investigation).as_str()
    );
    assert!(outcome.output.contains("/echo/ip/10.0.0.1%2F8%20x"));
}

#[tokio::test]
async fn post_sends_the_remaining_arguments_as_json() {
    let (addr, rec) = serve().await;
    let registry = registry_with(
        vec![config(
            "isolate",
            "POST",
            format!("http://{addr}/echo/hosts/{{ip}}/isolate"),
        )],
        4096,
    );
    let call = registry
        .prepare("isolate", r#"{"ip": "web-01", "verbose": false}"#)
        .unwrap();
    let outcome = registry.run(&call, &ctx()).await;
    assert!(!outcome.is_error, "{outcome:?}");
    let seen = rec.all();
    assert_eq!(seen[0].uri, "/echo/hosts/web-01/isolate");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&seen[0].body).unwrap(),
        json!({"verbose": false})
    );
}

#[test]
fn declarations_are_checked_when_built() {
    let mut cfg = config("t", "GET", "http://127.0.0.1:1/{host}".into());
    let err = HttpTool::new(cfg.clone(), reqwest::Client::new(), &no_env).unwrap_err();
    assert!(matches!(err, HttpToolError::Url { .. }), "{err}");

    cfg.url = "http://127.0.0.1:1/{ip}".into();
    cfg.headers.insert("X-Api-Key".into(), "${SIEM_KEY}".into());
    let err = HttpTool::new(cfg.clone(), reqwest::Client::new(), &no_env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tool `t`: header `X-Api-Key` refers to ${SIEM_KEY}, which is not set"
    );

    cfg.headers.clear();
    cfg.method = "FETCH THE".into();
    assert!(matches!(
        HttpTool::new(cfg, reqwest::Client::new(), &no_env).unwrap_err(),
        HttpToolError::Method { .. }
    ));
}

#[tokio::test]
async fn bad_calls_become_error_outcomes_without_reaching_the_tool() {
    let (addr, rec) = serve().await;
    let registry = registry_with(
        vec![config(
            "lookup",
            "GET",
            format!("http://{addr}/echo/{{ip}}"),
        )],
        4096,
    );

    let unknown = registry.prepare("isolate_everything", "{}").unwrap_err();
    assert!(unknown.is_error);
    assert!(unknown.output.contains("unknown tool `isolate_everything`"));
    assert!(
        unknown.output.contains("lookup"),
        "the model is told what exists"
    );

    let not_json = registry
        .prepare("lookup", r#"{"ip": "1.2.3.4""#)
        .unwrap_err();
    assert!(
        not_json.is_error && not_json.output.contains("not valid JSON"),
        "{not_json:?}"
    );

    let wrong = registry
        .prepare("lookup", r#"{"ip": 7, "extra": 1}"#)
        .unwrap_err();
    assert!(wrong.is_error && wrong.output.contains("/ip"), "{wrong:?}");

    let missing = registry.prepare("lookup", "").unwrap_err();
    assert!(missing.output.contains("ip"), "{missing:?}");

    assert_eq!(rec.count(), 0, "nothing ran");
}

#[tokio::test]
async fn failures_and_timeouts_become_error_outcomes() {
    let (addr, rec) = serve().await;
    let mut slow = config("slow", "GET", format!("http://{addr}/slow"));
    slow.timeout = Duration::from_millis(200);
    let registry = registry_with(
        vec![config("fail", "GET", format!("http://{addr}/fail")), slow],
        4096,
    );
    let failed = registry
        .run(&registry.prepare("fail", r#"{"ip":"x"}"#).unwrap(), &ctx())
        .await;
    assert!(failed.is_error);
    assert!(
        failed.output.contains("HTTP 500") && failed.output.contains("upstream exploded"),
        "{failed:?}"
    );

    let late = registry
        .run(&registry.prepare("slow", r#"{"ip":"x"}"#).unwrap(), &ctx())
        .await;
    assert!(
        late.is_error && late.output.contains("timed out"),
        "{late:?}"
    );

    let unreachable = registry_with(
        vec![config("gone", "GET", "http://127.0.0.1:1/x".into())],
        4096,
    );
    let gone = unreachable
        .run(
            &unreachable.prepare("gone", r#"{"ip":"x"}"#).unwrap(),
            &ctx(),
        )
        .await;
    assert!(
        gone.is_error && gone.output.contains("request failed"),
        "{gone:?}"
    );
    assert_eq!(rec.count(), 2);
}

#[tokio::test]
async fn oversized_output_is_capped_and_the_cut_recorded() {
    let (addr, _) = serve().await;
    let registry = registry_with(
        vec![config("big", "GET", format!("http://{addr}/big"))],
        1024,
    );
    let outcome = registry
        .run(&registry.prepare("big", r#"{"ip":"x"}"#).unwrap(), &ctx())
        .await;
    assert!(!outcome.is_error);
    assert!(outcome.truncated);
    assert_eq!(outcome.output.len(), 1024);
    assert_eq!(outcome.original_bytes, Some(100_000));
}

#[test]
fn output_is_cut_on_a_character_boundary() {
    let outcome = vigil_agents::ToolOutcome::capped("ééé".to_owned(), 3);
    assert_eq!(outcome.output, "é");
    assert_eq!(outcome.original_bytes, Some(6));
}

#[test]
fn registry_refuses_duplicate_reserved_and_malformed_tools() {
    let mut registry = ToolRegistry::new(1024);
    let make = |name: &str| {
        Arc::new(
            HttpTool::new(
                config(name, "GET", "http://127.0.0.1:1/{ip}".into()),
                reqwest::Client::new(),
                &no_env,
            )
            .unwrap(),
        )
    };
    registry.register(make("lookup")).unwrap();
    assert_eq!(
        registry.register(make("lookup")),
        Err(RegistryError::Duplicate("lookup".into()))
    );
    assert!(matches!(
        registry.register(make("submit_result")),
        Err(RegistryError::BadName(..))
    ));
    assert!(matches!(
        registry.register(make("has space")),
        Err(RegistryError::BadName(..))
    ));
    let mut bad_schema = config("schema", "GET", "http://127.0.0.1:1/".into());
    bad_schema.parameters = json!({"type": "no-such-type"});
    let tool = Arc::new(HttpTool::new(bad_schema, reqwest::Client::new(), &no_env).unwrap());
    assert!(matches!(
        registry.register(tool),
        Err(RegistryError::BadSchema { .. })
    ));
}

#[test]
fn approval_policy_respects_the_allow_list() {
    let policy = ApprovalPolicy {
        required: true,
        allow: vec![AllowRule {
            argument: "host".into(),
            values: vec![json!("lab-01"), json!("lab-02")],
        }],
        ..ApprovalPolicy::default()
    };
    assert!(policy.needs_approval(&json!({"host": "web-01"})));
    assert!(!policy.needs_approval(&json!({"host": "lab-02"})));
    assert!(policy.needs_approval(&json!({})));
    assert!(!ApprovalPolicy::default().needs_approval(&json!({"host": "web-01"})));
}

#[test]
fn tool_declarations_parse_from_toml() {
    let cfg: HttpToolConfig = toml::from_str(
        r#"
        name = "isolate_host"
        description = "Isolate a host from the network"
        method = "POST"
        url = "https://edr.example/api/hosts/{host}/isolate"
        parameters = { type = "object", properties = { host = { type = "string" } }, required = ["host"] }
        effect = "write"
        timeout = "30s"
        approval = { required = true, expires_in = "15m", allow = [{ argument = "host", values = ["lab-01"] }] }
        "#,
    )
    .unwrap();
    assert_eq!(cfg.effect, Effect::Write);
    assert_eq!(cfg.timeout, Duration::from_secs(30));
    assert!(cfg.approval.required);
    assert_eq!(cfg.approval.expires_in, Duration::from_secs(900));
    let typo = toml::from_str::<HttpToolConfig>(
        "name = \"x\"\ndescription = \"d\"\nurl = \"u\"\nefect = \"write\"\n",
    );
    assert!(typo.unwrap_err().to_string().contains("efect"));
}

//! The agent catalog.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use vigil_agents::http::{HttpTool, HttpToolConfig};
use vigil_agents::{AgentBudget, AgentConfig, Catalog, CatalogError, ToolRegistry};
use vigil_engine::model::Budget;
use vigil_engine::result::Completion;

fn registry() -> ToolRegistry {
    let mut registry = ToolRegistry::new(1024);
    let cfg = HttpToolConfig {
        name: "siem_search".into(),
        description: "search".into(),
        method: "GET".into(),
        url: "http://127.0.0.1:1/search".into(),
        headers: Default::default(),
        parameters: json!({"type": "object"}),
        effect: vigil_agents::tool::Effect::Read,
        timeout: Duration::from_secs(1),
        approval: Default::default(),
    };
    registry
        .register(Arc::new(
            HttpTool::new(cfg, reqwest::Client::new(), &|_| None).unwrap(),
        ))
        .unwrap();
    registry
}

fn triage() -> AgentConfig {
    AgentConfig {
        id: "triage".into(),
        system_prompt: "You are a SOC analyst.".into(),
        model: None,
        tools: vec!["siem_search".into()],
        budget: AgentBudget::default(),
        output_schema: None,
    }
}

#[test]
fn unknown_agents_are_a_clear_error_naming_the_declared_ones() {
    let catalog = Catalog::new(vec![triage()], &registry()).unwrap();
    let err = catalog.get("phishing").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown agent `phishing`; declared agents: triage"
    );
    assert!(catalog.get("triage").is_ok());
}

#[test]
fn declarations_are_checked() {
    let tools = registry();
    let mut unknown_tool = triage();
    unknown_tool.tools.push("isolate_host".into());
    assert_eq!(
        Catalog::new(vec![unknown_tool], &tools).unwrap_err(),
        CatalogError::UnknownTool {
            agent: "triage".into(),
            tool: "isolate_host".into(),
            message: "no [[tools]] entry declares it".into()
        }
    );
    let mut unknown_server = triage();
    unknown_server.tools.push("edr.*".into());
    assert_eq!(
        Catalog::new(vec![unknown_server], &tools)
            .unwrap_err()
            .to_string(),
        "agent `triage` uses tool `edr.*`: no [[mcp_servers]] entry is named `edr`"
    );
    assert_eq!(
        Catalog::new(vec![triage(), triage()], &tools).unwrap_err(),
        CatalogError::Duplicate("triage".into())
    );
    let mut no_prompt = triage();
    no_prompt.system_prompt = " ".into();
    assert!(matches!(
        Catalog::new(vec![no_prompt], &tools),
        Err(CatalogError::Invalid { .. })
    ));
    let mut bad_schema = triage();
    bad_schema.output_schema = Some(json!({"type": 12}));
    assert!(matches!(
        Catalog::new(vec![bad_schema], &tools),
        Err(CatalogError::Invalid { .. })
    ));
}

#[test]
fn results_are_judged_against_the_default_schema() {
    let catalog = Catalog::new(vec![triage()], &registry()).unwrap();
    let agent = catalog.get("triage").unwrap();
    let good = r#"{"summary": "Tor exit brute force", "key_findings": ["412 failures"], "recommended_next_steps": ["block"], "confidence": 0.8}"#;
    match agent.judge(good) {
        Completion::Valid { confidence, .. } => assert_eq!(confidence, Some(0.8)),
        other => panic!("{other:?}"),
    }
    match agent.judge(r#"{"summary": "", "confidence": 3}"#) {
        Completion::Invalid {
            result_raw, errors, ..
        } => {
            assert!(result_raw.is_some());
            assert!(
                errors.iter().any(|e| e.contains("key_findings")),
                "{errors:?}"
            );
            assert!(
                errors.iter().any(|e| e.starts_with("/confidence")),
                "{errors:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        agent.judge("not json"),
        Completion::Invalid { .. }
    ));
}

#[test]
fn a_custom_output_schema_replaces_the_default() {
    let mut custom = triage();
    custom.output_schema = Some(json!({
        "type": "object",
        "properties": {"verdict": {"enum": ["benign", "malicious"]}},
        "required": ["verdict"]
    }));
    let catalog = Catalog::new(vec![custom], &registry()).unwrap();
    let agent = catalog.get("triage").unwrap();
    assert!(matches!(
        agent.judge(r#"{"verdict": "benign"}"#),
        Completion::Valid {
            confidence: None,
            ..
        }
    ));
    assert!(matches!(
        agent.judge(r#"{"verdict": "unsure"}"#),
        Completion::Invalid { .. }
    ));
}

#[test]
fn investigation_overrides_apply_to_the_agent_budget() {
    let base = AgentBudget::default();
    let merged = base.with_overrides(&Budget {
        max_turns: Some(3),
        max_tokens: None,
        max_wall_secs: Some(60),
    });
    assert_eq!(merged.max_turns, 3);
    assert_eq!(merged.max_tokens, base.max_tokens);
    assert_eq!(merged.max_wall_time, Duration::from_secs(60));
}

#[test]
fn agent_declarations_parse_from_toml() {
    let cfg: AgentConfig = toml::from_str(
        r#"
        id = "triage"
        system_prompt = "You are a SOC analyst."
        tools = ["siem_search"]
        budget = { max_turns = 8, max_wall_time = "10m" }
        "#,
    )
    .unwrap();
    assert_eq!(cfg.budget.max_turns, 8);
    assert_eq!(cfg.budget.max_wall_time, Duration::from_secs(600));
    assert_eq!(cfg.budget.max_tokens, AgentBudget::default().max_tokens);
}

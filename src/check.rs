//! `vigil check`: builds the agent side from the configuration and prints it.

use anyhow::Context;
use vigil_agents::Mode;
use vigil_agents::dummy::SCRIPTED_MODEL;

use crate::config::{Config, redact_url};

/// Validates mode, model, tools and agents (including `${VAR}` references),
/// connects to each MCP server to list its tools, and prints what a worker
/// would run with. Secrets are never printed. A server that cannot be
/// reached is reported, not an error: workers keep trying to reach it.
pub async fn check_command(config: &Config) -> anyhow::Result<()> {
    let setup = config.agent_setup()?;
    let stop = tokio_util::sync::CancellationToken::new();
    setup.start_mcp(&stop).await;
    println!("database: {}", redact_url(&config.database.url));
    match setup.mode {
        Mode::Dummy => println!(
            "mode: dummy (scripted showcase model and fixture tools; nothing leaves the process)"
        ),
        Mode::DryRun => println!("mode: dry_run (real model; write tools return a preview)"),
        Mode::Real => println!("mode: real"),
    }
    match &config.model {
        Some(model) => println!("model: {} at {}", model.model, redact_url(&model.base_url)),
        None => println!("model: {SCRIPTED_MODEL}"),
    }
    for id in setup.catalog.ids() {
        let agent = setup.catalog.get(id).context("catalog lookup")?;
        println!("agent: {id} (tools: {})", agent.config().tools.join(", "));
    }
    for server in &setup.mcp_servers {
        let state = if server.is_up() {
            "connected"
        } else {
            "not reachable"
        };
        println!("mcp server: {} ({state})", server.name());
    }
    for spec in setup.tools.specs() {
        let effect = match spec.effect {
            vigil_agents::tool::Effect::Read => "read",
            vigil_agents::tool::Effect::Write => "write",
        };
        let approval = if spec.approval.required {
            format!(
                ", approval required, expires in {}",
                vigil_agents::config::duration::format(spec.approval.expires_in)
            )
        } else {
            String::new()
        };
        println!("tool: {} ({effect}{approval})", spec.name);
    }
    stop.cancel();
    println!("config: ok");
    Ok(())
}

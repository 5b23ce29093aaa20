//! `vigil worker` and `vigil serve`: run workers, the reaper and the
//! approval-expiry sweep (and, for `serve`, the HTTP API and the webhook
//! notifier) until a signal.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use vigil_agents::Mode;
use vigil_agents::runner::Runner;
use vigil_agents::setup::Setup;
use vigil_api::{AgentInfo, Agents, AppState, Limits, SystemInfo, ToolInfo};
use vigil_engine::event::Effect;
use vigil_engine::store::Store;
use vigil_engine::{Clock, SystemClock};
use vigil_workers::webhooks::{Notifier, WebhookSettings};
use vigil_workers::{SweepSettings, WorkerSettings};

use crate::config::{Config, redact_url};
use crate::showcase::{self, LoadOutcome};
use crate::stores::{self, AnyStore};
use crate::tokens;

/// `vigil serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address for the HTTP API (default 127.0.0.1:8080; config `api.listen`).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

/// `vigil worker` options.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Serve this process's own metrics at http://ADDR/metrics (Prometheus).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
}

/// `vigil worker`: workers, reaper and expiry until SIGINT or SIGTERM, then
/// a graceful shutdown; a second signal stops the process at once.
pub async fn worker_command(config: &Config, args: WorkerArgs) -> anyhow::Result<()> {
    let setup = config.agent_setup()?;
    let store = stores::connect(config).await?;
    store.prepare_embedded().await?;
    let shutdown = CancellationToken::new();
    if let Some(listen) = args.metrics_listen {
        crate::metrics::serve(listen, crate::metrics::install()?, shutdown.clone()).await?;
    }
    tokio::spawn(signal_to(shutdown.clone()));
    setup.start_mcp(&shutdown).await;
    run_workers(config, &setup, &store, shutdown).await
}

/// `vigil serve`: the API, the webhook notifier, workers, reaper and expiry
/// in one process. On the first start with no API token, creates an admin
/// token and prints it once.
pub async fn serve_command(config: &Config, args: ServeArgs) -> anyhow::Result<()> {
    let setup = config.agent_setup()?;
    let targets = config
        .api
        .webhooks
        .iter()
        .map(|w| w.target())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = stores::connect(config).await?;
    store.prepare_embedded().await?;
    let ports = store.ports();
    let listen = args.listen.unwrap_or(config.api.listen);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().unwrap_or(listen);

    if let Some(token) = tokens::bootstrap_admin(&ports).await? {
        println!("Created the first API token, for principal `admin` with the admin role.");
        println!("It is shown only this once; store it now:");
        println!();
        println!("    {token}");
        println!();
        println!("Create tokens for people and pipelines with `vigil token create`.");
    }
    if setup.mode == Mode::Dummy {
        load_showcase(&store).await;
    }

    let shutdown = CancellationToken::new();
    tokio::spawn(signal_to(shutdown.clone()));
    let process_metrics = crate::metrics::install()?;
    setup.start_mcp(&shutdown).await;

    let state = AppState::new(
        store.api(),
        api_agents(&setup),
        SystemInfo {
            mode: setup.mode.as_str().to_owned(),
            backend: store.kind().to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            receipt_key: store.receipt_key(),
        },
    )
    .with_limits(Limits {
        body_bytes: config.api.body_limit,
        prompt_chars: config.api.prompt_limit,
        evidence_bytes: config.api.evidence_limit,
    })
    .with_grouping_rules(config.grouping_rules_for(&setup)?)
    .with_settings(api_settings(config, &setup))
    .with_shutdown(shutdown.clone())
    .with_process_metrics(Arc::new(move || process_metrics.render()));
    let app = vigil_api::app(state);
    let server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    println!("Vigil console: http://{address}/ (sign in with an API token)");
    println!(
        "Vigil API listening on http://{address}/api/v1 (mode {})",
        setup.mode
    );
    tracing::info!(listen = %address, "api listening");

    let notifier = Notifier::new(
        ports.clone(),
        ports.clone(),
        WebhookSettings {
            targets,
            ..WebhookSettings::default()
        },
    )?;
    let notifier = tokio::spawn(notifier.run(shutdown.clone()));

    let workers = run_workers(config, &setup, &store, shutdown).await;
    let served = server.await.context("api task")?;
    let _ = notifier.await;
    workers?;
    served.context("api server")?;
    Ok(())
}

/// Dummy mode's sample cases ([`showcase::load_sample_cases`]), loaded
/// unless they are there already. A failure is logged and the server goes
/// on without them: the samples are a convenience, never a reason not to
/// serve.
async fn load_showcase(store: &AnyStore) {
    let outcome = showcase::load_sample_cases(&*store.cases(), SystemClock.now())
        .instrument(tracing::info_span!("load_sample_cases"))
        .await;
    match outcome {
        Ok(LoadOutcome::Loaded(numbers)) => {
            let list: Vec<String> = numbers.iter().map(ToString::to_string).collect();
            tracing::info!(
                cases = numbers.len(),
                tag = showcase::TAG,
                "loaded {} showcase cases ({}), tagged `{}`",
                numbers.len(),
                list.join(", "),
                showcase::TAG,
            );
            // Only the loader that created the samples ingests the alerts.
            match showcase::alerts::load_sample_alerts(&*store.cases(), SystemClock.now()).await {
                Ok(Some(number)) => tracing::info!(
                    case = %number,
                    "showcase alerts grouped into {number}; its triage investigation runs on the \
                     scripted model and waits for an approver"
                ),
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot load the showcase alerts; serving without them"
                ),
            }
        }
        Ok(LoadOutcome::AlreadyPresent) => tracing::info!("showcase cases already present"),
        Err(error) => tracing::warn!(
            error = format!("{error:#}"),
            "cannot load the showcase cases; serving without them"
        ),
    }
}

async fn run_workers(
    config: &Config,
    setup: &Setup,
    store: &AnyStore,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let ports: Arc<dyn Store> = store.ports();
    // The case tools were built before the store was open.
    setup.cases.bind(ports.clone());
    let runner = Runner::new(
        ports.clone(),
        setup.catalog.clone(),
        setup.tools.clone(),
        setup.model.clone(),
        Arc::new(SystemClock),
        setup.mode,
    )
    .with_prices(setup.prices.clone())
    .with_lease(config.worker.lease)
    .with_capture_content(config.telemetry.capture_content);
    for spec in setup.tools.specs() {
        let timeout = setup.tools.get(&spec.name).and_then(|t| t.timeout());
        if spec.effect == vigil_agents::tool::Effect::Write
            && timeout.is_some_and(|t| t >= config.worker.lease)
        {
            tracing::warn!(
                tool.name = %spec.name,
                "the write tool's timeout is not shorter than worker.lease: its calls are never sent, and their runs are released"
            );
        }
    }
    let mut settings = WorkerSettings::new(vigil_workers::worker_id());
    settings.concurrency = config.worker.concurrency;
    settings.claimers = config.worker.claimers;
    settings.agents = config.worker.agents.clone();
    settings.poll_interval = config.worker.poll_interval;
    settings.grace = config.worker.grace;
    settings.lease = config.worker.lease;
    settings.heartbeat_every = config.worker.heartbeat_every;
    settings.heartbeat_retry = config.worker.heartbeat_retry;
    let sweeps = SweepSettings {
        reaper: config.reaper.schedule.clone(),
        expiry: config.expiry.schedule.clone(),
    };
    tracing::info!(
        database = %redact_url(&config.database.url),
        mode = %setup.mode,
        worker.id = %settings.id,
        "starting"
    );
    vigil_workers::run(ports, Arc::new(runner), settings, sweeps, shutdown)
        .await
        .context("worker runtime")?;
    Ok(())
}

/// The agents and tools as the API describes them.
fn api_agents(setup: &Setup) -> Agents {
    Agents::new(setup.catalog.ids().filter_map(|id| {
        let agent = setup.catalog.get(id).ok()?;
        let tools = setup
            .tools
            .offered(&agent.config().tools)
            .iter()
            .map(|tool| {
                let spec = tool.spec();
                ToolInfo {
                    name: spec.name.clone(),
                    description: spec.description.clone(),
                    effect: match spec.effect {
                        Effect::Read => "read".to_owned(),
                        Effect::Write => "write".to_owned(),
                    },
                    local: tool.is_local(),
                }
            })
            .collect();
        Some(AgentInfo {
            id: id.to_owned(),
            output_schema: agent.output_schema().clone(),
            tools,
        })
    }))
}

/// What `GET /system/settings` reports: names, hosts and policies. The
/// constructors of [`vigil_api::settings`] keep only the host of each URL
/// (a webhook's origin), and no key, header or secret is passed to them.
fn api_settings(config: &Config, setup: &Setup) -> vigil_api::settings::Settings {
    use vigil_agents::setup::ToolConfig;
    use vigil_api::settings::{
        AgentSettings, ModelSettings, Settings, ToolSettings, WebhookSettings,
    };
    let model = config
        .model
        .as_ref()
        .map(|m| ModelSettings::new(&m.model, &m.base_url));
    let agents = setup
        .catalog
        .ids()
        .filter_map(|id| {
            let agent = setup.catalog.get(id).ok()?.config();
            Some(AgentSettings::new(
                id,
                agent.model.as_deref(),
                agent.tools.clone(),
            ))
        })
        .collect();
    let tools = setup
        .tools
        .specs()
        .into_iter()
        .map(|spec| {
            let tool = setup.tools.get(&spec.name);
            let mcp = setup.tools.is_sourced(&spec.name);
            let declared = config.tools.iter().find(|t| match t {
                ToolConfig::Http(h) => h.name == spec.name,
                ToolConfig::Case(c) => c.name.as_str() == spec.name,
            });
            let (kind, url) = match declared {
                Some(ToolConfig::Http(h)) => ("http", Some(h.url.as_str())),
                Some(ToolConfig::Case(_)) => ("case", None),
                _ if mcp => ("mcp", None),
                _ if spec.name == vigil_agents::delegate::DELEGATE => ("builtin", None),
                _ if tool.as_ref().is_some_and(|t| t.is_local()) => ("fixture", None),
                _ => ("builtin", None),
            };
            ToolSettings::new(
                &spec.name,
                kind,
                match spec.effect {
                    Effect::Read => "read",
                    Effect::Write => "write",
                },
                spec.approval.required,
                tool.as_ref().and_then(|t| t.timeout()),
                url,
            )
        })
        .collect();
    let webhooks = config
        .api
        .webhooks
        .iter()
        .map(|w| WebhookSettings::new(&w.name, &w.url))
        .collect();
    Settings::new(model, agents, tools, webhooks)
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM (the graceful stop of
/// everything the process runs); a second signal exits at once.
async fn signal_to(shutdown: CancellationToken) {
    wait_for_signal().await;
    tracing::info!("signal received: shutting down gracefully (send another to stop at once)");
    shutdown.cancel();
    wait_for_signal().await;
    tracing::warn!("second signal: stopping now; leases left running will expire");
    std::process::exit(130);
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

//! The process's own metrics (claims, reaps, rescues, model tokens, step and
//! model latency), recorded through the `metrics` facade by the runtime and
//! the API, and rendered in the Prometheus text format by `GET
//! /api/v1/metrics` (`vigil serve`) or `--metrics-listen` (`vigil worker`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in seconds: from a fast step to a slow model.
const BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// `gen_ai.client.token.usage` buckets, as the GenAI conventions advise.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// `gen_ai.client.operation.duration` buckets (seconds), as the GenAI
/// conventions advise.
const OPERATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Installs the process-wide recorder and returns the handle that renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .context("metric buckets")?
        .set_buckets_for_metric(
            Matcher::Full("gen_ai_client_token_usage".to_owned()),
            &TOKEN_BUCKETS,
        )
        .context("token buckets")?
        .set_buckets_for_metric(
            Matcher::Full("gen_ai_client_operation_duration_seconds".to_owned()),
            &OPERATION_BUCKETS,
        )
        .context("operation buckets")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).context("a metrics recorder is already installed")?;
    describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(
        "vigil_telemetry_spans_dropped_total",
        "Trace spans dropped before export, by reason (queue_full, export_failed)."
    );
    describe_counter!(
        "vigil_telemetry_spans_exported_total",
        "Trace spans sent to the OTLP collector."
    );
    describe_counter!(
        "vigil_mcp_server_errors_total",
        "MCP server failures, by server and kind (connect, disconnected, unavailable, timeout, call)."
    );
    describe_counter!(
        "vigil_mcp_server_restarts_total",
        "Reconnections to an MCP server after its connection ended (stdio: the child restarted)."
    );
    metrics::describe_gauge!(
        "vigil_mcp_server_up",
        "Whether the MCP server is connected and its tools listed (1) or not (0)."
    );
    describe_counter!(
        "vigil_claims_total",
        "Investigations claimed by this process."
    );
    describe_counter!(
        "vigil_claims_empty_total",
        "Claim transactions of this process that found nothing to claim (a cheap read said there was work, another worker took it first)."
    );
    describe_counter!(
        "vigil_reaps_total",
        "Investigations this process's reaper dead-lettered."
    );
    describe_counter!(
        "vigil_approvals_expired_total",
        "Approval requests this process's expiry sweep expired."
    );
    describe_counter!(
        "vigil_dispatches_total",
        "Investigations dispatched through this API."
    );
    describe_counter!(
        "vigil_rescues_total",
        "Investigations rescued through this API."
    );
    describe_counter!(
        "vigil_cancels_total",
        "Investigations cancelled through this API."
    );
    describe_counter!(
        "vigil_approval_decisions_total",
        "Approval decisions made through this API, by decision."
    );
    describe_counter!(
        "vigil_run_panics_total",
        "Runs whose step panicked in this process (released, or failed at the third in a row)."
    );
    describe_counter!(
        "vigil_heartbeat_failures_total",
        "Lease renewals that failed and were retried sooner."
    );
    describe_counter!(
        "vigil_case_summaries_total",
        "Case summaries dispatched through this API."
    );
    describe_counter!(
        "vigil_case_summaries_skipped_total",
        "Case closes whose summary could not be requested."
    );
    describe_counter!(
        "vigil_model_tokens_total",
        "Model tokens used by this process's runs, by kind (input, output)."
    );
    describe_histogram!(
        "vigil_step_seconds",
        metrics::Unit::Seconds,
        "How long a claimed run ran before it stopped (parked, finished, released), by outcome."
    );
    describe_histogram!(
        "gen_ai_client_token_usage",
        "Tokens per model call (gen_ai.client.token.usage), by operation, provider, request and response model, and token type (input, output)."
    );
    describe_histogram!(
        "gen_ai_client_operation_duration_seconds",
        metrics::Unit::Seconds,
        "Model call duration (gen_ai.client.operation.duration), by operation, provider and request model; error_type on a failure."
    );
    describe_histogram!(
        "vigil_model_seconds",
        metrics::Unit::Seconds,
        "Model call latency, by outcome."
    );
}

/// Serves `GET /metrics` with this process's metrics on `listen` until
/// `stop` is cancelled (`vigil worker --metrics-listen`).
pub async fn serve(
    listen: SocketAddr,
    handle: PrometheusHandle,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} for metrics"))?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    tracing::info!(listen = %listen, "metrics listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::warn!(error = %e, "metrics listener stopped");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Every metric the Grafana dashboard in `docs/` queries is one this
    /// module describes, so a renamed metric cannot leave a panel empty.
    #[test]
    fn the_dashboard_queries_only_metrics_vigil_exports() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../docs/grafana-dashboard.json")).unwrap();
        let source = include_str!("metrics.rs");
        let mut queried = 0;
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap();
                for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if !(word.starts_with("vigil_") || word.starts_with("gen_ai_client_")) {
                        continue;
                    }
                    let name = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|suffix| word.strip_suffix(suffix))
                        .unwrap_or(word);
                    assert!(
                        source.contains(&format!("\"{name}\",\n")),
                        "the dashboard queries `{word}`, which is not described here"
                    );
                    queried += 1;
                }
            }
        }
        assert!(queried > 10, "{queried}");
    }
}

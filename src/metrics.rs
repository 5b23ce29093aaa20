//! The process's own metrics (claims, reaps, rescues, model tokens, step and
//! model latency), recorded through the `metrics` facade by the runtime and
//! the API, and rendered in the Prometheus text format by `GET
//! /api/v1/metrics` (`vigil serve`) or `--metrics-listen` (`vigil worker`).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in seconds: from a fast step to a slow model.
const BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Installs the process-wide recorder and returns the handle that renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .context("metric buckets")?
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
        "vigil_claims_total",
        "Investigations claimed by this process."
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
        "vigil_model_tokens_total",
        "Model tokens used by this process's runs, by kind (input, output)."
    );
    describe_histogram!(
        "vigil_step_seconds",
        metrics::Unit::Seconds,
        "How long a claimed run ran before it stopped (parked, finished, released), by outcome."
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

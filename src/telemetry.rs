//! OpenTelemetry trace export (`[telemetry]`, `OTEL_EXPORTER_OTLP_*`).
//!
//! Off by default, and then nothing is built: no exporter, no thread, no
//! layer. On, spans go through the `tracing-opentelemetry` layer into a
//! bounded queue, and a thread of its own sends them in batches over
//! OTLP/HTTP (protobuf). A full queue or a failed export drops spans and
//! counts them in `vigil_telemetry_spans_dropped_total{reason}`; neither
//! ever waits on, or fails, a run.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    Sampler, SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// `[telemetry]`: where and how traces are exported.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Export traces. Also on when an endpoint is given here or in
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`;
    /// `OTEL_SDK_DISABLED=true` turns it off whatever is set.
    pub enabled: bool,
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`);
    /// `/v1/traces` is appended unless the URL already ends with it. Unset:
    /// the `OTEL_EXPORTER_OTLP_*` variables, else `http://localhost:4318`.
    pub endpoint: Option<String>,
    /// Extra request headers (an API key); `${VAR}` is read from the
    /// environment at start. Added to `OTEL_EXPORTER_OTLP_HEADERS`. Never
    /// printed.
    #[serde(skip_serializing)]
    pub headers: BTreeMap<String, String>,
    /// `service.name` (default `OTEL_SERVICE_NAME`, else `vigil`).
    pub service_name: Option<String>,
    /// The share of new traces recorded, 0.0 to 1.0 (default 1.0). A trace
    /// continued from a caller's sampled `traceparent` follows the caller.
    pub sampling_ratio: f64,
    /// Record tool call arguments and results on `execute_tool` spans
    /// (default false: they may hold personal data). Header values are
    /// never recorded.
    pub capture_content: bool,
    /// Most spans waiting for export; more are dropped and counted.
    pub queue_size: usize,
    /// Most spans per export request.
    pub batch_size: usize,
    /// How often a partial batch is sent.
    #[serde(with = "vigil_agents::config::duration")]
    pub flush_every: Duration,
    /// Per-request timeout of an export.
    #[serde(with = "vigil_agents::config::duration")]
    pub export_timeout: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint: None,
            headers: BTreeMap::new(),
            service_name: None,
            sampling_ratio: 1.0,
            capture_content: false,
            queue_size: 2048,
            batch_size: 512,
            flush_every: Duration::from_secs(2),
            export_timeout: Duration::from_secs(10),
        }
    }
}

impl TelemetryConfig {
    /// Whether traces are exported, given the environment `env`.
    pub fn is_on(&self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        let set = |var: &str| env(var).is_some_and(|v| !v.trim().is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return false;
        }
        self.enabled
            || self.endpoint.is_some()
            || set("OTEL_EXPORTER_OTLP_ENDPOINT")
            || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    }

    /// Checks the values that are not checked by their type.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.sampling_ratio),
            "telemetry.sampling_ratio must be between 0.0 and 1.0, not {}",
            self.sampling_ratio
        );
        anyhow::ensure!(self.queue_size > 0, "telemetry.queue_size must be positive");
        anyhow::ensure!(self.batch_size > 0, "telemetry.batch_size must be positive");
        Ok(())
    }
}

/// Running export: keep it for the life of the process, then
/// [`Telemetry::shutdown`] to send what is queued.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// The layer that feeds spans to the exporter.
pub type Layer = tracing_opentelemetry::OpenTelemetryLayer<
    tracing_subscriber::Registry,
    opentelemetry_sdk::trace::SdkTracer,
>;

impl Telemetry {
    /// Starts export for `config`, or returns `None` when telemetry is off.
    /// Fails only on configuration errors (a bad endpoint, a header whose
    /// `${VAR}` is unset); the collector being down is not one.
    pub fn start(config: &TelemetryConfig) -> anyhow::Result<Option<(Self, Layer)>> {
        let env = |v: &str| std::env::var(v).ok();
        if !config.is_on(&env) {
            return Ok(None);
        }
        config.check()?;
        let mut headers = std::collections::HashMap::new();
        for (name, value) in &config.headers {
            headers.insert(name.clone(), expand_env(name, value, &env)?);
        }
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(config.export_timeout)
            .with_headers(headers);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(traces_url(endpoint));
        }
        let exporter = builder.build().context("telemetry exporter")?;
        let processor = QueueProcessor::start(exporter, config)?;
        let service = config
            .service_name
            .clone()
            .or_else(|| env("OTEL_SERVICE_NAME"))
            .unwrap_or_else(|| "vigil".to_owned());
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sampling_ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(service)
                    .with_attribute(opentelemetry::KeyValue::new(
                        "service.version",
                        env!("CARGO_PKG_VERSION"),
                    ))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("vigil");
        let layer = tracing_opentelemetry::layer().with_tracer(tracer);
        Ok(Some((Self { provider }, layer)))
    }

    /// Sends the spans still queued (waiting at most a few seconds) and
    /// stops the export thread.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("vigil: telemetry shutdown: {e}");
        }
    }
}

/// `endpoint` with the OTLP traces path.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Replaces each `${VAR}` in header `name`'s `value` from `env`.
fn expand_env(
    name: &str,
    value: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .with_context(|| format!("telemetry header `{name}`: unclosed `${{`"))?;
        let var = &after[..end];
        let resolved = env(var).with_context(|| {
            format!("telemetry header `{name}` names ${{{var}}}, which is not set")
        })?;
        out.push_str(&resolved);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What the export thread is asked to do.
enum Message {
    Span(Box<SpanData>),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// A span processor with a bounded queue and its own export thread. Unlike
/// the SDK's batch processor it counts what it drops, by reason, and it
/// runs the async exporter on a runtime of its own, so export never shares
/// the workers' runtime nor blocks them.
#[derive(Debug)]
struct QueueProcessor {
    queue: mpsc::Sender<Message>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl QueueProcessor {
    fn start<E: SpanExporter + 'static>(
        exporter: E,
        config: &TelemetryConfig,
    ) -> anyhow::Result<Self> {
        let (queue, mut inbox) = mpsc::channel::<Message>(config.queue_size);
        let batch_size = config.batch_size;
        let flush_every = config.flush_every;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("telemetry runtime")?;
        let thread = std::thread::Builder::new()
            .name("vigil-telemetry".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut batch = Vec::with_capacity(batch_size);
                    let mut tick = tokio::time::interval(flush_every);
                    loop {
                        let reply = tokio::select! {
                            message = inbox.recv() => match message {
                                Some(Message::Span(span)) => {
                                    batch.push(*span);
                                    if batch.len() < batch_size {
                                        continue;
                                    }
                                    None
                                }
                                Some(Message::Flush(done)) => Some((done, false)),
                                Some(Message::Shutdown(done)) => Some((done, true)),
                                None => {
                                    export(&exporter, &mut batch).await;
                                    return;
                                }
                            },
                            _ = tick.tick() => None,
                        };
                        export(&exporter, &mut batch).await;
                        if let Some((done, stop)) = reply {
                            let _ = done.send(());
                            if stop {
                                let _ = exporter.shutdown();
                                return;
                            }
                        }
                    }
                });
            })
            .context("telemetry thread")?;
        Ok(Self {
            queue,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Asks the thread for `message` and waits for its answer.
    fn ask(
        &self,
        message: impl FnOnce(oneshot::Sender<()>) -> Message,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (done, answered) = oneshot::channel();
        self.queue
            .try_send(message(done))
            .map_err(|_| OTelSdkError::InternalFailure("telemetry queue full or closed".into()))?;
        let deadline = std::time::Instant::now() + timeout;
        let mut answered = answered;
        loop {
            match answered.try_recv() {
                Ok(()) => return Ok(()),
                Err(oneshot::error::TryRecvError::Closed) => {
                    return Err(OTelSdkError::AlreadyShutdown);
                }
                Err(oneshot::error::TryRecvError::Empty)
                    if std::time::Instant::now() >= deadline =>
                {
                    return Err(OTelSdkError::Timeout(timeout));
                }
                Err(oneshot::error::TryRecvError::Empty) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
            }
        }
    }
}

/// Sends `batch` (emptying it); a failure drops its spans, counted.
async fn export<E: SpanExporter>(exporter: &E, batch: &mut Vec<SpanData>) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::take(batch);
    let count = spans.len() as u64;
    match exporter.export(spans).await {
        Ok(()) => metrics::counter!("vigil_telemetry_spans_exported_total").increment(count),
        Err(_) => {
            metrics::counter!("vigil_telemetry_spans_dropped_total", "reason" => "export_failed")
                .increment(count)
        }
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.queue.try_send(Message::Span(Box::new(span))).is_err() {
            metrics::counter!("vigil_telemetry_spans_dropped_total", "reason" => "queue_full")
                .increment(1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Message::Flush, Duration::from_secs(5))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let asked = self.ask(Message::Shutdown, timeout);
        if asked.is_ok()
            && let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take())
        {
            let _ = thread.join();
        }
        asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_is_off_unless_asked_for() {
        let none = |_: &str| None;
        assert!(!TelemetryConfig::default().is_on(&none));
        let endpoint =
            |v: &str| (v == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://c:4318".to_owned());
        assert!(TelemetryConfig::default().is_on(&endpoint));
        let disabled = |v: &str| match v {
            "OTEL_SDK_DISABLED" => Some("true".to_owned()),
            _ => endpoint(v),
        };
        let on = TelemetryConfig {
            enabled: true,
            ..TelemetryConfig::default()
        };
        assert!(on.is_on(&none));
        assert!(!on.is_on(&disabled));
    }

    #[test]
    fn the_traces_path_is_appended_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn header_references_expand_and_a_missing_one_is_named() {
        let env = |v: &str| (v == "KEY").then(|| "s3cret".to_owned());
        assert_eq!(
            expand_env("x-api-key", "k ${KEY}", &env).unwrap(),
            "k s3cret"
        );
        let e = expand_env("x-api-key", "${NOPE}", &env).unwrap_err();
        assert!(e.to_string().contains("${NOPE}"), "{e}");
        assert!(!e.to_string().contains("s3cret"));
    }
}

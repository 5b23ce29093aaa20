//! The trace a dispatch starts or joins.

use axum::http::HeaderMap;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use vigil_engine::trace::TraceParent;

/// The `traceparent` to store on a new investigation, with `span` (the
/// dispatch's span) joined to the caller's trace. A valid `traceparent`
/// header makes `span` its child; an invalid one is ignored (a new trace,
/// as the W3C recommendation says). With telemetry on, the stored value
/// names `span`, so every worker segment hangs under the dispatch. With it
/// off, it is the caller's value, or a fresh random one.
pub(crate) fn dispatch_context(headers: &HeaderMap, span: &tracing::Span) -> String {
    let caller = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    if let Some(parent) = caller {
        // Fails only without a telemetry layer: nothing to join then.
        let _ = span.set_parent(context_of(parent));
    }
    let context = span.context();
    let own = context.span().span_context().clone();
    if own.is_valid() {
        return TraceParent {
            trace_id: own.trace_id().to_bytes(),
            span_id: own.span_id().to_bytes(),
            flags: own.trace_flags().to_u8(),
        }
        .to_string();
    }
    caller.unwrap_or_else(random).to_string()
}

/// Makes `span` (started, not entered yet) a child of `inv`'s trace
/// context ([`vigil_engine::Investigation::trace_context`]), so an
/// operator's action on a run shows in the run's trace.
pub(crate) fn continue_investigation(span: &tracing::Span, inv: &vigil_engine::Investigation) {
    let _ = span.set_parent(context_of(inv.trace_context()));
}

/// Makes `span` (never entered) a child of an unsampled context: it is
/// never exported.
pub(crate) fn discard(span: &tracing::Span) {
    let _ = span.set_parent(context_of(TraceParent {
        trace_id: [1; 16],
        span_id: [1; 8],
        flags: 0,
    }));
}

fn context_of(parent: TraceParent) -> opentelemetry::Context {
    opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    ))
}

/// A new trace context from the system's randomness.
fn random() -> TraceParent {
    let mut bytes = [0u8; 24];
    // Without randomness the ids fall back to fixed non-zero values: a
    // trace id is for correlation, not security.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = [1; 24];
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    trace_id.copy_from_slice(&bytes[..16]);
    span_id.copy_from_slice(&bytes[16..]);
    trace_id[15] |= 1;
    span_id[7] |= 1;
    TraceParent {
        trace_id,
        span_id,
        flags: 1,
    }
}

//! Trace attributes and W3C trace context.
//!
//! Spans are `tracing` spans; the binary exports them over OTLP when
//! telemetry is on (the `tracing-opentelemetry` layer). Without that layer
//! the helpers here cost next to nothing: the span context they read is
//! empty, and attributes set on a span are dropped.
//!
//! The attribute keys follow the OpenTelemetry GenAI semantic conventions.
//! They are our own constants: the upstream Rust ones are deprecated and
//! move between releases.

use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use vigil_engine::model::Investigation;
pub use vigil_engine::trace::TraceParent;

/// `gen_ai.operation.name`: `invoke_agent`, `chat` or `execute_tool`.
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gen_ai.provider.name`: who serves the model (`openai` for any
/// OpenAI-compatible endpoint).
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// `gen_ai.agent.name`.
pub const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
/// `gen_ai.agent.id`.
pub const GEN_AI_AGENT_ID: &str = "gen_ai.agent.id";
/// `gen_ai.conversation.id`: the investigation id.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// `gen_ai.request.model`.
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// `gen_ai.response.model`.
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// `gen_ai.response.finish_reasons` (a string array).
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// `gen_ai.usage.input_tokens`.
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// `gen_ai.usage.output_tokens`.
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// `gen_ai.tool.name`.
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// `gen_ai.tool.call.id`.
pub const GEN_AI_TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// `gen_ai.tool.type`: `extension` (an HTTP call to another system) or
/// `function` (run in the worker).
pub const GEN_AI_TOOL_TYPE: &str = "gen_ai.tool.type";
/// `gen_ai.tool.call.arguments`: only with `capture_content`.
pub const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
/// `gen_ai.tool.call.result`: only with `capture_content`.
pub const GEN_AI_TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
/// `error.type`: why an operation failed.
pub const ERROR_TYPE: &str = "error.type";
/// `vigil.tool.effect`: `read` or `write`.
pub const VIGIL_TOOL_EFFECT: &str = "vigil.tool.effect";
/// `vigil.tool.approval`: `none`, `approved` or `refused`.
pub const VIGIL_TOOL_APPROVAL: &str = "vigil.tool.approval";
/// `vigil.step`: how a segment ended (`completed`, `awaiting_approval`, ...).
pub const VIGIL_STEP: &str = "vigil.step";
/// `vigil.checkpoint.first_seq` / `last_seq`: the events a checkpoint wrote.
pub const VIGIL_CHECKPOINT_FIRST_SEQ: &str = "vigil.checkpoint.first_seq";
/// See [`VIGIL_CHECKPOINT_FIRST_SEQ`].
pub const VIGIL_CHECKPOINT_LAST_SEQ: &str = "vigil.checkpoint.last_seq";

/// `vigil.link.kind` on a span link: `previous_segment` (the segment that
/// ran before this one) or `approval_wait` (that segment parked on an
/// approval, decided since).
pub const VIGIL_LINK_KIND: &str = "vigil.link.kind";
/// `vigil.approval.id` on an `approval_wait` link.
pub const VIGIL_APPROVAL_ID: &str = "vigil.approval.id";
/// `vigil.approval.outcome` on an `approval_wait` link: `approved`,
/// `rejected`, `expired` or `cancelled`.
pub const VIGIL_APPROVAL_OUTCOME: &str = "vigil.approval.outcome";
/// `vigil.approval.wait_ms` on an `approval_wait` link: from the request to
/// its end.
pub const VIGIL_APPROVAL_WAIT_MS: &str = "vigil.approval.wait_ms";

/// An approval wait that ended between the previous segment and this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalWait {
    /// The approval request.
    pub approval_id: String,
    /// `approved`, `rejected`, `expired` or `cancelled`.
    pub outcome: &'static str,
    /// From the request to its end.
    pub wait_ms: i64,
}

/// Links `span` to the span of the segment that ran `inv` before (its
/// [`Investigation::segment_traceparent`]), if one was recorded. When that
/// segment parked on an approval that ended since, the link is the
/// approval wait (`vigil.link.kind` = `approval_wait`, with the approval's
/// id, outcome and wait): the wait is this link, not a span left open.
pub fn link_previous_segment(
    span: &tracing::Span,
    inv: &Investigation,
    wait: Option<&ApprovalWait>,
) {
    let Some(previous) = inv
        .segment_traceparent
        .as_deref()
        .and_then(parse_traceparent)
    else {
        return;
    };
    let attributes = match wait {
        Some(wait) => vec![
            KeyValue::new(VIGIL_LINK_KIND, "approval_wait"),
            KeyValue::new(VIGIL_APPROVAL_ID, wait.approval_id.clone()),
            KeyValue::new(VIGIL_APPROVAL_OUTCOME, wait.outcome),
            KeyValue::new(VIGIL_APPROVAL_WAIT_MS, wait.wait_ms),
        ],
        None => vec![KeyValue::new(VIGIL_LINK_KIND, "previous_segment")],
    };
    span.add_link_with_attributes(previous, attributes);
}

/// Makes `span` (started, never entered) a child of an unsampled context,
/// so it is never exported: a `claim` that found nothing, a sweep that had
/// nothing to do.
pub fn discard(span: &tracing::Span) {
    let unsampled = SpanContext::new(
        TraceId::from_bytes([1; 16]),
        SpanId::from_bytes([1; 8]),
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(unsampled));
}

/// The span context a W3C `traceparent` value names (see
/// [`TraceParent::parse`]), marked remote.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    TraceParent::parse(value).map(remote)
}

/// The `traceparent` value for `context`.
pub fn format_traceparent(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
}

/// The `traceparent` of the span `span`, when telemetry records it.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    span_context
        .is_valid()
        .then(|| format_traceparent(span_context))
}

/// The context a worker segment of `inv` continues: the dispatch's
/// [`Investigation::traceparent`], or for a run dispatched without one a
/// context whose trace id is the investigation's id (the same for every
/// segment, and the one [`Investigation::trace_id`] reports).
pub fn investigation_context(inv: &Investigation) -> SpanContext {
    remote(inv.trace_context())
}

/// `parent` as a remote span context.
pub fn remote(parent: TraceParent) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    )
}

/// Makes `span` a child of `inv`'s trace context (see
/// [`investigation_context`]). Without telemetry this does nothing. It
/// takes effect only on a span never entered yet: a span started before
/// `inv` was known (the `claim` span) can join its trace this way.
pub fn continue_investigation(span: &tracing::Span, inv: &Investigation) {
    let parent = opentelemetry::Context::new().with_remote_span_context(investigation_context(inv));
    // Fails only when no telemetry layer is installed: nothing to continue.
    let _ = span.set_parent(parent);
}

/// The `traceparent` an outbound request made under the current span
/// carries: the current span's when telemetry records it, else
/// `fallback` (the investigation's own, so a receiver can still correlate).
pub fn outbound_traceparent(fallback: Option<&str>) -> Option<String> {
    traceparent_of(&tracing::Span::current()).or_else(|| fallback.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_becomes_a_remote_context_and_back() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = parse_traceparent(value).unwrap();
        assert!(context.is_remote() && context.is_sampled());
        assert_eq!(format_traceparent(&context), value);
        assert!(parse_traceparent("00-zz").is_none());
    }
}

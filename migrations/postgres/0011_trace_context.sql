-- Distributed tracing.
--
-- investigations.traceparent: the W3C trace context (`traceparent` header
-- value) the investigation was dispatched under, taken from the request or
-- started by the API. Every worker segment of the run continues this trace,
-- so one investigation is one trace across processes and time. NULL for
-- investigations dispatched before this migration. Set at dispatch and never
-- changed.
ALTER TABLE investigations ADD COLUMN traceparent TEXT;

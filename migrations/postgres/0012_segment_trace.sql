-- The previous worker segment's span.
--
-- investigations.segment_traceparent: the W3C trace context of the
-- `invoke_agent` span of the last worker segment that ran the
-- investigation, written by that segment under its lease (fenced by
-- lease_epoch). The next segment links its own span to it, so a trace shows
-- which segment followed which across approvals, rescues and restarts.
-- NULL until a segment with telemetry on records one.
ALTER TABLE investigations ADD COLUMN segment_traceparent TEXT;

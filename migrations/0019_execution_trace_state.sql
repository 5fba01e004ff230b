-- The W3C tracestate the request that started an execution brought beside its traceparent (design §12), so the
-- run's upstream and model calls carry it too. NULL when there was none (or it was not a valid list).
ALTER TABLE executions ADD COLUMN trace_state TEXT;

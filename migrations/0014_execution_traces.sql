-- W3C trace id of the request that started an execution (design §12), so the run's upstream and model calls
-- carry the caller's trace in their traceparent. NULL for runs no request started: they get a trace of their own.
ALTER TABLE executions ADD COLUMN trace_id TEXT;

-- The W3C tracestate of the request that started an execution (design §12). (PostgreSQL twin of migrations/0019.)
ALTER TABLE executions ADD COLUMN trace_state TEXT COLLATE "C";

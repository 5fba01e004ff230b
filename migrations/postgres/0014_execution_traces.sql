-- W3C trace id of the request that started an execution (design §12). (PostgreSQL twin of migrations/0014.)
ALTER TABLE executions ADD COLUMN trace_id TEXT COLLATE "C";

-- The per-agent run index with narrow entries (design §9: callback ingest is bound by what each write dirties).
-- Its entries were (tenant_id, agent_id, created_at, id), ~75 bytes, inserted at as many places as there are agents:
-- its leaves filled and were rebalanced with their siblings over and over, almost two WAL pages per run (bench/RESULTS.md,
-- "the per-agent run index"). Now (agent_id, julianday(created_at)), ~18 bytes: an agent's runs in time order all the
-- same (julianday is monotonic in created_at, which is always YYYY-MM-DDTHH:MM:SS.sssZ), the tenant checked on the row
-- (an agent belongs to one tenant). The agent-filtered list orders and bounds by julianday(created_at) first, which
-- SQLite needs to use an index on an expression.
DROP INDEX executions_by_agent;
CREATE INDEX executions_by_agent ON executions (agent_id, julianday(created_at));

-- PostgreSQL twin of migrations/0021, which narrows SQLite's per-agent run index to (agent_id, julianday(created_at)).
-- PostgreSQL keeps executions_by_agent (tenant_id, agent_id, created_at, id) from 0020: its lists order by created_at
-- and id as before, and it has no julianday. The version is recorded so both dialects stay at the same schema version.
SELECT 1;

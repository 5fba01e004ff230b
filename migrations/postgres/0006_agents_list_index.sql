-- GET /agents walks a tenant's agents newest first and skips DELETED ones. On PostgreSQL the index carries the
-- order and the state; the summary stays in the table (a B-tree entry is limited to about 2.7 kB, a summary is not).
CREATE INDEX agents_list ON agents (tenant_id, created_at DESC, id DESC) INCLUDE (state);

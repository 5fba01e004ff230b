-- GET /agents walks a tenant's agents newest first and skips DELETED ones. This index is in that
-- order and covers the query (state for the filter, summary for the body), so a list request
-- neither sorts nor visits the table rows.
CREATE INDEX agents_list ON agents (tenant_id, created_at DESC, id DESC, state, summary);

-- GET /agents walks a tenant's agents newest first and skips DELETED ones: an index in that order
-- avoids sorting on every list request.
CREATE INDEX agents_by_tenant_created ON agents (tenant_id, created_at DESC, id DESC);

-- Fewer and cheaper index entries per run, callback and audit row. (PostgreSQL twin of migrations/0020: its B-tree
-- too appends to the right-most leaf fastest, and reads an ascending index backwards for ORDER BY … DESC.)
DROP INDEX executions_by_status;
DROP INDEX executions_by_tenant_created;
CREATE INDEX executions_by_tenant_created ON executions (tenant_id, created_at, id);
DROP INDEX executions_by_agent;
CREATE INDEX executions_by_agent ON executions (tenant_id, agent_id, created_at, id);
DROP INDEX callbacks_by_entity;
CREATE INDEX callbacks_by_entity ON callbacks (tenant_id, entity_type, entity_id, created_at, id);
DROP INDEX callbacks_by_number;
CREATE INDEX callbacks_by_number ON callbacks (tenant_id, entity_number, created_at, id) WHERE entity_number IS NOT NULL;
DROP INDEX callbacks_by_created;
CREATE INDEX callbacks_by_created ON callbacks (tenant_id, created_at, id);
DROP INDEX audit_log_by_tenant_at;
CREATE INDEX audit_log_by_tenant_at ON audit_log (tenant_id, at, id);
DROP INDEX audit_log_by_resource;
CREATE INDEX audit_log_by_resource ON audit_log (tenant_id, resource_type, resource_id, at, id);
DROP INDEX audit_log_by_key;
CREATE INDEX audit_log_by_key ON audit_log (tenant_id, key_id, at, id);

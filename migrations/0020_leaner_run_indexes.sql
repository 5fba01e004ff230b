-- Fewer and cheaper index entries per run, callback and audit row (design §9: callback ingest is bound by
-- what each write dirties). The newest-first list indexes of the three tables every ingest and run appends to
-- are rebuilt ascending: SQLite reads them backwards for ORDER BY … DESC all the same, but a new row now lands
-- on the right-most leaf, which SQLite appends to without rebalancing, where a descending index put it on the
-- left-most one and split and rebalanced it with its siblings. executions_by_status (status, created_at) moved
-- on every status change and served only the reaper, which executions_leases serves better (in lease order,
-- without sorting); queued runs have executions_runnable. executions_by_agent gains the id, so one agent's runs
-- page newest first from it alone (it left the planner an ordered scan of all the tenant's runs). callbacks_by_number
-- only ever answers `entity_number = ?`, which no callback without a number matches, so those stay out of it.
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

-- A per-tenant change counter on agents (design §9, inbound events): matching keeps the tenant's compiled
-- TRIGGERED agents in memory and reuses them while this number is unchanged, instead of reading every agent's
-- (id, version) on each event. Triggers bump it on every insert, delete and update of a column matching reads,
-- so every writer (the API, the scheduler, another process on the same file) invalidates the cache in the same
-- transaction as its change. The scheduler's next_run_at updates do not touch it.
CREATE TABLE agent_generations (
    tenant_id  INTEGER PRIMARY KEY REFERENCES tenants(id),
    generation INTEGER NOT NULL
);

CREATE TRIGGER agents_generation_insert AFTER INSERT ON agents BEGIN
    INSERT OR IGNORE INTO agent_generations (tenant_id, generation) VALUES (NEW.tenant_id, 0);
    UPDATE agent_generations SET generation = generation + 1 WHERE tenant_id = NEW.tenant_id;
END;

CREATE TRIGGER agents_generation_delete AFTER DELETE ON agents BEGIN
    INSERT OR IGNORE INTO agent_generations (tenant_id, generation) VALUES (OLD.tenant_id, 0);
    UPDATE agent_generations SET generation = generation + 1 WHERE tenant_id = OLD.tenant_id;
END;

CREATE TRIGGER agents_generation_update AFTER UPDATE OF tenant_id, state, trigger_type, entity_type, version, document ON agents BEGIN
    INSERT OR IGNORE INTO agent_generations (tenant_id, generation) VALUES (NEW.tenant_id, 0);
    UPDATE agent_generations SET generation = generation + 1 WHERE tenant_id IN (NEW.tenant_id, OLD.tenant_id);
END;

-- Callback retention (NEO_CALLBACK_RETENTION_DAYS): the pruning pass finds, by age across tenants, the old
-- callbacks that started no run (those that did stay while their executions answer /executions/{id}/callback).
CREATE INDEX callbacks_prunable ON callbacks (created_at) WHERE started_executions = '[]';

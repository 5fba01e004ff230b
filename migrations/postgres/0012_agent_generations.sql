-- A per-tenant change counter on agents (design §9, inbound events): matching keeps the tenant's compiled
-- TRIGGERED agents in memory and reuses them while this number is unchanged. Triggers bump it on every insert,
-- delete and update of a column matching reads, in the writer's own transaction, on every node. The
-- scheduler's next_run_at updates do not touch it. (PostgreSQL twin of migrations/0012.)
CREATE TABLE agent_generations (
    tenant_id  BIGINT PRIMARY KEY REFERENCES tenants(id),
    generation BIGINT NOT NULL
);

CREATE FUNCTION agents_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO agent_generations (tenant_id, generation) VALUES (NEW.tenant_id, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET generation = agent_generations.generation + 1;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.tenant_id <> NEW.tenant_id) THEN
        INSERT INTO agent_generations (tenant_id, generation) VALUES (OLD.tenant_id, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET generation = agent_generations.generation + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER agents_generation_insert AFTER INSERT ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_bump_generation();
CREATE TRIGGER agents_generation_delete AFTER DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_bump_generation();
CREATE TRIGGER agents_generation_update AFTER UPDATE OF tenant_id, state, trigger_type, entity_type, version, document ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_bump_generation();

-- Callback retention (NEO_CALLBACK_RETENTION_DAYS): old callbacks that started no run, by age across tenants.
CREATE INDEX callbacks_prunable ON callbacks (created_at) WHERE started_executions = '[]';

-- Compact match verdicts (design §9, inbound events): the ordered agents a callback was matched against are
-- stored once per distinct list, not in every callback. A callback with `agent_set` keeps in `workflow_matches`
-- one verdict letter per agent of that set, in its order (m matched, t target_changes, c conditions, e error,
-- o run_only_once_per_entity), and `failed_to_match_workflow_ids` is '[]': the failed ids are the set's agents
-- whose letter is not m. Callbacks stored before keep `[[workflow_id, version, verdict], …]` and their ids
-- (agent_set NULL). (PostgreSQL twin of migrations/0018.)
CREATE TABLE callback_agent_sets (
    tenant_id  BIGINT NOT NULL REFERENCES tenants(id),
    digest     TEXT COLLATE "C" NOT NULL,      -- hex of the first 16 bytes of SHA-256 of `agents`
    agents     TEXT COLLATE "C" NOT NULL,      -- JSON [[workflow_id, version], …], in execution order
    agent_ids  TEXT COLLATE "C" NOT NULL,      -- JSON [workflow_id, …], the same order (the list filter by agent_id)
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, digest)
);

ALTER TABLE callbacks ADD COLUMN agent_set TEXT COLLATE "C";  -- callback_agent_sets.digest of this tenant; NULL: the old form

-- A set goes with retention once no callback refers to it (this index answers that).
CREATE INDEX callbacks_by_agent_set ON callbacks (tenant_id, agent_set) WHERE agent_set IS NOT NULL;

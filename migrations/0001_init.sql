-- Foundation schema: tenants, API keys, agents and their version history.
-- Timestamps are TEXT, RFC 3339 UTC with millisecond precision and Z (2026-11-29T17:00:00.123Z),
-- so string order is time order. JSON documents are TEXT.

CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id                 INTEGER PRIMARY KEY,
    tenant_id          INTEGER NOT NULL REFERENCES tenants(id),
    name               TEXT NOT NULL,
    env                TEXT NOT NULL,
    key_hash           BLOB NOT NULL UNIQUE,
    last4              TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    perm_agents        TEXT NOT NULL CHECK (perm_agents IN ('none', 'read', 'read_write')),
    perm_executions    TEXT NOT NULL CHECK (perm_executions IN ('none', 'read', 'read_write')),
    perm_approvals     TEXT NOT NULL CHECK (perm_approvals IN ('none', 'read', 'read_write')),
    perm_external_apis TEXT NOT NULL CHECK (perm_external_apis IN ('none', 'read', 'read_write')),
    actor              TEXT NOT NULL CHECK (actor IN ('user', 'agent')),
    agent_id           INTEGER,
    test_mode          INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    last_used_at       TEXT,
    expires_at         TEXT,
    revoked_at         TEXT,
    rotated_from       INTEGER REFERENCES api_keys(id)
);

CREATE INDEX api_keys_by_tenant_created ON api_keys (tenant_id, created_at DESC, id DESC);

CREATE TABLE agents (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    name          TEXT NOT NULL,
    description   TEXT,
    group_name    TEXT,
    group_order   INTEGER,
    state         TEXT NOT NULL,
    trigger_type  TEXT NOT NULL,
    autonomy_type TEXT NOT NULL,
    entity_type   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    document      TEXT NOT NULL, -- the full AgentDetail JSON
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE INDEX agents_by_tenant_state_created ON agents (tenant_id, state, created_at DESC, id DESC);

CREATE TABLE agent_versions (
    agent_id   INTEGER NOT NULL REFERENCES agents(id),
    tenant_id  INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (agent_id, version)
);

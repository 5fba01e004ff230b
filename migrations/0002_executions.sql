-- Executions (agent runs and direct external-API invokes), their steps and artifacts, and
-- technician-in-the-loop (TIL) requests. Shared by the agents, executor and executions issues.

CREATE TABLE executions (
    id                             TEXT PRIMARY KEY,              -- execution_id, a UUIDv4
    tenant_id                      INTEGER NOT NULL REFERENCES tenants(id),
    agent_id                       INTEGER REFERENCES agents(id), -- NULL for a direct external-API invoke
    agent_name                     TEXT,
    kind                           TEXT NOT NULL DEFAULT 'agent_run' CHECK (kind IN ('agent_run', 'external_api_invoke')),
    status                         TEXT NOT NULL CHECK (status IN ('queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'cancelled')),
    entity_id                      TEXT,
    entity_number                  TEXT,
    additional_custom_instructions TEXT,
    message_for_dashboard          TEXT,
    error                          TEXT,
    input                          TEXT,                          -- JSON object
    test_mode                      INTEGER NOT NULL DEFAULT 0,
    retry_of                       TEXT REFERENCES executions(id),
    created_by_key_id              INTEGER,
    created_at                     TEXT NOT NULL,
    updated_at                     TEXT NOT NULL,
    started_at                     TEXT,
    finished_at                    TEXT,
    seconds_spent                  REAL
);

CREATE INDEX executions_by_tenant_created ON executions (tenant_id, created_at DESC, id DESC);
CREATE INDEX executions_by_agent ON executions (tenant_id, agent_id, created_at DESC);
CREATE INDEX executions_by_status ON executions (status, created_at);

CREATE TABLE execution_steps (
    id             INTEGER PRIMARY KEY,                            -- step_id
    execution_id   TEXT NOT NULL REFERENCES executions(id),
    tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
    seq            INTEGER NOT NULL,
    type           TEXT NOT NULL CHECK (type IN ('TOOL_CALL', 'TOOL_RESULT', 'THOUGHT', 'FINAL_MESSAGE', 'ERROR')),
    message        TEXT,
    is_error       INTEGER NOT NULL DEFAULT 0,
    tool_call_id   TEXT,
    tool_type_name TEXT,
    data           TEXT,                                           -- JSON, redacted: never a secret
    created_at     TEXT NOT NULL,
    UNIQUE (execution_id, seq)
);

CREATE TABLE artifacts (
    id           TEXT PRIMARY KEY,                                 -- UUIDv4
    execution_id TEXT NOT NULL REFERENCES executions(id),
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL DEFAULT 'markdown',
    name         TEXT NOT NULL,
    content      TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE INDEX artifacts_by_execution ON artifacts (execution_id, created_at);

CREATE TABLE til_requests (
    id                  INTEGER PRIMARY KEY,
    tenant_id           INTEGER NOT NULL REFERENCES tenants(id),
    agent_id            INTEGER REFERENCES agents(id),
    agent_name          TEXT,
    kind                TEXT NOT NULL CHECK (kind IN ('agent_update', 'external_api_call', 'config_write')),
    status              TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    comment             TEXT NOT NULL,                             -- what is asked, for the approver
    requested_for       TEXT NOT NULL,                             -- JSON: the held change, redacted for display
    payload             TEXT NOT NULL,                             -- what approval applies; SecretBox-sealed when it holds secrets
    approvers           TEXT NOT NULL DEFAULT '[]',                -- JSON [{user_id, user_name}]
    execution_id        TEXT REFERENCES executions(id),
    step_seq            INTEGER,                                   -- the execution step waiting on this request
    session_id          TEXT,
    ticket_id           TEXT,
    ticket_number       TEXT,
    base_version        INTEGER,                                   -- agent version the held patch was made against
    requested_by_key_id INTEGER REFERENCES api_keys(id),
    decided_by          TEXT,                                      -- JSON {id, name}
    note                TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    decided_at          TEXT,
    expires_at          TEXT NOT NULL
);

CREATE INDEX til_by_tenant_created ON til_requests (tenant_id, created_at DESC, id DESC);
CREATE INDEX til_by_status ON til_requests (status, expires_at);

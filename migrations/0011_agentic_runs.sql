-- AGENTIC runs (design §10): model providers, each execution's token usage, and the loop's transcript so a
-- run that waits for an approval resumes where it stopped.

-- A provider is one JSON document whose api_key is SecretBox-sealed (context = tenant + name), never plaintext.
CREATE TABLE llm_providers (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    document   TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE INDEX llm_providers_by_tenant_created ON llm_providers (tenant_id, created_at DESC, id DESC);
-- One default per tenant, enforced by the store.
CREATE UNIQUE INDEX llm_providers_one_default ON llm_providers (tenant_id) WHERE is_default = 1;

-- Model calls and tokens per execution (0 for runs that call no model).
ALTER TABLE executions ADD COLUMN llm_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE executions ADD COLUMN completion_tokens INTEGER NOT NULL DEFAULT 0;

-- The loop's state while an AGENTIC run is unfinished: the transcript sent to the model (redacted tool results
-- only, never a secret), the counters the caps read, and the tool calls of the current turn. Removed when it ends.
CREATE TABLE agent_loops (
    execution_id TEXT PRIMARY KEY REFERENCES executions(id),
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    state        TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

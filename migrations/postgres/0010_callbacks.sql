-- Inbound events (design §9): each ingested callback with its match audit, the first callback run of each
-- agent per entity (run_only_once_per_entity), signed-inbound endpoints and the signatures they accepted.

CREATE TABLE callbacks (
    id                           TEXT COLLATE "C" PRIMARY KEY,                 -- callback_id, a UUIDv4
    tenant_id                    BIGINT NOT NULL REFERENCES tenants(id),
    event_id                     TEXT COLLATE "C",                             -- the sender's dedupe key, unique per tenant
    entity_type                  TEXT COLLATE "C" NOT NULL,                    -- lowercase, as agents spell it
    entity_id                    TEXT COLLATE "C" NOT NULL,
    entity_number                TEXT COLLATE "C",
    change_type                  TEXT COLLATE "C" NOT NULL CHECK (change_type IN ('CREATE', 'UPDATE')),
    entity                       TEXT COLLATE "C" NOT NULL,                    -- JSON object, as received (mapped for PSA formats)
    changes                      TEXT COLLATE "C" NOT NULL,                    -- JSON [{field, old, new}] the matching used
    changes_from                 TEXT COLLATE "C" NOT NULL CHECK (changes_from IN ('event', 'previous_callback', 'none')),
    source                       TEXT COLLATE "C" NOT NULL,                    -- JSON {type: api|inbound, key_id | endpoint_id, format}
    created_in_psa_at            TEXT COLLATE "C",
    matcher_run_id               TEXT COLLATE "C" NOT NULL,
    started_workflow_ids         TEXT COLLATE "C" NOT NULL,                    -- JSON [int]
    failed_to_match_workflow_ids TEXT COLLATE "C" NOT NULL,                    -- JSON [int]
    workflow_matches             TEXT COLLATE "C" NOT NULL,                    -- JSON [{workflow_id, …, match_details}]
    started_executions           TEXT COLLATE "C" NOT NULL,                    -- JSON [{workflow_id, execution_id}]
    run_after                    TEXT COLLATE "C",                             -- when the started runs may begin (sleep setting)
    error_message                TEXT COLLATE "C",
    created_at                   TEXT COLLATE "C" NOT NULL,
    finished_processing_at       TEXT COLLATE "C" NOT NULL,
    UNIQUE (tenant_id, event_id)                                   -- NULL event ids never collide
);

-- The read API's indexed filters: entity_type + entity_id, entity_number, or a time window.
CREATE INDEX callbacks_by_entity ON callbacks (tenant_id, entity_type, entity_id, created_at DESC, id DESC);
CREATE INDEX callbacks_by_number ON callbacks (tenant_id, entity_number, created_at DESC, id DESC);
CREATE INDEX callbacks_by_created ON callbacks (tenant_id, created_at DESC, id DESC);

-- The first run each agent got from a callback for each entity (run_only_once_per_entity reads it by entity).
CREATE TABLE callback_entity_runs (
    tenant_id    BIGINT NOT NULL REFERENCES tenants(id),
    entity_id    TEXT COLLATE "C" NOT NULL,
    agent_id     BIGINT NOT NULL REFERENCES agents(id),
    callback_id  TEXT COLLATE "C" NOT NULL REFERENCES callbacks(id),
    execution_id TEXT COLLATE "C" NOT NULL REFERENCES executions(id),
    created_at   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, entity_id, agent_id)     -- an agent has one entity type
);

-- Matching reads the ENABLED TRIGGERED agents of one entity type and their versions from this index alone.
CREATE INDEX agents_triggered ON agents (tenant_id, trigger_type, state, entity_type, id, version);

-- A queued run does not start before run_after (sleep_before_callback_processing_seconds); NULL = at once.
-- The runner claims queued runs in the order they became runnable, from this index alone (without it,
-- runs waiting for their run_after would be read on every claim).
ALTER TABLE executions ADD COLUMN run_after TEXT COLLATE "C";
CREATE INDEX executions_runnable ON executions (COALESCE(run_after, created_at)) WHERE status = 'queued';

-- Endpoints for PSAs that cannot send a Bearer key: POST /public-api/inbound/{id}, signed with the secret.
CREATE TABLE webhook_endpoints (
    id                TEXT COLLATE "C" PRIMARY KEY,                            -- endpoint_id, a UUIDv4 (it is in the URL)
    tenant_id         BIGINT NOT NULL REFERENCES tenants(id),
    name              TEXT COLLATE "C" NOT NULL,
    description       TEXT COLLATE "C",
    secret            TEXT COLLATE "C" NOT NULL,                               -- SecretBox-sealed; shown once at create
    secret_last4      TEXT COLLATE "C" NOT NULL,
    created_by_key_id BIGINT REFERENCES api_keys(id),
    created_at        TEXT COLLATE "C" NOT NULL,
    revoked_at        TEXT COLLATE "C",
    last_used_at      TEXT COLLATE "C"
);

CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id, created_at DESC, id DESC);

-- Signatures an endpoint accepted, kept while their timestamp is inside the tolerance: a replay is refused.
CREATE TABLE inbound_signatures (
    endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_endpoints(id),
    signature   TEXT COLLATE "C" NOT NULL,                                     -- the v1 hex that matched
    expires_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (endpoint_id, signature)
);

CREATE INDEX inbound_signatures_by_expiry ON inbound_signatures (expires_at);

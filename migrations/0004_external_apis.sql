-- External-API configs (design §5) and server settings. A config is one JSON document whose secret
-- values are SecretBox-sealed (AES-256-GCM, context = tenant + name + secret path); never plaintext.

CREATE TABLE external_apis (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id),
    name       TEXT NOT NULL,
    document   TEXT NOT NULL, -- the config JSON, secrets sealed
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE INDEX external_apis_by_tenant_created ON external_apis (tenant_id, created_at DESC, id DESC);

-- Server-wide key/value settings; `secret_key_check` holds a sealed known plaintext so a wrong
-- NEO_SECRET_KEY stops startup instead of failing later on every secret.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Several nodes on one PostgreSQL (design §11): what the nodes share besides the data. On SQLite (one node) these
-- tables stay empty: NEO_RATE_LIMIT_MODE=shared and NEO_OAUTH_REFRESH=shared count and cache in memory there.
-- (SQLite twin of migrations/postgres/0017.)

CREATE TABLE rate_limit_windows (
    tenant_id    INTEGER NOT NULL,
    budget       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    this_count   INTEGER NOT NULL,
    prev_count   INTEGER NOT NULL,
    checked_at   REAL NOT NULL,
    allowed      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, budget)
);

CREATE TABLE oauth_token_leases (
    key_hash     TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    holder       TEXT,
    lease_until  REAL,
    token_sealed TEXT,
    token_sha256 TEXT,
    refresh_at   REAL,
    expires_at   REAL,
    updated_at   REAL NOT NULL
);

-- Several nodes on one PostgreSQL (design §11): what the nodes share besides the data.
-- (PostgreSQL twin of migrations/0017.)

-- NEO_RATE_LIMIT_MODE=shared: one row per (tenant, budget) — 'keys' (every key of the tenant) and 'inbound' (its
-- signed webhook endpoints) — holding the sliding window's two fixed-window counts. Each request runs one
-- INSERT … ON CONFLICT DO UPDATE … RETURNING on the database's clock, so every node counts into the same window.
-- No foreign key: a tenant is never deleted, and the check is on every authenticated request.
-- UNLOGGED: a counter is not worth a WAL flush (and a wait for the synchronous standby) on every request. Its
-- commits do not wait for the disk; a crash or a failover empties the table, and every tenant's window starts
-- again from zero (at worst one extra window's worth of requests gets through once).
CREATE UNLOGGED TABLE rate_limit_windows (
    tenant_id    BIGINT NOT NULL,
    budget       TEXT COLLATE "C" NOT NULL,
    window_start BIGINT NOT NULL,
    this_count   BIGINT NOT NULL,
    prev_count   BIGINT NOT NULL,
    checked_at   DOUBLE PRECISION NOT NULL,
    allowed      BOOLEAN NOT NULL,
    PRIMARY KEY (tenant_id, budget)
);

-- NEO_OAUTH_REFRESH=shared: per OAuth2 credential set (a hash of tenant, config, token URL and parameters) the node
-- fetching a token holds a short lease; the token it got is kept sealed with the secret key (never plain) with its
-- times on the database clock (epoch seconds), so the other nodes read it instead of fetching their own.
CREATE TABLE oauth_token_leases (
    key_hash     TEXT COLLATE "C" PRIMARY KEY,
    tenant       TEXT COLLATE "C" NOT NULL,
    holder       TEXT COLLATE "C",
    lease_until  DOUBLE PRECISION,
    token_sealed TEXT COLLATE "C",
    token_sha256 TEXT COLLATE "C",
    refresh_at   DOUBLE PRECISION,
    expires_at   DOUBLE PRECISION,
    updated_at   DOUBLE PRECISION NOT NULL
);

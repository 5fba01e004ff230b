-- Operations (design §12): Idempotency-Key on every POST, and the append-only audit log.

-- One row per (tenant, Idempotency-Key) for 24 h. While the first request runs, status is NULL and
-- locked_until bounds how long a crashed node can hold the key; then the answer is kept (status, headers,
-- body sealed with the secret key: an answer may hold a secret shown once) and a replay returns it. fingerprint = SHA-256 of method, path, test mode and body (hex).
-- 5xx answers are not kept: the row is deleted and the key is free again.
CREATE TABLE idempotency_keys (
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    locked_until TEXT,
    status       INTEGER,
    headers      TEXT,
    body         TEXT,
    PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;

CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- One row per write that changed something: API writes, CLI key operations, TIL decisions, seed loads.
-- route is the route template (never a raw path); the hashes are SHA-256 (hex) of the stored resource
-- before and after the write (stored forms hold secrets only sealed, so no hash is of a plaintext secret).
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    at            TEXT NOT NULL,
    key_id        INTEGER,
    actor         TEXT NOT NULL,
    method        TEXT NOT NULL,
    route         TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    status        INTEGER NOT NULL,
    request_id    TEXT,
    before_sha256 TEXT,
    after_sha256  TEXT
);

CREATE INDEX audit_log_by_tenant_at ON audit_log (tenant_id, at DESC, id DESC);
CREATE INDEX audit_log_by_resource ON audit_log (tenant_id, resource_type, resource_id, at DESC, id DESC);
CREATE INDEX audit_log_by_key ON audit_log (tenant_id, key_id, at DESC, id DESC);

-- Append-only: nothing, not even a direct SQL session through this schema, changes or removes a row.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted');
END;

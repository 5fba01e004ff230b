import Store

/// SQL of `idempotency_keys`: one row per (tenant, Idempotency-Key) (migration 0013).
enum IdempotencyRecords {
    /// What the table holds for a key that is not expired.
    enum Existing {
        case none
        /// The first request with this key is still running (its lease has not run out).
        case inFlight(fingerprint: String)
        case done(fingerprint: String, Kept)
    }

    /// A kept answer as stored: its body sealed (`IdempotencyKeys` opens it).
    struct Kept {
        let status: Int
        let headers: String
        let sealedBody: String
        let requestId: String
    }

    /// Reads the key's live row, or takes the key for `requestId`: an expired row, or an in-flight one whose
    /// lease ran out (its node died), is replaced. Runs inside the caller's write transaction.
    static func claim(tenantId: Int64, key: String, fingerprint: String, requestId: String, now: String, lockedUntil: String,
                      expiresAt: String, _ db: Database) throws -> Existing {
        if let row = try db.queryOne("""
            SELECT fingerprint, request_id, expires_at, locked_until, status, headers, body FROM idempotency_keys
            WHERE tenant_id = ? AND key = ?
            """, [.int(tenantId), .text(key)]) {
            let expired = (row.string("expires_at") ?? "") <= now
            if !expired, let status = row.int("status") {
                return .done(fingerprint: row.string("fingerprint") ?? "", Kept(
                    status: Int(status), headers: row.string("headers") ?? "[]", sealedBody: row.string("body") ?? "",
                    requestId: row.string("request_id") ?? ""))
            }
            if !expired, (row.string("locked_until") ?? "") > now {
                return .inFlight(fingerprint: row.string("fingerprint") ?? "")
            }
            try db.execute("DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ?", [.int(tenantId), .text(key)])
        }
        try db.execute("""
            INSERT INTO idempotency_keys (tenant_id, key, fingerprint, request_id, created_at, expires_at, locked_until)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, [.int(tenantId), .text(key), .text(fingerprint), .text(requestId), .text(now), .text(expiresAt), .text(lockedUntil)])
        return .none
    }

    /// Keeps the answer of the request that holds the key (fenced by its request id: a request whose lease
    /// ran out and whose key another took stores nothing).
    static func complete(tenantId: Int64, key: String, requestId: String, _ kept: Kept, _ db: Database) throws {
        try db.execute("""
            UPDATE idempotency_keys SET status = ?, headers = ?, body = ?, locked_until = NULL
            WHERE tenant_id = ? AND key = ? AND request_id = ?
            """, [.int(Int64(kept.status)), .text(kept.headers), .text(kept.sealedBody), .int(tenantId), .text(key), .text(requestId)])
    }

    /// Frees the key (a 5xx answer is not kept).
    static func release(tenantId: Int64, key: String, requestId: String, _ db: Database) throws {
        try db.execute("DELETE FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND request_id = ?",
                       [.int(tenantId), .text(key), .text(requestId)])
    }

    /// Deletes up to `limit` rows expired before `now`; returns how many.
    @discardableResult
    static func prune(now: String, limit: Int, _ db: Database) throws -> Int {
        try db.execute("""
            DELETE FROM idempotency_keys WHERE (tenant_id, key) IN
                (SELECT tenant_id, key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)
            """, [.text(now), .int(Int64(limit))])
    }
}

import Basics
import Store

/// SQL of the append-only `audit_log` (migration 0013: triggers refuse UPDATE and DELETE).
public enum AuditRecords {
    /// The table and key column of a resource's stored row (fixed strings, never input).
    private static func location(_ resource: AuditResource) -> (table: String, column: String, value: SQLValue)? {
        switch resource {
        case .agent(let id): ("agents", "id", .int(id))
        case .externalAPI(let name): ("external_apis", "name", .text(name))
        case .llmProvider(let name): ("llm_providers", "name", .text(name))
        case .apiKey(let id): ("api_keys", "id", .int(id))
        case .settings: nil
        case .scheduledWork(let id): ("scheduled_work", "id", .int(id))
        case .webhookEndpoint(let id): ("webhook_endpoints", "id", .text(id))
        case .execution(let id): ("executions", "id", .text(id))
        case .tilRequest(let id): ("til_requests", "id", .int(id))
        case .callback(let id): ("callbacks", "id", .text(id))
        }
    }

    /// SHA-256 (hex) of the resource's stored row, every column in order, as the database holds it; nil when
    /// there is none. Stored rows hold secrets only sealed (random nonces) or hashed, so no digest is of a
    /// plaintext secret.
    public static func digest(_ resource: AuditResource, tenantId: Int64, _ db: Database) throws -> String? {
        let bytes: [UInt8]?
        if let (table, column, value) = location(resource) {
            bytes = try db.serializedRow("SELECT * FROM \(table) WHERE tenant_id = ? AND \(column) = ?", [.int(tenantId), value])
        } else {
            bytes = try db.serializedRow("SELECT * FROM tenant_settings WHERE tenant_id = ?", [.int(tenantId)])
        }
        guard let bytes else { return nil }
        return SHA256.hexDigest(bytes)
    }

    /// Appends one row in the caller's transaction; `after` is read here, so call it once the write is done.
    /// Nothing is appended when the row is the same before and after.
    public static func append(_ source: AuditSource, tenantId: Int64, _ resource: AuditResource, status: Int, before: String?,
                              at: String = Timestamp.now(), _ db: Database) throws {
        let after = try digest(resource, tenantId: tenantId, db)
        // A write that left the stored row as it was changed nothing: no row (a repeated revoke, say).
        if before != nil && before == after { return }
        try db.execute("""
            INSERT INTO audit_log (tenant_id, at, key_id, actor, method, route, resource_type, resource_id, status, request_id,
                                   before_sha256, after_sha256)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.int(tenantId), .text(at), source.keyId.map { .int($0) } ?? .null, .text(source.actor), .text(source.method),
                  .text(source.route), .text(resource.type), resource.id.map { .text($0) } ?? .null, .int(Int64(status)),
                  source.requestId.map { .text($0) } ?? .null, before.map { .text($0) } ?? .null, after.map { .text($0) } ?? .null])
    }

    /// The filters of `GET /audit-log`.
    struct Filter {
        var keyId: Int64?
        var resourceType: String?
        var resourceId: String?
        var since: String?
        var until: String?
    }

    /// One newest-first page of the tenant's log.
    static func list(tenantId: Int64, _ filter: Filter, page: Page, _ db: Database) throws -> ([AuditEntry], PageInfo) {
        var sql = """
            SELECT id, at, key_id, actor, method, route, resource_type, resource_id, status, request_id, before_sha256, after_sha256
            FROM audit_log WHERE tenant_id = ?
            """
        var params: [SQLValue] = [.int(tenantId)]
        if let v = filter.keyId { sql += " AND key_id = ?"; params.append(.int(v)) }
        if let v = filter.resourceType { sql += " AND resource_type = ?"; params.append(.text(v)) }
        if let v = filter.resourceId { sql += " AND resource_id = ?"; params.append(.text(v)) }
        if let v = filter.since { sql += " AND at >= ?"; params.append(.text(v)) }
        if let v = filter.until { sql += " AND at < ?"; params.append(.text(v)) }
        let (clause, keyset) = page.keysetClause(createdAt: "at", id: "id")
        sql += clause + " ORDER BY at DESC, id DESC LIMIT ?"
        let rows = try db.query(sql, params + keyset + [.int(Int64(page.size + 1))])
        let entries = rows.map { row in
            AuditEntry(id: row.int("id") ?? 0, at: row.string("at") ?? "", keyId: row.int("key_id"), actor: row.string("actor") ?? "",
                       method: row.string("method") ?? "", route: row.string("route") ?? "", resourceType: row.string("resource_type") ?? "",
                       resourceId: row.string("resource_id"), status: Int(row.int("status") ?? 0), requestId: row.string("request_id"),
                       beforeSHA256: row.string("before_sha256"), afterSHA256: row.string("after_sha256"))
        }
        return page.finish(entries) { ($0.at, String($0.id)) }
    }
}

extension RequestContext {
    /// The audit row of this request's write, appended in its transaction `db`: `before` is
    /// `AuditRecords.digest` of the resource taken before the write (nil for a create).
    func audit(_ db: Database, status: Int, _ resource: AuditResource, before: String?) throws {
        try AuditRecords.append(.request(self), tenantId: caller.tenantId, resource, status: status, before: before, db)
    }

    /// The resource's digest before a write, for `audit`.
    func auditDigest(_ resource: AuditResource, _ db: Database) throws -> String? {
        try AuditRecords.digest(resource, tenantId: caller.tenantId, db)
    }
}

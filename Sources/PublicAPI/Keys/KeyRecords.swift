import Basics
import Foundation
import NeoJSON
import Store

/// SQL for tenants and API keys. Keys are stored as a SHA-256 hash and their last 4 characters;
/// every query names its tenant except the lookups by hash, which find the tenant.
enum KeyRecords {
    static let columns = "id, tenant_id, name, env, last4, role, perm_agents, perm_executions, perm_approvals, perm_external_apis, perm_callbacks, actor, agent_id, test_mode, created_at, last_used_at, expires_at, revoked_at, rotated_from"

    static func permissionColumn(_ group: PermissionGroup) -> String { "perm_\(group.rawValue)" }

    // MARK: tenants

    static func tenant(id: Int64, _ db: Database) throws -> Tenant? {
        try db.queryOne("SELECT id, name, created_at FROM tenants WHERE id = ?", [.int(id)]).map(Tenant.init)
    }

    static func tenantId(named name: String, _ db: Database) throws -> Int64? {
        try db.queryOne("SELECT id FROM tenants WHERE name = ?", [.text(name)])?.int("id")
    }

    static func insertTenant(named name: String, now: String, _ db: Database) throws -> Int64 {
        try db.insertReturningID("INSERT INTO tenants (name, created_at) VALUES (?, ?)", [.text(name), .text(now)])
    }

    /// Every tenant's name, oldest first.
    static func tenantNames(_ db: Database) throws -> [String] {
        try db.query("SELECT name FROM tenants ORDER BY id").compactMap { $0.string("name") }
    }

    // MARK: keys

    /// Stores a key (its hash and last 4 characters only); returns the stored row.
    static func insert(_ spec: KeySpec, tenantId: Int64, key: String, rotatedFrom: Int64?, now: String, _ db: Database) throws -> APIKey {
        let env = String(key.split(separator: "_")[2])
        let id = try db.insertReturningID("""
            INSERT INTO api_keys (tenant_id, name, env, key_hash, last4, role, perm_agents, perm_executions,
              perm_approvals, perm_external_apis, perm_callbacks, actor, agent_id, test_mode, created_at, expires_at, rotated_from)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.int(tenantId), .text(spec.name), .text(env), .blob(SHA256.hash(Array(key.utf8))), .text(String(key.suffix(4))),
                  .text(spec.role.rawValue)] + PermissionGroup.allCases.map { .text(spec.permissions[$0, default: .none].rawValue) }
                + [.text(spec.actor.rawValue), spec.agentId.map { .int($0) } ?? .null, .int(spec.testMode ? 1 : 0),
                   .text(now), spec.expiresAt.map { .text($0) } ?? .null, rotatedFrom.map { .int($0) } ?? .null])
        return try find(id, db)!
    }

    /// A key by id, in any tenant (the offline CLI) or in `tenantId`.
    static func find(_ id: Int64, tenantId: Int64? = nil, _ db: Database) throws -> APIKey? {
        if let tenantId {
            return try db.queryOne("SELECT \(columns) FROM api_keys WHERE id = ? AND tenant_id = ?", [.int(id), .int(tenantId)]).map(APIKey.init)
        }
        return try db.queryOne("SELECT \(columns) FROM api_keys WHERE id = ?", [.int(id)]).map(APIKey.init)
    }

    /// One page of a tenant's keys, newest first.
    static func list(tenantId: Int64, page: Page, _ db: Database) throws -> ([APIKey], PageInfo) {
        let (clause, params) = page.keysetClause()
        let rows = try db.query("SELECT \(columns) FROM api_keys WHERE tenant_id = ?\(clause) ORDER BY created_at DESC, id DESC LIMIT ?",
                                [.int(tenantId)] + params + [.int(Int64(page.size + 1))])
        let (items, info) = page.finish(rows) { ($0.string("created_at")!, String($0.int("id")!)) }
        return (items.map(APIKey.init), info)
    }

    /// Every key of a tenant, newest first (the CLI's table).
    static func all(tenantId: Int64, _ db: Database) throws -> [APIKey] {
        try db.query("SELECT \(columns) FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, id DESC", [.int(tenantId)]).map(APIKey.init)
    }

    /// Revokes at once (keeping an earlier revocation time); returns whether the key exists.
    @discardableResult
    static func revoke(_ id: Int64, tenantId: Int64? = nil, now: String, _ db: Database) throws -> Bool {
        if let tenantId {
            return try db.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND tenant_id = ?",
                                  [.text(now), .int(id), .int(tenantId)]) > 0
        }
        return try db.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", [.text(now), .int(id)]) > 0
    }

    /// A rotated key expires at `end`, or at its own earlier expiry.
    static func expire(_ id: Int64, by end: String, _ db: Database) throws {
        try db.execute("UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < ? THEN expires_at ELSE ? END WHERE id = ?",
                       [.text(end), .text(end), .int(id)])
    }

    static func hasUsableAdminKey(now: String, _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) LIMIT 1",
                        [.text(now)]) != nil
    }

    /// The key with this hash, in any tenant (a fixture's `keys[i].key`).
    static func find(hash: [UInt8], _ db: Database) throws -> APIKey? {
        try db.queryOne("SELECT \(columns) FROM api_keys WHERE key_hash = ?", [.blob(hash)]).map(APIKey.init)
    }

    /// Sets a key's name and rights to `spec` (a fixture that declares them otherwise).
    static func updateRights(_ id: Int64, to spec: KeySpec, _ db: Database) throws {
        try db.execute("""
            UPDATE api_keys SET name = ?, role = ?, perm_agents = ?, perm_executions = ?, perm_approvals = ?, perm_external_apis = ?,
              perm_callbacks = ?, actor = ?, agent_id = ?, test_mode = ?, expires_at = ? WHERE id = ?
            """, [.text(spec.name), .text(spec.role.rawValue)] + PermissionGroup.allCases.map { .text(spec.permissions[$0, default: .none].rawValue) }
                + [.text(spec.actor.rawValue), spec.agentId.map { .int($0) } ?? .null, .int(spec.testMode ? 1 : 0),
                   spec.expiresAt.map { .text($0) } ?? .null, .int(id)])
    }

    static func exists(hash: [UInt8], _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM api_keys WHERE key_hash = ?", [.blob(hash)]) != nil
    }

    /// The key with this hash, its stored hash (compared in constant time by the caller) and its tenant's name.
    static func authenticating(hash: [UInt8], _ db: Database) throws -> (key: APIKey, storedHash: [UInt8], tenantName: String)? {
        let prefixed = columns.split(separator: ",").map { "k." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
        guard let row = try db.queryOne("SELECT \(prefixed), k.key_hash, t.name AS tenant_name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = ?",
                                        [.blob(hash)]),
              let stored = row.blob("key_hash") else { return nil }
        return (APIKey(row: row), stored, row.string("tenant_name") ?? "")
    }

    static func touch(_ id: Int64, at time: String, _ db: Database) throws {
        try db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [.text(time), .int(id)])
    }
}

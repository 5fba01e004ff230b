import Basics
import Foundation
import NeoJSON
import Store

/// What a new key may do (design §4).
public struct KeySpec {
    public var name: String
    public var env = "prod"
    public var role = Principal.Role.member
    public var permissions: [PermissionGroup: AccessLevel] = Dictionary(uniqueKeysWithValues: PermissionGroup.allCases.map { ($0, .read) })
    public var actor = Principal.Actor.user
    public var agentId: Int64?
    public var testMode = false
    public var expiresAt: String?

    public init(name: String) { self.name = name }

    /// An admin key: read_write everywhere.
    public static func admin(name: String) -> KeySpec {
        var s = KeySpec(name: name)
        s.role = .admin
        s.permissions = Dictionary(uniqueKeysWithValues: PermissionGroup.allCases.map { ($0, .read_write) })
        return s
    }
}

/// Tenants and API keys in the store, and authentication of bearer keys with a short-lived cache.
public final class KeyService: @unchecked Sendable {
    let store: Store
    /// How long a looked-up key is trusted before the store is asked again (revocations through the
    /// API clear it at once; the offline CLI is seen within this time).
    let cacheSeconds: Double
    private let cache = Lock<[[UInt8]: (principal: Principal, expiresAt: Date?, fetched: Double)]>([:])
    private let lastUsedWrites = Lock<[Int64: Double]>([:])
    /// Where the last_used_at write runs: off the request's thread when set (authentication may run
    /// on an event loop, which must not wait for the writer).
    public var background: ((@escaping () -> Void) -> Void)?

    static let columns = "id, tenant_id, name, env, last4, role, perm_agents, perm_executions, perm_approvals, perm_external_apis, actor, agent_id, test_mode, created_at, last_used_at, expires_at, revoked_at, rotated_from"

    public init(store: Store, cacheSeconds: Double = 5) {
        self.store = store
        self.cacheSeconds = cacheSeconds
    }

    // MARK: keys

    /// `neo_sk_<env>_<secret>`: env lowercase alphanumerics, secret 16–128 base62 characters.
    public static func isWellFormed(_ key: String) -> Bool {
        let parts = key.split(separator: "_", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "neo", parts[1] == "sk" else { return false }
        let env = parts[2], secret = parts[3]
        return (1...16).contains(env.utf8.count) && env.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) }
            && (16...128).contains(secret.utf8.count)
            && secret.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }
    }

    static func newKey(env: String) -> String { "neo_sk_\(env)_\(Base62.encode(SecureRandom.bytes(32)))" }

    /// The id of the tenant named `name`, or nil when there is none.
    public func existingTenant(named name: String) throws -> Int64? {
        try store.read { db in try db.queryOne("SELECT id FROM tenants WHERE name = ?", [.text(name)])?.int("id") }
    }

    /// Every tenant's name, oldest first.
    public func tenantNames() throws -> [String] {
        try store.read { db in try db.query("SELECT name FROM tenants ORDER BY id").compactMap { $0.string("name") } }
    }

    /// Finds or creates a tenant by name; returns its id.
    public func tenant(named name: String) throws -> Int64 {
        try store.write { db in
            if let row = try db.queryOne("SELECT id FROM tenants WHERE name = ?", [.text(name)]) { return row.int("id")! }
            try db.execute("INSERT INTO tenants (name, created_at) VALUES (?, ?)", [.text(name), .text(Timestamp.now())])
            return db.lastInsertRowID
        }
    }

    /// Inserts a key for `tenantId`; returns its row and the full key (shown once).
    public func create(tenantId: Int64, spec: KeySpec, key explicitKey: String? = nil, rotatedFrom: Int64? = nil,
                       in db: Database? = nil) throws -> (JSONObject, String) {
        let key = explicitKey ?? KeyService.newKey(env: spec.env)
        let env = String(key.split(separator: "_")[2])
        let insert = { (db: Database) throws -> JSONObject in
            try db.execute("""
                INSERT INTO api_keys (tenant_id, name, env, key_hash, last4, role, perm_agents, perm_executions,
                  perm_approvals, perm_external_apis, actor, agent_id, test_mode, created_at, expires_at, rotated_from)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.int(tenantId), .text(spec.name), .text(env), .blob(SHA256.hash(Array(key.utf8))), .text(String(key.suffix(4))),
                      .text(spec.role.rawValue), .text(spec.permissions[.agents, default: .none].rawValue),
                      .text(spec.permissions[.executions, default: .none].rawValue),
                      .text(spec.permissions[.approvals, default: .none].rawValue),
                      .text(spec.permissions[.external_apis, default: .none].rawValue),
                      .text(spec.actor.rawValue), spec.agentId.map { .int($0) } ?? .null, .int(spec.testMode ? 1 : 0),
                      .text(Timestamp.now()), spec.expiresAt.map { .text($0) } ?? .null, rotatedFrom.map { .int($0) } ?? .null])
            let row = try db.queryOne("SELECT \(KeyService.columns) FROM api_keys WHERE id = ?", [.int(db.lastInsertRowID)])!
            return KeyService.view(row)
        }
        let view = try db.map(insert) ?? store.write(insert)
        return (view, key)
    }

    /// The public view of a key row (never the hash, never the secret).
    static func view(_ row: Row) -> JSONObject {
        func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return JSONObject([
            ("id", .string(String(row.int("id")!))), ("name", .string(row.string("name") ?? "")),
            ("env", .string(row.string("env") ?? "")), ("last4", .string(row.string("last4") ?? "")),
            ("role", .string(row.string("role") ?? "")),
            ("permissions", .object(JSONObject([
                ("agents", .string(row.string("perm_agents") ?? "none")),
                ("executions", .string(row.string("perm_executions") ?? "none")),
                ("approvals", .string(row.string("perm_approvals") ?? "none")),
                ("external_apis", .string(row.string("perm_external_apis") ?? "none")),
            ]))),
            ("actor", .string(row.string("actor") ?? "user")), ("agent_id", row.int("agent_id").map { .int($0) } ?? .null),
            ("test_mode", .bool(row.bool("test_mode") ?? false)),
            ("created_at", opt(row.string("created_at"))), ("expires_at", opt(row.string("expires_at"))),
            ("last_used_at", opt(row.string("last_used_at"))), ("revoked_at", opt(row.string("revoked_at"))),
            ("rotated_from", row.int("rotated_from").map { .string(String($0)) } ?? .null),
        ])
    }

    /// Forgets cached lookups so a revocation or rotation takes effect on the next request.
    public func invalidateCache() { cache.withLock { $0.removeAll() } }

    /// Whether any usable admin key exists.
    public func hasAdminKey() throws -> Bool {
        try store.read { db in
            try db.queryOne("SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) LIMIT 1",
                            [.text(Timestamp.now())]) != nil
        }
    }

    /// Whether this exact key is stored.
    public func exists(_ key: String) throws -> Bool {
        try store.read { db in try db.queryOne("SELECT 1 FROM api_keys WHERE key_hash = ?", [.blob(SHA256.hash(Array(key.utf8)))]) != nil }
    }

    // MARK: authentication

    /// Resolves `Authorization: Bearer …` to a principal, or throws 401 saying why.
    public func authenticate(_ ctx: RequestContext) throws -> Principal {
        guard let header = ctx.request.headers["Authorization"] else {
            throw APIError.unauthorized("missing Authorization header; send 'Authorization: Bearer neo_sk_<env>_<secret>'")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        // "Bearer $NEO_KEY" with the variable unset arrives as "Bearer" (the parser trims trailing spaces).
        if parts.isEmpty || (parts.count == 1 && asciiLower(parts[0]) == "bearer") {
            throw APIError.unauthorized("Authorization: Bearer has an empty token; is the variable holding your key (e.g. $NEO_KEY) set?")
        }
        guard parts.count == 2, asciiLower(parts[0]) == "bearer" else {
            throw APIError.unauthorized("Authorization must use the Bearer scheme: 'Bearer neo_sk_<env>_<secret>'")
        }
        let key = String(parts[1])
        guard KeyService.isWellFormed(key) else {
            throw APIError.unauthorized("malformed API key; expected neo_sk_<env>_<secret>")
        }
        let hash = SHA256.hash(Array(key.utf8))
        let now = monotonicNow()
        if let hit = cache.withLock({ $0[hash] }), now - hit.fetched < cacheSeconds {
            if let exp = hit.expiresAt, exp <= Date() { throw APIError.unauthorized("API key has expired") }
            return hit.principal
        }
        let row = try ctx.timed {
            try store.read { db in
                try db.queryOne("SELECT k.\(KeyService.columns.replacingOccurrences(of: ", ", with: ", k.")), k.key_hash, t.name AS tenant_name FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = ?", [.blob(hash)])
            }
        }
        guard let row, let stored = row.blob("key_hash"), constantTimeEqual(stored, hash) else {
            throw APIError.unauthorized("unknown API key")
        }
        if let revoked = row.string("revoked_at") { throw APIError.unauthorized("API key was revoked at \(revoked)") }
        let expiresAt = row.string("expires_at").flatMap(Timestamp.parse)
        if let exp = expiresAt, exp <= Date() { throw APIError.unauthorized("API key has expired") }
        var perms: [PermissionGroup: AccessLevel] = [:]
        for g in PermissionGroup.allCases { perms[g] = AccessLevel(rawValue: row.string("perm_\(g.rawValue)") ?? "none") ?? AccessLevel.none }
        let principal = Principal(tenantId: row.int("tenant_id")!, tenantName: row.string("tenant_name") ?? "",
                                  keyId: row.int("id")!, role: Principal.Role(rawValue: row.string("role") ?? "") ?? .member,
                                  permissions: perms, actor: Principal.Actor(rawValue: row.string("actor") ?? "") ?? .user,
                                  agentId: row.int("agent_id"), testMode: row.bool("test_mode") ?? false)
        cache.withLock { $0[hash] = (principal, expiresAt, now) }
        touch(principal.keyId)
        return principal
    }

    /// Records last_used_at, at most once a minute per key.
    private func touch(_ keyId: Int64) {
        let now = monotonicNow()
        let due = lastUsedWrites.withLock { map -> Bool in
            if let last = map[keyId], now - last < 60 { return false }
            map[keyId] = now
            return true
        }
        guard due else { return }
        let usedAt = Timestamp.now()
        let store = self.store
        let record = { _ = try? store.write { try $0.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [.text(usedAt), .int(keyId)]) } }
        if let background { background(record) } else { record() }
    }
}

func asciiLower<S: StringProtocol>(_ s: S) -> String { String(s).lowercased() }

extension Optional {
    /// Runs `f` on the wrapped value, rethrowing (`db.map { … } ?? store.write { … }`).
    func map<T>(_ f: (Wrapped) throws -> T) rethrows -> T? {
        switch self {
        case .some(let w): return try f(w)
        case .none: return nil
        }
    }
}

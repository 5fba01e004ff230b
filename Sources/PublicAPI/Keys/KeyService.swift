import Basics
import Foundation
import NeoJSON
import Store

/// What a new key may do (design §4).
public struct KeySpec: Sendable {
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
public final class KeyService: Sendable {
    let store: Store
    /// How long a looked-up key is trusted before the store is asked again (revocations through the
    /// API clear it at once; the offline CLI is seen within this time).
    let cacheSeconds: Double
    private let cache = Lock<[[UInt8]: (principal: Principal, expiresAt: Date?, fetched: Double)]>([:])
    private let lastUsedWrites = Lock<[Int64: Double]>([:])
    /// Where the last_used_at write runs: off the request's thread when set (authentication may run
    /// on an event loop, which must not wait for the writer).
    let background: (@Sendable (@escaping @Sendable () -> Void) -> Void)?

    public init(store: Store, cacheSeconds: Double = 5, background: (@Sendable (@escaping @Sendable () -> Void) -> Void)? = nil) {
        self.store = store
        self.cacheSeconds = cacheSeconds
        self.background = background
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
        try store.read { try KeyRecords.tenantId(named: name, $0) }
    }

    /// Every tenant's name, oldest first.
    public func tenantNames() throws -> [String] {
        try store.read { try KeyRecords.tenantNames($0) }
    }

    /// Finds or creates a tenant by name; returns its id.
    public func tenant(named name: String) throws -> Int64 {
        try store.write { db in
            try KeyRecords.tenantId(named: name, db) ?? KeyRecords.insertTenant(named: name, now: Timestamp.now(), db)
        }
    }

    /// Inserts a key for `tenantId`; returns its view and the full key (shown once). `audit` appends the
    /// audit row of an offline operation in the same transaction (API routes audit their own writes).
    public func create(tenantId: Int64, spec: KeySpec, key explicitKey: String? = nil, rotatedFrom: Int64? = nil,
                       in db: Database? = nil, audit: AuditSource? = nil) throws -> (JSONObject, String) {
        let key = explicitKey ?? KeyService.newKey(env: spec.env)
        let insert = { (db: Database) throws -> APIKey in
            let stored = try KeyRecords.insert(spec, tenantId: tenantId, key: key, rotatedFrom: rotatedFrom, now: Timestamp.now(), db)
            if let audit { try AuditRecords.append(audit, tenantId: tenantId, .apiKey(stored.id), status: 201, before: nil, db) }
            return stored
        }
        let stored = try db.map(insert) ?? store.write(insert)
        return (stored.json, key)
    }

    /// Every key of a tenant, newest first (the offline CLI).
    public func keys(ofTenant tenantId: Int64) throws -> [APIKey] {
        try store.read { try KeyRecords.all(tenantId: tenantId, $0) }
    }

    /// Revokes a key of any tenant (the offline CLI); false when there is no such key.
    public func revoke(_ id: Int64, audit: AuditSource? = nil) throws -> Bool {
        let revoked = try store.write { db -> Bool in
            guard let tenantId = try KeyRecords.find(id, db)?.tenantId else { return false }
            let before = try AuditRecords.digest(.apiKey(id), tenantId: tenantId, db)
            guard try KeyRecords.revoke(id, now: Timestamp.now(), db) else { return false }
            if let audit { try AuditRecords.append(audit, tenantId: tenantId, .apiKey(id), status: 200, before: before, db) }
            return true
        }
        invalidateCache()
        return revoked
    }

    /// Forgets cached lookups so a revocation or rotation takes effect on the next request.
    public func invalidateCache() { cache.withLock { $0.removeAll() } }

    /// Whether any usable admin key exists.
    public func hasAdminKey() throws -> Bool {
        try store.read { try KeyRecords.hasUsableAdminKey(now: Timestamp.now(), $0) }
    }

    /// Whether this exact key is stored.
    public func exists(_ key: String) throws -> Bool {
        try store.read { try KeyRecords.exists(hash: SHA256.hash(Array(key.utf8)), $0) }
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
        let found = try ctx.timed { try store.read { try KeyRecords.authenticating(hash: hash, $0) } }
        guard let found, constantTimeEqual(found.storedHash, hash) else {
            throw APIError.unauthorized("unknown API key")
        }
        let stored = found.key
        if let revoked = stored.revokedAt { throw APIError.unauthorized("API key was revoked at \(revoked)") }
        let expiresAt = stored.expiresAt.flatMap(Timestamp.parse)
        if let exp = expiresAt, exp <= Date() { throw APIError.unauthorized("API key has expired") }
        let principal = Principal(tenantId: stored.tenantId, tenantName: found.tenantName, keyId: stored.id, role: stored.role,
                                  permissions: stored.permissions, actor: stored.actor, agentId: stored.agentId, testMode: stored.testMode)
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
        let record: @Sendable () -> Void = { _ = try? store.write { try KeyRecords.touch(keyId, at: usedAt, $0) } }
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

import Basics
import Executor
import Foundation
import Store

/// NEO_OAUTH_REFRESH=shared on PostgreSQL: the nodes' OAuth2 token fetches coordinated in `oauth_token_leases`, one
/// row per credential set (the cache key hashed). The token is kept sealed with the secret key (AES-256-GCM bound to
/// the row), never in plain text; its times are on the database clock, so nodes whose clocks differ agree on them.
final class OAuthLeaseRecords: SharedTokenStore {
    let store: Store
    let box: SecretBox

    init(store: Store, box: SecretBox) {
        self.store = store
        self.box = box
    }

    private static let now = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"

    static func keyHash(_ key: OAuthTokenCache.Key) -> String {
        let material = [key.tenant, key.config, key.tokenURL, key.paramsHash].joined(separator: "\n")
        return SHA256.hash(Array(material.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    private static func sealContext(_ hash: String) -> String { "oauth-token:\(hash)" }

    private static func tokenHash(_ token: String) -> String {
        SHA256.hash(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// One SERIALIZABLE transaction: two nodes that both find no token and no lease cannot both take the lease (one
    /// of them is rolled back, run again, and then finds the other's lease).
    func acquire(_ key: OAuthTokenCache.Key, holder: String, leaseSeconds: Double) throws -> SharedTokenState {
        let hash = Self.keyHash(key)
        return try store.write { db -> SharedTokenState in
            guard let row = try db.queryOne("""
                SELECT \(Self.now) AS now, l.holder, l.lease_until, l.token_sealed, l.refresh_at, l.expires_at
                  FROM (SELECT 1 AS one) x LEFT JOIN oauth_token_leases l ON l.key_hash = ?
                """, [.text(hash)]), let now = row.double("now") else {
                throw StoreError(kind: .io, message: "the token lease query returned no row")
            }
            if let sealed = row.string("token_sealed"), let refreshAt = row.double("refresh_at"), let expiresAt = row.double("expires_at"),
               now < refreshAt, let token = try? box.open(sealed, context: Self.sealContext(hash)) {
                return .token(token, remaining: expiresAt - now)
            }
            if let until = row.double("lease_until"), until > now, row.string("holder") != holder { return .busy }
            try db.execute("""
                INSERT INTO oauth_token_leases (key_hash, tenant, holder, lease_until, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (key_hash) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until,
                  updated_at = EXCLUDED.updated_at
                """, [.text(hash), .text(key.tenant), .text(holder), .double(now + leaseSeconds), .double(now)])
            return .leased
        }
    }

    func store(_ key: OAuthTokenCache.Key, grant: OAuthTokenCache.Grant, holder: String) throws {
        let hash = Self.keyHash(key)
        let sealed = box.seal(grant.accessToken, context: Self.sealContext(hash))
        try store.write { db in
            // Refreshed when less than max(30 s, 10 %) of the lifetime remains, as in each node's cache (design §6).
            try db.execute("""
                UPDATE oauth_token_leases SET token_sealed = ?, token_sha256 = ?, expires_at = \(Self.now) + ?,
                  refresh_at = \(Self.now) + ? - GREATEST(30, ? * 0.1), holder = NULL, lease_until = NULL, updated_at = \(Self.now)
                 WHERE key_hash = ?
                """, [.text(sealed), .text(Self.tokenHash(grant.accessToken)), .double(grant.lifetime), .double(grant.lifetime),
                      .double(grant.lifetime), .text(hash)])
        }
    }

    func release(_ key: OAuthTokenCache.Key, holder: String) throws {
        try store.write { db in
            try db.execute("UPDATE oauth_token_leases SET holder = NULL, lease_until = NULL, updated_at = \(Self.now) WHERE key_hash = ? AND holder = ?",
                           [.text(Self.keyHash(key)), .text(holder)])
        }
    }

    func forget(_ key: OAuthTokenCache.Key, token: String) throws {
        try store.write { db in
            try db.execute("""
                UPDATE oauth_token_leases SET token_sealed = NULL, token_sha256 = NULL, refresh_at = NULL, expires_at = NULL,
                  updated_at = \(Self.now) WHERE key_hash = ? AND token_sha256 = ?
                """, [.text(Self.keyHash(key)), .text(Self.tokenHash(token))])
        }
    }
}

import Basics
import Foundation
import NeoJSON
import Store

/// SQL for signed-inbound endpoints and the signatures they accepted. Secrets are sealed with the server's
/// SecretBox under a context naming the tenant and endpoint, so a sealed secret copied to another row
/// does not open.
final class WebhookEndpointRecords: Sendable {
    let box: SecretBox

    init(box: SecretBox) { self.box = box }

    static func sealContext(tenant: Int64, endpoint: String) -> String { "webhook_endpoint/\(tenant)/\(endpoint)/secret" }

    /// A new endpoint with its secret sealed; `persist` false builds it without storing (test mode).
    func create(tenantId: Int64, name: String, description: String?, secret: String, keyId: Int64?, persist: Bool,
                _ db: Database) throws -> WebhookEndpoint {
        let id = SecureRandom.uuid()
        let endpoint = WebhookEndpoint(id: id, tenantId: tenantId, name: name, description: description,
                                       sealedSecret: box.seal(secret, context: Self.sealContext(tenant: tenantId, endpoint: id)),
                                       secretLast4: String(secret.suffix(4)), createdAt: Timestamp.now())
        guard persist else { return endpoint }
        try db.execute("""
            INSERT INTO webhook_endpoints (id, tenant_id, name, description, secret, secret_last4, created_by_key_id, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(id), .int(tenantId), .text(name), description.map { .text($0) } ?? .null, .text(endpoint.sealedSecret),
                  .text(endpoint.secretLast4), keyId.map { .int($0) } ?? .null, .text(endpoint.createdAt)])
        return endpoint
    }

    /// The plaintext secret (the HMAC key).
    func secret(of endpoint: WebhookEndpoint) throws -> String {
        try box.open(endpoint.sealedSecret, context: Self.sealContext(tenant: endpoint.tenantId, endpoint: endpoint.id))
    }

    static func find(_ id: String, tenantId: Int64, _ db: Database) throws -> WebhookEndpoint? {
        try db.queryOne("SELECT \(WebhookEndpoint.columns) FROM webhook_endpoints WHERE id = ? AND tenant_id = ?", [.text(id), .int(tenantId)])
            .map(WebhookEndpoint.init)
    }

    /// An endpoint by id alone: the inbound route learns the tenant from it.
    static func find(_ id: String, _ db: Database) throws -> WebhookEndpoint? {
        try db.queryOne("SELECT \(WebhookEndpoint.columns) FROM webhook_endpoints WHERE id = ?", [.text(id)]).map(WebhookEndpoint.init)
    }

    static func list(tenantId: Int64, page: Page, _ db: Database) throws -> ([WebhookEndpoint], PageInfo) {
        let (sql, params) = ListQuery("SELECT \(WebhookEndpoint.columns) FROM webhook_endpoints WHERE tenant_id = ?", [.int(tenantId)]).paged(page)
        let (rows, info) = page.finish(try db.query(sql, params)) { ($0.string("created_at")!, $0.string("id")!) }
        return (rows.map(WebhookEndpoint.init), info)
    }

    /// Revokes at once (a second revoke keeps the first time).
    static func revoke(_ id: String, tenantId: Int64, now: String, _ db: Database) throws {
        try db.execute("UPDATE webhook_endpoints SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND tenant_id = ?",
                       [.text(now), .text(id), .int(tenantId)])
    }

    /// Records one accepted signature until `expiresAt`; false when it was already used (a replay).
    /// Signatures past their expiry are dropped first, so the table holds only the tolerance window.
    /// Whether `signature` was already accepted (and has not expired): what `consumeSignature` would refuse,
    /// read without consuming (test mode).
    static func signatureUsed(endpointId: String, signature: String, now: String, _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 AS used FROM inbound_signatures WHERE endpoint_id = ? AND signature = ? AND expires_at >= ?",
                        [.text(endpointId), .text(signature), .text(now)]) != nil
    }

    static func consumeSignature(endpointId: String, signature: String, expiresAt: String, now: String, _ db: Database) throws -> Bool {
        try db.execute("DELETE FROM inbound_signatures WHERE expires_at < ?", [.text(now)])
        let inserted = try db.execute("INSERT INTO inbound_signatures (endpoint_id, signature, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                      [.text(endpointId), .text(signature), .text(expiresAt)])
        try db.execute("UPDATE webhook_endpoints SET last_used_at = ? WHERE id = ?", [.text(now), .text(endpointId)])
        return inserted == 1
    }
}

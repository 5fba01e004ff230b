import Basics
import NeoJSON
import Store

/// A signed-inbound endpoint (design §9): a PSA that cannot send a Bearer key posts events to
/// `POST /public-api/inbound/{id}`, signed with the endpoint's secret. The API never shows the secret
/// again after create; `secret_last4` tells endpoints apart.
struct WebhookEndpoint {
    let id: String
    let tenantId: Int64
    let name: String
    let description: String?
    /// The sealed secret as stored; `WebhookEndpointRecords.secret(of:)` opens it.
    let sealedSecret: String
    let secretLast4: String
    let createdAt: String
    let revokedAt: String?
    let lastUsedAt: String?

    static let columns = "id, tenant_id, name, description, secret, secret_last4, created_at, revoked_at, last_used_at"

    init(row: Row) {
        id = row.string("id") ?? ""
        tenantId = row.int("tenant_id") ?? 0
        name = row.string("name") ?? ""
        description = row.string("description")
        sealedSecret = row.string("secret") ?? ""
        secretLast4 = row.string("secret_last4") ?? ""
        createdAt = row.string("created_at") ?? ""
        revokedAt = row.string("revoked_at")
        lastUsedAt = row.string("last_used_at")
    }

    init(id: String, tenantId: Int64, name: String, description: String?, sealedSecret: String, secretLast4: String, createdAt: String) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.description = description
        self.sealedSecret = sealedSecret
        self.secretLast4 = secretLast4
        self.createdAt = createdAt
        revokedAt = nil
        lastUsedAt = nil
    }

    /// The path a PSA posts to (the server does not know the public host it is reached by).
    var path: String { "/public-api/inbound/\(id)" }

    var json: JSONObject {
        func text(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return JSONObject([
            ("id", .string(id)), ("name", .string(name)), ("description", text(description)), ("path", .string(path)),
            ("secret_last4", .string(secretLast4)), ("created_at", .string(createdAt)), ("revoked_at", text(revokedAt)),
            ("last_used_at", text(lastUsedAt)),
        ])
    }

    /// A new secret: `whsec_` and 43 base62 characters (32 random bytes). The HMAC key is the whole string.
    static func newSecret() -> String { "whsec_" + Base62.encode(SecureRandom.bytes(32)) }
}

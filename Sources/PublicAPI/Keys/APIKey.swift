import NeoJSON
import Store

/// A tenant (organisation, design §4): `GET /tenant`.
struct Tenant {
    let id: Int64
    let name: String
    let createdAt: String

    init(row: Row) {
        id = row.int("id") ?? 0
        name = row.string("name") ?? ""
        createdAt = row.string("created_at") ?? ""
    }

    var json: JSON {
        .object(JSONObject([("id", .string(String(id))), ("name", .string(name)), ("created_at", .string(createdAt))]))
    }
}

/// A stored API key as the API shows it: never the hash, never the secret (design §4).
public struct APIKey {
    public let id: Int64
    let tenantId: Int64
    public let name: String
    let env: String
    public let last4: String
    public let role: Principal.Role
    let permissions: [PermissionGroup: AccessLevel]
    let actor: Principal.Actor
    let agentId: Int64?
    let testMode: Bool
    public let createdAt: String
    public let expiresAt: String?
    let lastUsedAt: String?
    public let revokedAt: String?
    let rotatedFrom: Int64?

    init(row: Row) {
        id = row.int("id") ?? 0
        tenantId = row.int("tenant_id") ?? 0
        name = row.string("name") ?? ""
        env = row.string("env") ?? ""
        last4 = row.string("last4") ?? ""
        role = Principal.Role(rawValue: row.string("role") ?? "") ?? .member
        var levels: [PermissionGroup: AccessLevel] = [:]
        for group in PermissionGroup.allCases {
            levels[group] = AccessLevel(rawValue: row.string(KeyRecords.permissionColumn(group)) ?? "") ?? AccessLevel.none
        }
        permissions = levels
        actor = Principal.Actor(rawValue: row.string("actor") ?? "") ?? .user
        agentId = row.int("agent_id")
        testMode = row.bool("test_mode") ?? false
        createdAt = row.string("created_at") ?? ""
        expiresAt = row.string("expires_at")
        lastUsedAt = row.string("last_used_at")
        revokedAt = row.string("revoked_at")
        rotatedFrom = row.int("rotated_from")
    }

    /// What a key like this one may do: the spec a rotation copies.
    var spec: KeySpec {
        var spec = KeySpec(name: name)
        spec.env = env
        spec.role = role
        spec.permissions = permissions
        spec.actor = actor
        spec.agentId = agentId
        spec.testMode = testMode
        spec.expiresAt = expiresAt
        return spec
    }

    /// The `ApiKey` view.
    var json: JSONObject {
        func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return JSONObject([
            ("id", .string(String(id))), ("name", .string(name)), ("env", .string(env)), ("last4", .string(last4)),
            ("role", .string(role.rawValue)),
            ("permissions", .object(JSONObject(PermissionGroup.allCases.map { ($0.rawValue, .string(permissions[$0, default: .none].rawValue)) }))),
            ("actor", .string(actor.rawValue)), ("agent_id", agentId.map { .int($0) } ?? .null), ("test_mode", .bool(testMode)),
            ("created_at", .string(createdAt)), ("expires_at", opt(expiresAt)), ("last_used_at", opt(lastUsedAt)),
            ("revoked_at", opt(revokedAt)), ("rotated_from", rotatedFrom.map { .string(String($0)) } ?? .null),
        ])
    }
}

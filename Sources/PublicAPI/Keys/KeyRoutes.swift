import Basics
import Foundation
import NeoJSON
import Store

/// `/api-keys` (admin only) and `/tenant` (design §4; Neo's api-keys endpoints).
enum KeyRoutes {
    static func routes(keys: KeyService, store: Store) -> [Route] {
        [
            Route("GET", "/public-api/tenant", access: .authenticated) { ctx in
                guard let tenant = try ctx.timed({ try store.read { try KeyRecords.tenant(id: ctx.caller.tenantId, $0) } }) else {
                    throw APIError.notFound("tenant not found")
                }
                return Reply(data: tenant.json)
            },
            Route("GET", "/public-api/api-keys", access: .admin, query: Page.parameters) { ctx in
                let page = try Page.parse(ctx)
                let (items, info) = try ctx.timed { try store.read { try KeyRecords.list(tenantId: ctx.caller.tenantId, page: page, $0) } }
                return Reply(data: .array(items.map { .object($0.json) }), pagination: info)
            },
            Route("POST", "/public-api/api-keys", access: .admin) { try create($0, keys, store) },
            Route("GET", "/public-api/api-keys/{key_id}", access: .admin) { ctx in
                Reply(data: .object(try find(ctx, store).json))
            },
            Route("DELETE", "/public-api/api-keys/{key_id}", access: .admin) { try revoke($0, keys, store) },
            Route("POST", "/public-api/api-keys/{key_id}/rotate", access: .admin) { try rotate($0, keys, store) },
        ]
    }

    private static func create(_ ctx: RequestContext, _ keys: KeyService, _ store: Store) throws -> Reply {
        let spec = try parseSpec(ctx, store: store)
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(status: 201, data: .object(JSONObject([("name", .string(spec.name)), ("role", .string(spec.role.rawValue))])))
        }
        var (view, key) = try ctx.timed {
            try store.write { db in
                let created = try keys.create(tenantId: ctx.caller.tenantId, spec: spec, in: db)
                if let id = Int64(created.0["id"]?.stringValue ?? "") { try ctx.audit(db, status: 201, .apiKey(id), before: nil) }
                return created
            }
        }
        view["key"] = .string(key)
        return Reply(status: 201, data: .object(view))
    }

    private static func revoke(_ ctx: RequestContext, _ keys: KeyService, _ store: Store) throws -> Reply {
        let key = try find(ctx, store)
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(data: .object(key.json))
        }
        let updated = try ctx.timed {
            try store.write { db -> APIKey? in
                let before = try ctx.auditDigest(.apiKey(key.id), db)
                if try KeyRecords.revoke(key.id, tenantId: ctx.caller.tenantId, now: Timestamp.now(), db) {
                    try ctx.audit(db, status: 200, .apiKey(key.id), before: before)
                }
                return try KeyRecords.find(key.id, db)
            }
        }
        keys.invalidateCache()
        return Reply(data: .object((updated ?? key).json))
    }

    /// A new key with the same rights; the old one keeps working for 24 h (or until its own earlier expiry).
    private static func rotate(_ ctx: RequestContext, _ keys: KeyService, _ store: Store) throws -> Reply {
        let old = try find(ctx, store)
        if old.revokedAt != nil { throw APIError.conflict("key \(old.id) is revoked; create a new key instead") }
        if let exp = old.expiresAt.flatMap(Timestamp.parse), exp <= Date() {
            throw APIError.conflict("key \(old.id) has expired; create a new key instead")
        }
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(data: .object(old.json))
        }
        let overlapEnd = Timestamp.format(Date().addingTimeInterval(24 * 3600))
        var (view, key) = try ctx.timed {
            try store.write { db -> (JSONObject, String) in
                let before = try ctx.auditDigest(.apiKey(old.id), db)
                try KeyRecords.expire(old.id, by: overlapEnd, db)
                try ctx.audit(db, status: 200, .apiKey(old.id), before: before)
                let created = try keys.create(tenantId: ctx.caller.tenantId, spec: old.spec, rotatedFrom: old.id, in: db)
                if let id = Int64(created.0["id"]?.stringValue ?? "") { try ctx.audit(db, status: 200, .apiKey(id), before: nil) }
                return created
            }
        }
        keys.invalidateCache()
        view["key"] = .string(key)
        return Reply(data: .object(view))
    }

    private static func find(_ ctx: RequestContext, _ store: Store) throws -> APIKey {
        let id = try ctx.intParam("key_id", resource: "API key")
        guard let key = try ctx.timed({ try store.read { try KeyRecords.find(id, tenantId: ctx.caller.tenantId, $0) } }) else {
            throw APIError.notFound("API key '\(id)' not found")
        }
        return key
    }

    /// Validates the create body: Neo's {name, expires_at} plus our role, permissions, actor fields.
    static func parseSpec(_ ctx: RequestContext, store: Store) throws -> KeySpec {
        let body = try ctx.jsonBody()
        let v = Validation()
        let r = FieldReader(body, validation: v)
        let spec = try readSpec(r) { agentId in
            try ctx.timed { try store.read { try AgentRecords.exists(agentId, tenantId: ctx.caller.tenantId, $0) } }
        }
        r.warnUnknown()
        ctx.warnings += v.warnings
        try v.check()
        return spec
    }

    /// The fields of a key create body, problems reported to `r`'s validation (the API's body and a fixture's
    /// `keys[i]`); `agentExists` checks an agent actor's agent_id in the caller's tenant.
    static func readSpec(_ r: FieldReader, agentExists: (Int64) throws -> Bool) rethrows -> KeySpec {
        let v = r.validation
        let name = r.string("name", required: true, maxLength: 200, minLength: 1)
        var spec = KeySpec(name: name ?? "")
        if let exp = r.timestamp("expires_at") {
            if let d = Timestamp.parse(exp), d <= Date() { v.fail(r.field("expires_at"), "must be in the future") }
            spec.expiresAt = exp
        }
        if let role = r.enumValue("role", ["admin", "member"]) { spec.role = Principal.Role(rawValue: role)! }
        if spec.role == .admin {
            spec.permissions = Dictionary(uniqueKeysWithValues: PermissionGroup.allCases.map { ($0, .read_write) })
        }
        if let perms = r.nested("permissions") {
            for g in PermissionGroup.allCases {
                if let level = perms.enumValue(g.rawValue, AccessLevel.allCases.map(\.rawValue)) {
                    if spec.role == .admin && level != "read_write" {
                        v.fail(perms.field(g.rawValue), "admin keys have read_write on every group; omit permissions or use role member")
                    }
                    spec.permissions[g] = AccessLevel(rawValue: level)!
                }
            }
            perms.warnUnknown()
        }
        if let actor = r.enumValue("actor", ["user", "agent"]) { spec.actor = Principal.Actor(rawValue: actor)! }
        let agentId = r.int("agent_id", range: 1...Int64.max)
        if spec.actor == .agent {
            if let agentId {
                if try !agentExists(agentId) { v.fail(r.field("agent_id"), "no agent \(agentId) in this tenant") }
                spec.agentId = agentId
            } else if !r.has("agent_id") || r.isNull("agent_id") {
                v.fail(r.field("agent_id"), "is required when actor is 'agent'")
            }
        } else if agentId != nil {
            v.fail(r.field("agent_id"), "is only allowed when actor is 'agent'")
        }
        if let t = r.bool("test_mode") { spec.testMode = t }
        if let env = r.enumValue("env", ["prod", "test"]) { spec.env = env }
        return spec
    }
}

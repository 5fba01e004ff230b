import Basics
import Foundation
import NeoJSON
import Store

/// `/api-keys` (admin only) and `/tenant` (design §4; Neo's api-keys endpoints).
enum KeyRoutes {
    static func routes(keys: KeyService, store: Store) -> [Route] {
        [
            Route("GET", "/public-api/tenant", access: .authenticated) { ctx in
                let row = try ctx.timed { try store.read { try $0.queryOne("SELECT id, name, created_at FROM tenants WHERE id = ?", [.int(ctx.caller.tenantId)]) } }
                guard let row else { throw APIError.notFound("tenant not found") }
                return Reply(data: .object(JSONObject([("id", .string(String(row.int("id")!))), ("name", .string(row.string("name")!)),
                                                       ("created_at", .string(row.string("created_at")!))])))
            },
            Route("GET", "/public-api/api-keys", access: .admin, query: Page.parameters) { ctx in
                let page = try Page.parse(ctx)
                let (clause, params) = page.keysetClause()
                let rows = try ctx.timed {
                    try store.read {
                        try $0.query("SELECT \(KeyService.columns) FROM api_keys WHERE tenant_id = ?\(clause) ORDER BY created_at DESC, id DESC LIMIT ?",
                                     [.int(ctx.caller.tenantId)] + params + [.int(Int64(page.size + 1))])
                    }
                }
                let (items, info) = page.finish(rows) { ($0.string("created_at")!, String($0.int("id")!)) }
                return Reply(data: .array(items.map { .object(KeyService.view($0)) }), pagination: info)
            },
            Route("POST", "/public-api/api-keys", access: .admin) { ctx in
                let spec = try parseSpec(ctx, store: store)
                if ctx.testMode {
                    ctx.warnings.append("test mode: not persisted")
                    return Reply(status: 201, data: .object(JSONObject([("name", .string(spec.name)), ("role", .string(spec.role.rawValue))])))
                }
                var (view, key) = try ctx.timed { try keys.create(tenantId: ctx.caller.tenantId, spec: spec) }
                view["key"] = .string(key)
                return Reply(status: 201, data: .object(view))
            },
            Route("GET", "/public-api/api-keys/{key_id}", access: .admin) { ctx in
                .init(data: .object(KeyService.view(try find(ctx, store))))
            },
            Route("DELETE", "/public-api/api-keys/{key_id}", access: .admin) { ctx in
                let row = try find(ctx, store)
                if ctx.testMode {
                    ctx.warnings.append("test mode: not persisted")
                    return Reply(data: .object(KeyService.view(row)))
                }
                let updated = try ctx.timed {
                    try store.write { db -> Row in
                        try db.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND tenant_id = ?",
                                       [.text(Timestamp.now()), .int(row.int("id")!), .int(ctx.caller.tenantId)])
                        return try db.queryOne("SELECT \(KeyService.columns) FROM api_keys WHERE id = ?", [.int(row.int("id")!)])!
                    }
                }
                keys.invalidateCache()
                return Reply(data: .object(KeyService.view(updated)))
            },
            Route("POST", "/public-api/api-keys/{key_id}/rotate", access: .admin) { ctx in
                let row = try find(ctx, store)
                if row.string("revoked_at") != nil { throw APIError.conflict("key \(row.int("id")!) is revoked; create a new key instead") }
                if let exp = row.string("expires_at").flatMap(Timestamp.parse), exp <= Date() {
                    throw APIError.conflict("key \(row.int("id")!) has expired; create a new key instead")
                }
                var spec = KeySpec(name: row.string("name")!)
                spec.env = row.string("env")!
                spec.role = Principal.Role(rawValue: row.string("role")!) ?? .member
                for g in PermissionGroup.allCases { spec.permissions[g] = AccessLevel(rawValue: row.string("perm_\(g.rawValue)")!) ?? AccessLevel.none }
                spec.actor = Principal.Actor(rawValue: row.string("actor")!) ?? .user
                spec.agentId = row.int("agent_id")
                spec.testMode = row.bool("test_mode") ?? false
                spec.expiresAt = row.string("expires_at")
                if ctx.testMode {
                    ctx.warnings.append("test mode: not persisted")
                    return Reply(data: .object(KeyService.view(row)))
                }
                // The old key keeps working for 24 h (or until its own earlier expiry).
                let overlapEnd = Timestamp.format(Date().addingTimeInterval(24 * 3600))
                var (view, key) = try ctx.timed {
                    try store.write { db -> (JSONObject, String) in
                        try db.execute("UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < ? THEN expires_at ELSE ? END WHERE id = ?",
                                       [.text(overlapEnd), .text(overlapEnd), .int(row.int("id")!)])
                        return try keys.create(tenantId: ctx.caller.tenantId, spec: spec, rotatedFrom: row.int("id")!, in: db)
                    }
                }
                keys.invalidateCache()
                view["key"] = .string(key)
                return Reply(data: .object(view))
            },
        ]
    }

    private static func find(_ ctx: RequestContext, _ store: Store) throws -> Row {
        let id = try ctx.intParam("key_id", resource: "API key")
        let row = try ctx.timed {
            try store.read { try $0.queryOne("SELECT \(KeyService.columns) FROM api_keys WHERE id = ? AND tenant_id = ?", [.int(id), .int(ctx.caller.tenantId)]) }
        }
        guard let row else { throw APIError.notFound("API key '\(id)' not found") }
        return row
    }

    /// Validates the create body: Neo's {name, expires_at} plus our role, permissions, actor fields.
    static func parseSpec(_ ctx: RequestContext, store: Store) throws -> KeySpec {
        let body = try ctx.jsonBody()
        let v = Validation()
        let r = FieldReader(body, validation: v)
        let name = r.string("name", required: true, maxLength: 200, minLength: 1)
        var spec = KeySpec(name: name ?? "")
        if let exp = r.timestamp("expires_at") {
            if let d = Timestamp.parse(exp), d <= Date() { v.fail("expires_at", "must be in the future") }
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
                let exists = try ctx.timed { try store.read { try $0.queryOne("SELECT 1 FROM agents WHERE id = ? AND tenant_id = ?", [.int(agentId), .int(ctx.caller.tenantId)]) } }
                if exists == nil { v.fail("agent_id", "no agent \(agentId) in this tenant") }
                spec.agentId = agentId
            } else if !r.has("agent_id") || r.isNull("agent_id") {
                v.fail("agent_id", "is required when actor is 'agent'")
            }
        } else if agentId != nil {
            v.fail("agent_id", "is only allowed when actor is 'agent'")
        }
        if let t = r.bool("test_mode") { spec.testMode = t }
        if let env = r.enumValue("env", ["prod", "test"]) { spec.env = env }
        r.warnUnknown()
        ctx.warnings += v.warnings
        try v.check()
        return spec
    }
}

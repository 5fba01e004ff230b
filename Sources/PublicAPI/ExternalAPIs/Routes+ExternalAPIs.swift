import Basics
import Executor
import Foundation
import NeoJSON
import Store

/// `/external-apis` (design §5): config CRUD, the connection test and direct invokes.
enum ExternalAPIRoutes {
    static func routes(configs: ExternalAPIConfigStore, executor: ExternalAPIExecutor) -> [Route] {
        let store = configs.store
        let read = Access.group(.external_apis, .read)
        let write = Access.group(.external_apis, .read_write)
        return [
            Route("GET", "/public-api/external-apis", access: read, query: Page.parameters) { ctx in
                let page = try Page.parse(ctx)
                let (items, info) = try ctx.timed { try configs.list(tenant: ctx.caller.tenantId, page: page) }
                return Reply(data: .array(items.map { .object($0.view) }), pagination: info)
            },
            Route("POST", "/public-api/external-apis", access: write) { ctx in
                let body = try ctx.jsonBody()
                let config = try decode(body, ctx, stored: nil, policy: executor.policy)
                if ctx.testMode { return notPersisted(ctx, status: 201, ExternalAPIConfigCodec.view(config)) }
                if ctx.caller.actor == .agent {
                    return try ConfigWriteApproval.hold(ctx, operation: "create", config: config, configs: configs)
                }
                let stored = try ctx.timed { try store.write { try configs.insert(config, tenant: ctx.caller.tenantId, in: $0) } }
                guard let stored else { throw APIError.conflict("an external API named '\(config.name)' already exists") }
                return Reply(status: 201, data: .object(stored.view))
            },
            Route("GET", "/public-api/external-apis/{name}", access: read) { ctx in
                Reply(data: .object(try find(ctx, configs).view))
            },
            Route("PUT", "/public-api/external-apis/{name}", access: write) { ctx in
                let existing = try find(ctx, configs)
                let body = try ctx.jsonBody()
                if let sent = body["name"], sent.stringValue != existing.config.name {
                    throw APIError.validation(field: "name", "is immutable; create a config under the new name and delete this one")
                }
                // Top-level fields not sent keep their stored values; "***" keeps a stored secret.
                var merged = ExternalAPIConfigCodec.view(existing.config)
                for (key, value) in body { merged[key] = value }
                let config = try decode(merged, ctx, stored: existing.config, policy: executor.policy)
                if ctx.testMode {
                    return notPersisted(ctx, status: 200, ExternalAPIConfigCodec.view(config, createdAt: existing.createdAt, updatedAt: existing.updatedAt))
                }
                if ctx.caller.actor == .agent {
                    return try ConfigWriteApproval.hold(ctx, operation: "update", config: config, configs: configs)
                }
                let updated = try ctx.timed { try store.write { try configs.update(existing, to: config, tenant: ctx.caller.tenantId, in: $0) } }
                return Reply(data: .object(updated.view))
            },
            Route("DELETE", "/public-api/external-apis/{name}", access: write) { ctx in
                let existing = try find(ctx, configs)
                if ctx.testMode { return notPersisted(ctx, status: 200, existing.view) }
                if ctx.caller.actor == .agent {
                    return try ConfigWriteApproval.hold(ctx, operation: "delete", config: existing.config, configs: configs)
                }
                try ctx.timed { try store.write { try configs.delete(existing, tenant: ctx.caller.tenantId, in: $0) } }
                return Reply(data: .object(existing.view))
            },
            Route("POST", "/public-api/external-apis/{name}/test", access: write) { ctx in
                try ExternalAPICalls.test(ctx, try find(ctx, configs).config, executor: executor)
            },
            Route("POST", "/public-api/external-apis/{name}/invoke", access: write) { ctx in
                try ExternalAPICalls.invoke(ctx, try find(ctx, configs).config, executor: executor, store: store)
            },
        ]
    }

    private static func decode(_ object: JSONObject, _ ctx: RequestContext, stored: ExternalAPIConfig?, policy: UpstreamPolicy) throws -> ExternalAPIConfig {
        let v = Validation()
        let config = ExternalAPIConfigCodec.decode(object, validation: v, stored: stored, policy: policy)
        ctx.warnings += v.warnings
        try v.check()
        return config!
    }

    private static func find(_ ctx: RequestContext, _ configs: ExternalAPIConfigStore) throws -> ExternalAPIConfigStore.Stored {
        let name = ctx.params["name"] ?? ""
        guard ExternalAPIConfigCodec.isValidName(name),
              let stored = try ctx.timed({ try configs.store.read { try configs.find(name, tenant: ctx.caller.tenantId, in: $0) } }) else {
            throw APIError.notFound("external API '\(name.prefix(64))' not found")
        }
        return stored
    }

    static func notPersisted(_ ctx: RequestContext, status: Int, _ data: JSONObject) -> Reply {
        ctx.warnings.append("test mode: not persisted")
        return Reply(status: status, data: .object(data))
    }
}

/// Config writes by an agent-actor key are held for a technician (design §4): 202 with a pending
/// TIL request whose payload (it holds secrets) is sealed.
enum ConfigWriteApproval {
    static let expiry: TimeInterval = 7 * 24 * 3600

    static func payloadContext(tenant: Int64) -> String { "til_requests/config_write/\(tenant)" }

    static func hold(_ ctx: RequestContext, operation: String, config: ExternalAPIConfig, configs: ExternalAPIConfigStore) throws -> Reply {
        let caller = ctx.caller
        let requestedFor = JSONObject([("operation", .string(operation)), ("name", .string(config.name)),
                                       ("config", .object(ExternalAPIConfigCodec.view(config)))])
        let payload = JSON.object(JSONObject([("operation", .string(operation)), ("name", .string(config.name)),
                                              ("config", .object(ExternalAPIConfigCodec.encode(config) { _, v in v }))])).serializedString()
        let sealed = configs.box.seal(payload, context: payloadContext(tenant: caller.tenantId))
        let comment = "An agent key asks to \(operation) external API '\(config.name)'."
        let now = Timestamp.now()
        let row = try ctx.timed {
            try configs.store.write { db -> Row in
                let agentName = try caller.agentId.flatMap {
                    try db.queryOne("SELECT name FROM agents WHERE id = ? AND tenant_id = ?", [.int($0), .int(caller.tenantId)])?.string("name")
                }
                try db.execute("""
                    INSERT INTO til_requests (tenant_id, agent_id, agent_name, kind, status, comment, requested_for, payload,
                      requested_by_key_id, created_at, updated_at, expires_at)
                    VALUES (?, ?, ?, 'config_write', 'pending', ?, ?, ?, ?, ?, ?, ?)
                    """, [.int(caller.tenantId), caller.agentId.map { .int($0) } ?? .null, agentName.map { .text($0) } ?? .null,
                          .text(comment), .text(JSON.object(requestedFor).serializedString()), .text(sealed), .int(caller.keyId),
                          .text(now), .text(now), .text(Timestamp.format(Date().addingTimeInterval(expiry)))])
                return try db.queryOne("SELECT * FROM til_requests WHERE id = ?", [.int(db.lastInsertRowID)])!
            }
        }
        return Reply(status: 202, data: .object(view(row, requestedFor: requestedFor)))
    }

    /// Applies an approved config write: the sealed payload is opened and the create, update or
    /// delete replayed against the current state (409 when it no longer fits).
    static func applier(_ configs: ExternalAPIConfigStore) -> TilApplier {
        return { db, request, _ in
            let tenant = request.int("tenant_id")!
            guard let sealed = request.string("payload"),
                  let text = try? configs.box.open(sealed, context: payloadContext(tenant: tenant)),
                  let payload = (try? JSON.parse(text))?.objectValue,
                  let operation = payload["operation"]?.stringValue,
                  let document = payload["config"]?.objectValue else {
                throw APIError.conflict("the held config write is unreadable")
            }
            let v = Validation()
            guard let config = ExternalAPIConfigCodec.decode(document, validation: v) else {
                throw APIError.conflict("the held config write is no longer valid: \(v.details.map { "\($0.field): \($0.issue)" }.joined(separator: "; "))")
            }
            let existing = try configs.find(config.name, tenant: tenant, in: db)
            switch (operation, existing) {
            case ("create", nil):
                _ = try configs.insert(config, tenant: tenant, in: db)
            case ("update", let current?):
                _ = try configs.update(current, to: config, tenant: tenant, in: db)
            case ("delete", let current?):
                try configs.delete(current, tenant: tenant, in: db)
            case ("create", _?):
                throw APIError.conflict("an external API named '\(config.name)' was created meanwhile")
            default:
                throw APIError.conflict("external API '\(config.name)' no longer exists")
            }
        }
    }

    /// Neo's TilRequest shape plus our status/kind fields (design §5).
    static func view(_ row: Row, requestedFor: JSONObject) -> JSONObject {
        func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return JSONObject([
            ("id", .int(row.int("id")!)), ("agent_id", row.int("agent_id").map { .int($0) } ?? .null),
            ("agent_name", opt(row.string("agent_name"))), ("approvers", .array([])), ("comment", opt(row.string("comment"))),
            ("decided_by", .null), ("requested_for", .object(requestedFor)), ("session_id", .null), ("ticket_id", .null),
            ("ticket_number", .null), ("created_at", opt(row.string("created_at"))), ("updated_at", opt(row.string("updated_at"))),
            ("status", opt(row.string("status"))), ("kind", opt(row.string("kind"))), ("execution_id", .null),
            ("decided_at", .null), ("note", .null),
        ])
    }
}

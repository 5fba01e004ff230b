import Basics
import Executor
import Foundation
import NeoJSON
import Store

/// `/external-apis` (design §5): config CRUD, the connection test and direct invokes.
enum ExternalAPIRoutes {
    static func routes(configs: ExternalAPIRecords, executor: ExternalAPIExecutor, leases: RunLeases) -> [Route] {
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
                let stored = try ctx.timed {
                    try store.write { db in
                        let stored = try configs.insert(config, tenant: ctx.caller.tenantId, in: db)
                        if stored != nil { try ctx.audit(db, status: 201, .externalAPI(config.name), before: nil) }
                        return stored
                    }
                }
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
                let updated = try ctx.timed {
                    try store.write { db in
                        let before = try ctx.auditDigest(.externalAPI(config.name), db)
                        let updated = try configs.update(existing, to: config, tenant: ctx.caller.tenantId, in: db)
                        try ctx.audit(db, status: 200, .externalAPI(config.name), before: before)
                        return updated
                    }
                }
                return Reply(data: .object(updated.view))
            },
            Route("DELETE", "/public-api/external-apis/{name}", access: write) { ctx in
                let existing = try find(ctx, configs)
                if ctx.testMode { return notPersisted(ctx, status: 200, existing.view) }
                if ctx.caller.actor == .agent {
                    return try ConfigWriteApproval.hold(ctx, operation: "delete", config: existing.config, configs: configs)
                }
                try ctx.timed {
                    try store.write { db in
                        let before = try ctx.auditDigest(.externalAPI(existing.config.name), db)
                        try configs.delete(existing, tenant: ctx.caller.tenantId, in: db)
                        try ctx.audit(db, status: 200, .externalAPI(existing.config.name), before: before)
                    }
                }
                return Reply(data: .object(existing.view))
            },
            Route("POST", "/public-api/external-apis/{name}/test", access: write, refusedInProcess: Route.callsExternalAPIs) { ctx in
                try ExternalAPICalls.test(ctx, try find(ctx, configs).config, executor: executor)
            },
            Route("POST", "/public-api/external-apis/{name}/invoke", access: write, refusedInProcess: Route.callsExternalAPIs) { ctx in
                try ExternalAPICalls.invoke(ctx, try find(ctx, configs).config, executor: executor, store: store, leases: leases)
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

    private static func find(_ ctx: RequestContext, _ configs: ExternalAPIRecords) throws -> ExternalAPIRecords.Stored {
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
        static func payloadContext(tenant: Int64) -> String { "til_requests/config_write/\(tenant)" }

    static func hold(_ ctx: RequestContext, operation: String, config: ExternalAPIConfig, configs: ExternalAPIRecords) throws -> Reply {
        let caller = ctx.caller
        let requestedFor = JSONObject([("operation", .string(operation)), ("name", .string(config.name)),
                                       ("config", .object(ExternalAPIConfigCodec.view(config)))])
        let payload = JSON.object(JSONObject([("operation", .string(operation)), ("name", .string(config.name)),
                                              ("config", .object(ExternalAPIConfigCodec.encode(config) { _, v in v }))])).serializedString()
        let sealed = configs.box.seal(payload, context: payloadContext(tenant: caller.tenantId))
        let til = try ctx.timed {
            try configs.store.write { db -> TilRequest in
                let agentName = try caller.agentId.flatMap { try AgentRecords.nameAndVersion($0, tenantId: caller.tenantId, db)?.name }
                let til = try ApprovalRecords.insert(TilRequestDraft(
                    tenantId: caller.tenantId, agentId: caller.agentId, agentName: agentName, kind: .configWrite,
                    comment: "An agent key asks to \(operation) external API '\(config.name)'.", requestedFor: .object(requestedFor),
                    payload: sealed, requestedByKeyId: caller.keyId), now: Date(), db)
                if let id = til.id { try ctx.audit(db, status: 202, .tilRequest(id), before: nil) }
                return til
            }
        }
        return Reply(status: 202, data: til.json)
    }

    /// Applies an approved config write: the sealed payload is opened and the create, update or
    /// delete replayed against the current state (409 when it no longer fits).
    static func applier(_ configs: ExternalAPIRecords) -> TilApplier {
        return { db, request, _ in
            let tenant = request.tenantId
            guard let sealed = request.payload,
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
}

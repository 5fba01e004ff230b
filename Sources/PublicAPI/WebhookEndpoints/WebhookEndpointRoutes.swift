import Basics
import NeoJSON
import Store

/// `/webhook-endpoints` (admin keys; design §9): create one (its secret shown once), list, get, revoke.
enum WebhookEndpointRoutes {
    static let access = Access.adminOnly("webhook-endpoint management requires an admin key")

    static func routes(store: Store, records: WebhookEndpointRecords) -> [Route] {
        [
            Route("GET", "/public-api/webhook-endpoints", access: access, query: Page.parameters) { ctx in
                let page = try Page.parse(ctx)
                let (items, info) = try ctx.timed { try store.read { try WebhookEndpointRecords.list(tenantId: ctx.caller.tenantId, page: page, $0) } }
                return Reply(data: .array(items.map { .object($0.json) }), pagination: info)
            },
            Route("POST", "/public-api/webhook-endpoints", access: access) { try create($0, store, records) },
            Route("GET", "/public-api/webhook-endpoints/{endpoint_id}", access: access) { ctx in
                Reply(data: .object(try find(ctx, store).json))
            },
            Route("DELETE", "/public-api/webhook-endpoints/{endpoint_id}", access: access) { try revoke($0, store) },
        ]
    }

    private static let testModeWarning = "test mode: not persisted"

    /// 201 with the endpoint and its `secret`, which no later response shows.
    private static func create(_ ctx: RequestContext, _ store: Store, _ records: WebhookEndpointRecords) throws -> Reply {
        let validation = Validation()
        let reader = FieldReader(try ctx.jsonBody(), validation: validation)
        let name = reader.string("name", required: true, maxLength: 200, minLength: 1)
        let description = reader.string("description", maxLength: 2000)
        reader.warnUnknown()
        try validation.check()
        ctx.warnings += validation.warnings
        guard let name else { throw APIError.internalError() }
        let secret = WebhookEndpoint.newSecret()
        let persist = !ctx.testMode
        let caller = ctx.caller
        let work = { (db: Database) throws -> WebhookEndpoint in
            let endpoint = try records.create(tenantId: caller.tenantId, name: name, description: description, secret: secret,
                                              keyId: caller.keyId, persist: persist, db)
            if persist { try ctx.audit(db, status: 201, .webhookEndpoint(endpoint.id), before: nil) }
            return endpoint
        }
        let endpoint = try ctx.timed { persist ? try store.write(work) : try store.read(work) }
        if !persist { ctx.warnings.append(testModeWarning) }
        var view = endpoint.json
        view["secret"] = .string(secret)
        return Reply(status: 201, data: .object(view))
    }

    /// Revokes at once: the endpoint's posts are refused from now on. 200 with `revoked_at` set.
    private static func revoke(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let endpoint = try find(ctx, store)
        if ctx.testMode {
            ctx.warnings.append(testModeWarning)
            return Reply(data: .object(endpoint.json))
        }
        let updated = try ctx.timed {
            try store.write { db -> WebhookEndpoint? in
                let before = try ctx.auditDigest(.webhookEndpoint(endpoint.id), db)
                try WebhookEndpointRecords.revoke(endpoint.id, tenantId: ctx.caller.tenantId, now: Timestamp.now(), db)
                try ctx.audit(db, status: 200, .webhookEndpoint(endpoint.id), before: before)
                return try WebhookEndpointRecords.find(endpoint.id, tenantId: ctx.caller.tenantId, db)
            }
        }
        return Reply(data: .object((updated ?? endpoint).json))
    }

    private static func find(_ ctx: RequestContext, _ store: Store) throws -> WebhookEndpoint {
        let id = ctx.params["endpoint_id"] ?? ""
        guard isUUID(id), let endpoint = try ctx.timed({ try store.read { try WebhookEndpointRecords.find(id, tenantId: ctx.caller.tenantId, $0) } }) else {
            throw APIError.notFound("webhook endpoint '\(id.prefix(64))' not found")
        }
        return endpoint
    }
}

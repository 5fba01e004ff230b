import Executor
import Foundation
import NeoJSON
import Store

/// `/llm-providers` (design §10, our extension): the model endpoints AGENTIC agents call. Permission group
/// `external_apis`: a provider is one more upstream holding a credential.
enum LLMProviderRoutes {
    static func routes(providers: LLMProviderRecords, policy: UpstreamPolicy) -> [Route] {
        let store = providers.store
        let read = Access.group(.external_apis, .read)
        let write = Access.group(.external_apis, .read_write)
        return [
            Route("GET", "/public-api/llm-providers", access: read, query: Page.parameters) { ctx in
                let page = try Page.parse(ctx)
                let (items, info) = try ctx.timed { try providers.list(tenant: ctx.caller.tenantId, page: page) }
                return Reply(data: .array(items.map { .object($0.view) }), pagination: info)
            },
            Route("POST", "/public-api/llm-providers", access: write) { ctx in
                let body = try ctx.jsonBody()
                let provider = try decode(body, ctx, stored: nil, policy: policy)
                try refuseAgentActor(ctx)
                if ctx.testMode { return notPersisted(ctx, status: 201, LLMProviderCodec.view(provider)) }
                let stored = try ctx.timed {
                    try store.write { db in
                        let stored = try providers.insert(provider, defaultSent: body["default"] != nil, tenant: ctx.caller.tenantId, in: db)
                        if stored != nil { try ctx.audit(db, status: 201, .llmProvider(provider.provider.name), before: nil) }
                        return stored
                    }
                }
                guard let stored else { throw APIError.conflict("a model provider named '\(provider.provider.name)' already exists") }
                return Reply(status: 201, data: .object(stored.view))
            },
            Route("GET", "/public-api/llm-providers/{name}", access: read) { ctx in
                Reply(data: .object(try find(ctx, providers).view))
            },
            Route("PUT", "/public-api/llm-providers/{name}", access: write) { ctx in
                let existing = try find(ctx, providers)
                let body = try ctx.jsonBody()
                if let sent = body["name"], sent.stringValue != existing.provider.provider.name {
                    throw APIError.validation(field: "name", "is immutable; create a provider under the new name and delete this one")
                }
                // Fields not sent keep their stored values; "***" keeps the stored key.
                var merged = LLMProviderCodec.view(existing.provider)
                for (key, value) in body { merged[key] = value }
                let provider = try decode(merged, ctx, stored: existing.provider.provider, policy: policy)
                try refuseAgentActor(ctx)
                if ctx.testMode {
                    return notPersisted(ctx, status: 200, LLMProviderCodec.view(provider, createdAt: existing.createdAt, updatedAt: existing.updatedAt))
                }
                let name = existing.provider.provider.name
                let updated = try ctx.timed {
                    try store.write { db in
                        let before = try ctx.auditDigest(.llmProvider(name), db)
                        let updated = try providers.update(existing, to: provider, tenant: ctx.caller.tenantId, in: db)
                        try ctx.audit(db, status: 200, .llmProvider(name), before: before)
                        return updated
                    }
                }
                return Reply(data: .object(updated.view))
            },
            Route("DELETE", "/public-api/llm-providers/{name}", access: write) { ctx in
                let existing = try find(ctx, providers)
                try refuseAgentActor(ctx)
                if ctx.testMode { return notPersisted(ctx, status: 200, existing.view) }
                let name = existing.provider.provider.name
                try ctx.timed {
                    try store.write { db in
                        let before = try ctx.auditDigest(.llmProvider(name), db)
                        try providers.delete(existing, tenant: ctx.caller.tenantId, in: db)
                        try ctx.audit(db, status: 200, .llmProvider(name), before: before)
                    }
                }
                return Reply(data: .object(existing.view))
            },
        ]
    }

    private static func decode(_ object: JSONObject, _ ctx: RequestContext, stored: ModelProvider?, policy: UpstreamPolicy) throws -> LLMProvider {
        let v = Validation()
        let provider = LLMProviderCodec.decode(object, validation: v, stored: stored, policy: policy)
        ctx.warnings += v.warnings
        try v.check()
        return provider!
    }

    /// An agent's key may read providers but not point its agents at another model or key.
    private static func refuseAgentActor(_ ctx: RequestContext) throws {
        if ctx.caller.actor == .agent {
            throw APIError.forbidden("agent keys cannot create, change or delete model providers; ask a person with a user key")
        }
    }

    private static func find(_ ctx: RequestContext, _ providers: LLMProviderRecords) throws -> LLMProviderRecords.Stored {
        let name = ctx.params["name"] ?? ""
        guard ExternalAPIConfigCodec.isValidName(name),
              let stored = try ctx.timed({ try providers.store.read { try providers.find(name, tenant: ctx.caller.tenantId, in: $0) } }) else {
            throw APIError.notFound("model provider '\(name.prefix(64))' not found")
        }
        return stored
    }

    private static func notPersisted(_ ctx: RequestContext, status: Int, _ data: JSONObject) -> Reply {
        ctx.warnings.append("test mode: not persisted")
        return Reply(status: status, data: .object(data))
    }
}

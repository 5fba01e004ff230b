import Basics
import Foundation
import HTTPServer
import NeoJSON
import Store

/// Inbound events (design §9): `POST /callbacks` (a key with `callbacks` read_write), the signed
/// `POST /inbound/{endpoint_id}` (no key: the endpoint's secret), and Neo's callback read API.
enum CallbackRoutes {
    static let listFilters = ["entity_type", "entity_id", "entity_number", "since", "until", "change_type", "agent_id"]
    /// How far back `since` alone may reach (Neo: "since (≤ 7 days)"), plus a minute for clock skew.
    static let sinceWindow: TimeInterval = 7 * 24 * 3600 + 60

    /// `inboundLimiter` counts signed inbound deliveries per tenant (the limit of NEO_RATE_LIMIT, a budget apart
    /// from the tenant's keys').
    static func routes(store: Store, callbacks: CallbackService, endpoints: WebhookEndpointRecords, inboundLimiter: RateLimiter) -> [Route] {
        let read = Access.group(.callbacks, .read), write = Access.group(.callbacks, .read_write)
        return [
            Route("POST", "/public-api/callbacks", access: write, refusedInProcess: Route.queuesRuns) { try post($0, callbacks) },
            Route("GET", "/public-api/callbacks", access: read, query: Page.parameters + listFilters) { try list($0, store, callbacks) },
            Route("GET", "/public-api/callbacks/{callback_id}", access: read) { ctx in
                let id = ctx.params["callback_id"] ?? ""
                guard isUUID(id) else { throw APIError.notFound("callback '\(id.prefix(64))' not found") }
                let detail = try ctx.timed {
                    try store.read { db in
                        try CallbackRecords.find(id, tenantId: ctx.caller.tenantId, db).map { try callbacks.detail($0, includeAuditTrail: true, db) }
                    }
                }
                guard let detail else { throw APIError.notFound("callback '\(id)' not found") }
                return Reply.raw(data: detail)
            },
            Route("GET", "/public-api/executions/{execution_id}/callback", access: read) { try executionCallback($0, store, callbacks) },
            Route("POST", "/public-api/inbound/{endpoint_id}", access: .open, query: ["format"], refusedInProcess: Route.queuesRuns) { try inbound($0, store, callbacks, endpoints, inboundLimiter) },
        ]
    }

    private static let testModeWarning = "test mode: not persisted"

    private static func post(_ ctx: RequestContext, _ callbacks: CallbackService) throws -> Reply {
        let (event, warnings) = try CallbackEvent.parse(try ctx.jsonBody())
        ctx.warnings += warnings
        let caller = ctx.caller
        let source = JSON.object(JSONObject([("type", .string("api")), ("key_id", .int(caller.keyId))]))
        let outcome = try ctx.timed {
            try callbacks.ingest(event, tenantId: caller.tenantId, keyId: caller.keyId, source: source, testMode: ctx.testMode,
                                 receipt: wantsReceipt(ctx), audit: .request(ctx))
        }
        return reply(outcome, ctx)
    }

    /// 202 with the new CallbackDetail, 200 with the first one for a repeated event_id.
    private static func reply(_ outcome: CallbackService.Outcome, _ ctx: RequestContext) -> Reply {
        var reply: Reply
        switch outcome {
        case .created(_, let detail):
            if ctx.testMode { ctx.warnings.append(testModeWarning) }
            reply = Reply.raw(status: 202, data: detail)
        case .duplicate(let callback, let detail):
            if ctx.testMode { ctx.warnings.append(testModeWarning) }
            ctx.warnings.append("event_id '\(callback.eventId?.prefix(64) ?? "")' was already ingested as callback \(callback.id); nothing new was started")
            reply = Reply.raw(status: 200, data: detail)
        }
        if wantsReceipt(ctx) { reply.headers.append(("Preference-Applied", "return=minimal")) }
        return reply
    }

    /// `Prefer: return=minimal` (RFC 7240): answer the receipt, without `workflow_matches` and the audit
    /// trail (with a thousand agents the full answer is most of a megabyte that a PSA never reads).
    static func wantsReceipt(_ ctx: RequestContext) -> Bool {
        ctx.request.headers.contains { field in
            asciiCaseInsensitiveEquals(field.name, "Prefer")
                && field.value.split(separator: ",").contains { Conditions.trimmedOfWhitespace(String($0)).lowercased() == "return=minimal" }
        }
    }

    // MARK: signed inbound

    /// A PSA's post: the endpoint names the tenant, `X-Neo-Signature` proves the sender holds its secret
    /// (checked over the exact body bytes before anything is parsed), each signature is accepted once.
    private static func inbound(_ ctx: RequestContext, _ store: Store, _ callbacks: CallbackService, _ endpoints: WebhookEndpointRecords,
                                _ limiter: RateLimiter) throws -> Reply {
        let id = ctx.params["endpoint_id"] ?? ""
        guard isUUID(id), let endpoint = try ctx.timed({ try store.read { try WebhookEndpointRecords.find(id, $0) } }) else {
            throw APIError.notFound("webhook endpoint '\(id.prefix(64))' not found; admins create one with POST /public-api/webhook-endpoints")
        }
        // No key names the tenant here: the endpoint does, in the access log too.
        ctx.logFields = [("tenant", .int(endpoint.tenantId)), ("endpoint_id", .string(endpoint.id))]
        if let revoked = endpoint.revokedAt {
            throw APIError.notFound("webhook endpoint '\(id)' was revoked at \(revoked); ask an admin for a new one")
        }
        let secret = Array(try endpoints.secret(of: endpoint).utf8)
        let body = ctx.request.body
        let signedAt: Int64
        do {
            signedAt = try WebhookSignature.verify(header: ctx.request.headers["X-Neo-Signature"], body: body, secret: secret,
                                                   now: Int64(Date().timeIntervalSince1970))
        } catch let failure as WebhookSignature.Failure {
            throw APIError(status: 401, code: "UNAUTHORIZED", message: failure.description,
                           details: [.init(field: "X-Neo-Signature", issue: failure.description)])
        }
        // Counted once the sender proved it holds the secret (as other routes count once the key authenticated):
        // deliveries nobody signed cannot spend the tenant's budget.
        let limitHeaders = try limiter.headers(tenant: endpoint.tenantId, what: "this tenant's inbound endpoints")
        do {
            var reply = try ingestSigned(ctx, callbacks, endpoint: endpoint, secret: secret, body: body, signedAt: signedAt)
            reply.headers = limitHeaders + reply.headers
            return reply
        } catch var e as APIError {
            e.headers = limitHeaders + e.headers
            throw e
        }
    }

    private static func ingestSigned(_ ctx: RequestContext, _ callbacks: CallbackService, endpoint: WebhookEndpoint, secret: [UInt8],
                                     body: [UInt8], signedAt: Int64) throws -> Reply {
        let format = try PSAFormat.named(try ctx.query("format"))
        let normalized = try format.normalize(try ctx.jsonBody())
        guard case .event(let mapped) = normalized else {
            if case .ignored(let reason) = normalized {
                return Reply(data: .object(JSONObject([("ignored", .bool(true)), ("message", .string(reason))])))
            }
            throw APIError.internalError()
        }
        let (event, warnings) = try CallbackEvent.parse(mapped)
        ctx.warnings += warnings
        // The replay key is the signature the body and timestamp call for, whichever v1 entry carried it.
        let replayKey = WebhookSignature.sign(secret: secret, timestamp: signedAt, body: body)
        let expiresAt = Timestamp.format(Date(timeIntervalSince1970: TimeInterval(signedAt + WebhookSignature.tolerance)))
        let source = JSON.object(JSONObject([("type", .string("inbound")), ("endpoint_id", .string(endpoint.id)), ("format", .string(format.rawValue))]))
        let replayed = APIError(status: 409, code: "CONFLICT",
                                message: "this X-Neo-Signature was already accepted (a replay); sign each delivery with its own timestamp",
                                details: [.init(field: "X-Neo-Signature", issue: "already used")])
        let outcome = try ctx.timed {
            try callbacks.ingest(event, tenantId: endpoint.tenantId, keyId: nil, source: source, testMode: ctx.testMode,
                                 receipt: wantsReceipt(ctx), audit: .request(ctx), inWrite: { db in
                guard try WebhookEndpointRecords.consumeSignature(endpointId: endpoint.id, signature: replayKey, expiresAt: expiresAt,
                                                                  now: Timestamp.now(), db) else { throw replayed }
            }, inTestRead: { db in
                // A dry run refuses a replay as the real delivery would, and leaves the signature unused.
                if try WebhookEndpointRecords.signatureUsed(endpointId: endpoint.id, signature: replayKey, now: Timestamp.now(), db) { throw replayed }
            })
        }
        return reply(outcome, ctx)
    }

    // MARK: the read API

    /// Neo's rule: a list needs an indexed filter (entity_type + entity_id, entity_number, or since within
    /// 7 days); the others narrow it.
    private static func list(_ ctx: RequestContext, _ store: Store, _ callbacks: CallbackService) throws -> Reply {
        let page = try Page.parse(ctx, defaultSize: 20)
        var filter = CallbackRecords.Filter()
        if let raw = try ctx.query("entity_type"), !raw.isEmpty {
            guard CallbackEvent.entityTypes.contains(raw.lowercased()) else {
                throw APIError.badRequest("entity_type must be one of \(CallbackEvent.entityTypes.joined(separator: ", ")) in any case (got '\(raw.prefix(64))')",
                                          details: [.init(field: "entity_type", issue: "unknown entity type")])
            }
            filter.entityType = raw.lowercased()
        }
        filter.entityId = try ctx.query("entity_id").flatMap { $0.isEmpty ? nil : $0 }
        filter.entityNumber = try ctx.query("entity_number").flatMap { $0.isEmpty ? nil : $0 }
        filter.since = try ListFilters.timestamp(ctx, "since")
        filter.until = try ListFilters.timestamp(ctx, "until")
        filter.agentId = try ListFilters.positiveInt(ctx, "agent_id")
        if let raw = try ctx.query("change_type"), !raw.isEmpty {
            filter.changeTypes = try raw.split(separator: ",").map { part in
                let value = part.trimmingCharacters(in: .whitespaces)
                guard let normalized = TargetChanges.normalizedChangeType(value) else {
                    throw APIError.badRequest("change_type must be a comma-separated list of CREATE, UPDATE (got '\(value.prefix(64))')",
                                              details: [.init(field: "change_type", issue: "unknown value '\(value.prefix(64))'")])
                }
                return normalized
            }
        }
        if filter.entityId != nil && filter.entityType == nil {
            throw APIError.badRequest("entity_id needs entity_type (e.g. entity_type=ticket&entity_id=42): ids are per entity type",
                                      details: [.init(field: "entity_type", issue: "required with entity_id")])
        }
        let byEntity = filter.entityType != nil && filter.entityId != nil
        let recentSince = filter.since.flatMap(Timestamp.parse).map { $0 >= Date().addingTimeInterval(-sinceWindow) } ?? false
        if !byEntity && filter.entityNumber == nil && !recentSince {
            let sinceIssue = filter.since == nil ? "or since (at most 7 days ago)" : "is more than 7 days ago; alone it must be within the last 7 days"
            throw APIError.badRequest("GET /public-api/callbacks needs an indexed filter: entity_type with entity_id, entity_number, "
                                      + "or since within the last 7 days (until, change_type and agent_id only narrow one of those)",
                                      details: [.init(field: "entity_type", issue: "with entity_id, or"),
                                                .init(field: "entity_id", issue: "with entity_type, or"),
                                                .init(field: "entity_number", issue: "or"),
                                                .init(field: "since", issue: sinceIssue)])
        }
        let (out, info) = try ctx.timed {
            try store.read { db -> ([UInt8], PageInfo) in
                let (rows, info) = try CallbackRecords.list(tenantId: ctx.caller.tenantId, filter, page: page, db)
                var out: [UInt8] = [91]
                for (i, callback) in rows.enumerated() {
                    if i > 0 { out.append(44) }
                    out += try callbacks.detail(callback, includeAuditTrail: false, db)
                }
                out.append(93)
                return (out, info)
            }
        }
        return Reply.raw(data: out, pagination: info)
    }

    /// The callback that started an execution; 404 for runs something else started.
    private static func executionCallback(_ ctx: RequestContext, _ store: Store, _ callbacks: CallbackService) throws -> Reply {
        let id = ctx.params["execution_id"] ?? ""
        let tenantId = ctx.caller.tenantId
        let found = try ctx.timed {
            try store.read { db -> (Execution, [UInt8]?)? in
                guard isUUID(id), let execution = try ExecutionRecords.find(id, tenantId: tenantId, db) else { return nil }
                guard execution.trigger["type"]?.stringValue == "CALLBACK", let callbackId = execution.trigger["callback_id"]?.stringValue else {
                    return (execution, nil)
                }
                return (execution, try CallbackRecords.find(callbackId, tenantId: tenantId, db).map { try callbacks.detail($0, includeAuditTrail: true, db) })
            }
        }
        guard let (execution, detail) = found else { throw APIError.notFound("execution '\(id.prefix(64))' not found") }
        guard let detail else {
            let trigger = execution.trigger["type"]?.stringValue ?? "none"
            throw APIError.notFound("execution \(id) was not started by a callback (its trigger is \(trigger))")
        }
        return Reply.raw(data: detail)
    }
}

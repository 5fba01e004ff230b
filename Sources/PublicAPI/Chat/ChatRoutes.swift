import Basics
import Foundation
import HTTPServer
import NeoJSON
import Store

/// `/chat/sessions` (Neo's chat API, design §13): sessions with CONVERSATIONAL agents, their messages (each
/// user message queues a turn) and their event stream (Server-Sent Events in the AI SDK's UI-message-stream
/// format). Permission group `executions`: a turn is an execution of the agent, as run-now makes one; read to
/// list, read and tail, read_write to create, write and archive.
enum ChatRoutes {
    /// Limits of the event streams.
    struct StreamLimits: Sendable {
        var keepAlive: Double = 15
        var maxTotal = 4096
        var maxPerKey = 256
    }

    static func routes(store: Store, turns: ChatTurns, limits: StreamLimits) -> [Route] {
        let read = Access.group(.executions, .read), write = Access.group(.executions, .read_write)
        let caps = StreamCaps(limits)
        return [
            Route("POST", "/public-api/chat/sessions", access: write) { try create($0, store) },
            Route("GET", "/public-api/chat/sessions", access: read, query: Page.parameters) { ctx in
                let page = try Page.parse(ctx)
                let (items, info) = try ctx.timed { try store.read { try ChatRecords.sessions(tenantId: ctx.caller.tenantId, page, $0) } }
                return Reply(data: .array(items.map(\.json)), pagination: info)
            },
            Route("GET", "/public-api/chat/sessions/{session_id}", access: read) { ctx in
                Reply(data: try session(ctx, store).json)
            },
            Route("DELETE", "/public-api/chat/sessions/{session_id}", access: write) { try archive($0, store) },
            Route("POST", "/public-api/chat/sessions/{session_id}/messages", access: write, refusedInProcess: Route.queuesRuns) { try append($0, store, turns) },
            Route("GET", "/public-api/chat/sessions/{session_id}/messages", access: read, query: Page.parameters) { ctx in
                let s = try session(ctx, store)
                let page = try Page.parse(ctx)
                let (items, info) = try ctx.timed { try store.read { try ChatRecords.messages(session: s.id, page, $0) } }
                return Reply(data: .array(items.map(JSON.object)), pagination: info)
            },
            Route("GET", "/public-api/chat/sessions/{session_id}/events", access: read, query: ["since"]) { ctx in
                try tail(ctx, store, turns.hub, caps, limits)
            },
        ]
    }

    private static func session(_ ctx: RequestContext, _ store: Store) throws -> ChatSession {
        let id = ctx.params["session_id"] ?? ""
        guard id.utf8.count <= 64,
              let s = try ctx.timed({ try store.read { try ChatRecords.session(id, tenantId: ctx.caller.tenantId, $0) } }) else {
            throw APIError.notFound("chat session '\(id.prefix(64))' not found")
        }
        return s
    }

    // MARK: sessions

    private static func create(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let body = try ctx.jsonBody()
        let v = Validation()
        let r = FieldReader(body, validation: v)
        let agentId = r.isNull("agent_id") ? nil : r.int("agent_id", range: 1...Int64.max)
        let managed = r.isNull("managed_agent_key") ? nil : r.string("managed_agent_key", maxLength: 200, minLength: 1)
        let title = r.isNull("title") ? nil : r.string("title", maxLength: 500)
        let clientId = r.isNull("client_id") ? nil : r.string("client_id", maxLength: 200)
        let botId = r.isNull("bot_id") ? nil : r.string("bot_id", maxLength: 200)
        let inbound = r.isNull("inbound_tenant_id") ? nil : r.string("inbound_tenant_id", maxLength: 200)
        r.warnUnknown()
        if clientId != nil {
            throw APIError.forbidden("client_id is honored only for a platform service account, and this key is not one "
                                     + "(this server has none); omit client_id to create the session in your own tenant")
        }
        switch (agentId, managed) {
        case (nil, nil):
            if v.ok { v.fail("agent_id", "provide exactly one of agent_id or managed_agent_key") }
        case (.some, .some):
            v.fail("agent_id", "provide exactly one of agent_id or managed_agent_key, not both")
        case (nil, let key?):
            v.fail("managed_agent_key", "'\(key.prefix(64))' is not a Neo-managed agent on this server (it has none); pass the agent_id of a CONVERSATIONAL agent")
        default:
            break
        }
        if botId != nil || inbound != nil { v.warn("bot_id and inbound_tenant_id are honored only for a platform service account; ignored") }
        ctx.warnings += v.warnings
        try v.check()
        guard let agentId else { throw APIError.internalError() }
        let tenantId = ctx.caller.tenantId
        guard let agent = try ctx.timed({ try store.read { try AgentRecords.document(agentId, tenantId: tenantId, $0) } }) else {
            throw APIError.notFound("agent '\(agentId)' not found")
        }
        let type = agent["autonomy_type"]?.stringValue ?? ""
        guard type == AgentSchema.conversational else {
            throw APIError(status: 400, code: "validation_error",
                           message: "agent_id \(agentId) is a \(type) agent; chat sessions need a CONVERSATIONAL agent",
                           details: [.init(field: "agent_id", issue: "must be a CONVERSATIONAL agent (is \(type))")])
        }
        if let state = agent["state"]?.stringValue, state != "ENABLED" {
            throw APIError.conflict("agent \(agentId) is \(state); enable it before starting a chat session with it")
        }
        let now = Timestamp.now()
        let s = ChatSession(id: SecureRandom.uuid(), tenantId: tenantId, agentId: agentId, title: title, channel: "API", clientId: nil, botId: nil,
                            inboundTenantId: nil, showAgentProgressSteps: true, archivedAt: nil, createdAt: now, updatedAt: now)
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
        } else {
            try ctx.timed { try store.write { try ChatRecords.insertSession(s, keyId: ctx.caller.keyId, $0) } }
        }
        return Reply(status: 201, data: s.json)
    }

    private static func archive(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        var s = try session(ctx, store)
        if s.archivedAt != nil { return Reply(data: s.json) }
        let now = Timestamp.now()
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
        } else {
            _ = try ctx.timed { try store.write { try ChatRecords.archive(s.id, tenantId: s.tenantId, now: now, $0) } }
        }
        s.archivedAt = now
        s.updatedAt = now
        return Reply(data: s.json)
    }

    // MARK: messages

    private static func append(_ ctx: RequestContext, _ store: Store, _ turns: ChatTurns) throws -> Reply {
        let s = try session(ctx, store)
        let body = try ctx.jsonBody()
        let v = Validation()
        let r = FieldReader(body, validation: v)
        let message = r.isNull("message") ? "" : (r.string("message", maxLength: 32_000) ?? "")
        let clientMessageId = r.isNull("client_message_id") ? nil : r.string("client_message_id", maxLength: 200, minLength: 1)
        let tier = r.enumValue("model_tier", ["FAST", "SMART"]) ?? "FAST"
        let attachments = r.isNull("attachments") ? [] : (r.array("attachments", maxCount: 6) ?? [])
        r.warnUnknown()
        if !attachments.isEmpty {
            v.fail("attachments", "attachments are not supported by this server (no upload endpoint); send [] or omit it")
        } else if v.ok && message.allSatisfy(\.isWhitespace) {
            v.fail("message", "must not be empty (attachments are not supported, so a message needs text)")
        }
        ctx.warnings += v.warnings
        try v.check()
        if s.archivedAt != nil {
            throw APIError.conflict("chat session \(s.id) was archived at \(s.archivedAt ?? ""); archived sessions take no messages")
        }
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(status: 202, data: .object(JSONObject([("chat_turn_id", .string(SecureRandom.uuid())),
                                                                ("since_cursor", .string(String(try turns.hub.lastSeq(s.id)))),
                                                                ("user_message_id", .string(SecureRandom.uuid())),
                                                                ("show_agent_progress_steps", .bool(s.showAgentProgressSteps))])))
        }
        turns.settleOrphans(s.id)
        let since = try turns.hub.lastSeq(s.id)
        let now = Timestamp.now()
        let turn = try ctx.timed {
            try store.write { db -> ChatTurn in
                if let clientMessageId, let original = try ChatRecords.messageId(clientMessageId: clientMessageId, session: s.id, db) {
                    var e = APIError.conflict("client_message_id '\(clientMessageId.prefix(64))' was already sent in this session as user message \(original); no new turn was queued")
                    e.fields = [("user_message_id", .string(original))]
                    e.details = [.init(field: "client_message_id", issue: "duplicate of user message \(original)")]
                    throw e
                }
                guard try ChatRecords.session(s.id, tenantId: s.tenantId, db)?.archivedAt == nil else {
                    throw APIError.conflict("chat session \(s.id) is archived; archived sessions take no messages")
                }
                let turn = ChatTurn(id: SecureRandom.uuid(), sessionId: s.id, tenantId: s.tenantId, seq: try ChatRecords.nextTurnSeq(session: s.id, db),
                                    userMessageId: SecureRandom.uuid(), assistantMessageId: SecureRandom.uuid(), modelTier: tier, createdAt: now)
                try ChatRecords.insertMessage(id: turn.userMessageId, session: s, role: "user", content: message, turnId: turn.id, turnSeq: turn.seq,
                                              clientMessageId: clientMessageId, now: now, db)
                try ChatRecords.insertTurn(turn, db)
                return turn
            }
        }
        turns.startNext(s.id)
        return Reply(status: 202, data: .object(JSONObject([("chat_turn_id", .string(turn.id)), ("since_cursor", .string(String(since))),
                                                            ("user_message_id", .string(turn.userMessageId)),
                                                            ("show_agent_progress_steps", .bool(s.showAgentProgressSteps))])))
    }

    // MARK: the event stream

    private static func tail(_ ctx: RequestContext, _ store: Store, _ hub: ChatEventHub, _ caps: StreamCaps, _ limits: StreamLimits) throws -> Reply {
        let s = try session(ctx, store)
        let raw = try ctx.query("since") ?? ctx.request.headers["Last-Event-Id"]
        var since: Int64 = 0
        if let raw, !raw.isEmpty {
            guard raw.utf8.count <= 19, raw.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(raw) else {
                throw APIError.badRequest("since (or Last-Event-Id) must be an event id: a non-negative integer (got '\(raw.prefix(64))')",
                                          details: [.init(field: "since", issue: "must be a non-negative integer")])
            }
            since = n
        }
        let key = ctx.caller.keyId
        try caps.acquire(key: key)
        let tail = ChatTail(session: s.id, since: since, keepAlive: limits.keepAlive) { tail in
            hub.unsubscribe(tail.session, tail)
            caps.release(key: key)
        }
        do {
            tail.setReplay(try hub.subscribe(s.id, since: since, tail))
        } catch {
            tail.stream.detachUnopened()
            throw error
        }
        var reply = Reply(status: 200, headers: [("x-vercel-ai-ui-message-stream", "v1"), ("X-Accel-Buffering", "no")])
        reply.stream = tail.stream
        return reply
    }

    /// Open streams per key and in total; past either cap a new one is refused with a code that says which.
    final class StreamCaps: Sendable {
        let limits: StreamLimits
        private let open = Lock<(total: Int, perKey: [Int64: Int])>((0, [:]))

        init(_ limits: StreamLimits) { self.limits = limits }

        func acquire(key: Int64) throws {
            try open.withLock { o in
                if o.total >= limits.maxTotal {
                    var e = APIError(status: 503, code: "TOO_MANY_STREAMS",
                                     message: "this server holds its maximum of \(limits.maxTotal) open event streams; retry shortly")
                    e.headers = [("Retry-After", "5")]
                    throw e
                }
                if o.perKey[key, default: 0] >= limits.maxPerKey {
                    var e = APIError(status: 429, code: "TOO_MANY_STREAMS",
                                     message: "this key holds its maximum of \(limits.maxPerKey) open event streams; close one before opening another")
                    e.headers = [("Retry-After", "5")]
                    throw e
                }
                o.total += 1
                o.perKey[key, default: 0] += 1
            }
        }

        func release(key: Int64) {
            open.withLock { o in
                o.total -= 1
                o.perKey[key, default: 1] -= 1
                if o.perKey[key] == 0 { o.perKey[key] = nil }
            }
        }
    }
}

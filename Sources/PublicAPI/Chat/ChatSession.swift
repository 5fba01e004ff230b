import Foundation
import NeoJSON
import Store

/// A chat session (Neo's `PublicChatSession`): one conversation of a bot with a CONVERSATIONAL agent.
struct ChatSession {
    var id: String
    var tenantId: Int64
    var agentId: Int64
    var title: String?
    /// Where the session came from; sessions made through this API are `API`.
    var channel: String
    var clientId: String?
    var botId: String?
    var inboundTenantId: String?
    var showAgentProgressSteps: Bool
    var archivedAt: String?
    var createdAt: String
    var updatedAt: String

    /// Neo's fields, in its order.
    var json: JSON {
        func text(_ s: String?) -> JSON { s.map(JSON.string) ?? .null }
        return .object(JSONObject([("id", .string(id)), ("agent_id", .int(agentId)), ("archived_at", text(archivedAt)), ("channel", .string(channel)),
                                   ("client_id", text(clientId)), ("created_at", .string(createdAt)), ("title", text(title)),
                                   ("updated_at", .string(updatedAt)), ("show_agent_progress_steps", .bool(showAgentProgressSteps))]))
    }
}

extension ChatSession {
    init(row: Row) {
        self.init(id: row.string("id") ?? "", tenantId: row.int("tenant_id") ?? 0, agentId: row.int("agent_id") ?? 0, title: row.string("title"),
                  channel: row.string("channel") ?? "API", clientId: row.string("client_id"), botId: row.string("bot_id"),
                  inboundTenantId: row.string("inbound_tenant_id"), showAgentProgressSteps: row.int("show_agent_progress_steps") != 0,
                  archivedAt: row.string("archived_at"), createdAt: row.string("created_at") ?? "", updatedAt: row.string("updated_at") ?? "")
    }
}

/// One turn: the user message it answers, the assistant message it will write, and how far it got.
struct ChatTurn {
    var id: String
    var sessionId: String
    var tenantId: Int64
    /// 1, 2, 3… per session: the order turns run in.
    var seq: Int64
    var userMessageId: String
    var assistantMessageId: String
    /// FAST or SMART.
    var modelTier: String
    var status = "queued"
    var executionId: String? = nil
    var createdAt: String
}

extension ChatTurn {
    init(row: Row) {
        self.init(id: row.string("id") ?? "", sessionId: row.string("session_id") ?? "", tenantId: row.int("tenant_id") ?? 0,
                  seq: row.int("seq") ?? 0, userMessageId: row.string("user_message_id") ?? "", assistantMessageId: row.string("assistant_message_id") ?? "",
                  modelTier: row.string("model_tier") ?? "FAST", status: row.string("status") ?? "queued",
                  executionId: row.string("execution_id"), createdAt: row.string("created_at") ?? "")
    }
}

/// One part of a session's stream, as stored and as sent (`id: seq`, `data: part`).
struct ChatEvent: Sendable {
    var sessionId: String
    /// The SSE id: 1, 2, 3… per session.
    var seq: Int64
    var turnId: String?
    /// The UI-message-stream part, serialized JSON.
    var part: String
    var createdAt: String

    /// `id: 7\ndata: {…}\n\n`.
    var sse: [UInt8] { Array("id: \(seq)\ndata: \(part)\n\n".utf8) }
}

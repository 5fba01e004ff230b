import Basics
import Foundation
import NeoJSON
import Store

/// A technician-in-the-loop request's lifecycle: `pending → approved | rejected | expired`.
enum TilStatus: String, CaseIterable {
    case pending, approved, rejected, expired
    static let names = allCases.map(\.rawValue)

    /// The value as an SQL literal (a constant, never input).
    var sql: String { "'\(rawValue)'" }
}

/// What a TIL request holds.
enum TilKind: String {
    /// An agent-actor key's destructive agent edit (design §4).
    case agentUpdate = "agent_update"
    /// A call to an external API with `requires_approval`, by a run or an agent key's invoke.
    case externalAPICall = "external_api_call"
    /// An agent-actor key's external-API config create, update or delete.
    case configWrite = "config_write"
}

/// How long a pending request waits before it expires.
let tilRequestLifetime: TimeInterval = 7 * 24 * 3600

/// A request about to be stored: what it asks and what it holds.
struct TilRequestDraft {
    var tenantId: Int64
    var agentId: Int64?
    var agentName: String?
    var kind: TilKind
    /// What is asked, for a person.
    var comment: String
    /// The held change as shown (redacted).
    var requestedFor: JSON
    /// What approval applies: the patch, the action index, or a sealed config write. Never shown.
    var payload: String
    var executionId: String? = nil
    var stepSeq: Int64? = nil
    var ticketId: String? = nil
    var baseVersion: Int64? = nil
    var requestedByKeyId: Int64? = nil
}

/// One TIL request (Neo's `TilRequest` plus our status, kind and decision fields).
struct TilRequest {
    let id: Int64?
    let tenantId: Int64
    let agentId: Int64?
    let agentName: String?
    let kind: TilKind
    let status: TilStatus
    let comment: String?
    let requestedFor: JSON
    let approvers: JSON
    let executionId: String?
    let stepSeq: Int64?
    let sessionId: String?
    let ticketId: String?
    let ticketNumber: String?
    let baseVersion: Int64?
    let requestedByKeyId: Int64?
    let decidedBy: JSON
    let note: String?
    let createdAt: String
    let updatedAt: String
    let decidedAt: String?
    let expiresAt: String?
    /// Only read when the request is decided (`ApprovalRecords.find`), never serialized.
    let payload: String?

    init(row: Row) {
        func parsed(_ name: String) -> JSON { row.string(name).flatMap { try? JSON.parse($0) } ?? .null }
        id = row.int("id")
        tenantId = row.int("tenant_id") ?? 0
        agentId = row.int("agent_id")
        agentName = row.string("agent_name")
        kind = TilKind(rawValue: row.string("kind") ?? "") ?? .agentUpdate
        status = TilStatus(rawValue: row.string("status") ?? "") ?? .expired
        comment = row.string("comment")
        requestedFor = parsed("requested_for")
        approvers = parsed("approvers")
        executionId = row.string("execution_id")
        stepSeq = row.int("step_seq")
        sessionId = row.string("session_id")
        ticketId = row.string("ticket_id")
        ticketNumber = row.string("ticket_number")
        baseVersion = row.int("base_version")
        requestedByKeyId = row.int("requested_by_key_id")
        decidedBy = parsed("decided_by")
        note = row.string("note")
        createdAt = row.string("created_at") ?? ""
        updatedAt = row.string("updated_at") ?? ""
        decidedAt = row.string("decided_at")
        expiresAt = row.string("expires_at")
        payload = row.string("payload")
    }

    /// The request a draft would become, unsaved (test mode answers it).
    init(unsaved draft: TilRequestDraft, now: Date) {
        id = nil
        tenantId = draft.tenantId
        agentId = draft.agentId
        agentName = draft.agentName
        kind = draft.kind
        status = .pending
        comment = draft.comment
        requestedFor = draft.requestedFor
        approvers = .array([])
        executionId = draft.executionId
        stepSeq = draft.stepSeq
        sessionId = nil
        ticketId = draft.ticketId
        ticketNumber = nil
        baseVersion = draft.baseVersion
        requestedByKeyId = draft.requestedByKeyId
        decidedBy = .null
        note = nil
        createdAt = Timestamp.format(now)
        updatedAt = createdAt
        decidedAt = nil
        expiresAt = Timestamp.format(now.addingTimeInterval(tilRequestLifetime))
        payload = draft.payload
    }

    var json: JSON {
        func text(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return .object(JSONObject([
            ("id", id.map { .int($0) } ?? .null), ("agent_id", agentId.map { .int($0) } ?? .null), ("agent_name", text(agentName)),
            ("approvers", approvers), ("comment", text(comment)), ("decided_by", decidedBy), ("requested_for", requestedFor),
            ("session_id", text(sessionId)), ("ticket_id", text(ticketId)), ("ticket_number", text(ticketNumber)),
            ("created_at", .string(createdAt)), ("updated_at", .string(updatedAt)), ("status", .string(status.rawValue)),
            ("kind", .string(kind.rawValue)), ("execution_id", text(executionId)), ("decided_at", text(decidedAt)),
            ("expires_at", text(expiresAt)), ("note", text(note)),
        ]))
    }
}

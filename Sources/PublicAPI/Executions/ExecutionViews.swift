import Basics
import Foundation
import NeoJSON
import Store

/// Row → JSON for executions, steps, artifacts and TIL requests (Neo's shapes, design §5).
enum ExecutionViews {
    static let executionColumns = "id, tenant_id, agent_id, agent_name, kind, status, entity_id, entity_number, additional_custom_instructions, message_for_dashboard, error, input, test_mode, retry_of, created_at, updated_at, started_at, finished_at, seconds_spent"
    static let stepColumns = "id, execution_id, seq, type, message, is_error, tool_call_id, tool_type_name, data, created_at"
    static let tilColumns = "id, tenant_id, agent_id, agent_name, kind, status, comment, requested_for, approvers, execution_id, step_seq, session_id, ticket_id, ticket_number, base_version, requested_by_key_id, decided_by, note, created_at, updated_at, decided_at, expires_at"

    static func text(_ row: Row, _ name: String) -> JSON { row.string(name).map { .string($0) } ?? .null }
    static func parsed(_ row: Row, _ name: String) -> JSON {
        guard let s = row.string(name) else { return .null }
        return (try? JSON.parse(s)) ?? .null
    }

    static func execution(_ row: Row) -> JSON {
        .object(JSONObject([
            ("execution_id", text(row, "id")),
            ("agent_id", row.int("agent_id").map { .int($0) } ?? .null),
            ("agent_name", text(row, "agent_name")),
            ("entity_id", text(row, "entity_id")),
            ("entity_number", text(row, "entity_number")),
            ("additional_custom_instructions", text(row, "additional_custom_instructions")),
            ("message_for_dashboard", text(row, "message_for_dashboard")),
            ("error", text(row, "error")),
            ("seconds_spent", row.double("seconds_spent").map { .double(($0 * 1000).rounded() / 1000) } ?? .null),
            ("created_at", text(row, "created_at")),
            ("updated_at", text(row, "updated_at")),
            ("status", text(row, "status")),
            ("kind", text(row, "kind")),
            ("started_at", text(row, "started_at")),
            ("finished_at", text(row, "finished_at")),
            ("test_mode", .bool(row.bool("test_mode") ?? false)),
            ("input", parsed(row, "input")),
            ("retry_of", text(row, "retry_of")),
        ]))
    }

    static func step(_ row: Row, includeData: Bool) -> JSON {
        .object(JSONObject([
            ("step_id", .string(String(row.int("id") ?? 0))),
            ("type", text(row, "type")),
            ("created_at", text(row, "created_at")),
            ("message", text(row, "message")),
            ("is_error", .bool(row.bool("is_error") ?? false)),
            ("tool_call_id", text(row, "tool_call_id")),
            ("tool_type_name", text(row, "tool_type_name")),
            ("data", includeData ? parsed(row, "data") : .null),
        ]))
    }

    static func artifact(_ row: Row, withContent: Bool) -> JSON {
        var o = JSONObject([
            ("artifact_id", text(row, "id")), ("execution_id", text(row, "execution_id")), ("kind", text(row, "kind")),
            ("name", text(row, "name")), ("created_at", text(row, "created_at")),
        ])
        if withContent { o["content"] = text(row, "content") }
        return .object(o)
    }

    static func til(_ row: Row) -> JSON {
        .object(JSONObject([
            ("id", row.int("id").map { .int($0) } ?? .null),
            ("agent_id", row.int("agent_id").map { .int($0) } ?? .null),
            ("agent_name", text(row, "agent_name")),
            ("approvers", parsed(row, "approvers")),
            ("comment", text(row, "comment")),
            ("decided_by", parsed(row, "decided_by")),
            ("requested_for", parsed(row, "requested_for")),
            ("session_id", text(row, "session_id")),
            ("ticket_id", text(row, "ticket_id")),
            ("ticket_number", text(row, "ticket_number")),
            ("created_at", text(row, "created_at")),
            ("updated_at", text(row, "updated_at")),
            ("status", text(row, "status")),
            ("kind", text(row, "kind")),
            ("execution_id", text(row, "execution_id")),
            ("decided_at", text(row, "decided_at")),
            ("expires_at", text(row, "expires_at")),
            ("note", text(row, "note")),
        ]))
    }
}

/// Shared query-filter parsing for list endpoints.
enum ListFilters {
    /// A comma-separated list of enum values (`status=failed,cancelled`); 400 naming the bad value.
    static func enumList(_ ctx: RequestContext, _ name: String, _ allowed: [String]) throws -> [String]? {
        guard let raw = try ctx.query(name), !raw.isEmpty else { return nil }
        let values = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for v in values where !allowed.contains(v) {
            throw APIError.badRequest("\(name) must be a comma-separated list of \(allowed.joined(separator: ", ")) (got '\(v.prefix(64))')",
                                      details: [.init(field: name, issue: "unknown value '\(v.prefix(64))'")])
        }
        return values
    }

    /// An RFC 3339 timestamp parameter, normalized for comparison with stored timestamps.
    static func timestamp(_ ctx: RequestContext, _ name: String) throws -> String? {
        guard let raw = try ctx.query(name), !raw.isEmpty else { return nil }
        guard let date = Timestamp.parse(raw) else {
            throw APIError.badRequest("\(name) must be an RFC 3339 date-time such as 2026-01-31T00:00:00Z (got '\(raw.prefix(64))')",
                                      details: [.init(field: name, issue: "not an RFC 3339 date-time")])
        }
        return Timestamp.format(date)
    }

    static func positiveInt(_ ctx: RequestContext, _ name: String) throws -> Int64? {
        guard let raw = try ctx.query(name), !raw.isEmpty else { return nil }
        guard let v = Int64(raw), v > 0 else {
            throw APIError.badRequest("\(name) must be a positive integer (got '\(raw.prefix(64))')", details: [.init(field: name, issue: "not a positive integer")])
        }
        return v
    }

    static func bool(_ ctx: RequestContext, _ name: String, default value: Bool) throws -> Bool {
        guard let raw = try ctx.query(name) else { return value }
        switch raw.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError.badRequest("\(name) must be true or false (got '\(raw.prefix(64))')", details: [.init(field: name, issue: "not a boolean")])
        }
    }
}

/// UUIDv4-shaped ids (execution_id, artifact_id); anything else cannot exist.
func isUUID(_ s: String) -> Bool {
    s.utf8.count == 36 && UUID(uuidString: s) != nil
}

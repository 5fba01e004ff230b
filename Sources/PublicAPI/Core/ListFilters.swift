import Basics
import Foundation
import Store

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

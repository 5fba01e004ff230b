import Foundation
import Store

/// Neo's list parameters: `page_size` (1–200, default 50) and an opaque `cursor` (design §3, §7).
/// Lists are newest first, keyed by (created_at, id) descending.
public struct Page {
    public let size: Int
    /// The position after which this page starts, decoded from the cursor.
    public let after: (createdAt: String, id: String)?

    /// The query parameters `parse` reads, for the `Route.query` of every list.
    public static let parameters = ["page_size", "cursor"]

    public static func parse(_ ctx: RequestContext) throws -> Page {
        var size = 50
        if let raw = try ctx.query("page_size") {
            guard let n = Int(raw), (1...200).contains(n) else {
                throw APIError.badRequest("page_size must be an integer from 1 to 200 (got '\(raw)')",
                                          details: [.init(field: "page_size", issue: "must be 1-200")])
            }
            size = n
        }
        var after: (String, String)?
        if let raw = try ctx.query("cursor"), !raw.isEmpty {
            guard let decoded = Page.decodeCursor(raw) else {
                throw APIError.badRequest("cursor is not one this server issued; pass meta.pagination.next_cursor unchanged",
                                          details: [.init(field: "cursor", issue: "invalid")])
            }
            after = decoded
        }
        return Page(size: size, after: after)
    }

    /// SQL fragment and parameters selecting rows after the cursor; column names are fixed by the caller.
    /// Lists are newest first; `ascending` is for chronological sub-lists such as execution steps.
    public func keysetClause(createdAt: String = "created_at", id: String = "id", ascending: Bool = false) -> (String, [SQLValue]) {
        guard let a = after else { return ("", []) }
        let idValue: SQLValue = Int64(a.id).map { .int($0) } ?? .text(a.id)
        let op = ascending ? ">" : "<"
        return (" AND (\(createdAt) \(op) ? OR (\(createdAt) = ? AND \(id) \(op) ?))", [.text(a.createdAt), .text(a.createdAt), idValue])
    }

    /// Trims a fetched `size + 1` rows to one page and builds `meta.pagination`.
    public func finish<T>(_ rows: [T], key: (T) -> (createdAt: String, id: String)) -> ([T], PageInfo) {
        guard rows.count > size else { return (rows, PageInfo(hasMore: false, nextCursor: nil)) }
        let page = Array(rows.prefix(size))
        let last = key(page[page.count - 1])
        return (page, PageInfo(hasMore: true, nextCursor: Page.encodeCursor(createdAt: last.createdAt, id: last.id)))
    }

    static func encodeCursor(createdAt: String, id: String) -> String {
        Data("v1|\(createdAt)|\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ s: String) -> (String, String)? {
        guard s.count <= 200 else { return nil }
        var b64 = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", Timestamp.parse(String(parts[1])) != nil, !parts[2].isEmpty,
              parts[2].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
        return (String(parts[1]), String(parts[2]))
    }
}

/// A list endpoint's query: a tenant-scoped base, filters added one by one (always bound
/// parameters), then one newest-first page.
struct ListQuery {
    private(set) var sql: String
    private(set) var params: [SQLValue]

    init(_ base: String, _ params: [SQLValue]) {
        sql = base
        self.params = params
    }

    mutating func filter(_ clause: String, _ values: [SQLValue]) {
        sql += " AND " + clause
        params += values
    }

    /// `column IN (…)` when `values` were given.
    mutating func oneOf(_ column: String, _ values: [String]?) {
        guard let values, !values.isEmpty else { return }
        filter("\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ",")))", values.map { .text($0) })
    }

    /// A case-insensitive substring search over `columns` (the `q` parameter), LIKE wildcards escaped.
    mutating func search(_ columns: [String], _ text: String?) throws {
        guard let text, !text.isEmpty else { return }
        guard text.count <= 200 else { throw APIError.badRequest("q must be at most 200 characters") }
        let pattern = "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        filter("(" + columns.map { "\($0) LIKE ? ESCAPE '\\'" }.joined(separator: " OR ") + ")",
               Array(repeating: .text(pattern), count: columns.count))
    }

    /// Neo's `created_after` / `created_before` window.
    mutating func createdWindow(_ ctx: RequestContext) throws {
        if let after = try ListFilters.timestamp(ctx, "created_after") { filter("created_at > ?", [.text(after)]) }
        if let before = try ListFilters.timestamp(ctx, "created_before") { filter("created_at < ?", [.text(before)]) }
    }

    /// The SQL and parameters of one page (`size + 1` rows, for `Page.finish`), newest first.
    func paged(_ page: Page) -> (String, [SQLValue]) {
        let (clause, keyset) = page.keysetClause()
        return (sql + clause + " ORDER BY created_at DESC, id DESC LIMIT ?", params + keyset + [.int(Int64(page.size + 1))])
    }
}

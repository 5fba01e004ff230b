import Basics
import Foundation
import Store

/// Neo's list parameters: `page_size` (1–200, default 50) and an opaque `cursor` (design §3, §7).
/// Lists are newest first, keyed by (created_at, id) descending. A cursor is bound to the list and
/// filters it came from: given to another list, or with other filters, it is refused rather than
/// silently paging through something else.
public struct Page {
    public let size: Int
    /// The position after which this page starts, decoded from the cursor.
    public let after: (createdAt: String, id: String)?
    /// The list and filters this page belongs to (`binding(_:)`), written into the cursors it issues.
    let binding: String

    /// The query parameters `parse` reads, for the `Route.query` of every list.
    public static let parameters = ["page_size", "cursor"]

    /// `defaultSize` is 50 except where Neo documents another (`GET /callbacks`: 20).
    public static func parse(_ ctx: RequestContext, defaultSize: Int = 50) throws -> Page {
        var size = defaultSize
        if let raw = try ctx.query("page_size") {
            guard let n = Int(raw), (1...200).contains(n) else {
                throw APIError.badRequest("page_size must be an integer from 1 to 200 (got '\(raw)')",
                                          details: [.init(field: "page_size", issue: "must be 1-200")])
            }
            size = n
        }
        let binding = Page.binding(ctx)
        var after: (String, String)?
        if let raw = try ctx.query("cursor"), !raw.isEmpty {
            guard let decoded = Page.decodeCursor(raw) else {
                throw APIError.badRequest("cursor is not one this server issued; pass meta.pagination.next_cursor unchanged",
                                          details: [.init(field: "cursor", issue: "invalid")])
            }
            guard decoded.binding == binding else {
                throw APIError.badRequest("cursor belongs to another list or to other filters; repeat the path and filters of the "
                                          + "request that returned it (only page_size may change), or start again without a cursor",
                                          details: [.init(field: "cursor", issue: "issued for another list or other filters")])
            }
            after = (decoded.createdAt, decoded.id)
        }
        return Page(size: size, after: after, binding: binding)
    }

    /// 8 hex digits of FNV-1a over the route pattern, the path parameters and the filters: every query
    /// parameter the route declares except page_size and cursor, sorted, so their order does not matter
    /// and unknown (ignored) parameters do not count. Catches mistakes, not forgeries: cursors carry no
    /// secret and every query is tenant-scoped.
    static func binding(_ ctx: RequestContext) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ s: String) {
            for b in s.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            hash = hash &* 0x100_0000_01b3 // a 0 byte ends each string: ("ab", "c") differs from ("a", "bc")
        }
        add(ctx.pattern)
        for name in ctx.params.keys.sorted() {
            add(name)
            add(ctx.params[name] ?? "")
        }
        let filters = ctx.queryItems.filter { name, _ in
            name != "page_size" && name != "cursor" && (ctx.acceptedQuery?.contains(name) ?? true)
        }
        for (name, value) in filters.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
            add("?" + name)
            add(value)
        }
        let folded = UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
        let hex = String(folded, radix: 16)
        return String(repeating: "0", count: 8 - hex.utf8.count) + hex
    }


    /// Trims a fetched `size + 1` rows to one page and builds `meta.pagination`.
    public func finish<T>(_ rows: [T], key: (T) -> (createdAt: String, id: String)) -> ([T], PageInfo) {
        guard rows.count > size else { return (rows, PageInfo(hasMore: false, nextCursor: nil)) }
        let page = Array(rows.prefix(size))
        let last = key(page[page.count - 1])
        return (page, PageInfo(hasMore: true, nextCursor: encodeCursor(createdAt: last.createdAt, id: last.id)))
    }

    /// The cursor of the page after the row at (createdAt, id), bound to this page's list and filters:
    /// base64url of `v2|<binding>|<created_at>|<id>`.
    func encodeCursor(createdAt: String, id: String) -> String {
        Data("v2|\(binding)|\(createdAt)|\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A cursor's parts, or nil when it is not one `encodeCursor` made (v1 cursors had no binding).
    static func decodeCursor(_ s: String) -> (binding: String, createdAt: String, id: String)? {
        guard s.count <= 200 else { return nil }
        var b64 = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v2", parts[1].utf8.count == 8, parts[1].allSatisfy(\.isHexDigit),
              Timestamp.parse(String(parts[2])) != nil, !parts[3].isEmpty,
              parts[3].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
        return (String(parts[1]), String(parts[2]), String(parts[3]))
    }
}

import HTTPServer
import NeoJSON

/// What a handler returns: `data` for the envelope (or pre-serialized JSON bytes on hot paths),
/// pagination for lists, and extra headers.
public struct Reply {
    public var status: Int
    public var data: JSON
    /// Already-serialized JSON for `data`; wins over `data` when set.
    public var rawData: [UInt8]?
    public var pagination: PageInfo?
    public var headers: [(String, String)] = []
    /// A non-envelope body (the OpenAPI document); wins over everything else.
    public var rawBody: [UInt8]?
    /// A streamed body (Server-Sent Events): the head goes out with this reply's status and headers, then
    /// whatever the stream writes.
    public var stream: ResponseStream?
    /// Set by `later`: the real reply arrives through the callback, from any thread, so a handler
    /// waiting on an upstream holds no worker thread.
    var deferred: (@Sendable (@escaping @Sendable (Result<Reply, APIError>) -> Void) -> Void)?

    public init(status: Int = 200, data: JSON = .null, pagination: PageInfo? = nil, headers: [(String, String)] = []) {
        self.status = status
        self.data = data
        self.pagination = pagination
        self.headers = headers
    }

    /// A reply that `start` delivers later through its callback (exactly once).
    public static func later(_ start: @escaping @Sendable (@escaping @Sendable (Result<Reply, APIError>) -> Void) -> Void) -> Reply {
        var r = Reply()
        r.deferred = start
        return r
    }

    public static func raw(status: Int = 200, data: [UInt8], pagination: PageInfo? = nil) -> Reply {
        var r = Reply(status: status, pagination: pagination)
        r.rawData = data
        return r
    }
}

/// `meta.pagination` of a list response.
public struct PageInfo: Equatable {
    public var hasMore: Bool
    public var nextCursor: String?
    public init(hasMore: Bool, nextCursor: String?) { self.hasMore = hasMore; self.nextCursor = nextCursor }
}

/// Builds envelope bodies (design §3) directly as bytes.
enum Envelope {
    static func success(_ reply: Reply, requestId: String, totalMs: Double, dbMs: Double, warnings: [String]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((reply.rawData?.count ?? 256) + 200)
        out.append(contentsOf: #"{"data":"#.utf8)
        if let raw = reply.rawData { out.append(contentsOf: raw) } else { reply.data.write(into: &out) }
        out.append(contentsOf: #","meta":{"request_id":"#.utf8)
        appendJSONString(requestId, to: &out)
        out.append(contentsOf: #","timings_ms":{"total":"#.utf8)
        appendMillis(totalMs, to: &out)
        out.append(contentsOf: #","db":"#.utf8)
        appendMillis(dbMs, to: &out)
        out.append(125)
        if let page = reply.pagination {
            out.append(contentsOf: #","pagination":{"has_more":"#.utf8)
            out.append(contentsOf: (page.hasMore ? "true" : "false").utf8)
            out.append(contentsOf: #","next_cursor":"#.utf8)
            if let c = page.nextCursor { appendJSONString(c, to: &out) } else { out.append(contentsOf: "null".utf8) }
            out.append(125)
        }
        if !warnings.isEmpty {
            out.append(contentsOf: #","warnings":"#.utf8)
            JSON.array(warnings.map { .string($0) }).write(into: &out)
        }
        out.append(contentsOf: "}}".utf8)
        return out
    }

    /// `{"error": …, "meta": {"request_id": …, "warnings": […]}}`, warnings only when there are any.
    static func error(_ error: APIError, requestId: String, warnings: [String] = []) -> [UInt8] {
        var e = JSONObject([("code", .string(error.code)), ("message", .string(error.message))])
        for (k, v) in error.fields { e[k] = v }
        if !error.details.isEmpty {
            e["details"] = .array(error.details.map { .object(JSONObject([("field", .string($0.field)), ("issue", .string($0.issue))])) })
        }
        var meta = JSONObject([("request_id", .string(requestId))])
        if !warnings.isEmpty { meta["warnings"] = .array(warnings.map { .string($0) }) }
        let body = JSONObject([("error", .object(e)), ("meta", .object(meta))])
        return JSON.object(body).serialized()
    }

    /// Milliseconds with two decimals, as a JSON number.
    static func appendMillis(_ ms: Double, to out: inout [UInt8]) {
        let hundredths = Int((ms * 100).rounded())
        out.append(contentsOf: String(hundredths / 100).utf8)
        out.append(46)
        let frac = hundredths % 100
        if frac < 10 { out.append(48) }
        out.append(contentsOf: String(frac).utf8)
    }
}

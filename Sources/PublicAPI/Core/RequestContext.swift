import Basics
import Foundation
import HTTPServer
import NeoJSON

/// Everything a handler knows about the request it serves: no globals.
public final class RequestContext: Sendable {
    public let request: HTTPRequest
    public let requestId: String
    public let params: [String: String]
    public let pattern: String
    let started: Double
    /// The request's span (W3C `traceparent`): sent on the calls it makes, logged, and answered; with
    /// the inbound `tracestate` (kept beside a valid traceparent), sent on those calls only.
    public let trace: TraceContext
    /// The matched route's request counters; nil when no route matched.
    let metrics: RouteMetrics?

    /// What handlers and the App fill in as the request moves from the loop to a worker and back
    /// (one thread at a time, but not always the same one).
    private struct Mutable {
        var principal: Principal?
        var warnings: [String] = []
        var acceptedQuery: [String]?
        var dbMilliseconds = 0.0
        var parsedQuery: [(String, String)]?
        var offload: @Sendable (@escaping @Sendable () -> Void) -> Void = { $0() }
        var testModeRequested = false
        var logFields: [(String, JSON)] = []
        var idempotencyClaim: IdempotencyKeys.Claim?
    }
    private let mutable = Lock(Mutable())

    /// What an open route learned about whom it served, for the access log (the signed inbound route: the
    /// endpoint's tenant and id). Authenticated routes log their principal's tenant and key instead.
    var logFields: [(String, JSON)] {
        get { mutable.withLock { $0.logFields } }
        set { mutable.withLock { $0.logFields = newValue } }
    }

    /// Set by authentication on protected routes.
    public internal(set) var principal: Principal? {
        get { mutable.withLock { $0.principal } }
        set { mutable.withLock { $0.principal = newValue } }
    }
    /// The handler's `meta.warnings` lines (see `responseWarnings` for all of them).
    public var warnings: [String] {
        get { mutable.withLock { $0.warnings } }
        set { mutable.withLock { $0.warnings = newValue } }
    }
    /// The query parameters the matched route declares (`Route.query`); nil when no route matched.
    var acceptedQuery: [String]? {
        get { mutable.withLock { $0.acceptedQuery } }
        set { mutable.withLock { $0.acceptedQuery = newValue } }
    }
    /// Milliseconds spent in the store for this request.
    public var dbMilliseconds: Double {
        get { mutable.withLock { $0.dbMilliseconds } }
        set { mutable.withLock { $0.dbMilliseconds = newValue } }
    }
    private var parsedQuery: [(String, String)]? {
        get { mutable.withLock { $0.parsedQuery } }
        set { mutable.withLock { $0.parsedQuery = newValue } }
    }
    /// Runs blocking follow-up work (store writes after an upstream answered) on the worker pool.
    public internal(set) var offload: @Sendable (@escaping @Sendable () -> Void) -> Void {
        get { mutable.withLock { $0.offload } }
        set { mutable.withLock { $0.offload = newValue } }
    }

    init(request: HTTPRequest, requestId: String, params: [String: String], pattern: String, started: Double,
         trace: TraceContext? = nil, metrics: RouteMetrics? = nil) {
        self.request = request
        self.requestId = requestId
        self.params = params
        self.pattern = pattern
        self.started = started
        self.trace = trace ?? TraceContext.forRequest(request.headers["traceparent"],
                                                      tracestate: request.headers.compactMap { asciiCaseInsensitiveEquals($0.name, "tracestate") ? $0.value : nil })
        self.metrics = metrics
    }

    /// The authenticated caller; only nil on open routes.
    public var caller: Principal {
        guard let p = principal else { preconditionFailure("caller read on an unauthenticated route") }
        return p
    }

    /// The Idempotency-Key this request holds until its answer is kept (`IdempotencyKeys`).
    var idempotencyClaim: IdempotencyKeys.Claim? {
        get { mutable.withLock { $0.idempotencyClaim } }
        set { mutable.withLock { $0.idempotencyClaim = newValue } }
    }

    /// The claim, once: whoever takes it settles it.
    func takeIdempotencyClaim() -> IdempotencyKeys.Claim? {
        mutable.withLock { m in
            defer { m.idempotencyClaim = nil }
            return m.idempotencyClaim
        }
    }

    /// `X-Neo-Test-Mode` as parsed before the handler ran (`testModeHeader`).
    var testModeRequested: Bool {
        get { mutable.withLock { $0.testModeRequested } }
        set { mutable.withLock { $0.testModeRequested = newValue } }
    }

    /// Test mode (seed 002, design §4): the key's flag, which no header turns off, or `X-Neo-Test-Mode` on.
    public var testMode: Bool { (principal?.testMode ?? false) || testModeRequested }

    /// Reads every `X-Neo-Test-Mode` field: `1`/`true`/`yes` is on, `0`/`false`/`no` is off (any case,
    /// surrounding whitespace ignored), absent is off. Anything else, or fields that disagree, is 400:
    /// a safety switch fails closed, so a typo can never make real writes.
    static func testModeHeader(_ headers: HTTPHeaders) throws -> Bool {
        var on: Bool?
        for field in headers where asciiCaseInsensitiveEquals(field.name, testModeHeaderName) {
            let value: Bool
            switch field.value.trimmingCharacters(in: .whitespaces).lowercased() {
            case "1", "true", "yes": value = true
            case "0", "false", "no": value = false
            default:
                throw APIError.badRequest("\(testModeHeaderName) must be 1, true or yes (on) or 0, false or no (off), in any case (got '\(field.value.prefix(64))')",
                                          details: [.init(field: testModeHeaderName, issue: "not one of 1, true, yes, 0, false, no")])
            }
            if let earlier = on, earlier != value {
                throw APIError.badRequest("\(testModeHeaderName) is given more than once with different values; send it once: 1, true or yes (on) or 0, false or no (off)",
                                          details: [.init(field: testModeHeaderName, issue: "given more than once with different values")])
            }
            on = value
        }
        return on ?? false
    }

    static let testModeHeaderName = "X-Neo-Test-Mode"

    /// Decoded query parameters in order.
    public var queryItems: [(String, String)] {
        if let q = parsedQuery { return q }
        let items = parseQuery(request.query)
        parsedQuery = items
        return items
    }

    /// The value of query parameter `name`; 400 when it is given more than once. The route must
    /// declare `name` in `Route.query`, or it would also be reported as unknown.
    public func query(_ name: String) throws -> String? {
        assert(acceptedQuery?.contains(name) ?? true, "\(pattern) reads query parameter '\(name)' it does not declare in Route.query")
        var found: String?
        for (k, v) in queryItems where k == name {
            if found != nil { throw APIError.badRequest("query parameter '\(name)' given more than once") }
            found = v
        }
        return found
    }

    /// `meta.warnings`: one line per query parameter the route does not take, then the handler's, then
    /// those an error carries (`carried`) that the handler had not already added.
    func responseWarnings(carried: [String] = []) -> [String] {
        var warnings = self.warnings
        for w in carried where !warnings.contains(w) { warnings.append(w) }
        guard let accepted = acceptedQuery, !queryItems.isEmpty else { return warnings }
        var unknown: [String] = []
        for (name, _) in queryItems where !accepted.contains(name) && !unknown.contains(name) {
            unknown.append(name)
        }
        guard !unknown.isEmpty else { return warnings }
        let unsent = accepted.filter { name in !queryItems.contains { $0.0 == name } }
        return unknown.map {
            NameSuggestion.unknownMessage("query parameter", String($0.prefix(64)), suggestion: NameSuggestion.closest(to: $0, among: unsent))
        } + warnings
    }

    /// A path parameter that must be a positive decimal integer (ids), else 404 as Neo does for unknown ids.
    public func intParam(_ name: String, resource: String) throws -> Int64 {
        guard let raw = params[name], !raw.isEmpty, raw.count <= 18, raw.allSatisfy({ $0.isASCII && $0.isNumber }),
              let v = Int64(raw), v > 0 else {
            throw APIError.notFound("\(resource) '\(params[name] ?? "")' not found")
        }
        return v
    }

    /// Times a store call into `meta.timings_ms.db`.
    public func timed<T>(_ body: () throws -> T) rethrows -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { dbMilliseconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 }
        return try body()
    }
}

/// Splits `a=1&b=x%20y` into decoded pairs (`+` is a space, as in forms). A malformed escape keeps
/// the raw text, so the value fails the parameter's own validation with a message showing it.
func parseQuery(_ query: String?) -> [(String, String)] {
    guard let query, !query.isEmpty else { return [] }
    return query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { pair in
        let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
        return (decodeQueryComponent(parts[0]), parts.count > 1 ? decodeQueryComponent(parts[1]) : "")
    }
}

private func decodeQueryComponent(_ raw: Substring.UTF8View.SubSequence) -> String {
    guard raw.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
        return String(decoding: raw, as: UTF8.self)
    }
    var out: [UInt8] = []
    out.reserveCapacity(raw.count)
    var i = raw.startIndex
    while i < raw.endIndex {
        let b = raw[i]
        if b == UInt8(ascii: "+") {
            out.append(32)
        } else if b == UInt8(ascii: "%"), let h1 = raw.index(i, offsetBy: 1, limitedBy: raw.endIndex), h1 < raw.endIndex,
                  let h2 = raw.index(i, offsetBy: 2, limitedBy: raw.endIndex), h2 < raw.endIndex,
                  let hi = hexValue(raw[h1]), let lo = hexValue(raw[h2]) {
            out.append(hi << 4 | lo)
            i = h2
        } else {
            out.append(b)
        }
        i = raw.index(after: i)
    }
    return String(decoding: out, as: UTF8.self)
}

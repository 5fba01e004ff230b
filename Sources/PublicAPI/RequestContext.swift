import Foundation
import HTTPServer
import NeoJSON

/// Permission groups on a key (design §4, seed 002).
public enum PermissionGroup: String, CaseIterable, Sendable {
    case agents, executions, approvals, external_apis
}

/// none < read < read_write.
public enum AccessLevel: String, Comparable, CaseIterable, Sendable {
    case none, read, read_write
    var rank: Int { self == .none ? 0 : self == .read ? 1 : 2 }
    public static func < (a: AccessLevel, b: AccessLevel) -> Bool { a.rank < b.rank }
}

/// Everything a handler knows about the request it serves: no globals.
public final class RequestContext: @unchecked Sendable {
    public let request: HTTPRequest
    public let requestId: String
    public let params: [String: String]
    public let pattern: String
    let started: Double
    /// Set by authentication on protected routes.
    public internal(set) var principal: Principal?
    public var warnings: [String] = []
    /// Milliseconds spent in the store for this request.
    public var dbMilliseconds = 0.0
    private var parsedQuery: [(String, String)]?

    init(request: HTTPRequest, requestId: String, params: [String: String], pattern: String, started: Double) {
        self.request = request
        self.requestId = requestId
        self.params = params
        self.pattern = pattern
        self.started = started
    }

    /// The authenticated caller; only nil on open routes.
    public var caller: Principal {
        guard let p = principal else { preconditionFailure("caller read on an unauthenticated route") }
        return p
    }

    /// Test mode: the key's flag or `X-Neo-Test-Mode: 1` (seed 002).
    public var testMode: Bool {
        (principal?.testMode ?? false) || request.headers["X-Neo-Test-Mode"] == "1"
    }

    /// Decoded query parameters in order.
    public var queryItems: [(String, String)] {
        if let q = parsedQuery { return q }
        let items = parseQuery(request.query)
        parsedQuery = items
        return items
    }

    /// The value of query parameter `name`; 400 when it is given more than once.
    public func query(_ name: String) throws -> String? {
        var found: String?
        for (k, v) in queryItems where k == name {
            if found != nil { throw APIError.badRequest("query parameter '\(name)' given more than once") }
            found = v
        }
        return found
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

/// Splits `a=1&b=x%20y` into decoded pairs (`+` is a space, as in forms).
func parseQuery(_ query: String?) -> [(String, String)] {
    guard let query, !query.isEmpty else { return [] }
    return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        func decode(_ s: Substring) -> String {
            let plus = s.replacingOccurrences(of: "+", with: " ")
            return plus.removingPercentEncoding ?? plus
        }
        return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
    }
}

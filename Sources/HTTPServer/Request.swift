/// Header fields of a request or response, in wire order, looked up case-insensitively.
public struct HTTPHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }

    /// The first value of `name` (ASCII case-insensitive), or nil.
    public subscript(name: String) -> String? {
        for f in fields where asciiCaseInsensitiveEquals(f.name, name) { return f.value }
        return nil
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    /// Replaces every field called `name` with one field.
    public mutating func set(_ name: String, _ value: String) {
        fields.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
        fields.append((name, value))
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

/// ASCII case-insensitive equality without allocating.
@inlinable
public func asciiCaseInsensitiveEquals(_ a: String, _ b: String) -> Bool {
    var ia = a.utf8.makeIterator(), ib = b.utf8.makeIterator()
    while true {
        switch (ia.next(), ib.next()) {
        case (nil, nil): return true
        case let (x?, y?):
            if x == y { continue }
            let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
            if lx != ly { return false }
        default: return false
        }
    }
}

/// A complete, parsed HTTP request (head and decoded body).
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request-target as sent (origin-form, absolute-form or "*").
    public var target: String
    /// Path part of the target (no query), still percent-encoded.
    public var path: String
    /// Query string without the "?", or nil.
    public var query: String?
    public var versionMinor: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Peer address, "ip:port".
    public var remoteAddress: String

    public init(method: String, target: String, versionMinor: Int = 1, headers: HTTPHeaders = HTTPHeaders(),
                body: [UInt8] = [], remoteAddress: String = "") {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        (self.path, self.query) = HTTPRequest.splitTarget(target)
    }

    /// Splits a request-target into path and query; absolute-form keeps only its path.
    static func splitTarget(_ target: String) -> (String, String?) {
        var t = Substring(target)
        if t.utf8.first == UInt8(ascii: "/") {
            // Origin-form, the common case: split at the first "?" without Foundation. "://" inside
            // its path or query is data and must not re-route the request.
            guard let q = t.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (target, nil) }
            return (String(t[..<q]), String(t[t.index(after: q)...]))
        }
        // Absolute-form (the parser admits only "http://" and "https://" there).
        if let scheme = t.range(of: "://") {
            let afterAuthority = t[scheme.upperBound...]
            if let slash = afterAuthority.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                t = afterAuthority[slash...]
                if t.first == "?" { t = "/" + t }
            } else {
                t = "/"
            }
        }
        if let q = t.firstIndex(of: "?") {
            return (String(t[..<q]), String(t[t.index(after: q)...]))
        }
        return (String(t), nil)
    }
}

/// A response to send. The server adds Date, Server, Content-Length and Connection; with a `stream`
/// the body is what the stream writes, chunked, and `body` is ignored.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var stream: ResponseStream?

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [], stream: ResponseStream? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stream = stream
    }
}

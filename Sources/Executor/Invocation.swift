import NeoJSON

/// What a caller asks of one external API (the invoke body, design §5): all optional.
public struct Invocation: Sendable, Equatable {
    /// Appended to the endpoint path (may carry its own `?query`).
    public var path: String?
    /// Extra query pairs, in order.
    public var query: [(String, String)]
    /// The JSON body, checked against the config's body_fields.
    public var body: JSONObject?
    /// Extra headers, sanitized.
    public var headers: [(String, String)]
    /// Values for `{placeholders}` in the endpoint URL.
    public var params: [String: String]

    public init(path: String? = nil, query: [(String, String)] = [], body: JSONObject? = nil,
                headers: [(String, String)] = [], params: [String: String] = [:]) {
        self.path = path
        self.query = query
        self.body = body
        self.headers = headers
        self.params = params
    }

    public static func == (a: Invocation, b: Invocation) -> Bool {
        a.path == b.path && a.query.elementsEqual(b.query, by: ==) && a.body == b.body
            && a.headers.elementsEqual(b.headers, by: ==) && a.params == b.params
    }
}

/// A fully built request, ready for curl: the one shape that is sent, redacted and recorded.
public struct UpstreamRequest: Sendable {
    /// One header; `secret` ones are shown as `***` when redacted.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public var secret: Bool
    }

    /// One decoded query pair appended after the URL's own query.
    public struct QueryItem: Sendable, Equatable {
        public var name: String
        public var value: String
        public var secret: Bool
    }

    public var method: HTTPMethod
    /// The URL without the appended query items.
    public var base: UpstreamURL { didSet { rendered = nil } }
    public var queryItems: [QueryItem] { didSet { rendered = nil } }
    public var headers: [Header]
    public var body: [UInt8]?
    /// `url` made once for the config when the request is its fixed endpoint as is (no path, no query items):
    /// set by the builder, dropped by any change of `base` or `queryItems`.
    private var rendered: String?

    public init(method: HTTPMethod, base: UpstreamURL, queryItems: [QueryItem], headers: [Header], body: [UInt8]?) {
        self.method = method
        self.base = base
        self.queryItems = queryItems
        self.headers = headers
        self.body = body
    }

    init(method: HTTPMethod, base: UpstreamURL, queryItems: [QueryItem], headers: [Header], body: [UInt8]?, rendered: String?) {
        self.init(method: method, base: base, queryItems: queryItems, headers: headers, body: body)
        self.rendered = queryItems.isEmpty ? rendered : nil
    }

    /// The exact URL sent.
    public var url: String { rendered ?? render(redacting: false) }

    /// `url` for `base` without query items (what `rendered` holds).
    static func render(_ base: UpstreamURL) -> String {
        UpstreamRequest(method: .GET, base: base, queryItems: [], headers: [], body: nil).render(redacting: false)
    }

    /// The URL with secret query values replaced by `***`.
    public var redactedURL: String { render(redacting: true) }

    private func render(redacting: Bool) -> String {
        var parts: [String] = []
        if let q = base.query, !q.isEmpty { parts.append(q) }
        for item in queryItems {
            let value = redacting && item.secret ? "***" : PercentEncoding.encode(item.value)
            parts.append(PercentEncoding.encode(item.name) + "=" + value)
        }
        var s = "\(base.scheme)://\(base.hostForURL)"
        if base.explicitPort { s += ":\(base.port)" }
        s += base.path
        if !parts.isEmpty { s += "?" + parts.joined(separator: "&") }
        return s
    }

    /// `{method, url, headers, body}` with every secret as `***`: what steps, logs and test mode show.
    public func redacted() -> JSONObject {
        var headerObject = JSONObject()
        for h in headers { headerObject[h.name] = .string(h.secret ? "***" : h.value) }
        var out = JSONObject([("method", .string(method.rawValue)), ("url", .string(redactedURL)),
                              ("headers", .object(headerObject))])
        if let body {
            out["body"] = (try? JSON.parse(body)) ?? .string(String(decoding: body, as: UTF8.self))
        }
        return out
    }

    /// Adds or replaces the Authorization header (OAuth2 tokens arrive after the build).
    public mutating func setAuthorization(_ value: String) {
        headers.removeAll { asciiEqualsIgnoringCase($0.name.utf8, "authorization") }
        headers.append(Header(name: "Authorization", value: value, secret: true))
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
public enum PercentEncoding {
    public static func encode(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for byte in s.utf8 {
            switch byte {
            case 0x41...0x5a, 0x61...0x7a, 0x30...0x39, 0x2d, 0x2e, 0x5f, 0x7e:
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%"
                out += String(byte >> 4, radix: 16, uppercase: true)
                out += String(byte & 0xf, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// `application/x-www-form-urlencoded` body of the OAuth2 token request.
    public static func form(_ pairs: [(String, String)]) -> String {
        pairs.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }
}

func asciiLowercased(_ s: String) -> String {
    if !s.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) { return s }
    return String(decoding: s.utf8.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
}

/// Whether `bytes` spell the lowercase ASCII `lower`, ignoring ASCII case (no String allocated).
func asciiEqualsIgnoringCase(_ bytes: some Collection<UInt8>, _ lower: StaticString) -> Bool {
    guard bytes.count == lower.utf8CodeUnitCount else { return false }
    return lower.withUTF8Buffer { zip(bytes, $0).allSatisfy { a, b in (a >= 65 && a <= 90 ? a + 32 : a) == b } }
}

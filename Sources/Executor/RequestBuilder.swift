import Foundation
import NeoJSON

/// Builds the request for one call from a config and an invocation: template filling, path join,
/// SSRF origin check, header sanitization, typed body, auth injection. Pure: no DNS, no I/O.
public enum RequestBuilder {
    /// The request to send. OAuth2 configs get their Authorization header later (`setAuthorization`).
    public static func build(_ config: ExternalAPIConfig, _ call: Invocation) throws -> UpstreamRequest {
        let endpoint = config.parsedEndpoint
        let configured = try endpoint.origin.get()
        var url: UpstreamURL
        if let fixed = endpoint.fixed {
            url = fixed
        } else {
            let filled = try fillTemplate(config.endpointURL, params: call.params)
            guard case .success(let parsed) = UpstreamURL.parse(filled) else {
                throw ExecutorError.invalid("params", "the filled endpoint URL is not a valid URL")
            }
            url = parsed
        }
        var appended = false
        if let path = call.path, !path.isEmpty {
            try checkAppendedPath(path)
            url = join(url, path)
            appended = true
        }
        // A fixed endpoint passed this check when it was parsed; only a fill or a path can change it.
        if endpoint.fixed == nil || appended {
            try checkSameOrigin(url, configured, field: call.path == nil ? "params" : "path")
        }

        var queryItems: [UpstreamRequest.QueryItem] = []
        var authQueryName: String?
        if case .apiKeyQuery(let name, _) = config.auth { authQueryName = name }
        for (name, value) in call.query {
            if name == authQueryName { throw ExecutorError.invalid("query.\(name)", "is set by the config's api_key_query auth") }
            queryItems.append(.init(name: name, value: value, secret: false))
        }

        var headers = config.headers.map { UpstreamRequest.Header(name: $0.name, value: $0.value, secret: $0.secret) }
        let reserved = call.headers.isEmpty ? []
            : Set(headers.map { asciiLowercased($0.name) } + [config.auth.headerName].compactMap { $0.map(asciiLowercased) })
        for (name, value) in call.headers {
            if let problem = headerProblem(name: name, value: value) { throw ExecutorError.invalid("headers.\(name)", problem) }
            if reserved.contains(asciiLowercased(name)) {
                throw ExecutorError.invalid("headers.\(name)", "is set by the config '\(config.name)' and cannot be overridden")
            }
            headers.append(.init(name: name, value: value, secret: false))
        }

        let body = try buildBody(config.method, config.bodyFields, call.body)
        if body != nil && !headers.contains(where: { asciiEqualsIgnoringCase($0.name.utf8, "content-type") }) {
            headers.append(.init(name: "Content-Type", value: "application/json", secret: false))
        }

        // The auth header or query item, built once per config (`PreparedCredentials`). A configured Authorization
        // header gives way to the auth's, as `setAuthorization` would.
        let credentials = config.credentials
        if let auth = credentials.authHeader {
            if asciiEqualsIgnoringCase(auth.name.utf8, "authorization") { headers.removeAll { asciiEqualsIgnoringCase($0.name.utf8, "authorization") } }
            headers.append(auth)
        }
        if let query = credentials.authQuery { queryItems.append(query) }
        return UpstreamRequest(method: config.method, base: url, queryItems: queryItems, headers: headers, body: body,
                               rendered: appended || endpoint.fixed == nil ? nil : endpoint.fixedURL)
    }

    /// `Basic base64(user:password)`.
    public static func basicAuthorization(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// The configured origin: the endpoint URL parsed with its placeholders still in place, which
    /// must not touch scheme, host or port (validated when the config is written).
    public static func origin(of endpoint: String) throws -> UpstreamURL {
        guard case .success(let url) = UpstreamURL.parse(placeholderFree(endpoint)) else {
            throw ExecutorError.refused("endpoint_url", "the configured endpoint URL is not valid")
        }
        return url
    }

    /// The endpoint with every `{name}` replaced by a harmless token, for parsing and validation.
    public static func placeholderFree(_ endpoint: String) -> String {
        if !endpoint.utf8.contains(0x7b) { return endpoint }
        var out = ""
        var inside = false
        for c in endpoint {
            if c == "{" { inside = true; out += "x"; continue }
            if c == "}" && inside { inside = false; continue }
            if !inside { out.append(c) }
        }
        return out
    }

    /// The `{placeholder}` names in an endpoint URL, in order, or why the template is malformed.
    public static func placeholders(in endpoint: String) -> Result<[String], URLProblem> {
        var names: [String] = []
        var current: String?
        for c in endpoint {
            if c == "{" {
                if current != nil { return .failure(URLProblem("has a '{' inside a placeholder")) }
                current = ""
            } else if c == "}" {
                guard let name = current else { return .failure(URLProblem("has a '}' without '{'")) }
                guard let first = name.first, first.isASCII, first.isLetter || first == "_",
                      name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    return .failure(URLProblem("has an invalid placeholder '{\(name)}' (use letters, digits, '_')"))
                }
                names.append(name)
                current = nil
            } else if current != nil {
                current!.append(c)
            }
        }
        if current != nil { return .failure(URLProblem("has an unterminated placeholder")) }
        return .success(names)
    }

    /// Fills `{name}` from `params`, percent-encoding each value so it stays inside one path segment.
    public static func fillTemplate(_ endpoint: String, params: [String: String]) throws -> String {
        guard case .success(let names) = placeholders(in: endpoint) else {
            throw ExecutorError.refused("endpoint_url", "the configured endpoint URL has a malformed placeholder")
        }
        if names.isEmpty { return endpoint }
        var encoded: [String: String] = [:]
        for name in names {
            guard let value = params[name] else {
                throw ExecutorError.invalid("params.\(name)", "is required: the endpoint URL has '{\(name)}'")
            }
            guard !value.isEmpty, value != ".", value != ".." else {
                throw ExecutorError.invalid("params.\(name)", "must not be empty, '.' or '..'")
            }
            encoded[name] = PercentEncoding.encode(value)
        }
        var out = ""
        var current: String?
        for c in endpoint {
            if c == "{" { current = ""; continue }
            if c == "}", let name = current { out += encoded[name]!; current = nil; continue }
            if current != nil { current!.append(c) } else { out.append(c) }
        }
        return out
    }

    /// Refuses appended paths that could leave the configured base: dot segments (also encoded),
    /// encoded slashes or backslashes, raw backslashes, fragments and characters curl would re-encode.
    public static func checkAppendedPath(_ path: String) throws {
        let allowed: (UInt8) -> Bool = { b in
            (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39)
                || "-._~!$&'()*+,;=:@/%?".utf8.contains(b)
        }
        if let bad = path.unicodeScalars.first(where: { !$0.isASCII || !allowed(UInt8($0.value)) }) {
            let shown = bad.value < 0x20 || bad.value == 0x7f ? String(format: "0x%02X", bad.value) : "'\(bad)'"
            throw ExecutorError.refused("path", "contains \(shown); percent-encode it or use 'query'")
        }
        let utf8 = Array(path.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == 0x25 {
                guard i + 2 < utf8.count, isHex(utf8[i + 1]), isHex(utf8[i + 2]) else {
                    throw ExecutorError.refused("path", "has a '%' not followed by two hex digits")
                }
                let escaped = (utf8[i + 1], utf8[i + 2] | 0x20)
                if escaped == (0x32, 0x66) || escaped == (0x35, 0x63) {
                    let escape = "%" + String(decoding: utf8[i + 1...i + 2], as: UTF8.self)
                    throw ExecutorError.refused("path", "contains an encoded slash or backslash ('\(escape)')")
                }
                i += 3
            } else {
                i += 1
            }
        }
        let pathPart = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if pathPart.split(separator: "/", omittingEmptySubsequences: false).contains(where: isDotSegment) {
            throw ExecutorError.refused("path", "must not contain '.' or '..' segments")
        }
    }

    /// `.` or `..`, also with either dot written `%2e` or `%2E`.
    static func isDotSegment(_ segment: Substring) -> Bool {
        var dots = 0
        var bytes = segment.utf8.makeIterator()
        while let b = bytes.next() {
            if b == 0x2e {
                dots += 1
            } else if b == 0x25, bytes.next() == 0x32, let e = bytes.next(), e | 0x20 == 0x65 {
                dots += 1
            } else {
                return false
            }
            if dots > 2 { return false }
        }
        return dots > 0
    }

    /// Base path + appended path with exactly one `/` between; queries of both are kept in order.
    public static func join(_ base: UpstreamURL, _ appended: String) -> UpstreamURL {
        let parts = appended.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let extraPath = parts[0].drop(while: { $0 == "/" })
        var path = base.path
        if !extraPath.isEmpty {
            while path.hasSuffix("/") { path.removeLast() }
            path += "/" + extraPath
        }
        let queries = [base.query, parts.count > 1 ? String(parts[1]) : nil].compactMap { $0 }.filter { !$0.isEmpty }
        return UpstreamURL(scheme: base.scheme, host: base.host, port: base.port, explicitPort: base.explicitPort,
                           path: path, query: queries.isEmpty ? nil : queries.joined(separator: "&"))
    }

    /// The built URL must keep the configured scheme, host and port, and carry no dot segments.
    public static func checkSameOrigin(_ url: UpstreamURL, _ configured: UpstreamURL, field: String) throws {
        guard case .success(let reparsed) = UpstreamURL.parse(url.string), reparsed.origin == configured.origin else {
            throw ExecutorError.refused(field, "the request would leave the configured origin \(configured.origin)")
        }
        if reparsed.path.split(separator: "/", omittingEmptySubsequences: false).contains(where: isDotSegment) {
            throw ExecutorError.refused(field, "the request path must not contain '.' or '..' segments")
        }
    }

    /// Headers the executor owns: credentials, framing, hop-by-hop and proxy headers.
    static let forbiddenHeaders: Set<String> = [
        "authorization", "cookie", "host", "transfer-encoding", "content-length", "connection",
        "keep-alive", "te", "trailer", "upgrade", "expect",
    ]

    /// Why a caller-supplied header is refused, or nil when it may be sent.
    public static func headerProblem(name: String, value: String) -> String? {
        if let framing = framingProblem(name: name, value: value) { return framing }
        let lower = asciiLowercased(name)
        if forbiddenHeaders.contains(lower) || lower.hasPrefix("proxy-") {
            return "cannot be set by the caller: credentials, framing and proxy headers are managed by the executor"
        }
        return nil
    }

    /// Token syntax of the name and no CR, LF, NUL or other control characters in the value.
    public static func framingProblem(name: String, value: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 256,
              name.utf8.allSatisfy({ isTokenChar($0) }) else {
            return "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        }
        if value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) { return "value must not contain CR, LF or NUL" }
        if value.utf8.contains(where: { ($0 < 0x20 && $0 != 9) || $0 == 0x7f }) { return "value must not contain control characters" }
        if value.utf8.count > 8192 { return "value is longer than 8192 bytes" }
        return nil
    }

    /// The JSON body for methods that carry one, checked against `fields` (when any are declared).
    public static func buildBody(_ method: HTTPMethod, _ fields: [BodyField], _ body: JSONObject?) throws -> [UInt8]? {
        guard method.hasBody else {
            if let body, !body.isEmpty { throw ExecutorError.invalid("body", "\(method.rawValue) requests carry no body") }
            return nil
        }
        let given = body ?? JSONObject()
        if fields.isEmpty { return body.map { JSON.object($0).serialized() } }
        var out = JSONObject()
        for field in fields {
            guard let value = given[field.name], !value.isNull else {
                if field.required { throw ExecutorError.invalid("body.\(field.name)", "is required (\(field.type.rawValue))") }
                continue
            }
            let ok: Bool
            switch (field.type, value) {
            case (.String, .string), (.Number, .int), (.Number, .double), (.Boolean, .bool): ok = true
            default: ok = false
            }
            guard ok else { throw ExecutorError.invalid("body.\(field.name)", "must be a \(field.type.rawValue) (got \(value.typeName))") }
            out[field.name] = value
        }
        let known = Set(fields.map(\.name))
        if let unknown = given.keys.first(where: { !known.contains($0) }) {
            throw ExecutorError.invalid("body.\(unknown)", "is not a declared body field (declared: \(known.sorted().joined(separator: ", ")))")
        }
        return JSON.object(out).serialized()
    }

    private static func isHex(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 97 && b <= 102) || (b >= 65 && b <= 70) }

    private static func isTokenChar(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}

extension UpstreamAuth {
    /// The header this auth sets, which callers may not override.
    var headerName: String? {
        switch self {
        case .none, .apiKeyQuery: return nil
        case .bearer, .basic, .oauth2ClientCredentials: return "Authorization"
        case .apiKeyHeader(let name, _): return name
        }
    }
}

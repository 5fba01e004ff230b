import Executor
import NeoJSON

/// The wire and storage form of an external-API config (design §5): validation with field-path
/// errors, and encoding with each secret passed through a transform (mask, seal).
enum ExternalAPIConfigCodec {
    static let mask = "***"
    static let namePattern = "^[a-z][a-z0-9_]{0,63}$"

    /// Reads a config from `object`. A secret sent as `"***"` keeps the secret stored at the same
    /// path in `stored` (PUT); with nothing stored there it is refused. `policy` refuses IP-literal
    /// endpoints the executor would refuse anyway, so the mistake shows at write time.
    static func decode(_ object: JSONObject, validation v: Validation, stored: ExternalAPIConfig? = nil,
                       policy: UpstreamPolicy = .any) -> ExternalAPIConfig? {
        let r = FieldReader(object, validation: v)
        let storedSecrets = storedSecretsByPath(stored)
        func secret(_ reader: FieldReader, _ key: String, path: String) -> String? {
            guard let value = reader.string(key, required: true, maxLength: 8192, minLength: 1) else { return nil }
            guard value == mask else { return value }
            guard let kept = storedSecrets[path] else {
                v.fail(reader.field(key), "'***' keeps the stored secret, but none is stored here; send the real value")
                return nil
            }
            return kept
        }

        let name = r.string("name", required: true, maxLength: 64, minLength: 1)
        if let name, !isValidName(name) {
            v.fail("name", "must match \(namePattern): lowercase letter first, then lowercase letters, digits or '_' (got '\(name)')")
        }
        let description = r.string("description", maxLength: 2000)
        let instructions = r.string("instructions", maxLength: 10_000)
        let docsURL = r.string("docs_url", maxLength: 2048)
        if let docsURL, !(docsURL.lowercased().hasPrefix("https://") || docsURL.lowercased().hasPrefix("http://")) {
            v.fail("docs_url", "must be an absolute http(s) URL")
        }
        let endpoint = r.string("endpoint_url", required: true, maxLength: 2048, minLength: 1)
        if let endpoint, let problem = endpointProblem(endpoint, policy: policy) { v.fail("endpoint_url", problem) }
        let method = r.enumValue("method", HTTPMethod.allCases.map(\.rawValue), required: true).flatMap(HTTPMethod.init(rawValue:))

        var headers: [ConfigHeader] = []
        for (i, item) in (r.array("headers", maxCount: 50) ?? []).enumerated() {
            let path = "headers[\(i)]"
            guard let h = item.objectValue.map({ FieldReader($0, path: path, validation: v) }) else { v.fail(path, "must be an object {name, value, secret}"); continue }
            let headerName = h.string("name", required: true, maxLength: 256, minLength: 1)
            let isSecret = h.bool("secret") ?? false
            let value = isSecret ? secret(h, "value", path: "headers.\(headerName ?? "")")
                : h.string("value", required: true, maxLength: 8192)
            h.warnUnknown()
            guard let headerName, let value else { continue }
            if let problem = RequestBuilder.headerProblem(name: headerName, value: value) {
                v.fail(h.field(isSecret ? "name" : "value"), "header '\(headerName)' \(problem)")
            } else if headers.contains(where: { $0.name.lowercased() == headerName.lowercased() }) {
                v.fail(h.field("name"), "duplicates header '\(headerName)'")
            } else {
                headers.append(ConfigHeader(name: headerName, value: value, secret: isSecret))
            }
        }

        var bodyFields: [BodyField] = []
        for (i, item) in (r.array("body_fields", maxCount: 100) ?? []).enumerated() {
            let path = "body_fields[\(i)]"
            guard let f = item.objectValue.map({ FieldReader($0, path: path, validation: v) }) else {
                v.fail(path, "must be an object {name, type, description, required}")
                continue
            }
            let fieldName = f.string("name", required: true, maxLength: 128, minLength: 1)
            let type = f.enumValue("type", BodyField.FieldType.allCases.map(\.rawValue), required: true).flatMap(BodyField.FieldType.init(rawValue:))
            let fieldDescription = f.string("description", maxLength: 2000)
            let required = f.bool("required") ?? false
            f.warnUnknown()
            guard let fieldName, let type else { continue }
            if bodyFields.contains(where: { $0.name == fieldName }) { v.fail(f.field("name"), "duplicates body field '\(fieldName)'"); continue }
            bodyFields.append(BodyField(name: fieldName, type: type, description: fieldDescription, required: required))
        }
        if let method, !method.hasBody, !bodyFields.isEmpty {
            v.fail("body_fields", "\(method.rawValue) requests carry no body; use POST, PUT or PATCH, or remove body_fields")
        }

        var auth = UpstreamAuth.none
        if let a = r.nested("auth") {
            switch a.enumValue("type", UpstreamAuth.typeNames, required: true) {
            case "bearer":
                if let token = secret(a, "token", path: "auth.token") { auth = .bearer(token: token) }
            case "basic":
                let user = a.string("username", required: true, maxLength: 1024, minLength: 1)
                let password = secret(a, "password", path: "auth.password")
                if let user, let password { auth = .basic(username: user, password: password) }
            case "api_key_header":
                let header = a.string("header_name", required: true, maxLength: 256, minLength: 1)
                let key = secret(a, "api_key", path: "auth.api_key")
                if let header, let problem = RequestBuilder.framingProblem(name: header, value: "") ?? managedHeaderProblem(header) {
                    v.fail(a.field("header_name"), problem)
                } else if let header, let key {
                    auth = .apiKeyHeader(headerName: header, apiKey: key)
                }
            case "api_key_query":
                let param = a.string("param_name", required: true, maxLength: 128, minLength: 1)
                let key = secret(a, "api_key", path: "auth.api_key")
                if let param, let key { auth = .apiKeyQuery(paramName: param, apiKey: key) }
            case "oauth2_client_credentials":
                if let oauth = decodeOAuth2(a, v, secret: secret, policy: policy) { auth = .oauth2ClientCredentials(oauth) }
            default:
                break
            }
            a.warnUnknown()
        }
        if case .apiKeyHeader(let header, _) = auth, headers.contains(where: { $0.name.lowercased() == header.lowercased() }) {
            v.fail("auth.header_name", "'\(header)' is also in headers; keep it in one place")
        }

        let requiresApproval = r.bool("requires_approval") ?? true
        let timeout = r.int("timeout_ms", range: 100...Int64(ExternalAPIConfig.maxTimeoutMs)) ?? Int64(ExternalAPIConfig.defaultTimeoutMs)
        let maxBytes = r.int("max_response_bytes", range: 1...1_048_576) ?? Int64(ExternalAPIConfig.defaultMaxResponseBytes)
        let retry = r.isNull("retry") ? UpstreamRetry.off : r.nested("retry").map { decodeRetry($0, v) } ?? .off
        for key in ["created_at", "updated_at"] { _ = r.raw(key) }  // echoed back from a GET: not an error
        r.warnUnknown()
        guard v.ok, let name, let endpoint, let method else { return nil }
        return ExternalAPIConfig(name: name, endpointURL: endpoint, method: method, headers: headers, bodyFields: bodyFields,
                                 auth: auth, requiresApproval: requiresApproval, timeoutMs: Int(timeout),
                                 maxResponseBytes: Int(maxBytes), description: description, instructions: instructions,
                                 docsURL: docsURL, retry: retry)
    }

    /// `retry {max_attempts 1–5, backoff_ms, max_backoff_ms, on_status, include_non_idempotent}` (design §12);
    /// omitted fields take their defaults.
    private static func decodeRetry(_ r: FieldReader, _ v: Validation) -> UpstreamRetry {
        let defaults = UpstreamRetry.off
        let range = Int64(UpstreamRetry.backoffRange.lowerBound)...Int64(UpstreamRetry.backoffRange.upperBound)
        let attempts = r.int("max_attempts", range: Int64(UpstreamRetry.attemptsRange.lowerBound)...Int64(UpstreamRetry.attemptsRange.upperBound))
        let backoff = r.int("backoff_ms", range: range).map(Int.init) ?? defaults.backoffMs
        let maxBackoff = r.int("max_backoff_ms", range: range).map(Int.init) ?? max(defaults.maxBackoffMs, backoff)
        if maxBackoff < backoff { v.fail(r.field("max_backoff_ms"), "must be at least backoff_ms (\(backoff))") }
        var onStatus: [Int] = []
        if let items = r.array("on_status", maxCount: 20) {
            for (i, item) in items.enumerated() {
                guard let n = item.intValue, (400...599).contains(n) else {
                    v.fail(r.field("on_status[\(i)]"), "must be an HTTP status from 400 to 599 (got \(item.serializedString().prefix(32)))")
                    continue
                }
                if !onStatus.contains(Int(n)) { onStatus.append(Int(n)) }
            }
        } else {
            onStatus = defaults.onStatus
        }
        let nonIdempotent = r.bool("include_non_idempotent") ?? false
        r.warnUnknown()
        return UpstreamRetry(maxAttempts: attempts.map(Int.init) ?? defaults.maxAttempts, backoffMs: backoff, maxBackoffMs: maxBackoff,
                             onStatus: onStatus, includeNonIdempotent: nonIdempotent)
    }

    private static func decodeOAuth2(_ a: FieldReader, _ v: Validation, secret: (FieldReader, String, String) -> String?,
                                     policy: UpstreamPolicy) -> OAuth2ClientCredentials? {
        let tokenURL = a.string("token_url", required: true, maxLength: 2048, minLength: 1)
        if let tokenURL, let problem = endpointProblem(tokenURL, policy: policy, placeholdersAllowed: false) {
            v.fail(a.field("token_url"), problem)
        }
        var params: [OAuth2ClientCredentials.Param] = []
        for (i, item) in (a.array("params", required: true, maxCount: 50) ?? []).enumerated() {
            let path = a.field("params[\(i)]")
            guard let p = item.objectValue.map({ FieldReader($0, path: path, validation: v) }) else { v.fail(path, "must be an object {key, value, secret}"); continue }
            let key = p.string("key", required: true, maxLength: 256, minLength: 1)
            let isSecret = p.bool("secret") ?? false
            let value = isSecret ? secret(p, "value", "auth.params.\(key ?? "")") : p.string("value", required: true, maxLength: 8192)
            p.warnUnknown()
            guard let key, let value else { continue }
            if params.contains(where: { $0.key == key }) { v.fail(p.field("key"), "duplicates parameter '\(key)'"); continue }
            params.append(.init(key: key, value: value, secret: isSecret))
        }
        var tokenAuth: OAuth2ClientCredentials.TokenAuth?
        if let t = a.nested("token_auth") {
            let user = t.string("username", required: true, maxLength: 1024, minLength: 1)
            let password = secret(t, "password", "auth.token_auth.password")
            t.warnUnknown()
            if let user, let password { tokenAuth = .init(username: user, password: password) }
        }
        guard let tokenURL else { return nil }
        return OAuth2ClientCredentials(tokenURL: tokenURL, params: params, tokenAuth: tokenAuth)
    }

    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, first >= 97 && first <= 122, bytes.count <= 64 else { return false }
        return bytes.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
    }

    /// Why an endpoint or token URL is unacceptable: malformed, placeholders outside the path, or an
    /// IP literal the upstream policy refuses.
    static func endpointProblem(_ url: String, policy: UpstreamPolicy, placeholdersAllowed: Bool = true) -> String? {
        if case .failure(let problem) = RequestBuilder.placeholders(in: url) { return problem.message }
        let concrete = RequestBuilder.placeholderFree(url)
        if !placeholdersAllowed && concrete != url { return "must not contain {placeholders}" }
        guard case .success(let parsed) = UpstreamURL.parse(concrete) else {
            if case .failure(let problem) = UpstreamURL.parse(concrete) { return problem.message }
            return "is not a valid URL"
        }
        let authority = url.dropFirst(parsed.scheme.count + 3).prefix { $0 != "/" && $0 != "?" }
        if authority.contains("{") { return "may hold {placeholders} only in its path and query, never in the host or port" }
        if let literal = IPAddress(parsed.host), let refusal = policy.refusal(host: parsed.host, addresses: [literal]) {
            return refusal
        }
        return nil
    }

    private static func managedHeaderProblem(_ name: String) -> String? {
        let lower = name.lowercased()
        let managed = ["cookie", "host", "transfer-encoding", "content-length", "connection", "keep-alive", "te", "trailer", "upgrade", "expect"]
        if managed.contains(lower) || lower.hasPrefix("proxy-") { return "'\(name)' is managed by the executor and cannot carry an API key" }
        return nil
    }

    private static func storedSecretsByPath(_ stored: ExternalAPIConfig?) -> [String: String] {
        var out: [String: String] = [:]
        _ = stored?.mapSecrets { path, value in out[path] = value; return value }
        return out
    }

    /// The config as JSON, each secret replaced by `secret(path, value)`.
    static func encode(_ c: ExternalAPIConfig, createdAt: String? = nil, updatedAt: String? = nil,
                       secret: (String, String) throws -> String) rethrows -> JSONObject {
        let transformed = try c.mapSecrets(secret)
        func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        var out = JSONObject([
            ("name", .string(c.name)), ("description", opt(c.description)), ("instructions", opt(c.instructions)),
            ("docs_url", opt(c.docsURL)), ("endpoint_url", .string(c.endpointURL)), ("method", .string(c.method.rawValue)),
            ("headers", .array(transformed.headers.map {
                .object(JSONObject([("name", .string($0.name)), ("value", .string($0.value)), ("secret", .bool($0.secret))]))
            })),
            ("body_fields", .array(c.bodyFields.map {
                .object(JSONObject([("name", .string($0.name)), ("type", .string($0.type.rawValue)),
                                    ("description", opt($0.description)), ("required", .bool($0.required))]))
            })),
            ("auth", .object(encodeAuth(transformed.auth))),
            ("requires_approval", .bool(c.requiresApproval)), ("timeout_ms", .int(Int64(c.timeoutMs))),
            ("max_response_bytes", .int(Int64(c.maxResponseBytes))),
            ("retry", .object(JSONObject([
                ("max_attempts", .int(Int64(c.retry.maxAttempts))), ("backoff_ms", .int(Int64(c.retry.backoffMs))),
                ("max_backoff_ms", .int(Int64(c.retry.maxBackoffMs))), ("on_status", .array(c.retry.onStatus.map { .int(Int64($0)) })),
                ("include_non_idempotent", .bool(c.retry.includeNonIdempotent)),
            ]))),
        ])
        if let createdAt { out["created_at"] = .string(createdAt) }
        if let updatedAt { out["updated_at"] = .string(updatedAt) }
        return out
    }

    /// The masked public view (every secret `***`).
    static func view(_ c: ExternalAPIConfig, createdAt: String? = nil, updatedAt: String? = nil) -> JSONObject {
        encode(c, createdAt: createdAt, updatedAt: updatedAt) { _, _ in mask }
    }

    private static func encodeAuth(_ auth: UpstreamAuth) -> JSONObject {
        var out = JSONObject([("type", .string(auth.typeName))])
        switch auth {
        case .none:
            break
        case .bearer(let token):
            out["token"] = .string(token)
        case .basic(let user, let password):
            out["username"] = .string(user)
            out["password"] = .string(password)
        case .apiKeyHeader(let header, let key):
            out["header_name"] = .string(header)
            out["api_key"] = .string(key)
        case .apiKeyQuery(let param, let key):
            out["param_name"] = .string(param)
            out["api_key"] = .string(key)
        case .oauth2ClientCredentials(let o):
            out["token_url"] = .string(o.tokenURL)
            out["params"] = .array(o.params.map {
                .object(JSONObject([("key", .string($0.key)), ("value", .string($0.value)), ("secret", .bool($0.secret))]))
            })
            out["token_auth"] = o.tokenAuth.map {
                .object(JSONObject([("username", .string($0.username)), ("password", .string($0.password))]))
            } ?? .null
        }
        return out
    }
}

import Basics
import Foundation
import NeoJSON

/// The executor's answer to one call (design §6): the upstream's status, headers, body text up to
/// the cap, and how long it took. `attempt` counts the attempts made: above 1 after retries (the
/// config's retry block) or when an OAuth2 401 forced a token refresh.
public struct UpstreamResult: Sendable {
    public var status: Int
    /// The response's fields as received (Set-Cookie dropped, secrets scrubbed), made into pairs on reading.
    public var responseHeaders: ResponseHeaders
    /// `responseHeaders` as `(name, value)` pairs, made on each read.
    public var headers: [(String, String)] {
        get { responseHeaders.pairs }
        set { responseHeaders = ResponseHeaders(newValue) }
    }
    public var body: String
    public var truncated: Bool
    public var bytesTotal: Int?
    public var durationMs: Double
    public var attempt: Int
    /// What was sent, for TOOL_CALL steps (redact before showing).
    public var request: UpstreamRequest
    /// Attempts before this one that were tried again (the config's retry block, an OAuth2 401).
    public var earlierAttempts: [UpstreamAttempt] = []

    /// `{status, headers, body, truncated, bytes_total?, duration_ms, attempt}`.
    public func json() -> JSONObject {
        var headerObject = JSONObject()
        for (name, value) in headers {
            let key = asciiLowercased(name)
            headerObject[key] = .string(headerObject[key]?.stringValue.map { "\($0), \(value)" } ?? value)
        }
        var out = JSONObject([
            ("status", .int(Int64(status))), ("headers", .object(headerObject)), ("body", .string(body)),
            ("truncated", .bool(truncated)), ("duration_ms", .double((durationMs * 10).rounded() / 10)),
            ("attempt", .int(Int64(attempt))),
        ])
        if let bytesTotal { out["bytes_total"] = .int(Int64(bytesTotal)) }
        if !earlierAttempts.isEmpty { out["earlier_attempts"] = .array(earlierAttempts.map { .object($0.json()) }) }
        return out
    }
}

/// Runs external-API calls: builds the request, resolves and checks the destination against the
/// upstream policy, pins it, injects auth (OAuth2 through the token cache), and sends through curl.
public final class ExternalAPIExecutor: Sendable {
    public let policy: UpstreamPolicy
    public let tokens: OAuthTokenCache
    let client: CurlClient
    let resolve: @Sendable (String, Int) throws -> [IPAddress]

    public init(policy: UpstreamPolicy, tokens: OAuthTokenCache = OAuthTokenCache(), client: CurlClient = CurlClient(),
                resolve: @escaping @Sendable (String, Int) throws -> [IPAddress] = { try HostResolver.resolve($0, port: $1) }) {
        self.policy = policy
        self.tokens = tokens
        self.client = client
        self.resolve = resolve
    }

    /// The request a call would send, built but not sent (test mode). OAuth2 tokens are not fetched.
    public func prepare(_ config: ExternalAPIConfig, _ call: Invocation) throws -> UpstreamRequest {
        var request = try RequestBuilder.build(config, call)
        if case .oauth2ClientCredentials = config.auth { request.setAuthorization("Bearer (token from \(config.name)'s token endpoint)") }
        return request
    }

    /// Runs one call; `completion` runs on the curl thread or, for early refusals, on this one.
    /// DNS is resolved here, on the calling thread, so the curl thread never blocks on it. `trace`
    /// is the caller's span: each attempt carries a child of it in `traceparent` (a new trace when nil).
    /// `onBody` gets a 2xx body piece by piece as it arrives (streamed model replies).
    public func invoke(_ config: ExternalAPIConfig, _ call: Invocation, tenant: String, trace: TraceContext? = nil,
                       kind: UpstreamKind = .externalAPI, onBody: (@Sendable ([UInt8]) -> Void)? = nil,
                       completion: @escaping @Sendable (Result<UpstreamResult, ExecutorError>) -> Void) {
        let secrets = config.secretValues
        let trace = trace ?? TraceContext.newRoot()
        let done: @Sendable (Result<UpstreamResult, ExecutorError>) -> Void = { result in
            completion(result.mapError { Self.scrubbed($0, secrets) })
        }
        let request: UpstreamRequest
        let pin: String
        do {
            request = try RequestBuilder.build(config, call)
            pin = try pinned(request.base, field: "endpoint_url", literal: config.parsedEndpoint.literal)
        } catch {
            done(.failure(error as? ExecutorError ?? ExecutorError(.upstream, "could not build the request")))
            return
        }
        guard case .oauth2ClientCredentials(let oauth) = config.auth else {
            let call = Attempts(request: request, pin: pin, config: config, secrets: secrets, trace: trace, kind: kind, onBody: onBody)
            send(call, attempt: 1, earlier: [], completion: done)
            return
        }
        let key = OAuthTokenCache.Key(tenant: tenant, config: config.name, settings: oauth)
        let tokenPin: (UpstreamURL, String)
        do {
            guard case .success(let tokenURL) = UpstreamURL.parse(oauth.tokenURL) else {
                throw ExecutorError(.refused, field: "auth.token_url", "the configured token URL is not valid")
            }
            tokenPin = (tokenURL, try pinned(tokenURL, field: "auth.token_url"))
        } catch {
            done(.failure(error as? ExecutorError ?? ExecutorError(.token, "could not reach the token endpoint")))
            return
        }
        let fetch: OAuthTokenCache.Fetch = { [self] report in
            fetchToken(oauth, url: tokenPin.0, pin: tokenPin.1, timeoutMs: config.timeoutMs, trace: trace, completion: report)
        }
        withToken(key, fetch: fetch, done) { [self] token in
            var first = request
            first.setAuthorization("Bearer \(token)")
            let calls = Attempts(request: first, pin: pin, config: config, secrets: secrets, trace: trace, kind: kind, onBody: onBody)
            send(calls, attempt: 1, earlier: []) { [self] result in
                guard case .success(let r) = result, r.status == 401 else { return done(result) }
                // The provider may have revoked the token early: fetch a new one and retry once.
                tokens.invalidate(key, token: token)
                let refused = UpstreamAttempt(attempt: r.attempt, status: 401, error: nil, durationMs: r.durationMs, waitMs: 0, retryAfter: nil)
                withToken(key, fetch: fetch, done) { [self] fresh in
                    var second = request
                    second.setAuthorization("Bearer \(fresh)")
                    var again = Attempts(request: second, pin: pin, config: config, secrets: secrets, trace: trace, kind: kind, onBody: onBody)
                    again.deadline = calls.deadline
                    send(again, attempt: r.attempt + 1, earlier: r.earlierAttempts + [refused], completion: done)
                }
            }
        }
    }

    /// `invoke`, waiting for the answer (for synchronous handlers on a worker thread).
    public func invokeAndWait(_ config: ExternalAPIConfig, _ call: Invocation, tenant: String, trace: TraceContext? = nil,
                              kind: UpstreamKind = .externalAPI,
                              onBody: (@Sendable ([UInt8]) -> Void)? = nil) -> Result<UpstreamResult, ExecutorError> {
        let box = ResultBox()
        invoke(config, call, tenant: tenant, trace: trace, kind: kind, onBody: onBody) { box.put($0) }
        return box.take()
    }

    /// Stops the curl thread; calls still running fail.
    public func shutdown() { client.shutdown() }

    private func withToken(_ key: OAuthTokenCache.Key, fetch: @escaping OAuthTokenCache.Fetch,
                           _ done: @escaping @Sendable (Result<UpstreamResult, ExecutorError>) -> Void,
                           then: @escaping @Sendable (String) -> Void) {
        tokens.token(for: key, fetch: fetch) { result in
            switch result {
            case .success(let token): then(token)
            case .failure(let e): done(.failure(e))
            }
        }
    }

    /// Resolves `url`'s host once, applies the policy to every address, and returns the
    /// CURLOPT_RESOLVE entry that pins the connection to the first of them.
    /// `literal` is the config's origin when its host is an IP literal (`ParsedEndpoint.literal`): used when `url` is
    /// on that host and port, it saves the parse and the formatting; the policy still judges the address on every call.
    func pinned(_ url: UpstreamURL, field: String, literal: LiteralPin? = nil) throws -> String {
        if let literal, url.host == literal.host, url.port == literal.port {
            if let refusal = policy.refusal(host: url.host, addresses: [literal.address]) { throw ExecutorError(.refused, field: field, refusal) }
            return literal.pin
        }
        if let refusal = policy.refusesLookup(of: url.host) { throw ExecutorError(.refused, field: field, refusal) }
        let addresses = try resolve(url.host, url.port)
        if let refusal = policy.refusal(host: url.host, addresses: addresses) {
            throw ExecutorError(.refused, field: field, refusal)
        }
        return Self.pinEntry(url, addresses[0])
    }

    /// The CURLOPT_RESOLVE entry `host:port:address` that pins `url`'s host to `address`.
    static func pinEntry(_ url: UpstreamURL, _ address: IPAddress) -> String {
        "\(url.hostForURL):\(url.port):\(address.isIPv6 ? "[\(address.text)]" : address.text)"
    }

    /// One call's attempts: what is sent each time and the deadline they share (the config's timeout
    /// from the first attempt). Only the config's limits are kept, not the config (its copy costs a retain per field).
    struct Attempts: Sendable {
        let request: UpstreamRequest
        let pin: String
        let timeoutMs: Int
        let maxResponseBytes: Int
        let retry: UpstreamRetry
        /// What the response is scrubbed of: the config's secrets and what was derived from them (`scrubList`).
        let scrub: [String]
        let trace: TraceContext
        let kind: UpstreamKind
        /// Gets a 2xx body piece by piece (streamed replies).
        let onBody: (@Sendable ([UInt8]) -> Void)?
        var deadline: Double

        init(request: UpstreamRequest, pin: String, config: ExternalAPIConfig, secrets: [String], trace: TraceContext, kind: UpstreamKind,
             onBody: (@Sendable ([UInt8]) -> Void)? = nil) {
            self.request = request
            self.pin = pin
            timeoutMs = config.timeoutMs
            maxResponseBytes = config.maxResponseBytes
            retry = config.retry
            // The same list for every call of the config unless a token was set on this request (OAuth2).
            scrub = config.credentials.scrubList ?? ExternalAPIExecutor.scrubList(secrets, headers: request.headers, queryItems: request.queryItems)
            self.trace = trace
            self.kind = kind
            self.onBody = onBody
            deadline = monotonicNow() + Double(config.timeoutMs) / 1000
        }
    }

    /// Sends attempt `attempt` (after `delay` seconds, timed on the curl thread) and, when the config's
    /// retry block says so, schedules the next one from the completion: no thread waits meanwhile.
    private func send(_ calls: Attempts, attempt: Int, earlier: [UpstreamAttempt], after delay: Double = 0,
                      completion: @escaping @Sendable (Result<UpstreamResult, ExecutorError>) -> Void) {
        let request = calls.request
        // The first attempt has the whole timeout; later ones what is left of it after their wait.
        let remainingMs = attempt == 1 && delay == 0 ? calls.timeoutMs
            : Int(((calls.deadline - monotonicNow() - delay) * 1000).rounded(.down))
        // Our traceparent and tracestate replace any the caller put among the headers: the trace is the server's to state.
        var headers: [String] = []
        headers.reserveCapacity(request.headers.count + 2)
        for h in request.headers where !asciiEqualsIgnoringCase(h.name.utf8, "traceparent") && !asciiEqualsIgnoringCase(h.name.utf8, "tracestate") {
            headers.append(h.name + ": " + h.value)
        }
        headers.append(calls.trace.child().traceparentLine)
        if let state = calls.trace.state { headers.append("tracestate: " + state) }
        var curl = CurlRequest(method: request.method.rawValue, url: request.url, headers: headers, body: request.body,
                               timeoutMs: max(1, min(calls.timeoutMs, remainingMs)), maxResponseBytes: calls.maxResponseBytes,
                               resolve: calls.pin, kind: calls.kind)
        curl.onBody = calls.onBody
        // An upstream that echoes the request (httpbin-style) must not hand our credentials back.
        let secrets = calls.scrub
        client.send(curl, after: delay) { [self] result in
            // Runs on the curl thread: with retries off (the default) it asks no clock.
            let retry = calls.retry
            let mayRetry = attempt < retry.maxAttempts
            let remaining = mayRetry ? calls.deadline - monotonicNow() : 0
            switch result {
            case .success(let r):
                if mayRetry, let wait = retry.delay(afterAttempt: attempt, method: request.method, status: r.status, headers: r.headers.pairs, remaining: remaining) {
                    let record = UpstreamAttempt(attempt: attempt, status: r.status, error: nil, durationMs: r.durationMs, waitMs: wait * 1000,
                                                 retryAfter: r.headers.value(named: "retry-after"))
                    return send(calls, attempt: attempt + 1, earlier: earlier + [record], after: wait, completion: completion)
                }
                completion(.success(UpstreamResult(status: r.status, responseHeaders: Self.scrub(r.headers, secrets),
                                                   body: Self.scrub(Self.text(r.body, truncated: r.truncated), secrets),
                                                   truncated: r.truncated, bytesTotal: r.bytesTotal, durationMs: r.durationMs,
                                                   attempt: attempt, request: request, earlierAttempts: earlier)))
            case .failure(let e):
                // Connection failures may be retried (the request never got an answer); a timeout used the time up.
                if e.kind == .upstream, mayRetry,
                   let wait = retry.delay(afterAttempt: attempt, method: request.method, status: nil, headers: [], remaining: remaining) {
                    let record = UpstreamAttempt(attempt: attempt, status: nil, error: Self.scrub(e.message, secrets), durationMs: 0,
                                                 waitMs: wait * 1000, retryAfter: nil)
                    return send(calls, attempt: attempt + 1, earlier: earlier + [record], after: wait, completion: completion)
                }
                var failed = e
                failed.earlierAttempts = earlier
                completion(.failure(failed))
            }
        }
    }

    /// POSTs the form-encoded client-credentials request and reads `access_token`/`expires_in`.
    private func fetchToken(_ oauth: OAuth2ClientCredentials, url: UpstreamURL, pin: String, timeoutMs: Int, trace: TraceContext,
                            completion: @escaping @Sendable (Result<OAuthTokenCache.Grant, ExecutorError>) -> Void) {
        var headers = ["Content-Type: application/x-www-form-urlencoded", "Accept: application/json", "traceparent: " + trace.child().traceparent]
        if let state = trace.state { headers.append("tracestate: " + state) }
        if let basic = oauth.tokenAuth {
            headers.append("Authorization: \(RequestBuilder.basicAuthorization(basic.username, basic.password))")
        }
        let form = PercentEncoding.form(oauth.params.map { ($0.key, $0.value) })
        let request = CurlRequest(method: "POST", url: url.string, headers: headers, body: Array(form.utf8),
                                  timeoutMs: timeoutMs, maxResponseBytes: 64 * 1024, resolve: pin, kind: .oauthToken)
        client.send(request) { result in
            switch result {
            case .failure(let e):
                let kind: ExecutorError.Kind = e.kind == .timeout ? .timeout : .token
                completion(.failure(ExecutorError(kind, "token endpoint: \(e.message)")))
            case .success(let r):
                completion(TokenResponse.parse(status: r.status, body: r.body))
            }
        }
    }

    /// Body bytes as text; a cut inside a UTF-8 sequence is trimmed rather than shown as U+FFFD.
    static func text(_ bytes: [UInt8], truncated: Bool) -> String {
        guard truncated, !bytes.isEmpty else { return String(decoding: bytes, as: UTF8.self) }
        var lead = bytes.count - 1
        while lead > 0 && bytes.count - lead < 4 && (bytes[lead] & 0xC0) == 0x80 { lead -= 1 }
        var end = bytes.count
        if bytes[lead] >= 0xC0 {
            let needed = bytes[lead] >= 0xF0 ? 4 : bytes[lead] >= 0xE0 ? 3 : 2
            if bytes.count - lead < needed { end = lead }
        }
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }

    /// The error with every configured secret replaced by `***` (provider messages may echo them).
    static func scrubbed(_ error: ExecutorError, _ secrets: [String]) -> ExecutorError {
        ExecutorError(error.kind, field: error.field, scrub(error.message, secrets), earlierAttempts: error.earlierAttempts)
    }

    /// `text` with each secret replaced by `***`. Secrets shorter than 4 characters are left alone:
    /// replacing them would shred ordinary text and they protect nothing.
    static func scrub(_ text: String, _ secrets: [String]) -> String {
        var out = text
        for s in secrets where s.utf8.count >= 4 && containsBytes(out, s) { out = out.replacingOccurrences(of: s, with: "***") }
        return out
    }

    /// The headers with secrets in their values replaced; the same bytes, not a copy, when none holds one
    /// (one search of the raw fields per secret, no strings made).
    static func scrub(_ headers: ResponseHeaders, _ secrets: [String]) -> ResponseHeaders {
        guard secrets.contains(where: { $0.utf8.count >= 4 && headers.contains(bytes: $0) }) else { return headers }
        return ResponseHeaders(headers.map { ($0.0, scrub($0.1, secrets)) })
    }

    /// The config's secrets plus what was derived from them for this request (the Basic credential,
    /// the bare OAuth2 token), longest first so a secret containing another is replaced whole.
    static func scrubList(_ configSecrets: [String], headers: [UpstreamRequest.Header], queryItems: [UpstreamRequest.QueryItem]) -> [String] {
        var out = configSecrets
        // Each value once: a bearer config's token comes back as the header's bare token.
        func add(_ s: Substring) { if !s.isEmpty && !out.contains(where: { $0 == s }) { out.append(String(s)) } }
        for h in headers where h.secret {
            add(h.value[...])
            for scheme in ["Bearer ", "Basic "] where h.value.hasPrefix(scheme) { add(h.value.dropFirst(scheme.count)) }
        }
        for q in queryItems where q.secret { add(q.value[...]) }
        if out.count > 1 { out.sort { $0.utf8.count > $1.utf8.count } }
        return out
    }
}

/// Byte search: Foundation's `contains` is locale-aware and costly on every response.
private func containsBytes(_ text: String, _ needle: String) -> Bool {
    var text = text
    var needle = needle
    return text.withUTF8 { hay in needle.withUTF8 { containsBytes(hay, $0) } }
}

/// Reads an OAuth2 token endpoint's answer (RFC 6749 §5.1 and §5.2).
public enum TokenResponse {
    public static func parse(status: Int, body: [UInt8]) -> Result<OAuthTokenCache.Grant, ExecutorError> {
        let object = (try? JSON.parse(body))?.objectValue
        guard (200..<300).contains(status) else {
            var reason = "token endpoint answered \(status)"
            if let code = object?["error"]?.stringValue {
                reason += ": \(code.prefix(200))"
                if let text = object?["error_description"]?.stringValue { reason += " (\(text.prefix(500)))" }
            }
            return .failure(ExecutorError(.token, reason))
        }
        guard let token = object?["access_token"]?.stringValue, !token.isEmpty else {
            return .failure(ExecutorError(.token, "token endpoint answered \(status) without an access_token"))
        }
        var lifetime = 3600.0
        if let n = object?["expires_in"]?.doubleValue, n > 0 {
            lifetime = n
        } else if let s = object?["expires_in"]?.stringValue, let n = Double(s), n > 0 {
            lifetime = n
        }
        return .success(.init(accessToken: token, lifetime: lifetime))
    }
}

/// Says what a connection test's status means for the credentials.
public enum ConnectionDiagnosis {
    public static func describe(status: Int, auth: UpstreamAuth) -> String {
        let withAuth: Bool
        if case .none = auth { withAuth = false } else { withAuth = true }
        switch status {
        case 200..<400:
            return withAuth ? "credentials accepted (upstream answered \(status))" : "reachable (upstream answered \(status))"
        case 401, 403:
            return withAuth ? "upstream answered \(status): check the credentials"
                : "upstream answered \(status): it requires authentication; configure auth"
        case 404, 405:
            return "reachable; upstream answered \(status) for this path (credentials not confirmed: try a 'path' that exists)"
        case 500...:
            return "reachable; upstream answered \(status) (server error)"
        default:
            return "reachable; upstream answered \(status)"
        }
    }
}

/// Hands one result from the curl thread to a waiting worker thread.
private final class ResultBox: Sendable {
    private let value = Lock<Result<UpstreamResult, ExecutorError>?>(nil)

    func put(_ result: Result<UpstreamResult, ExecutorError>) {
        value.withLock { $0 = result }
        value.notifyAll()
    }

    func take() -> Result<UpstreamResult, ExecutorError> {
        value.withLock(waitingUntil: { $0 != nil }) { $0! }
    }
}

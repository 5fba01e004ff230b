import Basics

/// One external API the executor may call (design §5): where, how, with which credentials and limits.
/// Secret values are held in plaintext here; storage seals them and responses mask them (`mapSecrets`).
public struct ExternalAPIConfig: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var instructions: String?
    public var docsURL: String?
    /// Absolute http(s) URL; may hold `{placeholders}` filled from invoke params.
    public var endpointURL: String { didSet { endpointCache = EndpointCache(endpointURL) } }
    public var method: HTTPMethod
    public var headers: [ConfigHeader] { didSet { credentialCache = CredentialCache() } }
    public var bodyFields: [BodyField]
    public var auth: UpstreamAuth { didSet { credentialCache = CredentialCache() } }
    public var requiresApproval: Bool
    public var timeoutMs: Int
    public var maxResponseBytes: Int
    /// When a call is tried again (off unless configured).
    public var retry: UpstreamRetry
    /// The endpoint parsed once per config rather than on every call.
    private var endpointCache: EndpointCache
    /// What the headers and auth give every call (`PreparedCredentials`), made once per config.
    private var credentialCache = CredentialCache()

    public static let defaultTimeoutMs = 15_000
    public static let maxTimeoutMs = 60_000
    public static let defaultMaxResponseBytes = 8192

    public init(name: String, endpointURL: String, method: HTTPMethod = .GET, headers: [ConfigHeader] = [],
                bodyFields: [BodyField] = [], auth: UpstreamAuth = .none, requiresApproval: Bool = true,
                timeoutMs: Int = ExternalAPIConfig.defaultTimeoutMs,
                maxResponseBytes: Int = ExternalAPIConfig.defaultMaxResponseBytes,
                description: String? = nil, instructions: String? = nil, docsURL: String? = nil, retry: UpstreamRetry = .off) {
        self.retry = retry
        self.name = name
        self.endpointURL = endpointURL
        endpointCache = EndpointCache(endpointURL)
        self.method = method
        self.headers = headers
        self.bodyFields = bodyFields
        self.auth = auth
        self.requiresApproval = requiresApproval
        self.timeoutMs = timeoutMs
        self.maxResponseBytes = maxResponseBytes
        self.description = description
        self.instructions = instructions
        self.docsURL = docsURL
    }

    /// Rewrites every secret value through `transform(path, value)`, where `path` is a stable name for
    /// the secret (`auth.token`, `auth.params.client_secret`, `headers.X-Api-Key`). Used to seal, open
    /// and mask secrets without each caller knowing where they live.
    public func mapSecrets(_ transform: (String, String) throws -> String) rethrows -> ExternalAPIConfig {
        var copy = self
        copy.headers = try headers.map { h in
            guard h.secret else { return h }
            var h = h
            h.value = try transform("headers.\(h.name)", h.value)
            return h
        }
        copy.auth = try auth.mapSecrets(transform)
        return copy
    }

    /// `endpointURL` parsed, computed on first use.
    var parsedEndpoint: ParsedEndpoint { endpointCache.value }

    /// The auth header or query item, the secrets and the scrub list, computed on first use.
    var credentials: PreparedCredentials { credentialCache.value(headers, auth) }

    /// Every secret value in plaintext, for scrubbing messages that might echo one (made once per config).
    public var secretValues: [String] { credentials.secrets }

    /// `secretValues` collected in place rather than through `mapSecrets`, which copies the config.
    static func collectSecrets(_ headers: [ConfigHeader], _ auth: UpstreamAuth) -> [String] {
        var out: [String] = []
        for h in headers where h.secret && !h.value.isEmpty { out.append(h.value) }
        func add(_ v: String) { if !v.isEmpty { out.append(v) } }
        switch auth {
        case .none: break
        case .bearer(let token): add(token)
        case .basic(_, let password): add(password)
        case .apiKeyHeader(_, let key), .apiKeyQuery(_, let key): add(key)
        case .oauth2ClientCredentials(let o):
            for p in o.params where p.secret { add(p.value) }
            if let basic = o.tokenAuth { add(basic.password) }
        }
        return out
    }
}

/// What every call of a config gets from its headers and auth, a function of them alone: built once, not per call.
struct PreparedCredentials: Sendable {
    /// `secretValues`.
    let secrets: [String]
    /// The Authorization (bearer, basic) or API-key header; nil for none and OAuth2 (its token comes per call).
    let authHeader: UpstreamRequest.Header?
    /// The api_key_query item.
    let authQuery: UpstreamRequest.QueryItem?
    /// What a response is scrubbed of (`ExternalAPIExecutor.scrubList`) when the request holds no secret but
    /// these: every auth but OAuth2, whose bearer token is added per call.
    let scrubList: [String]?

    init(_ headers: [ConfigHeader], _ auth: UpstreamAuth) {
        secrets = ExternalAPIConfig.collectSecrets(headers, auth)
        var header: UpstreamRequest.Header?
        var query: UpstreamRequest.QueryItem?
        switch auth {
        case .none, .oauth2ClientCredentials: break
        case .bearer(let token): header = .init(name: "Authorization", value: "Bearer \(token)", secret: true)
        case .basic(let user, let password): header = .init(name: "Authorization", value: RequestBuilder.basicAuthorization(user, password), secret: true)
        case .apiKeyHeader(let name, let key): header = .init(name: name, value: key, secret: true)
        case .apiKeyQuery(let name, let key): query = .init(name: name, value: key, secret: true)
        }
        authHeader = header
        authQuery = query
        if case .oauth2ClientCredentials = auth {
            scrubList = nil
        } else {
            let sent = headers.map { UpstreamRequest.Header(name: $0.name, value: $0.value, secret: $0.secret) } + (header.map { [$0] } ?? [])
            scrubList = ExternalAPIExecutor.scrubList(secrets, headers: sent, queryItems: query.map { [$0] } ?? [])
        }
    }
}

/// Holds one config's `PreparedCredentials`, shared by copies of it; `headers`' and `auth`'s didSet replace it.
private final class CredentialCache: Equatable, Sendable {
    private let prepared = Lock<PreparedCredentials?>(nil)

    func value(_ headers: [ConfigHeader], _ auth: UpstreamAuth) -> PreparedCredentials {
        prepared.withLock { cached in
            if let cached { return cached }
            let fresh = PreparedCredentials(headers, auth)
            cached = fresh
            return fresh
        }
    }

    static func == (a: CredentialCache, b: CredentialCache) -> Bool { true }
}

/// What the request builder needs from the endpoint URL on every call, a function of it alone.
struct ParsedEndpoint: Sendable {
    /// The configured origin, or why the URL is not valid (`RequestBuilder.origin(of:)`).
    let origin: Result<UpstreamURL, Error>
    /// The URL itself when it has no placeholders, parses and passes the same-origin check: what a
    /// call without `path` sends, already checked.
    let fixed: UpstreamURL?
    /// `fixed` rendered as a request URL without query items (`UpstreamRequest.url`).
    let fixedURL: String?
    /// The origin's host when it is an IP literal, with the CURLOPT_RESOLVE entry pinning to it: every call of the
    /// config goes to that origin (the same-origin check), so it needs no parse, lookup or formatting per call.
    let literal: LiteralPin?

    init(_ endpoint: String) {
        origin = Result { try RequestBuilder.origin(of: endpoint) }
        if case .success(let origin) = origin, case .success(let names) = RequestBuilder.placeholders(in: endpoint), names.isEmpty,
           case .success(let url) = UpstreamURL.parse(endpoint),
           (try? RequestBuilder.checkSameOrigin(url, origin, field: "params")) != nil {
            fixed = url
        } else {
            fixed = nil
        }
        fixedURL = fixed.map(UpstreamRequest.render)
        if case .success(let origin) = origin, let address = IPAddress(origin.host) {
            literal = LiteralPin(host: origin.host, port: origin.port, address: address, pin: ExternalAPIExecutor.pinEntry(origin, address))
        } else {
            literal = nil
        }
    }
}

/// An origin whose host is an IP literal, with its CURLOPT_RESOLVE entry.
struct LiteralPin: Sendable {
    let host: String
    let port: Int
    let address: IPAddress
    let pin: String
}

/// Holds one endpoint's `ParsedEndpoint`, shared by copies of the config. Equal to any other, so
/// configs compare by their fields alone; `endpointURL`'s didSet replaces it.
private final class EndpointCache: Equatable, Sendable {
    let endpoint: String
    private let parsed = Lock<ParsedEndpoint?>(nil)

    init(_ endpoint: String) { self.endpoint = endpoint }

    var value: ParsedEndpoint {
        parsed.withLock { cached in
            if let cached { return cached }
            let fresh = ParsedEndpoint(endpoint)
            cached = fresh
            return fresh
        }
    }

    static func == (a: EndpointCache, b: EndpointCache) -> Bool { true }
}

/// The HTTP methods an external API may use.
public enum HTTPMethod: String, Sendable, CaseIterable {
    case GET, POST, PUT, PATCH, DELETE

    /// Whether a JSON body is sent.
    public var hasBody: Bool { self != .GET && self != .DELETE }
}

/// A static header sent with every call; `secret` ones are encrypted at rest and redacted.
public struct ConfigHeader: Sendable, Equatable {
    public var name: String
    public var value: String
    public var secret: Bool
    public init(name: String, value: String, secret: Bool = false) {
        self.name = name
        self.value = value
        self.secret = secret
    }
}

/// A typed field of the JSON body (seed 000: String, Number or Boolean).
public struct BodyField: Sendable, Equatable {
    /// The JSON type a value must have (seed 000's names).
    public enum FieldType: String, Sendable, CaseIterable { case String, Number, Boolean }
    public var name: String
    public var type: FieldType
    public var description: String?
    public var required: Bool
    public init(name: String, type: FieldType, description: String? = nil, required: Bool = false) {
        self.name = name
        self.type = type
        self.description = description
        self.required = required
    }
}

/// How the executor authenticates to the upstream (design §5).
public enum UpstreamAuth: Sendable, Equatable {
    case none
    case bearer(token: String)
    case basic(username: String, password: String)
    case apiKeyHeader(headerName: String, apiKey: String)
    case apiKeyQuery(paramName: String, apiKey: String)
    case oauth2ClientCredentials(OAuth2ClientCredentials)

    /// The `type` value of the wire format.
    public var typeName: String {
        switch self {
        case .none: return "none"
        case .bearer: return "bearer"
        case .basic: return "basic"
        case .apiKeyHeader: return "api_key_header"
        case .apiKeyQuery: return "api_key_query"
        case .oauth2ClientCredentials: return "oauth2_client_credentials"
        }
    }

    public static let typeNames = ["none", "bearer", "basic", "api_key_header", "api_key_query", "oauth2_client_credentials"]

    func mapSecrets(_ transform: (String, String) throws -> String) rethrows -> UpstreamAuth {
        switch self {
        case .none:
            return .none
        case .bearer(let token):
            return .bearer(token: try transform("auth.token", token))
        case .basic(let user, let password):
            return .basic(username: user, password: try transform("auth.password", password))
        case .apiKeyHeader(let header, let key):
            return .apiKeyHeader(headerName: header, apiKey: try transform("auth.api_key", key))
        case .apiKeyQuery(let param, let key):
            return .apiKeyQuery(paramName: param, apiKey: try transform("auth.api_key", key))
        case .oauth2ClientCredentials(var o):
            o.params = try o.params.map { p in
                guard p.secret else { return p }
                var p = p
                p.value = try transform("auth.params.\(p.key)", p.value)
                return p
            }
            if let basic = o.tokenAuth {
                o.tokenAuth = .init(username: basic.username, password: try transform("auth.token_auth.password", basic.password))
            }
            return .oauth2ClientCredentials(o)
        }
    }
}

/// OAuth 2.0 client-credentials settings: the token endpoint, its form parameters and optional Basic auth.
public struct OAuth2ClientCredentials: Sendable, Equatable {
    /// One form parameter of the token request (`grant_type`, `client_id`, `client_secret`, `scope`, …).
    public struct Param: Sendable, Equatable {
        public var key: String
        public var value: String
        public var secret: Bool
        public init(key: String, value: String, secret: Bool = false) {
            self.key = key
            self.value = value
            self.secret = secret
        }
    }

    /// Basic credentials some providers require on the token endpoint.
    public struct TokenAuth: Sendable, Equatable {
        public var username: String
        public var password: String
        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    public var tokenURL: String
    public var params: [Param]
    public var tokenAuth: TokenAuth?

    public init(tokenURL: String, params: [Param], tokenAuth: TokenAuth? = nil) {
        self.tokenURL = tokenURL
        self.params = params
        self.tokenAuth = tokenAuth
    }
}

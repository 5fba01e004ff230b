import NeoJSON

/// What a write changed, for the audit log: the resource type, its id, and where its stored row lives
/// (so the log can hash it before and after the write).
public enum AuditResource: Sendable {
    case agent(Int64)
    case externalAPI(String)
    case llmProvider(String)
    case apiKey(Int64)
    case settings
    case scheduledWork(Int64)
    case webhookEndpoint(String)
    case execution(String)
    case tilRequest(Int64)
    case callback(String)

    /// `resource_type` in the log.
    public var type: String {
        switch self {
        case .agent: "agent"
        case .externalAPI: "external_api"
        case .llmProvider: "llm_provider"
        case .apiKey: "api_key"
        case .settings: "settings"
        case .scheduledWork: "scheduled_work"
        case .webhookEndpoint: "webhook_endpoint"
        case .execution: "execution"
        case .tilRequest: "til_request"
        case .callback: "callback"
        }
    }

    /// `resource_id` in the log (settings are one per tenant: none).
    public var id: String? {
        switch self {
        case .agent(let id), .apiKey(let id), .scheduledWork(let id), .tilRequest(let id): String(id)
        case .externalAPI(let s), .llmProvider(let s), .webhookEndpoint(let s), .execution(let s), .callback(let s): s
        case .settings: nil
        }
    }

    /// Every resource type the log names, for the `resource_type` filter.
    static let types = ["agent", "external_api", "llm_provider", "api_key", "settings", "scheduled_work", "webhook_endpoint",
                        "execution", "til_request", "callback"]
}

/// Who wrote and through which door: an API request (its key, actor, method and route template), or an
/// operation of the command line (`actor: "cli"`, `method: "CLI"`, `route` its command, e.g. `keys create`).
public struct AuditSource: Sendable {
    public let keyId: Int64?
    public let actor: String
    public let method: String
    public let route: String
    public let requestId: String?

    public init(keyId: Int64?, actor: String, method: String, route: String, requestId: String?) {
        self.keyId = keyId
        self.actor = actor
        self.method = method
        self.route = route
        self.requestId = requestId
    }

    /// The request's key and route template (never the raw path: it may carry names and ids). A request
    /// on an open route (a signed inbound webhook) has no key: its actor is `webhook`.
    static func request(_ ctx: RequestContext) -> AuditSource {
        AuditSource(keyId: ctx.principal?.keyId, actor: ctx.principal?.actor.rawValue ?? "webhook", method: ctx.request.method,
                    route: ctx.pattern, requestId: ctx.requestId)
    }

    /// An offline command (`neo-server keys create`, `neo-server seed`).
    public static func command(_ command: String) -> AuditSource {
        AuditSource(keyId: nil, actor: "cli", method: "CLI", route: command, requestId: nil)
    }
}

/// One row of the audit log as `GET /audit-log` answers it.
struct AuditEntry {
    let id: Int64
    let at: String
    let keyId: Int64?
    let actor: String
    let method: String
    let route: String
    let resourceType: String
    let resourceId: String?
    let status: Int
    let requestId: String?
    let beforeSHA256: String?
    let afterSHA256: String?

    var json: JSON {
        func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return .object(JSONObject([
            ("id", .int(id)), ("at", .string(at)), ("key_id", keyId.map { .int($0) } ?? .null), ("actor", .string(actor)),
            ("method", .string(method)), ("route", .string(route)), ("resource_type", .string(resourceType)),
            ("resource_id", opt(resourceId)), ("status", .int(Int64(status))), ("request_id", opt(requestId)),
            ("before_sha256", opt(beforeSHA256)), ("after_sha256", opt(afterSHA256)),
        ]))
    }
}

import Basics
import NeoJSON

/// What the runner needs from the external-API executor, kept to two calls so the runner
/// knows nothing of curl, auth or secrets.
public struct ExternalCalls: Sendable {
    /// The outcome of one call as recorded in steps: the redacted request, and the executor
    /// result (nil when planned in test mode).
    public struct Outcome: Sendable {
        public let request: JSON
        public let result: JSON?
        public init(request: JSON, result: JSON?) { self.request = request; self.result = result }
    }

    /// Whether `apiName` exists for the tenant and needs an approval before agent-originated calls
    /// (nil when there is no such config).
    public var requiresApproval: @Sendable (_ tenantId: Int64, _ apiName: String) throws -> Bool?
    /// Performs the call (or in test mode only builds it); throws APIError for executor failures.
    /// `trace` is the run's span; the call's traceparent is a child of it.
    public var invoke: @Sendable (_ tenantId: Int64, _ apiName: String, _ body: JSONObject, _ testMode: Bool, _ trace: TraceContext?) throws -> Outcome

    public init(requiresApproval: @escaping @Sendable (Int64, String) throws -> Bool?,
                invoke: @escaping @Sendable (Int64, String, JSONObject, Bool, TraceContext?) throws -> Outcome) {
        self.requiresApproval = requiresApproval
        self.invoke = invoke
    }

    /// No executor configured: every EXTERNAL_API_REQUEST names an unknown API.
    public static let none = ExternalCalls(requiresApproval: { _, _ in nil },
                                           invoke: { _, name, _, _, _ in throw APIError(status: 404, code: "NOT_FOUND", message: "external API '\(name)' not found") })
}

import Foundation

/// Who may call a route.
public enum Access: Sendable {
    /// No key needed (health, openapi.json).
    case open
    /// A key with at least `level` in `group`.
    case group(PermissionGroup, AccessLevel)
    /// An admin key (API-key management).
    case admin
    /// An admin key, refused with this message (tenant-wide writes such as settings).
    case adminOnly(String)
    /// Any valid key.
    case authenticated
}

/// One API route: pattern, who may call it, where it runs, and the handler.
public struct Route: Sendable {
    public let method: String
    public let pattern: String
    public let access: Access
    /// Runs on the worker pool (it writes, or waits on upstreams). `false` runs it on the event loop:
    /// only for handlers that just read, which there use the loop's own store reader and never wait
    /// for a lock (in WAL mode readers do not wait for the writer).
    public let blocking: Bool
    /// The query parameters the handler reads (`ctx.query`); any other one is ignored with a
    /// `meta.warnings` entry, also when the handler throws before reading them all.
    public let query: [String]
    /// Why an in-process caller (an AGENTIC run's `neo_api_request`) may not call this route, or nil when it
    /// may: set on every route that queues a run (a model could otherwise start runs without bound, itself
    /// included) and on the external-API calls that have their own tools. Checked once, where the App serves
    /// in process, so a new route of that kind says so where it is declared.
    public let refusedInProcess: String?
    public let handler: @Sendable (RequestContext) throws -> Reply

    public init(_ method: String, _ pattern: String, access: Access, blocking: Bool = true, query: [String] = [],
                refusedInProcess: String? = nil, _ handler: @escaping @Sendable (RequestContext) throws -> Reply) {
        self.method = method
        self.pattern = pattern
        self.access = access
        self.blocking = blocking
        self.query = query
        self.refusedInProcess = refusedInProcess
        self.handler = handler
    }
}

extension Route {
    /// `refusedInProcess` of the routes that queue runs.
    public static let queuesRuns = "a run does not start runs through neo_api_request (run-now, retry, callbacks, scheduled work, "
        + "chat messages): a model could otherwise start runs without bound, itself included"
    /// `refusedInProcess` of TIL decisions: a technician decides, never a run (not even one granted `approvals`).
    public static let decidesApprovals = "a TIL request is decided by a technician, not by a run through neo_api_request"
    /// `refusedInProcess` of the external-API calls.
    public static let callsExternalAPIs = "external APIs are called through their own tools, not through neo_api_request"
}

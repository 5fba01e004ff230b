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
    public let handler: @Sendable (RequestContext) throws -> Reply

    public init(_ method: String, _ pattern: String, access: Access, blocking: Bool = true, query: [String] = [],
                _ handler: @escaping @Sendable (RequestContext) throws -> Reply) {
        self.method = method
        self.pattern = pattern
        self.access = access
        self.blocking = blocking
        self.query = query
        self.handler = handler
    }
}

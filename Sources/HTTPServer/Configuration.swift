/// Limits and timeouts of the HTTP server (design §2). Defaults are the contract's.
public struct HTTPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Event-loop threads; 0 = one per core.
    public var threads = 0
    public var maxRequestLine = 8192
    public var maxHeaderBytes = 16384
    public var maxHeaders = 100
    public var maxBody = 1 << 20
    public var headerTimeout = 10.0
    public var idleTimeout = 60.0
    public var bodyTimeout = 30.0
    public var maxConnections = 10_000
    public var maxPipelined = 16
    public var shutdownDeadline = 10.0
    /// A streaming response whose unsent bytes exceed this is dropped (its reader is too slow).
    public var maxStreamBuffer = 4 << 20
    /// The `Server` header value.
    public var serverName = "neo-server"

    public init() {}
}

/// Why the server answered a request itself (malformed input, limits, timeouts).
public struct HTTPServerError: Sendable {
    public let status: Int
    /// A message that says what was wrong, for the error envelope.
    public let message: String
}

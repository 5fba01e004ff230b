import Basics
import CShim
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An event-driven HTTP/1.1 server: N epoll loops sharing one listening socket, each owning its
/// connections. It knows nothing of the API: it hands complete requests to `handler` and sends
/// what the application answers, in request order.
public final class HTTPServer: Sendable {
    /// Called on the connection's event loop for every complete request. Do blocking work
    /// elsewhere (see `WorkerPool`) and answer through the responder from any thread.
    public typealias Handler = @Sendable (HTTPRequest, Responder) -> Void

    public let configuration: HTTPServerConfiguration
    let handler: Handler
    /// Builds the response the server sends on its own (malformed request, limits, timeouts).
    let errorResponder: @Sendable (HTTPServerError) -> HTTPResponse
    /// Where the server's own events go (refused connections); the access log is the application's.
    let logger: Logger
    private let connectionCount = Atomic<Int>(0)
    private let lastRefusalLog = Lock<Int>(0)

    /// What `bind`, `start` and `shutdown` set up and tear down, on whichever thread calls them.
    private struct Lifecycle {
        var listenFd: Int32 = -1
        var port = 0
        var loops: [EventLoop] = []
        /// Loop threads started and not yet finished.
        var runningLoops = 0
        var onLoopStart: (@Sendable () -> Void)?
    }
    private let lifecycle = Lock(Lifecycle())

    /// Runs first on each event-loop thread (e.g. to give it a store reader of its own). Set before `start`.
    public var onLoopStart: (@Sendable () -> Void)? {
        get { lifecycle.withLock { $0.onLoopStart } }
        set { lifecycle.withLock { $0.onLoopStart = newValue } }
    }

    /// The port actually bound (differs from the configuration when it asked for 0).
    public var port: Int { lifecycle.withLock { $0.port } }

    public init(configuration: HTTPServerConfiguration, handler: @escaping Handler,
                errorResponder: @escaping @Sendable (HTTPServerError) -> HTTPResponse, logger: Logger = Logger(level: .info)) {
        self.configuration = configuration
        self.handler = handler
        self.errorResponder = errorResponder
        self.logger = logger
    }

    /// Binds and listens, without serving yet: connections wait in the backlog until `start`.
    /// Separate so a caller learns that the address is taken before it does anything visible.
    /// Returns the bound port.
    @discardableResult
    public func bind() throws -> Int {
        try lifecycle.withLock { state in
            if state.listenFd < 0 {
                (state.listenFd, state.port) = try bindListener(host: configuration.host, port: configuration.port)
            }
            return state.port
        }
    }

    /// Starts the event loops (binding first unless `bind` already did). Returns the bound port.
    @discardableResult
    public func start() throws -> Int {
        try bind()
        let count = configuration.threads > 0 ? configuration.threads : ProcessInfo.processInfo.activeProcessorCount
        let threads = try lifecycle.withLock { state -> [Thread] in
            var threads: [Thread] = []
            for i in 0..<count {
                let loop = try EventLoop(index: i, server: self, config: configuration)
                loop.registerListener(state.listenFd)
                state.loops.append(loop)
                state.runningLoops += 1
                let thread = Thread { [self, loop, onLoopStart = state.onLoopStart] in
                    onLoopStart?()
                    loop.run()
                    lifecycle.withLock { $0.runningLoops -= 1 }
                }
                thread.name = "neo-loop-\(i)"
                threads.append(thread)
            }
            return threads
        }
        threads.forEach { $0.start() }
        return port
    }

    /// Current number of open client connections.
    public var openConnections: Int { connectionCount.load(ordering: .relaxed) }

    /// Graceful shutdown: stop accepting, let in-flight requests finish (up to the deadline),
    /// close every connection, stop the loops. Blocks until done.
    public func shutdown() {
        let loops = lifecycle.withLock { $0.loops }
        let drained = DispatchSemaphore(value: 0)
        for loop in loops { loop.execute { loop.beginDrain(); drained.signal() } }
        for _ in loops { drained.wait() }
        // No loop accepts any more: close the listener so new connections are refused at once.
        let listenFd = lifecycle.withLock { state in
            defer { state.listenFd = -1 }
            return state.listenFd
        }
        if listenFd >= 0 { Glibc.close(listenFd) }
        let deadline = monotonicNow() + configuration.shutdownDeadline
        while openConnections > 0 && monotonicNow() < deadline { usleep(10_000) }
        for loop in loops { loop.execute { loop.stop() } }
        while lifecycle.withLock({ $0.runningLoops }) > 0 && monotonicNow() < deadline + 1 { usleep(5_000) }
    }

    func reserveConnectionSlot() -> Bool {
        let now = connectionCount.add(1, ordering: .relaxed).newValue
        if now > configuration.maxConnections {
            connectionCount.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func releaseConnectionSlot() { connectionCount.subtract(1, ordering: .relaxed) }

    /// Logs a refused connection at most once a second.
    func noteRefused(_ why: String) {
        let second = Int(time(nil))
        let shouldLog = lastRefusalLog.withLock { last -> Bool in
            if last == second { return false }
            last = second
            return true
        }
        if shouldLog { logger.warn("refusing connections: \(why)") }
    }

    /// A listening socket on `host:port` and the port it got.
    private func bindListener(host: String, port: Int) throws -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw HTTPServerStartError("cannot resolve NEO_HOST '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            let code = errno
            throw HTTPServerStartError("socket(): \(String(cString: strerror(code)))", code: POSIXErrorCode(rawValue: code))
        }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw HTTPServerStartError("cannot bind \(host):\(port): \(String(cString: strerror(code)))", code: POSIXErrorCode(rawValue: code))
        }
        guard listen(fd, 4096) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw HTTPServerStartError("listen(): \(String(cString: strerror(code)))", code: POSIXErrorCode(rawValue: code))
        }
        var addr = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        if addr.ss_family == sa_family_t(AF_INET6) {
            return (fd, withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } })
        }
        return (fd, withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } })
    }
}

/// The server could not start (bad host, port in use, …); the message says which and why.
public struct HTTPServerStartError: Error, Sendable, CustomStringConvertible {
    public let description: String
    /// The system's reason (`.EADDRINUSE`: the port is taken); nil when the host did not resolve.
    public let code: POSIXErrorCode?
    init(_ message: String, code: POSIXErrorCode? = nil) {
        description = message
        self.code = code
    }
}

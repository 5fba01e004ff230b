import Basics

/// A response body the application writes over time, sent with chunked transfer coding (design §2:
/// chunked only where streaming is needed), e.g. Server-Sent Events. Writes come from any thread and are
/// queued on the connection in order: a slow reader never blocks anyone, and one whose queue grows past
/// `HTTPServerConfiguration.maxStreamBuffer` is dropped. `onOpen` runs (on the event loop) once the head
/// is queued, `onClose` once when the stream ends for any reason: finished, client gone, dropped, shutdown.
public final class ResponseStream: Sendable {
    /// Sent whenever the stream has been quiet for `heartbeatInterval` seconds (an SSE comment, say).
    public let heartbeat: [UInt8]?
    public let heartbeatInterval: Double

    private struct State {
        var loop: EventLoop?
        var connection: UInt64 = 0
        var closed = false
        var onOpen: (@Sendable () -> Void)?
        var onClose: (@Sendable () -> Void)?
    }
    private let state: Lock<State>

    public init(heartbeat: [UInt8]? = nil, heartbeatInterval: Double = 15,
                onOpen: (@Sendable () -> Void)? = nil, onClose: (@Sendable () -> Void)? = nil) {
        self.heartbeat = heartbeat
        self.heartbeatInterval = heartbeatInterval
        state = Lock(State(onOpen: onOpen, onClose: onClose))
    }

    /// Whether writes still reach a client (false before the head is sent and after the end).
    public var isOpen: Bool { state.withLock { $0.loop != nil && !$0.closed } }

    /// Queues `bytes` as one chunk; dropped once the stream is closed. Returns false when it was.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return isOpen }
        guard let (loop, id) = target() else { return false }
        loop.execute { loop.connections[id]?.streamWrite(bytes) }
        return true
    }

    /// Ends the body (the final chunk); the connection then serves its next request or closes.
    public func finish() {
        guard let (loop, id) = target() else { return }
        loop.execute { loop.connections[id]?.streamFinish() }
    }

    private func target() -> (EventLoop, UInt64)? {
        state.withLock { s in s.closed ? nil : s.loop.map { ($0, s.connection) } }
    }

    /// The connection queued the head: writes may flow.
    func attach(loop: EventLoop, connection: UInt64) {
        let open = state.withLock { s -> (@Sendable () -> Void)? in
            guard !s.closed else { return nil }
            s.loop = loop
            s.connection = connection
            defer { s.onOpen = nil }
            return s.onOpen
        }
        open?()
    }

    /// The stream ended; `onClose` runs once.
    func detach() {
        let close = state.withLock { s -> (@Sendable () -> Void)? in
            guard !s.closed else { return nil }
            s.closed = true
            s.onOpen = nil
            defer { s.onClose = nil }
            return s.onClose
        }
        close?()
    }
}

extension ResponseStream {
    /// Ends a stream that was never handed to a connection (its request failed first): `onClose` runs.
    public func detachUnopened() { detach() }
}

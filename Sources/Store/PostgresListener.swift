import Basics
import Foundation

/// One connection of its own that LISTENs on a channel and calls `onNotify` with how many NOTIFY messages arrived
/// (PostgreSQL only). It reconnects when the database goes away (backing off up to 5 s) and calls `onNotify(Int.max)`
/// after each (re)connect, since messages sent while it was away are lost; whoever it wakes also polls.
public final class PostgresListener: Sendable {
    private let conninfo: String
    private let channel: String
    private let onNotify: @Sendable (Int) -> Void
    private let onProblem: @Sendable (String) -> Void
    /// Whether to stop, and whether the thread is still running.
    private let state = Lock<(stopping: Bool, running: Bool)>((false, false))

    init(conninfo: String, channel: String, onNotify: @escaping @Sendable (Int) -> Void, onProblem: @escaping @Sendable (String) -> Void) {
        self.conninfo = conninfo
        self.channel = channel
        self.onNotify = onNotify
        self.onProblem = onProblem
    }

    func start() {
        state.withLock { $0.running = true }
        let t = Thread {
            self.listen()
            self.state.withLock { $0.running = false }
            self.state.notifyAll()
        }
        t.name = "neo-listen"
        t.start()
    }

    /// Stops within about half a second (the poll timeout) and closes the connection.
    public func stop() {
        state.withLock { $0.stopping = true }
        state.withLock(waitingUntil: { !$0.running }, timeout: 3) { _, _ in }
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    private func listen() {
        var backoff = 0.1
        while !stopping {
            do {
                let conn = try PGConnection(conninfo: conninfo)
                defer { conn.close() }
                try conn.simple("LISTEN \(channel)")
                backoff = 0.1
                onNotify(Int.max)
                while !stopping {
                    let heard = try conn.waitForNotifications(timeoutMs: 500)
                    if heard > 0 { onNotify(heard) }
                }
            } catch {
                if stopping { return }
                onProblem(String(describing: error))
                // Wait before reconnecting, waking early for a stop.
                state.withLock(waitingUntil: { $0.stopping }, timeout: backoff) { _, _ in }
                backoff = min(backoff * 2, 5)
            }
        }
    }
}

extension Store {
    /// A listener on `channel` over a connection of its own, started; nil on SQLite (one node, nothing to hear).
    public func listen(_ channel: String, onNotify: @escaping @Sendable (Int) -> Void,
                       onProblem: @escaping @Sendable (String) -> Void) -> PostgresListener? {
        guard dialect == .postgres else { return nil }
        let listener = PostgresListener(conninfo: conninfoForListening, channel: channel, onNotify: onNotify, onProblem: onProblem)
        listener.start()
        return listener
    }
}

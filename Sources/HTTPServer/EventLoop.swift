import Basics
import CShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One event-loop thread: an epoll set, the connections it owns, and a queue of tasks other
/// threads hand it (responses finished on the worker pool come back this way).
// unchecked: all state but `tasks` (behind its lock) is confined to the loop's own thread.
final class EventLoop: @unchecked Sendable {
    static let listenToken: UInt64 = 0
    static let wakeToken: UInt64 = 1

    let index: Int
    unowned let server: HTTPServer
    let config: HTTPServerConfiguration
    let epfd: Int32
    private let wakeFd: Int32
    private var thread: pthread_t?
    private var running = true
    private(set) var draining = false
    /// The shared listening socket, once registered; -1 before.
    private var listenFd: Int32 = -1

    var connections: [UInt64: Connection] = [:]
    private var nextId: UInt64 = 2

    /// Reads land here first; only bytes of an unfinished message are copied into a connection.
    let scratch: UnsafeMutablePointer<UInt8>
    let scratchSize = 64 * 1024

    /// Tasks from other threads; `wakePending` says the eventfd was written since the last drain.
    private let tasks = Lock<(queue: [@Sendable () -> Void], wakePending: Bool)>(([], false))

    private(set) var now: Double = monotonicNow()
    private var lastTick: Double = 0
    private var dateSecond = -1
    private(set) var dateBytes: [UInt8] = []

    init(index: Int, server: HTTPServer, config: HTTPServerConfiguration) throws {
        self.index = index
        self.server = server
        self.config = config
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard epfd >= 0, wakeFd >= 0 else { throw POSIXError.current("epoll/eventfd") }
        scratch = .allocate(capacity: scratchSize)
        _ = cshim_epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFd, EPOLLIN.rawValue, EventLoop.wakeToken)
    }

    deinit {
        scratch.deallocate()
        close(epfd)
        close(wakeFd)
    }

    var isCurrent: Bool {
        guard let t = thread else { return false }
        return pthread_equal(t, pthread_self()) != 0
    }

    /// Runs `task` on this loop's thread (soon, in order).
    func execute(_ task: @escaping @Sendable () -> Void) {
        let signal = tasks.withLock { state -> Bool in
            state.queue.append(task)
            defer { state.wakePending = true }
            return !state.wakePending
        }
        if signal {
            var one: UInt64 = 1
            _ = write(wakeFd, &one, 8)
        }
    }

    func registerListener(_ fd: Int32) {
        // EPOLLEXCLUSIVE: one loop wakes per incoming connection, not all of them.
        _ = cshim_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN.rawValue | (1 << 28), EventLoop.listenToken)
        listenFd = fd
    }

    func run() {
        thread = pthread_self()
        let datas = UnsafeMutablePointer<UInt64>.allocate(capacity: 256)
        let events = UnsafeMutablePointer<UInt32>.allocate(capacity: 256)
        defer { datas.deallocate(); events.deallocate() }
        while running {
            let n = cshim_epoll_wait(epfd, datas, events, 256, 100)
            now = monotonicNow()
            if n > 0 {
                for i in 0..<Int(n) { handle(token: datas[i], events: events[i]) }
            }
            runTasks()
            if now - lastTick >= 0.1 {
                lastTick = now
                tick()
            }
        }
        for conn in Array(connections.values) { conn.close() }
    }

    private func handle(token: UInt64, events: UInt32) {
        switch token {
        case EventLoop.listenToken: acceptConnections()
        case EventLoop.wakeToken:
            var value: UInt64 = 0
            _ = read(wakeFd, &value, 8)
        default:
            guard let conn = connections[token] else { return }
            if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { conn.onReadable() }
            if events & EPOLLOUT.rawValue != 0, connections[token] != nil { conn.onWritable() }
        }
    }

    private func runTasks() {
        let batch = tasks.withLock { state -> [@Sendable () -> Void] in
            state.wakePending = false
            defer { state.queue.removeAll(keepingCapacity: true) }
            return state.queue
        }
        for task in batch { task() }
    }

    private func acceptConnections() {
        for _ in 0..<64 {
            let fd = cshim_accept(listenFd)
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE { server.noteRefused("out of file descriptors") }
                return
            }
            if draining || !server.reserveConnectionSlot() {
                Glibc.close(fd)
                if !draining { server.noteRefused("max connections (\(config.maxConnections)) reached") }
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let id = nextId
            nextId += 1
            let conn = Connection(id: id, fd: fd, loop: self)
            connections[id] = conn
            _ = cshim_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN.rawValue | EPOLLRDHUP.rawValue, id)
        }
    }

    func removed(_ conn: Connection) {
        connections.removeValue(forKey: conn.id)
        server.releaseConnectionSlot()
    }

    /// Delivers a finished response to the connection that asked for it (if it still exists).
    func deliver(connection id: UInt64, seq: UInt64, response: HTTPResponse) {
        guard let conn = connections[id] else {
            response.stream?.detach()   // the client left first: the stream never opens
            return
        }
        conn.deliver(seq: seq, response: response)
    }

    private func tick() {
        for conn in Array(connections.values) { conn.checkTimers(now: now) }
    }

    /// Stops accepting; closes idle connections; busy ones close after their last response.
    func beginDrain() {
        draining = true
        if listenFd >= 0 { _ = cshim_epoll_ctl(epfd, EPOLL_CTL_DEL, listenFd, 0, 0) }
        for conn in Array(connections.values) { conn.drain() }
    }

    func stop() { running = false }

    private var statusLines: [Int: [UInt8]] = [:]

    /// "HTTP/1.1 200 OK\r\nServer: …\r\nDate: ", built once per status.
    func statusLine(_ status: Int) -> [UInt8] {
        if let line = statusLines[status] { return line }
        let line = Array("HTTP/1.1 \(status) \(Connection.reasons[status] ?? "Status")\r\nServer: \(config.serverName)\r\nDate: ".utf8)
        statusLines[status] = line
        return line
    }

    /// The IMF-fixdate for the Date header, recomputed once a second.
    func httpDate() -> [UInt8] {
        let t = time(nil)
        if Int(t) != dateSecond {
            dateSecond = Int(t)
            dateBytes = Array(formatHTTPDate(t).utf8)
        }
        return dateBytes
    }
}

/// RFC 9110 §5.6.7 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
func formatHTTPDate(_ t: time_t) -> String {
    var t = t
    var tm = tm()
    gmtime_r(&t, &tm)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) "
        + "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
}

extension POSIXError {
    static func current(_ what: String) -> Error {
        let code = errno
        return NSError(domain: "neo-server", code: Int(code),
                       userInfo: [NSLocalizedDescriptionKey: "\(what): \(String(cString: strerror(code)))"])
    }
}

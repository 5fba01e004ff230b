import Basics
import CShim
import Foundation

/// What the curl client sends: a finished request plus transport limits. `resolve` pins the host to
/// the address the policy checked (`host:port:address`, CURLOPT_RESOLVE).
public struct CurlRequest: Sendable {
    public var method: String
    public var url: String
    /// Lines `Name: value`.
    public var headers: [String]
    public var body: [UInt8]?
    public var timeoutMs: Int
    public var maxResponseBytes: Int
    public var resolve: String?
    /// What the call is for, the `kind` label of the upstream metrics.
    public var kind: UpstreamKind
    /// Gets the body of a 2xx response piece by piece as it arrives (on the curl thread; keep it short),
    /// for streamed replies. The whole body is still collected up to the cap.
    public var onBody: (@Sendable ([UInt8]) -> Void)?

    public init(method: String, url: String, headers: [String], body: [UInt8]?, timeoutMs: Int,
                maxResponseBytes: Int, resolve: String?, kind: UpstreamKind = .externalAPI) {
        self.kind = kind
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.maxResponseBytes = maxResponseBytes
        self.resolve = resolve
    }
}

/// What came back: status, headers (Set-Cookie dropped), the body up to the cap.
public struct CurlResponse: Sendable {
    public var status: Int
    public var headers: ResponseHeaders
    public var body: [UInt8]
    public var truncated: Bool
    /// Bytes the upstream sent, when the transfer ran to its end.
    public var bytesTotal: Int?
    public var durationMs: Double
}

/// libcurl on one dedicated thread driving a multi handle: any thread submits a request with a
/// completion, which runs on the curl thread (keep it short; never block in it). The sender sets up
/// the easy handle, so the curl thread, the one that limits throughput, only adds it, drives it and
/// runs the completions of each `curl_multi_perform` round one after another.
// unchecked: a Transfer passes from its sender to the curl thread through `pending` and is then the curl
// thread's alone, as are `active` and the multi handle (other threads only call curl_multi_wakeup on it);
// a spare easy handle passes back the same way through `spare`. Making the queue hold only Sendable
// values would mean setting up every easy handle on the curl thread.
public final class CurlClient: @unchecked Sendable {
    /// Past the cap the body is only counted, up to this many extra bytes; then the transfer is cut.
    static let countBeyondCap = 1 << 20
    static let userAgent = "neo-server-executor"

    /// Made by the curl thread once libcurl is loaded (CurlLibrary), under `pending`'s lock, which other threads
    /// hold to read it; nil when libcurl could not be loaded.
    private var multi: UnsafeMutableRawPointer?
    /// Transfers handed over by senders (`delay` > 0 ones wait on the curl thread's timers first), and
    /// whether the curl thread is, or is about to be, asleep in `curl_multi_poll`: only then does a
    /// sender wake it, once. A busy thread looks at the queue before it sleeps, so a submission while
    /// it runs costs no wake-up write and no extra poll round.
    private let pending = Lock<Pending>(Pending())
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]  // curl thread only
    /// Transfers waiting for their start time (a retry's backoff), soonest last. Curl thread only.
    private var delayed: [(due: Double, transfer: Transfer)] = []
    /// Easy handles of finished transfers with their error buffers and the header lists they still
    /// point at, reset and set up anew by the next sender, which also frees the old lists: this saves
    /// an init on the sender and, more to the point, a cleanup and the lists' frees on the busy curl
    /// thread. Connections live in the multi handle either way. Nil once shut down.
    private let spare = Lock<[SpareHandle]?>([])
    static let maxSpare = 64
    private let stopped = DispatchSemaphore(value: 0)
    /// Idle connections the multi handle keeps (CURLMOPT_MAXCONNECTS). libcurl's default, 4 × the
    /// easy handles in it at that moment, collapses whenever the calls in flight dip (a burst's last
    /// completions before the next submissions arrive) and closes connections the next calls reopen:
    /// the bench saw one new connection per 20 calls. So it is set, and raised with the peak in flight.
    private var connectionCap = 64  // curl thread only once started
    static let maxConnectionCap = 1024

    private struct Pending {
        var queue: [(transfer: Transfer, delay: Double)] = []
        var stopping = false
        var sleeping = false
    }

    public init() {
        // The thread keeps the client alive until `shutdown` has stopped it.
        let t = Thread { self.run() }
        t.name = "neo-curl"
        t.start()
    }

    /// Sends `request` (after `delay` seconds, timed on the curl thread, so a retry's backoff holds no
    /// other thread); `completion` gets the response or an upstream/timeout error.
    public func send(_ request: CurlRequest, after delay: Double = 0,
                     completion: @escaping @Sendable (Result<CurlResponse, ExecutorError>) -> Void) {
        if let problem = CurlLibrary.load() {
            completion(.failure(ExecutorError(.upstream, problem)))
            return
        }
        let transfer: Transfer
        do {
            transfer = try Transfer(request, client: self, completion: completion)
        } catch let e as ExecutorError {
            completion(.failure(e))
            return
        } catch {
            completion(.failure(ExecutorError(.upstream, "could not prepare the request")))
            return
        }
        // Waking inside the lock: once `stopping` is seen, the multi handle may be cleaned up.
        let accepted = pending.withLock { state -> Bool in
            if state.stopping { return false }
            state.queue.append((transfer, delay))
            if state.sleeping {
                state.sleeping = false
                if let multi { curl_multi_wakeup(multi) } else { pending.notifyAll() }
            }
            return true
        }
        if !accepted { transfer.finish(.failure(ExecutorError(.upstream, "the executor is shutting down"))) }
    }

    /// Fails transfers still queued or running and stops the thread.
    public func shutdown() {
        let first = pending.withLock { state -> Bool in
            defer { state.stopping = true }
            if !state.stopping, let multi { curl_multi_wakeup(multi) }
            return !state.stopping
        }
        guard first else { return }
        pending.notifyAll()  // a thread still waiting for its first transfer
        stopped.wait()
        if let multi = pending.withLock({ _ in multi }) { curl_multi_cleanup(multi) }
        for s in spare.withLock({ list in defer { list = nil }; return list ?? [] }) { s.free() }
    }

    /// A spare easy handle, reset to libcurl's defaults, with its error buffer, or a new pair.
    fileprivate func easyHandle() -> (UnsafeMutableRawPointer, UnsafeMutablePointer<CChar>)? {
        guard let s = spare.withLock({ $0?.popLast() }) else {
            guard let easy = curl_easy_init() else { return nil }
            return (easy, UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1))
        }
        curl_easy_reset(s.easy)  // first: the handle points at the lists until then
        curl_slist_free_all(s.headerList)
        curl_slist_free_all(s.resolveList)
        return (s.easy, s.errorBuffer)
    }

    /// Takes back the handle of a finished transfer (no longer in the multi handle) with what it
    /// still points at.
    fileprivate func recycle(_ s: SpareHandle) {
        let kept = spare.withLock { list -> Bool in
            guard list != nil, list!.count < Self.maxSpare else { return false }
            list!.append(s)
            return true
        }
        if !kept { s.free() }
    }

    private func run() {
        // libcurl is loaded (CurlLibrary) by the first `send`, or by a server once it listens, not by making a client:
        // so the thread makes its multi handle only when the first transfer (or the shutdown) arrives. Until then a
        // sender finds it "sleeping" without a multi handle and wakes it through the lock's condition.
        pending.withLock { $0.sleeping = true }
        let idle = pending.withLock(waitingUntil: { !$0.queue.isEmpty || $0.stopping }) { state -> Bool in
            state.sleeping = false
            return state.queue.isEmpty
        }
        guard !idle, CurlLibrary.load() == nil, let made = curl_multi_init() else {
            let left = pending.withLock { state -> [(transfer: Transfer, delay: Double)] in
                state.stopping = true
                defer { state.queue.removeAll() }
                return state.queue
            }
            if !left.isEmpty {
                let reason = CurlLibrary.load() ?? "curl_multi_init failed"
                for (t, _) in left { t.finish(.failure(ExecutorError(.upstream, reason))) }
            }
            stopped.signal()
            return
        }
        _ = cshim_curl_multi_setopt_long(made, CURLMOPT_MAXCONNECTS, connectionCap)
        pending.withLock { _ in multi = made }
        var incoming: [(transfer: Transfer, delay: Double)] = []
        var finished: [(transfer: Transfer, code: CURLcode)] = []
        while true {
            // Swapped, not copied: both arrays keep their storage from round to round.
            let stopping = pending.withLock { state -> Bool in
                swap(&incoming, &state.queue)
                state.sleeping = false
                return state.stopping
            }
            let now = monotonicNow()
            for (t, delay) in incoming {
                if delay > 0 {
                    delayed.append((now + delay, t))
                } else {
                    start(t, at: now)
                }
            }
            incoming.removeAll(keepingCapacity: true)
            if !delayed.isEmpty {
                delayed.sort { $0.due > $1.due }
                while let last = delayed.last, last.due <= now {
                    delayed.removeLast()
                    start(last.transfer, at: now)
                }
            }
            if stopping {
                for (easy, t) in active {
                    curl_multi_remove_handle(multi, easy)
                    t.finish(.failure(ExecutorError(.upstream, "the executor is shutting down")))
                }
                for (_, t) in delayed { t.finish(.failure(ExecutorError(.upstream, "the executor is shutting down"))) }
                active.removeAll()
                delayed.removeAll()
                stopped.signal()
                return
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            // This round's finished transfers leave the multi handle first, then their completions
            // run one after another; what they send lands in `pending` and starts next round.
            var easy: UnsafeMutableRawPointer?
            var code: Int32 = 0
            while cshim_curl_multi_next_done(multi, &easy, &code) == 1 {
                guard let e = easy, let t = active.removeValue(forKey: e) else { continue }
                curl_multi_remove_handle(multi, e)
                finished.append((t, CURLcode(UInt32(code))))
            }
            for (t, code) in finished { t.complete(code: code) }
            finished.removeAll(keepingCapacity: true)
            // Sleep until curl has work, a sender wakes us, or the next delayed transfer is due;
            // not at all when submissions came in meanwhile (they start right away, next round).
            let sleep = pending.withLock { state -> Bool in
                guard state.queue.isEmpty, !state.stopping else { return false }
                state.sleeping = true
                return true
            }
            guard sleep else { continue }
            var waitMs: Int32 = 1000
            if let next = delayed.last { waitMs = Int32(max(0, min(1000, ((next.due - monotonicNow()) * 1000).rounded(.up)))) }
            curl_multi_poll(multi, nil, 0, waitMs, nil)
        }
    }

    private func start(_ t: Transfer, at now: Double) {
        t.started = now
        active[t.easy] = t
        if active.count * 4 > connectionCap && connectionCap < Self.maxConnectionCap {
            connectionCap = min(Self.maxConnectionCap, active.count * 4)
            _ = cshim_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, connectionCap)
        }
        curl_multi_add_handle(multi, t.easy)
    }
}

/// A finished transfer's easy handle and error buffer, with the header lists it was set up with
/// (freed by whoever takes the handle next, after `curl_easy_reset`).
private struct SpareHandle {
    let easy: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>
    let headerList: UnsafeMutablePointer<curl_slist>?
    let resolveList: UnsafeMutablePointer<curl_slist>?

    func free() {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        curl_slist_free_all(resolveList)
        errorBuffer.deallocate()
    }
}

/// One easy handle and everything it points at, alive until the transfer completes.
private final class Transfer {
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var resolveList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let completion: @Sendable (Result<CurlResponse, ExecutorError>) -> Void
    private unowned let client: CurlClient
    private let cap: Int
    private let timeoutMs: Int
    private let kind: UpstreamKind
    private let onBody: (@Sendable ([UInt8]) -> Void)?
    /// Whether the final response is a 2xx (asked once, at its first body byte).
    private var streamsBody: Bool?
    private var body: [UInt8] = []
    private var total = 0
    private var cutOff = false
    private var headers = ResponseHeaders()
    private var finished = false
    private var released = false
    var started = 0.0

    init(_ r: CurlRequest, client: CurlClient, completion: @escaping @Sendable (Result<CurlResponse, ExecutorError>) -> Void) throws {
        guard let (easy, errorBuffer) = client.easyHandle() else { throw ExecutorError(.upstream, "curl_easy_init failed") }
        self.easy = easy
        self.errorBuffer = errorBuffer
        self.client = client
        self.completion = completion
        cap = r.maxResponseBytes
        timeoutMs = r.timeoutMs
        kind = r.kind
        onBody = r.onBody
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var ok = true
        func check(_ rc: Int32) { if rc != 0 { ok = false } }
        check(cshim_curl_setopt_str(easy, CURLOPT_URL, r.url))
        check(cshim_curl_setopt_str(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        check(cshim_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0))
        check(cshim_curl_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1))
        check(cshim_curl_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2))
        check(cshim_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, r.timeoutMs))
        check(cshim_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        // A recycled handle keeps its TLS session IDs through curl_easy_reset; a fresh one had none.
        check(cshim_curl_setopt_long(easy, CURLOPT_SSL_SESSIONID_CACHE, 0))
        // An empty proxy overrides http_proxy & co. from the environment, which would bypass the pin.
        check(cshim_curl_setopt_str(easy, CURLOPT_PROXY, ""))
        check(cshim_curl_setopt_str(easy, CURLOPT_USERAGENT, CurlClient.userAgent))
        check(cshim_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        if let resolve = r.resolve {
            resolveList = curl_slist_append(nil, resolve)
            check(cshim_curl_setopt_slist(easy, CURLOPT_RESOLVE, resolveList))
        }
        // "Expect:" stops curl from waiting for 100-continue on larger bodies (without a body curl sends none).
        for line in r.headers { headerList = curl_slist_append(headerList, line) }
        if r.body != nil { headerList = curl_slist_append(headerList, "Expect:") }
        check(cshim_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList))
        switch (r.method, r.body) {
        case ("GET", nil):
            check(cshim_curl_setopt_long(easy, CURLOPT_HTTPGET, 1))
        case (_, let body?):
            if r.method != "POST" { check(cshim_curl_setopt_str(easy, CURLOPT_CUSTOMREQUEST, r.method)) }
            check(cshim_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            let copy = body.isEmpty ? [0] : body
            check(copy.withUnsafeBufferPointer { cshim_curl_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress!)) })
        case (let method, nil):
            check(cshim_curl_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method))
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        check(cshim_curl_set_write_callback(easy, curlWriteBody, me))
        check(cshim_curl_set_header_callback(easy, curlWriteHeader, me))
        guard ok else {
            release()
            throw ExecutorError(.upstream, "libcurl refused an option (is libcurl older than 7.85?)")
        }
    }

    func receiveBody(_ data: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        total += count
        let room = cap - body.count
        if room > 0 {
            data.withMemoryRebound(to: UInt8.self, capacity: count) {
                let piece = UnsafeBufferPointer(start: $0, count: min(room, count))
                body.append(contentsOf: piece)
                if let onBody {
                    if streamsBody == nil { streamsBody = (200...299).contains(cshim_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE)) }
                    if streamsBody == true { onBody(Array(piece)) }
                }
            }
        }
        if total > cap + CurlClient.countBeyondCap {
            cutOff = true
            return 0  // makes curl abort with CURLE_WRITE_ERROR
        }
        return count
    }

    func receiveHeader(_ data: UnsafeMutablePointer<CChar>, _ count: Int) -> Int {
        data.withMemoryRebound(to: UInt8.self, capacity: count) { start in
            let line = UnsafeBufferPointer(start: start, count: count)
            if count >= 5 && line[0] == 0x48 && line[1] == 0x54 && line[2] == 0x54 && line[3] == 0x50 && line[4] == 0x2f {
                headers.removeAll()  // interim (1xx) responses come first; keep the final one's headers
                headers.reserve(512)
                return
            }
            guard headers.count < 100, let colon = line.firstIndex(of: 0x3a) else { return }
            guard !asciiEqualsIgnoringCase(line[..<colon], "set-cookie") else { return }
            var from = colon + 1
            var to = count
            while from < to && (line[from] == 0x20 || line[from] == 0x09) { from += 1 }
            while to > from && (line[to - 1] == 0x0d || line[to - 1] == 0x0a || line[to - 1] == 0x20 || line[to - 1] == 0x09) { to -= 1 }
            // Kept as bytes: the pairs are made by whoever reads them, off this thread.
            headers.append(name: line[..<colon], value: line[from..<min(to, from + 8192)])
        }
        return count
    }

    func complete(code: CURLcode) {
        let duration = (monotonicNow() - started) * 1000
        if code == CURLE_OK || (code == CURLE_WRITE_ERROR && cutOff) {
            let status = cshim_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE)
            UpstreamMetrics.record(kind, status: status, seconds: duration / 1000)
            finish(.success(CurlResponse(status: status, headers: headers, body: body, truncated: total > cap,
                                         bytesTotal: cutOff ? nil : total, durationMs: duration)))
        } else if code == CURLE_OPERATION_TIMEDOUT {
            UpstreamMetrics.record(kind, outcome: .timeout, seconds: duration / 1000)
            finish(.failure(ExecutorError(.timeout, "the upstream did not answer within \(timeoutMs) ms")))
        } else {
            let detail = String(cString: errorBuffer)
            let reason = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
            UpstreamMetrics.record(kind, outcome: .error, seconds: duration / 1000)
            finish(.failure(ExecutorError(.upstream, "upstream request failed: \(reason)")))
        }
    }

    func finish(_ result: Result<CurlResponse, ExecutorError>) {
        guard !finished else { return }
        finished = true
        release()
        completion(result)
    }

    /// Hands the handle, its error buffer and its lists back to the client (once).
    private func release() {
        guard !released else { return }
        released = true
        client.recycle(SpareHandle(easy: easy, errorBuffer: errorBuffer, headerList: headerList, resolveList: resolveList))
        headerList = nil
        resolveList = nil
    }
}

private let curlWriteBody: cshim_curl_data_cb = { data, size, count, me in
    guard let data, let me else { return 0 }
    return Unmanaged<Transfer>.fromOpaque(me).takeUnretainedValue().receiveBody(data, size * count)
}

private let curlWriteHeader: cshim_curl_data_cb = { data, size, count, me in
    guard let data, let me else { return 0 }
    return Unmanaged<Transfer>.fromOpaque(me).takeUnretainedValue().receiveHeader(data, size * count)
}

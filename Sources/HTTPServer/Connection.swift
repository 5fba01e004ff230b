import CShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Sends the response to one request back to the connection it came from, from any thread.
public struct Responder: Sendable {
    let loop: EventLoop
    let connection: UInt64
    let seq: UInt64

    public func send(_ response: HTTPResponse) {
        if loop.isCurrent {
            loop.deliver(connection: connection, seq: seq, response: response)
        } else {
            let (loop, connection, seq) = (self.loop, self.connection, self.seq)
            loop.execute { loop.deliver(connection: connection, seq: seq, response: response) }
        }
    }
}

/// One client connection, confined to its event loop: parses requests, keeps their responses in
/// request order, writes them back, and enforces timeouts and limits.
final class Connection {
    /// A request handed to the application whose response may not have arrived yet.
    struct Slot {
        let seq: UInt64
        let isHead: Bool
        let keepAlive: Bool
        let versionMinor: Int
        var response: HTTPResponse?
    }

    let id: UInt64
    let fd: Int32
    unowned let loop: EventLoop
    private let parser: UnsafeMutablePointer<hp_parser>
    private let acceptedAt: Double

    private var pending: [UInt8] = []          // bytes not yet parsed (an unfinished head, or held back)
    /// Bytes waiting to be written, in order: response heads, and bodies as they came (no copy).
    private var outQueue: [[UInt8]] = []
    private var outOffset = 0                   // bytes of outQueue[0] already written
    private var outBytes = 0                    // bytes queued and not yet written
    private var hasOutput: Bool { !outQueue.isEmpty }
    private var slots: [Slot] = []
    private var nextSeq: UInt64 = 0
    private var current: HTTPRequest?           // head parsed, body arriving
    private var headStarted: Double?
    private var bodyStarted: Double?
    private var lastActivity: Double
    private var lastWriteProgress: Double
    private var served = 0
    private var stopParsing = false
    private var closeAfterFlush = false
    private var continuePending = false
    private var lingerUntil: Double?
    private var interest: UInt32 = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
    private var closed = false
    private var parsing = false                 // inside process(): no re-entrant parse

    /// A streaming response being sent: later responses wait until it finishes.
    private struct ActiveStream {
        let body: ResponseStream
        /// HTTP/1.1 gets chunked framing; a 1.0 client reads until the close.
        let chunked: Bool
        let keepAlive: Bool
        var lastWrite: Double
    }
    private var stream: ActiveStream?

    init(id: UInt64, fd: Int32, loop: EventLoop) {
        self.id = id
        self.fd = fd
        self.loop = loop
        parser = .allocate(capacity: 1)
        var limits = hp_limits(max_request_line: UInt32(loop.config.maxRequestLine),
                               max_header_bytes: UInt32(loop.config.maxHeaderBytes),
                               max_headers: UInt32(min(loop.config.maxHeaders, Int(HP_MAX_HEADERS_CAP))),
                               max_body: UInt64(loop.config.maxBody))
        hp_init(parser, &limits)
        acceptedAt = loop.now
        lastActivity = loop.now
        lastWriteProgress = loop.now
    }

    deinit { parser.deallocate() }

    // MARK: reading

    func onReadable() {
        if closed { return }
        let n = recv(fd, loop.scratch, loop.scratchSize, 0)
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
            peerClosed()
            return
        }
        if n < 0 { return }
        lastActivity = loop.now
        if lingerUntil != nil || stopParsing { return }   // discarding
        if pending.isEmpty {
            parsing = true
            let used = process(loop.scratch, n)
            parsing = false
            if used < n && !stopParsing && !closed {
                pending.append(contentsOf: UnsafeBufferPointer(start: loop.scratch + used, count: n - used))
            }
        } else {
            pending.append(contentsOf: UnsafeBufferPointer(start: loop.scratch, count: n))
            parsePending()
        }
        updateInterest()
    }

    private func parsePending() {
        guard !parsing, !pending.isEmpty else { return }
        parsing = true
        let used = pending.withUnsafeBufferPointer { process($0.baseAddress!, $0.count) }
        parsing = false
        if used >= pending.count || stopParsing || closed {
            pending = []
        } else if used > 0 {
            pending.removeFirst(used)
        }
    }

    private func peerClosed() {
        // A streaming reader that leaves is done: nothing more it asked for can be sent after the stream.
        if stream != nil { close(); return }
        // The client is gone or half-closed: finish what it asked for, then close.
        stopParsing = true
        closeAfterFlush = true
        if lingerUntil != nil || (slots.isEmpty && !hasOutput) { close() } else { updateInterest() }
    }

    /// Parses as many complete messages as `data` holds; returns the bytes consumed.
    private func process(_ data: UnsafePointer<UInt8>, _ len: Int) -> Int {
        var off = 0
        while !stopParsing && !closed && off <= len {
            if current == nil && headStarted == nil {
                if off == len { break }
                if slots.count >= loop.config.maxPipelined { break }   // resume when responses drain
                headStarted = loop.now
            }
            let base = data + off
            let r = hp_execute(parser, base, len - off)
            let consumed = parser.pointee.consumed
            switch r {
            case Int32(HP_AGAIN.rawValue):
                off += consumed
                return off
            case Int32(HP_HEAD_DONE.rawValue):
                startRequest(base)
                off += consumed
                if continuePending && off == len { sendContinueIfReady() }
            case Int32(HP_BODY.rawValue):
                let span = parser.pointee.body
                current?.body.append(contentsOf: UnsafeBufferPointer(start: base + Int(span.off), count: Int(span.len)))
                off += consumed
            case Int32(HP_DONE.rawValue):
                off += consumed
                finishRequest()
            default:
                fail(parseError(r))
                return len
            }
        }
        return off
    }

    private func startRequest(_ base: UnsafePointer<UInt8>) {
        let p = parser.pointee
        func string(_ s: hp_span) -> String {
            String(decoding: UnsafeBufferPointer(start: base + Int(s.off), count: Int(s.len)), as: UTF8.self)
        }
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(Int(p.nheaders))
        withUnsafePointer(to: &parser.pointee.headers) { tuple in
            tuple.withMemoryRebound(to: hp_header.self, capacity: Int(HP_MAX_HEADERS_CAP)) { h in
                for i in 0..<Int(p.nheaders) { fields.append((string(h[i].name), string(h[i].value))) }
            }
        }
        var request = HTTPRequest(method: string(p.method), target: string(p.target),
                                  versionMinor: Int(p.version_minor), headers: HTTPHeaders(fields))
        let hasBody = p.chunked != 0 || p.content_length > 0
        if hasBody {
            if p.content_length > 0 { request.body.reserveCapacity(Int(p.content_length)) }
            bodyStarted = loop.now
            if let expect = request.headers["Expect"] {
                if asciiCaseInsensitiveEquals(expect, "100-continue") {
                    if request.versionMinor == 1 { continuePending = true }
                } else {
                    current = request
                    fail(HTTPServerError(status: 417, message: "unsupported Expect value; only 100-continue is supported"))
                    return
                }
            }
        }
        current = request
    }

    private func sendContinueIfReady() {
        guard continuePending, slots.isEmpty, current != nil else { return }
        continuePending = false
        enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        flush()
    }

    private func finishRequest() {
        guard var request = current else { return }
        current = nil
        headStarted = nil
        bodyStarted = nil
        continuePending = false
        served += 1
        let connectionHeader = request.headers["Connection"]?.lowercased() ?? ""
        var keepAlive = request.versionMinor == 1
            ? !connectionHeader.contains("close")
            : connectionHeader.contains("keep-alive")
        if loop.draining { keepAlive = false }
        if !keepAlive { stopParsing = true }
        let seq = nextSeq
        nextSeq += 1
        slots.append(Slot(seq: seq, isHead: request.method == "HEAD", keepAlive: keepAlive,
                          versionMinor: request.versionMinor, response: nil))
        if request.body.isEmpty { request.body = [] }
        loop.server.handler(request, Responder(loop: loop, connection: id, seq: seq))
    }

    private func parseError(_ code: Int32) -> HTTPServerError {
        let reason = String(cString: hp_error_reason(code))
        switch code {
        case Int32(HP_E_BODY_TOO_LARGE.rawValue):
            return HTTPServerError(status: 413, message: "request body exceeds \(loop.config.maxBody) bytes")
        case Int32(HP_E_HEADERS_TOO_LARGE.rawValue), Int32(HP_E_TOO_MANY_HEADERS.rawValue):
            return HTTPServerError(status: 431, message: "\(reason) (limits: \(loop.config.maxHeaders) fields, \(loop.config.maxHeaderBytes) bytes)")
        case Int32(HP_E_REQUEST_LINE_TOO_LONG.rawValue):
            return HTTPServerError(status: 400, message: "\(reason) (limit \(loop.config.maxRequestLine) bytes)")
        case Int32(HP_E_UNSUPPORTED_VERSION.rawValue):
            return HTTPServerError(status: 505, message: "\(reason); use HTTP/1.1")
        default:
            return HTTPServerError(status: 400, message: "malformed request: \(reason)")
        }
    }

    /// Answers with an error after any earlier responses, then closes: nothing after a framing
    /// error can be trusted to be a request boundary.
    private func fail(_ error: HTTPServerError) {
        stopParsing = true
        current = nil
        headStarted = nil
        bodyStarted = nil
        continuePending = false
        let seq = nextSeq
        nextSeq += 1
        slots.append(Slot(seq: seq, isHead: false, keepAlive: false, versionMinor: 1,
                          response: loop.server.errorResponder(error)))
        drainSlots()
    }

    // MARK: responses

    func deliver(seq: UInt64, response: HTTPResponse) {
        guard !closed, let first = slots.first, seq >= first.seq, Int(seq - first.seq) < slots.count else {
            response.stream?.detach()
            return
        }
        let index = Int(seq - first.seq)
        slots[index].response = response
        drainSlots()
    }

    private func drainSlots() {
        var wrote = false
        while stream == nil, let first = slots.first, let response = first.response {
            slots.removeFirst()
            serialize(response, slot: first)
            wrote = true
            if let body = response.stream {
                if first.isHead || !(200...299).contains(response.status) {
                    body.detach()
                } else {
                    stream = ActiveStream(body: body, chunked: first.versionMinor == 1, keepAlive: first.keepAlive, lastWrite: loop.now)
                    flush()
                    if closed { return }
                    body.attach(loop: loop, connection: id)
                    break
                }
            }
            if !first.keepAlive {
                closeAfterFlush = true
                slots.removeAll()
                break
            }
        }
        if wrote { flush() }
        if closed { return }
        if slots.isEmpty { sendContinueIfReady() }
        // Responses drained below the pipelining limit: parse what was held back.
        if !parsing && !stopParsing && slots.count < loop.config.maxPipelined && !pending.isEmpty && current == nil && headStarted == nil {
            parsePending()
        }
        updateInterest()
    }

    static let reasons: [Int: String] = [
        100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 304: "Not Modified",
        400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
        408: "Request Timeout", 409: "Conflict", 412: "Precondition Failed", 413: "Content Too Large",
        415: "Unsupported Media Type", 417: "Expectation Failed", 422: "Unprocessable Content",
        428: "Precondition Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
        500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
        505: "HTTP Version Not Supported",
    ]

    private func serialize(_ response: HTTPResponse, slot: Slot) {
        let status = response.status
        var out: [UInt8] = []
        out.reserveCapacity(320 + (response.body.count < 4096 ? response.body.count : 0))
        out.append(contentsOf: loop.statusLine(status))
        out.append(contentsOf: loop.httpDate())
        let bodyAllowed = status != 204 && status != 304 && !(100...199).contains(status)
        let streaming = response.stream != nil && (200...299).contains(status) && !slot.isHead
        if streaming {
            if slot.versionMinor == 1 { out.append(contentsOf: "\r\nTransfer-Encoding: chunked".utf8) }
        } else if bodyAllowed {
            out.append(contentsOf: "\r\nContent-Length: ".utf8)
            out.append(contentsOf: String(response.body.count).utf8)
        }
        for (name, value) in response.headers {
            out.append(13); out.append(10)
            out.append(contentsOf: name.utf8)
            out.append(58); out.append(32)
            out.append(contentsOf: value.utf8)
        }
        if !slot.keepAlive || (streaming && slot.versionMinor == 0) {
            out.append(contentsOf: "\r\nConnection: close".utf8)
        } else if slot.versionMinor == 0 {
            out.append(contentsOf: "\r\nConnection: keep-alive".utf8)
        }
        out.append(contentsOf: "\r\n\r\n".utf8)
        let sendBody = bodyAllowed && !slot.isHead && !response.body.isEmpty && !streaming
        // Small bodies ride in the head's buffer; large ones are queued as they are (writev, no copy).
        if sendBody && response.body.count < 4096 { out.append(contentsOf: response.body) }
        enqueue(out)
        if sendBody && response.body.count >= 4096 { enqueue(response.body) }
    }

    private func enqueue(_ bytes: [UInt8]) {
        outBytes += bytes.count
        outQueue.append(bytes)
    }

    // MARK: streaming responses

    /// One write of the active stream, framed as a chunk. A reader that lets more than the buffer cap
    /// pile up is dropped: the event loop never waits for it, and memory stays bounded.
    func streamWrite(_ bytes: [UInt8]) {
        guard !closed, var active = stream else { return }
        if active.chunked {
            // One buffer per chunk (size line, data, CRLF): parts are small, and one iovec each keeps writev full.
            var framed = Array((String(bytes.count, radix: 16) + "\r\n").utf8)
            framed.reserveCapacity(framed.count + bytes.count + 2)
            framed.append(contentsOf: bytes)
            framed.append(contentsOf: [13, 10])
            enqueue(framed)
        } else {
            enqueue(bytes)
        }
        active.lastWrite = loop.now
        stream = active
        flush()
        if closed { return }
        // What the socket would not take stays queued here; past the cap the reader is too slow to keep.
        if outBytes > loop.config.maxStreamBuffer {
            loop.server.logger.warn("dropping a streaming response: its reader let \(outBytes) bytes pile up (limit \(loop.config.maxStreamBuffer))")
            close()
            return
        }
        updateInterest()
    }

    /// Ends the active stream with the last chunk; the next response (if any) follows.
    func streamFinish() {
        guard !closed, let active = stream else { return }
        stream = nil
        if active.chunked { enqueue(Array("0\r\n\r\n".utf8)) }
        if !active.keepAlive || !active.chunked {
            closeAfterFlush = true
            stopParsing = true
            slots.removeAll()
        }
        active.body.detach()
        flush()
        if closed { return }
        drainSlots()
    }

    func onWritable() { flush(); updateInterest() }

    private func flush() {
        while !outQueue.isEmpty {
            let n = writeQueued()
            if n > 0 {
                lastWriteProgress = loop.now
                consumeOutput(n)
            } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                return
            } else {
                close()
                return
            }
        }
        if closeAfterFlush && slots.isEmpty { lingeringClose() }
    }

    /// One sendmsg of up to 16 queued buffers.
    private func writeQueued() -> Int {
        let count = min(outQueue.count, 16)
        var iovecs = [iovec](repeating: iovec(), count: count)
        // The buffers stay alive and unmodified in outQueue for the duration of the call.
        return withExtendedLifetime(outQueue) { () -> Int in
            for i in 0..<count {
                outQueue[i].withUnsafeBytes { raw in
                    let skip = i == 0 ? outOffset : 0
                    iovecs[i] = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress! + skip), iov_len: raw.count - skip)
                }
            }
            return iovecs.withUnsafeMutableBufferPointer { iov -> Int in
                var msg = msghdr()
                msg.msg_iov = iov.baseAddress
                msg.msg_iovlen = count
                return sendmsg(fd, &msg, Int32(MSG_NOSIGNAL))
            }
        }
    }

    private func consumeOutput(_ written: Int) {
        var n = written
        while n > 0, let first = outQueue.first {
            let left = first.count - outOffset
            if n >= left {
                n -= left
                outQueue.removeFirst()
                outOffset = 0
                outBytes -= left
            } else {
                outOffset += n
                outBytes -= n
                n = 0
            }
        }
    }

    /// Half-close and drain briefly so the client reads our last response before any reset.
    private func lingeringClose() {
        guard lingerUntil == nil, !closed else { return }
        shutdown(fd, Int32(SHUT_WR))
        lingerUntil = loop.now + 2
        updateInterest()
    }

    private func updateInterest() {
        guard !closed else { return }
        var want: UInt32 = EPOLLRDHUP.rawValue
        let readPaused = lingerUntil == nil && (stopParsing || slots.count >= loop.config.maxPipelined)
        if !readPaused { want |= EPOLLIN.rawValue }
        if hasOutput { want |= EPOLLOUT.rawValue }
        if want != interest {
            interest = want
            _ = cshim_epoll_ctl(loop.epfd, EPOLL_CTL_MOD, fd, want, id)
        }
    }

    // MARK: timers and shutdown

    func checkTimers(now: Double) {
        if closed { return }
        if let until = lingerUntil {
            if now > until { close() }
            return
        }
        let config = loop.config
        if hasOutput {
            if now - lastWriteProgress > config.idleTimeout { close() }
            return
        }
        if let active = stream {
            if let beat = active.body.heartbeat, now - active.lastWrite >= active.body.heartbeatInterval { streamWrite(beat) }
            return
        }
        if !slots.isEmpty { return }   // the application is working on it
        if let started = bodyStarted, current != nil {
            if now - started > config.bodyTimeout {
                fail(HTTPServerError(status: 408, message: "request body not received within \(Int(config.bodyTimeout)) s"))
            }
        } else if let started = headStarted {
            if now - started > config.headerTimeout {
                fail(HTTPServerError(status: 408, message: "request head not received within \(formatSeconds(config.headerTimeout)) s"))
            }
        } else if served == 0 {
            if now - acceptedAt > config.headerTimeout { close() }
        } else if now - lastActivity > config.idleTimeout || loop.draining {
            close()
        }
    }

    func drain() {
        // Shutdown ends every stream cleanly (the last chunk), then the connection closes.
        if stream != nil {
            stopParsing = true
            closeAfterFlush = true
            streamFinish()
            return
        }
        if slots.isEmpty && current == nil && headStarted == nil && !hasOutput {
            close()
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        stream?.body.detach()
        stream = nil
        _ = cshim_epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, 0, 0)
        Glibc.close(fd)
        loop.removed(self)
    }
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? String(Int(s)) : String(s)
}

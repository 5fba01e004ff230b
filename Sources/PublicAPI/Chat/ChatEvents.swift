import Basics
import Foundation
import HTTPServer
import NeoJSON
import Store

/// The live side of session streams (design §13). Each session's parts get seq 1, 2, 3… here, go at once
/// to the session's tailers, and are written to `chat_events` by one writer thread in batches, so a text
/// delta never waits for a commit (and the curl thread that hands it over never blocks on SQLite). A tailer
/// that joins replays what it asked for from the table plus what is not written yet, then follows live.
final class ChatEventHub: Sendable {
    private struct Channel {
        var nextSeq: Int64
        var unwritten: [ChatEvent] = []
        var tails: [ObjectIdentifier: ChatTail] = [:]
        var activeTurns = 0
        var idle: Bool { unwritten.isEmpty && tails.isEmpty && activeTurns == 0 }
    }
    private struct State {
        var channels: [String: Channel] = [:]
        var dirty: Set<String> = []
        var stopping = false
        var writerRunning = false
    }
    private let state = Lock(State())
    let store: Store
    let logger: Logger

    init(store: Store, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    // MARK: channels

    /// The session's channel, made with the next seq after the stored ones. The read of that seq happens
    /// under the lock (once per channel, an indexed MAX) so no seq can be handed out twice.
    private func withChannel<T>(_ session: String, _ body: (inout Channel) throws -> T) throws -> T {
        try state.withLock { s in
            try openChannel(session, &s)
            defer { if s.channels[session]?.idle == true { s.channels[session] = nil } }
            return try body(&s.channels[session]!)
        }
    }

    private func openChannel(_ session: String, _ s: inout State) throws {
        guard s.channels[session] == nil else { return }
        let last = try store.read { try ChatRecords.lastEventSeq(session: session, $0) }
        s.channels[session] = Channel(nextSeq: last + 1)
    }

    /// A turn of `session` starts (or resumes): its channel stays while it runs.
    func openTurn(_ session: String) throws { try withChannel(session) { $0.activeTurns += 1 } }

    func closeTurn(_ session: String) { _ = try? withChannel(session) { $0.activeTurns = max(0, $0.activeTurns - 1) } }

    /// The last seq handed out in `session` (0 before its first part): the `since_cursor` of a new turn.
    func lastSeq(_ session: String) throws -> Int64 { try withChannel(session) { $0.nextSeq - 1 } }

    /// Numbers `part`, sends it to the session's tailers and queues it for the table; returns its seq.
    @discardableResult
    func publish(_ session: String, turnId: String?, _ part: JSONObject) -> Int64 {
        let text = JSON.object(part).serializedString()
        let seq = (try? state.withLock { s -> Int64 in
            try openChannel(session, &s)
            let event = ChatEvent(sessionId: session, seq: s.channels[session]!.nextSeq, turnId: turnId, part: text, createdAt: Timestamp.now())
            s.channels[session]!.nextSeq += 1
            s.channels[session]!.unwritten.append(event)
            s.dirty.insert(session)
            // Delivered under the lock: every tailer sees the parts in seq order whatever thread publishes.
            for tail in s.channels[session]!.tails.values { tail.deliver(event) }
            return event.seq
        }) ?? 0
        state.notifyAll()
        return seq
    }

    /// Adds `tail` to `session` and returns what it must replay: every part after `since`. A `since` that
    /// was never handed out in this session is refused (400), and the tail is not added.
    func subscribe(_ session: String, since: Int64, _ tail: ChatTail) throws -> [ChatEvent] {
        let pending = try withChannel(session) { channel -> [ChatEvent] in
            guard since >= 0 && since < channel.nextSeq else {
                throw APIError.badRequest("since \(since) is not an event id of this session (its last is \(channel.nextSeq - 1)); "
                                          + "pass the id of a part you received, a since_cursor, or 0 for the start",
                                          details: [.init(field: "since", issue: "unknown event id")])
            }
            channel.tails[ObjectIdentifier(tail)] = tail
            return channel.unwritten.filter { $0.seq > since }
        }
        let stored = try store.read { try ChatRecords.events(session: session, after: since, $0) }
        let upTo = stored.last?.seq ?? since
        return stored + pending.filter { $0.seq > upTo }
    }

    func unsubscribe(_ session: String, _ tail: ChatTail) {
        _ = try? withChannel(session) { $0.tails[ObjectIdentifier(tail)] = nil }
    }

    // MARK: the writer

    func start() {
        state.withLock { $0.writerRunning = true }
        let t = Thread { self.write() }
        t.name = "neo-chat-events"
        t.start()
    }

    /// Writes what is queued, then stops the writer.
    func stop() {
        state.withLock { $0.stopping = true }
        state.notifyAll()
        state.withLock(waitingUntil: { !$0.writerRunning }, timeout: 10) { _, _ in }
    }

    private func write() {
        while true {
            let batch = state.withLock(waitingUntil: { !$0.dirty.isEmpty || $0.stopping }) { s -> [ChatEvent]? in
                if s.dirty.isEmpty { s.writerRunning = false; return nil }
                defer { s.dirty = [] }
                return s.dirty.flatMap { s.channels[$0]?.unwritten ?? [] }
            }
            guard let batch else { state.notifyAll(); return }
            do {
                try store.write { try ChatRecords.insertEvents(batch, $0) }
            } catch {
                logger.error("could not store chat events; retrying", ["count": .int(Int64(batch.count)), "error": .string(String(describing: error))])
                Thread.sleep(forTimeInterval: 0.2)
                state.withLock { s in
                    for e in batch { s.dirty.insert(e.sessionId) }
                }
                continue
            }
            let written = Dictionary(grouping: batch, by: \.sessionId).mapValues { $0.last!.seq }
            state.withLock { s in
                for (session, upTo) in written {
                    s.channels[session]?.unwritten.removeAll { $0.seq <= upTo }
                    if s.channels[session]?.idle == true { s.channels[session] = nil }
                }
            }
            state.notifyAll()
        }
    }
}

/// One `GET …/events` stream: it holds live parts back until its replay is out, then follows live. Parts
/// it already sent are never sent again (seq only grows).
final class ChatTail: Sendable {
    let stream: ResponseStream
    let session: String
    /// Live parts held while the replay is prepared; past this the tail gives up (its reader cannot keep up).
    static let maxHeld = 10_000

    private struct State {
        var live = false
        var held: [ChatEvent] = []
        var replay: [ChatEvent] = []
        var lastSent: Int64
        var closed = false
    }
    private let state: Lock<State>

    init(session: String, since: Int64, keepAlive: Double, onClose: @escaping @Sendable (ChatTail) -> Void) {
        self.session = session
        state = Lock(State(lastSent: since))
        let me = Lock<ChatTail?>(nil)
        stream = ResponseStream(heartbeat: Array(": keep-alive\n\n".utf8), heartbeatInterval: keepAlive,
                                onOpen: { me.withLock { $0 }?.open() },
                                onClose: { if let tail = me.withLock({ t in defer { t = nil }; return t }) { tail.closed(); onClose(tail) } })
        me.withLock { $0 = self }
    }

    /// What the stream starts with, set before the head goes out.
    func setReplay(_ events: [ChatEvent]) { state.withLock { $0.replay = events } }

    func deliver(_ event: ChatEvent) {
        state.withLock { s in
            guard !s.closed else { return }
            guard s.live else {
                s.held.append(event)
                if s.held.count > Self.maxHeld { s.closed = true; stream.finish() }
                return
            }
            guard event.seq > s.lastSent else { return }
            s.lastSent = event.seq
            stream.write(event.sse)
        }
    }

    /// The head is out: the replay, then what arrived meanwhile, then live.
    private func open() {
        state.withLock { s in
            guard !s.closed else { stream.finish(); return }
            var out: [UInt8] = []
            for event in s.replay + s.held where event.seq > s.lastSent {
                out += event.sse
                s.lastSent = event.seq
            }
            s.replay = []
            s.held = []
            s.live = true
            // An SSE comment first, so a client sees the stream open even when there is nothing to replay.
            stream.write(Array(": stream open\n\n".utf8) + out)
        }
    }

    private func closed() { state.withLock { $0.closed = true; $0.held = []; $0.replay = [] } }
}

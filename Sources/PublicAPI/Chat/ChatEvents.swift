import Basics
import Foundation
import HTTPServer
import NeoJSON
import Store

/// The live side of session streams (design §13). Each session's parts get seq 1, 2, 3… here, go at once
/// to the session's tailers, and are written to `chat_events` by one writer thread in batches, so a text
/// delta never waits for a commit (and the curl thread that hands it over never blocks on SQLite). A tailer
/// that joins replays what it asked for from the table plus what is not written yet, then follows live.
///
/// Several nodes on one PostgreSQL (design §11): a session's turns run one at a time, each on whichever node's
/// runner claimed it, so one node at a time numbers a session's parts. The numbering continues from the database:
/// a node starting (or resuming) a turn first reads what the table holds after the last seq it knows, and a turn's
/// parts are all stored before the turn ends or pauses (`flush`), so before the next turn can be claimed anywhere.
/// A tailer on another node gets the parts from the table: a poller reads, every `pollInterval`, the parts after
/// each tailed session's last known seq for all of them in one statement. The node producing the parts still
/// delivers them to its own tailers from memory (the fast path); what the poller finds again is dropped by seq.
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
    /// PostgreSQL: seconds between the poller's looks for parts other nodes stored.
    let pollInterval: Double
    /// Whether other nodes may produce parts (PostgreSQL): catch-ups, flushes and the poller run only then, so one
    /// node on SQLite does exactly what it did.
    private var shared: Bool { store.dialect == .postgres }
    /// Sessions per poll statement, and parts per statement.
    static let pollBatch = 500
    static let pollLimit = 5000

    init(store: Store, logger: Logger, pollInterval: Double = 0.1) {
        self.store = store
        self.logger = logger
        self.pollInterval = pollInterval
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

    /// A turn of `session` starts (or resumes): its channel stays while it runs. With other nodes, the parts they
    /// stored since this node last looked are delivered first, so the turn's numbers follow theirs.
    func openTurn(_ session: String) throws {
        try catchUp(session)
        try withChannel(session) { $0.activeTurns += 1 }
    }

    /// The turn ended or paused; with other nodes, its parts are stored before it returns (the next turn, or the
    /// resumed one, may run on another node and number from the table).
    func closeTurn(_ session: String) {
        _ = try? withChannel(session) { $0.activeTurns = max(0, $0.activeTurns - 1) }
        flush(session)
    }

    /// The last seq handed out in `session` (0 before its first part): the `since_cursor` of a new turn.
    func lastSeq(_ session: String) throws -> Int64 {
        try catchUp(session)
        return try withChannel(session) { $0.nextSeq - 1 }
    }

    /// With other nodes: delivers the parts stored after the last seq this node knows for `session` (none when it
    /// has no channel: opening one reads the stored last seq). A no-op on SQLite.
    func catchUp(_ session: String) throws {
        guard shared, let after = state.withLock({ $0.channels[session].map { $0.nextSeq - 1 } }) else { return }
        deliverStored(try store.read { try ChatRecords.events(session: session, after: after, $0) })
    }

    /// With other nodes: waits (at most `timeout`) until this node's parts of `session` are stored.
    func flush(_ session: String, timeout: Double = 5) {
        guard shared else { return }
        state.withLock(waitingUntil: { ($0.channels[session]?.unwritten.isEmpty ?? true) || !$0.writerRunning }, timeout: timeout) { _, _ in }
    }

    /// Parts read from the table (stored by another node), in seq order per session: each one this node has not
    /// seen moves the session's numbering past it and goes to its tailers.
    private func deliverStored(_ events: [ChatEvent]) {
        guard !events.isEmpty else { return }
        state.withLock { s in
            for event in events {
                guard let channel = s.channels[event.sessionId], event.seq >= channel.nextSeq else { continue }
                s.channels[event.sessionId]!.nextSeq = event.seq + 1
                for tail in channel.tails.values { tail.deliver(event) }
            }
        }
    }

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
        if shared {
            // An id another node handed out a moment ago may not be stored yet: give its writer a second.
            for _ in 0..<20 {
                try catchUp(session)
                if try withChannel(session, { $0.nextSeq - 1 }) >= since { break }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
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
        guard shared else { return }
        let p = Thread { self.poll() }
        p.name = "neo-chat-poll"
        p.start()
    }

    /// With other nodes: every `pollInterval`, the parts stored after each tailed session's last known seq (sessions
    /// with a turn running here are skipped: this node numbers those). One statement per `pollBatch` sessions; nothing
    /// when no client tails anything.
    private func poll() {
        while true {
            let cursors = state.withLock(waitingUntil: { $0.stopping }, timeout: pollInterval) { s, stopping -> [(session: String, seq: Int64)]? in
                if stopping { return nil }
                return s.channels.compactMap { id, channel in
                    channel.tails.isEmpty || channel.activeTurns > 0 ? nil : (id, channel.nextSeq - 1)
                }
            }
            guard let cursors else { return }
            var start = 0
            while start < cursors.count {
                let chunk = Array(cursors[start..<min(cursors.count, start + Self.pollBatch)])
                start += Self.pollBatch
                do {
                    deliverStored(try store.read { try ChatRecords.events(after: chunk, limit: Self.pollLimit, $0) })
                } catch {
                    logger.warn("could not read chat events stored by other nodes; retrying", ["error": .string(String(describing: error))])
                }
            }
        }
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

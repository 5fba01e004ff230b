import Basics
import Foundation
import NeoJSON
import Store

/// The claim a node holds on a running execution (design §11): the run's writes land only while the row still
/// says this attempt and this node (`ExecutionRecords.hold`).
struct RunLease: Sendable, Equatable {
    let executionId: String
    let attempt: Int64
    let node: String
}

/// A run's write refused: this node no longer holds the attempt. The run was cancelled or ended (`takenOver` false),
/// or its lease expired and the reaper gave it to another claim. The run stops quietly: no further writes.
struct LeaseLost: Error, CustomStringConvertible {
    let lease: RunLease
    /// What the row says now.
    let status: String?
    let attempt: Int64?
    let owner: String?

    /// Another claim (or the reaper) has the run, rather than a cancel or an end this node's own work wrote.
    var takenOver: Bool { attempt != lease.attempt || owner != lease.node || status == ExecutionStatus.queued.rawValue }

    var description: String {
        "lease lost on execution \(lease.executionId) attempt \(lease.attempt) (node \(lease.node)): it is now \(status ?? "gone"), "
            + "attempt \(attempt.map(String.init) ?? "?"), node \(owner ?? "none")"
    }

    var logFields: JSONObject {
        JSONObject([("execution_id", .string(lease.executionId)), ("attempt", .int(lease.attempt)), ("node", .string(lease.node)),
                    ("now_status", status.map(JSON.string) ?? .null), ("now_attempt", attempt.map(JSON.int) ?? .null),
                    ("now_node", owner.map(JSON.string) ?? .null)])
    }
}

/// This node's side of the run leases: its id, the runs it executes now, the heartbeat that renews their leases
/// (every lease/3, one UPDATE) and the reaper that takes runs whose lease expired (every few seconds, and at start).
final class RunLeases: Sendable {
    let store: Store
    let logger: Logger
    /// Random per process: host, pid and 6 random hex digits.
    let node: String
    /// NEO_RUN_LEASE_SECONDS.
    let seconds: Double
    /// NEO_RUN_MAX_ATTEMPTS: attempts a run gets when the nodes running it die.
    let maxAttempts: Int
    /// Called after the reaper took runs (queued some again: wake the runner; failed some: settle their chat turns).
    private let reaped = Lock<(@Sendable ([ExecutionRecords.Reaped]) -> Void)?>(nil)
    var onReaped: (@Sendable ([ExecutionRecords.Reaped]) -> Void)? {
        get { reaped.withLock { $0 } }
        set { reaped.withLock { $0 = newValue } }
    }
    /// Runs this node executes now (id → attempt), whether to stop, and whether the thread runs.
    private let state = Lock<(held: [String: Int64], stopping: Bool, running: Bool)>(([:], false, false))

    init(store: Store, logger: Logger, seconds: Double, maxAttempts: Int) {
        self.store = store
        self.logger = logger
        self.seconds = seconds
        self.maxAttempts = max(1, maxAttempts)
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).prefix(40).filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
        node = "\(name.isEmpty ? "node" : name)-\(getpid())-" + SecureRandom.bytes(3).map { String(format: "%02x", $0) }.joined()
    }

    /// The heartbeat's period.
    var heartbeatInterval: Double { max(0.05, seconds / 3) }
    /// The reaper's period: a few seconds, sooner with short leases.
    var reapInterval: Double { min(5, max(0.1, seconds / 2)) }

    /// This node executes `lease`'s run: its lease is renewed until `release`.
    func track(_ lease: RunLease) { state.withLock { $0.held[lease.executionId] = lease.attempt } }
    func untrack(_ lease: RunLease) {
        state.withLock { s in if s.held[lease.executionId] == lease.attempt { s.held[lease.executionId] = nil } }
    }

    /// Reaps once (at start: on SQLite every running run, none of which a live node can own), then starts the
    /// heartbeat-and-reaper thread.
    func start() throws {
        var first: [ExecutionRecords.Reaped] = []
        while true {  // in batches of 100; each batch's runs are no longer running, so this ends
            let batch = try reap(everyRunning: store.dialect == .sqlite)
            first += batch
            if batch.count < ExecutionRecords.reapBatch { break }
        }
        if !first.isEmpty {
            logger.warn("took over runs left running", ["count": .int(Int64(first.count)), "requeued": .int(Int64(first.filter(\.requeued).count))])
        }
        state.withLock { $0.running = true }
        let t = Thread {
            self.beat()
            self.state.withLock { $0.running = false }
            self.state.notifyAll()
        }
        t.name = "neo-leases"
        t.start()
    }

    /// Stops the thread; leases of runs still going are released (they expire now) so another node takes them at once.
    func stop() {
        state.withLock { $0.stopping = true }
        state.notifyAll()
        state.withLock(waitingUntil: { !$0.running }, timeout: 5) { _, _ in }
        let left = state.withLock { Array($0.held.keys) }
        guard !left.isEmpty else { return }
        do {
            try store.write { try ExecutionRecords.releaseLeases(node: node, ids: left, $0) }
            logger.warn("released the leases of runs still going at stop", ["count": .int(Int64(left.count))])
        } catch {
            logger.error("could not release leases at stop", ["error": .string(String(describing: error))])
        }
    }

    /// Takes the runs whose lease expired; returns what it did.
    @discardableResult
    func reap(everyRunning: Bool = false) throws -> [ExecutionRecords.Reaped] {
        let taken = try store.write(isolation: .readCommitted) { db in
            try ExecutionRecords.reap(node: node, everyRunning: everyRunning, maxAttempts: maxAttempts, now: Timestamp.now(), db)
        }
        for r in taken {
            logger.warn(r.requeued ? "took over a run whose node stopped holding it" : "failed a run whose node stopped holding it",
                        ["execution_id": .string(r.id), "attempt": .int(r.attempt), "from_node": r.previousOwner.map(JSON.string) ?? .null])
        }
        if !taken.isEmpty { onReaped?(taken) }
        return taken
    }

    private func beat() {
        var nextReap = monotonicNow() + reapInterval
        while true {
            let stop = state.withLock(waitingUntil: { $0.stopping }, timeout: heartbeatInterval) { s, _ in s.stopping }
            if stop { return }
            let ids = state.withLock { Array($0.held.keys) }
            do {
                // One statement committing on its own (PostgreSQL): no transaction left open, holding the rows, if this
                // process is paused between its round trips (a stopped VM, SIGSTOP) while another node waits to take over.
                try store.autocommit { try ExecutionRecords.renewLeases(node: node, ids: ids, leaseSeconds: seconds, $0) }
            } catch {
                logger.error("could not renew run leases", ["error": .string(String(describing: error)), "count": .int(Int64(ids.count))])
            }
            if monotonicNow() >= nextReap {
                nextReap = monotonicNow() + reapInterval
                do { try reap() } catch {
                    logger.error("the run reaper failed", ["error": .string(String(describing: error))])
                }
            }
        }
    }
}

import Basics
import Foundation
import Store

/// Callback retention (NEO_CALLBACK_RETENTION_DAYS, default 30; 0 keeps every callback): a pass at start and
/// then hourly deletes the callbacks older than the retention that started no run, a batch per transaction so
/// the writer is never held long. A callback that started runs is kept as long as the store keeps its
/// executions: `/executions/{id}/callback` and run_only_once_per_entity read it. The `event_id` dedupe window
/// is therefore the retention: an event id seen longer ago than that, whose callback started nothing, is
/// ingested (and matched) again. The agent sets callbacks name (`callback_agent_sets`) go once none does.
final class CallbackRetention: Sendable {
    let store: Store
    let clock: SchedulerClock
    /// 0: never prune.
    let days: Int
    let logger: Logger
    static let batch = 500
    static let interval: TimeInterval = 3600

    private struct Loop {
        var started = false
        var finished = false
        var stopping = false
    }
    private let loop = Lock(Loop())
    private let wake = DispatchSemaphore(value: 0)

    init(store: Store, clock: SchedulerClock, days: Int, logger: Logger) {
        self.store = store
        self.clock = clock
        self.days = days
        self.logger = logger
    }

    /// Callbacks created before this instant may go.
    func cutoff() -> Date { clock.now().addingTimeInterval(-Double(days) * 86_400) }

    /// One pass: every prunable callback older than the retention, in batches; returns how many were deleted.
    @discardableResult
    func prune() throws -> Int {
        guard days > 0 else { return 0 }
        let cutoff = Timestamp.format(cutoff())
        var total = 0
        while true {
            let deleted = try store.write { try CallbackRecords.prune(before: cutoff, limit: Self.batch, $0) }
            total += deleted
            if deleted < Self.batch || loop.withLock({ $0.stopping }) { break }
        }
        if total > 0 { logger.info("callbacks pruned", ["deleted": .int(Int64(total)), "older_than": .string(cutoff)]) }
        // Then the agent sets (migration 0018) that no callback names any more.
        var sets = 0
        while true {
            let deleted = try store.write { try CallbackRecords.pruneAgentSets(before: cutoff, limit: Self.batch, $0) }
            sets += deleted
            if deleted < Self.batch || loop.withLock({ $0.stopping }) { break }
        }
        if sets > 0 { logger.info("callback agent sets pruned", ["deleted": .int(Int64(sets)), "older_than": .string(cutoff)]) }
        return total
    }

    func start() {
        guard days > 0 else { return }
        let t = Thread { [self] in
            while !loop.withLock({ $0.stopping }) {
                do { try prune() } catch {
                    logger.error("callback pruning failed; it tries again in an hour", ["error": .string(String(describing: error))])
                }
                _ = wake.wait(timeout: .now() + Self.interval)
            }
            loop.withLock { $0.finished = true }
        }
        t.name = "neo-callback-retention"
        loop.withLock { $0.started = true }
        t.start()
    }

    /// Ends the loop after the batch in progress (at most `deadline` seconds).
    func stop(deadline: Double = 10) {
        loop.withLock { $0.stopping = true }
        wake.signal()
        let end = Date().addingTimeInterval(deadline)
        while loop.withLock({ $0.started && !$0.finished }), Date() < end { usleep(5_000) }
    }
}

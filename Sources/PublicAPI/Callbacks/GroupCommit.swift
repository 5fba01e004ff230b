import Basics
import Foundation
import Store

/// Group commit for ingests: writes that arrive while another commit is under way are run together, each in
/// a savepoint of one transaction, and made durable by one COMMIT (one fsync) — the way databases batch
/// concurrent commits. A write that throws rolls back its own savepoint only; a failed COMMIT fails every
/// write of the batch. Each caller returns only after the batch holding its write has committed.
// unchecked: queue and leaderActive are touched only with `lock` held; a Pending is handed to the leader and back
// through it, and its caller waits on its semaphore.
final class GroupCommit: @unchecked Sendable {
    private final class Pending {
        let work: (Database) throws -> Any
        var result: Result<Any, Error>?
        /// Set instead of `result` when this caller is to run the next batch.
        var leads = false
        let signal = DispatchSemaphore(value: 0)

        init(_ work: @escaping (Database) throws -> Any) { self.work = work }
    }

    let store: Store
    /// Most writes in one transaction (bounds how long a batch holds the writer).
    let limit: Int
    private let lock = NSLock()
    private var queue: [Pending] = []
    private var leaderActive = false

    init(store: Store, limit: Int = 64) {
        self.store = store
        self.limit = limit
    }

    func write<T>(_ work: @escaping (Database) throws -> T) throws -> T {
        let mine = Pending { try work($0) }
        lock.lock()
        queue.append(mine)
        let lead = !leaderActive
        if lead { leaderActive = true }
        lock.unlock()
        if !lead { mine.signal.wait() }
        if lead || mine.leads { runBatches(until: mine) }
        guard let value = try mine.result?.get() as? T else { throw APIError.internalError() }
        return value
    }

    /// Runs batches from the queue until `mine` has its result, then hands the lead to the next waiting write.
    private func runBatches(until mine: Pending) {
        while mine.result == nil {
            lock.lock()
            let batch = Array(queue.prefix(limit))
            queue.removeFirst(batch.count)
            lock.unlock()
            commit(batch)
            for pending in batch where pending !== mine { pending.signal.signal() }
        }
        lock.lock()
        if let next = queue.first {
            next.leads = true
            lock.unlock()
            next.signal.signal()
        } else {
            leaderActive = false
            lock.unlock()
        }
    }

    private func commit(_ batch: [Pending]) {
        do {
            try store.write { _ in
                for pending in batch {
                    pending.result = Result { try store.write { try pending.work($0) } }
                }
            }
        } catch {
            for pending in batch { pending.result = .failure(error) }
        }
    }
}

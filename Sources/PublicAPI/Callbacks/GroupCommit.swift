import Basics
import Foundation
import Store

/// Group commit for ingests: writes that arrive while another commit is under way are run together, each in
/// a savepoint of one transaction, and made durable by one COMMIT (one fsync) — the way databases batch
/// concurrent commits. A write that throws rolls back its own savepoint only; a failed COMMIT fails every
/// write of the batch. Each caller returns only after the batch holding its write has committed and that commit is
/// on the disk; the writer thread does not wait for the sync, the batch's callers do (`Store.waitDurable`).
///
/// The batches run on a writer thread of their own, started by the first write and ended after a moment with
/// nothing queued. (A caller that led the batch and then handed the lead to the next waiter left the writer idle
/// each batch until that thread got a core, on a box whose cores the request workers keep busy.)
// unchecked: a Pending (its non-Sendable work and result) is handed to the writer thread and back through `state`'s
// lock, and its caller waits on its semaphore until the writer has set the result.
final class GroupCommit: @unchecked Sendable {
    private final class Pending {
        let work: (Database) throws -> Any
        var result: Result<Any, Error>?
        /// The batch's commit, which the caller waits to be on the disk (set with `result` when the COMMIT ended).
        var commit: Store.Commit?
        let signal = DispatchSemaphore(value: 0)

        init(_ work: @escaping (Database) throws -> Any) { self.work = work }
    }

    let store: Store
    /// Most writes in one transaction (bounds how long a batch holds the writer).
    let limit: Int
    /// How long the writer thread waits for more work before it ends.
    static let idleSeconds = 0.2
    /// The writes waiting for the writer thread, and whether that thread runs.
    private let state = Lock<(queue: [Pending], writing: Bool)>(([], false))

    init(store: Store, limit: Int = 64) {
        self.store = store
        self.limit = limit
    }

    func write<T>(_ work: @escaping (Database) throws -> T) throws -> T {
        let mine = Pending { try work($0) }
        let start = state.withLock { value -> Bool in
            value.queue.append(mine)
            defer { value.writing = true }
            return !value.writing
        }
        if start {
            let thread = Thread { [self] in writeBatches() }
            thread.name = "neo-group-commit"
            thread.start()
        } else {
            state.notifyOne()
        }
        mine.signal.wait()
        // Also before a write's own error: it may rest on an earlier write of the batch (a duplicate event).
        if let commit = mine.commit { try store.waitDurable(commit) }
        guard let value = try mine.result?.get() as? T else { throw APIError.internalError() }
        return value
    }

    /// The writer thread: runs batches while writes are queued; ends after `idleSeconds` with none.
    private func writeBatches() {
        while true {
            let batch = state.withLock(waitingUntil: { !$0.queue.isEmpty }, timeout: Self.idleSeconds) { value, _ -> [Pending] in
                let batch = Array(value.queue.prefix(limit))
                value.queue.removeFirst(batch.count)
                if batch.isEmpty { value.writing = false }
                return batch
            }
            if batch.isEmpty { return }
            commit(batch)
            for pending in batch { pending.signal.signal() }
        }
    }

    /// Commits one batch without waiting for its sync: the callers wait for it, and the next batch runs meanwhile
    /// (and is often made durable by the same sync).
    private func commit(_ batch: [Pending]) {
        do {
            let (_, commit) = try store.writeSyncingLater { _ in
                for pending in batch {
                    pending.result = Result { try store.write { try pending.work($0) } }
                }
            }
            for pending in batch { pending.commit = commit }
        } catch {
            for pending in batch { pending.result = .failure(error) }
        }
    }
}

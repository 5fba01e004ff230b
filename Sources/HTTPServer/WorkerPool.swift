import Basics
import Foundation

/// A fixed set of threads running blocking work (SQLite, waiting on curl) off the event loops.
/// The queue is bounded: `submit` refuses work when full, so overload becomes a 503, not a backlog.
public final class WorkerPool: Sendable {
    private struct Queue {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var stopping = false
        /// Threads that have not yet left their loop.
        var running: Int
        var hasWork: Bool { head < jobs.count }
    }

    private let queue: Lock<Queue>
    private let queueLimit: Int

    public init(threads count: Int, queueLimit: Int = 4096, name: String = "neo-worker") {
        let count = max(1, count)
        self.queueLimit = queueLimit
        queue = Lock(Queue(running: count))
        for i in 0..<count {
            // Each thread holds the pool (strongly) until it has left its loop, so `shutdown` may return
            // and the pool go away while a thread is still on its way out.
            let t = Thread { self.runWorker() }
            t.name = "\(name)-\(i)"
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// Queues `work`; returns false when the queue is full or the pool is stopping.
    @discardableResult
    public func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        let queued = queue.withLock { q -> Bool in
            if q.stopping || q.jobs.count - q.head >= queueLimit { return false }
            q.jobs.append(work)
            return true
        }
        if queued { queue.notifyOne() }
        return queued
    }

    /// Lets queued work finish, then stops the threads, and returns once every thread has stopped
    /// (so nothing still runs on what the caller closes next). Not to be called from inside a job.
    public func shutdown() {
        queue.withLock { $0.stopping = true }
        queue.notifyAll()
        queue.withLock(waitingUntil: { $0.running == 0 }) { _ in }
    }

    private func runWorker() {
        while let work = nextJob() { work() }
    }

    /// The next job, waiting for one; nil once the pool is stopping and the queue is empty.
    private func nextJob() -> (@Sendable () -> Void)? {
        let job = queue.withLock(waitingUntil: { $0.hasWork || $0.stopping }) { q -> (@Sendable () -> Void)? in
            guard q.hasWork else {
                q.running -= 1
                return nil
            }
            let work = q.jobs[q.head]
            q.head += 1
            if q.head > 1024 && q.head * 2 > q.jobs.count {
                q.jobs.removeFirst(q.head)
                q.head = 0
            }
            return work
        }
        // One waiter is `shutdown` (for `running`), the rest are idle threads: wake them all to re-check.
        if job == nil { queue.notifyAll() }
        return job
    }
}

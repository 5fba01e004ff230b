import Foundation

/// A fixed set of threads running blocking work (SQLite, waiting on curl) off the event loops.
/// The queue is bounded: `submit` refuses work when full, so overload becomes a 503, not a backlog.
public final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [() -> Void] = []
    private var head = 0
    private let queueLimit: Int
    private var stopping = false
    private var threads: [Thread] = []

    public init(threads count: Int, queueLimit: Int = 4096, name: String = "neo-worker") {
        self.queueLimit = queueLimit
        for i in 0..<max(1, count) {
            let t = Thread { [unowned self] in self.runWorker() }
            t.name = "\(name)-\(i)"
            t.stackSize = 1 << 20
            threads.append(t)
            t.start()
        }
    }

    /// Queues `work`; returns false when the queue is full or the pool is stopping.
    @discardableResult
    public func submit(_ work: @escaping () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if stopping || queue.count - head >= queueLimit { return false }
        queue.append(work)
        condition.signal()
        return true
    }

    /// Lets queued work finish, then stops the threads.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func runWorker() {
        while true {
            condition.lock()
            while head == queue.count && !stopping { condition.wait() }
            if head == queue.count { condition.unlock(); return }
            let work = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            work()
        }
    }
}

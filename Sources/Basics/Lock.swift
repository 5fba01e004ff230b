#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex, handed to one thread at a time (`withLock`), with a condition
/// variable for threads that wait for the value to change (`withLock(waitingUntil:)`).
///
/// The package's one lock. It stands in for `Synchronization.Mutex`, whose futex-based lock
/// ThreadSanitizer cannot see on Linux: TSan intercepts pthread mutexes, so under `make tsan` every
/// critical section is a happens-before edge instead of an invisible one (and a false report).
/// Lock the value you guard, not `()`: TSan reports accesses to a zero-size stored property as races.
public final class Lock<Value> {
    // Heap-allocated: a pthread object must not move once initialized.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the lock held. Keep it short: never block or do I/O inside.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Waits until `ready` holds (the lock is released while waiting), then runs `body` with the lock
    /// still held. Whoever changes what `ready` reads must call `notifyOne` or `notifyAll` afterwards.
    public func withLock<Result>(waitingUntil ready: (Value) -> Bool, _ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(value) { pthread_cond_wait(condition, mutex) }
        return try body(&value)
    }

    /// Like `withLock(waitingUntil:)`, but waits at most `seconds`; `body` learns whether `ready` holds.
    public func withLock<Result>(waitingUntil ready: (Value) -> Bool, timeout seconds: Double,
                                 _ body: (inout Value, _ ready: Bool) throws -> Result) rethrows -> Result {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let nanos = Int(deadline.tv_nsec) + Int(seconds.truncatingRemainder(dividingBy: 1) * 1e9)
        deadline.tv_sec += Int(seconds) + nanos / 1_000_000_000
        deadline.tv_nsec = nanos % 1_000_000_000
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready(value) {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        return try body(&value, ready(value))
    }

    /// Wakes one thread waiting in `withLock(waitingUntil:)`: enough when any waiter can take the change.
    public func notifyOne() { pthread_cond_signal(condition) }

    /// Wakes every thread waiting in `withLock(waitingUntil:)` to re-check its condition.
    public func notifyAll() { pthread_cond_broadcast(condition) }
}

// unchecked: `value` is only read or written with the mutex held.
extension Lock: @unchecked Sendable where Value: Sendable {}

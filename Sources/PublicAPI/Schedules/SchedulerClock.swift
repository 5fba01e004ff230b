import Foundation

/// Where the scheduler's time comes from: slots, catch-up windows, `next_run_at` and scheduled work's "in the
/// future" check all read this clock, so tests can drive them exactly.
public protocol SchedulerClock: Sendable {
    func now() -> Date
    /// Real seconds to wait until the clock reads `instant` (differs from `instant - now()` on a scaled clock).
    func realSeconds(until instant: Date) -> TimeInterval
}

/// The system's wall clock: what the server uses.
public struct SystemClock: SchedulerClock {
    public init() {}
    public func now() -> Date { Date() }
    public func realSeconds(until instant: Date) -> TimeInterval { instant.timeIntervalSinceNow }
}

/// For tests only (NEO_TEST_CLOCK_SPEED, NEO_TEST_CLOCK_OFFSET): reads `real × speed + offset` seconds since
/// 1970, so a durability run can pass many slots in a few real seconds, continuous across restarts.
public struct ScaledClock: SchedulerClock {
    public let speed: Double
    public let offset: Double

    public init(speed: Double, offset: Double) {
        self.speed = speed
        self.offset = offset
    }

    public func now() -> Date { Date(timeIntervalSince1970: Date().timeIntervalSince1970 * speed + offset) }
    public func realSeconds(until instant: Date) -> TimeInterval { instant.timeIntervalSince(now()) / speed }
}

import Basics
import Foundation
import Store

/// Neo's limit: N requests per 60 s sliding window per tenant, shared by its keys (design §4).
///
/// A sliding-window counter: the previous fixed window's count weighted by how much of it still
/// overlaps the sliding window, plus the current window's count. O(1) memory per tenant; the lock
/// guards a few integer updates and is never held across I/O.
public final class RateLimiter: Sendable {
    struct Window {
        var start: Int64
        var current: Int
        var previous: Int

        /// The requests that count at `now`: this window's, plus the previous window's share of it still in the slide.
        func weight(at now: Double, windowSeconds: Int64) -> Double {
            Double(previous) * (1 - (now - Double(start)) / Double(windowSeconds)) + Double(current)
        }
    }

    /// NEO_RATE_LIMIT_MODE: `local` counts in this process's memory (each node its own budget); `shared` counts in
    /// one database row per (tenant, budget) on PostgreSQL, so the limit holds across every node.
    public enum Mode: String, Sendable, CaseIterable { case local, shared }

    public let limit: Int
    public let windowSeconds: Int64
    /// Which budget this limiter counts ("keys", "inbound"): the shared row's second key.
    public let budget: String
    /// The database shared mode counts in; nil in local mode (and on SQLite, where one process is all there is).
    private let shared: Store?
    private let windows = Lock<[Int64: Window]>([:])

    /// `limit` 0 turns limiting off. With `shared` (a PostgreSQL store), every check is one statement there.
    public init(limit: Int, windowSeconds: Int64 = 60, budget: String = "keys", shared: Store? = nil) {
        self.limit = limit
        self.windowSeconds = windowSeconds
        self.budget = budget
        self.shared = shared?.dialect == .postgres ? shared : nil
    }

    /// Whether checks go to the database.
    public var isShared: Bool { shared != nil }

    /// The outcome for one request.
    public struct Decision: Equatable {
        public let allowed: Bool
        public let remaining: Int
        /// Unix seconds when the current window ends.
        public let reset: Int64
        /// Seconds to wait when refused.
        public let retryAfter: Int
    }

    /// Counts one request of `tenant` at `now` (Unix seconds, fractional), in this process's memory.
    public func check(tenant: Int64, now: Double = Date().timeIntervalSince1970) -> Decision {
        let windowStart = Int64(now) / windowSeconds * windowSeconds
        return windows.withLock { map -> Decision in
            var w = map[tenant] ?? Window(start: windowStart, current: 0, previous: 0)
            if w.start != windowStart {
                w.previous = (windowStart - w.start == windowSeconds) ? w.current : 0
                w.current = 0
                w.start = windowStart
            }
            let allowed = w.weight(at: now, windowSeconds: windowSeconds) + 1 <= Double(limit)
            let d = decision(allowed: allowed, before: w, now: now)
            if allowed { w.current += 1 }
            map[tenant] = w
            return d
        }
    }

    /// Counts one request of `tenant` in the shared row: the database rolls the window and decides on its own clock,
    /// in one atomic statement; the answer is computed from the row as the local one is from memory.
    func checkShared(tenant: Int64, _ store: Store) throws -> Decision {
        let row = try store.autocommit { try RateLimitRecords.take(tenant: tenant, budget: budget, limit: limit, window: windowSeconds, $0) }
        // The counts as they were before this request (the statement counted it when it allowed it).
        let before = Window(start: row.windowStart, current: max(0, row.thisCount - (row.allowed ? 1 : 0)), previous: row.prevCount)
        return decision(allowed: row.allowed, before: before, now: row.checkedAt)
    }

    /// The headers' numbers for a request at `now` against the window `w` as it stood before it (already rolled
    /// to the window holding `now`).
    private func decision(allowed: Bool, before w: Window, now: Double) -> Decision {
        let reset = w.start + windowSeconds
        let limitD = Double(limit), window = Double(windowSeconds)
        guard allowed else {
            // Wait until enough of the weight has decayed for one more request: within this window when only
            // the previous window's share is in the way, else into the next, where this window's count becomes
            // the decaying share.
            var wait: Double
            if w.previous > 0 && Double(w.current) + 1 <= limitD {
                let needed = 1 - (limitD - Double(w.current) - 1) / Double(w.previous)
                wait = needed * window - (now - Double(w.start))
            } else {
                let needed = w.current > 0 ? max(0, 1 - (limitD - 1) / Double(w.current)) : 0
                wait = Double(reset) - now + needed * window
            }
            return Decision(allowed: false, remaining: 0, reset: reset, retryAfter: max(1, Int(wait.rounded(.up))))
        }
        let weighted = w.weight(at: now, windowSeconds: windowSeconds)
        return Decision(allowed: true, remaining: max(0, Int((limitD - weighted - 1).rounded(.down))), reset: reset, retryAfter: 0)
    }

    static let refusals = MetricsRegistry.shared.counter("neo_rate_limit_refusals_total", help: "Requests refused with 429 by the per-tenant rate limit.")

    /// Headers for an authenticated response, or a 429 to throw.
    func headers(for principal: Principal) throws -> [(String, String)] {
        try headers(tenant: principal.tenantId, what: "this tenant")
    }

    /// Headers for a response counted against `tenant` (`what` names the budget in the 429's message), or a 429 to throw.
    func headers(tenant: Int64, what: String) throws -> [(String, String)] {
        guard limit > 0 else { return [] }
        let d = try shared.map { try checkShared(tenant: tenant, $0) } ?? check(tenant: tenant)
        let headers = [("X-RateLimit-Limit", String(limit)), ("X-RateLimit-Remaining", String(d.remaining)),
                       ("X-RateLimit-Reset", String(d.reset))]
        if !d.allowed {
            Self.refusals.add()
            throw APIError(status: 429, code: "RATE_LIMITED",
                           message: "rate limit of \(limit) requests per \(windowSeconds) s exceeded for \(what); retry after \(d.retryAfter) s",
                           headers: headers + [("Retry-After", String(d.retryAfter))])
        }
        return headers
    }
}

import Basics
import Foundation

/// Neo's limit: N requests per 60 s sliding window per tenant, shared by its keys (design §4).
///
/// A sliding-window counter: the previous fixed window's count weighted by how much of it still
/// overlaps the sliding window, plus the current window's count. O(1) memory per tenant; the lock
/// guards a few integer updates and is never held across I/O.
public final class RateLimiter: Sendable {
    struct Window { var start: Int64; var current: Int; var previous: Int }

    public let limit: Int
    public let windowSeconds: Int64
    private let windows = Lock<[Int64: Window]>([:])

    /// `limit` 0 turns limiting off.
    public init(limit: Int, windowSeconds: Int64 = 60) {
        self.limit = limit
        self.windowSeconds = windowSeconds
    }

    /// The outcome for one request.
    public struct Decision: Equatable {
        public let allowed: Bool
        public let remaining: Int
        /// Unix seconds when the current window ends.
        public let reset: Int64
        /// Seconds to wait when refused.
        public let retryAfter: Int
    }

    /// Counts one request of `tenant` at `now` (Unix seconds, fractional).
    public func check(tenant: Int64, now: Double = Date().timeIntervalSince1970) -> Decision {
        let windowStart = Int64(now) / windowSeconds * windowSeconds
        let reset = windowStart + windowSeconds
        return windows.withLock { map -> Decision in
            var w = map[tenant] ?? Window(start: windowStart, current: 0, previous: 0)
            if w.start != windowStart {
                w.previous = (windowStart - w.start == windowSeconds) ? w.current : 0
                w.current = 0
                w.start = windowStart
            }
            let elapsed = (now - Double(windowStart)) / Double(windowSeconds)
            let weighted = Double(w.previous) * (1 - elapsed) + Double(w.current)
            if weighted + 1 > Double(limit) {
                map[tenant] = w
                // Wait until enough of the weight has decayed for one more request: within this
                // window when only the previous window's share is in the way, else into the next,
                // where this window's count becomes the decaying share.
                let limitD = Double(limit), window = Double(windowSeconds)
                var wait: Double
                if w.previous > 0 && Double(w.current) + 1 <= limitD {
                    let needed = 1 - (limitD - Double(w.current) - 1) / Double(w.previous)
                    wait = needed * window - (now - Double(windowStart))
                } else {
                    let needed = w.current > 0 ? max(0, 1 - (limitD - 1) / Double(w.current)) : 0
                    wait = Double(reset) - now + needed * window
                }
                return Decision(allowed: false, remaining: 0, reset: reset, retryAfter: max(1, Int(wait.rounded(.up))))
            }
            w.current += 1
            map[tenant] = w
            return Decision(allowed: true, remaining: max(0, Int((Double(limit) - weighted - 1).rounded(.down))),
                            reset: reset, retryAfter: 0)
        }
    }

    static let refusals = MetricsRegistry.shared.counter("neo_rate_limit_refusals_total", help: "Requests refused with 429 by the per-tenant rate limit.")

    /// Headers for an authenticated response, or a 429 to throw.
    func headers(for principal: Principal) throws -> [(String, String)] {
        try headers(tenant: principal.tenantId, what: "this tenant")
    }

    /// Headers for a response counted against `tenant` (`what` names the budget in the 429's message), or a 429 to throw.
    func headers(tenant: Int64, what: String) throws -> [(String, String)] {
        guard limit > 0 else { return [] }
        let d = check(tenant: tenant)
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

import Foundation
import NeoJSON

/// A config's retry block (design §12): how often and when a call to its upstream is tried again.
/// Off by default (one attempt). All attempts together stay within the config's `timeout_ms`.
public struct UpstreamRetry: Sendable, Equatable {
    public var maxAttempts: Int
    public var backoffMs: Int
    public var maxBackoffMs: Int
    public var onStatus: [Int]
    /// POST and PATCH are retried only when this is set: the first attempt may have taken effect.
    public var includeNonIdempotent: Bool

    public static let defaultOnStatus = [429, 502, 503, 504]
    public static let attemptsRange = 1...5
    public static let backoffRange = 0...60_000

    public init(maxAttempts: Int = 1, backoffMs: Int = 200, maxBackoffMs: Int = 5000, onStatus: [Int] = UpstreamRetry.defaultOnStatus,
                includeNonIdempotent: Bool = false) {
        self.maxAttempts = maxAttempts
        self.backoffMs = backoffMs
        self.maxBackoffMs = maxBackoffMs
        self.onStatus = onStatus
        self.includeNonIdempotent = includeNonIdempotent
    }

    /// One attempt, no retry.
    public static let off = UpstreamRetry()

    /// Whether `method` may be sent again at all.
    public func allows(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .PUT, .DELETE: return true
        case .POST, .PATCH: return includeNonIdempotent
        }
    }

    /// What to do after attempt `attempt` (1-based) ended with `status` (nil: no HTTP answer, a
    /// connection error) and `headers`, with `remaining` seconds of the config's timeout left.
    /// A wait the upstream asked for (`Retry-After`, seconds or an HTTP date) is honoured; else
    /// backoff_ms·2ⁿ⁻¹ capped at max_backoff_ms. nil when the call should not be tried again,
    /// also when the wait would not leave time for another attempt.
    public func delay(afterAttempt attempt: Int, method: HTTPMethod, status: Int?, headers: [(String, String)],
                      remaining: Double, now: Date = Date()) -> Double? {
        guard attempt < maxAttempts, allows(method) else { return nil }
        if let status, !onStatus.contains(status) { return nil }
        var wait = min(Double(maxBackoffMs), Double(backoffMs) * pow(2, Double(min(attempt - 1, 20)))) / 1000
        if let asked = headers.first(where: { $0.0.lowercased() == "retry-after" })?.1, let seconds = Self.retryAfter(asked, now: now) {
            wait = seconds
        }
        // Leave the next attempt at least 50 ms of the timeout; a longer wait is not worth starting.
        guard wait + 0.05 < remaining else { return nil }
        return wait
    }

    /// `Retry-After` as seconds from `now`: a non-negative integer, or an HTTP date (0 when past).
    public static func retryAfter(_ text: String, now: Date) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), trimmed.count <= 9, let n = Int(trimmed) { return Double(n) }
        if let date = ModelRetryPolicy.httpDate(trimmed) { return max(0, date.timeIntervalSince(now)) }
        return nil
    }
}

/// One attempt that was tried again, as the steps show it.
public struct UpstreamAttempt: Sendable, Equatable {
    public var attempt: Int
    /// The upstream's status, or nil when it gave no HTTP answer.
    public var status: Int?
    public var error: String?
    public var durationMs: Double
    /// How long the executor waited before the next attempt.
    public var waitMs: Double
    /// The upstream's Retry-After, when it sent one.
    public var retryAfter: String?
}

extension UpstreamAttempt {
    /// `{attempt, status, error?, duration_ms, wait_ms, retry_after?}` as steps and results show it.
    public func json() -> JSONObject {
        var out = JSONObject([("attempt", .int(Int64(attempt))), ("status", status.map { .int(Int64($0)) } ?? .null)])
        if let error { out["error"] = .string(error) }
        out["duration_ms"] = .double((durationMs * 10).rounded() / 10)
        out["wait_ms"] = .double(waitMs.rounded())
        if let retryAfter { out["retry_after"] = .string(String(retryAfter.prefix(64))) }
        return out
    }
}

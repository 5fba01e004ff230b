import Foundation
import NeoJSON

/// When a failed model call is tried again, and after how long (design §10, the OpenAI and Anthropic
/// SDKs' policy): `x-should-retry` first; 408, 409, 429 and 5xx (Anthropic's 529 included) and connection
/// errors retry, after `retry-after-ms`, else `Retry-After` (seconds or an HTTP date, when 0 < d ≤ 60 s),
/// else 0.5·2ⁿ s capped at 8 s less up to 25 % jitter. Running out of quota (a 429 saying
/// `insufficient_quota`) and every other 4xx fail at once with the provider's own message. Pure.
public enum ModelRetryPolicy {
    public enum Decision: Equatable, Sendable {
        case retry(afterSeconds: Double)
        case fail(String)
    }

    /// 429 codes that no wait cures: the account is out of credit or over its spend limit.
    static let quotaCodes: Set<String> = ["insufficient_quota", "credit_balance_exhausted", "billing_hard_limit_reached",
                                          "enforced_spend_limit_reached"]

    /// For an HTTP answer outside 2xx. `retriesSoFar` counts retries already made; `jitter` is in [0, 1).
    public static func decide(status: Int, headers: [(String, String)], body: String, retriesSoFar: Int, maxRetries: Int,
                              jitter: Double, now: Date = Date()) -> Decision {
        let problem = providerMessage(status: status, body: body)
        let quota = status == 429 && isQuotaError(body)
        let retryable: Bool
        switch header("x-should-retry", headers)?.lowercased() {
        case "true": retryable = !quota
        case "false": retryable = false
        default: retryable = !quota && (status == 408 || status == 409 || status == 429 || status >= 500)
        }
        guard retryable else { return .fail(problem) }
        guard retriesSoFar < maxRetries else { return .fail(problem + " (after \(retriesSoFar + 1) attempts)") }
        return .retry(afterSeconds: delay(headers: headers, retriesSoFar: retriesSoFar, jitter: jitter, now: now))
    }

    /// For a call that got no HTTP answer (connection refused, reset, timeout).
    public static func decide(transportError: ExecutorError, retriesSoFar: Int, maxRetries: Int, jitter: Double) -> Decision {
        if transportError.kind == .refused || transportError.kind == .invalidInput { return .fail(transportError.message) }
        guard retriesSoFar < maxRetries else { return .fail(transportError.message + " (after \(retriesSoFar + 1) attempts)") }
        return .retry(afterSeconds: backoff(retriesSoFar: retriesSoFar, jitter: jitter))
    }

    /// The wait the provider asked for, else the exponential backoff.
    static func delay(headers: [(String, String)], retriesSoFar: Int, jitter: Double, now: Date) -> Double {
        if let ms = header("retry-after-ms", headers).flatMap(Double.init), ms > 0, ms <= 60_000 { return ms / 1000 }
        if let text = header("retry-after", headers) {
            if let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds > 0, seconds <= 60 { return seconds }
            if let date = httpDate(text) {
                let seconds = date.timeIntervalSince(now)
                if seconds > 0 && seconds <= 60 { return seconds }
            }
        }
        return backoff(retriesSoFar: retriesSoFar, jitter: jitter)
    }

    /// min(0.5·2ⁿ, 8) seconds, less `jitter`·25 %.
    static func backoff(retriesSoFar: Int, jitter: Double) -> Double {
        min(0.5 * pow(2, Double(min(retriesSoFar, 10))), 8) * (1 - 0.25 * min(max(jitter, 0), 1))
    }

    /// Whether the body says the account is out of quota (OpenAI `error.code`/`error.type`, Anthropic `error.type`).
    static func isQuotaError(_ body: String) -> Bool {
        guard let error = (try? JSON.parse(body))?["error"] else { return false }
        return [error["code"], error["type"]].contains { $0?.stringValue.map(quotaCodes.contains) ?? false }
    }

    /// "model provider answered 401 (invalid_api_key): Incorrect API key provided" from either wire's
    /// error body (`{"error": {"message", "type", "code"}}`), the body's start when it is not one.
    public static func providerMessage(status: Int, body: String) -> String {
        var out = "model provider answered \(status)"
        if let error = (try? JSON.parse(body))?["error"] {
            if let code = error["code"]?.stringValue ?? error["type"]?.stringValue { out += " (\(code.prefix(100)))" }
            if let message = error["message"]?.stringValue ?? error.stringValue { out += ": \(message.prefix(500))" }
        } else if !body.isEmpty {
            out += ": \(body.prefix(200))"
        }
        return out
    }

    private static func header(_ name: String, _ headers: [(String, String)]) -> String? {
        headers.first { $0.0.lowercased() == name }?.1
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text.trimmingCharacters(in: .whitespaces))
    }
}

import Executor
import Foundation
import XCTest

/// The model-call retry policy (design §10), one row per rule.
final class ModelRetryPolicyTests: XCTestCase {
    typealias Decision = ModelRetryPolicy.Decision

    func test_httpAnswers() {
        let quota = #"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}"#
        let rate = #"{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}"#
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let cases: [(String, Int, [(String, String)], String, Int, Decision)] = [
            ("429 with retry-after-ms", 429, [("retry-after-ms", "250")], rate, 0, .retry(afterSeconds: 0.25)),
            ("429 with Retry-After seconds", 429, [("Retry-After", "2")], rate, 0, .retry(afterSeconds: 2)),
            ("429 with an HTTP-date", 429, [("retry-after", "Fri, 15 Jan 2027 08:00:05 GMT")], rate, 0, .retry(afterSeconds: 5)),
            ("Retry-After over 60 s falls back to backoff", 429, [("retry-after", "600")], rate, 1, .retry(afterSeconds: 1)),
            ("503 backoff, first retry", 503, [], "", 0, .retry(afterSeconds: 0.5)),
            ("500 backoff, third retry", 500, [], "", 2, .retry(afterSeconds: 2)),
            ("backoff caps at 8 s", 502, [], "", 9, .retry(afterSeconds: 8)),
            ("408 retries", 408, [], "", 0, .retry(afterSeconds: 0.5)),
            ("409 retries", 409, [], "", 0, .retry(afterSeconds: 0.5)),
            ("Anthropic 529 overloaded retries", 529, [], #"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#, 0, .retry(afterSeconds: 0.5)),
            ("x-should-retry false wins", 503, [("x-should-retry", "false")], "", 0, .fail("model provider answered 503")),
            ("x-should-retry true on a 400", 400, [("x-should-retry", "true")], "", 0, .retry(afterSeconds: 0.5)),
            ("insufficient_quota never retries", 429, [("retry-after", "1")], quota, 0,
             .fail("model provider answered 429 (insufficient_quota): You exceeded your current quota")),
            ("401 fails with the provider's message", 401, [], #"{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}"#, 0,
             .fail("model provider answered 401 (invalid_api_key): Incorrect API key provided")),
            ("400 fails", 400, [], #"{"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: required"}}"#, 0,
             .fail("model provider answered 400 (invalid_request_error): max_tokens: required")),
            ("404 with a plain body", 404, [], "404 page not found", 0, .fail("model provider answered 404: 404 page not found")),
            ("out of retries", 503, [], "", 2, .fail("model provider answered 503 (after 3 attempts)")),
        ]
        for (name, status, headers, body, retries, expected) in cases {
            let got = ModelRetryPolicy.decide(status: status, headers: headers, body: body, retriesSoFar: retries, maxRetries: name == "out of retries" ? 2 : 10,
                                              jitter: 0, now: now)
            XCTAssertEqual(got, expected, name)
        }
    }

    func test_jitter_shortensTheBackoffByAtMostAQuarter() {
        guard case .retry(let wait) = ModelRetryPolicy.decide(status: 500, headers: [], body: "", retriesSoFar: 1, maxRetries: 2, jitter: 0.999) else {
            return XCTFail("500 retries")
        }
        XCTAssertEqual(wait, 0.75, accuracy: 0.01)
    }

    func test_transportErrors() {
        XCTAssertEqual(ModelRetryPolicy.decide(transportError: ExecutorError(.upstream, "connection refused"), retriesSoFar: 0, maxRetries: 2, jitter: 0),
                       .retry(afterSeconds: 0.5))
        XCTAssertEqual(ModelRetryPolicy.decide(transportError: ExecutorError(.timeout, "no answer"), retriesSoFar: 1, maxRetries: 2, jitter: 0),
                       .retry(afterSeconds: 1))
        XCTAssertEqual(ModelRetryPolicy.decide(transportError: ExecutorError(.upstream, "connection refused"), retriesSoFar: 2, maxRetries: 2, jitter: 0),
                       .fail("connection refused (after 3 attempts)"))
        XCTAssertEqual(ModelRetryPolicy.decide(transportError: ExecutorError(.refused, "refused by NEO_UPSTREAM_POLICY"), retriesSoFar: 0, maxRetries: 2, jitter: 0),
                       .fail("refused by NEO_UPSTREAM_POLICY"), "the upstream policy is not a transient failure")
    }
}

import Foundation
import XCTest
@testable import Executor

final class UpstreamRetryTests: XCTestCase {
    let policy = UpstreamRetry(maxAttempts: 3, backoffMs: 100, maxBackoffMs: 250)

    func test_delay_backsOffExponentiallyUpToTheCap_thenStops() {
        XCTAssertEqual(policy.delay(afterAttempt: 1, method: .GET, status: 503, headers: [], remaining: 10), 0.1)
        XCTAssertEqual(policy.delay(afterAttempt: 2, method: .GET, status: 503, headers: [], remaining: 10), 0.2)
        XCTAssertNil(policy.delay(afterAttempt: 3, method: .GET, status: 503, headers: [], remaining: 10))
        let capped = UpstreamRetry(maxAttempts: 5, backoffMs: 100, maxBackoffMs: 250)
        XCTAssertEqual(capped.delay(afterAttempt: 3, method: .GET, status: 503, headers: [], remaining: 10), 0.25)
    }

    func test_delay_onlyForListedStatusesAndConnectionErrors() {
        XCTAssertNil(policy.delay(afterAttempt: 1, method: .GET, status: 500, headers: [], remaining: 10))
        XCTAssertNil(policy.delay(afterAttempt: 1, method: .GET, status: 200, headers: [], remaining: 10))
        XCTAssertEqual(policy.delay(afterAttempt: 1, method: .GET, status: nil, headers: [], remaining: 10), 0.1)
    }

    func test_delay_postAndPatchOnlyWhenAllowed() {
        XCTAssertNil(policy.delay(afterAttempt: 1, method: .POST, status: 503, headers: [], remaining: 10))
        XCTAssertNil(policy.delay(afterAttempt: 1, method: .PATCH, status: 503, headers: [], remaining: 10))
        XCTAssertNotNil(policy.delay(afterAttempt: 1, method: .PUT, status: 503, headers: [], remaining: 10))
        XCTAssertNotNil(policy.delay(afterAttempt: 1, method: .DELETE, status: 503, headers: [], remaining: 10))
        var loose = policy
        loose.includeNonIdempotent = true
        XCTAssertNotNil(loose.delay(afterAttempt: 1, method: .POST, status: 503, headers: [], remaining: 10))
    }

    func test_delay_honoursRetryAfterSecondsAndDates_withinTheTimeout() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        XCTAssertEqual(policy.delay(afterAttempt: 1, method: .GET, status: 429, headers: [("Retry-After", "2")], remaining: 10, now: now), 2)
        let date = "Tue, 14 Nov 2023 22:13:23 GMT"  // now + 3 s
        XCTAssertEqual(policy.delay(afterAttempt: 1, method: .GET, status: 503, headers: [("retry-after", date)], remaining: 10, now: now), 3)
        XCTAssertNil(policy.delay(afterAttempt: 1, method: .GET, status: 503, headers: [("Retry-After", "30")], remaining: 10, now: now))
        XCTAssertNil(policy.delay(afterAttempt: 1, method: .GET, status: 503, headers: [], remaining: 0.12))
        // An unreadable Retry-After falls back to the backoff.
        XCTAssertEqual(policy.delay(afterAttempt: 1, method: .GET, status: 503, headers: [("Retry-After", "soon")], remaining: 10, now: now), 0.1)
    }

    func test_off_neverRetries() {
        XCTAssertNil(UpstreamRetry.off.delay(afterAttempt: 1, method: .GET, status: 503, headers: [], remaining: 10))
    }
}

import XCTest
@testable import PublicAPI

final class RateLimiterTests: XCTestCase {
    func test_allowsUpToTheLimitWithinAWindow_thenRefuses() {
        let limiter = RateLimiter(limit: 3, windowSeconds: 60)
        let t0 = 6000.0   // the start of a window
        for i in 0..<3 {
            let d = limiter.check(tenant: 1, now: t0 + Double(i))
            XCTAssertTrue(d.allowed)
            XCTAssertEqual(d.remaining, 2 - i)
            XCTAssertEqual(d.reset, 6060)
        }
        let refused = limiter.check(tenant: 1, now: t0 + 3)
        XCTAssertFalse(refused.allowed)
        XCTAssertEqual(refused.remaining, 0)
        // The count moves into the next window, where 3 × (1 − e) + 1 ≤ 3 needs e ≥ 1/3: 57 s + 20 s.
        XCTAssertEqual(refused.retryAfter, 77)
    }

    func test_tenantsAreCountedSeparately() {
        let limiter = RateLimiter(limit: 1, windowSeconds: 60)
        XCTAssertTrue(limiter.check(tenant: 1, now: 0).allowed)
        XCTAssertFalse(limiter.check(tenant: 1, now: 1).allowed)
        XCTAssertTrue(limiter.check(tenant: 2, now: 1).allowed)
    }

    func test_slidingWindow_previousWindowWeightDecays() {
        let limiter = RateLimiter(limit: 10, windowSeconds: 60)
        for i in 0..<10 { XCTAssertTrue(limiter.check(tenant: 1, now: 60 + Double(i)).allowed) }
        // Early in the next window almost all of the previous count still weighs.
        XCTAssertFalse(limiter.check(tenant: 1, now: 121).allowed)
        // Half-way through, half of it does: 5 more fit.
        for _ in 0..<5 { XCTAssertTrue(limiter.check(tenant: 1, now: 150).allowed) }
        XCTAssertFalse(limiter.check(tenant: 1, now: 150).allowed)
    }

    func test_refusedRequests_doNotCount() {
        let limiter = RateLimiter(limit: 2, windowSeconds: 10)
        XCTAssertTrue(limiter.check(tenant: 1, now: 0).allowed)
        XCTAssertTrue(limiter.check(tenant: 1, now: 0).allowed)
        for _ in 0..<100 { XCTAssertFalse(limiter.check(tenant: 1, now: 1).allowed) }
        // Two windows later nothing of the old counts remains.
        XCTAssertTrue(limiter.check(tenant: 1, now: 20).allowed)
    }

    func test_retryAfter_isEnoughToGetThrough() {
        let limiter = RateLimiter(limit: 5, windowSeconds: 2)
        var now = 100.3
        for _ in 0..<5 { XCTAssertTrue(limiter.check(tenant: 7, now: now).allowed) }
        let refused = limiter.check(tenant: 7, now: now)
        XCTAssertFalse(refused.allowed)
        now += Double(refused.retryAfter)
        XCTAssertTrue(limiter.check(tenant: 7, now: now).allowed)
    }
}

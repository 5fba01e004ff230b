import Basics
import Executor
import Foundation
import XCTest

/// Refresh timing, single-flight and invalidation of the OAuth2 token cache, on a fake clock.
final class OAuthTokenCacheTests: XCTestCase {
    final class Clock: Sendable {
        let time = Lock<Double>(1000)
        var now: Double { time.withLock { $0 } }
        func advance(_ s: Double) { time.withLock { $0 += s } }
    }

    let key = OAuthTokenCache.Key(tenant: "1", config: "crm", settings: .init(tokenURL: "https://t.example/token", params: []))

    func test_needsRefresh_atMaxOf30SecondsOrTenPercent() {
        let cases: [(lifetime: Double, elapsed: Double, refresh: Bool)] = [
            (3600, 0, false), (3600, 3239, false), (3600, 3241, true), (100, 69, false), (100, 71, true),
            (20, 0, true), (600, 539, false), (600, 541, true),
        ]
        for c in cases {
            XCTAssertEqual(OAuthTokenCache.needsRefresh(obtainedAt: 0, lifetime: c.lifetime, now: c.elapsed), c.refresh, "\(c)")
        }
    }

    func test_token_singleFlightUnderConcurrentCallers() {
        let clock = Clock()
        let cache = OAuthTokenCache(now: { clock.now })
        let pendingFetch = Lock<(@Sendable (Result<OAuthTokenCache.Grant, ExecutorError>) -> Void)?>(nil)
        let answers = Lock<[String]>([])
        let key = self.key
        DispatchQueue.concurrentPerform(iterations: 200) { _ in
            cache.token(for: key, fetch: { report in pendingFetch.withLock { $0 = report } }) { r in
                answers.withLock { $0.append((try? r.get()) ?? "error") }
            }
        }
        XCTAssertEqual(cache.fetchCount, 1)
        XCTAssertEqual(answers.withLock { $0.count }, 0, "nobody is answered before the fetch lands")
        pendingFetch.withLock { $0 }!(.success(.init(accessToken: "T1", lifetime: 3600)))
        XCTAssertEqual(answers.withLock { $0 }, Array(repeating: "T1", count: 200))
    }

    func test_token_refreshesNearExpiryAndAfterInvalidation() {
        let clock = Clock()
        let cache = OAuthTokenCache(now: { clock.now })
        let issued = Lock(0)
        let fetch: OAuthTokenCache.Fetch = { report in
            let n = issued.withLock { $0 += 1; return $0 }
            report(.success(.init(accessToken: "T\(n)", lifetime: 300)))
        }
        func get() -> String {
            let out = Lock("")
            cache.token(for: key, fetch: fetch) { r in out.withLock { $0 = (try? r.get()) ?? "error" } }
            return out.withLock { $0 }
        }
        XCTAssertEqual(get(), "T1")
        clock.advance(260)
        XCTAssertEqual(get(), "T1")
        clock.advance(15)  // 25 s left < 30 s
        XCTAssertEqual(get(), "T2")
        cache.invalidate(key, token: "T1")  // stale invalidation leaves the newer token alone
        XCTAssertEqual(get(), "T2")
        cache.invalidate(key, token: "T2")
        XCTAssertEqual(get(), "T3")
        XCTAssertEqual(cache.fetchCount, 3)
    }

    func test_token_failedFetchIsNotCached() {
        let cache = OAuthTokenCache()
        let failing: OAuthTokenCache.Fetch = { $0(.failure(ExecutorError(.token, "token endpoint answered 401: invalid_client"))) }
        for _ in 0..<2 {
            cache.token(for: key, fetch: failing) { r in
                if case .failure(let e) = r { XCTAssertEqual(e.kind, .token) } else { XCTFail("expected failure") }
            }
        }
        XCTAssertEqual(cache.fetchCount, 2)
    }

    func test_key_changesWithParameters() {
        let a = OAuthTokenCache.Key(tenant: "1", config: "c", settings: .init(tokenURL: "u", params: [.init(key: "scope", value: "a")]))
        let b = OAuthTokenCache.Key(tenant: "1", config: "c", settings: .init(tokenURL: "u", params: [.init(key: "scope", value: "b")]))
        XCTAssertNotEqual(a, b)
        XCTAssertFalse(a.paramsHash.contains("scope"))
    }
}

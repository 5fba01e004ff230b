import Basics
import Foundation
import HTTPServer
import XCTest

final class WorkerPoolTests: XCTestCase {
    func test_shutdown_returnsOnlyAfterQueuedWorkHasRun() {
        let pool = WorkerPool(threads: 2)
        let finished = Lock(0)
        for _ in 0..<6 {
            XCTAssertTrue(pool.submit {
                usleep(50_000)
                finished.withLock { $0 += 1 }
            })
        }
        pool.shutdown()
        XCTAssertEqual(finished.withLock { $0 }, 6, "every queued job ran before shutdown returned")
        XCTAssertFalse(pool.submit {}, "a stopped pool refuses work")
        pool.shutdown()  // a second call returns at once
    }

    func test_submit_refusesWorkOverTheQueueLimit() {
        let pool = WorkerPool(threads: 1, queueLimit: 2)
        let release = Lock(false)
        let block: @Sendable () -> Void = { release.withLock(waitingUntil: { $0 }) { _ in } }
        XCTAssertTrue(pool.submit(block))
        // The first job may not have been picked up yet: fill the queue until it refuses.
        var accepted = 0
        while pool.submit(block) { accepted += 1 }
        XCTAssertTrue((1...2).contains(accepted), "\(accepted)")
        release.withLock { $0 = true }
        release.notifyAll()
        pool.shutdown()
    }
}

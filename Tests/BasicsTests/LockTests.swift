import Basics
import Foundation
import XCTest

final class LockTests: XCTestCase {
    func test_withLock_givesOneThreadAtATime() {
        let counter = Lock(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<10_000 { counter.withLock { $0 += 1 } }
        }
        XCTAssertEqual(counter.withLock { $0 }, 80_000)
    }

    func test_withLockWaitingUntil_runsOnceTheConditionHolds() {
        let queue = Lock<[Int]>([])
        let taken = Lock<[Int]>([])
        let consumers = (0..<3).map { _ in
            Thread {
                let item = queue.withLock(waitingUntil: { !$0.isEmpty }) { $0.removeFirst() }
                taken.withLock { $0.append(item) }
            }
        }
        consumers.forEach { $0.start() }
        for item in 1...3 {
            queue.withLock { $0.append(item) }
            queue.notifyOne()
        }
        let deadline = monotonicNow() + 5
        while taken.withLock({ $0.count }) < 3 && monotonicNow() < deadline { usleep(1000) }
        XCTAssertEqual(taken.withLock { $0.sorted() }, [1, 2, 3])
    }

    func test_monotonicNow_neverGoesBack() {
        var last = monotonicNow()
        for _ in 0..<1000 {
            let now = monotonicNow()
            XCTAssertGreaterThanOrEqual(now, last)
            last = now
        }
    }
}

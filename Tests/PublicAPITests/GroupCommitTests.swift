import Basics
import Foundation
import Store
import XCTest
@testable import PublicAPI

/// Concurrent ingest writes sharing commits: each write lands or fails on its own, every caller returns.
final class GroupCommitTests: XCTestCase {
    func test_concurrentWrites_shareCommits_aThrowingWriteRollsBackAlone() throws {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("neo-group-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store(Store.Options(path: (directory as NSString).appendingPathComponent("neo.db")))
        defer { store.close() }
        try store.write { try $0.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)") }
        let commits = GroupCommit(store: store, limit: 8)
        struct Refused: Error {}
        let results = Lock<[Int: Result<Int, Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: 200) { n in
            let result = Result {
                try commits.write { db -> Int in
                    try db.execute("INSERT INTO t (n) VALUES (?)", [.int(Int64(n))])
                    if n % 7 == 0 { throw Refused() }  // after its insert: the savepoint must undo it
                    return n * 2
                }
            }
            results.withLock { $0[n] = result }
        }
        let returned = results.withLock { $0 }
        XCTAssertEqual(returned.count, 200, "every caller returned")
        for (n, result) in returned {
            if n % 7 == 0 {
                XCTAssertThrowsError(try result.get())
            } else {
                XCTAssertEqual(try result.get(), n * 2)
            }
        }
        let stored = try store.read { db in try db.query("SELECT n FROM t ORDER BY n").compactMap { $0.int("n") } }
        XCTAssertEqual(stored, (0..<200).filter { $0 % 7 != 0 }.map(Int64.init))
    }
}

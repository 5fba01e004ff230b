import Basics
import CShim
import Foundation
@testable import Store
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

    func test_writerThread_goesOnDuringABatchsSync_callersReturnOnlyAfterIt() throws {
        // The first sync waits (up to 10 s) for the second write's row to be committed: it can be only if the
        // writer thread goes on while the first batch's caller waits for that sync.
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("neo-group-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("neo.db")
        let firstSyncSawSecond = Lock<Bool?>(nil)
        let firstSyncEnded = Lock(false)
        let armed = Lock(false)
        var options = Store.Options(path: path)
        options.walSyncFile = { fd in
            if armed.withLock({ $0 }) && firstSyncSawSecond.withLock({ $0 }) == nil {
                var saw = false
                for _ in 0..<1000 where !saw {
                    saw = Self.count(path, "SELECT COUNT(*) FROM t WHERE n = 2") == 1
                    if !saw { usleep(10_000) }
                }
                firstSyncSawSecond.withLock { $0 = saw }
                defer { firstSyncEnded.withLock { $0 = true } }
                return fdatasync(fd)
            }
            return fdatasync(fd)
        }
        let store = try Store(options)
        defer { store.close() }
        try store.write { try $0.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)") }
        armed.withLock { $0 = true }
        let commits = GroupCommit(store: store)
        let firstReturned = DispatchSemaphore(value: 0)
        let firstReturnedAfterSync = Lock(false)
        Thread {
            _ = try? commits.write { try $0.execute("INSERT INTO t (n) VALUES (1)") }
            firstReturnedAfterSync.withLock { $0 = firstSyncEnded.withLock { $0 } }
            firstReturned.signal()
        }.start()
        while Self.count(path, "SELECT COUNT(*) FROM t WHERE n = 1") != 1 { usleep(1_000) }
        _ = try commits.write { try $0.execute("INSERT INTO t (n) VALUES (2)") }
        XCTAssertEqual(firstReturned.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(firstSyncSawSecond.withLock { $0 }, true, "the second batch waited for the first one's sync")
        XCTAssertTrue(firstReturnedAfterSync.withLock { $0 }, "a caller returned before its batch's sync")
    }

    /// One number read from the database by a connection of its own (-1 when it cannot be read).
    private static func count(_ path: String, _ sql: String) -> Int64 {
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else { return -1 }
        var statement: OpaquePointer?
        defer { sqlite3_finalize(statement) }
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, sqlite3_step(statement) == SQLITE_ROW else { return -1 }
        return sqlite3_column_int64(statement, 0)
    }
}

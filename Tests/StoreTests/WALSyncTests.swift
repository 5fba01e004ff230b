import Basics
import CShim
import Foundation
@testable import Store
import XCTest

/// The writer's commits are synced by WALSync after the writer is free: a write returns only after a sync that began
/// after its commit, concurrent writers share syncs, and a failed sync refuses every later write.
final class WALSyncTests: StoreTestCase {
    private func makeStore(sync: @escaping @Sendable (Int32) -> Int32) throws -> Store {
        var options = Store.Options(path: (directory as NSString).appendingPathComponent("data/neo.db"))
        options.walSyncFile = sync
        let store = try Store(options)
        try store.migrate()
        return store
    }

    private static func insertTenant(_ store: Store, _ name: String) throws {
        try store.write { db in
            try db.execute("INSERT INTO tenants(name, created_at) VALUES (?, ?)", [.text(name), .text(Timestamp.now())])
        }
    }

    func test_write_syncsTheRealWALOncePerCommit() throws {
        let store = try super.makeStore()
        try store.migrate()
        let before = store.walSyncs
        try Self.insertTenant(store, "a")
        XCTAssertEqual(store.walSyncs, before + 1)
        try Self.insertTenant(store, "b")
        XCTAssertEqual(store.walSyncs, before + 2)
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT COUNT(*) AS n FROM tenants")?.int("n") }, 2)
    }

    func test_write_returnsOnlyAfterASyncThatBeganAfterItsCommit() throws {
        // Each sync records which tenants were committed when it began (read from the file by its own connection).
        let path = (directory as NSString).appendingPathComponent("data/neo.db")
        let seenAtSync = Lock<[Int64]>([])
        let store = try makeStore { fd in
            usleep(20_000)
            var db: OpaquePointer?
            if sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK {
                var statement: OpaquePointer?
                if sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM tenants", -1, &statement, nil) == SQLITE_OK, sqlite3_step(statement) == SQLITE_ROW {
                    let n = sqlite3_column_int64(statement, 0)
                    seenAtSync.withLock { $0.append(n) }
                }
                sqlite3_finalize(statement)
            }
            sqlite3_close_v2(db)
            return fdatasync(fd)
        }
        for i in 1...3 {
            try Self.insertTenant(store, "t\(i)")
            XCTAssertEqual(seenAtSync.withLock { $0.last }, Int64(i), "the write returned before a sync that saw its commit")
        }
    }

    func test_writeSyncingLater_returnsBeforeTheSync_waitDurableAfterIt() throws {
        let syncs = Lock(0)
        let store = try makeStore { fd in
            syncs.withLock { $0 += 1 }
            return fdatasync(fd)
        }
        syncs.withLock { $0 = 0 }  // the migrations' own
        let (_, commit) = try store.writeSyncingLater { db in
            try db.execute("INSERT INTO tenants(name, created_at) VALUES ('later', ?)", [.text(Timestamp.now())])
        }
        XCTAssertEqual(syncs.withLock { $0 }, 0, "writeSyncingLater must not sync")
        try store.waitDurable(commit)
        XCTAssertEqual(syncs.withLock { $0 }, 1)
        try store.waitDurable(commit)  // already durable: no second sync
        XCTAssertEqual(syncs.withLock { $0 }, 1)
    }

    func test_concurrentWriters_shareSyncs_andAllTheirRowsAreThere() throws {
        let store = try makeStore { fd in
            usleep(3_000)
            return fdatasync(fd)
        }
        let before = store.walSyncs
        let failures = Lock(0)
        let group = DispatchGroup()
        for thread in 0..<16 {  // threads of their own: concurrentPerform runs only one per core
            group.enter()
            Thread {
                for i in 0..<10 {
                    do { try Self.insertTenant(store, "t\(thread)-\(i)") } catch { failures.withLock { $0 += 1 } }
                }
                group.leave()
            }.start()
        }
        group.wait()
        XCTAssertEqual(failures.withLock { $0 }, 0)
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT COUNT(*) AS n FROM tenants")?.int("n") }, 160)
        let syncs = store.walSyncs - before
        XCTAssertGreaterThan(syncs, 0)
        XCTAssertLessThan(syncs, 80, "160 commits during 3 ms syncs should share them")
    }

    func test_failedSync_failsTheWrite_andRefusesEveryLaterWriteWithoutRunningIt() throws {
        let failing = Lock(false)
        let store = try makeStore { fd in
            if failing.withLock({ $0 }) {
                errno = EIO
                return -1
            }
            return fdatasync(fd)
        }
        try Self.insertTenant(store, "fine")
        failing.withLock { $0 = true }
        let error = assertStoreError(.io, try Self.insertTenant(store, "lost?"))
        XCTAssertTrue(error?.message.contains("could not be synced to disk") == true, error?.message ?? "")
        XCTAssertTrue(error?.message.contains("Input/output error") == true, error?.message ?? "")
        failing.withLock { $0 = false }  // the disk "recovers": the store still refuses, as the lost pages are not known
        let ran = Lock(false)
        _ = assertStoreError(.io, try store.write { _ in ran.withLock { $0 = true } })
        XCTAssertFalse(ran.withLock { $0 }, "a write after a failed sync must not run")
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT COUNT(*) AS n FROM tenants WHERE name = 'fine'")?.int("n") }, 1)
    }

    func test_walSync_findsTheWALAgain_whenItWasReplaced() throws {
        // A WAL that SQLite deleted and made again (every connection closed in between) is a new file: synced by path.
        let store = try super.makeStore()
        try store.migrate()
        try Self.insertTenant(store, "a")
        store.close()
        let again = try super.makeStore()
        try Self.insertTenant(again, "b")
        XCTAssertEqual(try again.read { try $0.queryOne("SELECT COUNT(*) AS n FROM tenants")?.int("n") }, 2)
    }
}

import Basics
import CShim
import Foundation
import Store
import XCTest

final class StoreTests: StoreTestCase {
    private func makeMigratedStore(readers: Int = 4) throws -> Store {
        let store = try makeStore(readers: readers)
        try store.migrate()
        return store
    }

    @discardableResult
    private static func insertTenant(_ db: Database, _ name: String) throws -> Int64 {
        try db.execute("INSERT INTO tenants(name, created_at) VALUES (?, ?)", [.text(name), .text(Timestamp.now())])
        return db.lastInsertRowID
    }

    func test_init_setsPragmasOnWriterAndReaders() throws {
        let store = try makeStore()
        // The writer runs NORMAL: WALSync syncs its commits once the writer is free (WALSyncTests).
        for (run, synchronous) in [(store.read, 2), (store.write, 1)] as [(((Database) throws -> [SQLValue]) throws -> [SQLValue], Int64)] {
            let values = try run { db in
                [try db.queryOne("PRAGMA journal_mode")?[0], try db.queryOne("PRAGMA foreign_keys")?[0],
                 try db.queryOne("PRAGMA synchronous")?[0], try db.queryOne("PRAGMA busy_timeout")?[0]].map { $0 ?? .null }
            }
            XCTAssertEqual(values, [.text("wal"), .int(1), .int(synchronous), .int(5000)])
        }
    }

    /// The WAL's frame count and how many of them a checkpoint has copied, from the wal-index header in the -shm file
    /// (`mxFrame` at byte 16; `nBackfill` at 96, after the header's two copies; native byte order).
    private func walIndex(_ path: String) throws -> (frames: UInt32, backfilled: UInt32) {
        let shm = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path + "-shm")).prefix(100))
        func word(_ at: Int) -> UInt32 { shm[at..<at + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        return (word(16), word(96))
    }

    func test_wal_isCheckpointedOffTheWriter_beforeTheWriterWouldDoItItself() throws {
        let store = try makeMigratedStore()
        let path = (directory as NSString).appendingPathComponent("data/neo.db")
        try store.write { try $0.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB)") }
        let blob = [UInt8](repeating: 7, count: 3000)
        // ~1,500 frames in small commits: past the threshold that asks the checkpoint thread (1,000), short of the
        // one at which the writer checkpoints itself (8,000). Nothing here checkpoints.
        for _ in 0..<30 {
            try store.write { db in for _ in 0..<50 { try db.execute("INSERT INTO filler (b) VALUES (?)", [.blob(blob)]) } }
        }
        let deadline = Date().addingTimeInterval(10)
        var index = try walIndex(path)
        // Done once frames were copied, or once the WAL started again from its beginning (after a complete checkpoint).
        while index.backfilled == 0 && index.frames >= 1000 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            index = try walIndex(path)
        }
        XCTAssertTrue(index.backfilled > 0 || index.frames < 1000, "WAL not checkpointed: \(index)")
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT count(*) FROM filler")?[0] }, .int(1500))
    }

    func test_write_commitsAndIsVisibleToReaders() throws {
        let store = try makeMigratedStore()
        let id = try store.write { try Self.insertTenant($0, "acme") }
        let name = try store.read { try $0.queryOne("SELECT name FROM tenants WHERE id = ?", [.int(id)])?.string("name") }
        XCTAssertEqual(name, "acme")
    }

    func test_write_bodyThrows_rollsBack() throws {
        struct Boom: Error {}
        let store = try makeMigratedStore()
        XCTAssertThrowsError(try store.write { db in
            try Self.insertTenant(db, "acme")
            throw Boom()
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT COUNT(*) AS n FROM tenants")?.int("n") }, 0)
        // The writer is free again.
        try store.write { try Self.insertTenant($0, "acme") }
    }

    func test_write_nestedOnSameThread_runsInSavepointWithoutDeadlock() throws {
        struct Boom: Error {}
        let store = try makeMigratedStore()
        try store.write { db in
            try Self.insertTenant(db, "outer")
            try store.write { try Self.insertTenant($0, "inner") }
            XCTAssertThrowsError(try store.write { inner -> Void in
                try Self.insertTenant(inner, "discarded")
                throw Boom()
            })
            // read inside write sees the uncommitted rows on the writer connection
            XCTAssertEqual(try store.read { try $0.queryOne("SELECT COUNT(*) AS n FROM tenants")?.int("n") }, 2)
        }
        let names = try store.read { try $0.query("SELECT name FROM tenants ORDER BY name").compactMap { $0.string("name") } }
        XCTAssertEqual(names, ["inner", "outer"])
    }

    func test_write_insideRead_throwsMisuse() throws {
        let store = try makeMigratedStore()
        _ = assertStoreError(.misuse, try store.read { _ in try store.write { _ in 1 } })
    }

    func test_read_isQueryOnly() throws {
        let store = try makeMigratedStore()
        XCTAssertThrowsError(try store.read { try Self.insertTenant($0, "sneaky") })
    }

    func test_constraintViolations_mapToConstraintWithoutParameterValues() throws {
        let store = try makeMigratedStore()
        try store.write { try Self.insertTenant($0, "secret-tenant-name") }
        let unique = assertStoreError(.constraint, try store.write { try Self.insertTenant($0, "secret-tenant-name") })
        XCTAssertFalse(unique?.message.contains("secret-tenant-name") ?? true, unique?.message ?? "")
        XCTAssertEqual((unique?.sqliteCode ?? 0) & 0xff, 19)
        // foreign_keys=ON: a key for a missing tenant is refused.
        _ = assertStoreError(.constraint, try store.write { db in
            try db.execute("""
                INSERT INTO api_keys(tenant_id, name, env, key_hash, last4, role, perm_agents, perm_executions,
                    perm_approvals, perm_external_apis, actor, created_at)
                VALUES (?, 'k', 'prod', ?, 'abcd', 'admin', 'read', 'read', 'read', 'read', 'user', ?)
                """, [.int(999), .blob([1, 2, 3]), .text(Timestamp.now())])
        })
    }

    func test_errors_mapSyntaxAndParameterCountToMisuse() throws {
        let store = try makeMigratedStore()
        _ = assertStoreError(.misuse, try store.read { try $0.query("SELEC 1") })
        _ = assertStoreError(.misuse, try store.read { try $0.query("SELECT ?", []) })
        _ = assertStoreError(.misuse, try store.read { try $0.query("SELECT 1; SELECT 2") })
    }

    func test_statementCache_reusesStatementWithFreshBindings() throws {
        let store = try makeMigratedStore()
        try store.write { db in
            let sql = "INSERT INTO tenants(name, created_at) VALUES (?, ?)"
            XCTAssertEqual(try db.execute(sql, [.text("a"), .text("t1")]), 1)
            XCTAssertEqual(try db.execute(sql, [.text("b"), .text("t2")]), 1)
            let select = "SELECT name, created_at FROM tenants WHERE name = ?"
            XCTAssertEqual(try db.queryOne(select, [.text("a")])?.string("created_at"), "t1")
            XCTAssertEqual(try db.queryOne(select, [.text("b")])?.string("created_at"), "t2")
            XCTAssertNil(try db.queryOne(select, [.text("c")]))
            // queryOne stopping after one row leaves the statement reset for the next use.
            XCTAssertEqual(try db.queryOne("SELECT name FROM tenants ORDER BY name")?.string("name"), "a")
            XCTAssertEqual(try db.query("SELECT name FROM tenants ORDER BY name").count, 2)
        }
    }

    func test_sqlValues_roundTripEveryStorageClass() throws {
        let store = try makeStore()
        let values: [SQLValue] = [.null, .int(Int64.min), .double(1.5), .text(""), .text("héllo\u{0}wörld"), .blob([]), .blob([0, 255, 7])]
        let row = try store.write { db -> Row? in
            try db.execute("CREATE TABLE v(a, b, c, d, e, f, g)")
            try db.execute("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?)", values)
            return try db.queryOne("SELECT * FROM v")
        }
        XCTAssertEqual((0..<values.count).map { row?[$0] }, values)
        XCTAssertEqual(row?["missing"], .null)
        XCTAssertEqual(row?.int("b"), Int64.min)
        XCTAssertEqual(row?.double("c"), 1.5)
        XCTAssertEqual(row?.string("e"), "héllo\u{0}wörld")
        XCTAssertEqual(row?.blob("g"), [0, 255, 7])
        XCTAssertNil(row?.bool("b"))
        XCTAssertNil(row?.string("a"))
    }

    func test_row_boolReadsZeroAndOne() throws {
        let store = try makeStore()
        let row = try store.read { try $0.queryOne("SELECT 1 AS yes, 0 AS no, 2.0 AS two") }
        XCTAssertEqual(row?.bool("yes"), true)
        XCTAssertEqual(row?.bool("no"), false)
        XCTAssertEqual(row?.int("two"), 2)
    }

    func test_forEachRow_streamsRowsAndAppendsRawText() throws {
        let store = try makeMigratedStore()
        try store.write { db in
            for name in ["alpha", "beta", "gämma"] { try Self.insertTenant(db, name) }
        }
        var json: [UInt8] = []
        var ids: [Int64] = []
        var nulls: [Bool] = []
        try store.read { db in
            try db.forEachRow("SELECT id, name, NULL FROM tenants ORDER BY id", []) { cursor in
                ids.append(cursor.int(0))
                json.append(UInt8(ascii: "\""))
                cursor.appendText(1, to: &json)
                json.append(UInt8(ascii: "\""))
                nulls.append(cursor.isNull(2))
                XCTAssertNil(cursor.string(2))
                XCTAssertNil(cursor.textBytes(2))
                // A nested query with the same SQL gets its own statement.
                let count = try db.query("SELECT id, name, NULL FROM tenants ORDER BY id").count
                XCTAssertEqual(count, 3)
            }
        }
        XCTAssertEqual(ids, [1, 2, 3])
        XCTAssertEqual(String(decoding: json, as: UTF8.self), "\"alpha\"\"beta\"\"gämma\"")
        XCTAssertEqual(nulls, [true, true, true])
    }

    func test_sqliteMemoryStatistics_areOff() throws {
        // Off before the library initialized: no global mutex on every allocation. SQLite refuses the setting
        // (SQLITE_MISUSE) once initialized, so it is made before the first connection opens.
        _ = try makeMigratedStore()
        XCTAssertTrue(Database.configured)
        XCTAssertEqual(cshim_sqlite_config_memstatus_off(), SQLITE_MISUSE, "SQLite is initialized by now")
    }

    func test_statementCache_keepsOneStatementPerSQL_throughNestedUseAndErrors() throws {
        let store = try makeMigratedStore()
        try store.write { db in
            for name in ["alpha", "beta"] { try Self.insertTenant(db, name) }
        }
        try store.read { db in
            let sql = "SELECT name FROM tenants WHERE id >= ? ORDER BY id"
            let before = db.cachedStatements.total
            for _ in 0..<50 { XCTAssertEqual(try db.query(sql, [.int(1)]).count, 2) }
            XCTAssertTrue(db.cachedStatements == (before + 1, before + 1))
            // Nested: the inner use gets a copy, finalized afterwards; the cached one is in use meanwhile, then free.
            var inner: [String?] = []
            try db.forEachRow(sql, [.int(1)]) { _ in
                XCTAssertTrue(db.cachedStatements == (before + 1, before))
                inner.append(try db.queryOne(sql, [.int(2)])?.string("name"))
            }
            XCTAssertEqual(inner, ["beta", "beta"])
            XCTAssertTrue(db.cachedStatements == (before + 1, before + 1))
            // A refused bind and a failing step hand the statement back too.
            XCTAssertThrowsError(try db.query(sql, []))
            XCTAssertThrowsError(try db.query(sql, [.int(1), .int(2)]))
            XCTAssertEqual(try db.query(sql, [.int(2)]).map { $0.string("name") }, ["beta"])
            XCTAssertThrowsError(try db.queryOne("SELECT json_extract(?, '$')", [.text("not json")]))
            XCTAssertEqual(try db.queryOne("SELECT json_extract(?, '$') AS v", [.text("[1]")])?.string("v"), "[1]")
            XCTAssertTrue(db.cachedStatements == (before + 3, before + 3), "\(db.cachedStatements)")
        }
    }

    func test_concurrentReadsWhileWriting_succeedInWAL() throws {
        let store = try makeMigratedStore(readers: 3)
        let writes = 200
        let readerThreads = 6
        let failures = ErrorLog()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            for i in 0..<writes {
                do { try store.write { try Self.insertTenant($0, "tenant-\(i)") } } catch { failures.add(error) }
            }
        }
        for _ in 0..<readerThreads {
            DispatchQueue.global().async(group: group) {
                var last: Int64 = 0
                while last < Int64(writes) {
                    do {
                        let count = try store.read { db -> Int64 in
                            let first = try db.queryOne("SELECT COUNT(*) AS n FROM tenants")?.int("n") ?? -1
                            // One read is one snapshot: a second query sees the same count.
                            let second = try db.queryOne("SELECT COUNT(*) AS n FROM tenants")?.int("n") ?? -1
                            if first != second { failures.add(StoreError(kind: .misuse, message: "snapshot moved")) }
                            return first
                        }
                        if count < last { failures.add(StoreError(kind: .misuse, message: "count went backwards")) }
                        last = count
                    } catch {
                        failures.add(error)
                        return
                    }
                }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(failures.errors.map { "\($0)" }, [])
    }

    func test_close_thenUse_throwsMisuse() throws {
        let store = try makeMigratedStore()
        store.close()
        _ = assertStoreError(.misuse, try store.read { _ in 1 })
        _ = assertStoreError(.misuse, try store.write { _ in 1 })
        store.close()
    }

    /// The bytes the audit log hashes: written straight from the statement on SQLite, they must be what the row's
    /// values serialize to (name, 0, tag, value, 0 per column), or an entry's after-hash would stop matching the
    /// next entry's before-hash.
    func test_serializedRow_isEachColumnsNameTagAndValue() throws {
        let store = try makeStore(readers: 1)
        defer { store.close() }
        try store.migrate([Migration(version: 1, name: "t", sql: "CREATE TABLE t(i INTEGER, r REAL, s TEXT, b BLOB, n TEXT);")])
        try store.write { db in
            try db.execute("INSERT INTO t VALUES (?, ?, ?, ?, NULL)", [.int(-42), .double(2.5), .text("ü x"), .blob([0, 1, 255])])
        }
        let bytes = try store.read { try $0.serializedRow("SELECT * FROM t") }
        var expected: [UInt8] = []
        for (name, tag, value) in [("i", "i", Array("-42".utf8)), ("r", "d", Array("2.5".utf8)), ("s", "t", Array("ü x".utf8)),
                                   ("b", "b", [0, 1, 255]), ("n", "n", [])] as [(String, String, [UInt8])] {
            expected += Array(name.utf8) + [0] + Array(tag.utf8) + value + [0]
        }
        XCTAssertEqual(bytes, expected)
        XCTAssertNil(try store.read { try $0.serializedRow("SELECT * FROM t WHERE i = 0") })
    }
}

/// Collects errors from several threads.
private final class ErrorLog: Sendable {
    private let collected = Lock<[Error]>([])
    var errors: [Error] { collected.withLock { $0 } }
    func add(_ error: Error) { collected.withLock { $0.append(error) } }

}

import Basics
import Foundation
@testable import Store
import XCTest

/// The PostgreSQL side of the Store. The placeholder rewriting and URL masking are pure and always run; the rest
/// needs a real PostgreSQL (NEO_TEST_DB, set by `make test-pg` through scripts/pg-harness.sh) and skips without one.
final class PostgresStoreTests: XCTestCase {
    func test_placeholders_numberedOutsideLiteralsIdentifiersAndComments() {
        let cases: [(String, String, Int)] = [
            ("SELECT ?", "SELECT $1", 1),
            ("INSERT INTO t (a, b) VALUES (?, ?)", "INSERT INTO t (a, b) VALUES ($1, $2)", 2),
            ("SELECT '?' || ?, \"we?ird\" FROM t WHERE x = ?", "SELECT '?' || $1, \"we?ird\" FROM t WHERE x = $2", 2),
            ("SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , $1", 1),
            ("SELECT ? -- what?\n, ?", "SELECT $1 -- what?\n, $2", 2),
            ("SELECT /* ? */ ?", "SELECT /* ? */ $1", 1),
            ("x LIKE ? ESCAPE '\\' AND y = ?", "x LIKE $1 ESCAPE '\\' AND y = $2", 2),
            ("SELECT 1", "SELECT 1", 0),
        ]
        for (sql, expected, count) in cases {
            let (text, n) = PGConnection.numberPlaceholders(sql)
            XCTAssertEqual(text, expected, sql)
            XCTAssertEqual(n, count, sql)
        }
    }

    func test_databaseURLs_recognizedAndPasswordsMasked() {
        XCTAssertTrue(isPostgresURL("postgres://h/db"))
        XCTAssertTrue(isPostgresURL("postgresql://h/db"))
        XCTAssertFalse(isPostgresURL("./data/postgres.db"))
        XCTAssertEqual(redactedDatabaseURL("postgresql://neo:s3cr%40t@db1:5432,db2/neo?sslmode=verify-full"),
                       "postgresql://neo:***@db1:5432,db2/neo?sslmode=verify-full")
        XCTAssertEqual(redactedDatabaseURL("postgresql://db/neo?user=a&password=s3cret&sslmode=require"),
                       "postgresql://db/neo?user=a&password=***&sslmode=require")
        XCTAssertEqual(redactedDatabaseURL("postgresql://neo@db/neo"), "postgresql://neo@db/neo")
    }

    // MARK: - Against a real PostgreSQL

    private var stores: [Store] = []

    override func tearDown() {
        for store in stores { store.close() }
        stores.removeAll()
    }

    /// A store on a schema of its own (search_path), migrated when asked.
    private func store(migrated: Bool = false, connections: Int = 16) throws -> Store {
        guard let base = ProcessInfo.processInfo.environment["NEO_TEST_DB"], !base.isEmpty else {
            throw XCTSkip("NEO_TEST_DB is not set (make test-pg runs this against a real PostgreSQL)")
        }
        let schema = "neo_st_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let admin = try Store(Store.Options(path: base))
        try admin.write { try $0.execute("CREATE SCHEMA \(schema)") }
        admin.close()
        var options = Store.Options(path: base + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D" + schema)
        options.postgresConnections = connections
        let store = try Store(options)
        stores.append(store)
        XCTAssertEqual(store.dialect, .postgres)
        if migrated { try store.migrate() }
        return store
    }

    func test_values_roundTripWithSQLiteTypes() throws {
        let store = try store()
        try store.write { db in
            try db.execute("CREATE TABLE v (i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA, n TEXT)")
            try db.execute("INSERT INTO v VALUES (?, ?, ?, ?, ?)", [.int(-9_000_000_000), .double(0.1), .text("é ' ? \"x\""), .blob([0, 1, 254, 255]), .null])
        }
        let row = try XCTUnwrap(try store.read { try $0.queryOne("SELECT i, d, t, b, n, i > 0 AS positive, COUNT(*) OVER () AS c FROM v") })
        XCTAssertEqual(row["i"], .int(-9_000_000_000))
        XCTAssertEqual(row["d"], .double(0.1))
        XCTAssertEqual(row["t"], .text("é ' ? \"x\""))
        XCTAssertEqual(row["b"], .blob([0, 1, 254, 255]))
        XCTAssertEqual(row["n"], .null)
        XCTAssertEqual(row["positive"], .int(0), "booleans read as 0/1, as SQLite stores them")
        XCTAssertEqual(row["c"], .int(1))
        var seen: [String] = []
        try store.read { db in try db.forEachRow("SELECT t FROM v WHERE i = ?", [.int(-9_000_000_000)]) { seen.append($0.string(0) ?? "nil") } }
        XCTAssertEqual(seen, ["é ' ? \"x\""])
    }

    /// A transaction left open by a paused process is ended by the server after 5 s, so its row locks do not keep
    /// other nodes from a run's lease; a URL's own `options` would win over this default.
    func test_sessions_endTransactionsIdleFor5Seconds() throws {
        let store = try store()
        XCTAssertEqual(try store.read { try $0.queryOne("SHOW idle_in_transaction_session_timeout")?[0] }, .text("5s"))
    }

    func test_uniqueViolation_isConstraint_andTheTransactionRollsBack() throws {
        let store = try store()
        try store.write { try $0.execute("CREATE TABLE u (name TEXT PRIMARY KEY)") }
        try store.write { try $0.execute("INSERT INTO u VALUES (?)", [.text("a")]) }
        XCTAssertThrowsError(try store.write { db in
            try db.execute("INSERT INTO u VALUES (?)", [.text("b")])
            try db.execute("INSERT INTO u VALUES (?)", [.text("a")])
        }) { error in
            let e = error as? StoreError
            XCTAssertEqual(e?.kind, .constraint, "\(error)")
            XCTAssertEqual(e?.sqlState, "23505")
            XCTAssertTrue(e?.message.contains("u_pkey") ?? false, "\(error)")
        }
        XCTAssertEqual(try store.read { try $0.query("SELECT name FROM u ORDER BY name").map { $0.string("name") } }, ["a"])
    }

    /// Read-then-write on one row from 8 threads at once: SERIALIZABLE makes the losers fail with 40001, write()
    /// runs them again, and no increment is lost, exactly as under SQLite's single writer.
    func test_concurrentReadThenWrite_loseNothing() throws {
        let store = try store()
        try store.write { db in
            try db.execute("CREATE TABLE c (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
            try db.execute("INSERT INTO c VALUES (1, 0)")
        }
        let failures = Lock(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<25 {
                do {
                    try store.write { db in
                        let n = try db.queryOne("SELECT n FROM c WHERE id = 1")?.int("n") ?? -1
                        try db.execute("UPDATE c SET n = ? WHERE id = 1", [.int(n + 1)])
                    }
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, 0)
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT n FROM c")?.int("n") }, 200)
    }

    func test_nestedWrite_isASavepoint_andReadRefusesWrite() throws {
        let store = try store()
        try store.write { try $0.execute("CREATE TABLE s (x BIGINT)") }
        try store.write { db in
            try db.execute("INSERT INTO s VALUES (1)")
            XCTAssertThrowsError(try store.write { inner in
                try inner.execute("INSERT INTO s VALUES (2)")
                throw StoreError(kind: .misuse, message: "undo the inner part")
            })
            try db.execute("INSERT INTO s VALUES (3)")
        }
        XCTAssertEqual(try store.read { try $0.query("SELECT x FROM s ORDER BY x").map { $0.int("x") } }, [1, 3])
        XCTAssertThrowsError(try store.read { _ in try store.write { try $0.execute("INSERT INTO s VALUES (4)") } }) {
            XCTAssertEqual(($0 as? StoreError)?.kind, .misuse)
        }
    }

    /// The backend of a pooled connection is terminated (a database restart does that): the next transaction
    /// reconnects and runs.
    func test_terminatedSessions_reconnectOnNextUse() throws {
        let store = try store(migrated: true, connections: 2)
        XCTAssertEqual(try store.schemaVersion(), Migration.embeddedPostgres.map(\.version).max())
        let other = try Store(Store.Options(path: ProcessInfo.processInfo.environment["NEO_TEST_DB"]!))
        defer { other.close() }
        let killed = try other.write { db in
            try db.queryOne("""
                SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND application_name = 'neo-server' AND state = 'idle'
                """)?.int("n")
        }
        XCTAssertGreaterThan(killed ?? 0, 0)
        usleep(100_000)
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT COUNT(*) AS n FROM schema_migrations")?.int("n") },
                       Int64(Migration.embeddedPostgres.count))
        try store.write { try $0.execute("INSERT INTO settings (key, value) VALUES (?, ?)", [.text("k"), .text("v")]) }
    }
}

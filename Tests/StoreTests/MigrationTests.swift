import Foundation
import Store
import XCTest

final class MigrationTests: StoreTestCase {
    func test_migrate_onEmptyDatabase_appliesInitAndRecordsIt() throws {
        let store = try makeStore()
        XCTAssertEqual(try store.schemaVersion(), 0)
        XCTAssertEqual(try store.migrate(), [1])
        XCTAssertEqual(try store.schemaVersion(), 1)
        let row = try store.read { try $0.queryOne("SELECT version, name, applied_at FROM schema_migrations") }
        XCTAssertEqual(row?.int("version"), 1)
        XCTAssertEqual(row?.string("name"), "init")
        XCTAssertNotNil(row?.string("applied_at").flatMap(Timestamp.parse))
        let tables = try store.read { db in
            try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").compactMap { $0.string("name") }
        }
        XCTAssertEqual(tables, ["agent_versions", "agents", "api_keys", "schema_migrations", "tenants"])
    }

    func test_migrate_twice_isNoOp() throws {
        let store = try makeStore()
        try store.migrate()
        XCTAssertEqual(try store.migrate(), [])
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT COUNT(*) AS n FROM schema_migrations")?.int("n") }, 1)
    }

    func test_migrate_afterReopen_isNoOp() throws {
        try makeStore().migrate()
        XCTAssertEqual(try makeStore().migrate(), [])
    }

    func test_migrate_databaseNewerThanBinary_throwsSchemaTooNewNamingBothVersions() throws {
        let store = try makeStore()
        try store.migrate()
        try store.write { db in
            try db.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (7, 'future', ?)", [.text(Timestamp.now())])
        }
        let error = assertStoreError(.schemaTooNew, try store.migrate())
        XCTAssertEqual(error?.message, "database schema version 7 is newer than this binary supports (1); upgrade neo-server")
    }

    func test_migrate_failingMigration_rollsBackCompletely() throws {
        let store = try makeStore()
        let migrations = Migration.embedded + [
            Migration(version: 2, name: "broken", sql: "CREATE TABLE half_done(x INTEGER); CREATE TABLE nope(;"),
        ]
        let error = assertStoreError(.migrationFailed, try store.migrate(migrations))
        XCTAssertTrue(error?.message.contains("migration 2 (broken)") ?? false, error?.message ?? "")
        XCTAssertEqual(try store.schemaVersion(), 1)
        let leftover = try store.read { try $0.queryOne("SELECT name FROM sqlite_master WHERE name = 'half_done'") }
        XCTAssertNil(leftover)
        // The store stays usable and a fixed migration applies afterwards.
        XCTAssertEqual(try store.migrate(Migration.embedded + [Migration(version: 2, name: "fixed", sql: "CREATE TABLE t(x);")]), [2])
    }

    func test_migrate_appliesInVersionOrderRegardlessOfListOrder() throws {
        let store = try makeStore()
        let applied = try store.migrate([
            Migration(version: 2, name: "second", sql: "ALTER TABLE one ADD COLUMN y INTEGER;"),
            Migration(version: 1, name: "first", sql: "CREATE TABLE one(x INTEGER);"),
        ])
        XCTAssertEqual(applied, [1, 2])
    }

    func test_embeddedMigrations_matchMigrationsDirectory() throws {
        let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = repoRoot.appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        XCTAssertFalse(files.isEmpty)
        let onDisk = try files.map { file -> (Int, String, String) in
            let base = String(file.dropLast(4))
            let version = try XCTUnwrap(Int(base.prefix(4)))
            return (version, String(base.dropFirst(5)), try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8))
        }
        let embedded = Migration.embedded
        let hint = "Sources/Store/EmbeddedMigrations.swift is stale: run scripts/embed-migrations.sh"
        XCTAssertEqual(embedded.map(\.version), onDisk.map(\.0), hint)
        XCTAssertEqual(embedded.map(\.name), onDisk.map(\.1), hint)
        for (migration, file) in zip(embedded, onDisk) {
            XCTAssertEqual(migration.sql, file.2, "\(hint) (migration \(migration.version))")
        }
    }
}

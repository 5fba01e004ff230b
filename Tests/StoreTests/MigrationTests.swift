import Basics
import Foundation
import Store
import XCTest

final class MigrationTests: StoreTestCase {
    func test_migrate_onEmptyDatabase_appliesInitAndRecordsIt() throws {
        let store = try makeStore()
        let versions = Migration.embedded.map(\.version)
        XCTAssertEqual(try store.schemaVersion(), 0)
        XCTAssertEqual(try store.migrate(), versions)
        XCTAssertEqual(try store.schemaVersion(), versions.max())
        let row = try store.read { try $0.queryOne("SELECT version, name, applied_at FROM schema_migrations ORDER BY version LIMIT 1") }
        XCTAssertEqual(row?.int("version"), 1)
        XCTAssertEqual(row?.string("name"), "init")
        XCTAssertNotNil(row?.string("applied_at").flatMap(Timestamp.parse))
        let tables = try store.read { db in
            try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").compactMap { $0.string("name") }
        }
        for table in ["agent_versions", "agents", "api_keys", "schema_migrations", "tenants"] {
            XCTAssertTrue(tables.contains(table), table)
        }
    }

    func test_migrate_twice_isNoOp() throws {
        let store = try makeStore()
        try store.migrate()
        XCTAssertEqual(try store.migrate(), [])
        XCTAssertEqual(try store.read { try $0.queryOne("SELECT COUNT(*) AS n FROM schema_migrations")?.int("n") }, Int64(Migration.embedded.count))
    }

    func test_migrate_afterReopen_isNoOp() throws {
        try makeStore().migrate()
        XCTAssertEqual(try makeStore().migrate(), [])
    }

    func test_migrate_databaseNewerThanBinary_throwsSchemaTooNewNamingBothVersions() throws {
        let latest = Migration.embedded.map(\.version).max()!
        let future = latest + 100
        let store = try makeStore()
        try store.migrate()
        try store.write { db in
            try db.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, 'future', ?)", [.int(Int64(future)), .text(Timestamp.now())])
        }
        let error = assertStoreError(.schemaTooNew, try store.migrate())
        XCTAssertEqual(error?.message, "database schema version \(future) is newer than this binary supports (\(latest)); upgrade neo-server")
    }

    func test_migrate_failingMigration_rollsBackCompletely() throws {
        let latest = Migration.embedded.map(\.version).max()!
        let next = latest + 1
        let migrations = Migration.embedded + [
            Migration(version: next, name: "broken", sql: "CREATE TABLE half_done(x INTEGER); CREATE TABLE nope(;"),
        ]
        // Pending migrations apply all or nothing: a new database with a broken last one stays empty.
        let fresh = try makeStore()
        _ = assertStoreError(.migrationFailed, try fresh.migrate(migrations))
        XCTAssertEqual(try fresh.schemaVersion(), 0)
        XCTAssertNil(try fresh.read { try $0.queryOne("SELECT name FROM sqlite_master WHERE name = 'agents'") })

        let store = try makeStore()
        try store.migrate()
        let error = assertStoreError(.migrationFailed, try store.migrate(migrations))
        XCTAssertTrue(error?.message.contains("migration \(next) (broken)") ?? false, error?.message ?? "")
        XCTAssertEqual(try store.schemaVersion(), latest)
        let leftover = try store.read { try $0.queryOne("SELECT name FROM sqlite_master WHERE name = 'half_done'") }
        XCTAssertNil(leftover)
        // The store stays usable and a fixed migration applies afterwards.
        XCTAssertEqual(try store.migrate(Migration.embedded + [Migration(version: next, name: "fixed", sql: "CREATE TABLE t(x);")]), [next])
    }

    func test_migrate_appliesInVersionOrderRegardlessOfListOrder() throws {
        let store = try makeStore()
        let applied = try store.migrate([
            Migration(version: 2, name: "second", sql: "ALTER TABLE one ADD COLUMN y INTEGER;"),
            Migration(version: 1, name: "first", sql: "CREATE TABLE one(x INTEGER);"),
        ])
        XCTAssertEqual(applied, [1, 2])
    }

    /// What a database holds that the schema decides: every object's definition (sqlite_master, SQLite's own
    /// autoindexes included by name), each table's rows (schema_migrations without applied_at), the pragmas a
    /// migration could change.
    private func snapshot(_ store: Store) throws -> [String] {
        try store.read { db in
            var out = try db.query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").map { row in
                "\(row.string("type") ?? "")|\(row.string("name") ?? "")|\(row.string("tbl_name") ?? "")|\(row.string("sql") ?? "NULL")"
            }
            let tables = try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").compactMap { $0.string("name") }
            for table in tables {
                let select = table == "schema_migrations" ? "SELECT version, name FROM schema_migrations ORDER BY version" : "SELECT * FROM \"\(table)\""
                out += try db.query(select).map { row in "\(table): " + row.fields.map { "\($0.name)=\($0.value)" }.joined(separator: ",") }
                out += try db.query("PRAGMA table_info(\"\(table)\")").map { row in "\(table) column " + row.fields.map { "\($0.value)" }.joined(separator: ",") }
                out += try db.query("PRAGMA foreign_key_list(\"\(table)\")").map { row in "\(table) fk " + row.fields.map { "\($0.value)" }.joined(separator: ",") }
            }
            for pragma in ["user_version", "application_id"] {
                out.append("\(pragma)=\(try db.queryOne("PRAGMA \(pragma)")?[0] ?? .null)")
            }
            return out
        }
    }

    /// A new database runs `Migration.embeddedSchema` instead of each migration (a cold start's time): it must
    /// build exactly what the migrations build, and be their result at their latest version.
    func test_newDatabase_theEmbeddedSchema_buildsWhatTheMigrationsBuild() throws {
        XCTAssertEqual(Migration.embeddedSchemaVersion, Migration.embedded.map(\.version).max(),
                       "Sources/Store/EmbeddedMigrations.swift is stale: run scripts/embed-migrations.sh")
        var squashedOptions = Store.Options(path: (directory as NSString).appendingPathComponent("squashed/neo.db"))
        squashedOptions.readers = 1
        var stepwiseOptions = Store.Options(path: (directory as NSString).appendingPathComponent("stepwise/neo.db"))
        stepwiseOptions.readers = 1
        let squashed = try Store(squashedOptions), stepwise = try Store(stepwiseOptions)
        defer { squashed.close(); stepwise.close() }
        let versions = Migration.embedded.map(\.version)
        XCTAssertEqual(try squashed.migrate(), versions)
        XCTAssertEqual(try stepwise.migrate(Migration.embedded), versions)  // an explicit list runs step by step
        let (a, b) = (try snapshot(squashed), try snapshot(stepwise))
        XCTAssertGreaterThan(a.count, 100)
        XCTAssertEqual(a.count, b.count)
        for (x, y) in zip(a, b) where x != y { XCTFail("schema script: \(x)\nmigrations:    \(y)") }
        XCTAssertEqual(try squashed.migrate(), [])
        // The squashed database takes a later migration like any other.
        let next = Migration(version: versions.max()! + 1, name: "later", sql: "ALTER TABLE agents ADD COLUMN later_column TEXT;")
        XCTAssertEqual(try squashed.migrate(Migration.embedded + [next]), [next.version])
    }

    /// A new database the server opens starts as a copy of the embedded schema image (SchemaImage): it must hold
    /// exactly what the migrations build, record every version as applied, lose its mark, and be in WAL mode already.
    func test_newDatabase_fromTheSchemaImage_holdsWhatTheMigrationsBuild() throws {
        XCTAssertEqual(SchemaImage.version, Migration.embeddedSchemaVersion,
                       "Sources/Store/EmbeddedSchemaImage.swift is stale: run scripts/embed-migrations.sh")
        let path = (directory as NSString).appendingPathComponent("image/neo.db")
        var imageOptions = Store.Options(path: path)
        imageOptions.readers = 1
        imageOptions.startsFromSchemaImage = true
        var stepwiseOptions = Store.Options(path: (directory as NSString).appendingPathComponent("stepwise/neo.db"))
        stepwiseOptions.readers = 1
        let image = try Store(imageOptions), stepwise = try Store(stepwiseOptions)
        defer { image.close(); stepwise.close() }
        let versions = Migration.embedded.map(\.version)
        XCTAssertEqual(try image.migrate(), versions, "the image's versions are recorded as applied")
        XCTAssertEqual(try stepwise.migrate(Migration.embedded), versions)
        let (a, b) = (try snapshot(image), try snapshot(stepwise))
        XCTAssertGreaterThan(a.count, 100)
        XCTAssertEqual(a.count, b.count)
        for (x, y) in zip(a, b) where x != y { XCTFail("schema image: \(x)\nmigrations:   \(y)") }
        try image.read { db in
            XCTAssertEqual(try db.queryOne("PRAGMA integrity_check")?[0], .text("ok"))
            XCTAssertEqual(try db.queryOne("PRAGMA journal_mode")?[0], .text("wal"))
            XCTAssertNotNil(try db.queryOne("SELECT applied_at FROM schema_migrations WHERE version = 1")?.string("applied_at").flatMap(Timestamp.parse))
        }
        XCTAssertEqual(try image.migrate(), [])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent).filter { $0.contains(".image-") }
        XCTAssertEqual(leftovers, [], "the temporary copy is removed")
    }

    /// The image is only for a file that does not exist: an existing database (even an empty file) is opened as it is.
    func test_schemaImage_neverReplacesAnExistingFile() throws {
        let path = (directory as NSString).appendingPathComponent("existing.db")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        var options = Store.Options(path: path)
        options.readers = 1
        options.startsFromSchemaImage = true
        let store = try Store(options)
        defer { store.close() }
        try store.read { db in
            XCTAssertNil(try db.queryOne("SELECT name FROM sqlite_master WHERE name = 'agents'"), "the empty file was not replaced")
        }
        XCTAssertEqual(try store.migrate(), Migration.embedded.map(\.version))  // built by its DDL, as before
        XCTAssertEqual(try store.read { try $0.queryOne("PRAGMA user_version")?[0] }, .int(0))
    }

    func test_embeddedMigrations_matchMigrationsDirectory() throws {
        try checkEmbedded(Migration.embedded, directory: "migrations")
    }

    func test_embeddedPostgresMigrations_matchTheirDirectory() throws {
        try checkEmbedded(Migration.embeddedPostgres, directory: "migrations/postgres")
    }

    /// Every schema version exists in both dialects under the same number and name (design §11): a migration
    /// added for SQLite needs its PostgreSQL twin in migrations/postgres/.
    func test_bothDialects_haveTheSameVersions() {
        XCTAssertEqual(Migration.embeddedPostgres.map(\.version), Migration.embedded.map(\.version), "migrations/postgres/ lacks a twin")
        XCTAssertEqual(Migration.embeddedPostgres.map(\.name), Migration.embedded.map(\.name))
    }

    private func checkEmbedded(_ embedded: [Migration], directory relative: String) throws {
        let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = repoRoot.appendingPathComponent(relative)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        XCTAssertFalse(files.isEmpty)
        let onDisk = try files.map { file -> (Int, String, String) in
            let base = String(file.dropLast(4))
            let version = try XCTUnwrap(Int(base.prefix(4)))
            return (version, String(base.dropFirst(5)), try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8))
        }
        let hint = "Sources/Store/EmbeddedMigrations.swift is stale: run scripts/embed-migrations.sh"
        XCTAssertEqual(embedded.map(\.version), onDisk.map(\.0), hint)
        XCTAssertEqual(embedded.map(\.name), onDisk.map(\.1), hint)
        for (migration, file) in zip(embedded, onDisk) {
            XCTAssertEqual(migration.sql, file.2, "\(hint) (migration \(migration.version))")
        }
    }
}

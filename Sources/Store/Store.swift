import Basics
import CShim
import Foundation

/// The store: on SQLite one writer connection (serialized) and a small pool of reader connections, WAL mode;
/// on PostgreSQL (`path` is a `postgres://` URL) a pool of connections, each read or write on any of them.
// unchecked: a Database is not Sendable; each is used by one thread at a time (the writer under its lock,
// a pooled reader between check-out and check-in, a dedicated reader by the thread it belongs to).
public final class Store: @unchecked Sendable {
    /// Where the database lives and how many connections to open.
    public struct Options {
        /// Path of the database file (its parent directory is created when missing), or a `postgres://` /
        /// `postgresql://` URL (libpq's: several hosts, `target_session_attrs`, `sslmode`… pass through).
        public var path: String
        /// PostgreSQL: connections opened at most (each serves one read or write at a time).
        public var postgresConnections: Int = 16
        /// PostgreSQL: write transactions of this process run one at a time (see `write`); off, they run
        /// concurrently and a serialization failure between them is retried like one with another node.
        public var postgresSerialWrites = false
        /// PostgreSQL: how long a caller waits for a free connection before `.busy`.
        public var postgresWaitSeconds: Double = 10
        /// Number of pooled reader connections (at least 1), each opened when first needed.
        public var readers: Int = 4
        /// How long a connection waits on a lock held by another connection or process.
        public var busyTimeoutMs: Int32 = 5000
        /// SQLite: a database file that does not exist yet starts as a copy of the embedded schema (SchemaImage), which
        /// `migrate()` then records; off, it starts empty and `migrate` builds the schema with its DDL.
        public var startsFromSchemaImage = false
        /// Tests: stands in for the WAL's fdatasync (return 0, or -1 with errno set).
        var walSyncFile: (@Sendable (Int32) -> Int32)?

        public init(path: String) { self.path = path }
    }

    /// The writer connection's page cache (KiB).
    static let writerCacheKiB = 16 * 1024
    /// The single writer connection; nil once closed.
    private let writer = Lock<Database?>(nil)
    /// Syncs the writer's WAL after each commit, outside the writer (SQLite).
    private let walSync = Lock<WALSync?>(nil)
    /// Checkpoints the writer's WAL off the writer (SQLite).
    private let checkpointer = Lock<Checkpointer?>(nil)

    private struct Pool {
        var idle: [Database] = []
        /// Pooled readers, idle or checked out.
        var count = 0
        var isClosed = false
        /// Readers owned by one thread each (`attachReaderToCurrentThread`), closed with the store.
        var dedicated: [Database] = []
    }
    private let pool = Lock(Pool())

    /// Per-thread pointer to the connection this thread is using inside read/write, for re-entrancy.
    private let currentConnectionKey: pthread_key_t
    /// Per-thread reader owned by one thread (an event loop), so its reads never wait for the pool.
    private let dedicatedReaderKey: pthread_key_t
    private let options: Options
    /// The PostgreSQL URL, for a connection outside the pool (the LISTEN connection).
    var conninfoForListening: String { options.path }
    /// The PostgreSQL connections; nil on SQLite.
    private let postgres: PostgresPool?
    /// Serializes this process's PostgreSQL write transactions when `postgresSerialWrites` is on.
    private let postgresWriteGate = Lock(())
    /// Which engine this store runs on.
    public let dialect: SQLDialect
    /// Attempts of a PostgreSQL write rolled back by a serialization failure or deadlock before the error is returned.
    /// (Many: eight concurrent agent creates on one node fail ~0.1 % of their transactions ten times in a row.)
    static let writeAttempts = 30

    /// Opens (creating the parent directory of path if needed), sets PRAGMAs on every connection:
    /// journal_mode=WAL (writer), synchronous=FULL (the writer NORMAL, its commits synced by WALSync), foreign_keys=ON,
    /// busy_timeout.
    /// On failure every connection opened so far is closed (deinit still runs: all properties have defaults).
    public init(_ options: Options) throws {
        self.options = options
        var keys = (pthread_key_t(), pthread_key_t())
        pthread_key_create(&keys.0, nil)
        pthread_key_create(&keys.1, nil)
        (currentConnectionKey, dedicatedReaderKey) = keys
        if isPostgresURL(options.path) {
            dialect = .postgres
            postgres = try PostgresPool(conninfo: options.path, limit: options.postgresConnections, waitSeconds: options.postgresWaitSeconds)
            return
        }
        dialect = .sqlite
        postgres = nil
        let directory = (options.path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StoreError(kind: .io, message: "cannot create directory \(directory): \(error.localizedDescription)")
            }
        }
        do {
            if options.startsFromSchemaImage && SchemaImage.version == Migration.embeddedSchemaVersion {
                _ = try SchemaImage.create(at: options.path)
            }
            let writer = try Database(path: options.path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                      isWriter: true, busyTimeoutMs: options.busyTimeoutMs)
            self.writer.withLock { $0 = writer }
            let mode = try writer.queryOne("PRAGMA journal_mode=WAL")?[0]
            guard mode == .text("wal") else {
                throw StoreError(kind: .io, message: "cannot enable WAL on \(options.path) (journal_mode is \(String(describing: mode)))")
            }
            try Store.configure(writer)
            // The writer's page cache outlives its own commits (a reader's is dropped whenever another connection
            // wrote), so it keeps the hot leaves of every index it appends to: with SQLite's default 2 MiB a
            // thousand agents' run-index pages no longer fit and each insert read its page back from the file.
            try writer.execute("PRAGMA cache_size=-\(Store.writerCacheKiB)")
            // Its commits are synced by WALSync once the writer is free for the next one (see there); checkpoints
            // still sync the WAL before copying it and the database file after.
            guard let wal = writer.walPath else { throw StoreError(kind: .io, message: "cannot name the WAL of \(options.path)") }
            try writer.execute("PRAGMA synchronous=NORMAL")
            walSync.withLock { $0 = WALSync(path: wal, syncFile: options.walSyncFile) }
            let checkpoints = Checkpointer(path: options.path, busyTimeoutMs: options.busyTimeoutMs)
            checkpointer.withLock { $0 = checkpoints }
            checkpoints.take(over: writer)
            // Pooled readers open on first use (checkOutReader), not here: each parses the whole schema at its first
            // statement, ~0.7 ms a connection on a cold start that may never need them all.
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        pthread_key_delete(currentConnectionKey)
        pthread_key_delete(dedicatedReaderKey)
    }

    private static func configure(_ db: Database) throws {
        try db.execute("PRAGMA synchronous=FULL")
        try db.execute("PRAGMA foreign_keys=ON")
        // Statement and savepoint journals (and temporary B-trees) in memory, not in a temp file: every
        // page a savepoint changes is first copied to that journal, and GroupCommit runs each write of a
        // batch in its own savepoint, so on disk it cost more write calls than the WAL itself.
        try db.execute("PRAGMA temp_store=MEMORY")
    }

    /// Read-only work on a pooled reader connection (blocks waiting for a free one).
    /// The body runs in one deferred transaction, so all its queries see the same snapshot.
    /// Inside `write` on the same thread it runs on the writer and sees the uncommitted changes.
    @discardableResult
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        if let current = currentConnection() { return try body(current) }
        let started = monotonicNow()
        defer { StoreMetrics.read.observe(monotonicNow() - started) }
        if let postgres { return try postgresTransaction(postgres, readOnly: true, level: "REPEATABLE READ", body) }
        if let own = pthread_getspecific(dedicatedReaderKey) {
            return try inTransaction(Unmanaged<Database>.fromOpaque(own).takeUnretainedValue(), begin: "BEGIN DEFERRED", body)
        }
        let reader = try checkOutReader()
        defer { checkIn(reader) }
        return try inTransaction(reader, begin: "BEGIN DEFERRED", body)
    }

    /// Write work on the single writer connection inside BEGIN IMMEDIATE … COMMIT; rollback when body throws.
    /// Returns once the commit is on the disk (SQLite: synced after the writer is free, `WALSync`).
    /// A nested `write` on the same thread runs inside a SAVEPOINT of the open transaction.
    @discardableResult
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try write(isolation: .serializable, body)
    }

    /// How a PostgreSQL write transaction is isolated (SQLite's single writer is serializable whatever this says).
    public enum Isolation: Sendable {
        /// The default: concurrent writers behave as one writer; a conflict is retried.
        case serializable
        /// For work queues whose correctness rests on row locks (`FOR UPDATE SKIP LOCKED`, an UPDATE's re-check
        /// of its WHERE on the latest row): claimers then skip each other's rows instead of failing and retrying.
        case readCommitted
    }

    /// `write` with the PostgreSQL isolation level chosen (nested: the outer transaction's level applies).
    @discardableResult
    public func write<T>(isolation: Isolation, _ body: (Database) throws -> T) throws -> T {
        let nested = currentConnection() != nil
        let started = monotonicNow()
        defer { if !nested { StoreMetrics.write.observe(monotonicNow() - started) } }
        let (result, commit) = try writeSyncingLater(isolation: isolation, body)
        try waitDurable(commit)
        return result
    }

    /// A commit that `waitDurable` makes sure is on the disk (SQLite: a commit number; PostgreSQL and a nested
    /// write: nothing left to wait for).
    public struct Commit: Sendable {
        /// SQLite: the commit's number and the WALSync that makes it durable.
        fileprivate let pending: (number: UInt64, sync: WALSync)?
        /// Durable already.
        fileprivate static let durable = Commit(pending: nil)
    }

    /// `write`, except that it returns as soon as the COMMIT has ended, before the commit is on the disk: the caller
    /// must not acknowledge the write to anyone until `waitDurable` of the returned commit has returned. For a thread
    /// that commits batches for others (GroupCommit): it goes on with the next batch while the callers of the
    /// last one wait for its sync, which they share with the commits made meanwhile.
    public func writeSyncingLater<T>(isolation: Isolation = .serializable, _ body: (Database) throws -> T) throws -> (T, Commit) {
        if let current = currentConnection() {
            guard current.isWriter && !current.inReadOnlyTransaction else {
                throw StoreError(kind: .misuse, message: "write() called inside read(); finish the read first")
            }
            return (try inSavepoint(current, body), .durable)
        }
        if let postgres {
            // One write transaction at a time per process (as SQLite's single writer): the process's own writers never
            // fail each other's serialization checks; writers on other nodes still can, and are run again.
            let level = isolation == .readCommitted ? "READ COMMITTED" : "SERIALIZABLE"
            guard options.postgresSerialWrites else {
                return (try postgresTransaction(postgres, readOnly: false, level: level, body), .durable)
            }
            let result = try postgresWriteGate.withLock { _ in try postgresTransaction(postgres, readOnly: false, level: level, body) }
            return (result, .durable)
        }
        guard let sync = walSync.withLock({ $0 }) else { throw StoreError(kind: .misuse, message: "store is closed") }
        // Fail closed: after a failed sync a commit might be acknowledged by a later sync that no longer covers it.
        if let failure = sync.failure { throw WALSync.error(failure) }
        // Numbered with the writer held (the WAL's order), synced after letting it go (WALSync).
        let (result, number) = try writer.withLock { writer -> (T, UInt64) in
            guard let writer else { throw StoreError(kind: .misuse, message: "store is closed") }
            let result = try inTransaction(writer, begin: "BEGIN IMMEDIATE", body)
            return (result, sync.committed())
        }
        return (result, Commit(pending: (number, sync)))
    }

    /// Returns once `commit` is on the disk (joining or running a sync of the WAL); throws `.io` when that sync failed.
    public func waitDurable(_ commit: Commit) throws {
        guard let (number, sync) = commit.pending else { return }
        try sync.waitDurable(number)
    }

    /// Syncs of the WAL so far (tests).
    var walSyncs: Int { walSync.withLock { $0?.syncs ?? 0 } }

    /// PostgreSQL: `body` runs on a pooled connection outside any explicit transaction, so each statement it runs
    /// commits on its own at READ COMMITTED (the default). For a single atomic statement on a hot row, such as an
    /// `INSERT … ON CONFLICT DO UPDATE … RETURNING` counter, where SERIALIZABLE would fail and retry concurrent
    /// updaters instead of queueing them on the row lock. A connection found broken is reconnected and `body` run
    /// once more (so it must tolerate running twice). On SQLite it is `write`.
    @discardableResult
    public func autocommit<T>(_ body: (Database) throws -> T) throws -> T {
        guard let postgres else { return try write(body) }
        if currentConnection() != nil { throw StoreError(kind: .misuse, message: "autocommit() called inside read() or write()") }
        let db = try postgres.checkOut()
        defer { postgres.checkIn(db) }
        var attempt = 0
        while true {
            attempt += 1
            do {
                if db.isBroken { try db.reconnect() }
                return try body(db)
            } catch let error as StoreError where error.kind == .unavailable && attempt < 2 {
                _ = try? db.reconnect()
            }
        }
    }

    /// Gives the calling thread a reader connection of its own: its `read` calls then never wait for
    /// the shared pool (in WAL mode a reader does not wait for the writer either). For long-lived
    /// threads such as event loops; the connection closes with the store.
    public func attachReaderToCurrentThread() throws {
        guard postgres == nil else { return }  // PostgreSQL reads take any pooled connection
        guard pthread_getspecific(dedicatedReaderKey) == nil else { return }
        let reader = try Database(path: options.path, flags: SQLITE_OPEN_READWRITE, isWriter: false, busyTimeoutMs: options.busyTimeoutMs)
        try Store.configure(reader)
        try reader.execute("PRAGMA query_only=ON")
        pool.withLock { $0.dedicated.append(reader) }
        pthread_setspecific(dedicatedReaderKey, Unmanaged.passUnretained(reader).toOpaque())
    }

    /// Closes every connection, waiting for readers in use to come back. Must not be called inside read/write.
    public func close() {
        if let postgres { return postgres.close() }
        pool.withLock { pool in
            for reader in pool.dedicated { reader.close() }
            pool.dedicated.removeAll()
            pool.isClosed = true
        }
        pool.notifyAll()
        pool.withLock(waitingUntil: { $0.idle.count >= $0.count }) { pool in
            for reader in pool.idle { reader.close() }
            pool.idle.removeAll()
            pool.count = 0
        }
        writer.withLock { writer in
            writer?.close()
            writer = nil
        }
        walSync.withLock { $0 = nil }
        checkpointer.withLock { $0 }?.stop()
        checkpointer.withLock { $0 = nil }
    }

    // MARK: - Transactions

    /// A PostgreSQL transaction on a pooled connection. Reads: REPEATABLE READ READ ONLY (one snapshot, like a
    /// SQLite read). Writes: SERIALIZABLE, so concurrent writers (threads or nodes) behave as SQLite's single
    /// writer does; a serialization failure or deadlock rolls back and runs `body` again (jittered backoff).
    /// A connection found broken before COMMIT is reconnected and the transaction run again; broken during
    /// COMMIT the outcome is unknown, so the error (`.unavailable`, a 503) goes to the caller.
    private func postgresTransaction<T>(_ pool: PostgresPool, readOnly: Bool, level: String, _ body: (Database) throws -> T) throws -> T {
        let db = try pool.checkOut()
        defer { pool.checkIn(db) }
        var attempt = 0
        while true {
            attempt += 1
            var committing = false
            do {
                if db.isBroken { try db.reconnect() }
                try db.control("BEGIN ISOLATION LEVEL \(level)" + (readOnly ? " READ ONLY" : ""))
                db.inReadOnlyTransaction = readOnly
                setCurrentConnection(db)
                defer {
                    setCurrentConnection(nil)
                    db.inReadOnlyTransaction = false
                }
                let result = try body(db)
                committing = true
                try db.control("COMMIT")
                return result
            } catch let error as StoreError {
                if !db.isAutocommit && !db.isBroken { _ = try? db.control("ROLLBACK") }
                switch error.kind {
                case .retry where attempt < Store.writeAttempts:
                    usleep(UInt32.random(in: 500...(1_000 << min(attempt, 6))))  // up to 64 ms
                case .unavailable where !committing && attempt < 3:
                    if attempt > 1 { usleep(200_000) }
                    _ = try? db.reconnect()
                default:
                    throw error
                }
            } catch {
                if !db.isAutocommit && !db.isBroken { _ = try? db.control("ROLLBACK") }
                throw error
            }
        }
    }

    private func inTransaction<T>(_ db: Database, begin: String, _ body: (Database) throws -> T) throws -> T {
        try db.control(begin)
        setCurrentConnection(db)
        defer { setCurrentConnection(nil) }
        let result: T
        do {
            result = try body(db)
            try db.control("COMMIT")
        } catch {
            // SQLite may already have rolled back (e.g. on SQLITE_FULL); ROLLBACK would then fail.
            if !db.isAutocommit { _ = try? db.control("ROLLBACK") }
            throw error
        }
        return result
    }

    private func inSavepoint<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        try db.control("SAVEPOINT neo_nested_write")
        do {
            let result = try body(db)
            try db.control("RELEASE SAVEPOINT neo_nested_write")
            return result
        } catch {
            if !db.isAutocommit {
                _ = try? db.control("ROLLBACK TO SAVEPOINT neo_nested_write")
                _ = try? db.control("RELEASE SAVEPOINT neo_nested_write")
            }
            throw error
        }
    }

    private func currentConnection() -> Database? {
        pthread_getspecific(currentConnectionKey).map { Unmanaged<Database>.fromOpaque($0).takeUnretainedValue() }
    }

    private func setCurrentConnection(_ db: Database?) {
        pthread_setspecific(currentConnectionKey, db.map { Unmanaged.passUnretained($0).toOpaque() })
    }

    // MARK: - Reader pool

    private func checkOutReader() throws -> Database {
        let limit = max(1, options.readers)
        let idle = try pool.withLock(waitingUntil: { !$0.idle.isEmpty || $0.count < limit || $0.isClosed }) { pool -> Database? in
            guard !pool.isClosed else { throw StoreError(kind: .misuse, message: "store is closed") }
            if let reader = pool.idle.popLast() { return reader }
            pool.count += 1  // a place for the reader opened below, outside the lock
            return nil
        }
        if let idle { return idle }
        do {
            let reader = try Database(path: options.path, flags: SQLITE_OPEN_READWRITE, isWriter: false, busyTimeoutMs: options.busyTimeoutMs)
            do {
                try Store.configure(reader)
                // Readers open read-write (WAL needs the -shm file) but refuse to modify the database.
                try reader.execute("PRAGMA query_only=ON")
            } catch {
                reader.close()
                throw error
            }
            return reader
        } catch {
            pool.withLock { $0.count -= 1 }
            pool.notifyAll()
            throw error
        }
    }

    /// Returns a reader to the pool; wakes both a thread waiting for one and `close` waiting for all.
    private func checkIn(_ reader: Database) {
        pool.withLock { $0.idle.append(reader) }
        pool.notifyAll()
    }

    // MARK: - Migrations

    /// Applies pending migrations (each in its own transaction, recorded in schema_migrations(version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)).
    /// Throws StoreError(kind: .schemaTooNew) when the DB has a version the binary lacks.
    /// Returns the versions applied.
    /// On PostgreSQL the whole run holds `pg_advisory_lock` on one session, so nodes starting together migrate
    /// once: the others wait, then find every version applied. `migrations` defaults to the store's dialect's set.
    ///
    /// SQLite, the embedded migrations (`migrations` nil) on a new database: `Migration.embeddedSchema` (what they
    /// build, one script) runs instead of each of them, every version recorded all the same. An explicit list
    /// always runs step by step.
    @discardableResult
    public func migrate(_ migrations: [Migration]? = nil) throws -> [Int] {
        let schema = migrations == nil && dialect == .sqlite ? (version: Migration.embeddedSchemaVersion, sql: Migration.embeddedSchema) : nil
        let migrations = migrations ?? (dialect == .postgres ? Migration.embeddedPostgres : Migration.embedded)
        if let postgres {
            let db = try postgres.checkOut()
            defer { postgres.checkIn(db) }
            try db.control("SELECT pg_advisory_lock(\(Store.migrationLockKey))")
            defer { _ = try? db.control("SELECT pg_advisory_unlock(\(Store.migrationLockKey))") }
            return try migrate(migrations) { body in try inTransaction(db, begin: "BEGIN", body) }
        }
        return try migrate(migrations, schema: schema) { body in try write(body) }
    }

    /// The advisory lock migrations hold on PostgreSQL ("neo-migr" as a number).
    static let migrationLockKey: Int64 = 0x6e65_6f2d_6d69_6772

    private func migrate(_ migrations: [Migration], schema: (version: Int, sql: String)? = nil,
                         transaction: ((Database) throws -> Bool) throws -> Bool) throws -> [Int] {
        let ordered = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where previous.version == next.version {
            throw StoreError(kind: .misuse, message: "duplicate migration version \(next.version)")
        }
        let latest = ordered.last?.version ?? 0
        // Every pending migration in one transaction: a new database is made with one commit (one fsync, not one
        // per version: most of a first start's time), an upgrade applies all or nothing, and two processes
        // migrating at once cannot both apply one.
        var applied: [Int] = []
        _ = try transaction { db in
            applied = []  // the body may run again (a retried PostgreSQL transaction)
            try db.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations(
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)
                """)
            try Store.checkNotNewer(db, latest: latest)
            let done = Set(try db.query("SELECT version FROM schema_migrations").compactMap { $0.int("version") })
            // A new database: the migrations' result in one script (MigrationTests holds it equal to them).
            let squashed = done.isEmpty && schema?.version == latest
            // A copy of the schema image already holds the schema: its mark goes in the transaction that records it.
            let fromImage = try squashed && db.queryOne("PRAGMA user_version")?[0] == .int(Int64(latest))
            if fromImage {
                try db.execute("PRAGMA user_version=0")
            } else if squashed, let schema {
                do {
                    try db.executeScript(schema.sql)
                } catch let error as StoreError {
                    throw StoreError(kind: .migrationFailed, message: "the schema of migrations 1-\(latest) failed: \(error.message)",
                                     sqliteCode: error.sqliteCode, sqlState: error.sqlState)
                }
            }
            for migration in ordered where !done.contains(Int64(migration.version)) {
                if squashed {
                    try db.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                                   [.int(Int64(migration.version)), .text(migration.name), .text(Timestamp.now())])
                    applied.append(migration.version)
                    continue
                }
                do {
                    try db.executeScript(migration.sql)
                    try db.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                                   [.int(Int64(migration.version)), .text(migration.name), .text(Timestamp.now())])
                } catch let error as StoreError {
                    throw StoreError(kind: .migrationFailed,
                                     message: "migration \(migration.version) (\(migration.name)) failed: \(error.message)",
                                     sqliteCode: error.sqliteCode, sqlState: error.sqlState)
                }
                applied.append(migration.version)
            }
            return true
        }
        return applied
    }

    private static func checkNotNewer(_ db: Database, latest: Int) throws {
        let current = Int(try db.queryOne("SELECT MAX(version) AS v FROM schema_migrations")?.int("v") ?? 0)
        guard current <= latest else {
            throw StoreError(kind: .schemaTooNew, message:
                "database schema version \(current) is newer than this binary supports (\(latest)); upgrade neo-server")
        }
    }

    /// The highest applied migration version, 0 for a database never migrated.
    public func schemaVersion() throws -> Int {
        try read { db in
            let exists = db.dialect == .postgres
                ? "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
                : "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            guard try db.queryOne(exists) != nil else {
                return 0
            }
            return Int(try db.queryOne("SELECT MAX(version) AS v FROM schema_migrations")?.int("v") ?? 0)
        }
    }
}

/// Time spent in `read` and `write` (outermost calls, waits for a connection or the writer included).
enum StoreMetrics {
    static let read = MetricsRegistry.shared.histogram("neo_store_duration_seconds", help: "Store transactions, by kind (waiting for a connection included).",
                                                      labels: [("op", "read")])
    static let write = MetricsRegistry.shared.histogram("neo_store_duration_seconds", help: "Store transactions, by kind (waiting for a connection included).",
                                                       labels: [("op", "write")])
}

extension Store {
    /// Creates the store's metric series, so a scrape shows them before the first transaction.
    public static func registerMetrics() {
        _ = StoreMetrics.read
        _ = StoreMetrics.write
    }
}

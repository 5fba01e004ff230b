import Basics
import CShim
import Foundation

/// The store: one writer connection (serialized) and a small pool of reader connections, WAL mode.
// unchecked: a Database is not Sendable; each is used by one thread at a time (the writer under its lock,
// a pooled reader between check-out and check-in, a dedicated reader by the thread it belongs to).
public final class Store: @unchecked Sendable {
    /// Where the database lives and how many connections to open.
    public struct Options {
        /// Path of the database file; its parent directory is created when missing.
        public var path: String
        /// Number of pooled reader connections (at least 1).
        public var readers: Int = 4
        /// How long a connection waits on a lock held by another connection or process.
        public var busyTimeoutMs: Int32 = 5000

        public init(path: String) { self.path = path }
    }

    /// The single writer connection; nil once closed.
    private let writer = Lock<Database?>(nil)

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

    /// Opens (creating the parent directory of path if needed), sets PRAGMAs on every connection:
    /// journal_mode=WAL (writer), synchronous=FULL, foreign_keys=ON, busy_timeout.
    /// On failure every connection opened so far is closed (deinit still runs: all properties have defaults).
    public init(_ options: Options) throws {
        self.options = options
        var keys = (pthread_key_t(), pthread_key_t())
        pthread_key_create(&keys.0, nil)
        pthread_key_create(&keys.1, nil)
        (currentConnectionKey, dedicatedReaderKey) = keys
        let directory = (options.path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StoreError(kind: .io, message: "cannot create directory \(directory): \(error.localizedDescription)")
            }
        }
        do {
            let writer = try Database(path: options.path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                      isWriter: true, busyTimeoutMs: options.busyTimeoutMs)
            self.writer.withLock { $0 = writer }
            let mode = try writer.queryOne("PRAGMA journal_mode=WAL")?[0]
            guard mode == .text("wal") else {
                throw StoreError(kind: .io, message: "cannot enable WAL on \(options.path) (journal_mode is \(String(describing: mode)))")
            }
            try Store.configure(writer)
            for _ in 0..<max(1, options.readers) {
                let reader = try Database(path: options.path, flags: SQLITE_OPEN_READWRITE, isWriter: false,
                                          busyTimeoutMs: options.busyTimeoutMs)
                try Store.configure(reader)
                // Readers open read-write (WAL needs the -shm file) but refuse to modify the database.
                try reader.execute("PRAGMA query_only=ON")
                pool.withLock {
                    $0.idle.append(reader)
                    $0.count += 1
                }
            }
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
    }

    /// Read-only work on a pooled reader connection (blocks waiting for a free one).
    /// The body runs in one deferred transaction, so all its queries see the same snapshot.
    /// Inside `write` on the same thread it runs on the writer and sees the uncommitted changes.
    @discardableResult
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        if let current = currentConnection() { return try body(current) }
        let started = monotonicNow()
        defer { StoreMetrics.read.observe(monotonicNow() - started) }
        if let own = pthread_getspecific(dedicatedReaderKey) {
            return try inTransaction(Unmanaged<Database>.fromOpaque(own).takeUnretainedValue(), begin: "BEGIN DEFERRED", body)
        }
        let reader = try checkOutReader()
        defer { checkIn(reader) }
        return try inTransaction(reader, begin: "BEGIN DEFERRED", body)
    }

    /// Write work on the single writer connection inside BEGIN IMMEDIATE … COMMIT; rollback when body throws.
    /// A nested `write` on the same thread runs inside a SAVEPOINT of the open transaction.
    @discardableResult
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        if let current = currentConnection() {
            guard current.isWriter else {
                throw StoreError(kind: .misuse, message: "write() called inside read(); finish the read first")
            }
            return try inSavepoint(current, body)
        }
        let started = monotonicNow()
        defer { StoreMetrics.write.observe(monotonicNow() - started) }
        return try writer.withLock { writer in
            guard let writer else { throw StoreError(kind: .misuse, message: "store is closed") }
            return try inTransaction(writer, begin: "BEGIN IMMEDIATE", body)
        }
    }

    /// Gives the calling thread a reader connection of its own: its `read` calls then never wait for
    /// the shared pool (in WAL mode a reader does not wait for the writer either). For long-lived
    /// threads such as event loops; the connection closes with the store.
    public func attachReaderToCurrentThread() throws {
        guard pthread_getspecific(dedicatedReaderKey) == nil else { return }
        let reader = try Database(path: options.path, flags: SQLITE_OPEN_READWRITE, isWriter: false, busyTimeoutMs: options.busyTimeoutMs)
        try Store.configure(reader)
        try reader.execute("PRAGMA query_only=ON")
        pool.withLock { $0.dedicated.append(reader) }
        pthread_setspecific(dedicatedReaderKey, Unmanaged.passUnretained(reader).toOpaque())
    }

    /// Closes every connection, waiting for readers in use to come back. Must not be called inside read/write.
    public func close() {
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
    }

    // MARK: - Transactions

    private func inTransaction<T>(_ db: Database, begin: String, _ body: (Database) throws -> T) throws -> T {
        try db.execute(begin)
        setCurrentConnection(db)
        defer { setCurrentConnection(nil) }
        let result: T
        do {
            result = try body(db)
            try db.execute("COMMIT")
        } catch {
            // SQLite may already have rolled back (e.g. on SQLITE_FULL); ROLLBACK would then fail.
            if !db.isAutocommit { _ = try? db.execute("ROLLBACK") }
            throw error
        }
        return result
    }

    private func inSavepoint<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        try db.execute("SAVEPOINT neo_nested_write")
        do {
            let result = try body(db)
            try db.execute("RELEASE SAVEPOINT neo_nested_write")
            return result
        } catch {
            if !db.isAutocommit {
                _ = try? db.execute("ROLLBACK TO SAVEPOINT neo_nested_write")
                _ = try? db.execute("RELEASE SAVEPOINT neo_nested_write")
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
        try pool.withLock(waitingUntil: { !$0.idle.isEmpty || $0.isClosed }) { pool in
            guard !pool.isClosed else { throw StoreError(kind: .misuse, message: "store is closed") }
            return pool.idle.removeLast()
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
    @discardableResult
    public func migrate(_ migrations: [Migration] = Migration.embedded) throws -> [Int] {
        let ordered = migrations.sorted { $0.version < $1.version }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where previous.version == next.version {
            throw StoreError(kind: .misuse, message: "duplicate migration version \(next.version)")
        }
        let latest = ordered.last?.version ?? 0
        try write { db in
            try db.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations(
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)
                """)
            try Store.checkNotNewer(db, latest: latest)
        }
        var applied: [Int] = []
        for migration in ordered {
            // Check and apply in one transaction so two processes migrating at once cannot both apply.
            let didApply = try write { db -> Bool in
                try Store.checkNotNewer(db, latest: latest)
                if try db.queryOne("SELECT 1 FROM schema_migrations WHERE version = ?", [.int(Int64(migration.version))]) != nil {
                    return false
                }
                do {
                    try db.executeScript(migration.sql)
                    try db.execute("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                                   [.int(Int64(migration.version)), .text(migration.name), .text(Timestamp.now())])
                } catch let error as StoreError {
                    throw StoreError(kind: .migrationFailed,
                                     message: "migration \(migration.version) (\(migration.name)) failed: \(error.message)",
                                     sqliteCode: error.sqliteCode)
                }
                return true
            }
            if didApply { applied.append(migration.version) }
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
            guard try db.queryOne("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'") != nil else {
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

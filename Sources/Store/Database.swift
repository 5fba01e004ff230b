import CShim

/// One database connection, SQLite or PostgreSQL: the same calls, `?` placeholders and SQLValue parameters on both.
/// Not thread-safe; the Store hands it out to one closure at a time.
public final class Database {
    private var handle: OpaquePointer?
    /// The PostgreSQL connection when this is one; nil for SQLite.
    private let pg: PGConnection?
    /// Which SQL this connection speaks, for the few statements that differ.
    public var dialect: SQLDialect { pg == nil ? .sqlite : .postgres }
    /// Set by the Store while a PostgreSQL connection runs a read-only transaction (a nested write is refused).
    var inReadOnlyTransaction = false
    /// Prepared statements keyed by SQL text. A statement in use is marked so, and a nested use of the same SQL
    /// (e.g. inside a `forEachRow` callback) prepares its own copy instead of clobbering the first. One lookup per
    /// use: the caller hands the entry back, so the SQL text (often hundreds of bytes) is hashed once, not three times.
    private var statements: [String: CachedStatement] = [:]

    private final class CachedStatement {
        let handle: OpaquePointer
        var inUse = true

        init(_ handle: OpaquePointer) { self.handle = handle }
    }
    /// True for the Store's single writer connection.
    let isWriter: Bool
    /// How many statements the cache holds, and how many of them are not in use (for tests).
    public var cachedStatements: (total: Int, idle: Int) { (statements.count, statements.values.filter { !$0.inUse }.count) }

    init(postgres: PGConnection) {
        pg = postgres
        isWriter = true
    }

    init(path: String, flags: Int32, isWriter: Bool, busyTimeoutMs: Int32) throws {
        self.isWriter = isWriter
        pg = nil
        _ = Database.configured
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let error = StoreError.sqlite(rc, db: db, context: "opening database \(path)")
            sqlite3_close_v2(db)
            throw error
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMs)
    }

    deinit { close() }

    /// Process-wide SQLite settings, made once before the first connection opens (sqlite3_config must precede
    /// the library's initialization): no memory statistics, which nothing reads and which cost a global mutex
    /// on every allocation of every connection. True when SQLite took them (false: it was initialized before).
    public static let configured: Bool = cshim_sqlite_config_memstatus_off() == SQLITE_OK

    /// SQLite: `hook` runs after each commit of this connection with the number of frames in the WAL, in place of
    /// the automatic checkpoint (which is this same hook); `context` is passed to it.
    func setWALHook(_ context: UnsafeMutableRawPointer,
                    _ hook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32) {
        sqlite3_wal_hook(handle, hook, context)
    }

    /// SQLite: the full path of this connection's write-ahead log (whether or not it exists yet).
    var walPath: String? {
        guard let handle, let name = sqlite3_db_filename(handle, "main"), name.pointee != 0, let wal = sqlite3_filename_wal(name) else { return nil }
        return String(cString: wal)
    }

    /// Finalizes cached statements and closes the connection; later calls throw `.misuse`.
    func close() {
        pg?.close()
        // One in use is finalized when it is checked in (sqlite3_close_v2 waits for it).
        for statement in statements.values where !statement.inUse { sqlite3_finalize(statement.handle) }
        statements.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs a statement (prepared once per connection and cached by SQL text), binding parameters in order.
    @discardableResult
    public func execute(_ sql: String, _ params: [SQLValue] = []) throws -> Int {
        if let pg { return try pg.run(sql, params).affected }
        return try withStatement(sql, params) { statement in
            while try step(statement, sql) {}
            return Int(sqlite3_changes(handle))
        }
    }

    /// All rows of a query, materialized.
    public func query(_ sql: String, _ params: [SQLValue] = []) throws -> [Row] {
        if let pg {
            let result = try pg.run(sql, params)
            let columns = result.columnNames()
            return (0..<result.rowCount).map { r in Row(columns: columns, values: (0..<columns.count).map { result.value(r, $0) }) }
        }
        return try withStatement(sql, params) { statement in
            let columns = columnNames(statement)
            var rows: [Row] = []
            while try step(statement, sql) {
                rows.append(Row(columns: columns, values: rowValues(statement, count: columns.count)))
            }
            return rows
        }
    }

    /// The first row of a query, or nil when it returns none.
    public func queryOne(_ sql: String, _ params: [SQLValue] = []) throws -> Row? {
        if let pg {
            let result = try pg.run(sql, params)
            guard result.rowCount > 0 else { return nil }
            let columns = result.columnNames()
            return Row(columns: columns, values: (0..<columns.count).map { result.value(0, $0) })
        }
        return try withStatement(sql, params) { statement in
            guard try step(statement, sql) else { return nil }
            let columns = columnNames(statement)
            return Row(columns: columns, values: rowValues(statement, count: columns.count))
        }
    }

    /// The first row of a query as bytes, nil when it returns none: for each column its name, 0, a tag (`n` null, `i`
    /// integer, `d` real, `t` text, `b` blob), the value (integers and reals in decimal), 0. What the audit log
    /// hashes (AuditRecords.digest); on SQLite written straight from the statement, without a Row of Strings.
    public func serializedRow(_ sql: String, _ params: [SQLValue] = []) throws -> [UInt8]? {
        func append(_ value: SQLValue, to bytes: inout [UInt8]) {
            switch value {
            case .null: bytes.append(0x6E)
            case .int(let v): bytes.append(0x69); bytes.append(contentsOf: String(v).utf8)
            case .double(let v): bytes.append(0x64); bytes.append(contentsOf: String(v).utf8)
            case .text(let s): bytes.append(0x74); bytes.append(contentsOf: s.utf8)
            case .blob(let b): bytes.append(0x62); bytes.append(contentsOf: b)
            }
        }
        guard pg == nil else {
            guard let row = try queryOne(sql, params) else { return nil }
            var bytes: [UInt8] = []
            for (name, value) in row.fields {
                bytes.append(contentsOf: name.utf8)
                bytes.append(0)
                append(value, to: &bytes)
                bytes.append(0)
            }
            return bytes
        }
        return try withStatement(sql, params) { statement -> [UInt8]? in
            guard try step(statement, sql) else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(1024)
            for column in 0..<sqlite3_column_count(statement) {
                var name = UnsafeRawPointer(sqlite3_column_name(statement, column)!).assumingMemoryBound(to: UInt8.self)
                while name.pointee != 0 {
                    bytes.append(name.pointee)
                    name += 1
                }
                bytes.append(0)
                let type = sqlite3_column_type(statement, column)
                switch type {
                case SQLITE_INTEGER: append(.int(sqlite3_column_int64(statement, column)), to: &bytes)
                case SQLITE_FLOAT: append(.double(sqlite3_column_double(statement, column)), to: &bytes)
                case SQLITE_TEXT, SQLITE_BLOB:
                    let isText = type == SQLITE_TEXT
                    let data = isText ? UnsafeRawPointer(sqlite3_column_text(statement, column)) : sqlite3_column_blob(statement, column)
                    let count = Int(sqlite3_column_bytes(statement, column))
                    bytes.append(isText ? 0x74 : 0x62)
                    if let data, count > 0 { bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: count)) }
                default: append(.null, to: &bytes)
                }
                bytes.append(0)
            }
            return bytes
        }
    }

    /// Calls `body` for each row without materializing all rows (hot path for list endpoints).
    public func forEachRow(_ sql: String, _ params: [SQLValue], _ body: (RowCursor) throws -> Void) throws {
        if let pg {
            let result = try pg.run(sql, params)
            for r in 0..<result.rowCount { try body(RowCursor(result: result, row: r)) }
            return
        }
        try withStatement(sql, params) { statement in
            let cursor = RowCursor(statement: statement)
            while try step(statement, sql) { try body(cursor) }
        }
    }

    /// Runs an `INSERT` into a table with an integer `id` key and returns the new row's id
    /// (`… RETURNING id`, which SQLite ≥ 3.35 and PostgreSQL both run).
    public func insertReturningID(_ sql: String, _ params: [SQLValue] = []) throws -> Int64 {
        guard let id = try queryOne(sql + " RETURNING id", params)?.int("id") else {
            throw StoreError(kind: .misuse, message: "INSERT returned no id (\(Database.excerpt(sql)))")
        }
        return id
    }

    /// The rowid of the most recent successful INSERT on this connection (SQLite only: Records use
    /// `INSERT … RETURNING id`, which both engines run; 0 on PostgreSQL).
    public var lastInsertRowID: Int64 {
        handle.map { sqlite3_last_insert_rowid($0) } ?? 0
    }

    /// Runs multi-statement SQL with `sqlite3_exec` (migrations only: no parameters, no caching).
    public func executeScript(_ sql: String) throws {
        if let pg { return try pg.simple(sql) }
        let db = try openHandle()
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        defer { sqlite3_free(errorMessage) }
        guard rc == SQLITE_OK else {
            let detail = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            let code = sqlite3_extended_errcode(db)
            let reported = code & 0xff == rc & 0xff ? code : rc
            throw StoreError(kind: StoreError.kind(forSQLiteCode: reported), message: "\(detail) (executing script)",
                             sqliteCode: reported)
        }
    }

    /// Whether the connection is outside any transaction.
    var isAutocommit: Bool {
        if let pg { return pg.isIdle }
        return handle.map { sqlite3_get_autocommit($0) != 0 } ?? true
    }

    /// Transaction control (BEGIN, COMMIT, SAVEPOINT…): PostgreSQL's simple protocol, never a prepared statement.
    func control(_ sql: String) throws {
        if let pg { return try pg.simple(sql) }
        try execute(sql)
    }

    /// PostgreSQL only: whether the connection is known to be gone, and reconnecting it (the same URL, so a
    /// multi-host URL finds the new primary after a failover).
    var isBroken: Bool { pg?.isBroken ?? false }
    func reconnect() throws { try pg?.reconnect() }

    // MARK: - Statements

    private func openHandle() throws -> OpaquePointer {
        guard let handle else { throw StoreError(kind: .misuse, message: "database connection is closed") }
        return handle
    }

    private func withStatement<T>(_ sql: String, _ params: [SQLValue], _ body: (OpaquePointer) throws -> T) throws -> T {
        let (statement, cached) = try checkOut(sql)
        defer { checkIn(statement, cached) }
        try bind(params, to: statement, sql)
        return try body(statement)
    }

    /// The statement for `sql` and its cache entry: the cached one when free, else a new one (cached unless
    /// the cached one is in use: that copy is finalized at check-in).
    private func checkOut(_ sql: String) throws -> (OpaquePointer, CachedStatement?) {
        let cached = statements[sql]
        if let cached, !cached.inUse {
            cached.inUse = true
            return (cached.handle, cached)
        }
        let statement = try prepare(sql)
        guard cached == nil else { return (statement, nil) }
        let entry = CachedStatement(statement)
        statements[sql] = entry
        return (statement, entry)
    }

    private func prepare(_ sql: String) throws -> OpaquePointer {
        let db = try openHandle()
        var statement: OpaquePointer?
        // The tail pointer points into the C string, so it is read while that string is alive.
        let (rc, hasTail) = sql.withCString { cSQL -> (Int32, Bool) in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(db, cSQL, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, &tail)
            guard rc == SQLITE_OK, let tail, tail.pointee != 0 else { return (rc, false) }
            return (rc, !String(cString: tail).allSatisfy({ $0.isWhitespace || $0 == ";" }))
        }
        guard rc == SQLITE_OK else { throw StoreError.sqlite(rc, db: db, context: "preparing \(Database.excerpt(sql))") }
        guard let statement else {
            throw StoreError(kind: .misuse, message: "no SQL statement in \(Database.excerpt(sql))", sqliteCode: SQLITE_MISUSE)
        }
        if hasTail {
            sqlite3_finalize(statement)
            throw StoreError(kind: .misuse, message: "more than one statement in \(Database.excerpt(sql)); use executeScript",
                             sqliteCode: SQLITE_MISUSE)
        }
        return statement
    }

    private func checkIn(_ statement: OpaquePointer, _ cached: CachedStatement?) {
        // An uncached copy, or any statement of a connection closed meanwhile (its cache is empty now).
        guard handle != nil, let cached else {
            sqlite3_finalize(statement)
            return
        }
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        cached.inUse = false
    }

    private func bind(_ params: [SQLValue], to statement: OpaquePointer, _ sql: String) throws {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard params.count == expected else {
            throw StoreError(kind: .misuse, message: "expected \(expected) parameters, got \(params.count) for \(Database.excerpt(sql))",
                             sqliteCode: SQLITE_RANGE)
        }
        for (offset, value) in params.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null:
                rc = sqlite3_bind_null(statement, index)
            case .int(let v):
                rc = sqlite3_bind_int64(statement, index, v)
            case .double(let v):
                rc = sqlite3_bind_double(statement, index, v)
            case .text(var s):
                rc = try s.withUTF8 { utf8 in
                    guard let base = utf8.baseAddress, !utf8.isEmpty else {
                        return "".withCString { cshim_sqlite_bind_text(statement, index, $0, 0) }
                    }
                    return cshim_sqlite_bind_text(statement, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                                  try Database.length(utf8.count, sql))
                }
            case .blob(let bytes):
                rc = try bytes.withUnsafeBytes { raw in
                    guard let base = raw.baseAddress, !raw.isEmpty else { return sqlite3_bind_zeroblob(statement, index, 0) }
                    return cshim_sqlite_bind_blob(statement, index, base, try Database.length(raw.count, sql))
                }
            }
            guard rc == SQLITE_OK else { throw StoreError.sqlite(rc, db: handle, context: "binding parameter \(index) of \(Database.excerpt(sql))") }
        }
    }

    private static func length(_ count: Int, _ sql: String) throws -> Int32 {
        guard let length = Int32(exactly: count) else {
            throw StoreError(kind: .misuse, message: "parameter larger than 2 GiB for \(excerpt(sql))", sqliteCode: SQLITE_TOOBIG)
        }
        return length
    }

    /// Steps once: true when a row is available, false when done.
    private func step(_ statement: OpaquePointer, _ sql: String) throws -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let rc: throw StoreError.sqlite(rc, db: handle, context: "executing \(Database.excerpt(sql))")
        }
    }

    private func columnNames(_ statement: OpaquePointer) -> [String] {
        (0..<sqlite3_column_count(statement)).map { String(cString: sqlite3_column_name(statement, $0)) }
    }

    private func rowValues(_ statement: OpaquePointer, count: Int) -> [SQLValue] {
        (0..<Int32(count)).map { column in
            switch sqlite3_column_type(statement, column) {
            case SQLITE_INTEGER:
                return .int(sqlite3_column_int64(statement, column))
            case SQLITE_FLOAT:
                return .double(sqlite3_column_double(statement, column))
            case SQLITE_TEXT:
                let text = sqlite3_column_text(statement, column)
                let count = Int(sqlite3_column_bytes(statement, column))
                return .text(String(decoding: UnsafeBufferPointer(start: text, count: text == nil ? 0 : count), as: UTF8.self))
            case SQLITE_BLOB:
                let blob = sqlite3_column_blob(statement, column)
                let count = Int(sqlite3_column_bytes(statement, column))
                return .blob(blob == nil ? [] : [UInt8](UnsafeRawBufferPointer(start: blob, count: count)))
            default:
                return .null
            }
        }
    }

    /// SQL text for error messages: it holds placeholders, never values, but can be long.
    static func excerpt(_ sql: String) -> String {
        let flat = sql.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        return flat.count <= 160 ? flat : String(flat.prefix(160)) + "…"
    }
}

import Basics
import CShim
import Foundation

/// The SQL engine behind a connection. Records switch on it only where no SQL runs on both.
public enum SQLDialect: Sendable {
    case sqlite, postgres
}

/// Whether a `NEO_DB` value names a PostgreSQL server rather than a SQLite file.
public func isPostgresURL(_ value: String) -> Bool {
    value.hasPrefix("postgres://") || value.hasPrefix("postgresql://")
}

/// A PostgreSQL URL with any password replaced by `***`, for messages.
public func redactedDatabaseURL(_ value: String) -> String {
    value.replacingOccurrences(of: #"(://[^/@:?]*):[^/@?]*@"#, with: "$1:***@", options: .regularExpression)
        .replacingOccurrences(of: #"(?i)password=[^&\s]*"#, with: "password=***", options: .regularExpression)
}

/// One libpq connection. Not thread-safe: the pool hands it to one thread at a time. Statements are prepared
/// once per connection (named `neo_N`) and cached by their SQL text, `?` placeholders rewritten to `$N` once.
/// Parameters and results travel as text (bytea parameters in binary); result columns map to SQLValue by type.
final class PGConnection {
    private var conn: OpaquePointer?
    /// SQL text → prepared statement name and its parameter count.
    private var prepared: [String: (name: String, count: Int)] = [:]
    private var nextName = 0
    /// Statements kept prepared per connection; SQL built from many filter combinations past this runs unnamed.
    private static let maxPrepared = 512

    /// Connects (blocking, bounded by connect_timeout: 10 s unless the URL sets its own).
    init(conninfo: String) throws {
        // libpq is loaded (dlopen, once) by the first PostgreSQL connection, never on the SQLite path.
        if let problem = cshim_pq_load() { throw StoreError(kind: .unavailable, message: String(cString: problem)) }
        // Keywords first, then dbname = the URL: libpq expands it and the URL's own values win over these defaults.
        let defaults = [("connect_timeout", "10"), ("application_name", "neo-server"), ("keepalives_idle", "30"),
                        ("keepalives_interval", "10"), ("keepalives_count", "3"), ("dbname", conninfo)]
        conn = PGConnection.connect(defaults)
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let detail = conn.map { PGConnection.clean(String(cString: PQerrorMessage($0))) } ?? "out of memory"
            if let conn { PQfinish(conn) }
            self.conn = nil
            throw StoreError(kind: .unavailable, message: "cannot connect to PostgreSQL: \(detail)")
        }
        cshim_pq_quiet_notices(conn)
        PGConnection.limitIdleTransactions(conn)
    }

    /// A transaction of ours never waits between its statements for anything but this process, so one idle for 5 s
    /// belongs to a paused or wedged process: the server ends it (idle_in_transaction_session_timeout), and its row
    /// locks no longer keep other nodes from taking its runs over. (Its connection is then broken: reconnected, and a
    /// transaction not yet committed run again.) A value set for the role, the database or in the URL's `options` wins.
    private static func limitIdleTransactions(_ conn: OpaquePointer) {
        PQclear(PQexec(conn, """
            SELECT set_config('idle_in_transaction_session_timeout', '5000', false)
            WHERE current_setting('idle_in_transaction_session_timeout') = '0'
            """))
    }

    private static func connect(_ pairs: [(String, String)]) -> OpaquePointer? {
        let keys = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer { (keys + values).forEach { free($0) } }
        var keyPointers = keys.map { UnsafePointer<CChar>($0) } + [nil]
        var valuePointers = values.map { UnsafePointer<CChar>($0) } + [nil]
        return keyPointers.withUnsafeMutableBufferPointer { k in
            valuePointers.withUnsafeMutableBufferPointer { v in PQconnectdbParams(k.baseAddress, v.baseAddress, 1) }
        }
    }

    deinit { close() }

    func close() {
        if let conn { PQfinish(conn) }
        conn = nil
        prepared.removeAll()
    }

    /// Whether libpq knows the connection is gone (it learns that when a call fails).
    var isBroken: Bool { conn.map { PQstatus($0) != CONNECTION_OK } ?? true }

    /// Outside any transaction.
    var isIdle: Bool { conn.map { PQtransactionStatus($0) == PQTRANS_IDLE } ?? true }

    /// Reconnects with the same parameters (a multi-host URL tries its hosts again, so this follows a failover).
    /// Prepared statements belong to the old session and are forgotten.
    func reconnect() throws {
        prepared.removeAll()
        guard let conn else { throw StoreError(kind: .misuse, message: "database connection is closed") }
        PQreset(conn)
        guard PQstatus(conn) == CONNECTION_OK else {
            throw StoreError(kind: .unavailable, message: "cannot reconnect to PostgreSQL: \(PGConnection.clean(String(cString: PQerrorMessage(conn))))")
        }
        PGConnection.limitIdleTransactions(conn)
    }

    /// Waits up to `timeoutMs` for NOTIFY messages on this connection (after `LISTEN`); returns how many arrived.
    /// Throws `.unavailable` when the connection failed.
    func waitForNotifications(timeoutMs: Int32) throws -> Int {
        let conn = try open()
        let n = cshim_pq_wait_notifies(conn, timeoutMs)
        guard n >= 0 else {
            throw StoreError(kind: .unavailable, message: "the listening connection failed: \(PGConnection.clean(String(cString: PQerrorMessage(conn))))")
        }
        return Int(n)
    }

    // MARK: - Statements

    /// Runs SQL without parameters through the simple protocol (transaction control, scripts of several statements).
    func simple(_ sql: String) throws {
        let conn = try open()
        let result = PGResult(PQexec(conn, sql))
        try check(result, sql)
    }

    /// Runs one statement with parameters; returns its result (rows or the affected count).
    func run(_ sql: String, _ params: [SQLValue]) throws -> PGResult {
        let conn = try open()
        let (name, count) = try statement(sql, conn)
        guard count == params.count else {
            throw StoreError(kind: .misuse, message: "expected \(count) parameters, got \(params.count) for \(Database.excerpt(sql))")
        }
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        defer { buffers.forEach { free($0) } }
        for value in params {
            switch value {
            case .null:
                buffers.append(nil); lengths.append(0); formats.append(0)
            case .int(let v):
                buffers.append(strdup(String(v))); lengths.append(0); formats.append(0)
            case .double(let v):
                let text = v.isNaN ? "NaN" : v.isInfinite ? (v < 0 ? "-Infinity" : "Infinity") : "\(v)"
                buffers.append(strdup(text)); lengths.append(0); formats.append(0)
            case .text(let s):
                guard !s.utf8.contains(0) else {
                    throw StoreError(kind: .misuse, message: "a text parameter contains NUL, which PostgreSQL cannot store (\(Database.excerpt(sql)))")
                }
                buffers.append(strdup(s)); lengths.append(0); formats.append(0)
            case .blob(let bytes):
                let buffer = malloc(max(bytes.count, 1))!.assumingMemoryBound(to: CChar.self)
                bytes.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { memcpy(buffer, base, raw.count) }
                }
                guard let length = Int32(exactly: bytes.count) else {
                    free(buffer)
                    throw StoreError(kind: .misuse, message: "parameter larger than 2 GiB for \(Database.excerpt(sql))")
                }
                buffers.append(buffer); lengths.append(length); formats.append(1)
            }
        }
        let pointers = buffers.map { $0.map { UnsafePointer<CChar>($0) } }
        let raw = pointers.withUnsafeBufferPointer { values in
            lengths.withUnsafeBufferPointer { lengths in
                formats.withUnsafeBufferPointer { formats in
                    PQexecPrepared(conn, name, Int32(params.count), values.baseAddress, lengths.baseAddress, formats.baseAddress, 0)
                }
            }
        }
        let result = PGResult(raw)
        try check(result, sql)
        return result
    }

    private func open() throws -> OpaquePointer {
        guard let conn else { throw StoreError(kind: .misuse, message: "database connection is closed") }
        return conn
    }

    private func statement(_ sql: String, _ conn: OpaquePointer) throws -> (String, Int) {
        if let known = prepared[sql] { return known }
        let (text, count) = PGConnection.numberPlaceholders(sql)
        let name: String
        if prepared.count < PGConnection.maxPrepared {
            nextName += 1
            name = "neo_\(nextName)"
        } else {
            name = ""  // the unnamed statement: replaced by the next one, never cached
        }
        let result = PGResult(PQprepare(conn, name, text, 0, nil))
        try check(result, sql)
        if !name.isEmpty { prepared[sql] = (name, count) }
        return (name, count)
    }

    /// `?` placeholders → `$1…$n`, outside string literals, quoted identifiers and comments.
    static func numberPlaceholders(_ sql: String) -> (String, Int) {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var count = 0
        var quote: Character?
        var lineComment = false, blockComment = false
        var previous: Character = " "
        for c in sql {
            if lineComment {
                if c == "\n" { lineComment = false }
            } else if blockComment {
                if previous == "*" && c == "/" { blockComment = false }
            } else if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "-" && previous == "-" {
                lineComment = true
            } else if c == "*" && previous == "/" {
                blockComment = true
            } else if c == "?" {
                count += 1
                out += "$\(count)"
                previous = c
                continue
            }
            out.append(c)
            previous = c
        }
        return (out, count)
    }

    // MARK: - Errors

    private func check(_ result: PGResult, _ sql: String) throws {
        if let handle = result.handle {
            switch PQresultStatus(handle) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY: return
            default: break
            }
        }
        throw error(result.handle, context: "executing \(Database.excerpt(sql))")
    }

    /// Classifies a failed result by its SQLSTATE; a failure libpq raised itself (no SQLSTATE) on a connection that
    /// is now bad means the server went away.
    private func error(_ result: OpaquePointer?, context: String) -> StoreError {
        let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) }
        var detail = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "M"))) }.map { String(cString: $0) }
            ?? conn.map { PGConnection.clean(String(cString: PQerrorMessage($0))) } ?? "no connection"
        if state?.hasPrefix("22") == true, let colon = detail.range(of: ": ") {
            detail = String(detail[..<colon.lowerBound])  // data exceptions quote the offending value: never a value in a message
        }
        if let constraint = result.flatMap({ PQresultErrorField($0, Int32(UInt8(ascii: "n"))) }).map({ String(cString: $0) }) {
            detail += " (constraint \(constraint))"
        }
        let kind: StoreError.Kind
        switch state {
        case nil:
            kind = isBroken ? .unavailable : .io
        case let s? where s == "40001" || s == "40P01":
            kind = .retry
        case let s? where s.hasPrefix("23"):
            kind = .constraint
        case let s? where s.hasPrefix("08") || s.hasPrefix("57P") || s.hasPrefix("53") || s == "25006":
            kind = .unavailable
        case let s? where s == "55P03" || s == "57014":
            kind = .busy
        case let s? where s.hasPrefix("42") || s.hasPrefix("22") || s.hasPrefix("25") || s.hasPrefix("0A"):
            kind = .misuse
        default:
            kind = .io
        }
        return StoreError(kind: kind, message: "\(detail) (\(context))", sqlState: state)
    }

    /// libpq's own messages end in a newline and may span lines.
    static func clean(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
    }
}

/// A PGresult, cleared when released. Text format: every value arrives as its text form.
final class PGResult {
    let handle: OpaquePointer?
    init(_ handle: OpaquePointer?) { self.handle = handle }
    deinit { if let handle { PQclear(handle) } }

    var rowCount: Int { handle.map { Int(PQntuples($0)) } ?? 0 }
    var columnCount: Int { handle.map { Int(PQnfields($0)) } ?? 0 }
    /// Rows an INSERT/UPDATE/DELETE touched.
    var affected: Int { handle.flatMap { Int(String(cString: PQcmdTuples($0))) } ?? 0 }

    func columnNames() -> [String] {
        guard let handle else { return [] }
        return (0..<PQnfields(handle)).map { String(cString: PQfname(handle, $0)) }
    }

    func isNull(_ row: Int, _ column: Int) -> Bool {
        guard let handle, column < columnCount else { return true }
        return PQgetisnull(handle, Int32(row), Int32(column)) != 0
    }

    /// The value's text bytes, owned by the result; nil when NULL.
    func bytes(_ row: Int, _ column: Int) -> UnsafeRawBufferPointer? {
        guard let handle, !isNull(row, column), let value = PQgetvalue(handle, Int32(row), Int32(column)) else { return nil }
        return UnsafeRawBufferPointer(start: value, count: Int(PQgetlength(handle, Int32(row), Int32(column))))
    }

    func text(_ row: Int, _ column: Int) -> String? {
        bytes(row, column).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The value mapped the way SQLite reports it: integers (and booleans as 0/1), reals, bytea as a blob, else text.
    func value(_ row: Int, _ column: Int) -> SQLValue {
        guard let handle, let text = text(row, column) else { return .null }
        switch PQftype(handle, Int32(column)) {
        case 20, 21, 23, 26:  // int8, int2, int4, oid
            return Int64(text).map(SQLValue.int) ?? .text(text)
        case 700, 701, 1700:  // float4, float8, numeric
            if let i = Int64(text), PQftype(handle, Int32(column)) == 1700 { return .int(i) }
            return Double(text).map(SQLValue.double) ?? .text(text)
        case 16:  // bool
            return .int(text == "t" ? 1 : 0)
        case 17:  // bytea, hex output: \x0a1b…
            return .blob(PGResult.decodeHex(text))
        default:
            return .text(text)
        }
    }

    static func decodeHex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var high: UInt8?
        for c in text.utf8.dropFirst(2) {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            default: continue
            }
            if let h = high { bytes.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return bytes
    }
}

/// The PostgreSQL connections of one Store: grown on demand up to `limit`, each checked out by one thread at a time.
final class PostgresPool {
    private struct State {
        var idle: [Database] = []
        var count = 0
        var isClosed = false
    }
    private let state = Lock(State())
    private let conninfo: String
    private let limit: Int
    /// How long a caller waits for a free connection before the store reports busy.
    private let waitSeconds: Double

    init(conninfo: String, limit: Int, waitSeconds: Double) throws {
        self.conninfo = conninfo
        self.limit = max(1, limit)
        self.waitSeconds = waitSeconds
        // One connection at once, so a bad URL, a refused connection or a wrong password stops start-up.
        let first = try Database(postgres: PGConnection(conninfo: conninfo))
        state.withLock {
            $0.idle.append(first)
            $0.count = 1
        }
    }

    func checkOut() throws -> Database {
        let reused = try state.withLock(waitingUntil: { !$0.idle.isEmpty || $0.count < self.limit || $0.isClosed },
                                        timeout: waitSeconds) { state, ready -> Database? in
            guard !state.isClosed else { throw StoreError(kind: .misuse, message: "store is closed") }
            guard ready else {
                throw StoreError(kind: .busy, message: "no database connection free within \(Int(waitSeconds)) s (pool of \(limit))")
            }
            if let db = state.idle.popLast() { return db }
            state.count += 1
            return nil
        }
        if let reused { return reused }
        do {
            return try Database(postgres: PGConnection(conninfo: conninfo))
        } catch {
            state.withLock { $0.count -= 1 }
            state.notifyAll()
            throw error
        }
    }

    func checkIn(_ db: Database) {
        state.withLock { $0.idle.append(db) }
        state.notifyAll()
    }

    /// Closes every connection, waiting for those in use to come back.
    func close() {
        state.withLock { $0.isClosed = true }
        state.notifyAll()
        state.withLock(waitingUntil: { $0.idle.count >= $0.count }) { state in
            for db in state.idle { db.close() }
            state.idle.removeAll()
            state.count = 0
        }
    }
}

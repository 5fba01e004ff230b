import CShim

/// An error from the store: a coarse kind to branch on, a message for logs, and the SQLite result code or
/// PostgreSQL SQLSTATE.
public struct StoreError: Error, CustomStringConvertible {
    /// What went wrong, coarse enough for callers to branch on (e.g. `.constraint` → 409).
    /// `.retry`: PostgreSQL rolled the transaction back (serialization failure, deadlock); `write` runs it again.
    /// `.unavailable`: the database server is away (shut down, restarting, unreachable); 503 until it is back.
    public enum Kind: Sendable { case busy, constraint, notFound, corrupt, schemaTooNew, migrationFailed, io, misuse, retry, unavailable }

    public let kind: Kind
    /// `sqlite3_errmsg` plus context; never contains bound parameter values.
    public let message: String
    /// The extended SQLite result code, or 0 when the error did not come from SQLite.
    public let sqliteCode: Int32
    /// The PostgreSQL SQLSTATE (`23505`), nil for SQLite and for failures libpq raised itself.
    public let sqlState: String?

    public init(kind: Kind, message: String, sqliteCode: Int32 = 0, sqlState: String? = nil) {
        self.kind = kind
        self.message = message
        self.sqliteCode = sqliteCode
        self.sqlState = sqlState
    }

    public var description: String {
        if let sqlState { return "StoreError.\(kind): \(message) (SQLSTATE \(sqlState))" }
        return sqliteCode == 0 ? "StoreError.\(kind): \(message)" : "StoreError.\(kind): \(message) (sqlite code \(sqliteCode))"
    }

    /// Classifies an SQLite result code; the primary code is the low byte of an extended code.
    static func kind(forSQLiteCode code: Int32) -> Kind {
        switch code & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED: return .busy
        case SQLITE_CONSTRAINT: return .constraint
        case SQLITE_CORRUPT, SQLITE_NOTADB: return .corrupt
        case SQLITE_NOTFOUND: return .notFound
        case SQLITE_MISUSE, SQLITE_RANGE, SQLITE_ERROR: return .misuse
        default: return .io
        }
    }

    /// An error for `code` with the connection's current message and `context` (never parameter values).
    static func sqlite(_ code: Int32, db: OpaquePointer?, context: String) -> StoreError {
        let detail = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
        return StoreError(kind: kind(forSQLiteCode: code), message: "\(detail) (\(context))", sqliteCode: code)
    }
}

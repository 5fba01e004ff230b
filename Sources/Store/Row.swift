import CShim

/// A value stored in or read from the database: one case per SQLite storage class (PostgreSQL values map onto them).
public enum SQLValue: Equatable, Sendable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}

/// One row of a result, columns by index or name.
public struct Row: Sendable {
    /// Column names, shared by every row of one query.
    let columns: [String]
    let values: [SQLValue]

    /// Every column's name and value, in select order.
    public var fields: [(name: String, value: SQLValue)] { Array(zip(columns, values)) }

    /// The value at `index`; `.null` when out of range.
    public subscript(_ index: Int) -> SQLValue {
        values.indices.contains(index) ? values[index] : .null
    }

    /// The value of the first column named `name`; `.null` when absent.
    public subscript(_ name: String) -> SQLValue {
        guard let index = columns.firstIndex(of: name) else { return .null }
        return values[index]
    }

    /// An integer column (an integral REAL also counts).
    public func int(_ name: String) -> Int64? {
        switch self[name] {
        case .int(let v): return v
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    /// A TEXT column.
    public func string(_ name: String) -> String? {
        if case .text(let s) = self[name] { return s }
        return nil
    }

    /// A REAL column (an INTEGER also counts).
    public func double(_ name: String) -> Double? {
        switch self[name] {
        case .double(let d): return d
        case .int(let v): return Double(v)
        default: return nil
        }
    }

    /// A BLOB column.
    public func blob(_ name: String) -> [UInt8]? {
        if case .blob(let b) = self[name] { return b }
        return nil
    }

    /// A boolean stored as INTEGER 0 or 1; nil for anything else.
    public func bool(_ name: String) -> Bool? {
        switch self[name] {
        case .int(0): return false
        case .int(1): return true
        default: return nil
        }
    }
}

/// Zero-copy access to the current row inside `forEachRow` (valid only during the callback): a SQLite statement
/// positioned on a row, or one row of a PostgreSQL result (text values, converted here).
public struct RowCursor {
    let statement: OpaquePointer?
    let result: PGResult?
    let row: Int

    init(statement: OpaquePointer) {
        self.statement = statement
        result = nil
        row = 0
    }

    init(result: PGResult, row: Int) {
        statement = nil
        self.result = result
        self.row = row
    }

    /// The column as an integer (0 when NULL, SQLite's conversion otherwise).
    public func int(_ index: Int) -> Int64 {
        if let statement { return sqlite3_column_int64(statement, Int32(index)) }
        guard let text = result?.text(row, index) else { return 0 }
        if text == "t" { return 1 }
        return Int64(text) ?? Double(text).map { Int64($0) } ?? 0
    }

    /// The column as a double (0 when NULL).
    public func double(_ index: Int) -> Double {
        if let statement { return sqlite3_column_double(statement, Int32(index)) }
        return result?.text(row, index).flatMap(Double.init) ?? 0
    }

    /// Whether the column is NULL.
    public func isNull(_ index: Int) -> Bool {
        if let statement { return sqlite3_column_type(statement, Int32(index)) == SQLITE_NULL }
        return result?.isNull(row, index) ?? true
    }

    /// The column as a String; nil when NULL.
    public func string(_ index: Int) -> String? {
        textBytes(index).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Raw UTF-8 bytes of a text column appended to `out` without creating a String (for fast JSON output).
    public func appendText(_ index: Int, to out: inout [UInt8]) {
        if let bytes = textBytes(index) { out.append(contentsOf: bytes) }
    }

    /// The column's UTF-8 bytes, owned by SQLite (or the PostgreSQL result) until the cursor moves; nil when NULL.
    public func textBytes(_ index: Int) -> UnsafeRawBufferPointer? {
        guard let statement else { return result?.bytes(row, index) }
        let column = Int32(index)
        guard sqlite3_column_type(statement, column) != SQLITE_NULL else { return nil }
        // column_text must come before column_bytes: it performs the conversion whose size bytes reports.
        guard let text = sqlite3_column_text(statement, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column)))
    }
}

import Store

/// The SQL of one newest-first page, shared by every Records type: the keyset clause after a cursor,
/// and a list query built filter by filter (always bound parameters).
extension Page {
    /// SQL fragment and parameters selecting rows after the cursor; column names are fixed by the caller.
    /// Lists are newest first; `ascending` is for chronological sub-lists such as execution steps.
    public func keysetClause(createdAt: String = "created_at", id: String = "id", ascending: Bool = false) -> (String, [SQLValue]) {
        guard let a = after else { return ("", []) }
        let idValue: SQLValue = Int64(a.id).map { .int($0) } ?? .text(a.id)
        let op = ascending ? ">" : "<"
        return (" AND (\(createdAt) \(op) ? OR (\(createdAt) = ? AND \(id) \(op) ?))", [.text(a.createdAt), .text(a.createdAt), idValue])
    }
}

/// A list endpoint's query: a tenant-scoped base, filters added one by one (always bound
/// parameters), then one newest-first page.
struct ListQuery {
    private(set) var sql: String
    private(set) var params: [SQLValue]

    init(_ base: String, _ params: [SQLValue]) {
        sql = base
        self.params = params
    }

    mutating func filter(_ clause: String, _ values: [SQLValue]) {
        sql += " AND " + clause
        params += values
    }

    /// `column IN (…)` when `values` were given.
    mutating func oneOf(_ column: String, _ values: [String]?) {
        guard let values, !values.isEmpty else { return }
        filter("\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ",")))", values.map { .text($0) })
    }

    /// A case-insensitive substring search over `columns` (the `q` parameter), LIKE wildcards escaped. Both sides
    /// lowered: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
    mutating func search(_ columns: [String], _ text: String?) throws {
        guard let text, !text.isEmpty else { return }
        guard text.count <= 200 else { throw APIError.badRequest("q must be at most 200 characters") }
        let pattern = "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
        filter("(" + columns.map { "LOWER(\($0)) LIKE LOWER(?) ESCAPE '\\'" }.joined(separator: " OR ") + ")",
               Array(repeating: .text(pattern), count: columns.count))
    }

    /// Neo's `created_after` / `created_before` window.
    /// `julianday(column) op julianday(?)`: a bound on a timestamp column in the form an index on
    /// `julianday(column)` holds (SQLite's executions_by_agent, migration 0021), which SQLite reads only for that form.
    static func julianDay(_ column: String, _ op: String) -> String { "julianday(\(column)) \(op) julianday(?)" }

    /// `byJulianDay`: also bounds `julianday(created_at)`, for an index on it (see `paged`).
    mutating func createdWindow(after: String?, before: String?, byJulianDay: Bool = false) {
        if let after {
            filter("created_at > ?", [.text(after)])
            if byJulianDay { filter(Self.julianDay("created_at", ">="), [.text(after)]) }
        }
        if let before {
            filter("created_at < ?", [.text(before)])
            if byJulianDay { filter(Self.julianDay("created_at", "<="), [.text(before)]) }
        }
    }

    /// The SQL and parameters of one page (`size + 1` rows, for `Page.finish`), newest first. `byJulianDay` (SQLite, for
    /// an index on `julianday(created_at)` such as executions_by_agent): ordered by that first and bounded by the
    /// cursor's, which is the same order (julianday is monotonic in our timestamps) in a form SQLite can read from it.
    func paged(_ page: Page, byJulianDay: Bool = false) -> (String, [SQLValue]) {
        var (clause, keyset) = page.keysetClause()
        if byJulianDay, let after = page.after {
            clause += " AND " + Self.julianDay("created_at", "<=")
            keyset.append(.text(after.createdAt))
        }
        let order = byJulianDay ? " ORDER BY julianday(created_at) DESC, created_at DESC, id DESC LIMIT ?" : " ORDER BY created_at DESC, id DESC LIMIT ?"
        return (sql + clause + order, params + keyset + [.int(Int64(page.size + 1))])
    }
}

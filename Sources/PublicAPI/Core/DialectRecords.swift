import Store

/// SQL fragments that differ between SQLite and PostgreSQL, written once for every Records file.
extension Database {
    /// The JSON value at `path` (`$.a.b`) of a JSON text column: SQLite's json_extract, jsonb's `#>>` on
    /// PostgreSQL (`number`: cast to a double there; SQLite's json_extract already answers numbers).
    func jsonValue(_ column: String, _ path: String, number: Bool = false) -> String {
        guard dialect == .postgres else { return "json_extract(\(column), '\(path)')" }
        let keys = path.dropFirst(2).split(separator: ".").map { "'\($0)'" }
        let text = "(CAST(\(column) AS jsonb) #>> ARRAY[\(keys.joined(separator: ", "))])"
        return number ? "CAST(\(text) AS DOUBLE PRECISION)" : text
    }

    /// Seconds from the ISO-8601 text timestamp `from` to `to` (columns or `?`).
    func secondsBetween(_ from: String, _ to: String) -> String {
        dialect == .postgres
            ? "CAST(EXTRACT(EPOCH FROM CAST(\(to) AS timestamptz) - CAST(\(from) AS timestamptz)) AS DOUBLE PRECISION)"
            : "(julianday(\(to)) - julianday(\(from))) * 86400.0"
    }

    /// SQLite's planner hint to read `table` through `index` (` INDEXED BY index`); nothing on PostgreSQL, whose
    /// planner picks a partial index itself.
    func indexedBy(_ index: String) -> String { dialect == .sqlite ? " INDEXED BY \(index)" : "" }

    /// Whether the JSON array text `column` has an object element whose `key` equals the next `?`.
    func jsonArrayHasElement(_ column: String, key: String) -> String {
        dialect == .postgres
            ? "EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(\(column) AS jsonb)) AS e(value) WHERE e.value->>'\(key)' = ?)"
            : "EXISTS (SELECT 1 FROM json_each(\(column)) WHERE json_extract(value, '$.\(key)') = ?)"
    }

    /// Whether the JSON array text in `column` has an element equal to the next `?` (a number or a string):
    /// SQLite's json_each, jsonb_array_elements_text on PostgreSQL.
    func jsonArrayHas(_ column: String) -> String {
        dialect == .postgres
            ? "EXISTS (SELECT 1 FROM jsonb_array_elements_text(CAST(\(column) AS jsonb)) AS e(value) WHERE e.value = ?)"
            : "EXISTS (SELECT 1 FROM json_each(\(column)) WHERE value = ?)"
    }
}

/// Run leases (design §11): times on the database's clock, so nodes whose clocks differ agree on expiry; the
/// row locks PostgreSQL needs where SQLite's single writer already serializes.
extension Database {
    /// The database clock now, as a Timestamp-formatted text (`2026-12-01T14:00:00.123Z`, sorts as time).
    var clockNow: String {
        dialect == .postgres
            ? #"to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#
            : "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    }

    /// The database clock `seconds` (a `?` bound to a number) from now, formatted as `clockNow`.
    func clockAfter(_ seconds: String) -> String {
        dialect == .postgres
            ? #"to_char((clock_timestamp() + CAST("# + seconds + #" AS DOUBLE PRECISION) * INTERVAL '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#
            : "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || CAST(\(seconds) AS TEXT) || ' seconds')"
    }

    /// Appended to a SELECT of one execution row inside a write: a shared row lock on PostgreSQL, so a reaper or a
    /// cancel changing the row waits for this transaction (SQLite's single writer already excludes them).
    var forShare: String { dialect == .postgres ? " FOR SHARE" : "" }

    /// Appended to a SELECT of rows to take: each row locked, rows another transaction holds skipped.
    var forUpdateSkipLocked: String { dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : "" }

    /// Wakes the nodes listening for queued runs when the transaction commits (PostgreSQL; SQLite has one node).
    func notifyRunsQueued() throws {
        guard dialect == .postgres else { return }
        try execute("SELECT pg_notify('\(Database.runsChannel)', '')")
    }

    /// The LISTEN/NOTIFY channel of queued runs.
    static let runsChannel = "neo_runs"
}

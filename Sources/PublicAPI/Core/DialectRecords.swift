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

    /// Whether the JSON array text in `column` has an element equal to the next `?` (a number or a string):
    /// SQLite's json_each, jsonb_array_elements_text on PostgreSQL.
    func jsonArrayHas(_ column: String) -> String {
        dialect == .postgres
            ? "EXISTS (SELECT 1 FROM jsonb_array_elements_text(CAST(\(column) AS jsonb)) AS e(value) WHERE e.value = ?)"
            : "EXISTS (SELECT 1 FROM json_each(\(column)) WHERE value = ?)"
    }
}

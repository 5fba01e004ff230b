import Store

/// The shared rate-limit rows (NEO_RATE_LIMIT_MODE=shared, PostgreSQL): one per (tenant, budget) holding the sliding
/// window's two fixed-window counts.
enum RateLimitRecords {
    struct Row {
        let windowStart: Int64
        let thisCount: Int
        let prevCount: Int
        /// Unix seconds on the database's clock when the statement ran.
        let checkedAt: Double
        let allowed: Bool
    }

    /// The rolled window's previous count, this window's count, and the weighted sum, all from the row as it was
    /// (in `DO UPDATE SET`, `r.` is the old row and `EXCLUDED.` the values computed for this request).
    private static let previous = "(CASE WHEN r.window_start = EXCLUDED.window_start THEN r.prev_count WHEN r.window_start = EXCLUDED.window_start - ? THEN r.this_count ELSE 0 END)"
    private static let current = "(CASE WHEN r.window_start = EXCLUDED.window_start THEN r.this_count ELSE 0 END)"
    private static let fits = "(\(previous) * (1 - (EXCLUDED.checked_at - EXCLUDED.window_start) / ?) + \(current) + 1 <= ?)"

    /// Counts one request when it fits (refused ones are not counted, as in memory): one INSERT … ON CONFLICT DO
    /// UPDATE … RETURNING on the database clock (`clock_timestamp()`), atomic under the row lock, so concurrent
    /// requests on every node queue on the row and each sees the count the one before it left.
    static func take(tenant: Int64, budget: String, limit: Int, window: Int64, _ db: Database) throws -> Row {
        let sql = """
            INSERT INTO rate_limit_windows AS r (tenant_id, budget, window_start, this_count, prev_count, checked_at, allowed)
            SELECT ?, ?, CAST(floor(n.t / ?) * ? AS BIGINT), 1, 0, n.t, TRUE
              FROM (SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION) AS t) n
            ON CONFLICT (tenant_id, budget) DO UPDATE SET
              window_start = EXCLUDED.window_start,
              prev_count = \(previous),
              this_count = \(current) + CASE WHEN \(fits) THEN 1 ELSE 0 END,
              allowed = \(fits),
              checked_at = EXCLUDED.checked_at
            RETURNING window_start, this_count, prev_count, checked_at, allowed
            """
        let w = SQLValue.int(window), l = SQLValue.int(Int64(limit))
        // Parameters in the order their `?` appear: insert values, prev_count, this_count's fits, allowed's fits.
        let params: [SQLValue] = [.int(tenant), .text(budget), w, w, w, w, w, l, w, w, l]
        guard let row = try db.queryOne(sql, params), let start = row.int("window_start"), let this = row.int("this_count"),
              let prev = row.int("prev_count"), let at = row.double("checked_at") else {
            throw StoreError(kind: .io, message: "the rate-limit statement returned no row")
        }
        return Row(windowStart: start, thisCount: Int(this), prevCount: Int(prev), checkedAt: at, allowed: row.int("allowed") == 1)
    }
}

/// One forward-only schema change: `migrations/NNNN_name.sql` at the repo root, embedded by
/// `scripts/embed-migrations.sh` into `EmbeddedMigrations.swift`.
public struct Migration: Sendable {
    /// The NNNN prefix of the file name; migrations apply in increasing order.
    public let version: Int
    /// The file name between the version and `.sql`, e.g. `init`.
    public let name: String
    /// The SQL script; runs inside the migration's transaction, so it must not BEGIN or COMMIT itself.
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

import Store

/// The health probe's one query: does the database answer.
enum HealthRecords {
    static func ping(_ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 AS ok") != nil
    }
}

import Foundation
import NeoJSON
import Store

/// SQL for scheduled work. Reads and API writes name the tenant; the scheduler's writes go by id, and every
/// status change names the status it leaves, so a cancel and a fire cannot both win.
enum ScheduledWorkRecords {
    static let columns = "id, tenant_id, workflow_id, workflow_name, scheduled_for, ticket_id, ticket_number, additional_custom_instructions, client_id, created_by, status, execution_id, execution_message, executed_at, created_at, updated_at"

    /// What `POST /scheduled-work` stores.
    struct Draft {
        var tenantId: Int64
        var workflowId: Int64
        var workflowName: String
        var scheduledFor: String
        var ticketId: String?
        var instructions: String?
        var createdBy: String
    }

    /// Inserts a PENDING entry; the ticket number is the ticket id (no PSA is attached, as for executions).
    static func insert(_ draft: Draft, now: String, _ db: Database) throws -> ScheduledWork {
        let id = try db.insertReturningID("""
            INSERT INTO scheduled_work (tenant_id, workflow_id, workflow_name, scheduled_for, ticket_id, ticket_number,
              additional_custom_instructions, created_by, status, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, \(ScheduledWorkStatus.pending.sql), ?, ?)
            """, [.int(draft.tenantId), .int(draft.workflowId), .text(draft.workflowName), .text(draft.scheduledFor),
                  draft.ticketId.map { .text($0) } ?? .null, draft.ticketId.map { .text($0) } ?? .null,
                  draft.instructions.map { .text($0) } ?? .null, .text(draft.createdBy), .text(now), .text(now)])
        guard let stored = try find(id, tenantId: draft.tenantId, db) else { throw APIError.internalError() }
        return stored
    }

    static func find(_ id: Int64, tenantId: Int64, _ db: Database) throws -> ScheduledWork? {
        try db.queryOne("SELECT \(columns) FROM scheduled_work WHERE id = ? AND tenant_id = ?", [.int(id), .int(tenantId)]).map(ScheduledWork.init)
    }

    /// The list filters of `GET /scheduled-work`.
    struct Filter {
        var statuses: [String]?
        var ticketId: String?
        /// Partial match on ticket_id or ticket_number.
        var search: String?
    }

    /// One page (1-based, `size` rows), newest first; the flag says whether another page follows.
    static func list(tenantId: Int64, _ filter: Filter, page: Int, size: Int, _ db: Database) throws -> ([ScheduledWork], Bool) {
        var query = ListQuery("SELECT \(columns) FROM scheduled_work WHERE tenant_id = ?", [.int(tenantId)])
        query.oneOf("status", filter.statuses)
        if let ticket = filter.ticketId { query.filter("ticket_id = ?", [.text(ticket)]) }
        try query.search(["ticket_id", "ticket_number"], filter.search)
        let rows = try db.query(query.sql + " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                                query.params + [.int(Int64(size + 1)), .int(Int64(page - 1) * Int64(size))])
        return (rows.prefix(size).map(ScheduledWork.init), rows.count > size)
    }

    /// PENDING → CANCELLED; false when the entry was not pending any more.
    static func cancel(_ id: Int64, tenantId: Int64, now: String, _ db: Database) throws -> Bool {
        try db.execute("""
            UPDATE scheduled_work SET status = \(ScheduledWorkStatus.cancelled.sql), execution_message = 'cancelled before it ran', updated_at = ?
            WHERE id = ? AND tenant_id = ? AND status = \(ScheduledWorkStatus.pending.sql)
            """, [.text(now), .int(id), .int(tenantId)]) == 1
    }

    // MARK: the scheduler

    /// Up to `limit` PENDING entries due at `now`, earliest first.
    static func due(at now: String, limit: Int, _ db: Database) throws -> [ScheduledWork] {
        try db.query("""
            SELECT \(columns) FROM scheduled_work WHERE status = \(ScheduledWorkStatus.pending.sql) AND scheduled_for <= ?
            ORDER BY scheduled_for, id LIMIT ?
            """, [.text(now), .int(Int64(limit))]).map(ScheduledWork.init)
    }

    /// The earliest PENDING entry's scheduled_for.
    static func earliestDue(_ db: Database) throws -> String? {
        try db.queryOne("SELECT MIN(scheduled_for) AS next FROM scheduled_work WHERE status = \(ScheduledWorkStatus.pending.sql)")?.string("next")
    }

    /// PENDING → PROCESSING as `executionId` (queued by the caller in the same transaction).
    static func started(_ id: Int64, executionId: String, executedAt: String, now: String, _ db: Database) throws {
        try db.execute("""
            UPDATE scheduled_work SET status = \(ScheduledWorkStatus.processing.sql), execution_id = ?, executed_at = ?,
              execution_message = ?, updated_at = ? WHERE id = ? AND status = \(ScheduledWorkStatus.pending.sql)
            """, [.text(executionId), .text(executedAt), .text("execution \(executionId) queued"), .text(now), .int(id)])
    }

    /// PENDING → FAILED without a run (the agent cannot run, or the slot was missed).
    static func refused(_ id: Int64, message: String, executedAt: String, now: String, _ db: Database) throws {
        try db.execute("""
            UPDATE scheduled_work SET status = \(ScheduledWorkStatus.failed.sql), execution_message = ?, executed_at = ?, updated_at = ?
            WHERE id = ? AND status = \(ScheduledWorkStatus.pending.sql)
            """, [.text(message), .text(executedAt), .text(now), .int(id)])
    }

    /// PROCESSING entries whose execution has ended: the entry's id, how the run ended and its message. CROSS JOIN
    /// fixes the join order on SQLite: the few running entries drive, never the executions table's finished rows
    /// (PostgreSQL's planner orders the join itself and has no CROSS JOIN … ON).
    static func endedRuns(limit: Int, _ db: Database) throws -> [(id: Int64, status: ExecutionStatus, message: String?)] {
        try db.query("""
            SELECT w.id AS id, e.status AS status, COALESCE(e.error, e.message_for_dashboard) AS message
            FROM scheduled_work w \(db.dialect == .sqlite ? "CROSS JOIN" : "JOIN") executions e ON e.id = w.execution_id
            WHERE w.status = \(ScheduledWorkStatus.processing.sql)
              AND e.status IN (\(ExecutionStatus.succeeded.sql), \(ExecutionStatus.failed.sql), \(ExecutionStatus.cancelled.sql))
            LIMIT ?
            """, [.int(Int64(limit))]).compactMap { row in
            guard let id = row.int("id"), let status = row.string("status").flatMap(ExecutionStatus.init) else { return nil }
            return (id, status, row.string("message"))
        }
    }

    /// Whether some PROCESSING entry's execution has ended.
    static func hasEndedRuns(_ db: Database) throws -> Bool {
        try !endedRuns(limit: 1, db).isEmpty
    }

    /// PROCESSING → COMPLETED or FAILED, following the execution.
    static func ended(_ id: Int64, as status: ScheduledWorkStatus, message: String, now: String, _ db: Database) throws {
        try db.execute("""
            UPDATE scheduled_work SET status = ?, execution_message = ?, updated_at = ?
            WHERE id = ? AND status = \(ScheduledWorkStatus.processing.sql)
            """, [.text(status.rawValue), .text(message), .text(now), .int(id)])
    }
}

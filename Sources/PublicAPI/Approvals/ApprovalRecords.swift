import Basics
import Foundation
import NeoJSON
import Store

/// SQL for TIL requests: the one place they are inserted, read and decided. Every query names its tenant.
enum ApprovalRecords {
    static let columns = "id, tenant_id, agent_id, agent_name, kind, status, comment, requested_for, approvers, execution_id, step_seq, session_id, ticket_id, ticket_number, base_version, requested_by_key_id, decided_by, note, created_at, updated_at, decided_at, expires_at"

    /// Stores a pending request; returns it as stored. Key id 0 is an AGENTIC run's in-process principal,
    /// which has no key row.
    static func insert(_ draft: TilRequestDraft, now: Date, _ db: Database) throws -> TilRequest {
        let stamp = Timestamp.format(now)
        let id = try db.insertReturningID("""
            INSERT INTO til_requests (tenant_id, agent_id, agent_name, kind, status, comment, requested_for, payload, approvers,
              execution_id, step_seq, ticket_id, base_version, requested_by_key_id, created_at, updated_at, expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.int(draft.tenantId), draft.agentId.map { .int($0) } ?? .null, draft.agentName.map { .text($0) } ?? .null,
                  .text(draft.kind.rawValue), .text(TilStatus.pending.rawValue), .text(draft.comment),
                  .text(draft.requestedFor.serializedString()), .text(draft.payload),
                  draft.executionId.map { .text($0) } ?? .null, draft.stepSeq.map { .int($0) } ?? .null,
                  draft.ticketId.map { .text($0) } ?? .null, draft.baseVersion.map { .int($0) } ?? .null,
                  draft.requestedByKeyId.flatMap { $0 > 0 ? SQLValue.int($0) : nil } ?? .null, .text(stamp), .text(stamp),
                  .text(Timestamp.format(now.addingTimeInterval(tilRequestLifetime)))])
        return try find(id, tenantId: draft.tenantId, db)!
    }

    /// One request with its payload (what approval applies).
    static func find(_ id: Int64, tenantId: Int64, _ db: Database) throws -> TilRequest? {
        try db.queryOne("SELECT \(columns), payload FROM til_requests WHERE id = ? AND tenant_id = ?", [.int(id), .int(tenantId)])
            .map(TilRequest.init)
    }

    /// The list filters of `GET /til-requests`.
    struct Filter {
        var statuses: [String]?
        var agentId: Int64?
        var approver: String?
        var search: String?
        var createdAfter: String?
        var createdBefore: String?
    }

    static func list(tenantId: Int64, _ filter: Filter, page: Page, _ db: Database) throws -> ([TilRequest], PageInfo) {
        var query = ListQuery("SELECT \(columns) FROM til_requests WHERE tenant_id = ?", [.int(tenantId)])
        query.oneOf("status", filter.statuses)
        if let agent = filter.agentId { query.filter("agent_id = ?", [.int(agent)]) }
        if let approver = filter.approver {
            query.filter("(\(db.jsonArrayHasElement("approvers", key: "user_id")) OR \(db.jsonValue("decided_by", "$.id")) = ?)",
                         [.text(approver), .text(approver)])
        }
        try query.search(["comment", "agent_name"], filter.search)
        query.createdWindow(after: filter.createdAfter, before: filter.createdBefore)
        let (sql, params) = query.paged(page)
        let (rows, info) = page.finish(try db.query(sql, params)) { ($0.string("created_at")!, String($0.int("id")!)) }
        return (rows.map(TilRequest.init), info)
    }

    /// The requests one execution raised, newest first.
    static func list(executionId: String, tenantId: Int64, page: Page, _ db: Database) throws -> ([TilRequest], PageInfo) {
        let (clause, params) = page.keysetClause()
        let rows = try db.query("SELECT \(columns) FROM til_requests WHERE tenant_id = ? AND execution_id = ?\(clause) ORDER BY created_at DESC, id DESC LIMIT ?",
                                [.int(tenantId), .text(executionId)] + params + [.int(Int64(page.size + 1))])
        let (items, info) = page.finish(rows) { ($0.string("created_at")!, String($0.int("id")!)) }
        return (items.map(TilRequest.init), info)
    }

    /// Records a decision on a still-pending request; false when someone decided it first.
    static func decide(_ id: Int64, tenantId: Int64, as status: TilStatus, decidedBy: JSON, note: String?, now: String,
                       _ db: Database) throws -> Bool {
        try db.execute("""
            UPDATE til_requests SET status = ?, decided_by = ?, note = ?, decided_at = ?, updated_at = ?
            WHERE id = ? AND tenant_id = ? AND status = \(TilStatus.pending.sql)
            """, [.text(status.rawValue), .text(decidedBy.serializedString()), note.map { .text($0) } ?? .null,
                  .text(now), .text(now), .int(id), .int(tenantId)]) == 1
    }

    /// Pending requests of a cancelled execution expire with it.
    static func expire(forExecution executionId: String, note: String, now: String, _ db: Database) throws {
        try db.execute("UPDATE til_requests SET status = \(TilStatus.expired.sql), note = ?, updated_at = ? WHERE execution_id = ? AND status = \(TilStatus.pending.sql)",
                       [.text(note), .text(now), .text(executionId)])
    }

    static func hasOverdue(now: String, _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM til_requests WHERE status = \(TilStatus.pending.sql) AND expires_at <= ? LIMIT 1", [.text(now)]) != nil
    }

    /// Pending requests past their expiry become expired, and the runs waiting on them fail (an AGENTIC
    /// run's loop state goes with it).
    static func expireOverdue(now: String, _ db: Database) throws {
        try db.execute("""
            DELETE FROM agent_loops WHERE execution_id IN (SELECT execution_id FROM til_requests WHERE status = \(TilStatus.pending.sql) AND expires_at <= ?)
            """, [.text(now)])
        try db.execute("""
            UPDATE executions SET status = \(ExecutionStatus.failed.sql), error = 'approval request expired', finished_at = ?, updated_at = ?
            WHERE status = \(ExecutionStatus.waitingApproval.sql) AND id IN (SELECT execution_id FROM til_requests WHERE status = \(TilStatus.pending.sql) AND expires_at <= ?)
            """, [.text(now), .text(now), .text(now)])
        try db.execute("UPDATE til_requests SET status = \(TilStatus.expired.sql), updated_at = ? WHERE status = \(TilStatus.pending.sql) AND expires_at <= ?",
                       [.text(now), .text(now)])
    }
}

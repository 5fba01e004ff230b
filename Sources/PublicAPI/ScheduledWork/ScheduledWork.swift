import Foundation
import NeoJSON
import Store

/// Neo's scheduled-work lifecycle: `PENDING → PROCESSING → COMPLETED | FAILED`, or `CANCELLED` while pending.
enum ScheduledWorkStatus: String, CaseIterable {
    case pending = "PENDING", processing = "PROCESSING", completed = "COMPLETED", failed = "FAILED", cancelled = "CANCELLED"

    static let names = allCases.map(\.rawValue)
    /// The value as an SQL literal (a constant, never input).
    var sql: String { "'\(rawValue)'" }
}

/// One scheduled_work row: Neo's `PublicScheduledWork`, a one-off future run of an agent ("workflow").
struct ScheduledWork {
    let id: Int64
    let tenantId: Int64
    let workflowId: Int64
    let workflowName: String
    let scheduledFor: String
    let ticketId: String?
    let ticketNumber: String?
    let additionalCustomInstructions: String?
    let clientId: String?
    let createdBy: String?
    let status: ScheduledWorkStatus
    /// Neo's `execution_temporal_run_id`: the execution it started.
    let executionId: String?
    let executionMessage: String?
    let executedAt: String?
    let createdAt: String
    let updatedAt: String

    init(row: Row) {
        id = row.int("id") ?? 0
        tenantId = row.int("tenant_id") ?? 0
        workflowId = row.int("workflow_id") ?? 0
        workflowName = row.string("workflow_name") ?? ""
        scheduledFor = row.string("scheduled_for") ?? ""
        ticketId = row.string("ticket_id")
        ticketNumber = row.string("ticket_number")
        additionalCustomInstructions = row.string("additional_custom_instructions")
        clientId = row.string("client_id")
        createdBy = row.string("created_by")
        status = ScheduledWorkStatus(rawValue: row.string("status") ?? "") ?? .failed
        executionId = row.string("execution_id")
        executionMessage = row.string("execution_message")
        executedAt = row.string("executed_at")
        createdAt = row.string("created_at") ?? ""
        updatedAt = row.string("updated_at") ?? ""
    }

    /// A would-be row (test mode: validated, not stored): no id yet.
    init(unsaved draft: ScheduledWorkRecords.Draft, now: String) {
        id = 0
        tenantId = draft.tenantId
        workflowId = draft.workflowId
        workflowName = draft.workflowName
        scheduledFor = draft.scheduledFor
        ticketId = draft.ticketId
        ticketNumber = draft.ticketId
        additionalCustomInstructions = draft.instructions
        clientId = nil
        createdBy = draft.createdBy
        status = .pending
        executionId = nil
        executionMessage = nil
        executedAt = nil
        createdAt = now
        updatedAt = now
    }

    var json: JSON {
        func text(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return .object(JSONObject([
            ("id", id == 0 ? .null : .int(id)), ("workflow_id", .int(workflowId)), ("workflow_name", .string(workflowName)),
            ("scheduled_for", .string(scheduledFor)), ("ticket_id", text(ticketId)), ("ticket_number", text(ticketNumber)),
            ("additional_custom_instructions", text(additionalCustomInstructions)), ("client_id", text(clientId)),
            ("created_by", text(createdBy)), ("created_at", .string(createdAt)), ("updated_at", .string(updatedAt)),
            ("executed_at", text(executedAt)), ("execution_message", text(executionMessage)),
            ("execution_temporal_run_id", text(executionId)), ("status", .string(status.rawValue)),
        ]))
    }
}

import Basics
import Foundation
import NeoJSON
import Store

/// An execution's lifecycle: `queued → running → (waiting_approval →) succeeded | failed | cancelled`.
enum ExecutionStatus: String, CaseIterable {
    case queued, running, succeeded, failed, cancelled
    case waitingApproval = "waiting_approval"

    /// Still going: cancel applies, retry does not.
    static let active: [ExecutionStatus] = [.queued, .running, .waitingApproval]
    /// Over and unsuccessful: retry applies.
    static let retryable: [ExecutionStatus] = [.failed, .cancelled]
    /// The values as the list filter and the CHECK constraint spell them.
    static let names = allCases.map(\.rawValue)

    /// The value as an SQL literal (a constant, never input).
    var sql: String { "'\(rawValue)'" }
    static func sql(_ statuses: [ExecutionStatus]) -> String { "(" + statuses.map(\.sql).joined(separator: ", ") + ")" }
}

/// What started an execution.
enum ExecutionKind: String {
    /// An agent's pipeline (run-now, and later schedules and callbacks).
    case agentRun = "agent_run"
    /// A direct `POST /external-apis/{name}/invoke`.
    case externalAPIInvoke = "external_api_invoke"
}

/// Neo's step types (design §5).
enum StepType: String, CaseIterable {
    case toolCall = "TOOL_CALL", toolResult = "TOOL_RESULT", thought = "THOUGHT", finalMessage = "FINAL_MESSAGE", error = "ERROR"
    static let names = allCases.map(\.rawValue)
}

/// One execution row (Neo's `Execution` plus our fields).
struct Execution {
    let id: String
    let tenantId: Int64
    let agentId: Int64?
    let agentName: String?
    let kind: ExecutionKind
    let status: ExecutionStatus
    let entityId: String?
    let entityNumber: String?
    let additionalCustomInstructions: String?
    let messageForDashboard: String?
    let error: String?
    /// The run's input as stored (a JSON object's text).
    let input: String?
    let testMode: Bool
    let retryOf: String?
    let createdAt: String
    let updatedAt: String
    let startedAt: String?
    let finishedAt: String?
    let secondsSpent: Double?
    /// What started it (design §9): `{"type": "RUN_NOW"}`, `{"type": "SCHEDULED", "scheduled_for"}`, …; null for invokes.
    let trigger: JSON
    /// The runner's position: the action to run next, and the one whose approval was granted.
    let nextAction: Int
    let approvedAction: Int?
    /// Model calls and tokens (AGENTIC runs; 0 for the rest).
    let llmCalls: Int64
    let promptTokens: Int64
    let completionTokens: Int64
    /// The trace of the request that started the run, when one did, and the tracestate it brought.
    let traceId: String?
    let traceState: String?
    /// Claims so far (0: never claimed), and the node holding the current one (design §11).
    let attempt: Int64
    let leaseOwner: String?

    init(row: Row) {
        id = row.string("id") ?? ""
        tenantId = row.int("tenant_id") ?? 0
        agentId = row.int("agent_id")
        agentName = row.string("agent_name")
        kind = ExecutionKind(rawValue: row.string("kind") ?? "") ?? .agentRun
        status = ExecutionStatus(rawValue: row.string("status") ?? "") ?? .failed
        entityId = row.string("entity_id")
        entityNumber = row.string("entity_number")
        additionalCustomInstructions = row.string("additional_custom_instructions")
        messageForDashboard = row.string("message_for_dashboard")
        error = row.string("error")
        input = row.string("input")
        testMode = row.bool("test_mode") ?? false
        retryOf = row.string("retry_of")
        createdAt = row.string("created_at") ?? ""
        updatedAt = row.string("updated_at") ?? ""
        startedAt = row.string("started_at")
        finishedAt = row.string("finished_at")
        secondsSpent = row.double("seconds_spent")
        let stored = row.string("trigger").flatMap { try? JSON.parse($0) }
        // Runs made before triggers were recorded could only start by run-now.
        trigger = stored ?? (kind == .agentRun ? .object(JSONObject([("type", .string("RUN_NOW"))])) : .null)
        nextAction = Int(row.int("next_action") ?? 0)
        approvedAction = row.int("approved_action").map(Int.init)
        llmCalls = row.int("llm_calls") ?? 0
        promptTokens = row.int("prompt_tokens") ?? 0
        completionTokens = row.int("completion_tokens") ?? 0
        traceId = row.string("trace_id")
        traceState = row.string("trace_state")
        attempt = row.int("attempt") ?? 0
        leaseOwner = row.string("lease_owner")
    }

    /// The claim this row records: what the run's writes are fenced by.
    var lease: RunLease { RunLease(executionId: id, attempt: attempt, node: leaseOwner ?? "") }

    /// A span for this run's work: in the starting request's trace, else in a new one.
    func runSpan() -> TraceContext {
        traceId.flatMap { TraceContext.span(inTrace: $0, state: traceState) } ?? TraceContext.newRoot()
    }

    /// The run's input object (`{{input.field}}` reads it); empty when none was given.
    var inputObject: JSONObject { input.flatMap { try? JSON.parse($0) }?.objectValue ?? JSONObject() }

    var json: JSON {
        func text(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return .object(JSONObject([
            ("execution_id", .string(id)), ("agent_id", agentId.map { .int($0) } ?? .null), ("agent_name", text(agentName)),
            ("entity_id", text(entityId)), ("entity_number", text(entityNumber)),
            ("additional_custom_instructions", text(additionalCustomInstructions)),
            ("message_for_dashboard", text(messageForDashboard)), ("error", text(error)),
            ("seconds_spent", secondsSpent.map { .double(($0 * 1000).rounded() / 1000) } ?? .null),
            ("created_at", .string(createdAt)), ("updated_at", .string(updatedAt)), ("status", .string(status.rawValue)),
            ("kind", .string(kind.rawValue)), ("started_at", text(startedAt)), ("finished_at", text(finishedAt)),
            ("test_mode", .bool(testMode)), ("input", input.flatMap { try? JSON.parse($0) } ?? .null), ("retry_of", text(retryOf)), ("trigger", trigger), ("attempt", .int(attempt)),
            ("usage", .object(JSONObject([("llm_calls", .int(llmCalls)), ("prompt_tokens", .int(promptTokens)),
                                          ("completion_tokens", .int(completionTokens))]))),
        ]))
    }
}

/// One entry of an execution's event history.
struct ExecutionStep {
    let id: Int64
    let type: String
    let createdAt: String
    let message: String?
    let isError: Bool
    let toolCallId: String?
    let toolTypeName: String?
    let data: String?

    init(row: Row) {
        id = row.int("id") ?? 0
        type = row.string("type") ?? ""
        createdAt = row.string("created_at") ?? ""
        message = row.string("message")
        isError = row.bool("is_error") ?? false
        toolCallId = row.string("tool_call_id")
        toolTypeName = row.string("tool_type_name")
        data = row.string("data")
    }

    func json(includeData: Bool) -> JSON {
        func text(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return .object(JSONObject([
            ("step_id", .string(String(id))), ("type", .string(type)), ("created_at", .string(createdAt)), ("message", text(message)),
            ("is_error", .bool(isError)), ("tool_call_id", text(toolCallId)), ("tool_type_name", text(toolTypeName)),
            ("data", includeData ? (data.flatMap { try? JSON.parse($0) } ?? .null) : .null),
        ]))
    }
}

/// A file an execution produced (ADD_NOTE writes markdown).
struct Artifact {
    let id: String
    let executionId: String
    let kind: String
    let name: String
    let content: String
    let createdAt: String

    init(row: Row) {
        id = row.string("id") ?? ""
        executionId = row.string("execution_id") ?? ""
        kind = row.string("kind") ?? ""
        name = row.string("name") ?? ""
        content = row.string("content") ?? ""
        createdAt = row.string("created_at") ?? ""
    }

    var json: JSON {
        .object(JSONObject([("artifact_id", .string(id)), ("execution_id", .string(executionId)), ("kind", .string(kind)),
                            ("name", .string(name)), ("created_at", .string(createdAt)), ("content", .string(content))]))
    }
}

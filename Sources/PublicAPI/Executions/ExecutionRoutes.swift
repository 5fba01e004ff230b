import Foundation
import NeoJSON
import Store

/// `/executions`, their steps, TIL requests and artifacts, and `/artifacts/{id}` (Neo's paths, design §5).
/// Permission group `executions` (an execution's TIL requests: `approvals`).
enum ExecutionRoutes {
    static func routes(store: Store, runner: ExecutionRunner) -> [Route] {
        let read = Access.group(.executions, .read), write = Access.group(.executions, .read_write)
        return [
            Route("GET", "/public-api/executions", access: read,
                  query: Page.parameters + ["agent_id", "entity_id", "entity_number", "status", "created_after", "created_before"]) { ctx in
                try list(ctx, store)
            },
            Route("GET", "/public-api/executions/{execution_id}", access: read) { ctx in
                Reply(data: try find(ctx, store).json)
            },
            Route("GET", "/public-api/executions/{execution_id}/steps", access: read,
                  query: Page.parameters + ["include_data", "type", "tool_type_name", "step_id"]) { ctx in
                try steps(ctx, store)
            },
            Route("GET", "/public-api/executions/{execution_id}/til-requests", access: .group(.approvals, .read), query: Page.parameters) { ctx in
                let execution = try find(ctx, store)
                let page = try Page.parse(ctx)
                let (items, info) = try ctx.timed {
                    try store.read { try ApprovalRecords.list(executionId: execution.id, tenantId: ctx.caller.tenantId, page: page, $0) }
                }
                return Reply(data: .array(items.map(\.json)), pagination: info)
            },
            Route("GET", "/public-api/executions/{execution_id}/artifacts", access: read, query: Page.parameters) { ctx in
                let execution = try find(ctx, store)
                let page = try Page.parse(ctx)
                let (items, info) = try ctx.timed {
                    try store.read { try ExecutionRecords.artifacts(of: execution.id, tenantId: ctx.caller.tenantId, page: page, $0) }
                }
                return Reply(data: .array(items.map(\.json)), pagination: info)
            },
            Route("GET", "/public-api/artifacts/{artifact_id}", access: read) { ctx in
                let id = ctx.params["artifact_id"] ?? ""
                let artifact = isUUID(id) ? try ctx.timed { try store.read { try ExecutionRecords.artifact(id.lowercased(), tenantId: ctx.caller.tenantId, $0) } } : nil
                guard let artifact else { throw APIError.notFound("artifact '\(id.prefix(64))' not found") }
                return Reply(data: artifact.json)
            },
            Route("POST", "/public-api/executions/{execution_id}/cancel", access: write) { try cancel($0, store, runner) },
            Route("POST", "/public-api/executions/{execution_id}/retry", access: write, refusedInProcess: Route.queuesRuns) { try retry($0, store, runner) },
        ]
    }

    private static func list(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let page = try Page.parse(ctx)
        var filter = ExecutionRecords.Filter()
        filter.agentId = try ListFilters.positiveInt(ctx, "agent_id")
        filter.entityId = try ctx.query("entity_id").flatMap { $0.isEmpty ? nil : $0 }
        filter.entityNumber = try ctx.query("entity_number").flatMap { $0.isEmpty ? nil : $0 }
        filter.statuses = try ListFilters.enumList(ctx, "status", ExecutionStatus.names)
        filter.createdAfter = try ListFilters.timestamp(ctx, "created_after")
        filter.createdBefore = try ListFilters.timestamp(ctx, "created_before")
        let (items, info) = try ctx.timed { try store.read { try ExecutionRecords.list(tenantId: ctx.caller.tenantId, filter, page: page, $0) } }
        return Reply(data: .array(items.map(\.json)), pagination: info)
    }

    private static func steps(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let execution = try find(ctx, store)
        let page = try Page.parse(ctx)
        let includeData = try ListFilters.bool(ctx, "include_data", default: true)
        var filter = ExecutionRecords.StepFilter()
        filter.types = try ListFilters.enumList(ctx, "type", StepType.names)
        filter.toolTypeName = try ctx.query("tool_type_name").flatMap { $0.isEmpty ? nil : $0 }
        if let step = try ctx.query("step_id"), !step.isEmpty {
            guard let id = Int64(step), id > 0 else { throw APIError.badRequest("step_id must be a step id from this execution (got '\(step.prefix(64))')") }
            filter.stepId = id
        }
        let (items, info) = try ctx.timed { try store.read { try ExecutionRecords.steps(of: execution.id, filter, page: page, $0) } }
        return Reply(data: .array(items.map { $0.json(includeData: includeData) }), pagination: info)
    }

    private static func cancel(_ ctx: RequestContext, _ store: Store, _ runner: ExecutionRunner) throws -> Reply {
        let execution = try find(ctx, store)
        guard ExecutionStatus.active.contains(execution.status) else {
            throw APIError.conflict("execution \(execution.id) is \(execution.status.rawValue); only queued, running or waiting_approval executions can be cancelled")
        }
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(data: execution.json)
        }
        guard let updated = try ctx.timed({ try runner.cancel(executionId: execution.id, tenantId: ctx.caller.tenantId, audit: .request(ctx)) }) else {
            throw APIError.conflict("execution \(execution.id) finished before it could be cancelled")
        }
        return Reply(data: updated.json)
    }

    private static func retry(_ ctx: RequestContext, _ store: Store, _ runner: ExecutionRunner) throws -> Reply {
        let execution = try find(ctx, store)
        guard ExecutionStatus.retryable.contains(execution.status) else {
            throw APIError.conflict("execution \(execution.id) is \(execution.status.rawValue); only failed or cancelled executions can be retried")
        }
        guard execution.kind == .agentRun, let agentId = execution.agentId else {
            throw APIError.conflict("execution \(execution.id) is a direct external-API invoke; invoke the API again instead")
        }
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(status: 202, data: .object(JSONObject([("execution_id", .null), ("status", .string(ExecutionStatus.queued.rawValue))])))
        }
        let newId = try ctx.timed {
            try runner.enqueue(tenantId: ctx.caller.tenantId, agentId: agentId, entityId: execution.entityId,
                               instructions: execution.additionalCustomInstructions, input: execution.input,
                               testMode: execution.testMode, retryOf: execution.id, keyId: ctx.caller.keyId, trigger: execution.trigger,
                               trace: ctx.trace, audit: .request(ctx))
        }
        return Reply(status: 202, data: .object(JSONObject([("execution_id", .string(newId)), ("status", .string(ExecutionStatus.queued.rawValue))])))
    }

    static func find(_ ctx: RequestContext, _ store: Store) throws -> Execution {
        let id = ctx.params["execution_id"] ?? ""
        let execution = isUUID(id) ? try ctx.timed { try store.read { try ExecutionRecords.find(id.lowercased(), tenantId: ctx.caller.tenantId, $0) } } : nil
        guard let execution else { throw APIError.notFound("execution '\(id.prefix(64))' not found") }
        return execution
    }
}

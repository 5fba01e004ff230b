import Foundation
import NeoJSON
import Store

/// `/executions`, their steps, TIL requests and artifacts, and `/artifacts/{id}` (Neo's paths, design §5).
/// Permission group `executions`.
enum ExecutionRoutes {
    static let statuses = ["queued", "running", "waiting_approval", "succeeded", "failed", "cancelled"]
    static let stepTypes = ["TOOL_CALL", "TOOL_RESULT", "THOUGHT", "FINAL_MESSAGE", "ERROR"]

    static func routes(store: Store, runner: ExecutionRunner) -> [Route] {
        [
            Route("GET", "/public-api/executions", access: .group(.executions, .read),
                  query: Page.parameters + ["agent_id", "entity_id", "entity_number", "status", "created_after", "created_before"]) { ctx in
                let page = try Page.parse(ctx)
                var query = ListQuery("SELECT \(ExecutionViews.executionColumns) FROM executions WHERE tenant_id = ?", [.int(ctx.caller.tenantId)])
                if let agent = try ListFilters.positiveInt(ctx, "agent_id") { query.filter("agent_id = ?", [.int(agent)]) }
                if let e = try ctx.query("entity_id"), !e.isEmpty { query.filter("entity_id = ?", [.text(e)]) }
                if let e = try ctx.query("entity_number"), !e.isEmpty { query.filter("entity_number = ?", [.text(e)]) }
                query.oneOf("status", try ListFilters.enumList(ctx, "status", statuses))
                try query.createdWindow(ctx)
                let (sql, params) = query.paged(page)
                let rows = try ctx.timed { try store.read { try $0.query(sql, params) } }
                let (items, info) = page.finish(rows) { ($0.string("created_at")!, $0.string("id")!) }
                return Reply(data: .array(items.map(ExecutionViews.execution)), pagination: info)
            },
            Route("GET", "/public-api/executions/{execution_id}", access: .group(.executions, .read)) { ctx in
                Reply(data: ExecutionViews.execution(try find(ctx, store)))
            },
            Route("GET", "/public-api/executions/{execution_id}/steps", access: .group(.executions, .read),
                  query: Page.parameters + ["include_data", "type", "tool_type_name", "step_id"]) { ctx in
                let execution = try find(ctx, store)
                let page = try Page.parse(ctx)
                let includeData = try ListFilters.bool(ctx, "include_data", default: true)
                var sql = "SELECT \(ExecutionViews.stepColumns) FROM execution_steps WHERE execution_id = ?"
                var params: [SQLValue] = [.text(execution.string("id")!)]
                if let types = try ListFilters.enumList(ctx, "type", stepTypes) {
                    sql += " AND type IN (\(Array(repeating: "?", count: types.count).joined(separator: ",")))"
                    params += types.map { .text($0) }
                }
                if let tool = try ctx.query("tool_type_name"), !tool.isEmpty { sql += " AND tool_type_name = ? COLLATE NOCASE"; params.append(.text(tool)) }
                if let step = try ctx.query("step_id"), !step.isEmpty {
                    guard let id = Int64(step), id > 0 else { throw APIError.badRequest("step_id must be a step id from this execution (got '\(step.prefix(64))')") }
                    sql += " AND id = ?"
                    params.append(.int(id))
                }
                let (clause, cursorParams) = page.keysetClause(ascending: true)
                sql += clause + " ORDER BY created_at ASC, id ASC LIMIT ?"
                params += cursorParams + [.int(Int64(page.size + 1))]
                let rows = try ctx.timed { try store.read { try $0.query(sql, params) } }
                let (items, info) = page.finish(rows) { ($0.string("created_at")!, String($0.int("id")!)) }
                return Reply(data: .array(items.map { ExecutionViews.step($0, includeData: includeData) }), pagination: info)
            },
            Route("GET", "/public-api/executions/{execution_id}/til-requests", access: .group(.approvals, .read), query: Page.parameters) { ctx in
                let execution = try find(ctx, store)
                let page = try Page.parse(ctx)
                let (clause, cursorParams) = page.keysetClause()
                let rows = try ctx.timed {
                    try store.read {
                        try $0.query("SELECT \(ExecutionViews.tilColumns) FROM til_requests WHERE tenant_id = ? AND execution_id = ?\(clause) ORDER BY created_at DESC, id DESC LIMIT ?",
                                     [.int(ctx.caller.tenantId), .text(execution.string("id")!)] + cursorParams + [.int(Int64(page.size + 1))])
                    }
                }
                let (items, info) = page.finish(rows) { ($0.string("created_at")!, String($0.int("id")!)) }
                return Reply(data: .array(items.map(ExecutionViews.til)), pagination: info)
            },
            Route("GET", "/public-api/executions/{execution_id}/artifacts", access: .group(.executions, .read), query: Page.parameters) { ctx in
                let execution = try find(ctx, store)
                let page = try Page.parse(ctx)
                let (clause, cursorParams) = page.keysetClause()
                let rows = try ctx.timed {
                    try store.read {
                        try $0.query("SELECT id, execution_id, kind, name, content, created_at FROM artifacts WHERE tenant_id = ? AND execution_id = ?\(clause) ORDER BY created_at DESC, id DESC LIMIT ?",
                                     [.int(ctx.caller.tenantId), .text(execution.string("id")!)] + cursorParams + [.int(Int64(page.size + 1))])
                    }
                }
                let (items, info) = page.finish(rows) { ($0.string("created_at")!, $0.string("id")!) }
                return Reply(data: .array(items.map { ExecutionViews.artifact($0, withContent: true) }), pagination: info)
            },
            Route("GET", "/public-api/artifacts/{artifact_id}", access: .group(.executions, .read)) { ctx in
                let id = ctx.params["artifact_id"] ?? ""
                guard isUUID(id) else { throw APIError.notFound("artifact '\(id.prefix(64))' not found") }
                let row = try ctx.timed {
                    try store.read { try $0.queryOne("SELECT id, execution_id, kind, name, content, created_at FROM artifacts WHERE id = ? AND tenant_id = ?", [.text(id.lowercased()), .int(ctx.caller.tenantId)]) }
                }
                guard let row else { throw APIError.notFound("artifact '\(id)' not found") }
                return Reply(data: ExecutionViews.artifact(row, withContent: true))
            },
            Route("POST", "/public-api/executions/{execution_id}/cancel", access: .group(.executions, .read_write)) { ctx in
                let execution = try find(ctx, store)
                let id = execution.string("id")!
                let status = execution.string("status")!
                guard ["queued", "running", "waiting_approval"].contains(status) else {
                    throw APIError.conflict("execution \(id) is \(status); only queued, running or waiting_approval executions can be cancelled")
                }
                if ctx.testMode {
                    ctx.warnings.append("test mode: not persisted")
                    return Reply(data: ExecutionViews.execution(execution))
                }
                let updated = try ctx.timed { try runner.cancel(executionId: id, tenantId: ctx.caller.tenantId) }
                guard let updated else {
                    throw APIError.conflict("execution \(id) finished before it could be cancelled")
                }
                return Reply(data: ExecutionViews.execution(updated))
            },
            Route("POST", "/public-api/executions/{execution_id}/retry", access: .group(.executions, .read_write)) { ctx in
                let execution = try find(ctx, store)
                let id = execution.string("id")!
                let status = execution.string("status")!
                guard ["failed", "cancelled"].contains(status) else {
                    throw APIError.conflict("execution \(id) is \(status); only failed or cancelled executions can be retried")
                }
                guard execution.string("kind") == "agent_run", let agentId = execution.int("agent_id") else {
                    throw APIError.conflict("execution \(id) is a direct external-API invoke; invoke the API again instead")
                }
                if ctx.testMode {
                    ctx.warnings.append("test mode: not persisted")
                    return Reply(status: 202, data: .object(JSONObject([("execution_id", .null), ("status", "queued")])))
                }
                let newId = try ctx.timed {
                    try runner.enqueue(tenantId: ctx.caller.tenantId, agentId: agentId, entityId: execution.string("entity_id"),
                                       instructions: execution.string("additional_custom_instructions"),
                                       input: execution.string("input"), testMode: execution.bool("test_mode") ?? false,
                                       retryOf: id, keyId: ctx.caller.keyId)
                }
                return Reply(status: 202, data: .object(JSONObject([("execution_id", .string(newId)), ("status", "queued")])))
            },
        ]
    }

    static func find(_ ctx: RequestContext, _ store: Store) throws -> Row {
        let id = ctx.params["execution_id"] ?? ""
        guard isUUID(id) else { throw APIError.notFound("execution '\(id.prefix(64))' not found") }
        let row = try ctx.timed {
            try store.read { try $0.queryOne("SELECT \(ExecutionViews.executionColumns) FROM executions WHERE id = ? AND tenant_id = ?", [.text(id.lowercased()), .int(ctx.caller.tenantId)]) }
        }
        guard let row else { throw APIError.notFound("execution '\(id)' not found") }
        return row
    }
}

import Basics
import Foundation
import NeoJSON
import Store

/// Applies what an approved TIL request held, inside the decision's write transaction.
/// Throwing an APIError refuses the approval: the request is marked rejected with that reason.
public typealias TilApplier = (_ db: Database, _ request: Row, _ decider: Principal) throws -> Void

/// `/til-requests` (Neo's technician-in-the-loop requests; permission group `approvals`).
enum TilRoutes {
    static let statuses = ["pending", "approved", "rejected", "expired"]

    static func routes(store: Store, runner: ExecutionRunner, appliers: [String: TilApplier]) -> [Route] {
        [
            Route("GET", "/public-api/til-requests", access: .group(.approvals, .read),
                  query: Page.parameters + ["status", "agent_id", "approver", "q", "created_after", "created_before"]) { ctx in
                try expireOverdue(store)
                let page = try Page.parse(ctx)
                var query = ListQuery("SELECT \(ExecutionViews.tilColumns) FROM til_requests WHERE tenant_id = ?", [.int(ctx.caller.tenantId)])
                query.oneOf("status", try ListFilters.enumList(ctx, "status", statuses))
                if let agent = try ListFilters.positiveInt(ctx, "agent_id") { query.filter("agent_id = ?", [.int(agent)]) }
                if let approver = try ctx.query("approver"), !approver.isEmpty {
                    query.filter("(EXISTS (SELECT 1 FROM json_each(approvers) WHERE json_extract(value, '$.user_id') = ?) OR json_extract(decided_by, '$.id') = ?)",
                                 [.text(approver), .text(approver)])
                }
                try query.search(["comment", "agent_name"], try ctx.query("q"))
                try query.createdWindow(ctx)
                let (sql, params) = query.paged(page)
                let rows = try ctx.timed { try store.read { try $0.query(sql, params) } }
                let (items, info) = page.finish(rows) { ($0.string("created_at")!, String($0.int("id")!)) }
                return Reply(data: .array(items.map(ExecutionViews.til)), pagination: info)
            },
            Route("GET", "/public-api/til-requests/{request_id}", access: .group(.approvals, .read)) { ctx in
                try expireOverdue(store)
                return Reply(data: ExecutionViews.til(try find(ctx, store)))
            },
            Route("POST", "/public-api/til-requests/{request_id}/decision", access: .group(.approvals, .read_write)) { ctx in
                let body = try ctx.jsonBody()
                let v = Validation()
                let r = FieldReader(body, validation: v)
                let action = r.enumValue("action", ["approve", "reject"], required: true)
                let note = r.string("note", maxLength: 2000)
                r.warnUnknown()
                ctx.warnings += v.warnings
                try v.check()
                try expireOverdue(store)
                let request = try find(ctx, store)
                let id = request.int("id")!
                let status = request.string("status")!
                guard status == "pending" else { throw APIError.conflict("TIL request \(id) is already \(status)") }
                let caller = ctx.caller
                if caller.actor == .agent, let own = caller.agentId, own == request.int("agent_id") {
                    throw APIError.forbidden("an agent's key cannot decide that agent's own TIL requests")
                }
                if ctx.testMode {
                    ctx.warnings.append("test mode: not persisted")
                    return Reply(data: ExecutionViews.til(request))
                }
                let keyName = try store.read { try $0.queryOne("SELECT name FROM api_keys WHERE id = ?", [.int(caller.keyId)])?.string("name") } ?? ""
                let decidedBy = JSON.object(["id": .string(String(caller.keyId)), "name": .string(keyName)]).serializedString()
                let approve = action == "approve"
                do {
                    let updated = try ctx.timed {
                        try store.write { db -> Row in
                            let now = Timestamp.now()
                            let changed = try db.execute("""
                                UPDATE til_requests SET status = ?, decided_by = ?, note = ?, decided_at = ?, updated_at = ?
                                WHERE id = ? AND tenant_id = ? AND status = 'pending'
                                """, [.text(approve ? "approved" : "rejected"), .text(decidedBy), note.map { .text($0) } ?? .null,
                                      .text(now), .text(now), .int(id), .int(caller.tenantId)])
                            guard changed == 1 else { throw APIError.conflict("TIL request \(id) was decided concurrently") }
                            try settle(db, request: request, approve: approve, note: note, caller: caller, runner: runner, appliers: appliers)
                            return try db.queryOne("SELECT \(ExecutionViews.tilColumns) FROM til_requests WHERE id = ?", [.int(id)])!
                        }
                    }
                    runner.poke()
                    return Reply(data: ExecutionViews.til(updated))
                } catch let refusal as APIError where approve && (refusal.status != 409 || refusal.code == "agent_update_conflict") {
                    // The held change no longer applies: the request fails with the reason, nothing else changes.
                    try store.write { db in
                        let now = Timestamp.now()
                        try db.execute("""
                            UPDATE til_requests SET status = 'rejected', decided_by = ?, note = ?, decided_at = ?, updated_at = ?
                            WHERE id = ? AND status = 'pending'
                            """, [.text(decidedBy), .text("could not apply: \(refusal.message)"), .text(now), .text(now), .int(id)])
                    }
                    throw refusal
                }
            },
        ]
    }

    /// Releases or fails what waited on the request.
    private static func settle(_ db: Database, request: Row, approve: Bool, note: String?, caller: Principal,
                               runner: ExecutionRunner, appliers: [String: TilApplier]) throws {
        let kind = request.string("kind")!
        if kind == "external_api_call", let execution = request.string("execution_id") {
            let payload = request.string("payload").flatMap { try? JSON.parse($0) }
            let index = Int(payload?["action_index"]?.intValue ?? 0)
            if approve {
                try runner.resume(executionId: execution, approvedAction: index, in: db)
            } else {
                try runner.reject(executionId: execution, action: index, note: note, in: db)
            }
            return
        }
        guard approve else { return }
        guard let apply = appliers[kind] else {
            throw APIError(status: 500, code: "INTERNAL_ERROR", message: "no way to apply a '\(kind)' request on this server")
        }
        try apply(db, request, caller)
    }

    /// Pending requests past their expiry become expired (their waiting runs fail).
    static func expireOverdue(_ store: Store) throws {
        let now = Timestamp.now()
        let due = try store.read { try $0.queryOne("SELECT 1 FROM til_requests WHERE status = 'pending' AND expires_at <= ? LIMIT 1", [.text(now)]) }
        guard due != nil else { return }
        try store.write { db in
            try db.execute("""
                UPDATE executions SET status = 'failed', error = 'approval request expired', finished_at = ?, updated_at = ?
                WHERE status = 'waiting_approval' AND id IN (SELECT execution_id FROM til_requests WHERE status = 'pending' AND expires_at <= ?)
                """, [.text(now), .text(now), .text(now)])
            try db.execute("UPDATE til_requests SET status = 'expired', updated_at = ? WHERE status = 'pending' AND expires_at <= ?", [.text(now), .text(now)])
        }
    }

    static func find(_ ctx: RequestContext, _ store: Store) throws -> Row {
        let id = try ctx.intParam("request_id", resource: "TIL request")
        let row = try ctx.timed {
            try store.read { try $0.queryOne("SELECT \(ExecutionViews.tilColumns), payload FROM til_requests WHERE id = ? AND tenant_id = ?", [.int(id), .int(ctx.caller.tenantId)]) }
        }
        guard let row else { throw APIError.notFound("TIL request '\(id)' not found") }
        return row
    }
}

/// `POST /agents/{agent_id}/run-now` (Neo): queue a run of the agent.
enum RunNowRoute {
    static func route(store: Store, runner: ExecutionRunner) -> Route {
        Route("POST", "/public-api/agents/{agent_id}/run-now", access: .group(.executions, .read_write)) { ctx in
            let agentId = try ctx.intParam("agent_id", resource: "agent")
            let body = try ctx.jsonBody(allowEmpty: true)
            let v = Validation()
            let r = FieldReader(body, validation: v)
            var target: String?
            if let raw = r.raw("target_entity_id"), !raw.isNull {
                switch raw {
                case .string(let s) where !s.isEmpty && s.count <= 200: target = s
                case .int(let n): target = String(n)
                default: v.fail("target_entity_id", "must be a non-empty string or integer of at most 200 characters")
                }
            }
            let instructions = r.string("additional_custom_instructions", maxLength: 10_000)
            let input = r.object("input")
            r.warnUnknown()
            ctx.warnings += v.warnings
            let agent = try ctx.timed {
                try store.read { try $0.queryOne("SELECT name, state, trigger_type, autonomy_type, document FROM agents WHERE id = ? AND tenant_id = ?", [.int(agentId), .int(ctx.caller.tenantId)]) }
            }
            guard let agent else { throw APIError.notFound("agent '\(agentId)' not found") }
            if agent.string("autonomy_type") == "CONVERSATIONAL" {
                throw APIError(status: 400, code: "invalid_for_conversational",
                               message: "agent \(agentId) is CONVERSATIONAL; conversational agents are reached through chat sessions, not run-now")
            }
            if let state = agent.string("state"), state != "ENABLED" {
                throw APIError.conflict("agent \(agentId) is \(state); enable it before running it")
            }
            if agent.string("trigger_type") == "TRIGGERED" && target == nil && v.ok {
                v.fail("target_entity_id", "is required to run a TRIGGERED agent")
            }
            // Every placeholder is resolved before the run starts, so no side effect happens in a run bound to fail.
            let actions = agent.string("document").flatMap { try? JSON.parse($0) }?["actions"]?.arrayValue ?? []
            for item in actions where item["action_type"]?.stringValue != AgentSchema.findEntities {
                for path in Templates.missing(in: item["input_as_dict"] ?? .null, input: input ?? JSONObject()) {
                    v.fail(path, "is used by action \(item["id"]?.stringValue ?? "?") as {{\(path)}} and missing from input; "
                        + "send it in the run-now body's input object")
                }
            }
            try v.check()
            let testMode = ctx.testMode
            if testMode { ctx.warnings.append("test mode: steps are planned, no request is sent and no artifact is stored") }
            let inputText = input.map { JSON.object($0).serializedString() }
            let id = try ctx.timed {
                try runner.enqueue(tenantId: ctx.caller.tenantId, agentId: agentId, entityId: target, instructions: instructions,
                                   input: inputText, testMode: testMode, keyId: ctx.caller.keyId)
            }
            return Reply(status: 202, data: .object(["execution_id": .string(id), "status": "queued"]))
        }
    }
}

import Foundation
import NeoJSON
import Store

/// `POST /agents/{agent_id}/run-now` (Neo): queue a run of the agent.
enum RunNowRoute {
    static func route(store: Store, runner: ExecutionRunner) -> Route {
        Route("POST", "/public-api/agents/{agent_id}/run-now", access: .group(.executions, .read_write), refusedInProcess: Route.queuesRuns) { try runNow($0, store, runner) }
    }

    private static func runNow(_ ctx: RequestContext, _ store: Store, _ runner: ExecutionRunner) throws -> Reply {
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
        guard let agent = try ctx.timed({ try store.read { try AgentRecords.document(agentId, tenantId: ctx.caller.tenantId, $0) } }) else {
            throw APIError.notFound("agent '\(agentId)' not found")
        }
        if agent["autonomy_type"]?.stringValue == "CONVERSATIONAL" {
            throw APIError(status: 400, code: "invalid_for_conversational",
                           message: "agent \(agentId) is CONVERSATIONAL; conversational agents are reached through chat sessions, not run-now")
        }
        if let state = agent["state"]?.stringValue, state != "ENABLED" {
            throw APIError.conflict("agent \(agentId) is \(state); enable it before running it")
        }
        if agent["trigger_type"]?.stringValue == "TRIGGERED" && target == nil && v.ok {
            v.fail("target_entity_id", "is required to run a TRIGGERED agent")
        }
        // Every placeholder is resolved before the run starts, so no side effect happens in a run bound to fail.
        let actions = agent["actions"]?.arrayValue ?? []
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
                               input: inputText, testMode: testMode, keyId: ctx.caller.keyId,
                               trigger: .object(JSONObject([("type", .string("RUN_NOW"))])), trace: ctx.trace,
                               audit: .request(ctx))
        }
        return Reply(status: 202, data: .object(["execution_id": .string(id), "status": .string(ExecutionStatus.queued.rawValue)]))
    }
}

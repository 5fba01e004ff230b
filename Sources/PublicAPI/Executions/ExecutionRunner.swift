import Basics
import Foundation
import NeoJSON
import Store

/// Runs agent executions in the background (design §5): a bounded number of threads claim queued
/// rows from SQLite, so queued work survives a restart. Each run records FIND_ENTITIES, then the
/// agent's actions in order: EXTERNAL_API_REQUEST through the executor (pausing for a TIL approval
/// when the config requires one), ADD_NOTE as a markdown artifact, anything else skipped.
public final class ExecutionRunner: @unchecked Sendable {
    let store: Store
    let logger: Logger
    let concurrency: Int
    var external: ExternalCalls
    private let condition = NSCondition()
    private var stopping = false
    private var running = 0
    private var threads: [Thread] = []
    /// How long a pending approval waits before it expires.
    let approvalLifetime: TimeInterval = 7 * 24 * 3600

    public init(store: Store, logger: Logger, concurrency: Int, external: ExternalCalls = .none) {
        self.store = store
        self.logger = logger
        self.concurrency = max(1, concurrency)
        self.external = external
    }

    /// Marks runs a previous process left `running` as failed, then starts the worker threads.
    public func start() throws {
        let now = Timestamp.now()
        let orphaned = try store.write { db in
            try db.execute("""
                UPDATE executions SET status = 'failed', error = 'the server stopped while this execution was running',
                  finished_at = ?, updated_at = ? WHERE status = 'running'
                """, [.text(now), .text(now)])
        }
        if orphaned > 0 { logger.warn("marked interrupted executions failed", ["count": .int(Int64(orphaned))]) }
        for i in 0..<concurrency {
            let t = Thread { [unowned self] in self.work() }
            t.name = "neo-runner-\(i)"
            threads.append(t)
            t.start()
        }
    }

    /// Stops taking new work and waits (up to `deadline` seconds) for runs in progress.
    public func stop(deadline: Double = 10) {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        let end = Date().addingTimeInterval(deadline)
        while threads.contains(where: { !$0.isFinished }) && Date() < end { usleep(10_000) }
    }

    /// Wakes a worker: new queued work.
    func poke() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    // MARK: queueing

    /// Inserts a queued execution of `agentId`; returns its execution_id.
    func enqueue(tenantId: Int64, agentId: Int64, entityId: String?, instructions: String?, input: String?,
                 testMode: Bool, retryOf: String? = nil, keyId: Int64?) throws -> String {
        let id = SecureRandom.uuid()
        let now = Timestamp.now()
        try store.write { db in
            guard let agent = try db.queryOne("SELECT name, version FROM agents WHERE id = ? AND tenant_id = ?", [.int(agentId), .int(tenantId)]) else {
                throw APIError.notFound("agent '\(agentId)' not found")
            }
            try db.execute("""
                INSERT INTO executions (id, tenant_id, agent_id, agent_name, kind, status, entity_id, entity_number,
                  additional_custom_instructions, input, test_mode, retry_of, created_by_key_id, created_at, updated_at, agent_version)
                VALUES (?, ?, ?, ?, 'agent_run', 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(id), .int(tenantId), .int(agentId), agent["name"], entityId.map { .text($0) } ?? .null,
                      entityId.map { .text($0) } ?? .null, instructions.map { .text($0) } ?? .null,
                      input.map { .text($0) } ?? .null, .int(testMode ? 1 : 0), retryOf.map { .text($0) } ?? .null,
                      keyId.map { .int($0) } ?? .null, .text(now), .text(now), agent["version"]])
        }
        poke()
        return id
    }

    /// Cancels a queued, running or waiting run; returns the updated row, or nil when it had finished.
    func cancel(executionId: String, tenantId: Int64) throws -> Row? {
        try store.write { db in
            let now = Timestamp.now()
            let changed = try db.execute("""
                UPDATE executions SET status = 'cancelled', finished_at = ?, updated_at = ?,
                  seconds_spent = COALESCE((julianday(?) - julianday(started_at)) * 86400.0, 0)
                WHERE id = ? AND tenant_id = ? AND status IN ('queued', 'running', 'waiting_approval')
                """, [.text(now), .text(now), .text(now), .text(executionId), .int(tenantId)])
            guard changed > 0 else { return nil }
            try db.execute("UPDATE til_requests SET status = 'expired', note = 'execution cancelled', updated_at = ? WHERE execution_id = ? AND status = 'pending'",
                           [.text(now), .text(executionId)])
            return try db.queryOne("SELECT \(ExecutionViews.executionColumns) FROM executions WHERE id = ?", [.text(executionId)])
        }
    }

    /// An approved TIL request releases its waiting run: it is queued again and resumes at the action.
    func resume(executionId: String, approvedAction: Int, in db: Database) throws {
        try db.execute("UPDATE executions SET status = 'queued', approved_action = ?, message_for_dashboard = NULL, updated_at = ? WHERE id = ? AND status = 'waiting_approval'",
                       [.int(Int64(approvedAction)), .text(Timestamp.now()), .text(executionId)])
    }

    /// A rejected TIL request fails the waiting step and the run.
    func reject(executionId: String, action: Int, note: String?, in db: Database) throws {
        let now = Timestamp.now()
        guard try db.queryOne("SELECT 1 FROM executions WHERE id = ? AND status = 'waiting_approval'", [.text(executionId)]) != nil else { return }
        let reason = "approval rejected" + (note.map { ": \($0)" } ?? "")
        try appendStep(db, executionId, type: "ERROR", message: reason, isError: true, toolType: "EXTERNAL_API_REQUEST")
        try db.execute("""
            UPDATE executions SET status = 'failed', error = ?, finished_at = ?, updated_at = ?,
              seconds_spent = COALESCE((julianday(?) - julianday(started_at)) * 86400.0, 0) WHERE id = ?
            """, [.text(reason), .text(now), .text(now), .text(now), .text(executionId)])
    }

    // MARK: the worker loop

    private func work() {
        while true {
            condition.lock()
            if stopping { condition.unlock(); return }
            condition.unlock()
            let claimed: Row?
            do { claimed = try claim() } catch {
                logger.error("runner could not claim work", ["error": .string(String(describing: error))])
                claimed = nil
            }
            guard let execution = claimed else {
                condition.lock()
                if !stopping { _ = condition.wait(until: Date().addingTimeInterval(1)) }
                condition.unlock()
                continue
            }
            run(execution)
        }
    }

    /// Atomically moves the oldest queued run to running.
    private func claim() throws -> Row? {
        try store.write { db in
            guard let next = try db.queryOne("SELECT id FROM executions WHERE status = 'queued' ORDER BY created_at, id LIMIT 1") else { return nil }
            let now = Timestamp.now()
            try db.execute("UPDATE executions SET status = 'running', started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ? AND status = 'queued'",
                           [.text(now), .text(now), next["id"]])
            return try db.queryOne("SELECT \(ExecutionViews.executionColumns), next_action, approved_action FROM executions WHERE id = ?", [next["id"]])
        }
    }

    private struct Stop: Error { let failure: String? }

    private func run(_ execution: Row) {
        let id = execution.string("id")!
        let tenantId = execution.int("tenant_id")!
        let testMode = execution.bool("test_mode") ?? false
        let input = execution.string("input").flatMap { try? JSON.parse($0) }?.objectValue ?? JSONObject()
        var index = Int(execution.int("next_action") ?? 0)
        let approved = execution.int("approved_action").map(Int.init)
        if execution.string("kind") == "external_api_invoke" {
            return runApprovedInvoke(id, tenantId: tenantId, input: input)
        }
        do {
            let document = try store.read { db in
                try db.queryOne("SELECT document FROM agents WHERE id = ? AND tenant_id = ?", [execution["agent_id"], .int(tenantId)])
            }
            guard let text = document?.string("document"), let agent = try? JSON.parse(text).objectValue else {
                throw Stop(failure: "the agent no longer exists")
            }
            let actions = agent["actions"]?.arrayValue ?? []
            if index == 0, let refusal = try preflight(actions, input: input, tenantId: tenantId) {
                throw Stop(failure: refusal)
            }
            if index == 0 {
                try recordFindEntities(id, agent: agent, execution: execution)
                index = actions.first?["action_type"]?.stringValue == "FIND_ENTITIES" ? 1 : 0
            }
            while index < actions.count {
                try checkStillRunning(id)
                let action = actions[index]
                let type = action["action_type"]?.stringValue ?? "UNKNOWN"
                let params = action["input_as_dict"]?.objectValue ?? JSONObject()
                switch type {
                case "EXTERNAL_API_REQUEST":
                    let paused = try externalRequest(id, tenantId: tenantId, actionIndex: index, params: params, input: input,
                                                     approved: approved == index, testMode: testMode, execution: execution)
                    if paused { return }
                case "ADD_NOTE":
                    try addNote(id, tenantId: tenantId, params: params, input: input, testMode: testMode)
                default:
                    // Preflight refuses these; an edit made while the run waited for an approval can still add one.
                    throw Stop(failure: "action \(action["id"]?.stringValue ?? "?") has action_type '\(type)', which this server does not run; the run stopped before it")
                }
                index += 1
                try store.write { db in
                    try db.execute("UPDATE executions SET next_action = ?, updated_at = ? WHERE id = ?", [.int(Int64(index)), .text(Timestamp.now()), .text(id)])
                }
            }
            let pipeline = actions.filter { $0["action_type"]?.stringValue != "FIND_ENTITIES" }.count
            try finish(id, status: "succeeded", error: nil, message: testMode ? "test mode: every step planned, nothing sent" : "completed \(pipeline) action(s)")
        } catch let stop as Stop {
            if let failure = stop.failure { try? finish(id, status: "failed", error: failure, message: nil) }
        } catch let e as APIError {
            try? finish(id, status: "failed", error: e.message, message: nil)
        } catch {
            logger.error("execution failed unexpectedly", ["execution_id": .string(id), "error": .string(String(describing: error))])
            try? finish(id, status: "failed", error: "internal error while running; see the server log", message: nil)
        }
    }

    /// Everything that would make the run fail part way, found before its first action so that no side
    /// effect happens in a run bound to fail: action types this server does not run, placeholders the
    /// input cannot fill, notes without a template, external APIs the tenant lacks. nil when it can run.
    private func preflight(_ actions: [JSON], input: JSONObject, tenantId: Int64) throws -> String? {
        var problems: [String] = []
        for item in actions {
            let type = item["action_type"]?.stringValue ?? ""
            let actionId = item["id"]?.stringValue ?? "?"
            let params = item["input_as_dict"] ?? .object(JSONObject())
            switch type {
            case AgentSchema.findEntities:
                continue
            case AgentSchema.agentic:
                problems.append("this server does not run AGENTIC agents yet (action \(actionId))")
                continue
            case _ where !AgentSchema.runnableActionTypes.contains(type):
                problems.append("action \(actionId) has action_type '\(type)', which this server does not run")
                continue
            default:
                break
            }
            let missing = Templates.missing(in: params, input: input)
            if !missing.isEmpty {
                problems.append("action \(actionId) uses " + missing.map { "{{\($0)}}" }.joined(separator: ", ") + ", which the run's input lacks")
                continue
            }
            if type == AgentSchema.addNote, params["template"]?.stringValue == nil {
                problems.append("action \(actionId) (ADD_NOTE) has no string template")
            }
            if type == AgentSchema.externalAPIRequest {
                let name = (try? Templates.fill(params, input: input))?["api_name"]?.stringValue ?? ""
                if name.isEmpty {
                    problems.append("action \(actionId) (EXTERNAL_API_REQUEST) names no api_name")
                } else if try external.requiresApproval(tenantId, name) == nil {
                    problems.append("action \(actionId) calls external API '\(name.prefix(64))', which this tenant has not configured")
                }
            }
        }
        guard !problems.isEmpty else { return nil }
        return problems.joined(separator: "; ") + "; nothing was run"
    }

    /// A direct invoke by an agent's key that waited for approval: now approved, it is sent.
    private func runApprovedInvoke(_ id: String, tenantId: Int64, input: JSONObject) {
        var body = input
        let apiName = body.removeValue(forKey: "api_name")?.stringValue ?? ""
        let callId = SecureRandom.uuid()
        do {
            let outcome = try external.invoke(tenantId, apiName, body, false)
            let status = outcome.result?["status"]?.intValue ?? 0
            try store.write { db in
                try appendStep(db, id, type: "TOOL_CALL", message: "call \(apiName)", toolCallId: callId, toolType: "EXTERNAL_API_REQUEST",
                               data: ExecutionRunner.toolCallData(apiName, outcome.request))
                try appendStep(db, id, type: "TOOL_RESULT", message: "\(apiName) answered \(status)", isError: status >= 400,
                               toolCallId: callId, toolType: "EXTERNAL_API_REQUEST", data: outcome.result)
            }
            if status >= 400 {
                try finish(id, status: "failed", error: "\(apiName) answered \(status)", message: nil)
            } else {
                try finish(id, status: "succeeded", error: nil, message: "external API '\(apiName)' answered \(status)")
            }
        } catch let e as APIError {
            try? finish(id, status: "failed", error: "\(apiName): \(e.message)", message: nil)
        } catch {
            logger.error("approved invoke failed unexpectedly", ["execution_id": .string(id), "error": .string(String(describing: error))])
            try? finish(id, status: "failed", error: "internal error while calling; see the server log", message: nil)
        }
    }

    /// A TOOL_CALL's `data`, one shape for agent runs and direct invokes: `{api_name, request}`.
    static func toolCallData(_ apiName: String, _ request: JSON) -> JSON {
        .object(JSONObject([("api_name", .string(apiName)), ("request", request)]))
    }

    /// `message_for_dashboard` of a run that waits: which TIL request to decide.
    static func waitingMessage(tilId: Int64, apiName: String) -> String {
        "waiting for approval: TIL request \(tilId) asks to call external API '\(apiName)' (POST /public-api/til-requests/\(tilId)/decision)"
    }

    /// A cancel between steps stops the run without touching the status the cancel wrote.
    private func checkStillRunning(_ id: String) throws {
        let status = try store.read { try $0.queryOne("SELECT status FROM executions WHERE id = ?", [.text(id)])?.string("status") }
        if status != "running" { throw Stop(failure: nil) }
    }

    private func recordFindEntities(_ id: String, agent: JSONObject, execution: Row) throws {
        let entity = execution.string("entity_id")
        try store.write { db in
            let callId = SecureRandom.uuid()
            try appendStep(db, id, type: "TOOL_CALL", message: "find \(agent["entity_type"]?.stringValue ?? "ticket") entities",
                           toolCallId: callId, toolType: "FIND_ENTITIES",
                           data: .object(["entity_type": agent["entity_type"] ?? "ticket", "target_entity_id": entity.map { .string($0) } ?? .null,
                                          "ticket_conditions": agent["ticket_conditions"] ?? .null]))
            try appendStep(db, id, type: "TOOL_RESULT",
                           message: entity.map { "target entity \($0) taken as found (no PSA attached)" } ?? "no target entity given",
                           toolCallId: callId, toolType: "FIND_ENTITIES",
                           data: .object(["entities": entity.map { [.string($0)] } ?? []]))
        }
    }

    /// Returns true when the run now waits for an approval.
    private func externalRequest(_ id: String, tenantId: Int64, actionIndex: Int, params: JSONObject, input: JSONObject,
                                 approved: Bool, testMode: Bool, execution: Row) throws -> Bool {
        let filled: JSONObject
        do {
            filled = try Templates.fill(.object(params), input: input).objectValue ?? JSONObject()
        } catch let missing as Templates.MissingField {
            throw APIError.validation(field: "input", "the action template uses {{\(missing.path)}}, which the run's input lacks")
        }
        guard let apiName = filled["api_name"]?.stringValue, !apiName.isEmpty else {
            throw APIError.validation(field: "actions[\(actionIndex)].input_as_dict.api_name", "is required for EXTERNAL_API_REQUEST")
        }
        var body = JSONObject()
        for key in ["path", "query", "params", "body", "headers"] { if let v = filled[key] { body[key] = v } }
        guard let needsApproval = try external.requiresApproval(tenantId, apiName) else {
            throw APIError.notFound("external API '\(apiName)' is not configured in this tenant")
        }
        if needsApproval && !approved && !testMode {
            let planned = try external.invoke(tenantId, apiName, body, true)
            try store.write { db in
                let now = Date()
                let requested = ExecutionRunner.toolCallData(apiName, planned.request)
                let seq = try appendStep(db, id, type: "THOUGHT", message: "waiting for approval to call \(apiName)",
                                         toolType: "EXTERNAL_API_REQUEST", data: requested)
                try db.execute("""
                    INSERT INTO til_requests (tenant_id, agent_id, agent_name, kind, status, comment, requested_for, payload,
                      execution_id, step_seq, ticket_id, created_at, updated_at, expires_at)
                    VALUES (?, ?, ?, 'external_api_call', 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, [.int(tenantId), execution["agent_id"], execution["agent_name"],
                          .text("Agent \(execution.string("agent_name") ?? "") wants to call external API '\(apiName)'"),
                          .text(requested.serializedString()), .text(JSON.object(["action_index": .int(Int64(actionIndex))]).serializedString()),
                          .text(id), .int(seq), execution["entity_id"], .text(Timestamp.format(now)), .text(Timestamp.format(now)),
                          .text(Timestamp.format(now.addingTimeInterval(approvalLifetime)))])
                try db.execute("""
                    UPDATE executions SET status = 'waiting_approval', next_action = ?, message_for_dashboard = ?, updated_at = ?
                    WHERE id = ? AND status = 'running'
                    """, [.int(Int64(actionIndex)), .text(ExecutionRunner.waitingMessage(tilId: db.lastInsertRowID, apiName: apiName)),
                          .text(Timestamp.format(now)), .text(id)])
            }
            return true
        }
        let callId = SecureRandom.uuid()
        let outcome: ExternalCalls.Outcome
        do {
            outcome = try external.invoke(tenantId, apiName, body, testMode)
        } catch let e as APIError {
            try store.write { db in
                try appendStep(db, id, type: "ERROR", message: "\(apiName): \(e.message)", isError: true, toolCallId: callId, toolType: "EXTERNAL_API_REQUEST",
                               data: .object(["code": .string(e.code), "status": .int(Int64(e.status))]))
            }
            throw e
        }
        try store.write { db in
            try appendStep(db, id, type: "TOOL_CALL", message: "call \(apiName)", toolCallId: callId, toolType: "EXTERNAL_API_REQUEST",
                           data: ExecutionRunner.toolCallData(apiName, outcome.request))
            if let result = outcome.result {
                let status = result["status"]?.intValue ?? 0
                try appendStep(db, id, type: "TOOL_RESULT", message: "\(apiName) answered \(status)", isError: status >= 400,
                               toolCallId: callId, toolType: "EXTERNAL_API_REQUEST", data: result)
            } else {
                try appendStep(db, id, type: "TOOL_RESULT", message: "test mode: request planned, not sent", toolCallId: callId,
                               toolType: "EXTERNAL_API_REQUEST", data: .object(["planned": true]))
            }
        }
        if let status = outcome.result?["status"]?.intValue, status >= 400 {
            throw APIError(status: 502, code: "UPSTREAM_ERROR", message: "\(apiName) answered \(status)")
        }
        return false
    }

    private func addNote(_ id: String, tenantId: Int64, params: JSONObject, input: JSONObject, testMode: Bool) throws {
        let template = params["template"]?.stringValue ?? ""
        let text: String
        do {
            text = try Templates.fillString(template, input: input).stringValue ?? ""
        } catch let missing as Templates.MissingField {
            throw APIError.validation(field: "input", "the note template uses {{\(missing.path)}}, which the run's input lacks")
        }
        try store.write { db in
            let callId = SecureRandom.uuid()
            try appendStep(db, id, type: "TOOL_CALL", message: "add note", toolCallId: callId, toolType: "ADD_NOTE",
                           data: .object(["template": .string(template)]))
            if testMode {
                try appendStep(db, id, type: "TOOL_RESULT", message: "test mode: note planned, not stored", toolCallId: callId, toolType: "ADD_NOTE",
                               data: .object(["content": .string(text)]))
                return
            }
            let artifact = SecureRandom.uuid()
            try db.execute("INSERT INTO artifacts (id, execution_id, tenant_id, kind, name, content, created_at) VALUES (?, ?, ?, 'markdown', ?, ?, ?)",
                           [.text(artifact), .text(id), .int(tenantId), .text(params["name"]?.stringValue ?? "note.md"), .text(text), .text(Timestamp.now())])
            try appendStep(db, id, type: "TOOL_RESULT", message: "note stored as artifact \(artifact)", toolCallId: callId, toolType: "ADD_NOTE",
                           data: .object(["artifact_id": .string(artifact), "bytes": .int(Int64(text.utf8.count))]))
        }
    }

    private func finish(_ id: String, status: String, error: String?, message: String?) throws {
        try store.write { db in
            let now = Timestamp.now()
            if let error {
                try appendStep(db, id, type: "ERROR", message: error, isError: true)
            } else {
                try appendStep(db, id, type: "FINAL_MESSAGE", message: message ?? status)
            }
            try db.execute("""
                UPDATE executions SET status = ?, error = ?, message_for_dashboard = ?, finished_at = ?, updated_at = ?,
                  seconds_spent = COALESCE((julianday(?) - julianday(started_at)) * 86400.0, 0)
                WHERE id = ? AND status = 'running'
                """, [.text(status), error.map { .text($0) } ?? .null, .text(message ?? error ?? status), .text(now), .text(now), .text(now), .text(id)])
        }
    }
}

/// Appends one step to an execution; returns its sequence number.
@discardableResult
func appendStep(_ db: Database, _ executionId: String, type: String, message: String?, isError: Bool = false,
                toolCallId: String? = nil, toolType: String? = nil, data: JSON? = nil) throws -> Int64 {
    let seq = (try db.queryOne("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM execution_steps WHERE execution_id = ?", [.text(executionId)])?.int("n")) ?? 1
    try db.execute("""
        INSERT INTO execution_steps (execution_id, tenant_id, seq, type, message, is_error, tool_call_id, tool_type_name, data, created_at)
        SELECT ?, tenant_id, ?, ?, ?, ?, ?, ?, ?, ? FROM executions WHERE id = ?
        """, [.text(executionId), .int(seq), .text(type), message.map { .text($0) } ?? .null, .int(isError ? 1 : 0),
              toolCallId.map { .text($0) } ?? .null, toolType.map { .text($0) } ?? .null,
              data.map { .text($0.serializedString()) } ?? .null, .text(Timestamp.now()), .text(executionId)])
    return seq
}

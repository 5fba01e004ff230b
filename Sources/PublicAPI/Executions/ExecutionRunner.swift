import Basics
import Foundation
import NeoJSON
import Store

/// Runs agent executions in the background (design §5): a bounded number of threads claim queued
/// rows from SQLite, so queued work survives a restart. Each run records FIND_ENTITIES, then the
/// agent's actions in order: EXTERNAL_API_REQUEST through the executor (pausing for a TIL approval
/// when the config requires one), ADD_NOTE as a markdown artifact, anything else skipped. AGENTIC
/// agents run the model loop (`AgentLoop`) instead, whatever started the run.
public final class ExecutionRunner: Sendable {
    let store: Store
    let logger: Logger
    let concurrency: Int
    let external: ExternalCalls
    /// Runs AGENTIC agents (design §10); without it their runs fail saying so.
    let agentLoop: AgentLoop?
    /// Runs the executions of chat turns (design §13); set once the chat service exists.
    private let chat = Lock<ChatTurns?>(nil)
    var chatTurns: ChatTurns? {
        get { chat.withLock { $0 } }
        set { chat.withLock { $0 = newValue } }
    }
    /// Whether to stop, a count of pokes (new work) that idle workers wait on, how many workers run, and the
    /// earliest time (Unix seconds) an idle worker has been told to look again for a run queued to start later.
    private let state = Lock<(stopping: Bool, pokes: Int, workers: Int, wakeAt: Double)>((false, 0, 0, .infinity))
    /// This node's leases on the runs it executes: claim, heartbeat, reaper (design §11).
    let leases: RunLeases
    /// PostgreSQL: the connection that hears `NOTIFY neo_runs` from every node and pokes this runner.
    private let listener = Lock<PostgresListener?>(nil)

    init(store: Store, logger: Logger, concurrency: Int, external: ExternalCalls = .none, agentLoop: AgentLoop? = nil,
         leases: RunLeases? = nil) {
        self.store = store
        self.logger = logger
        self.concurrency = max(1, concurrency)
        self.external = external
        self.agentLoop = agentLoop
        self.leases = leases ?? RunLeases(store: store, logger: logger, seconds: 30, maxAttempts: 3)
    }

    /// Takes over runs a dead node left running (on SQLite: every running run, since this is the only node), starts
    /// the heartbeat and reaper, the LISTEN connection on PostgreSQL, then the worker threads.
    public func start() throws {
        logger.info("runner node", ["node": .string(leases.node), "lease_seconds": .double(leases.seconds),
                                    "max_attempts": .int(Int64(leases.maxAttempts))])
        let previous = leases.onReaped
        leases.onReaped = { [weak self] taken in
            previous?(taken)
            if taken.contains(where: \.requeued) { self?.poke() }
        }
        try leases.start()
        let heard = store.listen(Database.runsChannel, onNotify: { [weak self] count in self?.poke(count) },
                                 onProblem: { [logger] problem in logger.warn("run notifications: listening connection lost; polling meanwhile",
                                                                              ["error": .string(problem)]) })
        listener.withLock { $0 = heard }
        state.withLock { $0.workers = concurrency }
        for i in 0..<concurrency {
            // The thread holds the runner strongly until it stops (after `stop`).
            let t = Thread {
                self.work()
                self.state.withLock { $0.workers -= 1 }
                self.state.notifyAll()
            }
            t.name = "neo-runner-\(i)"
            t.start()
        }
    }

    /// Stops taking new work and waits (up to `deadline` seconds) for runs in progress.
    public func stop(deadline: Double = 10) {
        state.withLock { $0.stopping = true }
        state.notifyAll()
        state.withLock(waitingUntil: { $0.workers == 0 }, timeout: deadline) { _, _ in }
        listener.withLock { $0 }?.stop()
        leases.stop()
    }

    /// Wakes a worker: new queued work.
    func poke() {
        state.withLock { $0.pokes &+= 1 }
        state.notifyOne()
    }

    /// New queued work that is not runnable before `due` (a callback's runs wait out the tenant's
    /// sleep_before_callback_processing_seconds): no worker looks now, since its claim would find nothing; an
    /// idle worker is woken only when `due` is earlier than every time idle workers already look again, and
    /// then waits until it. A burst of callbacks with the same delay thus wakes no one but the first.
    func poke(at due: Date) {
        let at = due.timeIntervalSince1970
        guard at > Date().timeIntervalSince1970 else { return poke() }
        let lowered = state.withLock { value -> Bool in
            guard at < value.wakeAt else { return false }
            value.wakeAt = at
            return true
        }
        if lowered { state.notifyOne() }
    }

    /// Wakes `count` workers (one per notification heard: each is a transaction that queued work), all of them
    /// when there are as many.
    func poke(_ count: Int) {
        guard count < concurrency else {
            state.withLock { $0.pokes &+= 1 }
            return state.notifyAll()
        }
        for _ in 0..<count { poke() }
    }

    // MARK: queueing

    /// Inserts a queued execution of `agentId`; returns its execution_id.
    /// `audit`: the request that asked, whose audit row is appended in the same transaction (status 202).
    func enqueue(tenantId: Int64, agentId: Int64, entityId: String?, instructions: String?, input: String?,
                 testMode: Bool, retryOf: String? = nil, keyId: Int64?, trigger: JSON, trace: TraceContext? = nil,
                 audit: AuditSource? = nil) throws -> String {
        let id = SecureRandom.timeOrderedUUID()
        try store.write { db in
            guard let agent = try AgentRecords.nameAndVersion(agentId, tenantId: tenantId, db) else {
                throw APIError.notFound("agent '\(agentId)' not found")
            }
            let new = ExecutionRecords.NewExecution(tenantId: tenantId, agentId: agentId, agentName: agent.name, agentVersion: agent.version,
                                                    kind: .agentRun, status: .queued, entityId: entityId, instructions: instructions,
                                                    input: input, testMode: testMode, retryOf: retryOf, keyId: keyId, trigger: trigger,
                                                    trace: trace)
            try ExecutionRecords.insert(new, id: id, now: Timestamp.now(), db)
            if let audit { try AuditRecords.append(audit, tenantId: tenantId, .execution(id), status: 202, before: nil, db) }
        }
        poke()
        return id
    }

    /// Cancels a queued, running or waiting run (its pending approvals expire); returns the updated
    /// execution, or nil when it had finished.
    func cancel(executionId: String, tenantId: Int64, audit: AuditSource? = nil) throws -> Execution? {
        try store.write { db in
            let now = Timestamp.now()
            let before = try audit.map { _ in try AuditRecords.digest(.execution(executionId), tenantId: tenantId, db) }
            guard try ExecutionRecords.cancel(executionId, tenantId: tenantId, now: now, db) else { return nil }
            try ApprovalRecords.expire(forExecution: executionId, note: "execution cancelled", now: now, db)
            try AgentLoopRecords.delete(executionId, db)
            if let audit { try AuditRecords.append(audit, tenantId: tenantId, .execution(executionId), status: 200, before: before ?? nil, db) }
            return try ExecutionRecords.find(executionId, db)
        }
    }

    /// An approved TIL request releases its waiting run: it is queued again and resumes at the action.
    func resume(executionId: String, approvedAction: Int, in db: Database) throws {
        try ExecutionRecords.resume(executionId, approvedAction: approvedAction, now: Timestamp.now(), db)
    }

    /// A rejected TIL request fails the waiting step and the run; an AGENTIC run instead resumes, and
    /// its model is told the call was rejected.
    func reject(executionId: String, action: Int, note: String?, in db: Database) throws {
        guard try ExecutionRecords.status(of: executionId, db) == .waitingApproval else { return }
        if try AgentLoopRecords.isWaitingForApproval(executionId, db) {
            return try ExecutionRecords.resume(executionId, approvedAction: action, now: Timestamp.now(), db)
        }
        let reason = "approval rejected" + (note.map { ": \($0)" } ?? "")
        try ExecutionRecords.appendStep(executionId, type: .error, message: reason, isError: true, toolType: AgentSchema.externalAPIRequest, db)
        try ExecutionRecords.finish(executionId, as: .failed, error: reason, message: reason, now: Timestamp.now(), from: .waitingApproval, db)
    }

    // MARK: the worker loop

    private func work() {
        var seen = state.withLock { $0.pokes }
        while true {
            if state.withLock({ $0.stopping }) { return }
            let claimed: Execution?
            do { claimed = try claim() } catch {
                logger.error("runner could not claim work", ["error": .string(String(describing: error))])
                claimed = nil
            }
            guard let execution = claimed else {
                seen = waitForWork(seen: seen)
                continue
            }
            let lease = execution.lease
            defer { leases.untrack(lease) }
            run(execution)
        }
    }

    /// Idle: waits for a poke or a stop, or until the earliest queued run becomes runnable, at most a second (work
    /// queued elsewhere: by another node, or before a restart); a `poke(at:)` earlier than that shortens the wait.
    /// Returns the pokes seen.
    private func waitForWork(seen: Int) -> Int {
        let due = nextRunnable() ?? .infinity
        while true {
            let now = Date().timeIntervalSince1970
            let until = min(due, now + 1, state.withLock { $0.wakeAt })
            let (pokes, shortened) = state.withLock(waitingUntil: { $0.stopping || $0.pokes != seen || $0.wakeAt < until },
                                                    timeout: max(0.001, until - now)) { value, ready -> (Int, Bool) in
                let poked = value.stopping || value.pokes != seen
                if !poked, value.wakeAt <= Date().timeIntervalSince1970 { value.wakeAt = .infinity }  // this worker looks
                return (value.pokes, ready && !poked)
            }
            if !shortened { return pokes }
        }
    }

    /// When the earliest queued run becomes runnable (Unix seconds; nil when none is queued), from a reader.
    private func nextRunnable() -> Double? {
        guard let text = try? store.read({ try ExecutionRecords.nextRunnableAt($0) }) else { return nil }
        return Timestamp.parse(text)?.timeIntervalSince1970
    }

    /// Atomically moves the oldest queued run to running under this node's lease, renewed from then on.
    private func claim() throws -> Execution? {
        let claimed = try store.write(isolation: .readCommitted) {
            try ExecutionRecords.claimNext(node: leases.node, leaseSeconds: leases.seconds, now: Timestamp.now(), $0)
        }
        if let claimed { leases.track(claimed.lease) }
        return claimed
    }

    private struct Stop: Error { let failure: String? }

    private func run(_ execution: Execution) {
        let id = execution.id
        let lease = execution.lease
        let tenantId = execution.tenantId
        let testMode = execution.testMode
        let input = execution.inputObject
        var index = execution.nextAction
        let approved = execution.approvedAction
        let trace = execution.runSpan()
        if execution.kind == .externalAPIInvoke {
            return runApprovedInvoke(lease, tenantId: tenantId, input: input, trace: trace)
        }
        do {
            let document = try execution.agentId.flatMap { agentId in
                try store.read { try AgentRecords.document(agentId, tenantId: tenantId, $0) }
            }
            guard let agent = document else {
                throw Stop(failure: "the agent no longer exists")
            }
            let actions = agent["actions"]?.arrayValue ?? []
            if AgentLoop.runs(agent) {
                return try runAgentic(execution, agent: agent, actions: actions)
            }
            if agent["autonomy_type"]?.stringValue == AgentSchema.conversational {
                guard let chat = chatTurns else { throw Stop(failure: "this server was started without chat sessions") }
                return try chat.run(execution, agent: agent)
            }
            if index == 0, let refusal = try preflight(actions, input: input, tenantId: tenantId) {
                throw Stop(failure: refusal)
            }
            if index == 0 {
                try recordFindEntities(lease, agent: agent, execution: execution)
                index = actions.first?["action_type"]?.stringValue == "FIND_ENTITIES" ? 1 : 0
            }
            while index < actions.count {
                try checkStillRunning(lease)
                let action = actions[index]
                let type = action["action_type"]?.stringValue ?? "UNKNOWN"
                let params = action["input_as_dict"]?.objectValue ?? JSONObject()
                switch type {
                case AgentSchema.externalAPIRequest:
                    let paused = try externalRequest(lease, tenantId: tenantId, actionIndex: index, params: params, input: input,
                                                     approved: approved == index, testMode: testMode, execution: execution, trace: trace)
                    if paused { return }
                case AgentSchema.addNote:
                    // A note is this database's own effect: stored with the run's move past it, exactly once.
                    try addNote(lease, tenantId: tenantId, params: params, input: input, testMode: testMode, next: index + 1)
                    index += 1
                    continue
                default:
                    // Preflight refuses these; an edit made while the run waited for an approval can still add one.
                    throw Stop(failure: "action \(action["id"]?.stringValue ?? "?") has action_type '\(type)', which this server does not run; the run stopped before it")
                }
                index += 1
                try store.write { try ExecutionRecords.setNextAction(lease, index, now: Timestamp.now(), $0) }
            }
            let pipeline = actions.filter { $0["action_type"]?.stringValue != AgentSchema.findEntities }.count
            try finish(lease, status: .succeeded, error: nil, message: testMode ? "test mode: every step planned, nothing sent" : "completed \(pipeline) action(s)")
        } catch let lost as LeaseLost {
            lostLease(lost)
        } catch let stop as Stop {
            if let failure = stop.failure { finishQuietly(lease, status: .failed, error: failure) }
        } catch let e as APIError {
            finishQuietly(lease, status: .failed, error: e.message)
        } catch {
            logger.error("execution failed unexpectedly", ["execution_id": .string(id), "error": .string(String(describing: error))])
            finishQuietly(lease, status: .failed, error: "internal error while running; see the server log")
        }
    }

    /// Records a failure unless the lease is gone (then nothing more is written).
    private func finishQuietly(_ lease: RunLease, status: ExecutionStatus, error: String) {
        do { try finish(lease, status: status, error: error, message: nil) } catch let lost as LeaseLost {
            lostLease(lost)
        } catch {
            logger.error("could not record a run's end", ["execution_id": .string(lease.executionId), "error": .string(String(describing: error))])
        }
    }

    /// A run this node no longer holds stops here: quietly after a cancel, with a warning when another node has it.
    func lostLease(_ lost: LeaseLost) {
        if lost.takenOver { logger.warn("lease lost: the run continues elsewhere; this node stopped it and writes nothing more", lost.logFields) }
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

    /// FIND_ENTITIES once, then the model loop, which records its own steps and end.
    private func runAgentic(_ execution: Execution, agent: JSONObject, actions: [JSON]) throws {
        guard let loop = agentLoop else { throw Stop(failure: "this server was started without AGENTIC runs") }
        let agenticIndex = actions.firstIndex { $0["action_type"]?.stringValue == AgentSchema.agentic } ?? max(actions.count - 1, 0)
        if execution.nextAction == 0 {
            try recordFindEntities(execution.lease, agent: agent, execution: execution, thenNextAction: agenticIndex)
        }
        loop.run(execution, agent: agent, actionIndex: agenticIndex)
    }

    /// A direct invoke by an agent's key that waited for approval: now approved, it is sent.
    private func runApprovedInvoke(_ lease: RunLease, tenantId: Int64, input: JSONObject, trace: TraceContext) {
        var body = input
        let apiName = body.removeValue(forKey: "api_name")?.stringValue ?? ""
        let callId = SecureRandom.uuid()
        do {
            let outcome = try external.invoke(tenantId, apiName, body, false, trace)
            let status = outcome.result?["status"]?.intValue ?? 0
            try store.write { db in
                try ExecutionRecords.appendStep(lease, type: .toolCall, message: "call \(apiName)", toolCallId: callId, toolType: AgentSchema.externalAPIRequest,
                                                data: ExecutionRunner.toolCallData(apiName, outcome.request), db)
                try ExecutionRunner.appendEarlierAttempts(lease.executionId, apiName: apiName, callId: callId, toolType: AgentSchema.externalAPIRequest,
                                                          result: outcome.result, claim: lease, db)
                try ExecutionRecords.appendStep(lease, type: .toolResult, message: "\(apiName) answered \(status)", isError: status >= 400,
                                                toolCallId: callId, toolType: AgentSchema.externalAPIRequest, data: outcome.result, db)
            }
            if status >= 400 {
                try finish(lease, status: .failed, error: "\(apiName) answered \(status)", message: nil)
            } else {
                try finish(lease, status: .succeeded, error: nil, message: "external API '\(apiName)' answered \(status)")
            }
        } catch let lost as LeaseLost {
            lostLease(lost)
        } catch let e as APIError {
            finishQuietly(lease, status: .failed, error: "\(apiName): \(e.message)")
        } catch {
            logger.error("approved invoke failed unexpectedly", ["execution_id": .string(lease.executionId), "error": .string(String(describing: error))])
            finishQuietly(lease, status: .failed, error: "internal error while calling; see the server log")
        }
    }

    /// One TOOL_RESULT step per attempt the executor tried again (the config's retry block), before the
    /// final attempt's own: `{attempt, status, error?, duration_ms, wait_ms, retry_after?}`.
    static func appendEarlierAttempts(_ executionId: String, apiName: String, callId: String, toolType: String, result: JSON?,
                                      claim: RunLease? = nil, _ db: Database) throws {
        for attempt in result?["earlier_attempts"]?.arrayValue ?? [] {
            let n = attempt["attempt"]?.intValue ?? 0
            let what = attempt["status"]?.intValue.map { "answered \($0)" } ?? (attempt["error"]?.stringValue ?? "failed")
            let wait = attempt["wait_ms"]?.doubleValue.map { Int($0) } ?? 0
            try ExecutionRecords.appendStep(executionId, type: .toolResult, message: "\(apiName) attempt \(n) \(what); retrying in \(wait) ms",
                                            isError: true, toolCallId: callId, toolType: toolType, data: attempt, claim: claim, db)
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

    /// A cancel (or another node's takeover) between steps stops the run without touching the status it wrote.
    private func checkStillRunning(_ lease: RunLease) throws {
        try store.read { try ExecutionRecords.hold(lease, locking: false, $0) }
    }

    /// The FIND_ENTITIES steps; `thenNextAction` moves the run past them in the same transaction.
    private func recordFindEntities(_ id: RunLease, agent: JSONObject, execution: Execution, thenNextAction next: Int? = nil) throws {
        let entity = execution.entityId
        try store.write { db in
            if let next { try ExecutionRecords.setNextAction(id, next, now: Timestamp.now(), db) }
            let callId = SecureRandom.uuid()
            try ExecutionRecords.appendStep(id, type: .toolCall, message: "find \(agent["entity_type"]?.stringValue ?? "ticket") entities",
                                            toolCallId: callId, toolType: AgentSchema.findEntities,
                                            data: .object(["entity_type": agent["entity_type"] ?? "ticket", "target_entity_id": entity.map { .string($0) } ?? .null,
                                                           "ticket_conditions": agent["ticket_conditions"] ?? .null]), db)
            try ExecutionRecords.appendStep(id, type: .toolResult,
                                            message: entity.map { "target entity \($0) taken as found (no PSA attached)" } ?? "no target entity given",
                                            toolCallId: callId, toolType: AgentSchema.findEntities,
                                            data: .object(["entities": entity.map { [.string($0)] } ?? []]), db)
        }
    }

    /// Returns true when the run now waits for an approval.
    private func externalRequest(_ id: RunLease, tenantId: Int64, actionIndex: Int, params: JSONObject, input: JSONObject,
                                 approved: Bool, testMode: Bool, execution: Execution, trace: TraceContext) throws -> Bool {
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
            let planned = try external.invoke(tenantId, apiName, body, true, trace)
            try store.write { db in
                let now = Date()
                let requested = ExecutionRunner.toolCallData(apiName, planned.request)
                let seq = try ExecutionRecords.appendStep(id, type: .thought, message: "waiting for approval to call \(apiName)",
                                                          toolType: AgentSchema.externalAPIRequest, data: requested, db)
                let til = try ApprovalRecords.insert(TilRequestDraft(
                    tenantId: tenantId, agentId: execution.agentId, agentName: execution.agentName, kind: .externalAPICall,
                    comment: "Agent \(execution.agentName ?? "") wants to call external API '\(apiName)'", requestedFor: requested,
                    payload: JSON.object(["action_index": .int(Int64(actionIndex))]).serializedString(),
                    executionId: id.executionId, stepSeq: seq, ticketId: execution.entityId), now: now, db)
                try ExecutionRecords.waitForApproval(id, atAction: actionIndex, message: ExecutionRunner.waitingMessage(tilId: til.id ?? 0, apiName: apiName),
                                                     now: Timestamp.format(now), db)
            }
            return true
        }
        let callId = SecureRandom.uuid()
        let outcome: ExternalCalls.Outcome
        do {
            outcome = try external.invoke(tenantId, apiName, body, testMode, trace)
        } catch let e as APIError {
            try store.write { db in
                try ExecutionRecords.appendStep(id, type: .error, message: "\(apiName): \(e.message)", isError: true, toolCallId: callId,
                                                toolType: AgentSchema.externalAPIRequest, data: .object(["code": .string(e.code), "status": .int(Int64(e.status))]), db)
            }
            throw e
        }
        try store.write { db in
            try ExecutionRecords.appendStep(id, type: .toolCall, message: "call \(apiName)", toolCallId: callId, toolType: AgentSchema.externalAPIRequest,
                                            data: ExecutionRunner.toolCallData(apiName, outcome.request), db)
            if let result = outcome.result {
                try ExecutionRunner.appendEarlierAttempts(id.executionId, apiName: apiName, callId: callId, toolType: AgentSchema.externalAPIRequest,
                                                          result: result, claim: id, db)
                let status = result["status"]?.intValue ?? 0
                try ExecutionRecords.appendStep(id, type: .toolResult, message: "\(apiName) answered \(status)", isError: status >= 400,
                                                toolCallId: callId, toolType: AgentSchema.externalAPIRequest, data: result, db)
            } else {
                try ExecutionRecords.appendStep(id, type: .toolResult, message: "test mode: request planned, not sent", toolCallId: callId,
                                                toolType: AgentSchema.externalAPIRequest, data: .object(["planned": true]), db)
            }
        }
        if let status = outcome.result?["status"]?.intValue, status >= 400 {
            throw APIError(status: 502, code: "UPSTREAM_ERROR", message: "\(apiName) answered \(status)")
        }
        return false
    }

    /// The note's steps, its artifact and `next` (the action after it) in one transaction.
    private func addNote(_ id: RunLease, tenantId: Int64, params: JSONObject, input: JSONObject, testMode: Bool, next: Int) throws {
        let template = params["template"]?.stringValue ?? ""
        let text: String
        do {
            text = try Templates.fillString(template, input: input).stringValue ?? ""
        } catch let missing as Templates.MissingField {
            throw APIError.validation(field: "input", "the note template uses {{\(missing.path)}}, which the run's input lacks")
        }
        try store.write { db in
            let callId = SecureRandom.uuid()
            try ExecutionRecords.appendStep(id, type: .toolCall, message: "add note", toolCallId: callId, toolType: AgentSchema.addNote,
                                            data: .object(["template": .string(template)]), db)
            try ExecutionRecords.setNextAction(id, next, now: Timestamp.now(), db)
            if testMode {
                try ExecutionRecords.appendStep(id, type: .toolResult, message: "test mode: note planned, not stored", toolCallId: callId,
                                                toolType: AgentSchema.addNote, data: .object(["content": .string(text)]), db)
                return
            }
            let artifact = SecureRandom.uuid()
            try ExecutionRecords.insertArtifact(id: artifact, executionId: id.executionId, tenantId: tenantId, name: params["name"]?.stringValue ?? "note.md",
                                                content: text, now: Timestamp.now(), db)
            try ExecutionRecords.appendStep(id, type: .toolResult, message: "note stored as artifact \(artifact)", toolCallId: callId,
                                            toolType: AgentSchema.addNote, data: .object(["artifact_id": .string(artifact), "bytes": .int(Int64(text.utf8.count))]), db)
        }
    }

    private func finish(_ id: RunLease, status: ExecutionStatus, error: String?, message: String?) throws {
        try store.write { db in
            if let error {
                try ExecutionRecords.appendStep(id, type: .error, message: error, isError: true, db)
            } else {
                try ExecutionRecords.appendStep(id, type: .finalMessage, message: message ?? status.rawValue, db)
            }
            try ExecutionRecords.finish(id, as: status, error: error, message: message ?? error ?? status.rawValue, now: Timestamp.now(), db)
        }
    }
}

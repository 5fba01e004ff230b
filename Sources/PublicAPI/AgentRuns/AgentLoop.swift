import Basics
import Executor
import Foundation
import HTTPServer
import NeoJSON
import Store

/// Runs AGENTIC executions (design §10): the agent's instructions and the task go to its model with the
/// toolbox's tools; each call the model asks for runs in order, through the executor (an external API)
/// or this server's router (`neo_api_request`), and its redacted result goes back, until the model
/// answers without a call. Every model turn and every call is a durable step, and the loop's state is
/// saved with it, so a call held for a technician's approval resumes exactly where it stopped.
final class AgentLoop: Sendable {
    let store: Store
    let logger: Logger
    let configs: ExternalAPIRecords
    let providers: LLMProviderRecords
    let external: ExternalCalls
    let models: ModelClient
    /// Serves `neo_api_request` through the App's router; set once the App exists.
    private let serveNeoAPI = Lock<(@Sendable (HTTPRequest, Principal) -> HTTPResponse)?>(nil)
    var neoAPI: (@Sendable (HTTPRequest, Principal) -> HTTPResponse)? {
        get { serveNeoAPI.withLock { $0 } }
        set { serveNeoAPI.withLock { $0 = newValue } }
    }

    /// A tool result is cut to this many bytes before it reaches the model.
    static let maxResultBytes = 16 * 1024

    init(store: Store, logger: Logger, configs: ExternalAPIRecords, providers: LLMProviderRecords, external: ExternalCalls, models: ModelClient) {
        self.store = store
        self.logger = logger
        self.configs = configs
        self.providers = providers
        self.external = external
        self.models = models
    }

    /// Whether `agent` runs through this loop.
    static func runs(_ agent: JSONObject) -> Bool { agent["autonomy_type"]?.stringValue == AgentSchema.agentic }

    /// What does not change while a run runs.
    private struct Context {
        let execution: Execution
        /// The AGENTIC action's index (what a TIL request's approval resumes).
        let actionIndex: Int
        let settings: AgentRunSettings
        let provider: ModelProvider
        let endpoint: ExternalAPIConfig
        let tools: AgentTools.ToolSet
        let redactor: SecretRedactor
        /// The agent-actor principal `neo_api_request` runs as, when the toolbox has that tool.
        let principal: Principal?
        /// The run's span: model and tool calls carry children of it.
        let trace: TraceContext
        /// Watches the run (a chat turn); nil for AGENTIC executions.
        let observer: AgentRunObserver?
        var id: String { execution.id }
        /// The claim every write of the run is fenced by.
        var lease: RunLease { execution.lease }
        var tenant: Int64 { execution.tenantId }
    }

    /// Why a run stopped early: it failed (recorded by `run`), waits for approval, or was cancelled meanwhile.
    private enum Stop: Error {
        case failed(String, data: JSON?)
        case paused
        case cancelled
    }

    /// What one tool call came to: the result the model reads and the TOOL_CALL/TOOL_RESULT steps.
    private struct Answer {
        var content: JSON
        var isError: Bool
        var toolType: String?
        var callMessage: String
        var callData: JSON
        var resultMessage: String
        var resultData: JSON
    }

    /// Runs (or resumes) one claimed AGENTIC execution (or chat turn, with its `observer`) to its end, a
    /// pause, or a cancel.
    func run(_ execution: Execution, agent: JSONObject, actionIndex: Int, observer: AgentRunObserver? = nil) {
        do {
            let context = try prepare(execution, agent: agent, actionIndex: actionIndex, observer: observer)
            var state: AgentLoopState
            if let saved = try store.read({ try AgentLoopRecords.load(execution.id, $0) }) {
                state = saved
            } else {
                let opening: [ChatMessage]
                if let observer {
                    opening = try observer.opening().map { message in
                        if case .user(let text) = message { return .user(context.redactor.redact(text)) }
                        return message
                    }
                } else {
                    opening = [.user(context.redactor.redact(task(execution, agent: agent)))]
                }
                state = AgentLoopState(system: context.redactor.redact(AgentPrompt.system(customInstructions: context.settings.customInstructions)),
                                       messages: opening)
            }
            try loop(&state, context)
        } catch Stop.failed(let message, let data) {
            if fail(execution.lease, message, data: data) { observer?.failed(message) }
        } catch Stop.paused {
            return
        } catch Stop.cancelled {
            observer?.failed("the run was cancelled")
        } catch let lost as LeaseLost {
            // Cancelled meanwhile: the turn ends so; taken over: another node goes on with the run (and its turn).
            if lost.takenOver {
                logger.warn("lease lost: the run continues elsewhere; this node stopped it and writes nothing more", lost.logFields)
            } else {
                observer?.failed("the run was cancelled")
            }
        } catch let e as APIError {
            if fail(execution.lease, e.message, data: nil) { observer?.failed(e.message) }
        } catch {
            logger.error("AGENTIC run failed unexpectedly", ["execution_id": .string(execution.id), "error": .string(String(describing: error))])
            if fail(execution.lease, "internal error while running; see the server log", data: nil) {
                observer?.failed("internal error while running; see the server log")
            }
        }
    }

    // MARK: the loop

    private func loop(_ state: inout AgentLoopState, _ c: Context) throws {
        let resumedAt = ModelClient.now()
        let spentBefore = state.activeSeconds
        let deadline = resumedAt + Double(c.settings.maxRunSeconds) - spentBefore
        let elapsed = { spentBefore + ModelClient.now() - resumedAt }
        func checkTime() throws {
            if ModelClient.now() >= deadline {
                throw Stop.failed("max_run_seconds (\(c.settings.maxRunSeconds)) reached: the run stopped before the model gave a final answer", data: nil)
            }
        }

        if let approval = state.approval { try settle(approval, &state, c, elapsed: elapsed) }
        while true {
            while let call = state.pendingCalls.first {
                try checkRunning(c)
                try checkTime()
                try answer(call, &state, c, elapsed: elapsed)
            }
            try checkRunning(c)
            try checkTime()
            guard state.modelCalls < c.settings.maxIterations else {
                throw Stop.failed("max_iterations (\(c.settings.maxIterations)) reached: the model made \(state.modelCalls) calls without a final answer", data: nil)
            }
            let request = ModelRequest(system: state.system, messages: state.messages, tools: c.tools.definitions)
            let outcome: ModelClient.Outcome
            c.observer?.modelCallStarted()
            var onText: (@Sendable (String) -> Void)?
            if let observer = c.observer { onText = { observer.textDelta($0) } }
            switch models.complete(c.provider, endpoint: c.endpoint, request, tenant: String(c.tenant), takenIds: state.callIds, deadline: deadline,
                                   trace: c.trace, model: c.observer?.model, onText: onText) {
            case .failure(let f):
                let reason = f.outOfTime
                    ? "max_run_seconds (\(c.settings.maxRunSeconds)) reached while waiting for model provider '\(c.provider.name)' (\(f.message))"
                    : "model provider '\(c.provider.name)': \(f.message)"
                throw Stop.failed(reason,
                                  data: .object(JSONObject([("llm", .object(JSONObject([("provider", .string(c.provider.name)),
                                                                                       ("model", .string(c.provider.model)),
                                                                                       ("attempts", .int(Int64(f.attempts)))])))])))
            case .success(let o):
                outcome = o
            }
            let turn = outcome.turn
            c.observer?.modelAnswered(text: turn.text, calls: turn.calls)
            state.modelCalls += 1
            state.tokens = TokenUsage(prompt: state.tokens.prompt + turn.usage.prompt, completion: state.tokens.completion + turn.usage.completion)
            let llm = llmData(c, outcome)
            if turn.calls.isEmpty {
                return try succeed(c, text: turn.text, llm: llm, usage: turn.usage)
            }
            state.messages.append(.assistant(text: turn.text, calls: turn.calls))
            state.pendingCalls = turn.calls
            state.activeSeconds = elapsed()
            let names = turn.calls.map(\.name).joined(separator: ", ")
            let thought = JSONObject([("text", turn.text.map(JSON.string) ?? .null),
                                      ("tool_calls", .array(turn.calls.map { call in
                                          .object(JSONObject([("id", .string(call.id)), ("name", .string(call.name)), ("arguments", shown(call))]))
                                      })), ("llm", llm)])
            try store.write { [state] db in
                try Self.stillRunning(c, db)
                try AgentLoopRecords.addUsage(c.lease, turn.usage, db)
                try ExecutionRecords.appendStep(c.lease, type: .thought, message: turn.text ?? "asked for \(turn.calls.count) tool call(s): \(names)",
                                                data: .object(thought), db)
                try AgentLoopRecords.save(c.lease, tenantId: c.tenant, state, db)
            }
            if state.tokens.total >= c.settings.maxTotalTokens {
                throw Stop.failed("max_total_tokens (\(c.settings.maxTotalTokens)) reached: the run used \(state.tokens.total) tokens in \(state.modelCalls) model calls", data: nil)
            }
        }
    }

    /// Runs (or refuses) the first pending call and records it; throws `Stop.paused` when it must wait.
    private func answer(_ call: ToolCall, _ state: inout AgentLoopState, _ c: Context, elapsed: () -> Double) throws {
        state.toolCalls += 1
        guard state.toolCalls <= c.settings.maxToolCalls else {
            throw Stop.failed("max_tool_calls (\(c.settings.maxToolCalls)) reached: the model asked for more tool calls than the agent allows", data: nil)
        }
        let answer: Answer
        if let tool = c.tools.tools[call.name] {
            if let problem = call.argumentsError {
                answer = refusal(call, toolType: toolType(tool), "\(problem); send the arguments as one JSON object matching the tool's parameters")
            } else if !state.identicalCalls.admit(tool: call.name, arguments: call.arguments) {
                answer = refusal(call, toolType: toolType(tool), IdenticalCallGuard.refusal)
            } else {
                switch tool {
                case .externalAPI(let config):
                    answer = try callExternal(call, config, &state, c, elapsed: elapsed)
                case .neoAPI:
                    answer = callNeoAPI(call, c)
                }
            }
        } else {
            let offered = c.tools.definitions.map(\.name)
            answer = refusal(call, toolType: nil, "there is no tool named '\(call.name.prefix(64))'; the tools are: \(offered.isEmpty ? "none" : offered.joined(separator: ", "))")
        }
        try record(call, answer, &state, c, elapsed: elapsed, callStep: true)
    }

    /// Appends the result to the conversation and writes the steps and the state in one transaction.
    private func record(_ call: ToolCall, _ answer: Answer, _ state: inout AgentLoopState, _ c: Context, elapsed: () -> Double, callStep: Bool) throws {
        let content = c.redactor.redact(answer.content.serializedString())
        state.messages.append(.toolResult(callId: call.id, name: call.name, content: content, isError: answer.isError))
        state.pendingCalls.removeFirst()
        state.activeSeconds = elapsed()
        try store.write { [state] db in
            try Self.stillRunning(c, db)
            if callStep {
                try ExecutionRecords.appendStep(c.lease, type: .toolCall, message: answer.callMessage, toolCallId: call.id, toolType: answer.toolType,
                                                data: answer.callData, db)
            }
            try ExecutionRecords.appendStep(c.lease, type: .toolResult, message: answer.resultMessage, isError: answer.isError, toolCallId: call.id,
                                            toolType: answer.toolType, data: answer.resultData, db)
            try AgentLoopRecords.save(c.lease, tenantId: c.tenant, state, db)
        }
        c.observer?.toolAnswered(call, output: content, isError: answer.isError)
    }

    // MARK: external APIs

    private func callExternal(_ call: ToolCall, _ config: ExternalAPIConfig, _ state: inout AgentLoopState, _ c: Context,
                              elapsed: () -> Double) throws -> Answer {
        let type = AgentToolbox.externalAPITool
        let schema = c.tools.definitions.first { $0.name == call.name }?.parameters ?? JSONObject()
        let body: JSONObject
        switch AgentTools.invocation(call.argumentsObject, for: config, schema: schema) {
        case .failure(let e): return refusal(call, toolType: type, e.message)
        case .success(let b): body = b
        }
        // Built (never sent) first: the redacted request is what the step and a TIL request show.
        let planned: ExternalCalls.Outcome
        do { planned = try external.invoke(c.tenant, config.name, body, true, c.trace) } catch let e as APIError {
            return refusal(call, toolType: type, e.message)
        }
        var callData = JSONObject([("tool", .string(call.name)), ("arguments", shown(call)), ("api_name", .string(config.name)), ("request", planned.request)])
        if config.requiresApproval && !c.execution.testMode {
            try hold(call, config, request: planned.request, callData: callData, &state, c, elapsed: elapsed)
        }
        if c.execution.testMode {
            callData["planned"] = true
            return Answer(content: .object(JSONObject([("sent", false), ("test_mode", true), ("note", "test mode: the request was planned and not sent")])),
                          isError: false, toolType: type, callMessage: "call \(config.name)", callData: .object(callData),
                          resultMessage: "test mode: request planned, not sent", resultData: .object(JSONObject([("planned", true)])))
        }
        return send(call, config, body: body, callData: .object(callData), c)
    }

    /// Sends a checked call and describes what came back.
    private func send(_ call: ToolCall, _ config: ExternalAPIConfig, body: JSONObject, callData: JSON, _ c: Context) -> Answer {
        let type = AgentToolbox.externalAPITool
        let outcome: ExternalCalls.Outcome
        do { outcome = try external.invoke(c.tenant, config.name, body, false, c.trace) } catch let e as APIError {
            return Answer(content: .object(JSONObject([("error", .string("\(e.code): \(e.message)"))])), isError: true, toolType: type,
                          callMessage: "call \(config.name)", callData: callData, resultMessage: "\(config.name): \(e.message)",
                          resultData: .object(JSONObject([("error", .object(JSONObject([("code", .string(e.code)), ("message", .string(e.message))])))])))
        } catch {
            return refusal(call, toolType: type, "the call could not be made")
        }
        let result = outcome.result ?? .null
        let status = result["status"]?.intValue ?? 0
        let (text, cut) = Self.capped(result["body"]?.stringValue ?? "")
        let truncated = cut || result["truncated"]?.boolValue == true
        var data = JSONObject([("status", .int(status)), ("ok", .bool(status < 400)), ("body", .string(c.redactor.redact(text))),
                               ("truncated", .bool(truncated)), ("duration_ms", result["duration_ms"] ?? .null)])
        if let attempt = result["attempt"] { data["attempt"] = attempt }
        if let earlier = result["earlier_attempts"] { data["earlier_attempts"] = earlier }
        return Answer(content: .object(JSONObject([("status", .int(status)), ("ok", .bool(status < 400)), ("body", .string(text)), ("truncated", .bool(truncated))])),
                      isError: status >= 400, toolType: type, callMessage: "call \(config.name)", callData: callData,
                      resultMessage: "\(config.name) answered \(status)", resultData: .object(data))
    }

    /// Holds the call for a technician: the TOOL_CALL step with the resolved redacted request, a TIL
    /// request holding the same, the run waiting. Always throws `Stop.paused`.
    private func hold(_ call: ToolCall, _ config: ExternalAPIConfig, request: JSON, callData: JSONObject, _ state: inout AgentLoopState,
                      _ c: Context, elapsed: () -> Double) throws -> Never {
        let e = c.execution
        state.activeSeconds = elapsed()
        let requested = JSONObject([("api_name", .string(config.name)), ("request", request), ("tool", .string(call.name)),
                                    ("tool_call_id", .string(call.id)), ("arguments", shown(call))])
        let payload = JSON.object(JSONObject([("action_index", .int(Int64(c.actionIndex))), ("tool_call_id", .string(call.id))])).serializedString()
        let tilId = try store.write { [state] db -> Int64 in
            try Self.stillRunning(c, db)
            let now = Date()
            let seq = try ExecutionRecords.appendStep(c.lease, type: .toolCall, message: "call \(config.name): waiting for approval", toolCallId: call.id,
                                                      toolType: AgentToolbox.externalAPITool, data: .object(callData), db)
            let til = try ApprovalRecords.insert(TilRequestDraft(
                tenantId: e.tenantId, agentId: e.agentId, agentName: e.agentName, kind: .externalAPICall,
                comment: "Agent \(e.agentName ?? "") (AGENTIC) wants to call external API '\(config.name)'", requestedFor: .object(requested),
                payload: payload, executionId: c.id, stepSeq: seq, ticketId: e.entityId), now: now, db)
            var waiting = state
            waiting.approval = .init(callId: call.id, tilId: til.id ?? 0, request: request)
            try AgentLoopRecords.save(c.lease, tenantId: c.tenant, waiting, db)
            try ExecutionRecords.waitForApproval(c.lease, atAction: c.actionIndex,
                                                 message: ExecutionRunner.waitingMessage(tilId: til.id ?? 0, apiName: config.name), now: Timestamp.format(now), db)
            return til.id ?? 0
        }
        c.observer?.waitingForApproval(call, tilId: tilId)
        throw Stop.paused
    }

    /// After a decision: an approved call is sent exactly as approved; a rejected one tells the model so.
    private func settle(_ approval: AgentLoopState.PendingApproval, _ state: inout AgentLoopState, _ c: Context, elapsed: () -> Double) throws {
        guard let call = state.pendingCalls.first, call.id == approval.callId else {
            throw Stop.failed("the call waiting for approval is not the next one of the run; the run's state is inconsistent", data: nil)
        }
        let til = try store.read { try ApprovalRecords.find(approval.tilId, tenantId: c.tenant, $0) }
        state.approval = nil
        let type = AgentToolbox.externalAPITool
        let answer: Answer
        switch til?.status {
        case .approved?:
            answer = approved(call, approval, c)
        case .rejected?:
            let note = til?.note.flatMap { $0.isEmpty ? nil : $0 }
            answer = Answer(content: .object(JSONObject([("error", .string("a technician rejected this call; it was not sent" + (note.map { ". Their note: \($0)" } ?? "")))])),
                            isError: true, toolType: type, callMessage: "", callData: .null,
                            resultMessage: "rejected by a technician" + (note.map { ": \($0)" } ?? ""),
                            resultData: .object(JSONObject([("rejected", true), ("note", note.map(JSON.string) ?? .null), ("til_request_id", .int(approval.tilId))])))
        default:
            throw Stop.failed("TIL request \(approval.tilId) is \(til?.status.rawValue ?? "gone"), so the held call cannot go on", data: nil)
        }
        try record(call, answer, &state, c, elapsed: elapsed, callStep: false)
    }

    private func approved(_ call: ToolCall, _ approval: AgentLoopState.PendingApproval, _ c: Context) -> Answer {
        guard case .externalAPI(let config)? = c.tools.tools[call.name] else {
            return refusal(call, toolType: AgentToolbox.externalAPITool, "the approved tool '\(call.name)' is no longer in the agent's toolbox; it was not sent")
        }
        let schema = c.tools.definitions.first { $0.name == call.name }?.parameters ?? JSONObject()
        guard case .success(let body) = AgentTools.invocation(call.argumentsObject, for: config, schema: schema),
              let planned = try? external.invoke(c.tenant, config.name, body, true, c.trace), planned.request == approval.request else {
            return refusal(call, toolType: AgentToolbox.externalAPITool,
                           "external API '\(config.name)' changed after the approval, so the approved request was not sent; ask again if it is still needed")
        }
        return send(call, config, body: body, callData: .null, c)
    }

    // MARK: the Neo API

    private func callNeoAPI(_ call: ToolCall, _ c: Context) -> Answer {
        let type = AgentToolbox.neoAPITool
        let schema = c.tools.definitions.first { $0.name == call.name }?.parameters ?? JSONObject()
        let request: AgentTools.NeoAPICall
        switch AgentTools.neoAPICall(call.argumentsObject, schema: schema) {
        case .failure(let e): return refusal(call, toolType: type, e.message)
        case .success(let r): request = r
        }
        guard let neoAPI, let principal = c.principal else { return refusal(call, toolType: type, "the Neo API is not available to this run") }
        var headers = HTTPHeaders([("Host", "neo-server"), ("X-Request-Id", "agentic-\(call.id)")])
        var bytes: [UInt8] = []
        if let body = request.body {
            headers.add("Content-Type", "application/json")
            bytes = JSON.object(body).serialized()
        }
        let started = ModelClient.now()
        let response = neoAPI(HTTPRequest(method: request.method, target: request.path, headers: headers, body: bytes), principal)
        let durationMs = ((ModelClient.now() - started) * 10_000).rounded() / 10
        let (text, cut) = Self.capped(String(decoding: response.body, as: UTF8.self))
        let bodyJSON = cut ? JSON.string(text) : ((try? JSON.parse(response.body)) ?? .string(text))
        var shownRequest = JSONObject([("method", .string(request.method)), ("path", .string(request.path))])
        if let body = request.body { shownRequest["body"] = .object(body) }
        return Answer(content: .object(JSONObject([("status", .int(Int64(response.status))), ("body", bodyJSON), ("truncated", .bool(cut))])),
                      isError: response.status >= 400, toolType: type, callMessage: "\(request.method) \(request.path.prefix(200))",
                      callData: .object(JSONObject([("tool", .string(call.name)), ("arguments", shown(call)), ("request", .object(shownRequest))])),
                      resultMessage: "\(request.method) \(request.path.prefix(200)) answered \(response.status)",
                      resultData: .object(JSONObject([("status", .int(Int64(response.status))), ("ok", .bool(response.status < 400)),
                                                      ("body", .string(c.redactor.redact(text))), ("truncated", .bool(cut)), ("duration_ms", .double(durationMs))])))
    }

    // MARK: pieces

    /// A call refused before anything ran, told to the model as an error result.
    private func refusal(_ call: ToolCall, toolType: String?, _ reason: String) -> Answer {
        Answer(content: .object(JSONObject([("error", .string(reason))])), isError: true, toolType: toolType,
               callMessage: "call \(call.name.prefix(64))",
               callData: .object(JSONObject([("tool", .string(call.name)), ("arguments", shown(call))])),
               resultMessage: "refused: \(reason)", resultData: .object(JSONObject([("error", .string(reason))])))
    }

    private func toolType(_ tool: AgentTools.Tool) -> String {
        if case .neoAPI = tool { return AgentToolbox.neoAPITool }
        return AgentToolbox.externalAPITool
    }

    /// The arguments as steps show them: the object, or what the model sent when it was not one.
    private func shown(_ call: ToolCall) -> JSON {
        call.argumentsError == nil ? .object(call.argumentsObject) : .object(JSONObject([("unusable", .string(call.argumentsError!))]))
    }

    private func llmData(_ c: Context, _ o: ModelClient.Outcome) -> JSON {
        .object(JSONObject([("provider", .string(c.provider.name)), ("model", .string(c.provider.model)),
                            ("prompt_tokens", .int(Int64(o.turn.usage.prompt))), ("completion_tokens", .int(Int64(o.turn.usage.completion))),
                            ("duration_ms", .double((o.durationMs * 10).rounded() / 10)), ("attempts", .int(Int64(o.attempts)))]))
    }

    /// `text` cut to `maxResultBytes` (on a character boundary), and whether it was cut.
    static func capped(_ text: String) -> (String, Bool) {
        guard text.utf8.count > maxResultBytes else { return (text, false) }
        var out = ""
        for ch in text {
            if out.utf8.count + ch.utf8.count > maxResultBytes { break }
            out.append(ch)
        }
        return (out, true)
    }

    /// Between steps: a run cancelled or taken over meanwhile stops (`LeaseLost`).
    private func checkRunning(_ c: Context) throws {
        try store.read { try ExecutionRecords.hold(c.lease, locking: false, $0) }
    }

    /// Inside the transaction that records a step: a run cancelled meanwhile (while the model or an upstream
    /// answered), or whose lease another node took over, records nothing more, no loop state and no approval
    /// request (`LeaseLost`; the row stays share-locked on PostgreSQL until the transaction ends).
    private static func stillRunning(_ c: Context, _ db: Database) throws {
        try ExecutionRecords.hold(c.lease, db)
    }

    private func task(_ e: Execution, agent: JSONObject) -> String {
        var text = AgentPrompt.task(trigger: e.trigger, entityType: agent["entity_type"]?.stringValue, entityId: e.entityId,
                                    input: e.inputObject, additionalInstructions: e.additionalCustomInstructions)
        if e.testMode {
            text += "\nmode: test (external API calls are planned, not sent; writes through neo_api_request are checked, not stored)"
        }
        return text
    }

    // MARK: start and end

    /// Everything fixed for the run, or why it cannot start: bad settings, no provider, a toolbox naming
    /// an API the tenant lacks.
    private func prepare(_ e: Execution, agent: JSONObject, actionIndex: Int, observer: AgentRunObserver?) throws -> Context {
        let v = Validation()
        let settings = AgentRunSettings.read(agent["agent_settings"], validation: v)
        let toolbox = AgentToolbox.read(agent["toolbox"], validation: v)
        guard v.ok else {
            throw Stop.failed("the agent cannot run as configured: " + v.details.map { "\($0.field) \($0.issue)" }.joined(separator: "; "), data: nil)
        }
        let (stored, apis, tenantName) = try store.read { db -> (LLMProviderRecords.Stored?, [String: ExternalAPIConfig], String?) in
            let provider = try settings.llmProvider.map { try providers.find($0, tenant: e.tenantId, in: db) } ?? providers.findDefault(tenant: e.tenantId, in: db)
            var apis: [String: ExternalAPIConfig] = [:]
            for name in toolbox.apis { apis[name] = try configs.find(name, tenant: e.tenantId, in: db)?.config }
            return (provider, apis, toolbox.neoPermissions == nil ? nil : try KeyRecords.tenant(id: e.tenantId, db)?.name)
        }
        guard let provider = stored?.provider.provider else {
            throw Stop.failed(settings.llmProvider.map { "agent_settings.llm_provider names model provider '\($0)', which this tenant does not have" }
                ?? "this tenant has no default model provider: create one with POST /public-api/llm-providers, or set agent_settings.llm_provider", data: nil)
        }
        let tools: AgentTools.ToolSet
        do { tools = try AgentTools.build(toolbox, configs: apis) } catch let p as ToolboxProblem { throw Stop.failed(p.message, data: nil) }
        let secrets = [provider.apiKey].compactMap { $0 } + apis.values.flatMap(\.secretValues)
        let principal = toolbox.neoPermissions.map { permissions in
            Principal(tenantId: e.tenantId, tenantName: tenantName ?? "", keyId: 0, role: .member, permissions: permissions,
                      actor: .agent, agentId: e.agentId, testMode: e.testMode)
        }
        return Context(execution: e, actionIndex: actionIndex, settings: settings, provider: provider, endpoint: provider.endpoint,
                       tools: tools, redactor: SecretRedactor(secrets: secrets), principal: principal, trace: e.runSpan(),
                       observer: observer)
    }

    /// The model's final answer: FINAL_MESSAGE, the run succeeded, its state gone.
    private func succeed(_ c: Context, text: String?, llm: JSON, usage: TokenUsage) throws {
        let message = text ?? "(the model's final answer had no text)"
        try store.write { db in
            try AgentLoopRecords.addUsage(c.lease, usage, db)
            try ExecutionRecords.appendStep(c.lease, type: .finalMessage, message: message,
                                            data: .object(JSONObject([("text", text.map(JSON.string) ?? .null), ("llm", llm)])), db)
            try ExecutionRecords.finish(c.lease, as: .succeeded, error: nil, message: String(message.prefix(2000)), now: Timestamp.now(), db)
            try AgentLoopRecords.delete(c.id, db)
        }
        c.observer?.finished(text: text)
    }

    /// An ERROR step naming why, the run failed, its state gone. False when another node took the run over
    /// (nothing written: the run, and a chat turn's, go on there).
    private func fail(_ lease: RunLease, _ message: String, data: JSON?) -> Bool {
        do {
            try store.write { db in
                try ExecutionRecords.appendStep(lease, type: .error, message: message, isError: true, data: data, db)
                try ExecutionRecords.finish(lease, as: .failed, error: message, message: message, now: Timestamp.now(), db)
                try AgentLoopRecords.delete(lease.executionId, db)
            }
        } catch let lost as LeaseLost {
            if lost.takenOver {
                logger.warn("lease lost: the run continues elsewhere; this node stopped it and writes nothing more", lost.logFields)
                return false
            }
        } catch {
            logger.error("could not record an AGENTIC run's failure", ["execution_id": .string(lease.executionId), "error": .string(String(describing: error))])
        }
        return true
    }
}

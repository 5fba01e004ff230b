import Basics
import Executor
import Foundation
import NeoJSON
import Store

/// Runs chat turns (design §13). A user message queues a turn; a session's turns start one at a time, in
/// order: each becomes an execution of the CONVERSATIONAL agent that the runner runs through the model loop
/// (tools, approvals, guards, usage as for AGENTIC runs), opening with the session's history. What the loop
/// does is published to the session's stream as UI-message-stream parts; its end writes the assistant
/// message and starts the next queued turn.
final class ChatTurns: Sendable {
    let store: Store
    let hub: ChatEventHub
    let logger: Logger
    /// Wakes the execution runner (a turn's execution was queued).
    let poke: @Sendable () -> Void
    /// Runs one execution through the model loop with an observer.
    private let loop = Lock<(@Sendable (Execution, JSONObject, AgentRunObserver) -> Void)?>(nil)
    var runLoop: (@Sendable (Execution, JSONObject, AgentRunObserver) -> Void)? {
        get { loop.withLock { $0 } }
        set { loop.withLock { $0 = newValue } }
    }

    init(store: Store, hub: ChatEventHub, logger: Logger, poke: @escaping @Sendable () -> Void) {
        self.store = store
        self.hub = hub
        self.logger = logger
        self.poke = poke
    }

    /// Trigger type of a chat turn's execution.
    static let triggerType = "CHAT"

    // MARK: queueing

    /// Starts the session's next queued turn unless one is running: its execution is queued in the same
    /// transaction that marks the turn running, so two callers cannot both start one.
    func startNext(_ session: String) {
        do {
            let started = try store.write { db -> Bool in
                guard let turn = try ChatRecords.nextTurnToStart(session: session, db) else { return false }
                guard let s = try ChatRecords.session(turn.sessionId, tenantId: turn.tenantId, db),
                      let agent = try AgentRecords.nameAndVersion(s.agentId, tenantId: s.tenantId, db) else { return false }
                let id = SecureRandom.timeOrderedUUID()
                let trigger = JSON.object(JSONObject([("type", .string(Self.triggerType)), ("session_id", .string(session)),
                                                      ("chat_turn_id", .string(turn.id))]))
                let new = ExecutionRecords.NewExecution(tenantId: s.tenantId, agentId: s.agentId, agentName: agent.name, agentVersion: agent.version,
                                                        kind: .agentRun, status: .queued, input: nil, keyId: nil, trigger: trigger)
                let now = Timestamp.now()
                try ExecutionRecords.insert(new, id: id, now: now, db)
                try ChatRecords.markRunning(turn.id, executionId: id, now: now, db)
                return true
            }
            if started { poke() }
        } catch {
            logger.error("could not start the next chat turn", ["session_id": .string(session), "error": .string(String(describing: error))])
        }
    }

    /// After a restart: turns whose execution ended without the turn ending (the process died mid-turn, or
    /// the execution was cancelled while it waited) end as failed, and waiting sessions start their next turn.
    func recover() {
        settleOrphans()
        do {
            for session in try store.read({ try ChatRecords.sessionsWaitingToStart($0) }) { startNext(session) }
        } catch {
            logger.error("could not recover chat turns", ["error": .string(String(describing: error))])
        }
    }

    /// Ends the turns (of `session`, or all) whose execution already ended: a cancel while waiting for approval.
    func settleOrphans(_ session: String? = nil) {
        guard let orphans = try? store.read({ try ChatRecords.orphanedTurns(session: session, $0) }) else { return }
        for (turn, status, error, text) in orphans {
            if status == "succeeded" {
                end(turn, succeeded: true, text: text, error: nil)
            } else {
                end(turn, succeeded: false, text: nil, error: error ?? "the turn's execution ended \(status)")
            }
        }
    }

    // MARK: running

    /// Runs (or resumes) the execution of a chat turn; called by the runner on its thread.
    func run(_ execution: Execution, agent: JSONObject) throws {
        guard let turn = try store.read({ try ChatRecords.turn(executionId: execution.id, $0) }) else {
            throw APIError.conflict("execution \(execution.id) of CONVERSATIONAL agent \(execution.agentId ?? 0) is not a chat turn; "
                                    + "conversational agents answer chat sessions only")
        }
        guard let runLoop else {
            end(turn, succeeded: false, text: nil, error: "this server was started without the model loop", lease: execution.lease)
            throw APIError.unavailable("this server was started without the model loop")
        }
        let settings = AgentRunSettings.read(agent["agent_settings"], validation: Validation())
        do { try hub.openTurn(turn.sessionId) } catch {
            end(turn, succeeded: false, text: nil, error: "the turn could not start; see the server log", lease: execution.lease)
            throw error
        }
        defer { hub.closeTurn(turn.sessionId) }
        let observer = ChatTurnObserver(turn: turn, turns: self, settings: settings, lease: execution.lease)
        runLoop(execution, agent, observer)
    }

    /// The session's history for a fresh turn, bounded by `max_history_messages` and (roughly, at four bytes
    /// a token) by `max_total_tokens`; it always keeps the turn's own message and begins with a user message.
    func opening(_ turn: ChatTurn, settings: AgentRunSettings) throws -> [ChatMessage] {
        let rows = try store.read { try ChatRecords.history(session: turn.sessionId, upToTurn: turn.seq,
                                                           limit: settings.maxHistoryMessages, $0) }
        var budget = settings.maxTotalTokens
        var kept: [(role: String, content: String)] = []
        for row in rows.reversed() {
            let cost = (row.content.utf8.count + 3) / 4 + 4
            if !kept.isEmpty && cost > budget { break }
            budget -= cost
            kept.insert(row, at: 0)
        }
        while let first = kept.first, first.role != "user" { kept.removeFirst() }
        return kept.map { $0.role == "user" ? .user($0.content) : .assistant(text: $0.content, calls: []) }
    }

    /// A turn ended: the assistant message (on success), the turn's status, the stream's last parts, the next turn.
    /// `lease`: the claim of the execution that ran it; a node that lost it to another claim writes nothing.
    func end(_ turn: ChatTurn, succeeded: Bool, text: String?, error: String?, lease: RunLease? = nil) {
        do {
            let ended = try store.write { db -> Bool in
                if let lease { try ExecutionRecords.holdAttempt(lease, db) }
                guard try ChatRecords.finishTurn(turn.id, succeeded: succeeded, error: error, now: Timestamp.now(), db) else { return false }
                if succeeded, let s = try ChatRecords.session(turn.sessionId, tenantId: turn.tenantId, db) {
                    try ChatRecords.insertMessage(id: turn.assistantMessageId, session: s, role: "assistant", content: text ?? "", turnId: turn.id,
                                                  turnSeq: turn.seq, clientMessageId: nil, now: Timestamp.now(), db)
                }
                return true
            }
            if ended {
                // (Ended by recovery, the turn may have run on another node: number after what it stored.)
                try? hub.catchUp(turn.sessionId)
                if let error { hub.publish(turn.sessionId, turnId: turn.id, ChatParts.error(error)) }
                hub.publish(turn.sessionId, turnId: turn.id, ChatParts.finish(succeeded ? "stop" : "error"))
                // The next turn may be claimed by another node, which numbers from the table: this one's parts first.
                hub.flush(turn.sessionId)
            }
        } catch let lost as LeaseLost {
            logger.warn("lease lost: another node ends this chat turn", lost.logFields)
            return
        } catch {
            logger.error("could not end a chat turn", ["chat_turn_id": .string(turn.id), "error": .string(String(describing: error))])
        }
        startNext(turn.sessionId)
    }
}

/// The UI-message-stream parts (Vercel AI SDK v6, `x-vercel-ai-ui-message-stream: v1`) a turn emits.
enum ChatParts {
    static func start(messageId: String) -> JSONObject { JSONObject([("type", "start"), ("messageId", .string(messageId))]) }
    static let startStep = JSONObject([("type", "start-step")])
    static let finishStep = JSONObject([("type", "finish-step")])
    static func textStart(_ id: String) -> JSONObject { JSONObject([("type", "text-start"), ("id", .string(id))]) }
    static func textDelta(_ id: String, _ delta: String) -> JSONObject {
        JSONObject([("type", "text-delta"), ("id", .string(id)), ("delta", .string(delta))])
    }
    static func textEnd(_ id: String) -> JSONObject { JSONObject([("type", "text-end"), ("id", .string(id))]) }
    static func toolInput(_ call: ToolCall) -> JSONObject {
        JSONObject([("type", "tool-input-available"), ("toolCallId", .string(call.id)), ("toolName", .string(call.name)),
                    ("input", .object(call.argumentsObject))])
    }
    static func toolOutput(_ call: ToolCall, _ output: String) -> JSONObject {
        JSONObject([("type", "tool-output-available"), ("toolCallId", .string(call.id)),
                    ("output", (try? JSON.parse(Array(output.utf8))) ?? .string(output))])
    }
    static func toolError(_ call: ToolCall, _ output: String) -> JSONObject {
        let text = ((try? JSON.parse(Array(output.utf8)))?["error"]?.stringValue) ?? output
        return JSONObject([("type", "tool-output-error"), ("toolCallId", .string(call.id)), ("errorText", .string(text))])
    }
    static func approvalRequest(_ call: ToolCall, tilId: Int64) -> JSONObject {
        JSONObject([("type", "tool-approval-request"), ("approvalId", .string(String(tilId))), ("toolCallId", .string(call.id))])
    }
    static func error(_ text: String) -> JSONObject { JSONObject([("type", "error"), ("errorText", .string(text))]) }
    static func finish(_ reason: String) -> JSONObject { JSONObject([("type", "finish"), ("finishReason", .string(reason))]) }
}

/// Publishes one turn's run to its session's stream.
final class ChatTurnObserver: AgentRunObserver {
    let turn: ChatTurn
    let turns: ChatTurns
    let settings: AgentRunSettings
    /// The claim of the turn's execution, which its end is fenced by.
    let lease: RunLease
    /// Whether `start` went out, and the text part open now (streamed deltas) with a counter for its id.
    private let state = Lock<(started: Bool, text: String?, texts: Int)>((false, nil, 0))

    init(turn: ChatTurn, turns: ChatTurns, settings: AgentRunSettings, lease: RunLease) {
        self.turn = turn
        self.turns = turns
        self.settings = settings
        self.lease = lease
    }

    var model: String? { turn.modelTier == "SMART" ? settings.smartModel : nil }

    private func publish(_ part: JSONObject) { turns.hub.publish(turn.sessionId, turnId: turn.id, part) }

    private func ensureStarted() {
        let first = state.withLock { s -> Bool in defer { s.started = true }; return !s.started }
        if first { publish(ChatParts.start(messageId: turn.assistantMessageId)) }
    }

    func opening() throws -> [ChatMessage] {
        ensureStarted()
        return try turns.opening(turn, settings: settings)
    }

    func modelCallStarted() {
        // A run resumed after an approval did not open again: its `start` went out before the pause.
        state.withLock { $0.started = true }
        publish(ChatParts.startStep)
    }

    func textDelta(_ text: String) {
        let (id, opened) = state.withLock { s -> (String, Bool) in
            if let id = s.text { return (id, false) }
            s.texts += 1
            s.text = "text-\(s.texts)"
            return (s.text!, true)
        }
        if opened { publish(ChatParts.textStart(id)) }
        publish(ChatParts.textDelta(id, text))
    }

    func modelAnswered(text: String?, calls: [ToolCall]) {
        if let id = state.withLock({ s in defer { s.text = nil }; return s.text }) { publish(ChatParts.textEnd(id)) }
        for call in calls { publish(ChatParts.toolInput(call)) }
        publish(ChatParts.finishStep)
    }

    func toolAnswered(_ call: ToolCall, output: String, isError: Bool) {
        publish(isError ? ChatParts.toolError(call, output) : ChatParts.toolOutput(call, output))
    }

    func waitingForApproval(_ call: ToolCall, tilId: Int64) { publish(ChatParts.approvalRequest(call, tilId: tilId)) }

    func finished(text: String?) { turns.end(turn, succeeded: true, text: text, error: nil, lease: lease) }

    func failed(_ message: String) {
        ensureStarted()
        if let id = state.withLock({ s in defer { s.text = nil }; return s.text }) { publish(ChatParts.textEnd(id)) }
        turns.end(turn, succeeded: false, text: nil, error: message, lease: lease)
    }
}

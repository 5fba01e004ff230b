import Foundation
import NeoJSON
import XCTest

/// Reads one `GET …/events` stream over a raw socket: the head, then the chunked body decoded, then SSE
/// events (`id:` and `data:`) and comments as they come.
final class SSETail {
    let client: RawClient
    private(set) var status = 0
    private(set) var headers: [String: String] = [:]
    private var raw: [UInt8] = []
    private var body: [UInt8] = []
    private(set) var events: [(id: Int64, part: JSON)] = []
    private(set) var comments: [String] = []
    private(set) var ended = false
    private(set) var closed = false
    /// Bytes of the head and errors, for messages.
    var text: String { String(decoding: raw, as: UTF8.self) }

    init(port: Int, path: String, key: String, lastEventId: String? = nil, receiveBuffer: Int32? = nil) throws {
        client = try RawClient(port: port, receiveBuffer: receiveBuffer)
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\nAccept: text/event-stream\r\n"
        if let lastEventId { head += "Last-Event-Id: \(lastEventId)\r\n" }
        try client.send(head + "\r\n")
    }

    /// Reads until `done` holds for the parsed events or `timeout` passes; returns whether it held.
    @discardableResult
    func read(until done: (SSETail) -> Bool, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !done(self) {
            if closed || Date() > deadline { return done(self) }
            guard let bytes = client.read(timeout: 0.05) else { closed = true; continue }
            if headDone { chunkBuffer += bytes } else { raw += bytes }
            parse()
        }
        return true
    }

    func waitFor(_ type: String, count: Int = 1, timeout: Double = 10) -> Bool {
        read(until: { t in t.events.filter { $0.part["type"]?.stringValue == type }.count >= count }, timeout: timeout)
    }

    var types: [String] { events.map { $0.part["type"]?.stringValue ?? "?" } }
    var text_: String { events.compactMap { $0.part["type"] == "text-delta" ? $0.part["delta"]?.stringValue : nil }.joined() }

    private var headDone = false
    private var chunkBuffer: [UInt8] = []

    private func parse() {
        if !headDone {
            guard let end = TestResponse.find([13, 10, 13, 10], in: raw, from: 0) else { return }
            let lines = String(decoding: raw[..<end], as: UTF8.self).components(separatedBy: "\r\n")
            status = Int(lines[0].split(separator: " ")[1]) ?? 0
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            headDone = true
            chunkBuffer = Array(raw[(end + 4)...])
        }
        // An error answer (Content-Length) stays in `raw` for the message.
        guard headers["transfer-encoding"] == "chunked" else { raw += chunkBuffer; chunkBuffer = []; return }
        var i = 0
        while let lineEnd = TestResponse.find([13, 10], in: chunkBuffer, from: i) {
            let size = Int(String(decoding: chunkBuffer[i..<lineEnd], as: UTF8.self), radix: 16) ?? 0
            guard chunkBuffer.count >= lineEnd + 2 + size + 2 else { break }
            i = lineEnd + 2 + size + 2
            if size == 0 { ended = true; break }
            body += chunkBuffer[(lineEnd + 2)..<(lineEnd + 2 + size)]
        }
        chunkBuffer = Array(chunkBuffer[i...])
        sse()
    }

    private func sse() {
        while let end = TestResponse.find([10, 10], in: body, from: 0) {
            let block = String(decoding: body[..<end], as: UTF8.self)
            body.removeFirst(end + 2)
            var id: Int64?
            var data: String?
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") { comments.append(String(line.dropFirst()).trimmingCharacters(in: .whitespaces)) }
                if line.hasPrefix("id: ") { id = Int64(line.dropFirst(4)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            if let id, let data { events.append((id, (try? JSON.parse(Array(data.utf8))) ?? .null)) }
        }
    }
}

/// Chat sessions through the real server (design §13) with the scripted model server: sessions and their
/// rules, turns in order over the history, the UI-message stream with resumption, streaming and failing
/// models, tools and approvals mid-turn, and the stream caps.
final class ChatSessionsTests: AgenticTestCase {
    override class func setUp() {
        server = try! TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_CHAT_KEEPALIVE_SECONDS": "0.5",
                                               "NEO_CHAT_MAX_STREAMS_PER_KEY": "4"])
        upstream = try! PythonUpstream(expect: canaries, directory: server.directory)
    }

    func conversational(_ name: String = "helpdesk", apis: [String] = [], settings: JSONObject = JSONObject()) throws -> Int64 {
        var agentSettings: JSONObject = ["custom_instructions": "You answer the helpdesk."]
        for (k, v) in settings { agentSettings[k] = v }
        var tools: JSONObject = [:]
        if !apis.isEmpty { tools["EXTERNAL_API_REQUEST"] = ["apis": .array(apis.map(JSON.string))] }
        let r = try call("POST", "/public-api/agents", ["name": .string(name), "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL", "actions": [],
                                                      "agent_settings": .object(agentSettings), "toolbox": ["tool_settings_by_type": .object(tools)]])
        XCTAssertEqual(r.status, 201, r.text)
        return Int64(r.data?["id"]?.stringValue ?? "") ?? -1
    }

    func session(_ agent: Int64) throws -> String {
        let r = try call("POST", "/public-api/chat/sessions", ["agent_id": .int(agent), "title": "Printer"])
        XCTAssertEqual(r.status, 201, r.text)
        return r.data?["id"]?.stringValue ?? ""
    }

    func say(_ session: String, _ text: String, _ extra: JSONObject = JSONObject()) throws -> JSON {
        var body: JSONObject = ["message": .string(text)]
        for (k, v) in extra { body[k] = v }
        let r = try call("POST", "/public-api/chat/sessions/\(session)/messages", .object(body))
        XCTAssertEqual(r.status, 202, r.text)
        return r.data ?? .null
    }

    func tail(_ session: String, since: String? = nil, lastEventId: String? = nil) throws -> SSETail {
        let t = try SSETail(port: server.port, path: "/public-api/chat/sessions/\(session)/events" + (since.map { "?since=\($0)" } ?? ""),
                            key: key, lastEventId: lastEventId)
        t.read(until: { $0.status != 0 }, timeout: 5)
        return t
    }

    func history(_ session: String) throws -> [JSON] {
        try call("GET", "/public-api/chat/sessions/\(session)/messages").data?.arrayValue ?? []
    }

    // MARK: sessions

    func test_sessions_shapesRulesArchiveAndTenantIsolation() throws {
        let agent = try conversational()
        let created = try call("POST", "/public-api/chat/sessions", ["agent_id": .int(agent), "title": "Printer"])
        XCTAssertEqual(created.status, 201, created.text)
        let data = try XCTUnwrap(created.data?.objectValue)
        XCTAssertEqual(data.keys, ["id", "agent_id", "archived_at", "channel", "client_id", "created_at", "title", "updated_at", "show_agent_progress_steps"])
        XCTAssertEqual(data["agent_id"], .int(agent))
        XCTAssertEqual(data["archived_at"], .null)
        let id = data["id"]?.stringValue ?? ""

        let both = try call("POST", "/public-api/chat/sessions", ["agent_id": .int(agent), "managed_agent_key": "NEO_SUPPORT"])
        XCTAssertEqual(both.status, 422, both.text)
        XCTAssertTrue(both.text.contains("exactly one of agent_id or managed_agent_key"), both.text)
        let neither = try call("POST", "/public-api/chat/sessions", ["title": "x"])
        XCTAssertEqual(neither.status, 422, neither.text)
        let client = try call("POST", "/public-api/chat/sessions", ["agent_id": .int(agent), "client_id": "other-tenant"])
        XCTAssertEqual(client.status, 403, client.text)
        XCTAssertTrue(client.errorMessage?.contains("client_id") ?? false, client.text)

        try provider()
        let agentic = try self.agent("not-a-chat")
        let wrong = try call("POST", "/public-api/chat/sessions", ["agent_id": .int(agentic)])
        XCTAssertEqual(wrong.status, 400, wrong.text)
        XCTAssertEqual(wrong.errorCode, "validation_error")
        XCTAssertEqual(wrong.json?["error"]?["details"]?.arrayValue?.first?["field"], "agent_id")

        XCTAssertEqual(try call("GET", "/public-api/chat/sessions/\(id)").data?["id"]?.stringValue, id)
        XCTAssertEqual(try call("GET", "/public-api/chat/sessions/no-such-session").status, 404)
        let list = try call("GET", "/public-api/chat/sessions?page_size=1")
        XCTAssertEqual(list.data?.arrayValue?.count, 1, list.text)

        let other = try server.adminKey(forTenant: "chat-other-\(UUID().uuidString.prefix(6))")
        XCTAssertEqual(try call("GET", "/public-api/chat/sessions/\(id)", key: other).status, 404)
        XCTAssertEqual(try call("POST", "/public-api/chat/sessions/\(id)/messages", ["message": "hi"], key: other).status, 404)
        XCTAssertEqual(try call("GET", "/public-api/chat/sessions/\(id)/events", key: other).status, 404)
        XCTAssertEqual(try call("GET", "/public-api/chat/sessions", key: other).data?.arrayValue?.count, 0)

        let empty = try call("POST", "/public-api/chat/sessions/\(id)/messages", ["message": "  "])
        XCTAssertEqual(empty.status, 422, empty.text)
        XCTAssertEqual(empty.json?["error"]?["details"]?.arrayValue?.first?["field"], "message")
        let attached = try call("POST", "/public-api/chat/sessions/\(id)/messages", ["message": "see image", "attachments": [["blob_path": "x.png"]]])
        XCTAssertEqual(attached.status, 422, attached.text)
        XCTAssertTrue(attached.text.contains("attachments are not supported"), attached.text)
        let tier = try call("POST", "/public-api/chat/sessions/\(id)/messages", ["message": "hi", "model_tier": "TURBO"])
        XCTAssertEqual(tier.status, 422, tier.text)

        let archived = try call("DELETE", "/public-api/chat/sessions/\(id)")
        XCTAssertEqual(archived.status, 200, archived.text)
        XCTAssertNotEqual(archived.data?["archived_at"], .null)
        let closed = try call("POST", "/public-api/chat/sessions/\(id)/messages", ["message": "hello?"])
        XCTAssertEqual(closed.status, 409, closed.text)
        XCTAssertEqual(try history(id).count, 0, "nothing half-written by refused messages")
    }

    // MARK: turns

    func test_turn_wholeReply_streamParts_historyAndDuplicateClientMessageId() throws {
        try provider()
        let id = try session(try conversational())
        model.add(openAI(text: "Try turning it off and on.", expect: { seen in
            seen.json["stream"] == true ? nil : "a chat turn asks for a stream (got \(seen.json["stream"] ?? .null))"
        }))
        let first = try say(id, "My printer is jammed.", ["client_message_id": "bot-1"])
        XCTAssertEqual(first["since_cursor"], "0")
        let t = try tail(id, since: "0")
        XCTAssertEqual(t.status, 200, t.text)
        XCTAssertEqual(t.headers["content-type"], "text/event-stream")
        XCTAssertEqual(t.headers["x-vercel-ai-ui-message-stream"], "v1")
        XCTAssertTrue(t.waitFor("finish"), "events: \(t.types)")
        XCTAssertEqual(t.types, ["start", "start-step", "text-start", "text-delta", "text-end", "finish-step", "finish"])
        XCTAssertEqual(t.text_, "Try turning it off and on.")
        XCTAssertEqual(t.events.map(\.id), Array(1...7))

        let dup = try call("POST", "/public-api/chat/sessions/\(id)/messages", ["message": "My printer is jammed.", "client_message_id": "bot-1"])
        XCTAssertEqual(dup.status, 409, dup.text)
        XCTAssertEqual(dup.json?["error"]?["user_message_id"], first["user_message_id"])

        // The second turn sees the first one's exchange, oldest first, and the stream stays open for it.
        model.add(openAI(text: "Glad it works.", expect: { seen in
            let contents = seen.messages.compactMap { $0["content"]?.stringValue }
            return contents.suffix(3) == ["My printer is jammed.", "Try turning it off and on.", "It works now."] ? nil : "history was \(contents)"
        }))
        let second = try say(id, "It works now.")
        XCTAssertEqual(second["since_cursor"], "7")
        XCTAssertTrue(t.waitFor("finish", count: 2), "events: \(t.types)")
        XCTAssertEqual(t.events.last?.id, 14)
        let h = try history(id)
        XCTAssertEqual(h.map { $0["role"]?.stringValue ?? "" }, ["user", "assistant", "user", "assistant"])
        XCTAssertEqual(h.map { $0["content"]?.stringValue ?? "" }, ["My printer is jammed.", "Try turning it off and on.", "It works now.", "Glad it works."])
        XCTAssertEqual(model.requests.count, 2, "the duplicate queued no turn")
        XCTAssertTrue(t.read(until: { $0.comments.contains("keep-alive") }, timeout: 3), "a keep-alive comment within the configured interval")
    }

    func test_turn_streamedDeltas_toolCallMidTurn_andResumeWithoutLossOrRepeat() throws {
        try provider()
        try lookupAPI()
        let id = try session(try conversational(apis: ["crm_lookup"]))
        model.add(ScriptedModelServer.openAIStream(["Let me ", "check."], calls: [(id: "call_9", name: "crm_lookup", arguments: #"{"contact_id": "42"}"#)]),
                  ScriptedModelServer.openAIStream(["Contact ", "42 ", "is ", "Ada."], pause: 0.05,
                                                   expect: ScriptedModelServer.lastToolResult(contains: "/echo/contacts/42")))
        _ = try say(id, "Who is contact 42?")
        let t = try tail(id)
        XCTAssertTrue(t.read(until: { $0.events.count >= 12 }), "events: \(t.types)")
        let seenBeforeDrop = t.events.last!.id
        // The reader drops mid-turn and comes back with Last-Event-Id: nothing lost, nothing repeated.
        let again = try tail(id, lastEventId: String(seenBeforeDrop))
        XCTAssertTrue(again.waitFor("finish"), "events: \(again.types)")
        XCTAssertEqual(again.events.first?.id, seenBeforeDrop + 1)
        let whole = try tail(id, since: "0")
        XCTAssertTrue(whole.waitFor("finish"))
        XCTAssertEqual(t.events.prefix(12).map(\.id) + again.events.map(\.id), whole.events.map(\.id))
        XCTAssertEqual(whole.events.map(\.id), Array(1...Int64(whole.events.count)))
        XCTAssertEqual(whole.types, ["start", "start-step", "text-start", "text-delta", "text-delta", "text-end", "tool-input-available", "finish-step",
                                     "tool-output-available", "start-step", "text-start", "text-delta", "text-delta", "text-delta", "text-delta",
                                     "text-end", "finish-step", "finish"])
        let input = whole.events.first { $0.part["type"] == "tool-input-available" }?.part
        XCTAssertEqual(input?["toolCallId"], "call_9")
        XCTAssertEqual(input?["toolName"], "crm_lookup")
        XCTAssertEqual(input?["input"], ["contact_id": "42"])
        XCTAssertEqual(try history(id).last?["content"], "Contact 42 is Ada.")

        let never = try call("GET", "/public-api/chat/sessions/\(id)/events?since=999")
        XCTAssertEqual(never.status, 400, never.text)
        XCTAssertEqual(never.json?["error"]?["details"]?.arrayValue?.first?["field"], "since")
        XCTAssertEqual(try call("GET", "/public-api/chat/sessions/\(id)/events?since=abc").status, 400)
    }

    func test_turnsOfOneSession_runOneAtATimeInOrder() throws {
        try provider()
        let id = try session(try conversational())
        var slow = openAI(text: "first answer")
        slow.delay = 0.4
        model.add(slow, openAI(text: "second answer", expect: { seen in
            let contents = seen.messages.compactMap { $0["content"]?.stringValue }
            return contents.suffix(3) == ["one", "first answer", "two"] ? nil : "the second turn ran before the first ended: history \(contents)"
        }))
        let first = try say(id, "one")
        let second = try say(id, "two")   // queued while the first still waits for its model
        XCTAssertEqual(second["since_cursor"]?.stringValue.flatMap(Int.init).map { $0 < 10 }, true)
        XCTAssertNotEqual(first["chat_turn_id"], second["chat_turn_id"])
        let t = try tail(id, since: "0")
        XCTAssertTrue(t.waitFor("finish", count: 2), "events: \(t.types)")
        XCTAssertEqual(t.types.filter { $0 == "start" }.count, 2)
        XCTAssertEqual(t.text_, "first answersecond answer")
        XCTAssertEqual(try history(id).map { $0["content"]?.stringValue ?? "" }, ["one", "first answer", "two", "second answer"],
                       "the history reads in conversation order")
        let page = try call("GET", "/public-api/chat/sessions/\(id)/messages?page_size=3")
        let cursor = try XCTUnwrap(page.json?["meta"]?["pagination"]?["next_cursor"]?.stringValue, page.text)
        XCTAssertEqual(try call("GET", "/public-api/chat/sessions/\(id)/messages?page_size=3&cursor=\(cursor)").data?.arrayValue?.map { $0["content"] },
                       ["second answer"])
    }

    func test_history_boundedByMaxHistoryMessages_andStartsWithAUserMessage() throws {
        try provider()
        let id = try session(try conversational(settings: ["max_history_messages": 2]))
        model.add(openAI(text: "a1"), openAI(text: "a2", expect: { seen in
            // The newest two are [a1, q2]; a history never opens with the assistant, so only q2 goes (after the system prompt).
            let sent = seen.messages.map { "\($0["role"]?.stringValue ?? ""):\($0["content"]?.stringValue ?? "")" }
            return sent.dropFirst() == ["user:q2"] && sent.first?.hasPrefix("system:") == true ? nil : "sent \(sent)"
        }))
        _ = try say(id, "q1")
        _ = try say(id, "q2")
        let t = try tail(id)
        XCTAssertTrue(t.waitFor("finish", count: 2), "events: \(t.types)")
        let bad = try call("PUT", "/public-api/agents/\(try conversational("bad-history"))", ["agent_settings": ["max_history_messages": 0]])
        XCTAssertEqual(bad.status, 422, bad.text)
    }

    func test_turn_anthropicStream_andSmartTierModel() throws {
        try provider(kind: "anthropic_messages")
        let id = try session(try conversational(settings: ["smart_model": "claude-big"]))
        let smart: @Sendable (ScriptedModelServer.Seen) -> String? = { $0.json["model"] == "claude-big" ? nil : "SMART asks smart_model, got \($0.json["model"] ?? .null)" }
        var reply = ScriptedModelServer.anthropicStream(["Hel", "lo ", "there"])
        reply.expect = smart
        model.add(reply)
        _ = try say(id, "hi", ["model_tier": "SMART"])
        let t = try tail(id)
        XCTAssertTrue(t.waitFor("finish"), "events: \(t.types)")
        XCTAssertEqual(t.text_, "Hello there")
        XCTAssertEqual(t.types.filter { $0 == "text-delta" }.count, 3)
    }

    func test_turn_modelFailsMidStream_errorThenFinish_turnFailed_nextTurnRuns() throws {
        try provider()
        let id = try session(try conversational())
        model.add(ScriptedModelServer.openAIStream(["Half an ", "answer"], breakAfter: 1))
        _ = try say(id, "Explain DNS.")
        let t = try tail(id)
        XCTAssertTrue(t.waitFor("finish"), "events: \(t.types)")
        XCTAssertEqual(Array(t.types.suffix(2)), ["error", "finish"])
        XCTAssertTrue(t.events.contains { $0.part["type"] == "text-delta" && $0.part["delta"] == "Half an " }, "the delta before the break was forwarded")
        XCTAssertEqual(try history(id).map { $0["role"]?.stringValue ?? "" }, ["user"], "no assistant message for a failed turn")
        model.add(openAI(text: "DNS maps names to addresses."))
        _ = try say(id, "Try again.")
        XCTAssertTrue(t.waitFor("finish", count: 2), "events: \(t.types)")
        XCTAssertEqual(try history(id).last?["content"], "DNS maps names to addresses.")
    }

    func test_turn_approvalPauseMidTurn_thenResumes() throws {
        try provider()
        try api(["name": "reset_password", "description": "Resets a user's password.", "endpoint_url": .string(upstreamBase + "/echo/reset/{user}"),
                 "method": "POST", "auth": ["type": "none"], "requires_approval": true])
        let id = try session(try conversational(apis: ["reset_password"]))
        model.add(openAI(calls: [(id: "call_r", name: "reset_password", arguments: #"{"user": "ada"}"#)]),
                  openAI(text: "Ada's password was reset.", expect: ScriptedModelServer.lastToolResult(contains: "/echo/reset/ada")))
        _ = try say(id, "Reset Ada's password.")
        let t = try tail(id)
        XCTAssertTrue(t.waitFor("tool-approval-request"), "events: \(t.types)")
        let approval = t.events.first { $0.part["type"] == "tool-approval-request" }!.part
        XCTAssertEqual(approval["toolCallId"], "call_r")
        XCTAssertFalse(t.types.contains("finish"))
        let til = try call("GET", "/public-api/til-requests?status=pending").data?.arrayValue?.first
        XCTAssertEqual(til?["id"]?.intValue.map(String.init), approval["approvalId"]?.stringValue)
        XCTAssertEqual(try call("POST", "/public-api/til-requests/\(til?["id"]?.intValue ?? 0)/decision", ["action": "approve"]).status, 200)
        XCTAssertTrue(t.waitFor("finish"), "events: \(t.types)")
        XCTAssertEqual(t.types.filter { $0 == "start" }.count, 1, "the resumed turn continues the same message")
        XCTAssertTrue(t.types.contains("tool-output-available"))
        XCTAssertEqual(try history(id).last?["content"], "Ada's password was reset.")
    }

    func test_turnCancelledWhileWaitingForApproval_endsFailed_andTheNextTurnRuns() throws {
        try provider()
        try api(["name": "wipe_disk", "description": "Wipes a disk.", "endpoint_url": .string(upstreamBase + "/echo/wipe"),
                 "method": "POST", "auth": ["type": "none"], "requires_approval": true])
        let id = try session(try conversational(apis: ["wipe_disk"]))
        model.add(openAI(calls: [(id: "call_w", name: "wipe_disk", arguments: "{}")]), openAI(text: "Understood."))
        _ = try say(id, "Wipe it.")
        let t = try tail(id)
        XCTAssertTrue(t.waitFor("tool-approval-request"), "events: \(t.types)")
        let til = try XCTUnwrap(try call("GET", "/public-api/til-requests?status=pending").data?.arrayValue?.first)
        let execution = try XCTUnwrap(til["execution_id"]?.stringValue)
        XCTAssertEqual(try call("POST", "/public-api/executions/\(execution)/cancel").status, 200)
        _ = try say(id, "Never mind.")
        XCTAssertTrue(t.waitFor("finish", count: 2), "events: \(t.types)")
        XCTAssertEqual(t.types.filter { $0 == "error" }.count, 1, "the cancelled turn ended failed: \(t.types)")
        XCTAssertEqual(try history(id).map { $0["content"]?.stringValue ?? "" }, ["Wipe it.", "Never mind.", "Understood."])
    }

    func test_neoAPITool_cannotOpenAnEventStreamInProcess() throws {
        try provider()
        let sessionId = try session(try conversational())
        let agentic = try agent("stream-peeker", neo: ["executions": "read"])
        model.add(openAI(calls: [(id: "call_s", name: "neo_api_request",
                                  arguments: #"{"method": "GET", "path": "/public-api/chat/sessions/\#(sessionId)/events"}"#)]),
                  openAI(text: "could not tail", expect: ScriptedModelServer.lastToolResult(contains: "cannot be called in process")))
        let done = try wait(try run(agentic))
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
    }

    func test_streams_capPerKey_429_andSeveralTailers() throws {
        let id = try session(try conversational())
        var open: [SSETail] = []
        for _ in 0..<4 {
            let t = try tail(id)
            XCTAssertEqual(t.status, 200, t.text)
            open.append(t)
        }
        let over = try call("GET", "/public-api/chat/sessions/\(id)/events")
        XCTAssertEqual(over.status, 429, over.text)
        XCTAssertEqual(over.errorCode, "TOO_MANY_STREAMS")
        open.removeLast()   // its socket closes: the slot frees
        usleep(300_000)
        let again = try tail(id)
        XCTAssertEqual(again.status, 200, again.text)
        try provider()
        model.add(openAI(text: "to all"))
        _ = try say(id, "hello")
        for t in open + [again] { XCTAssertTrue(t.waitFor("finish"), "every tailer gets the turn: \(t.types)") }
    }
}

/// The HTTP server's streaming responses under load and shutdown: a reader that stops reading is dropped past
/// NEO_STREAM_BUFFER while the others (and the non-streaming routes) carry on; SIGTERM ends every stream with
/// its last chunk; HEAD gets the head only.
final class ChatStreamServerTests: AgenticTestCase {
    override class func setUp() {
        server = try! TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_STREAM_BUFFER": "65536"])
        upstream = try! PythonUpstream(expect: canaries, directory: server.directory)
    }

    private func chatSession() throws -> String {
        let a = try call("POST", "/public-api/agents", ["name": "stream-desk", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL", "actions": []])
        XCTAssertEqual(a.status, 201, a.text)
        let s = try call("POST", "/public-api/chat/sessions", ["agent_id": .int(Int64(a.data?["id"]?.stringValue ?? "") ?? 0)])
        XCTAssertEqual(s.status, 201, s.text)
        return s.data?["id"]?.stringValue ?? ""
    }

    func test_slowReaderIsDroppedPastTheBuffer_othersAndHealthUnaffected() throws {
        // A long provider timeout: under ThreadSanitizer streaming megabytes takes a while.
        let p = try call("POST", "/public-api/llm-providers", ["name": "scripted", "kind": "openai_chat", "base_url": .string(model.baseURL),
                                                              "model": "test-model", "max_retries": 0, "timeout_ms": 120000])
        XCTAssertEqual(p.status, 201, p.text)
        let id = try chatSession()
        // Three turns of 2 MB of text each (2.5 MB of stream, under the 4 MiB reply cap): 7.5 MB, far past the 64 KiB
        // buffer and all a loopback socket pair can hold (a 4 MiB send buffer at most, and the reader's 4 KiB).
        let piece = String(repeating: "x", count: 500)
        for _ in 0..<3 { model.add(ScriptedModelServer.openAIStream(Array(repeating: piece, count: 4000))) }
        let stalled = try SSETail(port: server.port, path: "/public-api/chat/sessions/\(id)/events", key: key, receiveBuffer: 4096)   // never read
        let reader = try SSETail(port: server.port, path: "/public-api/chat/sessions/\(id)/events", key: key)
        reader.read(until: { $0.status != 0 }, timeout: 5)
        for turn in 1...3 {
            let r = try call("POST", "/public-api/chat/sessions/\(id)/messages", ["message": "write a lot"])
            XCTAssertEqual(r.status, 202, r.text)
            XCTAssertTrue(reader.waitFor("finish", count: turn, timeout: 120), "the reading tailer gets turn \(turn): \(reader.events.count) events")
        }
        XCTAssertEqual(reader.text_.count, 6_000_000)
        XCTAssertFalse(reader.types.contains("error"), "every turn streamed to its end")
        XCTAssertEqual(try call("GET", "/public-api/health", key: nil).status, 200)
        // The stalled one was cut off: what the kernel buffered arrives, then the connection ends short of the last finish.
        stalled.read(until: { $0.closed }, timeout: 60)
        XCTAssertTrue(stalled.closed, "the slow reader's connection was closed")
        XCTAssertLessThan(stalled.types.filter { $0 == "finish" }.count, 3)
        XCTAssertTrue(try String(contentsOf: server.logURL, encoding: .utf8).contains("dropping a streaming response"))
    }

    func test_head_getsTheStreamHeadOnly() throws {
        let id = try chatSession()
        let r = try call("HEAD", "/public-api/chat/sessions/\(id)/events")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "text/event-stream")
        XCTAssertEqual(r.body.count, 0)
    }

    func test_killedMidTurn_restartTakesTheTurnOver_andTheSessionGoesOn() throws {
        // A short lease: on PostgreSQL the restarted node takes the turn over once the dead node's lease expires (on
        // SQLite at once: no other node can hold it).
        let environment = ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_RUN_LEASE_SECONDS": "2"]
        let first = try TestServer(environment: environment)
        func post(_ s: TestServer, _ path: String, _ body: JSON) throws -> JSON {
            let r = try s.request("POST", path, json: body)
            XCTAssertTrue((200..<300).contains(r.status), r.text)
            return r.data ?? .null
        }
        var slow = openAI(text: "never heard")
        slow.delay = 5
        model.add(slow, openAI(text: "answered by the node that took over"), openAI(text: "after the restart"))
        _ = try post(first, "/public-api/llm-providers", ["name": "m", "kind": "openai_chat", "base_url": .string(model.baseURL), "model": "m",
                                                         "max_retries": 0, "timeout_ms": 20000])
        let agent = try post(first, "/public-api/agents", ["name": "desk", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL", "actions": []])
        let id = try post(first, "/public-api/chat/sessions", ["agent_id": .int(Int64(agent["id"]?.stringValue ?? "") ?? 0)])["id"]?.stringValue ?? ""
        _ = try post(first, "/public-api/chat/sessions/\(id)/messages", ["message": "hello"])
        let deadline = Date().addingTimeInterval(5)
        while model.requests.isEmpty && Date() < deadline { usleep(20_000) }
        _ = first.stop(signal: SIGKILL)
        // The restarted node takes the turn's execution over (attempt 2) and runs it again: the model is asked anew.
        let second = try TestServer(environment: environment, directory: first.directory)
        defer { _ = second.stop() }
        _ = try post(second, "/public-api/chat/sessions/\(id)/messages", ["message": "still there?"])
        let t = try SSETail(port: second.port, path: "/public-api/chat/sessions/\(id)/events?since=0", key: TestServer.adminKey)
        XCTAssertTrue(t.read(until: { $0.events.filter { $0.part["type"] == "finish" }.count >= 2 }, timeout: 15), "events: \(t.types)")
        XCTAssertFalse(t.types.contains("error"), "the interrupted turn was taken over, not failed: \(t.types)")
        let history = try second.request("GET", "/public-api/chat/sessions/\(id)/messages").data?.arrayValue ?? []
        XCTAssertEqual(history.map { $0["content"]?.stringValue ?? "" }, ["hello", "answered by the node that took over", "still there?", "after the restart"])
    }

    func test_sigterm_endsEveryStreamWithItsLastChunk() throws {
        let own = try TestServer(environment: ["NEO_RATE_LIMIT": "0"])
        let a = try own.request("POST", "/public-api/agents", json: ["name": "desk", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL", "actions": []])
        let s = try own.request("POST", "/public-api/chat/sessions", json: ["agent_id": .int(Int64(a.data?["id"]?.stringValue ?? "") ?? 0)])
        let id = s.data?["id"]?.stringValue ?? ""
        let tails = try (0..<3).map { _ in try SSETail(port: own.port, path: "/public-api/chat/sessions/\(id)/events", key: TestServer.adminKey) }
        for t in tails { t.read(until: { $0.status == 200 }, timeout: 5) }
        let started = Date()
        XCTAssertEqual(own.stop(signal: SIGTERM), 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "streams do not hold shutdown up to its deadline")
        for t in tails {
            t.read(until: { $0.ended }, timeout: 5)
            XCTAssertTrue(t.ended, "each stream got its last chunk")
        }
    }
}

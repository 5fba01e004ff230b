import Foundation
import NeoJSON
import XCTest

/// AGENTIC runs through the real server (design §10): the model is a scripted server on 127.0.0.1, the
/// external APIs a Python upstream. Each test has its own tenant, provider and model script, and ends with
/// the script used up and nothing unexpected asked of the model.
class AgenticTestCase: XCTestCase {
    static let canaries = [
        "bearer": "CANARY-agentic-bearer-1c2d", "basic": "CANARY-agentic-basic-3e4f", "header": "CANARY-agentic-header-5a6b",
        "query": "CANARY-agentic-query-7c8d", "client_secret": "CANARY-agentic-oauth-9e0f", "token_auth": "CANARY-agentic-tokenauth-1a2b",
    ]
    // XCTest runs a class's setUp, tests and tearDown one after another.
    nonisolated(unsafe) static var server: TestServer!
    nonisolated(unsafe) static var upstream: PythonUpstream!

    /// What a subclass adds to the shared server's environment.
    class var extraEnvironment: [String: String] { [:] }

    override class func setUp() {
        super.setUp()
        server = try! TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback"].merging(extraEnvironment) { _, b in b })
        upstream = try! PythonUpstream(expect: canaries, directory: server.directory)
    }

    override class func tearDown() {
        upstream.stop()
        server.stop()
        super.tearDown()
    }

    var server: TestServer { Self.server }
    var upstreamBase: String { Self.upstream.base }
    var model: ScriptedModelServer!
    var key = ""
    /// Every response the test saw (the canary test searches them).
    nonisolated(unsafe) static var seen: [String] = []

    override func setUpWithError() throws {
        model = try ScriptedModelServer()
        key = try server.adminKey(forTenant: "agentic-\(name.filter { $0.isLetter || $0.isNumber }.suffix(40))-\(UUID().uuidString.prefix(6))")
    }

    override func tearDown() {
        XCTAssertEqual(model.failures, [], "the model server got requests it was not scripted for")
        XCTAssertEqual(model.remaining, 0, "scripted replies left unused")
        model.stop()
        super.tearDown()
    }

    @discardableResult
    func call(_ method: String, _ path: String, _ json: JSON? = nil, headers: [String: String] = [:], key explicit: String? = nil) throws -> TestResponse {
        let r = try server.request(method, path, key: explicit ?? key, json: json, headers: headers)
        Self.seen.append(r.text)
        return r
    }

    func provider(_ name: String = "scripted", kind: String = "openai_chat", retries: Int = 0, apiKey: String = "sk-test-provider-key-0001") throws {
        let r = try call("POST", "/public-api/llm-providers", ["name": .string(name), "kind": .string(kind), "base_url": .string(model.baseURL),
                                                             "model": "test-model", "api_key": .string(apiKey), "max_retries": .int(Int64(retries)),
                                                             "timeout_ms": 5000])
        XCTAssertEqual(r.status, 201, r.text)
    }

    func api(_ body: JSON) throws {
        let r = try call("POST", "/public-api/external-apis", body)
        XCTAssertEqual(r.status, 201, r.text)
    }

    /// `crm_lookup`: GET the upstream's echo of /contacts/{contact_id}, no approval needed.
    func lookupAPI(auth: JSON = ["type": "none"]) throws {
        try api(["name": "crm_lookup", "description": "Looks up a CRM contact by id.", "instructions": "Use it before answering.",
                 "endpoint_url": .string(upstreamBase + "/echo/contacts/{contact_id}"), "method": "GET", "auth": auth, "requires_approval": false])
    }

    func agent(_ name: String = "triage", instructions: String = "Triage the ticket.", apis: [String] = [], neo: JSON? = nil,
               settings: JSONObject = JSONObject(), trigger: String = "TRIGGERED") throws -> Int64 {
        var agentSettings: JSONObject = ["custom_instructions": .string(instructions)]
        for (k, v) in settings { agentSettings[k] = v }
        var tools: JSONObject = [:]
        if !apis.isEmpty { tools["EXTERNAL_API_REQUEST"] = ["apis": .array(apis.map(JSON.string))] }
        if let neo { tools["NEO_API_REQUEST"] = ["permissions": neo] }
        let r = try call("POST", "/public-api/agents", ["name": .string(name), "trigger_type": .string(trigger), "autonomy_type": "AGENTIC",
                                                      "agent_settings": .object(agentSettings), "toolbox": ["tool_settings_by_type": .object(tools)]])
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertFalse(r.json?["meta"]?["warnings"]?.serializedString().contains("AGENTIC") ?? false, "AGENTIC agents run now: \(r.text)")
        return Int64(r.data?["id"]?.stringValue ?? "") ?? -1
    }

    func run(_ agent: Int64, _ body: JSON = ["target_entity_id": "T-42", "input": ["caller": "Ada"]], headers: [String: String] = [:]) throws -> String {
        let r = try call("POST", "/public-api/agents/\(agent)/run-now", body, headers: headers)
        XCTAssertEqual(r.status, 202, r.text)
        return r.data?["execution_id"]?.stringValue ?? ""
    }

    func wait(_ id: String, for statuses: Set<String> = ["succeeded", "failed", "cancelled", "waiting_approval"], timeout: Double = 20) throws -> JSON {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = try call("GET", "/public-api/executions/\(id)")
            if let s = r.data?["status"]?.stringValue, statuses.contains(s) { return r.data! }
            if Date() > deadline { XCTFail("execution \(id) still \(r.data?["status"] ?? .null)"); return r.data ?? .null }
            usleep(20_000)
        }
    }

    func steps(_ id: String) throws -> [JSON] { try call("GET", "/public-api/executions/\(id)/steps?page_size=200").data?.arrayValue ?? [] }

    func types(_ steps: [JSON]) -> [String] { steps.map { $0["type"]?.stringValue ?? "" } }

    /// Decides the run's pending TIL request.
    func decide(_ id: String, _ action: String, note: String? = nil) throws -> JSON {
        let tils = try call("GET", "/public-api/executions/\(id)/til-requests").data?.arrayValue ?? []
        let til = try XCTUnwrap(tils.first { $0["status"] == "pending" }, "a pending TIL request")
        var body: JSONObject = ["action": .string(action)]
        if let note { body["note"] = .string(note) }
        let r = try call("POST", "/public-api/til-requests/\(til["id"]?.intValue ?? 0)/decision", .object(body))
        XCTAssertEqual(r.status, 200, r.text)
        return til
    }

    typealias Reply = ScriptedModelServer.Reply
    func openAI(text: String? = nil, calls: [(id: String?, name: String, arguments: String)] = [], raw: Bool = false,
                prompt: Int = 100, completion: Int = 20, expect: (@Sendable (ScriptedModelServer.Seen) -> String?)? = nil) -> Reply {
        ScriptedModelServer.openAI(text: text, calls: calls, raw: raw, prompt: prompt, completion: completion, expect: expect)
    }
}

final class AgenticRunsTests: AgenticTestCase {
    func test_twoTurns_openAI_toolCallThenFinalAnswer_stepsUsageAndRequests() throws {
        try provider()
        try lookupAPI()
        let agent = try agent(apis: ["crm_lookup"])
        model.add(openAI(text: "Looking up the caller.", calls: [(id: "call_1", name: "crm_lookup", arguments: #"{"contact_id": "42"}"#)],
                         expect: ScriptedModelServer.tools(["crm_lookup"])),
                  openAI(text: "Done: contact 42 is Ada.", expect: ScriptedModelServer.lastToolResult(contains: "/echo/contacts/42")))
        let id = try run(agent, ["target_entity_id": "T-42", "input": ["caller": "Ada"], "additional_custom_instructions": "be brief"])
        let done = try wait(id)
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        XCTAssertEqual(done["message_for_dashboard"], "Done: contact 42 is Ada.")
        XCTAssertEqual(done["usage"], ["llm_calls": 2, "prompt_tokens": 200, "completion_tokens": 40])

        let s = try steps(id)
        XCTAssertEqual(types(s), ["TOOL_CALL", "TOOL_RESULT", "THOUGHT", "TOOL_CALL", "TOOL_RESULT", "FINAL_MESSAGE"])
        XCTAssertEqual(s[2]["message"], "Looking up the caller.")
        XCTAssertEqual(s[2]["data"]?["llm"]?["prompt_tokens"], 100)
        XCTAssertEqual(s[2]["data"]?["llm"]?["provider"], "scripted")
        XCTAssertEqual(s[3]["tool_type_name"], "EXTERNAL_API_REQUEST")
        XCTAssertEqual(s[3]["tool_call_id"], "call_1")
        XCTAssertEqual(s[3]["data"]?["request"]?["url"]?.stringValue, upstreamBase + "/echo/contacts/42")
        XCTAssertEqual(s[4]["data"]?["status"], 200)
        XCTAssertEqual(s[5]["data"]?["llm"]?["completion_tokens"], 20)

        let requests = model.requests
        XCTAssertEqual(requests.count, 2)
        XCTAssertEqual(requests[0].path, "/v1/chat/completions")
        XCTAssertEqual(requests[0].headers["Authorization"], "Bearer sk-test-provider-key-0001", "the provider's key goes to the provider")
        let first = requests[0].json
        XCTAssertEqual(first["model"], "test-model")
        let system = first["messages"]?.arrayValue?.first?["content"]?.stringValue ?? ""
        XCTAssertTrue(system.hasPrefix("Triage the ticket."), system)
        XCTAssertTrue(system.contains("untrusted data"), system)
        let task = first["messages"]?.arrayValue?[1]["content"]?.stringValue ?? ""
        for part in ["RUN_NOW", "ticket T-42", #""caller":"Ada""#, "be brief"] { XCTAssertTrue(task.contains(part), "'\(part)' in the task: \(task)") }
        XCTAssertFalse(requests[0].text.contains(upstreamBase), "the external API's URL never reaches the model")
        let tool = first["tools"]?.arrayValue?.first?["function"]
        XCTAssertEqual(tool?["description"], "Looks up a CRM contact by id.\n\nUse it before answering.")
        XCTAssertEqual(tool?["parameters"]?["required"], ["contact_id"])
        let replay = requests[1].messages
        XCTAssertEqual(replay[2]["tool_calls"]?.arrayValue?.first?["id"], "call_1")
        XCTAssertEqual(replay[3]["role"], "tool")
        XCTAssertEqual(replay[3]["tool_call_id"], "call_1")
    }

    /// Cancelled while the model is answering: the answer that arrives records nothing more — no THOUGHT, no
    /// loop state to resume, no call sent, no approval request — and the run stays cancelled.
    func test_cancelDuringAModelCall_recordsNothingAfterIt() throws {
        try provider()
        try lookupAPI()
        let agent = try agent(apis: ["crm_lookup"])
        var slow = openAI(text: "Looking up the caller.", calls: [(id: "call_1", name: "crm_lookup", arguments: #"{"contact_id": "42"}"#)])
        slow.delay = 1.5
        model.add(slow)
        let id = try run(agent)
        let deadline = Date().addingTimeInterval(10)
        while model.requests.isEmpty && Date() < deadline { usleep(20_000) }
        XCTAssertEqual(model.requests.count, 1, "the model was asked")
        XCTAssertEqual(try call("POST", "/public-api/executions/\(id)/cancel").status, 200)
        usleep(2_500_000)  // the model's answer has arrived meanwhile
        XCTAssertEqual(try call("GET", "/public-api/executions/\(id)").data?["status"], "cancelled")
        XCTAssertFalse(types(try steps(id)).contains("THOUGHT"), "nothing recorded after the cancel")
        XCTAssertEqual(try server.sql("SELECT COUNT(*) AS n FROM agent_loops WHERE execution_id = '\(id)'").first?["n"], 0,
                       "no loop state left behind")
        XCTAssertEqual(try server.sql("SELECT COUNT(*) AS n FROM til_requests WHERE execution_id = '\(id)'").first?["n"], 0)
        XCTAssertEqual(model.requests.count, 1, "the model was not asked again")
    }

    func test_twoTurns_anthropicWire() throws {
        try provider("claude", kind: "anthropic_messages", apiKey: "sk-ant-test-key-0002")
        try lookupAPI()
        let agent = try agent(apis: ["crm_lookup"], settings: ["llm_provider": "claude"])
        model.add(ScriptedModelServer.anthropic(calls: [(id: "toolu_1", name: "crm_lookup", input: ["contact_id": "7"])]),
                  ScriptedModelServer.anthropic(text: "Contact 7 found.", expect: ScriptedModelServer.lastToolResult(contains: "/echo/contacts/7")))
        let done = try wait(try run(agent))
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        XCTAssertEqual(done["message_for_dashboard"], "Contact 7 found.")
        let requests = model.requests
        XCTAssertEqual(requests.map(\.path), ["/v1/messages", "/v1/messages"])
        XCTAssertEqual(requests[0].headers["x-api-key"], "sk-ant-test-key-0002")
        XCTAssertEqual(requests[0].headers["anthropic-version"], "2023-06-01")
        XCTAssertEqual(requests[0].json["max_tokens"], 4096)
        XCTAssertTrue(requests[0].json["system"]?.stringValue?.contains("Triage the ticket.") ?? false)
        XCTAssertEqual(requests[0].json["tools"]?.arrayValue?.first?["name"], "crm_lookup")
        let result = requests[1].messages.last?["content"]?.arrayValue?.first
        XCTAssertEqual(result?["type"], "tool_result")
        XCTAssertEqual(result?["tool_use_id"], "toolu_1")
    }

    func test_providerQuirks_objectAndEmptyArguments_missingIds() throws {
        try provider()
        try lookupAPI()
        try api(["name": "ping", "endpoint_url": .string(upstreamBase + "/status/202"), "method": "GET", "requires_approval": false])
        let agent = try agent(apis: ["crm_lookup", "ping"])
        model.add(openAI(calls: [(id: nil, name: "crm_lookup", arguments: #"{"contact_id": "9"}"#), (id: "", name: "ping", arguments: "\"\"")], raw: true),
                  openAI(text: "ok", expect: { seen in
                      let calls = seen.messages[2]["tool_calls"]?.arrayValue ?? []
                      let ids = calls.compactMap { $0["id"]?.stringValue }
                      let answered = seen.messages.dropFirst(3).compactMap { $0["tool_call_id"]?.stringValue }
                      guard ids.count == 2, ids.allSatisfy({ $0.count == 9 }), answered == ids else { return "ids \(ids), answered \(answered)" }
                      guard calls.compactMap({ $0["function"]?["arguments"]?.stringValue }) == [#"{"contact_id":"9"}"#, "{}"] else {
                          return "arguments replayed as \(calls)"
                      }
                      return nil
                  }))
        let done = try wait(try run(agent))
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        let results = try steps(done["execution_id"]?.stringValue ?? "").filter { $0["type"] == "TOOL_RESULT" && $0["tool_type_name"] == "EXTERNAL_API_REQUEST" }
        XCTAssertEqual(results.map { $0["data"]?["status"] ?? .null }, [200, 202])
    }

    func test_badCalls_goBackToTheModelAsErrors_andTheRunGoesOn() throws {
        try provider()
        try lookupAPI()
        let agent = try agent(apis: ["crm_lookup"])
        model.add(openAI(calls: [(id: "a", name: "delete_everything", arguments: "{}"), (id: "b", name: "crm_lookup", arguments: #"{"contact_id": "#),
                                 (id: "c", name: "crm_lookup", arguments: #"{"contact_id": 42}"#),
                                 (id: "d", name: "crm_lookup", arguments: #"{"contact_id": "1", "url": "http://evil.example/"}"#)]),
                  openAI(text: "gave up", expect: { seen in
                      let results = seen.messages.suffix(4).map { $0["content"]?.stringValue ?? "" }
                      let wanted = ["there is no tool named 'delete_everything'; the tools are: crm_lookup", "arguments are not valid JSON",
                                    "'contact_id' must be a string (got integer)", "'url' is not a parameter of this tool"]
                      for (got, want) in zip(results, wanted) where !got.contains(want) { return "'\(want)' not in '\(got)'" }
                      return nil
                  }))
        let id = try run(agent)
        let done = try wait(id)
        XCTAssertEqual(done["status"], "succeeded", "bad calls do not fail the run: \(done)")
        let results = try steps(id).filter { $0["type"] == "TOOL_RESULT" && $0["tool_call_id"] != .null && $0["tool_type_name"] != "FIND_ENTITIES" }
        XCTAssertEqual(results.map { $0["is_error"] ?? .null }, [true, true, true, true])
    }

    func test_identicalCallGuard_refusesTheThirdSameCall() throws {
        try provider()
        try lookupAPI()
        let agent = try agent(apis: ["crm_lookup"])
        for i in 1...3 {
            model.add(openAI(calls: [(id: "same\(i)", name: "crm_lookup", arguments: i == 2 ? #"{ "contact_id" : "5" }"# : #"{"contact_id": "5"}"#)]))
        }
        model.add(openAI(text: "stopping", expect: ScriptedModelServer.lastToolResult(contains: "already made twice")))
        let id = try run(agent)
        XCTAssertEqual(try wait(id)["status"], "succeeded")
        let sent = try steps(id).filter { $0["type"] == "TOOL_RESULT" && $0["data"]?["status"] == 200 }
        XCTAssertEqual(sent.count, 2, "the third identical call was not sent")
    }

    func test_caps_failTheRunNamingThem() throws {
        try provider()
        try lookupAPI()
        let cases: [(JSONObject, [Reply], String)] = [
            (["max_iterations": 2], [openAI(calls: [(id: "i1", name: "crm_lookup", arguments: #"{"contact_id": "1"}"#)]),
                                     openAI(calls: [(id: "i2", name: "crm_lookup", arguments: #"{"contact_id": "2"}"#)])], "max_iterations (2) reached"),
            (["max_tool_calls": 1], [openAI(calls: [(id: "t1", name: "crm_lookup", arguments: #"{"contact_id": "1"}"#),
                                                    (id: "t2", name: "crm_lookup", arguments: #"{"contact_id": "2"}"#)])], "max_tool_calls (1) reached"),
            (["max_total_tokens": 100], [openAI(calls: [(id: "k1", name: "crm_lookup", arguments: #"{"contact_id": "1"}"#)])], "max_total_tokens (100) reached"),
            (["max_run_seconds": 1], [Reply(body: "{}", delay: 1.5)], "max_run_seconds (1) reached"),
        ]
        for (i, (settings, script, expected)) in cases.enumerated() {
            let agent = try agent("capped \(i)", apis: ["crm_lookup"], settings: settings)
            for reply in script { model.add(reply) }
            let done = try wait(try run(agent))
            XCTAssertEqual(done["status"], "failed", "\(settings)")
            XCTAssertTrue(done["error"]?.stringValue?.contains(expected) ?? false, "\(expected): \(done["error"] ?? .null)")
            let last = try steps(done["execution_id"]?.stringValue ?? "").last
            XCTAssertEqual(last?["type"], "ERROR")
            if settings["max_run_seconds"] != nil { usleep(700_000) }  // let the slow reply go out before the next case
        }
    }

    func test_providerErrors_retryWithRetryAfter_failOnQuota_andOnUnreadableReplies() throws {
        try provider(retries: 2)
        let agent = try agent()
        model.add(ScriptedModelServer.error(429, code: "rate_limit_exceeded", message: "slow down", headers: [("retry-after-ms", "10")]),
                  ScriptedModelServer.error(503, code: "overloaded", message: "busy", headers: [("retry-after-ms", "10")]),
                  openAI(text: "fine"))
        let ok = try wait(try run(agent))
        XCTAssertEqual(ok["status"], "succeeded", "\(ok)")
        XCTAssertEqual(try steps(ok["execution_id"]?.stringValue ?? "").last?["data"]?["llm"]?["attempts"], 3)

        model.add(ScriptedModelServer.error(429, code: "insufficient_quota", message: "You exceeded your current quota", headers: [("retry-after-ms", "10")]))
        let quota = try wait(try run(agent))
        XCTAssertEqual(quota["status"], "failed")
        XCTAssertEqual(quota["error"], "model provider 'scripted': model provider answered 429 (insufficient_quota): You exceeded your current quota")

        model.add(Reply(status: 401, body: #"{"error": {"message": "Incorrect API key provided: sk-test-provider-key-0001", "code": "invalid_api_key"}}"#))
        let denied = try wait(try run(agent))
        XCTAssertEqual(denied["status"], "failed")
        XCTAssertFalse(denied["error"]?.stringValue?.contains("sk-test-provider-key-0001") ?? true, "never the key: \(denied)")
        XCTAssertTrue(denied["error"]?.stringValue?.contains("invalid_api_key") ?? false, "\(denied)")

        model.add(Reply(body: "<html>gateway</html>"))
        let garbage = try wait(try run(agent))
        XCTAssertEqual(garbage["status"], "failed")
        XCTAssertTrue(garbage["error"]?.stringValue?.contains("not JSON") ?? false, "\(garbage)")
        XCTAssertEqual(model.requests.count, 6)
    }

    func test_approval_approve_sendsTheHeldRequestAndTheLoopResumes() throws {
        try provider()
        try api(["name": "crm_update", "description": "Updates a contact.", "endpoint_url": .string(upstreamBase + "/echo/contacts/{contact_id}"),
                 "method": "POST", "body_fields": [["name": "email", "type": "String", "required": true]],
                 "auth": ["type": "bearer", "token": .string(Self.canaries["bearer"]!)]])
        let agent = try agent(apis: ["crm_update"])
        model.add(openAI(calls: [(id: "w1", name: "crm_update", arguments: #"{"contact_id": "42", "email": "ada@example.com"}"#)]))
        let id = try run(agent)
        let waiting = try wait(id)
        XCTAssertEqual(waiting["status"], "waiting_approval", "\(waiting)")
        XCTAssertTrue(waiting["message_for_dashboard"]?.stringValue?.contains("TIL request") ?? false)
        model.add(openAI(text: "Updated.", expect: ScriptedModelServer.lastToolResult(contains: "ada@example.com")))
        let til = try decide(id, "approve")
        let held = til["requested_for"]?["request"]
        XCTAssertEqual(held?["url"]?.stringValue, upstreamBase + "/echo/contacts/42", "the TIL request holds the fully resolved request")
        XCTAssertEqual(held?["body"], ["email": "ada@example.com"])
        XCTAssertEqual(held?["headers"]?["Authorization"], "***", "redacted")
        XCTAssertEqual(til["requested_for"]?["tool_call_id"], "w1")
        let done = try wait(id, for: ["succeeded", "failed"])
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        XCTAssertEqual(types(try steps(id)), ["TOOL_CALL", "TOOL_RESULT", "THOUGHT", "TOOL_CALL", "TOOL_RESULT", "FINAL_MESSAGE"])
        XCTAssertEqual(done["usage"]?["llm_calls"], 2)
    }

    func test_approval_survivesARestart_theLoopResumesFromItsStoredState() throws {
        try provider()
        try api(["name": "crm_update", "endpoint_url": .string(upstreamBase + "/echo/contacts/{contact_id}"), "method": "PUT"])
        let agent = try agent(apis: ["crm_update"])
        model.add(openAI(text: "Updating.", calls: [(id: "x1", name: "crm_update", arguments: #"{"contact_id": "8"}"#)]))
        let id = try run(agent)
        XCTAssertEqual(try wait(id)["status"], "waiting_approval")
        let directory = server.directory
        XCTAssertEqual(server.stop(), 0)
        Self.server = try TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback"], directory: directory)
        XCTAssertEqual(try wait(id)["status"], "waiting_approval", "a waiting run is not an interrupted one")
        model.add(openAI(text: "Updated after the restart.", expect: { seen in
            // The whole conversation comes back from the store: task, the model's turn, the result.
            seen.messages.count == 4 && seen.messages[2]["content"] == "Updating." ? nil : "conversation \(seen.messages)"
        }))
        _ = try decide(id, "approve")
        let done = try wait(id, for: ["succeeded", "failed"])
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        XCTAssertEqual(done["usage"]?["llm_calls"], 2)
    }

    func test_approval_reject_tellsTheModelWhichGoesOn() throws {
        try provider()
        try api(["name": "crm_delete", "endpoint_url": .string(upstreamBase + "/echo/contacts/{contact_id}"), "method": "DELETE"])
        let agent = try agent(apis: ["crm_delete"])
        model.add(openAI(calls: [(id: "r1", name: "crm_delete", arguments: #"{"contact_id": "42"}"#)]))
        let id = try run(agent)
        XCTAssertEqual(try wait(id)["status"], "waiting_approval")
        model.add(openAI(text: "Not deleted; a technician declined.", expect: ScriptedModelServer.lastToolResult(contains: "not today")))
        _ = try decide(id, "reject", note: "not today")
        let done = try wait(id, for: ["succeeded", "failed"])
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        let result = try steps(id).last { $0["type"] == "TOOL_RESULT" }
        XCTAssertEqual(result?["is_error"], true)
        XCTAssertEqual(result?["message"], "rejected by a technician: not today")
    }

    func test_neoAPIRequest_runsAsTheAgentWithExactlyItsPermissions() throws {
        try provider()
        let other = try agent("other agent", instructions: "x")
        let agent = try agent("meta", neo: ["agents": "read", "executions": "read"])
        model.add(openAI(calls: [(id: "n1", name: "neo_api_request", arguments: #"{"method": "GET", "path": "/public-api/agents?page_size=5"}"#),
                                 (id: "n2", name: "neo_api_request", arguments: #"{"method": "PUT", "path": "/public-api/agents/\#(other)", "body": {"description": "changed"}}"#),
                                 (id: "n3", name: "neo_api_request", arguments: #"{"method": "GET", "path": "/public-api/api-keys"}"#),
                                 (id: "n4", name: "neo_api_request", arguments: #"{"method": "GET", "path": "/public-api/external-apis"}"#)],
                         expect: ScriptedModelServer.tools(["neo_api_request"])),
                  openAI(text: "two agents", expect: { seen in
                      let contents = seen.messages.suffix(4).map { (try? JSON.parse($0["content"]?.stringValue ?? "")) ?? .null }
                      let statuses = contents.map { $0["status"]?.intValue ?? 0 }
                      guard statuses == [200, 403, 403, 403] else { return "statuses \(statuses): \(contents)" }
                      guard contents[0]["body"]?["data"]?.arrayValue?.count == 2 else { return "the list: \(contents[0])" }
                      return nil
                  }))
        let id = try run(agent)
        XCTAssertEqual(try wait(id)["status"], "succeeded")
        XCTAssertEqual(try call("GET", "/public-api/agents/\(other)").data?["description"], .null, "the read-only agent changed nothing")
        let callStep = try steps(id).first { $0["type"] == "TOOL_CALL" && $0["tool_type_name"] == "NEO_API_REQUEST" }
        XCTAssertEqual(callStep?["data"]?["request"]?["path"], "/public-api/agents?page_size=5")
        XCTAssertTrue(server.log.contains("\"request_id\":\"agentic-n1\""), "in-process calls are in the access log")
    }

    /// Every route that queues a run, decides a TIL request or calls an external API refuses an in-process
    /// caller, whatever the toolbox grants: a model could otherwise start runs without bound (itself
    /// included) or approve its own held calls.
    func test_neoAPIRequest_cannotStartRunsDecideApprovalsOrCallAPIs() throws {
        try provider()
        let agent = try agent("runner", neo: ["agents": "read_write", "executions": "read_write", "approvals": "read_write",
                                              "external_apis": "read_write", "callbacks": "read_write"])
        let paths = ["/public-api/agents/\(agent)/run-now", "/public-api/executions/e1/retry", "/public-api/callbacks",
                     "/public-api/scheduled-work", "/public-api/chat/sessions/s1/messages", "/public-api/til-requests/1/decision",
                     "/public-api/external-apis/crm/invoke", "/public-api/external-apis/crm/test", "/public-api/inbound/ep1"]
        let calls = paths.enumerated().map { i, path in
            (id: "q\(i)", name: "neo_api_request", arguments: #"{"method": "POST", "path": "\#(path)", "body": {"target_entity_id": "T-9"}}"#)
        }
        model.add(openAI(calls: calls),
                  openAI(text: "refused", expect: { seen in
                      let contents = seen.messages.suffix(paths.count).map { (try? JSON.parse($0["content"]?.stringValue ?? "")) ?? .null }
                      for (path, content) in zip(paths, contents) {
                          guard content["status"]?.intValue == 403,
                                content["body"]?["error"]?["message"]?.stringValue?.contains("neo_api_request") == true else {
                              return "\(path): \(content)"
                          }
                      }
                      return nil
                  }))
        let id = try run(agent)
        XCTAssertEqual(try wait(id)["status"], "succeeded")
        let runs = try call("GET", "/public-api/executions?agent_id=\(agent)").data?.arrayValue ?? []
        XCTAssertEqual(runs.count, 1, "the run started no other run: \(runs)")
    }

    func test_neoAPIRequest_destructiveEditsAreHeld_andTestModePersistsNothing() throws {
        try provider()
        let target = try agent("target", instructions: "x")
        let agent = try agent("editor", neo: ["agents": "read_write"])
        model.add(openAI(calls: [(id: "e1", name: "neo_api_request", arguments: #"{"method": "PUT", "path": "/public-api/agents/\#(target)", "body": {"agent_settings": {"custom_instructions": "y"}}}"#),
                                 (id: "e2", name: "neo_api_request", arguments: #"{"method": "PUT", "path": "/public-api/agents/\#(target)", "body": {"description": "renamed"}}"#)]),
                  openAI(text: "done", expect: { seen in
                      let statuses = seen.messages.suffix(2).map { (try? JSON.parse($0["content"]?.stringValue ?? ""))?["status"]?.intValue ?? 0 }
                      return statuses == [202, 200] ? nil : "statuses \(statuses)"
                  }))
        XCTAssertEqual(try wait(try run(agent))["status"], "succeeded")
        let tils = try call("GET", "/public-api/til-requests?agent_id=\(target)").data?.arrayValue ?? []
        XCTAssertEqual(tils.first?["kind"], "agent_update", "the destructive edit waits for a technician")
        XCTAssertEqual(try call("GET", "/public-api/agents/\(target)").data?["description"], "renamed")

        model.add(openAI(calls: [(id: "t1", name: "neo_api_request", arguments: #"{"method": "PUT", "path": "/public-api/agents/\#(target)", "body": {"description": "test mode"}}"#)]),
                  openAI(text: "planned", expect: ScriptedModelServer.lastToolResult(contains: "test mode: not persisted")))
        let dry = try wait(try run(agent, headers: ["X-Neo-Test-Mode": "1"]))
        XCTAssertEqual(dry["status"], "succeeded")
        XCTAssertEqual(dry["test_mode"], true)
        XCTAssertEqual(try call("GET", "/public-api/agents/\(target)").data?["description"], "renamed", "a test-mode run persisted nothing")
    }

    func test_testMode_plansExternalCallsWithoutSendingOrWaiting() throws {
        try provider()
        try api(["name": "crm_delete", "endpoint_url": .string(upstreamBase + "/echo/contacts/{contact_id}"), "method": "DELETE"])
        let agent = try agent(apis: ["crm_delete"])
        model.add(openAI(calls: [(id: "p1", name: "crm_delete", arguments: #"{"contact_id": "1"}"#)],
                         expect: { $0.messages[1]["content"]?.stringValue?.contains("mode: test") ?? false ? nil : "the task says test mode" }),
                  openAI(text: "planned", expect: ScriptedModelServer.lastToolResult(contains: "planned and not sent")))
        let done = try wait(try run(agent, headers: ["X-Neo-Test-Mode": "true"]))
        XCTAssertEqual(done["status"], "succeeded", "no approval pause in test mode: \(done)")
        let planned = try steps(done["execution_id"]?.stringValue ?? "").first { $0["type"] == "TOOL_CALL" && $0["tool_type_name"] == "EXTERNAL_API_REQUEST" }
        XCTAssertEqual(planned?["data"]?["planned"], true)
    }

    func test_runsThatCannotStart_failNamingWhy_andRetryRunsTheLoopAgain() throws {
        let agent = try agent()
        let noProvider = try wait(try run(agent))
        XCTAssertEqual(noProvider["status"], "failed")
        XCTAssertTrue(noProvider["error"]?.stringValue?.contains("no default model provider") ?? false, "\(noProvider)")
        XCTAssertEqual(types(try steps(noProvider["execution_id"]?.stringValue ?? "")), ["TOOL_CALL", "TOOL_RESULT", "ERROR"])

        try provider()
        model.add(openAI(text: "now it works"))
        let retried = try call("POST", "/public-api/executions/\(noProvider["execution_id"]?.stringValue ?? "")/retry")
        XCTAssertEqual(retried.status, 202, retried.text)
        XCTAssertEqual(try wait(retried.data?["execution_id"]?.stringValue ?? "")["status"], "succeeded")

        try lookupAPI()
        let withTool = try self.agent("uses lookup", apis: ["crm_lookup"])
        XCTAssertEqual(try call("DELETE", "/public-api/external-apis/crm_lookup").status, 200)
        let gone = try wait(try run(withTool))
        XCTAssertEqual(gone["status"], "failed")
        XCTAssertTrue(gone["error"]?.stringValue?.contains("crm_lookup") ?? false, "\(gone)")
    }

    func test_agentWrites_refuseToolboxesAndSettingsThatCannotRun() throws {
        try lookupAPI()
        let cases: [(JSON, String)] = [
            (["tool_settings_by_type": ["EXTERNAL_API_REQUEST": ["apis": ["crm_lookup", "not_configured"]]]], "toolbox.tool_settings_by_type.EXTERNAL_API_REQUEST.apis[1]"),
            (["tool_settings_by_type": ["NEO_API_REQUEST": ["permissions": ["agents": "admin"]]]], "toolbox.tool_settings_by_type.NEO_API_REQUEST.permissions.agents"),
            (["tool_settings_by_type": ["NEO_API_REQUEST": ["permissions": ["billing": "read"]]]], "toolbox.tool_settings_by_type.NEO_API_REQUEST.permissions.billing"),
        ]
        for (toolbox, field) in cases {
            let r = try call("POST", "/public-api/agents", ["name": "bad", "trigger_type": "NONE", "autonomy_type": "AGENTIC", "toolbox": toolbox])
            XCTAssertEqual(r.status, 422, r.text)
            XCTAssertEqual(r.json?["error"]?["details"]?.arrayValue?.first?["field"]?.stringValue, field)
        }
        let noProvider = try call("POST", "/public-api/agents", ["name": "bad", "trigger_type": "NONE", "autonomy_type": "AGENTIC",
                                                                 "agent_settings": ["llm_provider": "nowhere", "max_iterations": 0]])
        XCTAssertEqual(noProvider.json?["error"]?["details"]?.arrayValue?.compactMap { $0["field"]?.stringValue },
                       ["agent_settings.max_iterations", "agent_settings.llm_provider"])
        let good = try agent(apis: ["crm_lookup"])
        let put = try call("PUT", "/public-api/agents/\(good)", ["toolbox": ["tool_settings_by_type": ["EXTERNAL_API_REQUEST": ["apis": ["nope"]]]]])
        XCTAssertEqual(put.status, 422, put.text)
        XCTAssertEqual(try call("DELETE", "/public-api/external-apis/crm_lookup").status, 200)
        XCTAssertEqual(try call("PUT", "/public-api/agents/\(good)", ["state": "DISABLED"]).status, 200,
                       "an edit that leaves the toolbox alone is not refused for it")
    }
}

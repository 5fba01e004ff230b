import Basics
import Foundation
import NeoJSON
import XCTest

/// External-API configs, the connection test and invokes through the real server, against a
/// Python upstream on 127.0.0.1 (NEO_UPSTREAM_POLICY=loopback, so nothing can leave the machine, unless a
/// test checks another policy).
final class ExternalAPITests: XCTestCase {
    /// Every secret the configs hold; none may ever come back out.
    static let canaries = [
        "bearer": "CANARY-bearer-7f3a9c", "basic": "CANARY-basic-81be22", "header": "CANARY-header-5d0e44",
        "query": "CANARY-query-c19a07", "client_secret": "CANARY-oauth-3e6f10", "token_auth": "CANARY-tokenauth-9a2b55",
        "secret_header": "CANARY-sighdr-44c0de",
    ]
    // XCTest runs a class's setUp, tests and tearDown one after another on one thread.
    nonisolated(unsafe) static var server: TestServer!
    nonisolated(unsafe) static var upstream: PythonUpstream!
    /// Every response body the tests saw, for the canary check.
    nonisolated(unsafe) static var seen: [String] = []

    override class func setUp() {
        super.setUp()
        server = try! TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback"])
        upstream = try! PythonUpstream(expect: canaries, directory: server.directory)
    }

    override class func tearDown() {
        upstream.stop()
        server.stop()
        super.tearDown()
    }

    var server: TestServer { Self.server }
    var base: String { Self.upstream.base }

    @discardableResult
    func call(_ method: String, _ path: String, _ json: JSON? = nil, key: String = TestServer.adminKey,
              headers: [String: String] = [:]) throws -> TestResponse {
        let r = try server.request(method, path, key: key, json: json, headers: headers)
        Self.seen.append(r.text)
        return r
    }

    func create(_ body: JSON) throws -> TestResponse { try call("POST", "/public-api/external-apis", body) }

    func sql(_ query: String) throws -> [JSON] { try server.sql(query) }

    static func auth(_ kind: String) -> JSON {
        switch kind {
        case "bearer": return ["type": "bearer", "token": .string(canaries["bearer"]!)]
        case "basic": return ["type": "basic", "username": "alice", "password": .string(canaries["basic"]!)]
        case "header": return ["type": "api_key_header", "header_name": "X-Api-Key", "api_key": .string(canaries["header"]!)]
        case "query": return ["type": "api_key_query", "param_name": "api_key", "api_key": .string(canaries["query"]!)]
        case "oauth": return oauth(secret: canaries["client_secret"]!)
        default: return ["type": "none"]
        }
    }

    static func oauth(secret: String) -> JSON {
        ["type": "oauth2_client_credentials", "token_url": .string(upstream.base + "/token"),
         "params": [["key": "grant_type", "value": "client_credentials"], ["key": "client_id", "value": "neo"],
                    ["key": "client_secret", "value": .string(secret), "secret": true]],
         "token_auth": ["username": "tu", "password": .string(canaries["token_auth"]!)]]
    }

    // MARK: CRUD and validation

    func test_crud_masksSecretsAndKeepsThemOnPutWithMask() throws {
        let created = try create(["name": "crud_bearer", "endpoint_url": .string(base + "/check/bearer"), "method": "GET",
                                  "auth": Self.auth("bearer"), "headers": [["name": "Api-Version", "value": "2024-01"]]])
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.data?["auth"]?["token"], "***")
        XCTAssertEqual(created.data?["requires_approval"], true)
        XCTAssertEqual(created.data?["timeout_ms"], 15000)
        XCTAssertEqual(created.data?["max_response_bytes"], 8192)
        XCTAssertEqual(try create(["name": "crud_bearer", "endpoint_url": .string(base), "method": "GET"]).errorCode, "CONFLICT")

        let fetched = try call("GET", "/public-api/external-apis/crud_bearer")
        XCTAssertEqual(fetched.data?["auth"]?["token"], "***")
        var sentBack = try XCTUnwrap(fetched.data?.objectValue)
        sentBack["description"] = "updated"
        let put = try call("PUT", "/public-api/external-apis/crud_bearer", .object(sentBack))
        XCTAssertEqual(put.status, 200, put.text)
        XCTAssertEqual(put.data?["description"], "updated")
        let invoked = try call("POST", "/public-api/external-apis/crud_bearer/invoke", [:])
        XCTAssertEqual(invoked.data?["body"], #"{"ok": true}"#, "'***' kept the stored token")

        XCTAssertEqual(try call("PUT", "/public-api/external-apis/crud_bearer", ["auth": ["type": "bearer", "token": "other-token"]]).status, 200)
        XCTAssertEqual(try call("POST", "/public-api/external-apis/crud_bearer/invoke", [:]).data?["body"], #"{"ok": false}"#)
        let renamed = try call("PUT", "/public-api/external-apis/crud_bearer", ["name": "other"])
        XCTAssertEqual(renamed.status, 422)

        let list = try call("GET", "/public-api/external-apis?page_size=1")
        XCTAssertEqual(list.data?.arrayValue?.count, 1)
        XCTAssertNotNil(list.json?["meta"]?["pagination"]?["has_more"])
        XCTAssertEqual(try call("DELETE", "/public-api/external-apis/crud_bearer").status, 200)
        XCTAssertEqual(try call("GET", "/public-api/external-apis/crud_bearer").status, 404)
    }

    func test_create_validatesEveryFieldWithPaths() throws {
        let r = try create(["name": "Bad-Name", "endpoint_url": "ftp://x", "method": "FETCH",
                            "headers": [["name": "Cookie", "value": "a"], ["name": "X-Ok", "value": "a\r\nb"]],
                            "body_fields": [["name": "n", "type": "Integer"]],
                            "auth": ["type": "bearer"], "timeout_ms": 120000, "max_response_bytes": 0])
        XCTAssertEqual(r.status, 422)
        let fields = Set(r.json?["error"]?["details"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? [])
        XCTAssertEqual(fields, ["name", "endpoint_url", "method", "headers[0].value", "headers[1].value", "body_fields[0].type",
                                "auth.token", "timeout_ms", "max_response_bytes"])
        let oauth = try create(["name": "bad_oauth", "endpoint_url": .string(base), "method": "GET",
                                "auth": ["type": "oauth2_client_credentials", "token_url": "not a url", "params": [["key": "client_secret", "value": "***", "secret": true]]]])
        let oauthFields = oauth.json?["error"]?["details"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
        XCTAssertEqual(oauthFields, ["auth.token_url", "auth.params[0].value"])
        let hostPlaceholder = try create(["name": "hp", "endpoint_url": "https://{tenant}.example.com/", "method": "GET"])
        XCTAssertEqual(hostPlaceholder.status, 422)
    }

    // MARK: invoke

    func test_invoke_eachAuthTypeIsSeenByTheUpstream() throws {
        for kind in ["none", "bearer", "basic", "header", "query", "oauth"] {
            XCTAssertEqual(try create(["name": .string("auth_\(kind)"), "endpoint_url": .string(base + "/check/\(kind)"),
                                       "method": "GET", "auth": Self.auth(kind)]).status, 201, kind)
            let r = try call("POST", "/public-api/external-apis/auth_\(kind)/invoke", [:])
            XCTAssertEqual(r.status, 200, r.text)
            XCTAssertEqual(r.data?["status"], 200, kind)
            XCTAssertEqual(r.data?["body"], #"{"ok": true}"#, kind)
            XCTAssertNotNil(r.data?["execution_id"]?.stringValue)
        }
        XCTAssertEqual(try call("POST", "/public-api/external-apis/auth_oauth/invoke", [:]).data?["attempt"], 1)
        let stats = try JSON.parse(Array(try call("POST", "/public-api/external-apis/auth_none/invoke", ["path": "../../stats"]).text.utf8))
        XCTAssertEqual(stats["error"]?["code"], "VALIDATION_ERROR")
    }

    func test_invoke_recordsAnExecutionWithRedactedSteps() throws {
        XCTAssertEqual(try create(["name": "recorded", "endpoint_url": .string(base + "/echo/{id}"), "method": "POST", "auth": Self.auth("header"),
                                   "body_fields": [["name": "email", "type": "String", "required": true]]]).status, 201)
        let r = try call("POST", "/public-api/external-apis/recorded/invoke", ["params": ["id": "a/b"], "query": ["n": 1],
                                                                              "body": ["email": "a@b.c"], "headers": ["X-Trace": "t1"]])
        XCTAssertEqual(r.status, 200, r.text)
        let echoed = try JSON.parse(Array(r.data!["body"]!.stringValue!.utf8))
        XCTAssertEqual(echoed["path"], "/echo/a%2Fb")
        XCTAssertEqual(echoed["headers"]?["X-Api-Key"], "***", "an echoing upstream gets its secrets scrubbed")
        XCTAssertEqual(echoed["body"], #"{"email":"a@b.c"}"#)
        let id = try XCTUnwrap(r.data?["execution_id"]?.stringValue)
        let execution = try sql("SELECT kind, status, agent_id FROM executions WHERE id = '\(id)'")
        XCTAssertEqual(execution.first?["kind"], "external_api_invoke")
        XCTAssertEqual(execution.first?["status"], "succeeded")
        let steps = try sql("SELECT type, tool_type_name, data FROM execution_steps WHERE execution_id = '\(id)' ORDER BY seq")
        XCTAssertEqual(steps.map { $0["type"]?.stringValue }, ["TOOL_CALL", "TOOL_RESULT"])
        XCTAssertEqual(steps.first?["tool_type_name"], "EXTERNAL_API_REQUEST")
        let callData = try JSON.parse(steps[0]["data"]!.stringValue!)
        XCTAssertEqual(callData["request"]?["headers"]?["X-Api-Key"], "***")
        XCTAssertEqual(callData["request"]?["url"], .string(base + "/echo/a%2Fb?n=1"))
        XCTAssertEqual(try JSON.parse(steps[1]["data"]!.stringValue!)["status"], 200)

        let missing = try call("POST", "/public-api/external-apis/recorded/invoke", ["params": ["id": "x"], "body": ["email": 5]])
        XCTAssertEqual(missing.status, 422)
        XCTAssertEqual(missing.json?["error"]?["details"]?.arrayValue?.first?["field"], "body.email")
        let injected = try call("POST", "/public-api/external-apis/recorded/invoke", ["params": ["id": "x"], "body": ["email": "e"],
                                                                                   "headers": ["X-A": "1\r\nHost: evil"]])
        XCTAssertEqual(injected.json?["error"]?["details"]?.arrayValue?.first?["field"], "headers.X-A")
        XCTAssertEqual(try call("POST", "/public-api/external-apis/recorded/invoke", ["params": ["id": "x"], "body": ["email": "e"],
                                                                                     "headers": ["Authorization": "Bearer mine"]]).status, 422)
    }

    func test_invoke_limitsAndFailures() throws {
        XCTAssertEqual(try create(["name": "limits", "endpoint_url": .string(base), "method": "GET", "timeout_ms": 500,
                                   "max_response_bytes": 100]).status, 201)
        let slow = try call("POST", "/public-api/external-apis/limits/invoke", ["path": "/slow"])
        XCTAssertEqual(slow.status, 504)
        XCTAssertEqual(slow.errorCode, "UPSTREAM_TIMEOUT")
        let big = try call("POST", "/public-api/external-apis/limits/invoke", ["path": "/big"])
        XCTAssertEqual(big.data?["truncated"], true)
        XCTAssertEqual(big.data?["bytes_total"], 20000)
        XCTAssertEqual(big.data?["body"]?.stringValue?.count, 100)
        let redirect = try call("POST", "/public-api/external-apis/limits/invoke", ["path": "/redirect"])
        XCTAssertEqual(redirect.data?["status"], 302, "redirects are returned, not followed")
        let upstream500 = try call("POST", "/public-api/external-apis/limits/invoke", ["path": "/status/500"])
        XCTAssertEqual(upstream500.status, 200)
        XCTAssertEqual(upstream500.data?["status"], 500)
        for path in ["/a/../../x", "/%2e%2e/x", "/a%2Fb", "/a%5cb", "/a\\b"] {
            XCTAssertEqual(try call("POST", "/public-api/external-apis/limits/invoke", ["path": .string(path)]).status, 422, path)
        }
        XCTAssertEqual(try create(["name": "down", "endpoint_url": "http://127.0.0.1:1/", "method": "GET"]).status, 201)
        XCTAssertEqual(try call("POST", "/public-api/external-apis/down/invoke", [:]).errorCode, "UPSTREAM_ERROR")
        let failed = try sql("SELECT count(*) AS n FROM executions WHERE status = 'failed'")
        XCTAssertGreaterThanOrEqual(failed.first?["n"]?.intValue ?? 0, 2)
    }

    func test_oauthTokenErrors_are502WithTheProviderCodeAndNoSecret() throws {
        XCTAssertEqual(try create(["name": "bad_secret", "endpoint_url": .string(base + "/check/oauth"), "method": "GET",
                                   "auth": Self.oauth(secret: "CANARY-wrong-secret-00")]).status, 201)
        let r = try call("POST", "/public-api/external-apis/bad_secret/invoke", [:])
        XCTAssertEqual(r.status, 502)
        XCTAssertEqual(r.errorCode, "UPSTREAM_ERROR")
        XCTAssertTrue(r.errorMessage?.contains("invalid_client") ?? false, r.text)
        XCTAssertFalse(r.text.contains("CANARY"), r.text)
    }

    func test_connectionTest_diagnosesCredentials() throws {
        XCTAssertEqual(try create(["name": "probe", "endpoint_url": .string(base), "method": "POST", "auth": Self.auth("bearer")]).status, 201)
        let ok = try call("POST", "/public-api/external-apis/probe/test", [:])
        XCTAssertEqual(ok.data?["ok"], true, ok.text)
        XCTAssertEqual(ok.data?["diagnosis"], "credentials accepted (upstream answered 200)")
        XCTAssertEqual(ok.data?["request"]?["method"], "GET", "a test does not fire a POST webhook")
        let refused = try call("POST", "/public-api/external-apis/probe/test", ["path": "/status/401"])
        XCTAssertEqual(refused.data?["diagnosis"], "upstream answered 401: check the credentials")
        XCTAssertNotNil(refused.data?["latency_ms"]?.doubleValue)
        XCTAssertEqual(try create(["name": "probe_down", "endpoint_url": "http://127.0.0.1:1/", "method": "GET"]).status, 201)
        let down = try call("POST", "/public-api/external-apis/probe_down/test", [:])
        XCTAssertEqual(down.data?["ok"], false)
        XCTAssertEqual(down.data?["error"]?["code"], "UPSTREAM_ERROR")
    }

    func test_testMode_buildsTheRedactedRequestAndSendsNothing() throws {
        XCTAssertEqual(try create(["name": "dry", "endpoint_url": .string(base + "/echo"), "method": "GET", "auth": Self.auth("query")]).status, 201)
        let before = try sql("SELECT count(*) AS n FROM executions").first?["n"]
        let r = try call("POST", "/public-api/external-apis/dry/invoke", ["path": "/x"], headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.data?["sent"], false)
        XCTAssertEqual(r.data?["request"]?["url"], .string(base + "/echo/x?api_key=***"))
        XCTAssertEqual(r.json?["meta"]?["warnings"], ["test mode: not persisted"])
        XCTAssertEqual(try sql("SELECT count(*) AS n FROM executions").first?["n"], before)
        let write = try call("POST", "/public-api/external-apis", ["name": "dry_write", "endpoint_url": .string(base), "method": "GET"],
                             headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(write.status, 201)
        XCTAssertEqual(try call("GET", "/public-api/external-apis/dry_write").status, 404)
    }

    func test_agentActorWrites_areHeldForApproval() throws {
        _ = try sql("INSERT INTO agents (tenant_id, name, state, trigger_type, autonomy_type, entity_type, version, document, created_at, updated_at) VALUES (1, 'Helper agent', 'ENABLED', 'NONE', 'AGENTIC', 'ticket', 1, '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')")
        let agentId = try XCTUnwrap(try sql("SELECT max(id) AS id FROM agents").first?["id"]?.intValue)
        let key = try server.createKey(["name": "agent key", "actor": "agent", "agent_id": .int(agentId),
                                        "permissions": ["external_apis": "read_write"]])
        let r = try call("POST", "/public-api/external-apis", ["name": "from_agent", "endpoint_url": .string(base), "method": "GET",
                                                               "auth": Self.auth("bearer")], key: key)
        XCTAssertEqual(r.status, 202, r.text)
        XCTAssertEqual(r.data?["kind"], "config_write")
        XCTAssertEqual(r.data?["status"], "pending")
        XCTAssertEqual(r.data?["agent_name"], "Helper agent")
        XCTAssertEqual(r.data?["requested_for"]?["config"]?["auth"]?["token"], "***")
        XCTAssertEqual(try call("GET", "/public-api/external-apis/from_agent").status, 404)
        let payload = try sql("SELECT payload FROM til_requests WHERE id = \(r.data!["id"]!.intValue!)").first?["payload"]?.stringValue
        XCTAssertTrue(payload?.hasPrefix("v1:") ?? false, "the held config is sealed")
        let decided = try call("POST", "/public-api/til-requests/\(r.data!["id"]!.intValue!)/decision", ["action": "approve"])
        XCTAssertEqual(decided.status, 200, decided.text)
        let applied = try call("GET", "/public-api/external-apis/from_agent")
        XCTAssertEqual(applied.status, 200, "approval applies the held create")
        XCTAssertEqual(applied.data?["auth"]?["token"], "***")
        XCTAssertEqual(try call("POST", "/public-api/external-apis/from_agent/invoke", ["path": "/check/bearer"]).data?["body"], #"{"ok": true}"#,
                       "the held secret survived sealing")
    }

    func test_agentRun_callsTheExecutorAndRecordsRedactedSteps() throws {
        XCTAssertEqual(try create(["name": "runner_api", "endpoint_url": .string(base + "/echo"), "method": "POST",
                                   "auth": Self.auth("header"), "requires_approval": false]).status, 201)
        let agent = try call("POST", "/public-api/agents", ["name": "caller", "trigger_type": "TRIGGERED", "actions": [
            ["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": "runner_api", "path": "/{{input.ticket}}", "body": ["t": "{{input.ticket}}"]]],
        ]])
        XCTAssertEqual(agent.status, 201, agent.text)
        let run = try call("POST", "/public-api/agents/\(agent.data!["id"]!.stringValue!)/run-now", ["target_entity_id": "T-1", "input": ["ticket": "T-7"]])
        let id = try XCTUnwrap(run.data?["execution_id"]?.stringValue, run.text)
        var status = ""
        for _ in 0..<100 where !["succeeded", "failed"].contains(status) {
            status = try call("GET", "/public-api/executions/\(id)").data?["status"]?.stringValue ?? ""
            usleep(50_000)
        }
        XCTAssertEqual(status, "succeeded")
        let steps = try call("GET", "/public-api/executions/\(id)/steps?tool_type_name=EXTERNAL_API_REQUEST").data?.arrayValue ?? []
        let toolCall = try XCTUnwrap(steps.first { $0["type"] == "TOOL_CALL" })
        XCTAssertEqual(toolCall["data"]?["api_name"], "runner_api", "one TOOL_CALL shape for runs and invokes: {api_name, request}")
        XCTAssertEqual(toolCall["data"]?["request"]?["headers"]?["X-Api-Key"], "***")
        XCTAssertEqual(toolCall["data"]?["request"]?["url"], .string(base + "/echo/T-7"))
        XCTAssertEqual(steps.first { $0["type"] == "TOOL_RESULT" }?["data"]?["status"], 200)
    }

    /// Polls an execution until it leaves queued/running.
    func settle(_ id: String, timeout: Double = 10) throws -> JSON {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let e = try call("GET", "/public-api/executions/\(id)").data ?? .null
            if !["queued", "running"].contains(e["status"]?.stringValue ?? "") || Date() > deadline { return e }
            usleep(50_000)
        }
    }

    func makeAgent(_ name: String, api: String) throws -> String {
        let agent = try call("POST", "/public-api/agents", ["name": .string(name), "trigger_type": "TRIGGERED", "actions": [
            ["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": .string(api), "body": ["ticket": "{{input.ticket}}"]]],
            ["action_type": "ADD_NOTE", "input_as_dict": ["template": .string("Posted {{input.ticket}} to " + api)]],
        ]])
        XCTAssertEqual(agent.status, 201, agent.text)
        return agent.data?["id"]?.stringValue ?? ""
    }

    func test_pipeline_externalCallThenNote_producesStepsAndArtifact() throws {
        XCTAssertEqual(try create(["name": "pipe_api", "endpoint_url": .string(base + "/echo"), "method": "POST",
                                   "auth": Self.auth("bearer"), "requires_approval": false]).status, 201)
        let agent = try makeAgent("pipeline", api: "pipe_api")
        let run = try call("POST", "/public-api/agents/\(agent)/run-now", ["target_entity_id": "T-5", "input": ["ticket": "T-5"]])
        let id = try XCTUnwrap(run.data?["execution_id"]?.stringValue, run.text)
        XCTAssertEqual(try settle(id)["status"], "succeeded")
        let steps = try call("GET", "/public-api/executions/\(id)/steps").data?.arrayValue ?? []
        XCTAssertEqual(steps.map { "\($0["type"]?.stringValue ?? ""):\($0["tool_type_name"]?.stringValue ?? "")" },
                       ["TOOL_CALL:FIND_ENTITIES", "TOOL_RESULT:FIND_ENTITIES", "TOOL_CALL:EXTERNAL_API_REQUEST",
                        "TOOL_RESULT:EXTERNAL_API_REQUEST", "TOOL_CALL:ADD_NOTE", "TOOL_RESULT:ADD_NOTE", "FINAL_MESSAGE:"])
        let result = try XCTUnwrap(steps.first { $0["type"] == "TOOL_RESULT" && $0["tool_type_name"] == "EXTERNAL_API_REQUEST" })
        let echoed = try JSON.parse(result["data"]?["body"]?.stringValue ?? "")
        XCTAssertEqual(echoed["body"], #"{"ticket":"T-5"}"#, "the templated body reached the upstream")
        XCTAssertEqual(steps.first { $0["type"] == "TOOL_CALL" && $0["tool_type_name"] == "EXTERNAL_API_REQUEST" }?["data"]?["request"]?["headers"]?["Authorization"], "***")
        let artifacts = try call("GET", "/public-api/executions/\(id)/artifacts").data?.arrayValue ?? []
        XCTAssertEqual(artifacts.first?["content"], "Posted T-5 to pipe_api")
    }

    func test_requiresApproval_pausesThenResumesOnApprove() throws {
        XCTAssertEqual(try create(["name": "guarded_api", "endpoint_url": .string(base + "/echo"), "method": "POST",
                                   "auth": Self.auth("header")]).status, 201, "requires_approval defaults to true")
        let agent = try makeAgent("approval pipeline", api: "guarded_api")
        let run = try call("POST", "/public-api/agents/\(agent)/run-now", ["target_entity_id": "T-6", "input": ["ticket": "T-6"]])
        let id = try XCTUnwrap(run.data?["execution_id"]?.stringValue)
        let waiting = try settle(id)
        XCTAssertEqual(waiting["status"], "waiting_approval")
        let tils = try call("GET", "/public-api/executions/\(id)/til-requests").data?.arrayValue ?? []
        XCTAssertEqual(tils.count, 1)
        let tilId = tils.first?["id"]?.intValue ?? -1
        XCTAssertTrue(waiting["message_for_dashboard"]?.stringValue?.contains("TIL request \(tilId)") ?? false,
                      "a waiting run names the request to decide: \(waiting)")
        XCTAssertEqual(tils.first?["kind"], "external_api_call")
        XCTAssertEqual(tils.first?["requested_for"]?["request"]?["headers"]?["X-Api-Key"], "***")
        XCTAssertEqual(try call("GET", "/public-api/executions/\(id)/artifacts").data?.arrayValue?.count, 0, "nothing after the held step ran")
        let til = try XCTUnwrap(tils.first?["id"]?.intValue)
        XCTAssertEqual(try call("POST", "/public-api/til-requests/\(til)/decision", ["action": "approve"]).status, 200)
        XCTAssertEqual(try settle(id)["status"], "succeeded")
        let steps = try call("GET", "/public-api/executions/\(id)/steps?tool_type_name=EXTERNAL_API_REQUEST&type=TOOL_RESULT").data?.arrayValue ?? []
        XCTAssertEqual(steps.count, 1, "the call ran exactly once")
        XCTAssertEqual(try call("GET", "/public-api/executions/\(id)/artifacts").data?.arrayValue?.count, 1)
        XCTAssertEqual(try call("POST", "/public-api/til-requests/\(til)/decision", ["action": "approve"]).status, 409)
    }

    func test_requiresApproval_rejectFailsTheWaitingStep() throws {
        XCTAssertEqual(try create(["name": "rejected_api", "endpoint_url": .string(base + "/echo"), "method": "POST",
                                   "auth": Self.auth("none"), "requires_approval": true]).status, 201)
        let agent = try makeAgent("rejected pipeline", api: "rejected_api")
        let id = try XCTUnwrap(try call("POST", "/public-api/agents/\(agent)/run-now", ["target_entity_id": "T", "input": ["ticket": "T"]]).data?["execution_id"]?.stringValue)
        XCTAssertEqual(try settle(id)["status"], "waiting_approval")
        let til = try XCTUnwrap(try call("GET", "/public-api/til-requests?status=pending&q=rejected_api").data?.arrayValue?.first?["id"]?.intValue)
        let rejected = try call("POST", "/public-api/til-requests/\(til)/decision", ["action": "reject", "note": "not today"])
        XCTAssertEqual(rejected.data?["status"], "rejected")
        let done = try settle(id)
        XCTAssertEqual(done["status"], "failed")
        XCTAssertEqual(done["error"], "approval rejected: not today")
        XCTAssertEqual(try call("GET", "/public-api/executions/\(id)/steps?type=TOOL_RESULT&tool_type_name=EXTERNAL_API_REQUEST").data?.arrayValue?.count, 0,
                       "the held call was never sent")
    }

    func test_agentActorInvoke_ofApprovalConfig_isHeldThenSentOnApprove() throws {
        XCTAssertEqual(try create(["name": "held_invoke", "endpoint_url": .string(base + "/echo"), "method": "POST",
                                   "auth": Self.auth("none"), "requires_approval": true]).status, 201)
        let agent = try makeAgent("invoker", api: "held_invoke")
        let agentKey = try server.createKey(["name": "invoker key", "actor": "agent", "agent_id": .int(Int64(agent)!),
                                             "permissions": ["external_apis": "read_write", "executions": "read"]])
        let held = try call("POST", "/public-api/external-apis/held_invoke/invoke", ["body": ["x": 1]], key: agentKey)
        XCTAssertEqual(held.status, 202, held.text)
        XCTAssertEqual(held.data?["kind"], "external_api_call")
        let execution = try XCTUnwrap(held.data?["execution_id"]?.stringValue)
        XCTAssertEqual(try settle(execution)["status"], "waiting_approval")
        let til = try XCTUnwrap(held.data?["id"]?.intValue)
        XCTAssertEqual(try call("POST", "/public-api/til-requests/\(til)/decision", ["action": "approve"]).status, 200)
        let done = try settle(execution)
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        let result = try call("GET", "/public-api/executions/\(execution)/steps?type=TOOL_RESULT").data?.arrayValue?.first
        XCTAssertEqual(result?["data"]?["status"], 200)
        // A user's key is not held.
        XCTAssertEqual(try call("POST", "/public-api/external-apis/held_invoke/invoke", ["body": ["x": 2]]).status, 200)
    }

    func test_crossTenant_configsAndTheirApprovalsAreInvisible() throws {
        XCTAssertEqual(try create(["name": "tenant_a_api", "endpoint_url": .string(base + "/echo"), "method": "POST",
                                   "auth": Self.auth("bearer")]).status, 201)
        let other = try server.adminKey(forTenant: "ext-other-\(UUID().uuidString.prefix(6))")
        for (method, path, body) in [("GET", "/public-api/external-apis/tenant_a_api", nil as JSON?),
                                     ("PUT", "/public-api/external-apis/tenant_a_api", ["description": "mine now"] as JSON),
                                     ("DELETE", "/public-api/external-apis/tenant_a_api", nil),
                                     ("POST", "/public-api/external-apis/tenant_a_api/test", [:] as JSON),
                                     ("POST", "/public-api/external-apis/tenant_a_api/invoke", [:] as JSON)] {
            XCTAssertEqual(try call(method, path, body, key: other).status, 404, "\(method) \(path)")
        }
        XCTAssertEqual(try call("GET", "/public-api/external-apis", key: other).data?.arrayValue?.count, 0)
        // Names are unique per tenant, not globally.
        XCTAssertEqual(try call("POST", "/public-api/external-apis", ["name": "tenant_a_api", "endpoint_url": .string(base + "/echo"),
                                                                     "method": "GET"], key: other).status, 201)
        XCTAssertEqual(try call("GET", "/public-api/external-apis/tenant_a_api").data?["method"], "POST", "tenant A's config is untouched")
        // A held approval of tenant A cannot be seen or decided by tenant B.
        let agent = try makeAgent("tenant a caller", api: "tenant_a_api")
        let run = try call("POST", "/public-api/agents/\(agent)/run-now", ["target_entity_id": "T", "input": ["ticket": "T"]])
        let execution = try XCTUnwrap(run.data?["execution_id"]?.stringValue)
        XCTAssertEqual(try settle(execution)["status"], "waiting_approval")
        let til = try XCTUnwrap(try call("GET", "/public-api/executions/\(execution)/til-requests").data?.arrayValue?.first?["id"]?.intValue)
        XCTAssertEqual(try call("GET", "/public-api/til-requests/\(til)", key: other).status, 404)
        XCTAssertEqual(try call("POST", "/public-api/til-requests/\(til)/decision", ["action": "approve"], key: other).status, 404)
        XCTAssertEqual(try call("GET", "/public-api/til-requests/\(til)").data?["status"], "pending")
        XCTAssertEqual(try call("POST", "/public-api/executions/\(execution)/cancel").status, 200)
    }

    func test_readOnlyKey_cannotWriteOrInvoke() throws {
        let reader = try server.createKey(["name": "reader", "permissions": ["external_apis": "read"]])
        XCTAssertEqual(try call("GET", "/public-api/external-apis", key: reader).status, 200)
        XCTAssertEqual(try call("POST", "/public-api/external-apis", ["name": "x", "endpoint_url": .string(base), "method": "GET"], key: reader).status, 403)
        let none = try server.createKey(["name": "none", "permissions": ["external_apis": "none"]])
        XCTAssertEqual(try call("GET", "/public-api/external-apis", key: none).status, 403)
    }

    /// Runs last by name: every path above has run; no canary may be in the log, the DB bytes or any response.
    func test_zz_secretsNeverAppearInLogsDatabaseOrResponses() throws {
        // Make sure every auth type and a secret header exist and have been used even when run alone.
        _ = try create(["name": "canary_all", "endpoint_url": .string(base + "/echo"), "method": "GET", "auth": Self.auth("oauth"),
                        "headers": [["name": "X-Sig", "value": .string(Self.canaries["secret_header"]!), "secret": true]]])
        try call("POST", "/public-api/external-apis/canary_all/invoke", ["path": "/x"])
        try call("POST", "/public-api/external-apis/canary_all/test", [:])
        try call("GET", "/public-api/external-apis?page_size=200")
        for kind in ["bearer", "basic", "header", "query"] {
            _ = try create(["name": .string("canary_\(kind)"), "endpoint_url": .string(base + "/echo"), "method": "GET", "auth": Self.auth(kind)])
            try call("POST", "/public-api/external-apis/canary_\(kind)/invoke", ["path": "/y"])
            try call("POST", "/public-api/external-apis/canary_\(kind)/test", ["path": "/status/401"])
            try call("PUT", "/public-api/external-apis/canary_\(kind)", ["description": "touched"])
        }
        var files = [server.log]
        for suffix in ["", "-wal"] {
            if let data = FileManager.default.contents(atPath: server.directory.appendingPathComponent("neo.db" + suffix).path) {
                files.append(String(decoding: data, as: UTF8.self))
            }
        }
        for (name, canary) in Self.canaries {
            XCTAssertFalse(server.log.contains(canary), "\(name) in the server log")
            XCTAssertFalse(files.dropFirst().contains { $0.contains(canary) }, "\(name) in the database file")
            XCTAssertFalse(Self.seen.contains { $0.contains(canary) }, "\(name) in a response")
        }
        XCTAssertGreaterThan(Self.seen.count, 20)
    }
}

/// The secret key: created 0600 on first start, and a wrong key stops startup with a clear error.
final class SecretKeyTests: XCTestCase {
    func test_wrongSecretKey_stopsStartupWithAClearError() throws {
        let first = try TestServer()
        let keyFile = first.directory.appendingPathComponent("secret.key").path
        let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        first.stop()
        let other = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        XCTAssertThrowsError(try TestServer(environment: ["NEO_SECRET_KEY": other], directory: first.directory)) { error in
            XCTAssertTrue("\(error)".contains("is not the key this database's secrets were encrypted with"), "\(error)")
        }
        let again = try TestServer(directory: first.directory)
        XCTAssertEqual(try again.request("GET", "/public-api/external-apis").status, 200)
        again.stop()
    }

    func test_malformedSecretKey_isRefused() throws {
        XCTAssertThrowsError(try TestServer(environment: ["NEO_SECRET_KEY": "c2hvcnQ="])) { error in
            XCTAssertTrue("\(error)".contains("NEO_SECRET_KEY must be base64 of exactly 32 bytes"), "\(error)")
        }
    }

    func test_privatePolicy_refusesMetadataAndLoopbackEndpointsAtWrite() throws {
        let server = try TestServer(environment: ["NEO_UPSTREAM_POLICY": "private"])
        defer { server.stop() }
        for endpoint in ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8080/", "http://[::1]/", "http://[fd00:ec2::254]/"] {
            let r = try server.request("POST", "/public-api/external-apis", json: ["name": "meta", "endpoint_url": .string(endpoint), "method": "GET"])
            XCTAssertEqual(r.status, 422, endpoint)
            XCTAssertTrue(r.errorMessage?.contains("NEO_UPSTREAM_POLICY=private") ?? false, r.text)
        }
        XCTAssertEqual(try server.request("POST", "/public-api/external-apis", json: ["name": "lan", "endpoint_url": "http://10.0.0.5/", "method": "GET"]).status, 201)
    }
}

/// A slow upstream must not hold the worker pool: invokes wait without a thread.
final class SlowUpstreamTests: XCTestCase {
    func test_slowInvokes_doNotBlockOtherRequests() throws {
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_WORKERS": "1"])
        defer { server.stop() }
        let upstream = try PythonUpstream(expect: ExternalAPITests.canaries, directory: server.directory)
        defer { upstream.stop() }
        let created = try server.request("POST", "/public-api/external-apis", json: [
            "name": "slow_api", "endpoint_url": .string(upstream.base + "/slow"), "method": "GET", "requires_approval": false,
            "timeout_ms": 10000,
        ])
        XCTAssertEqual(created.status, 201, created.text)
        let group = DispatchGroup()
        let statuses = Lock<[Int]>([0, 0, 0])
        for i in 0..<3 {
            group.enter()
            DispatchQueue.global().async {
                let r = try? server.request("POST", "/public-api/external-apis/slow_api/invoke", json: [:])
                statuses.withLock { $0[i] = r?.status ?? -1 }
                group.leave()
            }
        }
        usleep(500_000)
        // Three upstream calls are in flight on a one-thread worker pool; writes still go through.
        let started = Date()
        let write = try server.request("POST", "/public-api/api-keys", json: ["name": "during slow calls"])
        XCTAssertEqual(write.status, 201)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.5, "the worker pool was held by waiting invokes")
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success)
        XCTAssertEqual(statuses.withLock { $0 }, [200, 200, 200])
    }
}

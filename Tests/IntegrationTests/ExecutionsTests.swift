import Foundation
import NeoJSON
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Runs, executions, steps, artifacts and TIL requests through the real server and its runner.
final class ExecutionsTests: SharedServerTestCase {

    /// Creates a CHAINED_ACTIONS agent; returns its integer id.
    func createAgent(_ name: String, trigger: String = "TRIGGERED", actions: JSON, key: String = TestServer.adminKey,
                     extra: JSONObject = JSONObject()) throws -> Int64 {
        var body: JSONObject = ["name": .string(name), "trigger_type": .string(trigger), "actions": actions]
        for (k, v) in extra { body[k] = v }
        let r = try server.request("POST", "/public-api/agents", key: key, json: .object(body))
        XCTAssertEqual(r.status, 201, r.text)
        return Int64(r.data?["id"]?.stringValue ?? "") ?? -1
    }

    func runNow(_ agent: Int64, _ body: JSON = ["target_entity_id": "T-1"], key: String = TestServer.adminKey,
                headers: [String: String] = [:]) throws -> TestResponse {
        try server.request("POST", "/public-api/agents/\(agent)/run-now", key: key, json: body, headers: headers)
    }

    /// Polls until the execution leaves queued/running (or `timeout`).
    func waitFor(_ id: String, until statuses: Set<String> = ["succeeded", "failed", "cancelled", "waiting_approval"],
                 key: String = TestServer.adminKey, timeout: Double = 10) throws -> JSON {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = try server.request("GET", "/public-api/executions/\(id)", key: key)
            if let s = r.data?["status"]?.stringValue, statuses.contains(s) { return r.data! }
            if Date() > deadline { XCTFail("execution \(id) still \(r.data?["status"] ?? .null)"); return r.data ?? .null }
            usleep(50_000)
        }
    }

    func test_runNow_notePipeline_producesStepsAndArtifact() throws {
        let agent = try createAgent("note writer", actions: [
            ["action_type": "ADD_NOTE", "input_as_dict": ["template": "## Ticket {{input.ticket}}\nCaller: {{input.caller.name}}"]],
        ])
        let queued = try runNow(agent, ["target_entity_id": 4711, "input": ["ticket": "T-9", "caller": ["name": "Ada"]],
                                        "additional_custom_instructions": "be brief"])
        XCTAssertEqual(queued.status, 202, queued.text)
        XCTAssertEqual(queued.data?["status"], "queued")
        let id = try XCTUnwrap(queued.data?["execution_id"]?.stringValue)
        let done = try waitFor(id)
        XCTAssertEqual(done["status"], "succeeded")
        XCTAssertEqual(done["agent_id"], .int(agent))
        XCTAssertEqual(done["entity_id"], "4711")
        XCTAssertEqual(done["additional_custom_instructions"], "be brief")
        XCTAssertNotNil(done["seconds_spent"]?.doubleValue)
        XCTAssertNotNil(done["finished_at"]?.stringValue)

        let steps = try server.request("GET", "/public-api/executions/\(id)/steps").data?.arrayValue ?? []
        XCTAssertEqual(steps.map { $0["type"]?.stringValue ?? "" }, ["TOOL_CALL", "TOOL_RESULT", "TOOL_CALL", "TOOL_RESULT", "FINAL_MESSAGE"])
        XCTAssertEqual(steps.map { $0["tool_type_name"] ?? .null }, ["FIND_ENTITIES", "FIND_ENTITIES", "ADD_NOTE", "ADD_NOTE", .null])
        XCTAssertEqual(done["message_for_dashboard"], "completed 1 action(s)")
        XCTAssertEqual(done["trigger"], ["type": "RUN_NOW"], "an execution says what started it")

        let artifacts = try server.request("GET", "/public-api/executions/\(id)/artifacts").data?.arrayValue ?? []
        XCTAssertEqual(artifacts.count, 1)
        XCTAssertEqual(artifacts.first?["content"], "## Ticket T-9\nCaller: Ada")
        let artifactId = try XCTUnwrap(artifacts.first?["artifact_id"]?.stringValue)
        let single = try server.request("GET", "/public-api/artifacts/\(artifactId)")
        XCTAssertEqual(single.data?["content"], "## Ticket T-9\nCaller: Ada")
    }

    func test_steps_filtersAndLightweightIndex() throws {
        let agent = try createAgent("filters", actions: [["action_type": "ADD_NOTE", "input_as_dict": ["template": "x"]]])
        let id = try XCTUnwrap(try runNow(agent).data?["execution_id"]?.stringValue)
        _ = try waitFor(id)
        let calls = try server.request("GET", "/public-api/executions/\(id)/steps?type=TOOL_CALL,TOOL_RESULT&tool_type_name=add_note")
        XCTAssertEqual(calls.data?.arrayValue?.map { $0["type"]?.stringValue ?? "" }, ["TOOL_CALL", "TOOL_RESULT"])
        let index = try server.request("GET", "/public-api/executions/\(id)/steps?include_data=false")
        XCTAssertTrue(index.data?.arrayValue?.allSatisfy { $0["data"] == .null } ?? false)
        let stepId = try XCTUnwrap(calls.data?.arrayValue?.first?["step_id"]?.stringValue)
        let one = try server.request("GET", "/public-api/executions/\(id)/steps?step_id=\(stepId)")
        XCTAssertEqual(one.data?.arrayValue?.count, 1)
        XCTAssertEqual(one.data?.arrayValue?.first?["data"]?["template"], "x")
        let paged = try server.request("GET", "/public-api/executions/\(id)/steps?page_size=2")
        XCTAssertEqual(paged.data?.arrayValue?.count, 2)
        let cursor = try XCTUnwrap(paged.json?["meta"]?["pagination"]?["next_cursor"]?.stringValue)
        let next = try server.request("GET", "/public-api/executions/\(id)/steps?page_size=2&cursor=\(cursor)")
        XCTAssertEqual(next.data?.arrayValue?.first?["step_id"]?.stringValue.flatMap { Int($0) }, Int(stepId), "page 2 starts at the third step")
        XCTAssertEqual(try server.request("GET", "/public-api/executions/\(id)/steps?type=BOGUS").status, 400)
    }

    func test_runNow_refusals() throws {
        let triggered = try createAgent("needs target", actions: [])
        let missing = try runNow(triggered, [:])
        XCTAssertEqual(missing.status, 422)
        XCTAssertEqual(missing.json?["error"]?["details"]?.arrayValue?.first?["field"], "target_entity_id")

        let conversational = try server.request("POST", "/public-api/agents", json: ["name": "chat", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL"])
        XCTAssertEqual(conversational.status, 201, conversational.text)
        let chat = try runNow(Int64(conversational.data?["id"]?.stringValue ?? "0") ?? 0)
        XCTAssertEqual(chat.status, 400)
        XCTAssertEqual(chat.errorCode, "invalid_for_conversational")

        let disabled = try createAgent("off", actions: [], extra: ["state": "DISABLED"])
        XCTAssertEqual(try runNow(disabled).status, 409)
        let deleted = try createAgent("gone", actions: [])
        XCTAssertEqual(try server.request("DELETE", "/public-api/agents/\(deleted)").status, 200)
        XCTAssertEqual(try runNow(deleted).errorCode, "CONFLICT")
        XCTAssertEqual(try runNow(999_999).status, 404)
        XCTAssertEqual(try runNow(triggered, ["target_entity_id": "T", "input": "not an object"]).status, 422)

        let scheduled = try createAgent("scheduled", trigger: "SCHEDULED", actions: [])
        XCTAssertEqual(try server.request("POST", "/public-api/agents/\(scheduled)/run-now", json: [:]).status, 202)
    }

    func test_runNow_missingPlaceholder_is422NamingIt_andQueuesNothing() throws {
        let agent = try createAgent("templated", actions: [
            ["action_type": "ADD_NOTE", "input_as_dict": ["template": "first {{input.ticket}}"]],
            ["action_type": "ADD_NOTE", "input_as_dict": ["template": "{{input.absent}} and {{input.caller.name}}"]],
        ])
        let before = try server.request("GET", "/public-api/executions?agent_id=\(agent)").data?.arrayValue?.count
        let r = try runNow(agent, ["target_entity_id": "T-1", "input": ["ticket": "T-9"]])
        XCTAssertEqual(r.status, 422, r.text)
        let fields = r.json?["error"]?["details"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
        XCTAssertEqual(fields, ["input.absent", "input.caller.name"], "every missing placeholder is named")
        XCTAssertEqual(try server.request("GET", "/public-api/executions?agent_id=\(agent)").data?.arrayValue?.count, before, "no run is queued")
    }

    func test_unrunnableAction_failsTheRunBeforeItsFirstAction() throws {
        let agent = try createAgent("pigeon", actions: [
            ["action_type": "ADD_NOTE", "input_as_dict": ["template": "a side effect"]],
            ["action_type": "SEND_CARRIER_PIGEON", "input_as_dict": [:]],
        ])
        let id = try XCTUnwrap(try runNow(agent).data?["execution_id"]?.stringValue)
        let done = try waitFor(id)
        XCTAssertEqual(done["status"], "failed", "a run never reports success for an action it skipped")
        XCTAssertTrue(done["error"]?.stringValue?.contains("SEND_CARRIER_PIGEON") ?? false, "\(done)")
        let steps = try server.request("GET", "/public-api/executions/\(id)/steps").data?.arrayValue ?? []
        XCTAssertEqual(steps.map { $0["type"]?.stringValue ?? "" }, ["ERROR"], "nothing ran before the refusal")
        XCTAssertEqual(try server.request("GET", "/public-api/executions/\(id)/artifacts").data?.arrayValue?.count, 0, "the note was not written")
    }

    func test_agenticRun_withoutAModelProvider_failsNamingTheFix() throws {
        let created = try server.request("POST", "/public-api/agents", json: [
            "name": "agentic", "trigger_type": "NONE", "autonomy_type": "AGENTIC",
            "agent_settings": ["custom_instructions": "triage"]])
        XCTAssertEqual(created.status, 201, created.text)
        let agent = Int64(created.data?["id"]?.stringValue ?? "") ?? -1
        let id = try XCTUnwrap(try runNow(agent).data?["execution_id"]?.stringValue)
        let done = try waitFor(id)
        XCTAssertEqual(done["status"], "failed")
        XCTAssertTrue(done["error"]?.stringValue?.contains("POST /public-api/llm-providers") ?? false, "\(done)")
    }

    func test_preflight_atRunTime_refusesBeforeAnySideEffect_alsoOnRetry() throws {
        // Fails first on a missing external API; then the note is edited to need input the run lacks.
        let agent = try createAgent("preflight", actions: [
            ["action_type": "ADD_NOTE", "input_as_dict": ["template": "note {{input.x}}"]],
            ["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": "not_configured"]],
        ])
        let first = try XCTUnwrap(try runNow(agent, ["target_entity_id": "T-1", "input": ["x": "1"]]).data?["execution_id"]?.stringValue)
        let failed = try waitFor(first)
        XCTAssertEqual(failed["status"], "failed")
        XCTAssertTrue(failed["error"]?.stringValue?.contains("not_configured") ?? false, "\(failed)")
        XCTAssertEqual(try server.request("GET", "/public-api/executions/\(first)/artifacts").data?.arrayValue?.count, 0,
                       "the note before the missing API was not written")

        let edit = try server.request("PUT", "/public-api/agents/\(agent)", json: [
            "actions": [["id": "act_2", "input_as_dict": ["template": "note {{input.y}}"]]]])
        XCTAssertEqual(edit.status, 200, edit.text)
        let retry = try server.request("POST", "/public-api/executions/\(first)/retry")
        XCTAssertEqual(retry.status, 202, retry.text)
        let second = try waitFor(try XCTUnwrap(retry.data?["execution_id"]?.stringValue))
        XCTAssertEqual(second["status"], "failed")
        XCTAssertTrue(second["error"]?.stringValue?.contains("{{input.y}}") ?? false, "\(second)")
        let steps = try server.request("GET", "/public-api/executions/\(second["execution_id"]?.stringValue ?? "")/steps").data?.arrayValue ?? []
        XCTAssertEqual(steps.map { $0["type"]?.stringValue ?? "" }, ["ERROR"])
    }

    func test_cancelAndRetry_rules() throws {
        let agent = try createAgent("retry me", actions: [["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": "absent"]]])
        let failed = try XCTUnwrap(try runNow(agent).data?["execution_id"]?.stringValue)
        XCTAssertEqual(try waitFor(failed)["status"], "failed")
        let cancelFinished = try server.request("POST", "/public-api/executions/\(failed)/cancel")
        XCTAssertEqual(cancelFinished.status, 409)
        XCTAssertEqual(cancelFinished.errorCode, "CONFLICT")

        let retry = try server.request("POST", "/public-api/executions/\(failed)/retry")
        XCTAssertEqual(retry.status, 202)
        let retried = try XCTUnwrap(retry.data?["execution_id"]?.stringValue)
        XCTAssertNotEqual(retried, failed)
        let second = try waitFor(retried)
        XCTAssertEqual(second["retry_of"]?.stringValue, failed)
        XCTAssertEqual(second["entity_id"], "T-1")

        let ok = try createAgent("fine", actions: [])
        let succeeded = try XCTUnwrap(try runNow(ok).data?["execution_id"]?.stringValue)
        XCTAssertEqual(try waitFor(succeeded)["status"], "succeeded")
        XCTAssertEqual(try server.request("POST", "/public-api/executions/\(succeeded)/retry").status, 409)
    }

    func test_listFilters() throws {
        let agent = try createAgent("listed", actions: [])
        var ids: [String] = []
        for i in 0..<3 {
            let id = try XCTUnwrap(try runNow(agent, ["target_entity_id": .string("E-\(i)")]).data?["execution_id"]?.stringValue)
            ids.append(id)
            _ = try waitFor(id)
        }
        let byAgent = try server.request("GET", "/public-api/executions?agent_id=\(agent)")
        XCTAssertEqual(byAgent.data?.arrayValue?.compactMap { $0["execution_id"]?.stringValue }, ids.reversed())
        XCTAssertEqual(try server.request("GET", "/public-api/executions?agent_id=\(agent)&entity_id=E-1").data?.arrayValue?.count, 1)
        XCTAssertEqual(try server.request("GET", "/public-api/executions?agent_id=\(agent)&status=succeeded,failed").data?.arrayValue?.count, 3)
        XCTAssertEqual(try server.request("GET", "/public-api/executions?agent_id=\(agent)&status=running").data?.arrayValue?.count, 0)
        XCTAssertEqual(try server.request("GET", "/public-api/executions?created_after=2999-01-01T00:00:00Z").data?.arrayValue?.count, 0)
        XCTAssertEqual(try server.request("GET", "/public-api/executions?status=done").status, 400)
        XCTAssertEqual(try server.request("GET", "/public-api/executions?created_before=yesterday").status, 400)
        XCTAssertEqual(try server.request("GET", "/public-api/executions/not-a-uuid").status, 404)
        let stats = try server.request("GET", "/public-api/agents/\(agent)/stats")
        XCTAssertEqual(stats.data?["executions"], 3)
        XCTAssertEqual(stats.data?["failures"], 0)
    }

    func test_testMode_runIsPlannedNotPersistedBeyondTheRecord() throws {
        let agent = try createAgent("dry", actions: [["action_type": "ADD_NOTE", "input_as_dict": ["template": "planned"]]])
        let r = try runNow(agent, headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(r.status, 202)
        XCTAssertTrue((r.json?["meta"]?["warnings"]?.arrayValue ?? []).contains { $0.stringValue?.hasPrefix("test mode") ?? false })
        let id = try XCTUnwrap(r.data?["execution_id"]?.stringValue)
        let done = try waitFor(id)
        XCTAssertEqual(done["test_mode"], true)
        XCTAssertEqual(done["status"], "succeeded")
        XCTAssertEqual(try server.request("GET", "/public-api/executions/\(id)/artifacts").data?.arrayValue?.count, 0)
    }

    func test_agentActorPatch_heldThenApprovedExactlyOnce() throws {
        let agent = try createAgent("guarded", actions: [["action_type": "ADD_NOTE", "input_as_dict": ["template": "v1"]]])
        let actorKey = try server.createKey(["name": "agent actor", "actor": "agent", "agent_id": .int(agent),
                                             "permissions": ["agents": "read_write", "approvals": "read_write", "executions": "read"]])
        let detail = try server.request("GET", "/public-api/agents/\(agent)")
        let actionId = try XCTUnwrap(detail.data?["actions"]?.arrayValue?.last?["id"]?.stringValue)
        let held = try server.request("PUT", "/public-api/agents/\(agent)", key: actorKey,
                                      json: ["actions": [["id": .string(actionId), "input_as_dict": ["template": "v2"]]]])
        XCTAssertEqual(held.status, 202, held.text)
        let til = try XCTUnwrap(held.data?["id"]?.intValue)
        XCTAssertEqual(held.data?["status"], "pending")
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(agent)").data?["version"], 1, "nothing applied yet")

        let own = try server.request("POST", "/public-api/til-requests/\(til)/decision", key: actorKey, json: ["action": "approve"])
        XCTAssertEqual(own.status, 403, "an agent cannot approve its own request")

        let listed = try server.request("GET", "/public-api/til-requests?status=pending&agent_id=\(agent)")
        XCTAssertEqual(listed.data?.arrayValue?.compactMap { $0["id"]?.intValue }, [til])
        XCTAssertEqual(try server.request("GET", "/public-api/til-requests?q=guarded").data?.arrayValue?.count, 1)

        let approved = try server.request("POST", "/public-api/til-requests/\(til)/decision", json: ["action": "approve", "note": "ok"])
        XCTAssertEqual(approved.status, 200, approved.text)
        XCTAssertEqual(approved.data?["status"], "approved")
        XCTAssertEqual(approved.data?["note"], "ok")
        let decider = try XCTUnwrap(approved.data?["decided_by"]?["id"]?.stringValue)
        XCTAssertEqual(try server.request("GET", "/public-api/til-requests?approver=\(decider)").data?.arrayValue?.compactMap { $0["id"]?.intValue }, [til],
                       "approver matches the key that decided")
        XCTAssertEqual(try server.request("GET", "/public-api/til-requests?approver=nobody").data?.arrayValue?.count, 0)
        let after = try server.request("GET", "/public-api/agents/\(agent)")
        XCTAssertEqual(after.data?["version"], 2)
        XCTAssertEqual(after.data?["actions"]?.arrayValue?.last?["input_as_dict"]?["template"], "v2")

        let twice = try server.request("POST", "/public-api/til-requests/\(til)/decision", json: ["action": "approve"])
        XCTAssertEqual(twice.status, 409)
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(agent)").data?["version"], 2, "applied exactly once")
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(agent)/versions").data?.arrayValue?.count, 2)
    }

    func test_agentActorPatch_rejectedLeavesAgentAlone() throws {
        let agent = try createAgent("rejecting", actions: [])
        let actorKey = try server.createKey(["name": "agent actor 2", "actor": "agent", "agent_id": .int(agent), "permissions": ["agents": "read_write"]])
        let held = try server.request("PUT", "/public-api/agents/\(agent)", key: actorKey, json: ["agent_settings": ["custom_instructions": "x"]])
        XCTAssertEqual(held.status, 202)
        let til = try XCTUnwrap(held.data?["id"]?.intValue)
        let rejected = try server.request("POST", "/public-api/til-requests/\(til)/decision", json: ["action": "reject", "note": "no"])
        XCTAssertEqual(rejected.data?["status"], "rejected")
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(agent)").data?["version"], 1)
        XCTAssertEqual(try server.request("POST", "/public-api/til-requests/\(til)/decision", json: ["action": "approve"]).status, 409)
        let bad = try server.request("POST", "/public-api/til-requests/\(til)/decision", json: ["action": "maybe"])
        XCTAssertEqual(bad.status, 422)
    }

    func test_crossTenant_everyExecutionRouteIs404() throws {
        let agent = try createAgent("private run", actions: [["action_type": "ADD_NOTE", "input_as_dict": ["template": "secret note"]]])
        let id = try XCTUnwrap(try runNow(agent).data?["execution_id"]?.stringValue)
        _ = try waitFor(id)
        let artifact = try XCTUnwrap(try server.request("GET", "/public-api/executions/\(id)/artifacts").data?.arrayValue?.first?["artifact_id"]?.stringValue)
        let other = try server.adminKey(forTenant: "exec-other-\(UUID().uuidString.prefix(6))")
        for (method, path) in [("GET", "/public-api/executions/\(id)"), ("GET", "/public-api/executions/\(id)/steps"),
                               ("GET", "/public-api/executions/\(id)/artifacts"), ("GET", "/public-api/executions/\(id)/til-requests"),
                               ("GET", "/public-api/artifacts/\(artifact)"), ("POST", "/public-api/executions/\(id)/cancel"),
                               ("POST", "/public-api/executions/\(id)/retry"), ("POST", "/public-api/agents/\(agent)/run-now")] {
            let r = try server.request(method, path, key: other, json: method == "POST" ? ["target_entity_id": "x"] : nil)
            XCTAssertEqual(r.status, 404, "\(method) \(path)")
        }
        XCTAssertEqual(try server.request("GET", "/public-api/executions", key: other).data?.arrayValue?.count, 0)
        XCTAssertEqual(try server.request("GET", "/public-api/til-requests", key: other).data?.arrayValue?.count, 0)
    }

    func test_permissionGroups_guardExecutionsAndApprovals() throws {
        let readOnly = try server.createKey(["name": "reader", "permissions": ["agents": "read", "executions": "read", "approvals": "none"]])
        XCTAssertEqual(try server.request("GET", "/public-api/executions", key: readOnly).status, 200)
        let agent = try createAgent("perm", actions: [])
        let run = try runNow(agent, key: readOnly)
        XCTAssertEqual(run.status, 403)
        XCTAssertTrue(run.errorMessage?.contains("'executions'") ?? false)
        XCTAssertEqual(try server.request("GET", "/public-api/til-requests", key: readOnly).status, 403)
    }
}

/// Restarts need their own server.
final class RunnerRestartTests: XCTestCase {
    func test_restart_takesOverRunningRunsAndRunsQueued() throws {
        let first = try TestServer(environment: ["NEO_RATE_LIMIT": "0"])
        let created = try first.request("POST", "/public-api/agents", json: ["name": "restart", "trigger_type": "TRIGGERED",
                                                                            "actions": [["action_type": "ADD_NOTE", "input_as_dict": ["template": "note"]]]])
        let agent = try XCTUnwrap(created.data?["id"]?.stringValue, created.text + first.log)
        let a = try XCTUnwrap(try first.request("POST", "/public-api/agents/\(agent)/run-now", json: ["target_entity_id": "A"]).data?["execution_id"]?.stringValue)
        let b = try XCTUnwrap(try first.request("POST", "/public-api/agents/\(agent)/run-now", json: ["target_entity_id": "B"]).data?["execution_id"]?.stringValue)
        XCTAssertEqual(first.stop(signal: SIGKILL), 9)
        // Put the store in the state a crash mid-run leaves: one run running (claimed by a node now dead), one queued.
        // On SQLite the dead node's lease is still valid for centuries: a start takes every running run, as no other
        // node can own one. On PostgreSQL other nodes may be alive, so a start takes only expired leases.
        // (a and b are UUIDs the server made: safe to splice into the SQL.)
        let expiry = ProcessInfo.processInfo.environment["NEO_TEST_DB"] == nil ? "2999-01-01T00:00:00.000Z" : "2000-01-01T00:00:00.000Z"
        try first.sql("""
            BEGIN;
            DELETE FROM artifacts WHERE execution_id IN ('\(a)', '\(b)');
            DELETE FROM execution_steps WHERE execution_id IN ('\(a)', '\(b)');
            UPDATE executions SET status='running', started_at=created_at, finished_at=NULL, next_action=0, attempt=1, lease_owner='dead-node-1',
              lease_expires_at='\(expiry)' WHERE id='\(a)';
            UPDATE executions SET status='queued', started_at=NULL, finished_at=NULL, next_action=0 WHERE id='\(b)';
            COMMIT;
            """)
        let second = try TestServer(environment: ["NEO_RATE_LIMIT": "0"], directory: first.directory)
        defer { second.stop() }
        func settled(_ id: String) throws -> JSON? {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                let e = try second.request("GET", "/public-api/executions/\(id)").data
                if ["succeeded", "failed"].contains(e?["status"]?.stringValue ?? "") { return e }
                usleep(50_000)
            }
            return try second.request("GET", "/public-api/executions/\(id)").data
        }
        XCTAssertEqual(try settled(b)?["status"], "succeeded", "queued work survives a restart")
        let takenOver = try settled(a)
        XCTAssertEqual(takenOver?["status"], "succeeded", "the interrupted run was taken over and finished: \(String(describing: takenOver))")
        XCTAssertEqual(takenOver?["attempt"], 2, "the takeover's claim is the second attempt")
        let steps = try second.request("GET", "/public-api/executions/\(a)/steps?page_size=50").data?.arrayValue ?? []
        let messages = steps.map { $0["message"]?.stringValue ?? "" }
        XCTAssertTrue(messages.first?.contains("taken over from node dead-node-1") ?? false, "\(messages)")
        XCTAssertEqual(steps.first?["type"], "THOUGHT")
        XCTAssertEqual(messages.last, "completed 1 action(s)", "\(messages)")
        // The steps after the takeover name the claim that wrote them; the takeover's own names none.
        let rows = try second.sql("SELECT attempt, node FROM execution_steps WHERE execution_id = '\(a)' ORDER BY seq")
        XCTAssertEqual(rows.first?["attempt"], .null)
        XCTAssertEqual(Set(rows.dropFirst().map { $0["attempt"]?.intValue ?? -1 }), [2])
        let claims = try second.sql("SELECT attempt, node FROM execution_attempts WHERE execution_id = '\(a)' ORDER BY attempt")
        XCTAssertEqual(claims.last?["attempt"], 2)
        XCTAssertNotEqual(claims.last?["node"], "dead-node-1")
        XCTAssertTrue(second.log.contains("took over a run whose node stopped holding it"))
    }
}

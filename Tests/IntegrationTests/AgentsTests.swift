import Basics
import Foundation
import NeoJSON
import XCTest

/// The Agents API through the real server (design §5, seed 004).
final class AgentsTests: SharedServerTestCase {

    private func parse(_ text: String) -> JSON { try! JSON.parse(Array(text.utf8)) }

    /// Neo's own docs example for POST /agents, sent exactly as published.
    private let docsTriageAgent = """
        {"agent_settings": {"custom_instructions": "Triage incoming tickets — categorise, set priority, post a summary note."},
         "autonomy_type": "AGENTIC", "callback_settings": {"target_changes": [{"change_type": "CREATE"}]},
         "entity_type": "ticket", "name": "Triage agent",
         "ticket_conditions": {"conditions": {"combinator": "and", "rules": []}, "custom_field_conditions": null,
                               "workload_conditions": null},
         "toolbox": {"tool_settings_by_type": {}}, "trigger_type": "TRIGGERED"}
        """

    private let chainedAgent = """
        {"name": "Dispatch", "trigger_type": "TRIGGERED", "description": "routes tickets",
         "actions": [
           {"action_type": "ADD_NOTE", "input_as_dict": {"template": "hi", "opts": {"x": 1, "y": {"z": 2}}}},
           {"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "crm", "pool": [1, 2]}},
           {"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "erp"}}],
         "toolbox": {"tool_settings_by_type": {"PSA": {"enabled": true, "limits": {"max": 3, "min": 1}}, "EMAIL": {"enabled": true}}}}
        """

    /// Creates an agent and returns its id.
    private func create(_ body: String, key: String = TestServer.adminKey) throws -> String {
        let r = try server.request("POST", "/public-api/agents", key: key, json: parse(body))
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap(r.data?["id"]?.stringValue, r.text)
    }

    private func detail(_ id: String, key: String = TestServer.adminKey) throws -> TestResponse {
        try server.request("GET", "/public-api/agents/\(id)", key: key)
    }

    /// The stored AgentDetail as served, without the per-request meta.
    private func storedDocument(_ id: String) throws -> String {
        try detail(id).data?.serializedString() ?? ""
    }

    private func put(_ id: String, _ body: String, headers: [String: String] = [:], key: String = TestServer.adminKey) throws -> TestResponse {
        try server.request("PUT", "/public-api/agents/\(id)", key: key, json: parse(body), headers: headers)
    }

    func test_docsExample_agenticTriageAgent_acceptedAsIs() throws {
        let r = try server.request("POST", "/public-api/agents", json: parse(docsTriageAgent))
        XCTAssertEqual(r.status, 201, r.text)
        let warnings = r.json?["meta"]?["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertFalse(warnings.contains { $0.contains("unknown") }, "a docs example has no unknown fields: \(warnings)")
        XCTAssertEqual(warnings, [], "an AGENTIC agent is one this server runs: \(warnings)")
        let id = try XCTUnwrap(r.data?["id"]?.stringValue)
        XCTAssertTrue(id.allSatisfy(\.isNumber))
        XCTAssertEqual(r.data?["autonomy_type"], "AGENTIC")
        XCTAssertEqual(r.data?["version"], 1)
        XCTAssertEqual(Set(r.data?.objectValue?.keys ?? []), ["id", "name", "description", "group_name", "group_order", "state",
                                                             "trigger_type", "autonomy_type", "entity_type", "created_at", "updated_at", "version",
                                                             "next_run_at"])

        let d = try detail(id)
        XCTAssertEqual(d.status, 200)
        XCTAssertEqual(d.headers["etag"], "\"1\"")
        let actions = try XCTUnwrap(d.data?["actions"]?.arrayValue)
        XCTAssertEqual(actions.map { $0["action_type"] }, ["FIND_ENTITIES", "AGENTIC"])
        XCTAssertEqual(actions[0]["input_as_dict"]?["ticket_conditions"], parse(docsTriageAgent)["ticket_conditions"])
        XCTAssertEqual(d.data?["callback_settings"], parse(#"{"target_changes": [{"change_type": "CREATE"}]}"#))
        XCTAssertEqual(d.data?["toolbox"], parse(#"{"tool_settings_by_type": {}}"#))
    }

    func test_docsExample_putNameOnly_changesOnlyName() throws {
        let id = try create(docsTriageAgent)
        let before = try XCTUnwrap(detail(id).data?.objectValue)
        let r = try put(id, #"{"name": "Triage agent (v2)"}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.headers["etag"], "\"2\"")
        var expected = before
        expected["name"] = "Triage agent (v2)"
        expected["version"] = 2
        expected["updated_at"] = r.data?["updated_at"]
        let after = try detail(id)
        XCTAssertEqual(after.data?.objectValue, expected)
        XCTAssertEqual(after.data.map { $0.serializedString() }, JSON.object(expected).serializedString())
    }

    func test_createThenPatchSequence_storedDocumentMatchesExpectations() throws {
        let id = try create(chainedAgent)
        var expected = try XCTUnwrap(detail(id).data?.objectValue)
        let steps: [(String, (inout JSONObject) -> Void)] = [
            (#"{"actions": [{"id": "act_2", "input_as_dict": {"opts": {"y": {"z": null}, "x": 5}}}]}"#, { doc in
                self.setAction(&doc, 1, input: #"{"template": "hi", "opts": {"x": 5, "y": {}}}"#)
            }),
            (#"{"actions": [{"id": "act_3", "input_as_dict": {"pool": [9]}}, {"action_type": "SEND_EMAIL", "input_as_dict": {"to": "ops"}}]}"#, { doc in
                self.setAction(&doc, 2, input: #"{"api_name": "crm", "pool": [9]}"#)
                var actions = doc["actions"]!.arrayValue!
                actions.append(self.parse(#"{"id": "act_5", "action_type": "SEND_EMAIL", "input_as_dict": {"to": "ops"}}"#))
                doc["actions"] = .array(actions)
            }),
            (#"{"toolbox": {"tool_settings_by_type": {"PSA": {"limits": {"max": 4}}, "EMAIL": null}}}"#, { doc in
                doc["toolbox"] = self.parse(#"{"tool_settings_by_type": {"PSA": {"enabled": true, "limits": {"max": 4, "min": 1}}}}"#)
            }),
            (#"{"ticket_conditions": {"conditions": {"combinator": "or", "rules": []}}, "description": null}"#, { doc in
                doc["ticket_conditions"] = self.parse(#"{"conditions": {"combinator": "or", "rules": []}}"#)
                doc["description"] = .null
                self.setAction(&doc, 0, input: #"{"entity_type": "ticket", "ticket_conditions": {"conditions": {"combinator": "or", "rules": []}}, "time_entry_conditions": null}"#)
            }),
            (#"{"toolbox": null}"#, { doc in doc["toolbox"] = .null }),
        ]
        for (n, (patch, change)) in steps.enumerated() {
            let r = try put(id, patch)
            XCTAssertEqual(r.status, 200, "step \(n): \(r.text)")
            change(&expected)
            expected["version"] = .int(Int64(n + 2))
            expected["updated_at"] = r.data?["updated_at"]
            let stored = try detail(id)
            XCTAssertEqual(stored.text.utf8.count > 0, true)
            XCTAssertEqual(stored.data.map { $0.serializedString() }, JSON.object(expected).serializedString(), "step \(n)")
        }
    }

    private func setAction(_ doc: inout JSONObject, _ index: Int, input: String) {
        var actions = doc["actions"]!.arrayValue!
        var action = actions[index].objectValue!
        action["input_as_dict"] = parse(input)
        actions[index] = .object(action)
        doc["actions"] = .array(actions)
    }

    func test_concurrentPutsWithSameIfMatch_exactlyOneWins() throws {
        let id = try create(docsTriageAgent)
        let results = Lock<[(status: Int, code: String?)]>(Array(repeating: (0, nil), count: 2))
        let server = self.server
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let r = try? server.request("PUT", "/public-api/agents/\(id)", json: ["name": .string("writer \(i)")],
                                        headers: ["If-Match": "\"1\""])
            results.withLock { $0[i] = (r?.status ?? 0, r?.errorCode) }
        }
        let outcomes = results.withLock { $0 }
        XCTAssertEqual(outcomes.map(\.status).sorted(), [200, 409])
        XCTAssertEqual(outcomes.compactMap(\.code), ["agent_update_conflict"])
        let d = try detail(id)
        XCTAssertEqual(d.data?["version"], 2)
        let versions = try server.request("GET", "/public-api/agents/\(id)/versions")
        XCTAssertEqual(versions.data?.arrayValue?.count, 2, "the loser wrote nothing")

        let stale = try put(id, #"{"name": "late"}"#, headers: ["If-Match": "\"1\""])
        XCTAssertEqual(stale.status, 409)
        XCTAssertEqual(stale.errorCode, "agent_update_conflict")
        XCTAssertEqual(try put(id, #"{"name": "fresh"}"#, headers: ["If-Match": "\"2\""]).status, 200)
    }

    func test_invalidPutBodies_answeredWithFieldPath_andStoredDataUnchanged() throws {
        let id = try create(chainedAgent)
        let agentic = try create(docsTriageAgent)
        let conversational = try create(#"{"name": "chat", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL", "actions": []}"#)
        let cases: [(String, String, Int, String, String?)] = [
            (id, #"{"name": null}"#, 422, "VALIDATION_ERROR", "name"),
            (id, #"{"name": 7}"#, 422, "VALIDATION_ERROR", "name"),
            (id, #"{"state": "PAUSED"}"#, 422, "VALIDATION_ERROR", "state"),
            (id, #"{"trigger_type": "sometimes"}"#, 422, "VALIDATION_ERROR", "trigger_type"),
            (id, #"{"group_order": "first"}"#, 422, "VALIDATION_ERROR", "group_order"),
            (id, #"{"autonomy_type": "AGENTIC"}"#, 422, "VALIDATION_ERROR", "autonomy_type"),
            (id, #"{"entity_type": "task"}"#, 422, "VALIDATION_ERROR", "entity_type"),
            (id, #"{"actions": [{"action_type": "EXTERNAL_API_REQUEST"}]}"#, 422, "VALIDATION_ERROR", "actions[0]"),
            (id, #"{"actions": [{"input_as_dict": {}}]}"#, 422, "VALIDATION_ERROR", "actions[0].action_type"),
            (id, #"{"actions": [{"action_type": "FIND_ENTITIES"}]}"#, 400, "validation_error", "actions[0].action_type"),
            (id, #"{"toolbox": {"tool_settings_by_type": {"PSA": 3}}}"#, 422, "VALIDATION_ERROR", "toolbox.tool_settings_by_type.PSA"),
            (id, #"{"toolbox": {"tool_settings_by_type": {"CRM": {"password": "x"}}}}"#, 400, "validation_error",
             "toolbox.tool_settings_by_type.CRM.password"),
            (id, #"{"agent_settings": []}"#, 422, "VALIDATION_ERROR", "agent_settings"),
            (agentic, #"{"actions": []}"#, 400, "validation_error", "actions"),
            (conversational, #"{"time_entry_conditions": {}}"#, 400, "validation_error", "time_entry_conditions"),
            (conversational, #"{"audience": "END_USER"}"#, 422, "VALIDATION_ERROR", "audience"),
        ]
        for (target, body, status, code, field) in cases {
            let before = try storedDocument(target)
            let r = try put(target, body)
            XCTAssertEqual(r.status, status, "\(body): \(r.text)")
            XCTAssertEqual(r.errorCode, code, body)
            XCTAssertEqual(r.json?["error"]?["details"]?.arrayValue?.first?["field"]?.stringValue, field, body)
            XCTAssertEqual(try storedDocument(target), before, "\(body) changed the stored agent")
        }
        let before = try storedDocument(id)
        let notJSON = try server.request("PUT", "/public-api/agents/\(id)", body: Array("{".utf8), headers: ["Content-Type": "application/json"])
        XCTAssertEqual(notJSON.status, 400)
        let wrongType = try server.request("PUT", "/public-api/agents/\(id)", body: Array("name=x".utf8), headers: ["Content-Type": "text/plain"])
        XCTAssertEqual(wrongType.status, 415)
        XCTAssertEqual(try storedDocument(id), before)
    }

    func test_invalidCreateBodies_answeredWithFieldPath_andNothingStored() throws {
        let countBefore = try server.request("GET", "/public-api/agents?page_size=200&state=ENABLED").data?.arrayValue?.count
        let cases: [(String, Int, String, String)] = [
            (#"{"trigger_type": "NONE", "actions": []}"#, 422, "VALIDATION_ERROR", "name"),
            (#"{"name": "x", "actions": []}"#, 422, "VALIDATION_ERROR", "trigger_type"),
            (#"{"name": "x", "trigger_type": "NONE"}"#, 422, "VALIDATION_ERROR", "actions"),
            (#"{"name": "x", "trigger_type": "NONE", "autonomy_type": "SEMI"}"#, 422, "VALIDATION_ERROR", "autonomy_type"),
            (#"{"name": "x", "trigger_type": "NONE", "autonomy_type": "AGENTIC", "entity_type": "TICKET"}"#, 422, "VALIDATION_ERROR", "entity_type"),
            (#"{"name": "x", "trigger_type": "NONE", "actions": [5]}"#, 422, "VALIDATION_ERROR", "actions[0]"),
            (#"{"name": "x", "trigger_type": "NONE", "actions": [{"action_type": "FIND_ENTITIES"}]}"#, 400, "validation_error", "actions[0].action_type"),
            (#"{"name": "x", "trigger_type": "NONE", "autonomy_type": "AGENTIC", "actions": [{"action_type": "ADD_NOTE"}]}"#, 400, "validation_error", "actions"),
            (#"{"name": "x", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL", "ticket_conditions": {}}"#, 400, "validation_error", "ticket_conditions"),
            (#"{"name": "x", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL", "audience": "EVERYONE"}"#, 422, "VALIDATION_ERROR", "audience"),
        ]
        for (body, status, code, field) in cases {
            let r = try server.request("POST", "/public-api/agents", json: parse(body))
            XCTAssertEqual(r.status, status, "\(body): \(r.text)")
            XCTAssertEqual(r.errorCode, code, body)
            XCTAssertEqual(r.json?["error"]?["details"]?.arrayValue?.first?["field"]?.stringValue, field, body)
        }
        XCTAssertEqual(try server.request("GET", "/public-api/agents?page_size=200&state=ENABLED").data?.arrayValue?.count, countBefore)
    }

    func test_otherTenant_gets404Everywhere_andDoesNotSeeTheAgent() throws {
        let id = try create(docsTriageAgent)
        let other = try server.adminKey(forTenant: "agents-other")
        for (method, path) in [("GET", ""), ("DELETE", ""), ("GET", "/versions"), ("GET", "/stats")] {
            let r = try server.request(method, "/public-api/agents/\(id)\(path)", key: other)
            XCTAssertEqual(r.status, 404, "\(method) \(path)")
            XCTAssertEqual(r.errorCode, "NOT_FOUND")
        }
        XCTAssertEqual(try put(id, #"{"name": "stolen"}"#, key: other).status, 404)
        let list = try server.request("GET", "/public-api/agents", key: other)
        XCTAssertFalse(list.data?.arrayValue?.contains { $0["id"]?.stringValue == id } ?? true)
        XCTAssertEqual(try detail(id).data?["name"], "Triage agent")
    }

    func test_agentActorKey_destructivePut_holdsTilRequest_andAppliesNothing() throws {
        let id = try create(chainedAgent)
        let agentKey = try server.createKey(parse(
            #"{"name": "agent tool", "role": "member", "actor": "agent", "agent_id": \#(id), "permissions": {"agents": "read_write"}}"#))
        let before = try storedDocument(id)
        let r = try put(id, #"{"actions": [{"id": "act_2", "input_as_dict": {"template": "changed"}}]}"#, key: agentKey)
        XCTAssertEqual(r.status, 202, r.text)
        XCTAssertNotNil(r.data?["id"]?.intValue)
        XCTAssertEqual(r.data?["agent_id"], .int(Int64(id)!))
        XCTAssertEqual(r.data?["status"], "pending")
        XCTAssertEqual(r.data?["kind"], "agent_update")
        XCTAssertEqual(r.data?["approvers"], .array([]))
        XCTAssertEqual(r.data?["decided_by"], .null)
        XCTAssertEqual(r.data?["requested_for"], parse(#"{"actions": [{"id": "act_2", "input_as_dict": {"template": "changed"}}]}"#))
        XCTAssertNotNil(r.data?["expires_at"]?.stringValue)
        XCTAssertEqual(try storedDocument(id), before, "a held edit is not applied")

        let delete = try server.request("DELETE", "/public-api/agents/\(id)", key: agentKey)
        XCTAssertEqual(delete.status, 202)
        XCTAssertEqual(try detail(id).data?["state"], "ENABLED")

        let rename = try put(id, #"{"name": "renamed by agent"}"#, key: agentKey)
        XCTAssertEqual(rename.status, 200, "non-destructive edits apply directly")
    }

    func test_testMode_validatesAndMerges_butPersistsNothing() throws {
        let id = try create(chainedAgent)
        let before = try storedDocument(id)
        let r = try put(id, #"{"name": "dry run"}"#, headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.data?["name"], "dry run")
        XCTAssertEqual(r.json?["meta"]?["warnings"]?.arrayValue?.last, "test mode: not persisted")
        XCTAssertEqual(try storedDocument(id), before)
        let bad = try put(id, #"{"state": "NOPE"}"#, headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(bad.status, 422)
        let created = try server.request("POST", "/public-api/agents", json: parse(docsTriageAgent), headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual(created.data?["id"], .null)
    }

    func test_unknownFields_ignoredWithWarning() throws {
        let id = try create(chainedAgent)
        let r = try put(id, #"{"name": "n", "colour": "blue"}"#)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json?["meta"]?["warnings"]?.arrayValue?.first?.stringValue?.hasPrefix("unknown field 'colour' ignored"), true, r.text)
        XCTAssertNotNil(r.json?["meta"]?["timings_ms"]?["total"])
        XCTAssertNil(try detail(id).data?["colour"])
    }

    func test_delete_marksDeleted_stillReadable_hiddenFromDefaultList() throws {
        let id = try create(#"{"name": "to delete", "trigger_type": "NONE", "actions": [], "group_name": "trash"}"#)
        let r = try server.request("DELETE", "/public-api/agents/\(id)")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.data?["state"], "DELETED")
        XCTAssertEqual(try detail(id).data?["state"], "DELETED")
        let ids = { (query: String) throws -> [String] in
            try self.server.request("GET", "/public-api/agents?page_size=200\(query)").data?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        XCTAssertFalse(try ids("").contains(id))
        XCTAssertTrue(try ids("&state=DELETED").contains(id))
    }

    func test_list_filtersQueryAndPaginatesNewestFirst() throws {
        let tag = UUID().uuidString.prefix(8)
        var created: [String] = []
        for i in 0..<5 {
            created.append(try create(#"{"name": "list \#(tag) \#(i)", "trigger_type": "\#(i % 2 == 0 ? "SCHEDULED" : "NONE")", "actions": [], "group_name": "g\#(tag)"}"#))
        }
        var seen: [String] = []
        var cursor: String?
        repeat {
            let r = try server.request("GET", "/public-api/agents?page_size=2&group_name=g\(tag)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            XCTAssertEqual(r.status, 200, r.text)
            seen += r.data?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            cursor = r.json?["meta"]?["pagination"]?["next_cursor"]?.stringValue
        } while cursor != nil
        XCTAssertEqual(seen, created.reversed())

        let scheduled = try server.request("GET", "/public-api/agents?group_name=g\(tag)&trigger_type=SCHEDULED")
        XCTAssertEqual(scheduled.data?.arrayValue?.count, 3)
        let byName = try server.request("GET", "/public-api/agents?q=\(tag)%203")
        XCTAssertEqual(byName.data?.arrayValue?.compactMap { $0["id"]?.stringValue }, [created[3]])
        XCTAssertEqual(byName.data?.arrayValue?.first?["name"], .string("list \(tag) 3"))
        XCTAssertEqual(try server.request("GET", "/public-api/agents?autonomy_type=agentic").status, 400)
        XCTAssertEqual(try server.request("GET", "/public-api/agents?page_size=0").status, 400)
    }

    func test_versions_onePerWrite_newestFirst_paginated() throws {
        let id = try create(chainedAgent)
        _ = try put(id, #"{"name": "v2"}"#)
        _ = try put(id, #"{"name": "v3"}"#)
        _ = try put(id, #"{}"#)
        let all = try server.request("GET", "/public-api/agents/\(id)/versions")
        XCTAssertEqual(all.data?.arrayValue?.compactMap { $0["version"]?.intValue }, [3, 2, 1], "a no-op PUT writes no version")
        XCTAssertEqual(all.data?.arrayValue?.first?["agent"]?["name"], "v3")
        XCTAssertEqual(all.data?.arrayValue?.first?["actor"]?["type"], "user")
        let page = try server.request("GET", "/public-api/agents/\(id)/versions?page_size=2")
        XCTAssertEqual(page.data?.arrayValue?.count, 2)
        let cursor = try XCTUnwrap(page.json?["meta"]?["pagination"]?["next_cursor"]?.stringValue)
        let rest = try server.request("GET", "/public-api/agents/\(id)/versions?page_size=2&cursor=\(cursor)")
        XCTAssertEqual(rest.data?.arrayValue?.compactMap { $0["version"]?.intValue }, [1])
    }

    func test_stats_zeroWithoutExecutions_andWindowEchoed() throws {
        let id = try create(chainedAgent)
        let r = try server.request("GET", "/public-api/agents/\(id)/stats?since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.data?["agent_id"], .int(Int64(id)!))
        XCTAssertEqual(r.data?["executions"], 0)
        XCTAssertEqual(r.data?["failures"], 0)
        XCTAssertEqual(r.data?["p95_duration_seconds"]?.doubleValue, 0)
        XCTAssertEqual(r.data?["window"], parse(#"{"since": "2026-01-01T00:00:00.000Z", "until": "2026-02-01T00:00:00.000Z"}"#))
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(id)/stats?since=yesterday").status, 400)
    }

    /// Percent-encodes a query value (`+` in an offset must not arrive as a space).
    private func encoded(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~:"))) ?? s
    }

    func test_versionAt_servesTheSnapshotInForceAtAnInstant() throws {
        let id = try create(chainedAgent)
        usleep(20_000)
        let between = Date()
        usleep(20_000)
        _ = try put(id, #"{"name": "v2"}"#)

        let now = try server.request("GET", "/public-api/agents/\(id)/version-at?timestamp=\(encoded(ISO8601DateFormatter().string(from: Date().addingTimeInterval(1)).replacingOccurrences(of: "Z", with: "+00:00")))")
        XCTAssertEqual(now.status, 200, now.text)
        XCTAssertEqual(now.data?["name"], "v2")
        XCTAssertEqual(now.data?["version"], 2)
        XCTAssertEqual(now.headers["etag"], "\"2\"")
        var served = try XCTUnwrap(detail(id).data?.objectValue)
        XCTAssertEqual(served.removeValue(forKey: "next_run_at"), .null, "next_run_at is the agent's now, not part of a version")
        XCTAssertEqual(now.data?.serializedString(), JSON.object(served).serializedString(), "the current snapshot is the AgentDetail as served")

        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let earlier = try server.request("GET", "/public-api/agents/\(id)/version-at?timestamp=\(encoded(fractional.string(from: between)))")
        XCTAssertEqual(earlier.status, 200, earlier.text)
        XCTAssertEqual(earlier.data?["name"], "Dispatch")
        XCTAssertEqual(earlier.data?["version"], 1)
        XCTAssertNotNil(earlier.data?["actions"]?.arrayValue, "an AgentDetail, not the summary")

        // An unescaped '+' decodes as a space; the offset is still read.
        let unescaped = ISO8601DateFormatter().string(from: Date().addingTimeInterval(1)).replacingOccurrences(of: "Z", with: "+00:00")
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(id)/version-at?timestamp=\(unescaped)").data?["version"], 2)

        let before = try server.request("GET", "/public-api/agents/\(id)/version-at?timestamp=2020-01-01T00:00:00Z")
        XCTAssertEqual(before.status, 404, before.text)
        XCTAssertTrue(before.errorMessage?.contains("did not exist") ?? false, before.text)
        for bad in ["yesterday", "2026-13-01T00:00:00Z", ""] {
            let r = try server.request("GET", "/public-api/agents/\(id)/version-at?timestamp=\(bad)")
            XCTAssertEqual(r.status, 400, "\(bad): \(r.text)")
            XCTAssertEqual(r.json?["error"]?["details"]?.arrayValue?.first?["field"], "timestamp")
        }
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(id)/version-at").status, 400)
        XCTAssertEqual(try server.request("GET", "/public-api/agents/999999/version-at?timestamp=2026-01-01T00:00:00Z").status, 404)
        let other = try server.adminKey(forTenant: "version-at-other")
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(id)/version-at?timestamp=2030-01-01T00:00:00Z", key: other).status, 404)
    }

    func test_actionTypes_malformedRefused_unrunnableFlagged() throws {
        let malformed = try server.request("POST", "/public-api/agents", json: parse(
            #"{"name": "m", "trigger_type": "NONE", "actions": [{"action_type": "add note", "input_as_dict": {}}]}"#))
        XCTAssertEqual(malformed.status, 422, malformed.text)
        XCTAssertEqual(malformed.json?["error"]?["details"]?.arrayValue?.first?["field"], "actions[0].action_type")

        let stored = try server.request("POST", "/public-api/agents", json: parse(
            #"{"name": "bogus", "trigger_type": "NONE", "actions": [{"action_type": "BOGUS_TYPO", "input_as_dict": {}}]}"#))
        XCTAssertEqual(stored.status, 201, "accepted for compatibility with Neo's other action types")
        let warnings = stored.json?["meta"]?["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertTrue(warnings.contains { $0.contains("BOGUS_TYPO") && $0.contains("does not run") }, "\(warnings)")
    }

    func test_addNoteAndExternalRequest_inputsCheckedWhenWritten() throws {
        let noTemplate = try server.request("POST", "/public-api/agents", json: parse(
            #"{"name": "n", "trigger_type": "NONE", "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"templat": "hi"}}]}"#))
        XCTAssertEqual(noTemplate.status, 422, noTemplate.text)
        XCTAssertEqual(noTemplate.json?["error"]?["details"]?.arrayValue?.first?["field"], "actions[0].input_as_dict.template")
        let numeric = try server.request("POST", "/public-api/agents", json: parse(
            #"{"name": "n", "trigger_type": "NONE", "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": 7}}]}"#))
        XCTAssertEqual(numeric.status, 422, numeric.text)

        let id = try create(#"{"name": "note", "trigger_type": "NONE", "actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "hi"}}]}"#)
        let before = try storedDocument(id)
        let cleared = try put(id, #"{"actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": null}}]}"#)
        XCTAssertEqual(cleared.status, 422, "a PUT cannot leave a note without its template: \(cleared.text)")
        XCTAssertEqual(cleared.json?["error"]?["details"]?.arrayValue?.first?["field"], "actions[0].input_as_dict.template")
        XCTAssertEqual(try storedDocument(id), before)

        let noName = try server.request("POST", "/public-api/agents", json: parse(
            #"{"name": "x", "trigger_type": "NONE", "actions": [{"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"path": "/a"}}]}"#))
        XCTAssertEqual(noName.status, 422, noName.text)
        XCTAssertEqual(noName.json?["error"]?["details"]?.arrayValue?.first?["field"], "actions[0].input_as_dict.api_name")

        let unknownAPI = try server.request("POST", "/public-api/agents", json: parse(
            #"{"name": "x", "trigger_type": "NONE", "actions": [{"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "does_not_exist"}}]}"#))
        XCTAssertEqual(unknownAPI.status, 201, unknownAPI.text)
        let warnings = unknownAPI.json?["meta"]?["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertTrue(warnings.contains { $0.contains("does_not_exist") && $0.contains("not configured") }, "\(warnings)")
        let templated = try server.request("POST", "/public-api/agents", json: parse(
            #"{"name": "x", "trigger_type": "NONE", "actions": [{"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "{{input.api}}"}}]}"#))
        XCTAssertNil(templated.json?["meta"]?["warnings"], "a templated api_name is resolved at run time: \(templated.text)")
    }

    func test_neoRefusal_stillListsTheFieldsItIgnored() throws {
        let id = try create(chainedAgent)
        let r = try put(id, #"{"colour": "blue", "actions": [{"action_type": "FIND_ENTITIES", "input_as_dict": {}}]}"#)
        XCTAssertEqual(r.status, 400, r.text)
        XCTAssertEqual(r.errorCode, "validation_error")
        let warnings = r.json?["meta"]?["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertTrue(warnings.contains { $0.hasPrefix("unknown field 'colour' ignored") }, "\(warnings)")
    }
}

import Basics
import Foundation
import NeoJSON
import XCTest

/// Inbound events through the real server (design §9): ingest, matching, the runs it queues, dedupe,
/// ordering, run-once, test mode, the read API, tenants, permissions, signed inbound and ConnectWise.
/// Each test works in a tenant of its own, so agents of one test never match another's events.
final class CallbacksTests: SharedServerTestCase {
    override class var environment: [String: String] { ["NEO_RATE_LIMIT": "0", "NEO_RUNNER_CONCURRENCY": "1"] }

    private func tenant(_ name: String = #function) throws -> String {
        try server.adminKey(forTenant: "cb-" + name.filter { $0.isLetter || $0.isNumber }.prefix(40) + "-" + UUID().uuidString.prefix(6))
    }

    private func agent(_ key: String, _ name: String, settings: JSON = nil, rules: JSON = nil, state: String = "ENABLED",
                       trigger: String = "TRIGGERED", entityType: String = "ticket",
                       template: String = "Triage: {{input.entity.summary}}") throws -> Int64 {
        var body: JSONObject = ["name": .string(name), "trigger_type": .string(trigger), "state": .string(state), "entity_type": .string(entityType),
                                "actions": [["action_type": "ADD_NOTE", "input_as_dict": ["template": .string(template)]]]]
        if !settings.isNull { body["callback_settings"] = settings }
        if !rules.isNull { body["ticket_conditions"] = ["conditions": rules] }
        let r = try server.request("POST", "/public-api/agents", key: key, json: .object(body))
        XCTAssertEqual(r.status, 201, r.text)
        return Int64(r.data?["id"]?.stringValue ?? "") ?? -1
    }

    private func event(_ id: String? = nil, entityId: String = "42", changeType: String = "CREATE", changes: JSON = nil,
                       entity: JSONObject = ["summary": "Printer on fire", "status": "New", "priority": 2]) -> JSON {
        var body: JSONObject = ["entity_type": "TICKET", "entity_id": .string(entityId), "change_type": .string(changeType), "entity": .object(entity)]
        if let id { body["event_id"] = .string(id) }
        if !changes.isNull { body["changes"] = changes }
        return .object(body)
    }

    private func ingest(_ key: String, _ body: JSON, headers: [String: String] = [:]) throws -> TestResponse {
        try server.request("POST", "/public-api/callbacks", key: key, json: body, headers: headers)
    }

    private func ints(_ value: JSON?) -> [Int64] { value?.arrayValue?.compactMap(\.intValue) ?? [] }

    private func executions(_ key: String, agent: Int64? = nil) throws -> [JSON] {
        let path = "/public-api/executions?page_size=200" + (agent.map { "&agent_id=\($0)" } ?? "")
        return try server.request("GET", path, key: key).data?.arrayValue ?? []
    }

    private func waitFor(_ key: String, _ executionId: String, timeout: Double = 15) throws -> JSON {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = try server.request("GET", "/public-api/executions/\(executionId)", key: key)
            if let status = r.data?["status"]?.stringValue, !["queued", "running"].contains(status) { return r.data ?? nil }
            if Date() > deadline { XCTFail("execution \(executionId) still \(r.data?["status"] ?? nil)"); return r.data ?? nil }
            usleep(50_000)
        }
    }

    /// `X-Neo-Signature` computed the way the README shows, with openssl.
    private func signature(_ secret: String, _ body: [UInt8], at t: Int64) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl", "dgst", "-sha256", "-hmac", secret, "-hex"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(Data("\(t).".utf8) + Data(body))
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return "t=\(t),v1=" + (text.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "")
    }

    private func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: ingest and matching

    func test_ingest_startsMatchedAgents_whoseNotesReadTheEntity() throws {
        let key = try tenant()
        let triage = try agent(key, "Triage", settings: ["target_changes": [["change_type": "TICKET_CREATED"]]],
                               rules: ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": "new"],
                                                                      ["field": "priority", "operator": "<=", "value": 3]]])
        let closer = try agent(key, "Closer", rules: ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": "Closed"]]])
        let updatesOnly = try agent(key, "Updates only", settings: ["target_changes": [["change_type": "UPDATE"]]])
        _ = try agent(key, "Disabled", state: "DISABLED")
        _ = try agent(key, "Scheduled", trigger: "SCHEDULED")
        _ = try agent(key, "Companies", entityType: "company")

        let r = try ingest(key, event("evt-1"))
        XCTAssertEqual(r.status, 202, r.text)
        let detail = try XCTUnwrap(r.data)
        XCTAssertEqual(ints(detail["started_workflow_ids"]), [triage])
        XCTAssertEqual(ints(detail["failed_to_match_workflow_ids"]), [closer, updatesOnly])
        let matches = detail["workflow_matches"]?.arrayValue ?? []
        XCTAssertEqual(matches.map { $0["workflow_id"]?.intValue }, [triage, closer, updatesOnly], "only ENABLED TRIGGERED ticket agents are considered")
        XCTAssertEqual(matches[0]["match_details"]?["field_comparisons"]?.arrayValue?.map { $0["is_match"] }, [true, true])
        XCTAssertEqual(matches[1]["match_reason"], #"rule failed: status = "Closed""#)
        XCTAssertEqual(matches[1]["match_details"]?["field_comparisons"]?[0]?["field_value"], "New")
        XCTAssertTrue(matches[2]["match_reason"]?.stringValue?.hasPrefix("target_changes") ?? false)
        XCTAssertEqual(detail["entity_id"], "42")
        XCTAssertEqual(detail["error_message"], .null)
        XCTAssertEqual(detail["processed_audit_trail"]?["entity"]?["summary"], "Printer on fire")

        let executionId = try XCTUnwrap(detail["started_executions"]?[0]?["execution_id"]?.stringValue)
        let run = try waitFor(key, executionId)
        XCTAssertEqual(run["status"], "succeeded", run.serializedString())
        XCTAssertEqual(run["trigger"], ["type": "CALLBACK", "callback_id": detail["callback_id"] ?? nil])
        XCTAssertEqual(run["entity_id"], "42")
        XCTAssertEqual(run["input"]?["change_type"], "CREATE")
        let notes = try server.request("GET", "/public-api/executions/\(executionId)/artifacts", key: key).data?.arrayValue ?? []
        XCTAssertEqual(notes.first?["content"], "Triage: Printer on fire")

        let back = try server.request("GET", "/public-api/executions/\(executionId)/callback", key: key)
        XCTAssertEqual(back.status, 200, back.text)
        XCTAssertEqual(back.data, try server.request("GET", "/public-api/callbacks/\(detail["callback_id"]?.stringValue ?? "")", key: key).data)
        XCTAssertEqual(back.data?["started_workflow_ids"], detail["started_workflow_ids"])

        let runNow = try server.request("POST", "/public-api/agents/\(triage)/run-now", key: key,
                                        json: ["target_entity_id": "42", "input": ["entity": ["summary": "x"]]])
        let notByCallback = try server.request("GET", "/public-api/executions/\(runNow.data?["execution_id"]?.stringValue ?? "")/callback", key: key)
        XCTAssertEqual(notByCallback.status, 404, notByCallback.text)
        XCTAssertTrue(notByCallback.errorMessage?.contains("not started by a callback") ?? false, notByCallback.text)
    }

    func test_agentEdits_takeEffectForTheVeryNextCallback() throws {
        // Matching keeps the compiled agents between events (design §9 cache, keyed by the tenant's agent
        // generation): every kind of agent write must still show in the next event's matching.
        let key = try tenant()
        let id = try agent(key, "Edited", rules: ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": "New"]]])
        func started(_ n: Int, status: String) throws -> [Int64] {
            let r = try ingest(key, event("edit-\(n)", entityId: "e\(n)", entity: ["status": .string(status)]), headers: ["Prefer": "return=minimal"])
            XCTAssertEqual(r.status, 202, r.text)
            return ints(r.data?["started_workflow_ids"])
        }
        func put(_ body: JSON) throws {
            let r = try server.request("PUT", "/public-api/agents/\(id)", key: key, json: body)
            XCTAssertEqual(r.status, 200, r.text)
        }
        XCTAssertEqual(try started(1, status: "New"), [id])
        XCTAssertEqual(try started(2, status: "New"), [id], "reused unchanged")
        try put(["ticket_conditions": ["conditions": ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": "Closed"]]]]])
        XCTAssertEqual(try started(3, status: "New"), [], "the edited conditions, at once")
        XCTAssertEqual(try started(4, status: "Closed"), [id])
        try put(["state": "DISABLED"])
        XCTAssertEqual(try started(5, status: "Closed"), [], "disabled")
        try put(["state": "ENABLED"])
        XCTAssertEqual(try started(6, status: "Closed"), [id], "enabled again")
        try put(["callback_settings": ["target_changes": [["change_type": "UPDATE"]]]])
        XCTAssertEqual(try started(7, status: "Closed"), [], "target_changes edited")
        try put(["callback_settings": nil])
        XCTAssertEqual(try started(8, status: "Closed"), [id])
        XCTAssertEqual(try server.request("DELETE", "/public-api/agents/\(id)", key: key).status, 200)
        XCTAssertEqual(try started(9, status: "Closed"), [], "deleted")
        let other = try agent(key, "Created later")
        XCTAssertEqual(try started(10, status: "Closed"), [other], "a new agent, at once")
    }

    func test_eventId_dedupes_alsoUnderConcurrentIngests() throws {
        let key = try tenant()
        let id = try agent(key, "Every event")
        let first = try ingest(key, event("dup-1"))
        XCTAssertEqual(first.status, 202, first.text)
        let again = try ingest(key, event("dup-1", entity: ["summary": "changed body, same event id"]))
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(again.data?["callback_id"], first.data?["callback_id"])
        XCTAssertEqual(again.data?["processed_audit_trail"]?["entity"]?["summary"], "Printer on fire", "the first callback is answered")
        XCTAssertTrue(again.json?["meta"]?["warnings"]?[0]?.stringValue?.contains("already ingested") ?? false, again.text)

        let outcomes = Lock<(seen: [Int], callbackIds: Set<String>)>(([], []))
        let server = self.server, body = event("race-1")
        DispatchQueue.concurrentPerform(iterations: 12) { _ in
            let r = try? server.request("POST", "/public-api/callbacks", key: key, json: body)
            outcomes.withLock { o in
                o.seen.append(r?.status ?? 0)
                if let c = r?.data?["callback_id"]?.stringValue { o.callbackIds.insert(c) }
            }
        }
        let (seen, callbackIds) = outcomes.withLock { $0 }
        XCTAssertEqual(seen.filter { $0 == 202 }.count, 1, "\(seen)")
        XCTAssertEqual(seen.filter { $0 == 200 }.count, 11, "\(seen)")
        XCTAssertEqual(callbackIds.count, 1)
        XCTAssertEqual(try executions(key, agent: id).count, 2, "one run per distinct event")
    }

    func test_executionOrder_ordersTheAuditAndTheRuns() throws {
        let key = try tenant()
        let late = try agent(key, "late", settings: ["execution_order": 5])
        let first = try agent(key, "first", settings: ["execution_order": -1])
        let plain = try agent(key, "no order (0)")
        let lateToo = try agent(key, "late, higher id", settings: ["execution_order": 5])
        let r = try ingest(key, event("order-1"))
        XCTAssertEqual(ints(r.data?["started_workflow_ids"]), [first, plain, late, lateToo], r.text)
        let runs = try (r.data?["started_executions"]?.arrayValue ?? []).map { try waitFor(key, $0["execution_id"]?.stringValue ?? "") }
        let byStart = runs.sorted { ($0["started_at"]?.stringValue ?? "") < ($1["started_at"]?.stringValue ?? "") }
        XCTAssertEqual(byStart.map { $0["agent_id"]?.intValue }, [first, plain, late, lateToo], "one runner thread starts them in execution order")
    }

    func test_runOnlyOncePerEntity_startsAnAgentOncePerEntity() throws {
        let key = try tenant()
        let once = try agent(key, "once", settings: ["run_only_once_per_entity": true])
        let always = try agent(key, "always")
        let a = try ingest(key, event("once-1", entityId: "42"))
        XCTAssertEqual(ints(a.data?["started_workflow_ids"]), [once, always], a.text)
        let b = try ingest(key, event("once-2", entityId: "42", changeType: "UPDATE"))
        XCTAssertEqual(ints(b.data?["started_workflow_ids"]), [always], b.text)
        XCTAssertEqual(b.data?["workflow_matches"]?[0]?["match_reason"], "run_only_once_per_entity: this agent already ran for ticket 42 from a callback")
        let c = try ingest(key, event("once-3", entityId: "43"))
        XCTAssertEqual(ints(c.data?["started_workflow_ids"]), [once, always], "another entity: it runs again")
        XCTAssertEqual(try executions(key, agent: once).count, 2)
    }

    /// Concurrent events for one entity: all of them may see "not run yet" in their read snapshot, and the write's
    /// re-check drops the run-once agent from all but the first; each stored callback's `started_executions` names
    /// exactly the runs it queued.
    func test_runOnlyOncePerEntity_holdsUnderConcurrentIngests_andEachCallbackListsItsOwnRuns() throws {
        let key = try tenant()
        let once = try agent(key, "once", settings: ["run_only_once_per_entity": true])
        let always = try agent(key, "always")
        let callbackIds = Lock<[String]>([])
        let server = self.server
        let bodies = (0..<12).map { event("race-once-\($0)", entityId: "77") }
        DispatchQueue.concurrentPerform(iterations: 12) { i in
            let r = try? server.request("POST", "/public-api/callbacks", key: key, json: bodies[i])
            if r?.status == 202, let id = r?.data?["callback_id"]?.stringValue { callbackIds.withLock { $0.append(id) } }
        }
        let ids = callbackIds.withLock { $0 }
        XCTAssertEqual(ids.count, 12)
        XCTAssertEqual(try executions(key, agent: once).count, 1, "the run-once agent ran once for the entity")
        XCTAssertEqual(try executions(key, agent: always).count, 12)
        var listed: [String] = []
        for id in ids {
            let c = try server.request("GET", "/public-api/callbacks/\(id)", key: key)
            let started = ints(c.data?["started_workflow_ids"])
            let runs = c.data?["started_executions"]?.arrayValue ?? []
            XCTAssertEqual(runs.compactMap { $0["workflow_id"]?.intValue }, started, c.text)
            for run in runs {
                let executionId = run["execution_id"]?.stringValue ?? ""
                let e = try server.request("GET", "/public-api/executions/\(executionId)", key: key)
                XCTAssertEqual(e.status, 200, "the listed run exists: \(e.text)")
                XCTAssertEqual(e.data?["agent_id"]?.intValue, run["workflow_id"]?.intValue)
                listed.append(executionId)
            }
        }
        XCTAssertEqual(listed.count, 13)
        XCTAssertEqual(Set(listed).count, 13, "no run id listed twice")
    }

    func test_testMode_answersTheWouldBeCallback_storesAndStartsNothing() throws {
        let key = try tenant()
        let id = try agent(key, "would run")
        let dry = try ingest(key, event("dry-1"), headers: ["X-Neo-Test-Mode": "true"])
        XCTAssertEqual(dry.status, 202, dry.text)
        XCTAssertEqual(ints(dry.data?["started_workflow_ids"]), [id])
        XCTAssertEqual(dry.data?["started_executions"], [])
        XCTAssertTrue(dry.json?["meta"]?["warnings"]?.arrayValue?.contains("test mode: not persisted") ?? false, dry.text)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks/\(dry.data?["callback_id"]?.stringValue ?? "")", key: key).status, 404)
        XCTAssertEqual(try executions(key).count, 0)
        let real = try ingest(key, event("dry-1"))
        XCTAssertEqual(real.status, 202, "the dry run did not use up the event id: \(real.text)")

        // A dry run of a known event id is answered as the real ingest would: the first callback, 200, nothing new.
        let again = try ingest(key, event("dry-1"), headers: ["X-Neo-Test-Mode": "true"])
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(again.data?["callback_id"], real.data?["callback_id"])
        let warnings = again.json?["meta"]?["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        XCTAssertTrue(warnings.contains("test mode: not persisted"), again.text)
        XCTAssertTrue(warnings.contains { $0.contains("was already ingested") }, again.text)
        XCTAssertEqual(try executions(key).count, 1, "only the real ingest started a run")
    }

    func test_testMode_inbound_refusesAReplayedSignature_withoutConsumingAFreshOne() throws {
        let key = try tenant()
        let created = try server.request("POST", "/public-api/webhook-endpoints", key: key, json: ["name": "PSA"])
        let endpoint = try XCTUnwrap(created.data?["id"]?.stringValue)
        let secret = try XCTUnwrap(created.data?["secret"]?.stringValue)
        func post(_ body: [UInt8], _ signature: String, dry: Bool) throws -> TestResponse {
            var headers = ["Content-Type": "application/json", "X-Neo-Signature": signature]
            if dry { headers["X-Neo-Test-Mode"] = "true" }
            return try server.request("POST", "/public-api/inbound/\(endpoint)", key: nil, body: body, headers: headers)
        }
        let first = event("dry-in-1").serialized()
        let signed = try signature(secret, first, at: now())
        XCTAssertEqual(try post(first, signed, dry: false).status, 202)
        let replay = try post(first, signed, dry: true)
        XCTAssertEqual(replay.status, 409, "a dry run of a replay is refused like the real one: \(replay.text)")
        XCTAssertEqual(replay.json?["error"]?["details"]?[0]?["field"], "X-Neo-Signature")
        let duplicate = try post(first, try signature(secret, first, at: now() + 1), dry: true)
        XCTAssertEqual(duplicate.status, 200, "a fresh signature of a known event: the duplicate answer \(duplicate.text)")

        let second = event("dry-in-2").serialized()
        let fresh = try signature(secret, second, at: now())
        let dry = try post(second, fresh, dry: true)
        XCTAssertEqual(dry.status, 202, dry.text)
        XCTAssertEqual(try post(second, fresh, dry: false).status, 202, "the dry run did not consume the signature")
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks?since=\(Self.iso(-600))", key: key).data?.arrayValue?.count, 2)
    }

    func test_preferReturnMinimal_answersTheReceipt_theStoredCallbackKeepsItsAudit() throws {
        let key = try tenant()
        let id = try agent(key, "receipt")
        let r = try ingest(key, event("receipt-1"), headers: ["Prefer": "handling=lenient, return=minimal"])
        XCTAssertEqual(r.status, 202, r.text)
        XCTAssertEqual(r.headers["preference-applied"], "return=minimal")
        XCTAssertEqual(ints(r.data?["started_workflow_ids"]), [id])
        XCTAssertNil(r.data?["workflow_matches"])
        XCTAssertNil(r.data?["processed_audit_trail"])
        XCTAssertEqual(r.data?["started_executions"]?.arrayValue?.count, 1)
        let full = try server.request("GET", "/public-api/callbacks/\(r.data?["callback_id"]?.stringValue ?? "")", key: key)
        XCTAssertEqual(full.data?["workflow_matches"]?[0]?["match_reason"], "matched: target_changes and conditions passed")
        let again = try ingest(key, event("receipt-1"), headers: ["Prefer": "return=minimal"])
        XCTAssertEqual(again.status, 200)
        XCTAssertNil(again.data?["workflow_matches"], "a repeated event id is answered the way it is asked")
        XCTAssertNil(try ingest(key, event("receipt-2")).headers["preference-applied"])
    }

    func test_sleepBeforeProcessing_delaysTheRuns() throws {
        let key = try tenant()
        _ = try agent(key, "delayed")
        XCTAssertEqual(try server.request("PUT", "/public-api/settings", key: key, json: ["sleep_before_callback_processing_seconds": 2]).status, 200)
        let r = try ingest(key, event("sleep-1"))
        let runAfter = try XCTUnwrap(r.data?["run_after"]?.stringValue)
        let executionId = try XCTUnwrap(r.data?["started_executions"]?[0]?["execution_id"]?.stringValue)
        usleep(800_000)
        XCTAssertEqual(try server.request("GET", "/public-api/executions/\(executionId)", key: key).data?["status"], "queued")
        let run = try waitFor(key, executionId)
        XCTAssertEqual(run["status"], "succeeded")
        XCTAssertGreaterThanOrEqual(run["started_at"]?.stringValue ?? "", runAfter)
        // Started when due, not at an idle worker's next once-a-second look (which left it up to a second late).
        let parse = ISO8601DateFormatter()
        parse.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let late = try XCTUnwrap(parse.date(from: run["started_at"]?.stringValue ?? "")).timeIntervalSince(try XCTUnwrap(parse.date(from: runAfter)))
        XCTAssertLessThan(late, 0.4, "started \(late) s after run_after")
    }

    func test_updateWithoutChanges_isDiffedAgainstTheLastCallback() throws {
        let key = try tenant()
        let closed = try agent(key, "on close", settings: ["target_changes": [["change_type": "UPDATE", "target_field": "status", "target_value": "Closed"]]])
        _ = try ingest(key, event("diff-1"))
        let update = try ingest(key, event("diff-2", changeType: "UPDATE", entity: ["summary": "Printer on fire", "status": "Closed", "priority": 2]))
        XCTAssertEqual(ints(update.data?["started_workflow_ids"]), [closed], update.text)
        XCTAssertEqual(update.data?["processed_audit_trail"]?["changes_from"], "previous_callback")
        XCTAssertEqual(update.data?["processed_audit_trail"]?["changes"], [["field": "status", "old": "New", "new": "Closed"]])
        let sent = try ingest(key, event("diff-3", changeType: "UPDATE", changes: [["field": "board", "old": "A", "new": "B"]]))
        XCTAssertEqual(ints(sent.data?["started_workflow_ids"]), [], "sent changes are used as sent")
        XCTAssertEqual(sent.data?["processed_audit_trail"]?["changes_from"], "event")
    }

    // MARK: retention

    /// NEO_CALLBACK_RETENTION_DAYS prunes, at start, a callback older than the retention that started no run,
    /// and keeps a younger one — on both backends (the prune's SQL once carried a SQLite-only planner hint and
    /// failed on PostgreSQL, logged and never noticed).
    func test_retention_prunesOldCallbacksThatStartedNothing_atStart() throws {
        let environment = ["NEO_RATE_LIMIT": "0", "NEO_CALLBACK_RETENTION_DAYS": "1"]
        let first = try TestServer(environment: environment)
        let old = try XCTUnwrap(try first.request("POST", "/public-api/callbacks", json: event("keep-1")).data?["callback_id"]?.stringValue)
        let young = try XCTUnwrap(try first.request("POST", "/public-api/callbacks", json: event("keep-2")).data?["callback_id"]?.stringValue)
        try first.sql("UPDATE callbacks SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = '\(old)'")
        first.stop()
        let second = try TestServer(environment: environment, directory: first.directory)
        defer { second.stop() }
        // The pass at start runs beside the listener: give it a moment.
        let deadline = Date().addingTimeInterval(10)
        while try second.request("GET", "/public-api/callbacks/\(old)").status == 200, Date() < deadline { usleep(50_000) }
        XCTAssertEqual(try second.request("GET", "/public-api/callbacks/\(old)").status, 404, "the old callback was pruned")
        XCTAssertEqual(try second.request("GET", "/public-api/callbacks/\(young)").status, 200, "the young one stays")
        XCTAssertFalse(second.log.contains("callback pruning failed"), second.log)
    }

    // MARK: bad input

    func test_badInput_isA4xxNamingTheField_andStoresNothing() throws {
        let key = try tenant()
        _ = try agent(key, "any")
        var noEntityId = event("bad-1").objectValue ?? [:]
        noEntityId["entity_id"] = nil
        let r = try ingest(key, .object(noEntityId))
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertEqual(r.json?["error"]?["details"]?[0]?["field"], "entity_id")
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks?since=\(Self.iso(-60))", key: key).data?.arrayValue?.count, 0)
        XCTAssertEqual(try executions(key).count, 0)
        XCTAssertEqual(try ingest(key, event("bad-1")).status, 202, "the refused event id was not used up")

        var deep: JSON = ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": "New"]]]
        for _ in 1..<20 { deep = ["combinator": "or", "rules": [deep]] }
        let nested = try server.request("POST", "/public-api/agents", key: key, json: [
            "name": "deep", "trigger_type": "TRIGGERED", "actions": [], "ticket_conditions": ["conditions": deep]])
        XCTAssertEqual(nested.status, 422, nested.text)
        XCTAssertTrue(nested.json?["error"]?["details"]?[0]?["field"]?.stringValue?.hasPrefix("ticket_conditions.conditions.rules[0]") ?? false, nested.text)

        let odd = try server.request("POST", "/public-api/agents", key: key, json: [
            "name": "odd operator", "trigger_type": "TRIGGERED", "actions": [],
            "ticket_conditions": ["conditions": ["rules": [["field": "status", "operator": "resembles", "value": "New"]]]]])
        XCTAssertEqual(odd.status, 201, odd.text)
        XCTAssertTrue(odd.json?["meta"]?["warnings"]?[0]?.stringValue?.contains("'resembles'") ?? false, odd.text)
        let flagged = try ingest(key, event("bad-2"))
        let audit = flagged.data?["workflow_matches"]?.arrayValue?.first { $0["workflow_name"] == "odd operator" }
        XCTAssertEqual(audit?["error"], true)
        XCTAssertEqual(audit?["matched"], false)
        XCTAssertTrue(flagged.data?["error_message"]?.stringValue?.contains("could not be evaluated") ?? false, flagged.text)
    }

    // MARK: the read API

    static func iso(_ offset: TimeInterval) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date().addingTimeInterval(offset))
    }

    func test_readAPI_needsAnIndexedFilter_pagesBy20_andFilters() throws {
        let key = try tenant()
        let agentId = try agent(key, "lister", rules: ["rules": [["field": "status", "operator": "=", "value": "New"]]])
        for i in 0..<21 {
            XCTAssertEqual(try ingest(key, event("list-\(i)", entityId: i < 3 ? "7" : "8", changeType: i == 0 ? "CREATE" : "UPDATE")).status, 202)
        }
        var numbered = event("list-numbered", entityId: "9").objectValue ?? [:]
        numbered["entity_number"] = "T-9"
        numbered["entity"] = ["status": "Closed"]
        XCTAssertEqual(try ingest(key, .object(numbered)).status, 202)

        for query in ["", "?until=\(Self.iso(0))", "?agent_id=\(agentId)", "?since=\(Self.iso(-8 * 86400))", "?entity_type=ticket"] {
            let r = try server.request("GET", "/public-api/callbacks" + query, key: key)
            XCTAssertEqual(r.status, 400, "\(query): \(r.text)")
            XCTAssertEqual(r.json?["error"]?["details"]?.arrayValue?.compactMap { $0["field"]?.stringValue }, ["entity_type", "entity_id", "entity_number", "since"], query)
        }
        let idOnly = try server.request("GET", "/public-api/callbacks?entity_id=7", key: key)
        XCTAssertEqual(idOnly.status, 400)
        XCTAssertEqual(idOnly.json?["error"]?["details"]?[0]?["field"], "entity_type")

        let byEntity = try server.request("GET", "/public-api/callbacks?entity_type=TICKET&entity_id=7", key: key)
        XCTAssertEqual(byEntity.status, 200, byEntity.text)
        XCTAssertEqual(byEntity.data?.arrayValue?.count, 3)
        XCTAssertNil(byEntity.data?[0]?["processed_audit_trail"], "list rows omit processed_audit_trail")
        XCTAssertNotNil(byEntity.data?[0]?["workflow_matches"])
        let creates = try server.request("GET", "/public-api/callbacks?entity_type=ticket&entity_id=7&change_type=CREATE", key: key)
        XCTAssertEqual(creates.data?.arrayValue?.count, 1)
        let byNumber = try server.request("GET", "/public-api/callbacks?entity_number=T-9", key: key)
        XCTAssertEqual(byNumber.data?.arrayValue?.map { $0["entity_id"] }, ["9"])
        XCTAssertEqual(ints(byNumber.data?[0]?["failed_to_match_workflow_ids"]), [agentId])

        let recent = try server.request("GET", "/public-api/callbacks?since=\(Self.iso(-3600))", key: key)
        XCTAssertEqual(recent.data?.arrayValue?.count, 20, "page_size defaults to 20 here")
        XCTAssertEqual(recent.json?["meta"]?["pagination"]?["has_more"], true)
        let sinceFixed = Self.iso(-3600)
        let pageOne = try server.request("GET", "/public-api/callbacks?since=\(sinceFixed)", key: key)
        let pageTwo = try server.request("GET", "/public-api/callbacks?since=\(sinceFixed)&cursor=\(pageOne.json?["meta"]?["pagination"]?["next_cursor"]?.stringValue ?? "")", key: key)
        XCTAssertEqual(pageTwo.data?.arrayValue?.count, 2, pageTwo.text)
        let all = (pageOne.data?.arrayValue ?? []) + (pageTwo.data?.arrayValue ?? [])
        XCTAssertEqual(Set(all.compactMap { $0["callback_id"]?.stringValue }).count, 22)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks?since=\(sinceFixed)&agent_id=\(agentId)&page_size=200", key: key).data?.arrayValue?.count, 22)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks?since=\(sinceFixed)&agent_id=\(agentId + 1000)", key: key).data?.arrayValue?.count, 0)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks?entity_number=T-9&change_type=DELETE", key: key).status, 400)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks/not-a-uuid", key: key).status, 404)
    }

    func test_tenantsAndPermissions_isolateCallbacksAndEndpoints() throws {
        let a = try tenant("isolationA"), b = try tenant("isolationB")
        _ = try agent(a, "A's agent")
        let posted = try ingest(a, event("iso-1"))
        let callbackId = posted.data?["callback_id"]?.stringValue ?? ""
        let executionId = posted.data?["started_executions"]?[0]?["execution_id"]?.stringValue ?? ""
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks/\(callbackId)", key: b).status, 404)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks?entity_type=ticket&entity_id=42", key: b).data?.arrayValue?.count, 0)
        XCTAssertEqual(try server.request("GET", "/public-api/executions/\(executionId)/callback", key: b).status, 404)
        let theirs = try ingest(b, event("iso-1"))
        XCTAssertEqual(theirs.status, 202, "event ids are per tenant")
        XCTAssertEqual(theirs.data?["workflow_matches"], [], "another tenant's agents are never considered")
        let endpoint = try server.request("POST", "/public-api/webhook-endpoints", key: a, json: ["name": "A's PSA"])
        XCTAssertEqual(try server.request("GET", "/public-api/webhook-endpoints/\(endpoint.data?["id"]?.stringValue ?? "")", key: b).status, 404)

        let none = try server.createKey(["name": "no callbacks", "role": "member", "permissions": ["callbacks": "none"]], using: a)
        let reader = try server.createKey(["name": "reads callbacks", "role": "member", "permissions": ["callbacks": "read"]], using: a)
        let writer = try server.createKey(["name": "writes callbacks", "role": "member", "permissions": ["callbacks": "read_write"]], using: a)
        XCTAssertEqual(try ingest(none, event("perm-1")).status, 403)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks/\(callbackId)", key: none).status, 403)
        XCTAssertEqual(try ingest(reader, event("perm-1")).status, 403)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks/\(callbackId)", key: reader).status, 200)
        XCTAssertEqual(try ingest(writer, event("perm-1")).status, 202)
        let member = try server.request("GET", "/public-api/webhook-endpoints", key: writer)
        XCTAssertEqual(member.status, 403, member.text)
        let defaultMember = try server.createKey(["name": "defaults", "role": "member"], using: a)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks/\(callbackId)", key: defaultMember).status, 200, "members read by default")
    }

    // MARK: signed inbound

    private func inbound(_ endpoint: String, _ body: [UInt8], signature: String?, query: String = "") throws -> TestResponse {
        var headers = ["Content-Type": "application/json"]
        if let signature { headers["X-Neo-Signature"] = signature }
        return try server.request("POST", "/public-api/inbound/\(endpoint)\(query)", key: nil, body: body, headers: headers)
    }

    func test_signedInbound_acceptsEachSignatureOnce_andRefusesEveryBadOneStoringNothing() throws {
        let key = try tenant()
        let agentId = try agent(key, "inbound")
        let created = try server.request("POST", "/public-api/webhook-endpoints", key: key, json: ["name": "Halo", "description": "our PSA"])
        XCTAssertEqual(created.status, 201, created.text)
        let endpoint = try XCTUnwrap(created.data?["id"]?.stringValue)
        let secret = try XCTUnwrap(created.data?["secret"]?.stringValue)
        XCTAssertTrue(secret.hasPrefix("whsec_"))
        XCTAssertEqual(created.data?["path"]?.stringValue, "/public-api/inbound/\(endpoint)")
        let listed = try server.request("GET", "/public-api/webhook-endpoints", key: key)
        XCTAssertEqual(listed.data?.arrayValue?.count, 1)
        XCTAssertNil(listed.data?[0]?["secret"], "the secret is shown once")
        XCTAssertFalse(listed.text.contains(secret))
        XCTAssertFalse(try server.request("GET", "/public-api/webhook-endpoints/\(endpoint)", key: key).text.contains(secret))

        let body = event("in-1").serialized()
        let t = now()
        let signed = try signature(secret, body, at: t)
        let accepted = try inbound(endpoint, body, signature: signed)
        XCTAssertEqual(accepted.status, 202, accepted.text)
        XCTAssertEqual(ints(accepted.data?["started_workflow_ids"]), [agentId])
        XCTAssertEqual(accepted.data?["processed_audit_trail"]?["source"], ["type": "inbound", "endpoint_id": .string(endpoint), "format": "neo"])

        let replay = try inbound(endpoint, body, signature: signed)
        XCTAssertEqual(replay.status, 409, replay.text)
        XCTAssertEqual(replay.json?["error"]?["details"]?[0]?["field"], "X-Neo-Signature")
        let resigned = try inbound(endpoint, body, signature: try signature(secret, body, at: t + 1))
        XCTAssertEqual(resigned.status, 200, "a fresh signature of a known event is deduped: \(resigned.text)")

        let other = event("in-2").serialized()
        let refusals: [(String, String?, [UInt8], Int)] = [
            ("no signature", nil, other, 401),
            ("malformed", "sha256=abc", other, 401),
            ("stale", try signature(secret, other, at: t - 301), other, 401),
            ("from the future", try signature(secret, other, at: t + 400), other, 401),
            ("another body", try signature(secret, body, at: t), other, 401),
            ("another secret", try signature("whsec_wrong", other, at: t), other, 401),
            ("a changed byte", try signature(secret, other, at: t), other.map { $0 == UInt8(ascii: "2") ? UInt8(ascii: "3") : $0 }, 401),
        ]
        for (name, header, payload, status) in refusals {
            let r = try inbound(endpoint, payload, signature: header)
            XCTAssertEqual(r.status, status, "\(name): \(r.text)")
            XCTAssertEqual(r.json?["error"]?["details"]?[0]?["field"], "X-Neo-Signature", name)
        }
        XCTAssertEqual(try inbound(UUID().uuidString.lowercased(), other, signature: try signature(secret, other, at: t)).status, 404)
        XCTAssertEqual(try inbound("nope", other, signature: nil).status, 404)
        let stored = try server.request("GET", "/public-api/callbacks?since=\(Self.iso(-600))", key: key).data?.arrayValue ?? []
        XCTAssertEqual(stored.count, 1, "refused posts store nothing")

        let revoked = try server.request("DELETE", "/public-api/webhook-endpoints/\(endpoint)", key: key)
        XCTAssertEqual(revoked.status, 200)
        XCTAssertNotEqual(revoked.data?["revoked_at"], .null)
        let afterRevoke = try inbound(endpoint, other, signature: try signature(secret, other, at: now()))
        XCTAssertEqual(afterRevoke.status, 404, afterRevoke.text)
        XCTAssertTrue(afterRevoke.errorMessage?.contains("revoked") ?? false)
        XCTAssertFalse(server.log.contains(secret), "the secret never reaches the log")
    }

    /// The access log's `request` lines whose path starts with `prefix`, parsed.
    private static func accessLines(_ log: String, path prefix: String) -> [JSON] {
        log.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
            .filter { $0["msg"] == "request" && ($0["path"]?.stringValue?.hasPrefix(prefix) ?? false) }
    }

    func test_signedInbound_isRateLimitedPerTenant_apartFromItsKeys_andLogsTheTenant() throws {
        // A server of its own: 4 requests per 60 s per tenant, for the keys and, apart, for the inbound endpoints.
        let limited = try TestServer(environment: ["NEO_RATE_LIMIT": "4", "NEO_RATE_WINDOW": "60"])
        defer { limited.stop() }
        let key = try limited.adminKey(forTenant: "cb-inbound-limit")
        let created = try limited.request("POST", "/public-api/webhook-endpoints", key: key, json: ["name": "PSA"])
        XCTAssertEqual(created.status, 201, created.text)
        let endpoint = try XCTUnwrap(created.data?["id"]?.stringValue)
        let secret = try XCTUnwrap(created.data?["secret"]?.stringValue)
        func deliver(_ n: Int, signed: Bool = true) throws -> TestResponse {
            let body = event("limit-\(n)").serialized()
            var headers = ["Content-Type": "application/json"]
            if signed { headers["X-Neo-Signature"] = try signature(secret, body, at: now()) }
            return try limited.request("POST", "/public-api/inbound/\(endpoint)", key: nil, body: body, headers: headers)
        }
        for n in 0..<4 {
            let r = try deliver(n)
            XCTAssertEqual(r.status, 202, "delivery \(n): \(r.text)")
            XCTAssertEqual(r.headers["x-ratelimit-limit"], "4")
            XCTAssertEqual(r.headers["x-ratelimit-remaining"], String(3 - n))
        }
        let refused = try deliver(4)
        XCTAssertEqual(refused.status, 429, refused.text)
        XCTAssertEqual(refused.errorCode, "RATE_LIMITED")
        XCTAssertTrue(refused.errorMessage?.contains("inbound endpoints") ?? false, refused.text)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(refused.headers["retry-after"].flatMap { Int($0) }), 1)
        XCTAssertEqual(try limited.request("GET", "/public-api/callbacks?since=\(Self.iso(-600))", key: key).data?.arrayValue?.count, 4,
                       "the refused delivery stored nothing")
        // An unsigned post is refused for its signature, whatever the budget: it is never counted.
        XCTAssertEqual(try deliver(5, signed: false).status, 401)
        // The tenant's keys have their own budget (2 of 4 used: the endpoint and the list above).
        let tenant = try limited.request("GET", "/public-api/tenant", key: key)
        XCTAssertEqual(tenant.status, 200, tenant.text)
        XCTAssertEqual(tenant.headers["x-ratelimit-remaining"], "1")

        // The access log names the endpoint's tenant on inbound lines, as it names a key's on the others.
        let keyed = try XCTUnwrap(Self.accessLines(limited.log, path: "/public-api/webhook-endpoints").first)
        let tenantId = try XCTUnwrap(keyed["tenant"]?.intValue)
        let lines = Self.accessLines(limited.log, path: "/public-api/inbound/")
        XCTAssertEqual(lines.count, 6, limited.log)
        for line in lines {
            XCTAssertEqual(line["tenant"]?.intValue, tenantId, "\(line.serializedString())")
            XCTAssertEqual(line["endpoint_id"]?.stringValue, endpoint)
            XCTAssertNil(line["key_id"])
        }
        XCTAssertEqual(lines.compactMap { $0["status"]?.intValue }, [202, 202, 202, 202, 429, 401])
        XCTAssertFalse(limited.log.contains(secret))
    }

    func test_connectwiseFormat_mapsTheCallback_diffsUpdates_andIgnoresDeletes() throws {
        let key = try tenant()
        let onBoard = try agent(key, "Professional Services tickets",
                                rules: ["rules": [["field": "board", "operator": "=", "value": "Professional Services"],
                                                  ["field": "company", "operator": "beginsWith", "value": "Indigo"]]],
                                template: "New ticket: {{input.entity.summary}}")
        let onClose = try agent(key, "closed", settings: ["target_changes": [["change_type": "UPDATE", "target_field": "status", "target_value": "Closed"]]])
        let endpoint = try server.request("POST", "/public-api/webhook-endpoints", key: key, json: ["name": "ConnectWise"])
        let id = endpoint.data?["id"]?.stringValue ?? ""
        let secret = endpoint.data?["secret"]?.stringValue ?? ""

        func callback(_ action: String, message: String, status: String) -> [UInt8] {
            let record: JSON = ["id": 493, "summary": "Check Remote Backup", "recordType": "ServiceTicket",
                                "board": ["id": 1, "name": "Professional Services"], "status": ["id": 16, "name": .string(status)],
                                "company": ["id": 16, "identifier": "IndigoStrawberryCo", "name": "IndigoStrawberry, Co."],
                                "_info": ["lastUpdated": "2026-11-30T04:25:10Z", "dateEntered": "2026-11-30T04:20:41Z"]]
            let body: JSON = ["MessageId": .string(message), "FromUrl": "sandbox-na.myconnectwise.net", "CompanyId": "myCompany",
                              "Action": .string(action), "Type": "ticket", "ID": 493, "Entity": .string(record.serializedString()),
                              "Metadata": ["key_url": "https://sandbox-na.myconnectwise.net/callbackkey"]]
            return body.serialized()
        }
        let added = callback("added", message: "cw-1", status: "New")
        let r = try inbound(id, added, signature: try signature(secret, added, at: now()), query: "?format=connectwise")
        XCTAssertEqual(r.status, 202, r.text)
        XCTAssertEqual(ints(r.data?["started_workflow_ids"]), [onBoard])
        XCTAssertEqual(r.data?["entity_number"], "493")
        XCTAssertEqual(r.data?["processed_audit_trail"]?["entity"]?["statusId"], 16)
        let run = try waitFor(key, r.data?["started_executions"]?[0]?["execution_id"]?.stringValue ?? "")
        let note = try server.request("GET", "/public-api/executions/\(run["execution_id"]?.stringValue ?? "")/artifacts", key: key)
        XCTAssertEqual(note.data?[0]?["content"], "New ticket: Check Remote Backup")

        let updated = callback("updated", message: "cw-2", status: "Closed")
        let u = try inbound(id, updated, signature: try signature(secret, updated, at: now()), query: "?format=ConnectWise")
        XCTAssertEqual(u.status, 202, u.text)
        XCTAssertEqual(ints(u.data?["started_workflow_ids"]), [onBoard, onClose], "status changed New → Closed, found by diffing the records")
        XCTAssertEqual(u.data?["processed_audit_trail"]?["changes"], [["field": "status", "old": "New", "new": "Closed"]])

        let deleted: [UInt8] = JSON.object(["MessageId": "cw-3", "Action": "deleted", "Type": "ticket", "ID": 493, "Entity": nil]).serialized()
        let d = try inbound(id, deleted, signature: try signature(secret, deleted, at: now()), query: "?format=connectwise")
        XCTAssertEqual(d.status, 200, d.text)
        XCTAssertEqual(d.data?["ignored"], true)
        let malformed: [UInt8] = JSON.object(["Action": "added", "Type": "ticket", "Entity": "{}"]).serialized()
        let m = try inbound(id, malformed, signature: try signature(secret, malformed, at: now()), query: "?format=connectwise")
        XCTAssertEqual(m.status, 422, m.text)
        XCTAssertEqual(m.json?["error"]?["details"]?[0]?["field"], "ID")
        XCTAssertEqual(try inbound(id, added, signature: try signature(secret, added, at: now()), query: "?format=autotask").status, 400)
        XCTAssertEqual(try server.request("GET", "/public-api/callbacks?entity_type=ticket&entity_id=493", key: key).data?.arrayValue?.count, 2)
    }
}

private extension JSON {
    /// `json?[0]` in assertions on arrays.
    subscript(index: Int) -> JSON? {
        guard let items = arrayValue, items.indices.contains(index) else { return nil }
        return items[index]
    }
}

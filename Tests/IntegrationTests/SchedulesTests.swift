import Foundation
import NeoJSON
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Schedules and scheduled work through the real server: validation with nothing stored, next_run_at in every
/// agent shape, Neo's scheduled-work endpoints with their permission group, tenant isolation and test mode,
/// and scheduled work firing at its time.
final class SchedulesTests: SharedServerTestCase {
    private func createAgent(_ name: String, trigger: String = "SCHEDULED", schedule: JSON? = nil,
                             key: String = TestServer.adminKey) throws -> (id: String, response: TestResponse) {
        var body: JSONObject = ["name": .string(name), "trigger_type": .string(trigger),
                                "actions": [["action_type": "ADD_NOTE", "input_as_dict": ["template": "ran"]]]]
        if let schedule { body["schedule"] = schedule }
        let r = try server.request("POST", "/public-api/agents", key: key, json: .object(body))
        XCTAssertEqual(r.status, 201, r.text)
        return (r.data?["id"]?.stringValue ?? "", r)
    }

    private func agentCount() throws -> Int {
        try server.request("GET", "/public-api/agents?page_size=200&state=ENABLED").data?.arrayValue?.count ?? -1
    }

    private func fields(_ r: TestResponse) -> [String] {
        r.json?["error"]?["details"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
    }

    func test_badSchedules_are422NamingTheField_andStoreNothing() throws {
        let (id, _) = try createAgent("kept", schedule: ["cron": "0 8 * * *"])
        let before = try agentCount()
        let cases: [(JSON, String, String)] = [
            (["cron": "0 0 * * * *"], "schedule.cron", "got 6"),
            (["cron": "61 * * * *"], "schedule.cron", "'61'"),
            (["cron": "0 8 * * *", "timezone": "Mars/Olympus_Mons"], "schedule.timezone", "Mars/Olympus_Mons"),
        ]
        for (schedule, field, token) in cases {
            let r = try server.request("POST", "/public-api/agents", json: ["name": "bad", "trigger_type": "SCHEDULED", "actions": [],
                                                                           "schedule": schedule])
            XCTAssertEqual(r.status, 422, r.text)
            XCTAssertEqual(fields(r), [field], r.text)
            XCTAssertTrue(r.text.contains(token), r.text)
            let put = try server.request("PUT", "/public-api/agents/\(id)", json: ["schedule": schedule])
            XCTAssertEqual(put.status, 422, put.text)
            XCTAssertEqual(fields(put), [field])
        }
        XCTAssertEqual(try agentCount(), before, "a refused create stores nothing")
        let detail = try server.request("GET", "/public-api/agents/\(id)")
        XCTAssertEqual(detail.data?["schedule"], ["cron": "0 8 * * *"], "a refused PUT changes nothing")
        XCTAssertEqual(detail.data?["version"], 1)
    }

    func test_nextRunAt_inCreateListDetailAndPut_nullWhenDisabledOrUnscheduled() throws {
        let (id, created) = try createAgent("daily", schedule: ["cron": "30 6 * * *", "timezone": "Asia/Kolkata", "note": "kept"])
        let next = try XCTUnwrap(created.data?["next_run_at"]?.stringValue)
        XCTAssertTrue(next.hasSuffix("T01:00:00.000Z"), "06:30 in Kolkata is 01:00Z: \(next)")
        XCTAssertEqual(created.json?["meta"]?["warnings"], nil)
        let detail = try server.request("GET", "/public-api/agents/\(id)")
        XCTAssertEqual(detail.data?["next_run_at"], .string(next))
        XCTAssertEqual(detail.data?["schedule"], ["cron": "30 6 * * *", "timezone": "Asia/Kolkata", "note": "kept"])
        let listed = try server.request("GET", "/public-api/agents?page_size=200")
        XCTAssertNotNil(listed.json, "the spliced list is valid JSON: \(listed.text.prefix(300))")
        let item = listed.data?.arrayValue?.first { $0["id"]?.stringValue == id }
        XCTAssertEqual(item?["next_run_at"], .string(next))
        XCTAssertEqual(item?["version"], 1)

        let disabled = try server.request("PUT", "/public-api/agents/\(id)", json: ["state": "DISABLED"])
        XCTAssertEqual(disabled.data?["next_run_at"], .null)
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(id)").data?["next_run_at"], .null)
        let enabled = try server.request("PUT", "/public-api/agents/\(id)", json: ["state": "ENABLED", "next_run_at": "2030-01-01T00:00:00Z"])
        XCTAssertEqual(enabled.data?["next_run_at"], .string(next))
        XCTAssertEqual(enabled.json?["meta"]?["warnings"], ["read-only field 'next_run_at' ignored"])

        let (unscheduled, response) = try createAgent("no schedule yet")
        XCTAssertEqual(response.data?["next_run_at"], .null)
        XCTAssertTrue(response.json?["meta"]?["warnings"]?.arrayValue?.first?.stringValue?.contains("never fires until one is set") ?? false, response.text)
        let later = try server.request("PUT", "/public-api/agents/\(unscheduled)", json: ["schedule": ["cron": "*/5 * * * *"]])
        XCTAssertNotNil(later.data?["next_run_at"]?.stringValue, later.text)
        let triggered = try createAgent("triggered", trigger: "TRIGGERED", schedule: [:]).response
        XCTAssertEqual(triggered.data?["next_run_at"], .null)
        let dry = try server.request("POST", "/public-api/agents", json: ["name": "dry", "trigger_type": "SCHEDULED", "actions": [],
                                                                        "schedule": ["cron": "0 0 1 1 *"]], headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertTrue(dry.data?["next_run_at"]?.stringValue?.hasSuffix("-01-01T00:00:00.000Z") ?? false, dry.text)
    }

    func test_settingsTimeZone_movesSchedulesWithoutTheirOwnZone() throws {
        let other = try server.adminKey(forTenant: "schedules-zone")
        let (id, created) = try createAgent("nine", schedule: ["cron": "0 9 * * *"], key: other)
        XCTAssertTrue(created.data?["next_run_at"]?.stringValue?.hasSuffix("T09:00:00.000Z") ?? false, created.text)
        XCTAssertEqual(try server.request("PUT", "/public-api/settings", key: other, json: ["timezone": "America/New_York"]).status, 200)
        let moved = try server.request("GET", "/public-api/agents/\(id)", key: other).data?["next_run_at"]?.stringValue ?? ""
        XCTAssertTrue(moved.hasSuffix("T14:00:00.000Z") || moved.hasSuffix("T13:00:00.000Z"), "09:00 in New York: \(moved)")
    }

    // MARK: scheduled work

    private func future(_ seconds: Double) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date().addingTimeInterval(seconds))
    }

    private func schedule(_ body: JSONObject, key: String = TestServer.adminKey, headers: [String: String] = [:]) throws -> TestResponse {
        try server.request("POST", "/public-api/scheduled-work", key: key, json: .object(body), headers: headers)
    }

    func test_scheduledWork_badInput_is422NamingTheField_andStoresNothing() throws {
        let (agent, _) = try createAgent("target", trigger: "TRIGGERED")
        let agentId = JSON.int(Int64(agent)!)
        let cases: [(JSONObject, [String])] = [
            (["scheduled_for": "2020-01-01T00:00:00Z", "workflow_id": agentId, "ticket_id": "T-1"], ["scheduled_for"]),
            (["scheduled_for": "next tuesday", "workflow_id": agentId, "ticket_id": "T-1"], ["scheduled_for"]),
            (["scheduled_for": "2026-13-01T00:00:00Z", "workflow_id": agentId, "ticket_id": "T-1"], ["scheduled_for"]),
            (["workflow_id": agentId], ["scheduled_for"]),
            (["scheduled_for": .string(future(3600)), "workflow_id": 999_999], ["workflow_id"]),
            (["scheduled_for": .string(future(3600)), "workflow_id": "1"], ["workflow_id"]),
            (["scheduled_for": .string(future(3600)), "workflow_id": agentId], ["ticket_id"]),
        ]
        for (body, expected) in cases {
            let r = try schedule(body)
            XCTAssertEqual(r.status, 422, r.text)
            XCTAssertEqual(fields(r), expected, r.text)
        }
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work?ticket_id=T-1").data?.arrayValue?.count, 0, "nothing stored")
    }

    func test_scheduledWork_createGetListCancel_andIsolation() throws {
        let (agent, _) = try createAgent("work target", trigger: "TRIGGERED")
        let agentId = Int64(agent)!
        let at = future(3600)
        let created = try schedule(["scheduled_for": .string(at), "workflow_id": .int(agentId), "ticket_id": "LST-100",
                                    "additional_custom_instructions": "check the backups", "colour": "blue"])
        XCTAssertEqual(created.status, 201, created.text)
        let work = try XCTUnwrap(created.data)
        XCTAssertEqual(Set(work.objectValue?.keys ?? []), ["id", "workflow_id", "workflow_name", "scheduled_for", "ticket_id", "ticket_number",
                                                           "additional_custom_instructions", "client_id", "created_by", "created_at",
                                                           "updated_at", "executed_at", "execution_message", "execution_temporal_run_id", "status"])
        XCTAssertEqual(work["status"], "PENDING")
        XCTAssertEqual(work["workflow_id"], .int(agentId))
        XCTAssertEqual(work["workflow_name"], "work target")
        XCTAssertEqual(work["ticket_id"], "LST-100")
        XCTAssertEqual(work["execution_temporal_run_id"], .null)
        XCTAssertEqual(created.json?["meta"]?["warnings"], ["unknown field 'colour' ignored"])
        let id = try XCTUnwrap(work["id"]?.intValue)
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work/\(id)").data, work)

        for n in 0..<3 {
            XCTAssertEqual(try schedule(["scheduled_for": .string(future(7200)), "workflow_id": .int(agentId), "ticket_id": .string("LST-2\(n)")]).status, 201)
        }
        let page1 = try server.request("GET", "/public-api/scheduled-work?page_size=2&page=1&q=LST-")
        XCTAssertEqual(page1.data?.arrayValue?.count, 2)
        XCTAssertEqual(page1.json?["meta"]?["pagination"], ["has_more": true, "next_cursor": nil])
        let page2 = try server.request("GET", "/public-api/scheduled-work?page_size=2&page=2&q=LST-")
        XCTAssertEqual(page2.data?.arrayValue?.count, 2)
        XCTAssertEqual(page2.json?["meta"]?["pagination"], ["has_more": false, "next_cursor": nil])
        XCTAssertEqual(page2.data?.arrayValue?.last?["id"], .int(id), "newest first")
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work?ticket_id=LST-100").data?.arrayValue?.count, 1)
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work?q=ST-2").data?.arrayValue?.count, 3)
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work?page=0").status, 400)
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work?status=DONE").status, 400)

        let other = try server.adminKey(forTenant: "schedules-other")
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work/\(id)", key: other).status, 404)
        XCTAssertEqual(try server.request("DELETE", "/public-api/scheduled-work/\(id)", key: other).status, 404)
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work", key: other).data?.arrayValue?.count, 0)
        XCTAssertEqual(try schedule(["scheduled_for": .string(at), "workflow_id": .int(agentId), "ticket_id": "x"], key: other).status, 422,
                       "another tenant's agent is unknown")

        let dryCancel = try server.request("DELETE", "/public-api/scheduled-work/\(id)", headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(dryCancel.data?["status"], "CANCELLED")
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work/\(id)").data?["status"], "PENDING", "test mode cancels nothing")
        let cancelled = try server.request("DELETE", "/public-api/scheduled-work/\(id)")
        XCTAssertEqual(cancelled.status, 200, cancelled.text)
        XCTAssertEqual(cancelled.data?["status"], "CANCELLED")
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work?status=CANCELLED&ticket_id=LST-100").data?.arrayValue?.count, 1)
        let again = try server.request("DELETE", "/public-api/scheduled-work/\(id)")
        XCTAssertEqual(again.status, 409, again.text)
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work/99999").status, 404)

        let dry = try schedule(["scheduled_for": .string(at), "workflow_id": .int(agentId), "ticket_id": "DRY"], headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(dry.status, 201)
        XCTAssertEqual(dry.data?["id"], .null)
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work?ticket_id=DRY").data?.arrayValue?.count, 0)
    }

    func test_scheduledWork_warnsWhenTheAgentNeedsInput() throws {
        let r = try server.request("POST", "/public-api/agents", json: ["name": "needs input", "trigger_type": "NONE",
                                                                       "actions": [["action_type": "ADD_NOTE", "input_as_dict": ["template": "{{input.ticket}}"]]]])
        let agent = try XCTUnwrap(Int64(r.data?["id"]?.stringValue ?? ""))
        let work = try schedule(["scheduled_for": .string(future(3600)), "workflow_id": .int(agent)])
        XCTAssertEqual(work.status, 201, work.text)
        XCTAssertTrue(work.json?["meta"]?["warnings"]?.arrayValue?.first?.stringValue?.contains("{{input.ticket}}") ?? false, work.text)
    }

    func test_scheduledWork_permissionGroupIsAgents() throws {
        let (agent, _) = try createAgent("perm target", trigger: "NONE")
        let reader = try server.createKey(["name": "agents reader", "role": "member", "permissions": ["agents": "read", "executions": "read_write"]])
        let none = try server.createKey(["name": "no agents", "role": "member", "permissions": ["agents": "none", "executions": "read_write"]])
        let body: JSONObject = ["scheduled_for": .string(future(3600)), "workflow_id": .int(Int64(agent)!)]
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work", key: reader).status, 200)
        XCTAssertEqual(try schedule(body, key: reader).status, 403)
        XCTAssertEqual(try server.request("GET", "/public-api/scheduled-work", key: none).status, 403)
        XCTAssertEqual(try schedule(body).status, 201)
    }

    func test_scheduledWork_runsAtItsTime_likeRunNow_andFollowsTheExecution() throws {
        let (agent, _) = try createAgent("soon", trigger: "TRIGGERED")
        let created = try schedule(["scheduled_for": .string(future(1.5)), "workflow_id": .int(Int64(agent)!), "ticket_id": "TK-7",
                                    "additional_custom_instructions": "quickly"])
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(created.data?["id"]?.intValue)
        let deadline = Date().addingTimeInterval(15)
        var work = created.data ?? .null
        while Date() < deadline {
            work = try server.request("GET", "/public-api/scheduled-work/\(id)").data ?? .null
            if work["status"] == "COMPLETED" || work["status"] == "FAILED" { break }
            usleep(100_000)
        }
        XCTAssertEqual(work["status"], "COMPLETED", "\(work)")
        XCTAssertNotNil(work["executed_at"]?.stringValue)
        let executionId = try XCTUnwrap(work["execution_temporal_run_id"]?.stringValue)
        let run = try server.request("GET", "/public-api/executions/\(executionId)").data
        XCTAssertEqual(run?["status"], "succeeded")
        XCTAssertEqual(run?["entity_id"], "TK-7")
        XCTAssertEqual(run?["additional_custom_instructions"], "quickly")
        XCTAssertEqual(run?["trigger"], ["type": "SCHEDULED_WORK", "scheduled_work_id": .int(id)])
        XCTAssertEqual(try server.request("DELETE", "/public-api/scheduled-work/\(id)").status, 409, "work that ran cannot be cancelled")
    }
}

/// One real server, real time: an every-minute agent fires once per slot across a minute boundary, and a
/// SIGKILL and restart between two slots neither fires a slot again nor loses the next. The server's clock is
/// shifted (NEO_TEST_CLOCK_OFFSET, rate 1) so that a minute boundary comes five seconds after start and the
/// test takes one real minute, not up to two.
final class ScheduleFiringTests: XCTestCase {
    func test_everyMinuteAgent_firesOncePerSlot_acrossARealMinute_andARestart() throws {
        let real = Date().timeIntervalSince1970
        // Server clock = real + offset: it reads hh:mm:55 now.
        let offset = 55 - real.truncatingRemainder(dividingBy: 60)
        let environment = ["NEO_TEST_CLOCK_OFFSET": String(offset), "NEO_RATE_LIMIT": "0"]
        let first = try TestServer(environment: environment)
        let created = try first.request("POST", "/public-api/agents", json: [
            "name": "every minute", "trigger_type": "SCHEDULED", "schedule": ["cron": "* * * * *"],
            "actions": [["action_type": "ADD_NOTE", "input_as_dict": ["template": "tick"]]]])
        XCTAssertEqual(created.status, 201, created.text)
        let agent = try XCTUnwrap(created.data?["id"]?.stringValue)
        let firstSlot = try XCTUnwrap(created.data?["next_run_at"]?.stringValue)

        /// The `scheduled_for` of each of the agent's executions (duplicates kept).
        func slots(_ server: TestServer) throws -> [String] {
            let runs = try server.request("GET", "/public-api/executions?agent_id=\(agent)&page_size=200").data?.arrayValue ?? []
            return runs.compactMap { $0["trigger"]?["scheduled_for"]?.stringValue }.sorted()
        }
        /// Polls until `count` slots fired or `slot` (the server's time) is 8 real seconds past.
        func wait(_ server: TestServer, for count: Int, slot: String) throws -> [String] {
            let deadline = Date(timeIntervalSince1970: (ISO8601DateFormatter.withMillis.date(from: slot)?.timeIntervalSince1970 ?? 0) - offset + 8)
            var seen = try slots(server)
            while seen.count < count && Date() < deadline {
                usleep(100_000)
                seen = try slots(server)
            }
            return seen
        }

        XCTAssertEqual(try wait(first, for: 1, slot: firstSlot), [firstSlot], "the first slot fires")
        let secondSlot = try XCTUnwrap(first.request("GET", "/public-api/agents/\(agent)").data?["next_run_at"]?.stringValue)
        XCTAssertGreaterThan(secondSlot, firstSlot)
        XCTAssertEqual(first.stop(signal: SIGKILL), SIGKILL)

        let second = try TestServer(environment: environment, directory: first.directory)
        defer { second.stop() }
        usleep(1_500_000)
        XCTAssertEqual(try slots(second), [firstSlot], "a restart fires nothing again")
        XCTAssertEqual(try wait(second, for: 2, slot: secondSlot), [firstSlot, secondSlot], "the next slot fires once after the restart")
        usleep(1_000_000)
        XCTAssertEqual(try slots(second), [firstSlot, secondSlot], "and only once")
        let runs = try second.request("GET", "/public-api/executions?agent_id=\(agent)").data?.arrayValue ?? []
        let finished = runs.filter { $0["status"] == "succeeded" || $0["status"] == "failed" }
        XCTAssertGreaterThanOrEqual(finished.count, 1, "the runner ran them")
        XCTAssertEqual(Set(runs.compactMap { $0["trigger"]?["type"]?.stringValue }), ["SCHEDULED"])
        XCTAssertTrue(second.log.contains(#""msg":"scheduler started""#))
        XCTAssertEqual(second.stop(), 0, "SIGTERM stops the scheduler and the server cleanly")
    }
}

private extension ISO8601DateFormatter {
    // Only read by formatting calls, which ISO8601DateFormatter allows from any thread.
    nonisolated(unsafe) static let withMillis: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}

import Basics
import Foundation
import NeoJSON
import Store
import XCTest
@testable import PublicAPI

/// `schedule` on create and PUT: a present but invalid schedule is 422 naming `schedule.cron` or
/// `schedule.timezone` with the bad token; a SCHEDULED agent without one is accepted with a warning; unknown keys
/// are kept. And the pure plan: which agents have a next_run_at, and when a write keeps the pending one.
final class ScheduleValidationTests: XCTestCase {
    private func create(_ fields: JSONObject) throws -> (document: JSONObject, warnings: [String]) {
        var body: JSONObject = ["name": "s", "trigger_type": "SCHEDULED", "actions": []]
        for (k, v) in fields { body[k] = v }
        let (document, warnings) = try newAgentDocument(body)
        return (document, warnings + scheduleWarnings(document))
    }

    /// The (field, issue) pairs of a refused body.
    private func refusal(_ fields: JSONObject) -> [(String, String)] {
        do {
            _ = try create(fields)
            return []
        } catch let e as APIError {
            XCTAssertEqual(e.status, 422)
            return e.details.map { ($0.field, $0.issue) }
        } catch {
            return [("?", "\(error)")]
        }
    }

    func test_invalidSchedules_are422_namingTheFieldAndToken() {
        let cases: [(String, JSONObject, String, String)] = [
            ("six fields", ["schedule": ["cron": "0 0 * * * *"]], "schedule.cron", "got 6"),
            ("minute 61", ["schedule": ["cron": "61 * * * *"]], "schedule.cron", "'61' is out of range 0-59"),
            ("hour 24", ["schedule": ["cron": "0 24 * * *"]], "schedule.cron", "hour field: '24'"),
            ("bad name", ["schedule": ["cron": "0 0 * * FUNDAY"]], "schedule.cron", "'FUNDAY'"),
            ("never fires", ["schedule": ["cron": "0 0 30 2 *"]], "schedule.cron", "never occurs"),
            ("not a string", ["schedule": ["cron": 5]], "schedule.cron", "must be a string"),
            ("no cron beside other keys", ["schedule": ["timezone": "UTC"]], "schedule.cron", "is required"),
            ("unknown zone", ["schedule": ["cron": "0 8 * * *", "timezone": "Mars/Olympus_Mons"]], "schedule.timezone", "'Mars/Olympus_Mons'"),
            ("zone not a string", ["schedule": ["cron": "0 8 * * *", "timezone": 1]], "schedule.timezone", "must be a string"),
            ("schedule not an object", ["schedule": "0 8 * * *"], "schedule", "must be an object"),
        ]
        for (name, fields, field, token) in cases {
            let details = refusal(fields)
            XCTAssertEqual(details.map(\.0), [field], name)
            XCTAssertTrue(details.first?.1.contains(token) ?? false, "\(name): \(details)")
        }
    }

    func test_scheduledWithoutSchedule_isAcceptedWithAWarning() throws {
        for fields: JSONObject in [[:], ["schedule": nil], ["schedule": [:]], ["schedule": ["cron": nil]]] {
            let (_, warnings) = try create(fields)
            XCTAssertEqual(warnings.count, 1, "\(fields)")
            XCTAssertTrue(warnings.first?.hasPrefix("trigger_type is SCHEDULED but the agent has no schedule") ?? false, "\(warnings)")
        }
    }

    func test_validSchedule_keepsUnknownKeysVerbatim_noWarning() throws {
        let (document, warnings) = try create(["schedule": ["cron": "0 8 * * MON-FRI", "timezone": "Europe/Berlin", "label": ["x": 1]]])
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(document["schedule"], ["cron": "0 8 * * MON-FRI", "timezone": "Europe/Berlin", "label": ["x": 1]])
    }

    func test_zones_areTheTzDatabases_includingNamesFoundationDoesNotList() throws {
        for zone in ["Asia/Kolkata", "Etc/GMT+5", "America/Argentina/Buenos_Aires", "UTC", "Europe/Berlin"] {
            XCTAssertNoThrow(try create(["schedule": ["cron": "0 8 * * *", "timezone": .string(zone)]]), zone)
        }
        XCTAssertEqual(refusal(["schedule": ["cron": "0 8 * * *", "timezone": "Europe/Springfield"]]).map(\.0), ["schedule.timezone"])
        XCTAssertEqual(refusal(["schedule": ["cron": "0 8 * * *", "timezone": "../../etc/passwd"]]).map(\.0), ["schedule.timezone"])
    }

    func test_otherTriggerTypes_keepTemplateSchedules_butACronMustStillParse() throws {
        let base: JSONObject = ["name": "t", "trigger_type": "TRIGGERED", "actions": []]
        var template = base
        template["schedule"] = ["opaque": true]
        XCTAssertNoThrow(try newAgentDocument(template), "Neo's templates carry schedule blobs on any agent")
        var withCron = base
        withCron["schedule"] = ["cron": "* * * * *"]
        let (document, _) = try newAgentDocument(withCron)
        XCTAssertEqual(scheduleWarnings(document).first?.hasPrefix("schedule is kept but not run") ?? false, true)
        var bad = base
        bad["schedule"] = ["cron": "* * *"]
        XCTAssertThrowsError(try newAgentDocument(bad))
    }

    func test_put_validatesTheScheduleAsMerged() throws {
        let (agent, _) = try create(["schedule": ["cron": "0 8 * * *"]])
        XCTAssertThrowsError(try applyAgentPatch(["schedule": ["cron": "0 8 * *"]], to: agent)) { error in
            XCTAssertEqual((error as? APIError)?.details.map(\.field), ["schedule.cron"])
        }
        // Switching a TRIGGERED agent with a template blob to SCHEDULED checks the blob it keeps.
        let (triggered, _) = try newAgentDocument(["name": "t", "trigger_type": "TRIGGERED", "actions": [], "schedule": ["opaque": true]])
        XCTAssertThrowsError(try applyAgentPatch(["trigger_type": "SCHEDULED"], to: triggered)) { error in
            XCTAssertEqual((error as? APIError)?.details.map(\.field), ["schedule.cron"])
        }
        // An edit that touches neither keeps a stored schedule as it is (agents stored before validation).
        var legacy = agent
        legacy["schedule"] = ["cron": "every day"]
        let edited = try applyAgentPatch(["description": "x"], to: legacy).agent
        XCTAssertEqual(edited["schedule"], ["cron": "every day"])
        XCTAssertTrue(scheduleWarnings(edited).first?.contains("never fires until the schedule is fixed") ?? false)
        XCTAssertTrue(try applyAgentPatch(["next_run_at": "2030-01-01T00:00:00Z"], to: agent).warnings.contains("read-only field 'next_run_at' ignored"))
    }

    func test_effective_onlyEnabledScheduledAgentsWithAValidSchedule() throws {
        let (agent, _) = try create(["schedule": ["cron": "0 8 * * *"]])
        XCTAssertEqual(AgentSchedule.effective(agent, tenantZone: nil), AgentSchedule(cron: "0 8 * * *", zone: "UTC"))
        XCTAssertEqual(AgentSchedule.effective(agent, tenantZone: "Europe/Berlin")?.zone, "Europe/Berlin")
        for (key, value) in [("state", JSON.string("DISABLED")), ("state", "DELETED"), ("trigger_type", "NONE"), ("schedule", .null)] {
            var changed = agent
            changed[key] = value
            XCTAssertNil(AgentSchedule.effective(changed, tenantZone: nil), "\(key) = \(value)")
        }
    }

    func test_plannedNextRun_keepsThePendingSlotWhileTheScheduleIsUnchanged() {
        let now = Timestamp.parse("2026-12-01T10:00:30Z")!
        let hourly = AgentSchedule(cron: "0 * * * *", zone: "UTC")
        XCTAssertEqual(AgentSchedule.plannedNextRun(hourly, stored: nil, storedNext: nil, now: now), "2026-12-01T11:00:00.000Z")
        XCTAssertEqual(AgentSchedule.plannedNextRun(hourly, stored: hourly, storedNext: "2026-12-01T10:00:00.000Z", now: now),
                       "2026-12-01T10:00:00.000Z", "a due slot survives an unrelated write")
        XCTAssertEqual(AgentSchedule.plannedNextRun(AgentSchedule(cron: "*/15 * * * *", zone: "UTC"), stored: hourly,
                                                    storedNext: "2026-12-01T11:00:00.000Z", now: now), "2026-12-01T10:15:00.000Z")
        XCTAssertEqual(AgentSchedule.plannedNextRun(AgentSchedule(cron: "0 * * * *", zone: "Asia/Kolkata"), stored: hourly,
                                                    storedNext: "2026-12-01T11:00:00.000Z", now: now), "2026-12-01T10:30:00.000Z",
                       "a new zone is a new schedule (Kolkata is UTC+5:30)")
        XCTAssertNil(AgentSchedule.plannedNextRun(nil, stored: hourly, storedNext: "2026-12-01T11:00:00.000Z", now: now))
    }
}

import Basics
import Foundation
import NeoJSON
import Store
import XCTest
@testable import PublicAPI

/// A clock the test sets: every tick sees exactly the instant the test chose.
final class ManualClock: SchedulerClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date

    init(_ text: String) { current = ManualClock.date(text) }

    static func date(_ text: String) -> Date {
        guard let date = Timestamp.parse(text) else { fatalError("bad test date \(text)") }
        return date
    }

    func set(_ text: String) { lock.withLock { current = ManualClock.date(text) } }
    func now() -> Date { lock.withLock { current } }
    func realSeconds(until instant: Date) -> TimeInterval { instant.timeIntervalSince(now()) }
}

/// The scheduler against a real SQLite store and a manual clock: a slot fires once, catch-up runs only the
/// latest missed slot inside the window, disabling, deleting and editing act on the next slot, and neither a
/// restart nor a clock set back fires a slot twice. Scheduled work fires, follows its run and can be cancelled.
final class SchedulerTests: XCTestCase {
    private var directory = ""
    private var store: Store!
    private var tenantId: Int64 = 0
    private let clock = ManualClock("2026-12-01T10:00:30Z")

    override func setUpWithError() throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("neo-scheduler-\(UUID().uuidString)")
        store = try openStore()
        try store.migrate()
        tenantId = try KeyService(store: store).tenant(named: "scheduler-tests")
    }

    override func tearDownWithError() throws {
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func openStore() throws -> Store {
        try Store(Store.Options(path: (directory as NSString).appendingPathComponent("neo.db")))
    }

    private func scheduler(catchup: TimeInterval = 3600, on store: Store? = nil) -> Scheduler {
        Scheduler(store: store ?? self.store, clock: clock, catchup: catchup, logger: Logger(level: .error))
    }

    // MARK: helpers

    /// Creates a SCHEDULED agent as POST /agents does; returns its id.
    private func createAgent(_ schedule: JSON?, name: String = "scheduled", using s: Scheduler) throws -> Int64 {
        var body: JSONObject = ["name": .string(name), "trigger_type": "SCHEDULED", "actions": []]
        if let schedule { body["schedule"] = schedule }
        let (document, _) = try newAgentDocument(body)
        return try store.write { db in
            let stored = try AgentRecords.insert(document, tenantId: tenantId, actor: .null, now: Timestamp.now(), db)
            let id = Int64(stored["id"]!.stringValue!)!
            try s.agentWritten(id, tenantId: tenantId, document: stored, db)
            return id
        }
    }

    /// Applies a PUT body as PUT /agents/{id} does.
    private func patch(_ id: Int64, _ body: JSONObject, using s: Scheduler) throws {
        try store.write { db in
            let (current, version) = try AgentRecords.load(id, tenantId: tenantId, db)
            let merged = try applyAgentPatch(body, to: current).agent
            let stored = try AgentRecords.update(id, tenantId: tenantId, expectedVersion: version, document: merged, actor: .null,
                                                 now: Timestamp.now(), db)
            try s.agentWritten(id, tenantId: tenantId, document: stored, db)
        }
    }

    private func nextRunAt(_ id: Int64) throws -> String? {
        try store.read { try ScheduleRecords.nextRunAt(agentId: id, tenantId: tenantId, $0) }
    }

    /// The `scheduled_for` of every execution of the agent, oldest first (duplicates kept: none may exist).
    private func firedSlots(_ id: Int64) throws -> [String] {
        let runs = try store.read { try ExecutionRecords.list(tenantId: tenantId, .init(agentId: id), page: Page(size: 200, after: nil, binding: ""), $0).0 }
        return runs.compactMap { $0.trigger["scheduled_for"]?.stringValue }.sorted()
    }

    private func tick(_ s: Scheduler, at time: String) throws {
        clock.set(time)
        try s.tick()
    }

    // MARK: agents

    func test_slot_firesExactlyOnce_withItsTrigger() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "* * * * *"], using: s)
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:01:00.000Z")
        try tick(s, at: "2026-12-01T10:00:59.999Z")
        XCTAssertEqual(try firedSlots(id), [], "not before its slot")
        try tick(s, at: "2026-12-01T10:01:00Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:01:00.000Z"])
        try tick(s, at: "2026-12-01T10:01:00Z")
        try tick(s, at: "2026-12-01T10:01:40Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:01:00.000Z"], "a slot fires once")
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:02:00.000Z")
        try tick(s, at: "2026-12-01T10:02:00.250Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:01:00.000Z", "2026-12-01T10:02:00.000Z"])

        let runs = try store.read { try ExecutionRecords.list(tenantId: tenantId, .init(agentId: id), page: Page(size: 10, after: nil, binding: ""), $0).0 }
        XCTAssertEqual(runs.first?.status, .queued)
        XCTAssertEqual(runs.first?.trigger, ["type": "SCHEDULED", "scheduled_for": "2026-12-01T10:02:00.000Z"])
        XCTAssertEqual(try store.read { try ScheduleRecords.fired(agentId: id, $0) }.map(\.executionId).sorted(), runs.map(\.id).sorted(),
                       "each fired slot row names its execution")
    }

    func test_tick_returnsTheNextDueInstant() throws {
        let s = scheduler()
        XCTAssertNil(try s.tick(), "nothing planned")
        _ = try createAgent(["cron": "*/5 * * * *"], using: s)
        clock.set("2026-12-01T10:01:00Z")
        XCTAssertEqual(try s.tick(), ManualClock.date("2026-12-01T10:05:00Z"))
    }

    func test_catchUp_runsOnlyTheLatestMissedSlot_withinTheWindow() throws {
        let s = scheduler(catchup: 3600)
        let id = try createAgent(["cron": "*/5 * * * *"], using: s)
        // Down from 10:00:30 to 10:32: slots 10:05 … 10:30 were missed; only 10:30 runs.
        try tick(s, at: "2026-12-01T10:32:00Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:30:00.000Z"])
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:35:00.000Z")
        try tick(s, at: "2026-12-01T10:35:00Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:30:00.000Z", "2026-12-01T10:35:00.000Z"])
    }

    func test_catchUp_runsNothing_whenTheLatestMissedSlotIsOutsideTheWindow() throws {
        let s = scheduler(catchup: 600)
        let id = try createAgent(["cron": "0 * * * *"], using: s)
        // The latest missed slot, 11:00, is 45 minutes old at 11:45: beyond a 10-minute window.
        try tick(s, at: "2026-12-01T11:45:00Z")
        XCTAssertEqual(try firedSlots(id), [])
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T12:00:00.000Z")
        try tick(s, at: "2026-12-01T12:00:01Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T12:00:00.000Z"], "the schedule goes on from the next slot")
    }

    func test_catchUp_windowEdge_isInclusive() throws {
        let s = scheduler(catchup: 600)
        let id = try createAgent(["cron": "0 * * * *"], using: s)
        try tick(s, at: "2026-12-01T11:10:00Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T11:00:00.000Z"], "exactly NEO_SCHEDULE_CATCHUP seconds late still runs")
        let other = try createAgent(["cron": "0 * * * *"], name: "later", using: s)
        try tick(s, at: "2026-12-01T12:10:00.001Z")
        XCTAssertEqual(try firedSlots(other), [], "a millisecond beyond the window does not")
    }

    func test_catchUp_afterLongDowntime_walksOnlyTheWindow() throws {
        let s = scheduler(catchup: 120)
        let id = try createAgent(["cron": "* * * * *"], using: s)
        try tick(s, at: "2027-03-01T09:30:30Z")
        XCTAssertEqual(try firedSlots(id), ["2027-03-01T09:30:00.000Z"], "three months down: the latest minute runs")
    }

    func test_disable_stopsAtOnce_andReenableDoesNotCatchUp() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "* * * * *"], using: s)
        try patch(id, ["state": "DISABLED"], using: s)
        XCTAssertNil(try nextRunAt(id))
        try tick(s, at: "2026-12-01T10:05:00Z")
        XCTAssertEqual(try firedSlots(id), [], "a disabled agent does not fire")
        clock.set("2026-12-01T10:05:30Z")
        try patch(id, ["state": "ENABLED"], using: s)
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:06:00.000Z", "no catch-up for the time it was off")
        try tick(s, at: "2026-12-01T10:06:00Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:06:00.000Z"])
    }

    func test_disable_whileASlotIsDue_stopsThatSlotToo() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "* * * * *"], using: s)
        clock.set("2026-12-01T10:01:00.200Z")
        try patch(id, ["state": "DISABLED"], using: s)
        try s.tick()
        XCTAssertEqual(try firedSlots(id), [])
    }

    func test_delete_stopsTheSchedule() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "* * * * *"], using: s)
        try patch(id, ["state": "DELETED"], using: s)
        try tick(s, at: "2026-12-01T10:03:00Z")
        XCTAssertEqual(try firedSlots(id), [])
        XCTAssertNil(try nextRunAt(id))
    }

    func test_cronEdit_takesEffectFromTheNextSlot() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "0 * * * *"], using: s)
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T11:00:00.000Z")
        clock.set("2026-12-01T10:10:00Z")
        try patch(id, ["schedule": ["cron": "*/15 * * * *"]], using: s)
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:15:00.000Z")
        try tick(s, at: "2026-12-01T10:15:00Z")
        try tick(s, at: "2026-12-01T11:00:00Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:15:00.000Z", "2026-12-01T11:00:00.000Z"])
    }

    func test_unrelatedEdit_keepsTheDueSlot() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "* * * * *"], using: s)
        // A write lands after the 10:01 slot came due but before the scheduler fired it: the slot still fires.
        clock.set("2026-12-01T10:01:00.300Z")
        try patch(id, ["description": "edited"], using: s)
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:01:00.000Z")
        try s.tick()
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:01:00.000Z"])
    }

    func test_restart_doesNotFireASlotAgain() throws {
        let first = scheduler()
        let id = try createAgent(["cron": "* * * * *"], using: first)
        try tick(first, at: "2026-12-01T10:01:00.100Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:01:00.000Z"])
        // Another process on the same file (a restart) at the same instant.
        let reopened = try openStore()
        defer { reopened.close() }
        let second = scheduler(on: reopened)
        try second.start()
        second.stop()
        try second.tick()
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:01:00.000Z"])
    }

    func test_clockSetBack_cannotFireAFiredSlot_theSlotKeyRefusesIt() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "* * * * *"], using: s)
        try tick(s, at: "2026-12-01T10:01:00Z")
        // The clock steps back (NTP, another node behind): a cron edit plans 10:01 again, which has fired.
        clock.set("2026-12-01T10:00:40Z")
        try patch(id, ["schedule": ["cron": "*/1 * * * *"]], using: s)
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:01:00.000Z")
        try tick(s, at: "2026-12-01T10:01:05Z")
        XCTAssertEqual(try firedSlots(id), ["2026-12-01T10:01:00.000Z"], "the (agent, slot) key refuses the second fire")
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:02:00.000Z", "and the plan moves on")
    }

    func test_slotKey_refusesASecondRowForASlot_andNothingOfThatWriteIsKept() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "* * * * *"], using: s)
        try tick(s, at: "2026-12-01T10:01:00Z")
        let fired = try store.read { try ScheduleRecords.fired(agentId: id, $0) }
        XCTAssertThrowsError(try store.write { db in
            let again = SecureRandom.uuid()
            try ExecutionRecords.insert(ExecutionRecords.NewExecution(tenantId: tenantId, agentId: id, agentName: "x", kind: .agentRun,
                                                                      status: .queued, input: nil, keyId: nil), id: again, now: Timestamp.now(), db)
            try ScheduleRecords.recordFired(agentId: id, tenantId: tenantId, slot: "2026-12-01T10:01:00.000Z", executionId: again,
                                            firedAt: Timestamp.now(), db)
        }, "the primary key (agent_id, slot) refuses a second fire of a slot")
        XCTAssertEqual(try store.read { try ScheduleRecords.fired(agentId: id, $0) }.map(\.executionId), fired.map(\.executionId))
        let runs = try store.read { try ExecutionRecords.list(tenantId: tenantId, .init(agentId: id), page: Page(size: 10, after: nil, binding: ""), $0).0 }
        XCTAssertEqual(runs.count, 1, "the refused write's execution is rolled back with it")
    }

    func test_manyAgentsDueTogether_allFireOnce_acrossBatches() throws {
        let s = scheduler()
        let count = Scheduler.batchSize * 2 + 17
        let ids = try (0..<count).map { try createAgent(["cron": "* * * * *"], name: "a\($0)", using: s) }
        try tick(s, at: "2026-12-01T10:01:00.500Z")
        try tick(s, at: "2026-12-01T10:01:01Z")
        let fired = try store.read { try $0.queryOne("SELECT COUNT(*) AS n, COUNT(DISTINCT agent_id) AS agents FROM schedule_slots") }
        XCTAssertEqual(fired?.int("n"), Int64(count))
        XCTAssertEqual(fired?.int("agents"), Int64(count))
        XCTAssertEqual(try firedSlots(ids.last!), ["2026-12-01T10:01:00.000Z"])
    }

    func test_zone_defaultsToTheTenantsThenUTC_andFollowsItsChange() throws {
        let s = scheduler()
        let utc = try createAgent(["cron": "0 9 * * *"], using: s)
        XCTAssertEqual(try nextRunAt(utc), "2026-12-02T09:00:00.000Z", "UTC by default")
        let own = try createAgent(["cron": "0 9 * * *", "timezone": "Asia/Tokyo"], using: s)
        XCTAssertEqual(try nextRunAt(own), "2026-12-02T00:00:00.000Z")
        try store.write { db in
            var settings = TenantSettings()
            settings.timezone = "America/New_York"
            try SettingsRecords.save(settings, tenantId: tenantId, now: Timestamp.now(), db)
            try s.tenantTimeZoneChanged(tenantId, db)
        }
        XCTAssertEqual(try nextRunAt(utc), "2026-12-01T14:00:00.000Z", "09:00 in New York (EST)")
        XCTAssertEqual(try nextRunAt(own), "2026-12-02T00:00:00.000Z", "an agent's own zone wins")
        let berlin = try createAgent(["cron": "0 9 * * *", "timezone": nil], using: s)
        XCTAssertEqual(try nextRunAt(berlin), "2026-12-01T14:00:00.000Z", "a null timezone is the tenant's")
    }

    func test_dstSkippedLocalTime_firesAtTheFirstInstantAfterTheGap() throws {
        // 2027-03-14 02:30 does not exist in New York: the slot is 03:00 EDT = 07:00Z.
        clock.set("2027-03-13T12:00:00Z")
        let s = scheduler()
        let id = try createAgent(["cron": "30 2 * * *", "timezone": "America/New_York"], using: s)
        XCTAssertEqual(try nextRunAt(id), "2027-03-14T07:00:00.000Z")
        try tick(s, at: "2027-03-14T07:00:00Z")
        XCTAssertEqual(try firedSlots(id), ["2027-03-14T07:00:00.000Z"])
        XCTAssertEqual(try nextRunAt(id), "2027-03-15T06:30:00.000Z")
    }

    func test_agentsWithoutAFiringSchedule_haveNoNextRun() throws {
        let s = scheduler()
        XCTAssertNil(try nextRunAt(try createAgent(nil, using: s)), "no schedule")
        XCTAssertNil(try nextRunAt(try createAgent([:], using: s)), "an empty schedule")
        let triggered = try store.write { db -> Int64 in
            let (document, _) = try newAgentDocument(["name": "t", "trigger_type": "TRIGGERED", "actions": [], "schedule": ["cron": "* * * * *"]])
            let stored = try AgentRecords.insert(document, tenantId: tenantId, actor: .null, now: Timestamp.now(), db)
            let id = Int64(stored["id"]!.stringValue!)!
            try s.agentWritten(id, tenantId: tenantId, document: stored, db)
            return id
        }
        XCTAssertNil(try nextRunAt(triggered), "only SCHEDULED agents fire")
    }

    func test_start_plansAgentsWrittenBeforeSchedulesRan() throws {
        let s = scheduler()
        let id = try createAgent(["cron": "*/10 * * * *"], using: s)
        try store.write { try ScheduleRecords.setPlan(agentId: id, ScheduleRecords.Plan(), $0) }
        XCTAssertNil(try nextRunAt(id))
        try s.start()
        s.stop()
        XCTAssertEqual(try nextRunAt(id), "2026-12-01T10:10:00.000Z")
    }

    func test_slots_pure_latestWithinWindowAndNextAfterNow() throws {
        let cron = try CronSchedule("*/10 * * * *")
        let utc = TimeZone(identifier: "UTC")!
        func run(_ planned: String, _ now: String, _ catchup: TimeInterval) -> [String?] {
            let (run, next) = Scheduler.slots(from: ManualClock.date(planned), cron: cron, zone: utc, now: ManualClock.date(now), catchup: catchup)
            return [run.map(Timestamp.format), next.map(Timestamp.format)]
        }
        XCTAssertEqual(run("2026-12-01T10:10:00Z", "2026-12-01T10:10:00Z", 60), ["2026-12-01T10:10:00.000Z", "2026-12-01T10:20:00.000Z"])
        XCTAssertEqual(run("2026-12-01T10:10:00Z", "2026-12-01T10:45:00Z", 3600), ["2026-12-01T10:40:00.000Z", "2026-12-01T10:50:00.000Z"])
        XCTAssertEqual(run("2026-12-01T10:10:00Z", "2026-12-01T10:45:00Z", 240), [nil, "2026-12-01T10:50:00.000Z"])
        XCTAssertEqual(run("2026-12-01T10:10:00Z", "2026-12-01T10:45:00Z", 0), [nil, "2026-12-01T10:50:00.000Z"])
        XCTAssertEqual(run("2026-12-01T10:10:00Z", "2026-12-01T10:40:00Z", 0), ["2026-12-01T10:40:00.000Z", "2026-12-01T10:50:00.000Z"])
    }

    // MARK: scheduled work

    private func schedule(_ agentId: Int64, at time: String, ticket: String? = "T-1") throws -> Int64 {
        let draft = ScheduledWorkRecords.Draft(tenantId: tenantId, workflowId: agentId, workflowName: "w", scheduledFor: time,
                                               ticketId: ticket, instructions: "be brief", createdBy: "api_key:1")
        return try store.write { try ScheduledWorkRecords.insert(draft, now: Timestamp.now(), $0).id }
    }

    private func work(_ id: Int64) throws -> ScheduledWork {
        try XCTUnwrap(try store.read { try ScheduledWorkRecords.find(id, tenantId: tenantId, $0) })
    }

    func test_scheduledWork_firesAtItsTime_thenFollowsItsExecution() throws {
        let s = scheduler()
        let agent = try createAgent(nil, using: s)
        let ok = try schedule(agent, at: "2026-12-01T10:05:00.000Z")
        let failing = try schedule(agent, at: "2026-12-01T10:05:00.000Z")
        try tick(s, at: "2026-12-01T10:04:59Z")
        XCTAssertEqual(try work(ok).status, .pending)
        try tick(s, at: "2026-12-01T10:05:00Z")
        let started = try work(ok)
        XCTAssertEqual(started.status, .processing)
        XCTAssertEqual(started.executedAt, "2026-12-01T10:05:00.000Z")
        let executionId = try XCTUnwrap(started.executionId)
        let run = try XCTUnwrap(try store.read { try ExecutionRecords.find(executionId, tenantId: tenantId, $0) })
        XCTAssertEqual(run.trigger, ["type": "SCHEDULED_WORK", "scheduled_work_id": .int(ok)])
        XCTAssertEqual(run.entityId, "T-1", "target_entity_id = ticket_id")
        XCTAssertEqual(run.additionalCustomInstructions, "be brief")

        try store.write { db in
            try ExecutionRecords.finish(executionId, as: .succeeded, error: nil, message: "completed 0 action(s)", now: Timestamp.now(), from: .queued, db)
            try ExecutionRecords.finish(try self.work(failing).executionId!, as: .failed, error: "boom", message: "boom", now: Timestamp.now(), from: .queued, db)
        }
        try tick(s, at: "2026-12-01T10:05:01Z")
        XCTAssertEqual(try work(ok).status, .completed)
        XCTAssertEqual(try work(ok).executionMessage, "completed 0 action(s)")
        XCTAssertEqual(try work(failing).status, .failed)
        XCTAssertEqual(try work(failing).executionMessage, "boom")
    }

    func test_scheduledWork_cancelled_neverFires() throws {
        let s = scheduler()
        let id = try schedule(try createAgent(nil, using: s), at: "2026-12-01T10:05:00.000Z")
        XCTAssertTrue(try store.write { try ScheduledWorkRecords.cancel(id, tenantId: tenantId, now: Timestamp.now(), $0) })
        try tick(s, at: "2026-12-01T10:06:00Z")
        XCTAssertEqual(try work(id).status, .cancelled)
        XCTAssertNil(try work(id).executionId)
        XCTAssertFalse(try store.write { try ScheduledWorkRecords.cancel(id, tenantId: tenantId, now: Timestamp.now(), $0) }, "once")
    }

    func test_scheduledWork_failsWithoutARun_whenItsAgentCannotRunOrItWasMissed() throws {
        let s = scheduler(catchup: 60)
        let agent = try createAgent(nil, using: s)
        let disabled = try schedule(agent, at: "2026-12-01T10:05:00.000Z")
        let missed = try schedule(try createAgent(nil, name: "other", using: s), at: "2026-12-01T10:01:00.000Z")
        try patch(agent, ["state": "DISABLED"], using: s)
        try tick(s, at: "2026-12-01T10:05:00Z")
        XCTAssertEqual(try work(disabled).status, .failed)
        XCTAssertEqual(try work(disabled).executionMessage, "agent \(agent) is DISABLED; enable it before it runs")
        XCTAssertEqual(try work(missed).status, .failed)
        let message = try work(missed).executionMessage ?? ""
        XCTAssertTrue(message.hasPrefix("missed:"), message)
        XCTAssertNil(try work(missed).executionId)
    }
}

import Basics
import Foundation
import NeoJSON
import Store

/// Starts agents on their schedules and scheduled work at its time (design §9). One thread wakes at the next
/// due instant (at most a second apart, and when an agent write pokes it) and runs `tick`. Each fired slot is a
/// row keyed by (agent, slot) inserted in the transaction that queues its execution and moves the agent's
/// next_run_at, so a slot fires at most once however often the process restarts; after downtime only the
/// latest missed slot runs, and only within `catchup` seconds of it. Time comes from `clock`.
public final class Scheduler: Sendable {
    let store: Store
    let clock: SchedulerClock
    /// NEO_SCHEDULE_CATCHUP: how late a missed slot (or scheduled work) may still run.
    let catchup: TimeInterval
    let logger: Logger
    /// Told how many executions a tick queued (the runner wakes); set while the service is assembled.
    private let queuedHandler: Lock<@Sendable (Int) -> Void>
    /// Agents (or entries) read and fired at a time, and how long one transaction may go on firing batches.
    static let batchSize = 256
    static let transactionSeconds = 0.1

    private struct LoopState {
        var stopping = false
        var poked = false
        /// The thread is started and has not returned.
        var running = false
    }
    /// The thread's state; its condition variable wakes the thread on a poke or stop.
    private let state = Lock(LoopState())
    /// Parsed crons and zones by text.
    private struct Parsed {
        var crons: [String: CronSchedule] = [:]
        var zones: [String: TimeZone] = [:]
    }
    private let parsed = Lock(Parsed())

    public init(store: Store, clock: SchedulerClock, catchup: TimeInterval, logger: Logger,
                queued: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.store = store
        self.clock = clock
        self.catchup = catchup
        self.logger = logger
        self.queuedHandler = Lock(queued)
    }

    /// Who is told how many executions a tick queued.
    var queued: @Sendable (Int) -> Void {
        get { queuedHandler.withLock { $0 } }
        set { queuedHandler.withLock { $0 = newValue } }
    }

    // MARK: running

    /// Plans agents written before schedules ran, catches up on what came due while the server was down (the
    /// first tick, before the caller serves), then starts the thread.
    public func start() throws {
        let planned = try store.write { db -> Int in
            let agents = try ScheduleRecords.toPlan(tenantId: nil, db)
            for agent in agents { try agentWritten(agent.id, tenantId: agent.tenantId, document: agent.document, db) }
            return agents.count
        }
        let now = Scheduler.wholeMilliseconds(clock.now())
        logger.info("scheduler started", ["now": .string(Timestamp.format(now)), "catchup_seconds": .int(Int64(catchup)),
                                          "agents_planned": .int(Int64(planned))])
        do { try tick(at: now) } catch {
            logger.error("scheduler catch-up failed; the thread tries again", ["error": .string(String(describing: error))])
        }
        let t = Thread { [unowned self] in self.loop() }
        t.name = "neo-scheduler"
        state.withLock { $0.running = true }
        t.start()
    }

    /// Stops the thread after the tick in progress (at most `deadline` seconds).
    public func stop(deadline: Double = 10) {
        state.withLock { $0.stopping = true }
        state.notifyAll()
        state.withLock(waitingUntil: { !$0.running }, timeout: deadline) { _, _ in }
    }

    /// Wakes the thread to look again (an agent write may have made a slot due sooner).
    func poke() {
        state.withLock { $0.poked = true }
        state.notifyAll()  // the loop, never only a stop() waiting on the same condition
    }

    private func loop() {
        while true {
            let stopping = state.withLock { state -> Bool in
                state.poked = false
                if state.stopping { state.running = false }
                return state.stopping
            }
            if stopping {
                state.notifyAll()
                return
            }
            var wait = 1.0
            do {
                if let next = try tick() { wait = min(1.0, max(0, clock.realSeconds(until: next))) }
            } catch {
                logger.error("scheduler tick failed", ["error": .string(String(describing: error))])
            }
            if wait > 0 {
                state.withLock(waitingUntil: { $0.stopping || $0.poked }, timeout: wait) { _, _ in }
            }
        }
    }

    // MARK: one tick

    /// Fires every agent slot and scheduled work due at `instant` (default: the clock's now), moves finished
    /// scheduled work on, and returns the next instant something is due (nil when nothing is planned).
    @discardableResult
    func tick(at instant: Date? = nil) throws -> Date? {
        let now = Scheduler.wholeMilliseconds(instant ?? clock.now())
        let nowText = Timestamp.format(now)
        let (agentDue, workDue, ended) = try store.read { db in
            (try ScheduleRecords.earliestDue(db), try ScheduledWorkRecords.earliestDue(db), try ScheduledWorkRecords.hasEndedRuns(db))
        }
        var started = 0
        if let due = agentDue, due <= nowText {
            started += try inBatches { db in
                let due = try ScheduleRecords.due(at: nowText, limit: Scheduler.batchSize, db)
                return (due.count, try due.filter { try fire($0, now: now, db) }.count)
            }
        }
        if let due = workDue, due <= nowText {
            started += try inBatches { db in
                let due = try ScheduledWorkRecords.due(at: nowText, limit: Scheduler.batchSize, db)
                return (due.count, try due.filter { try start($0, now: now, db) }.count)
            }
        }
        if ended { try followScheduledWork() }
        if started > 0 { queued(started) }
        guard started > 0 || agentDue.map({ $0 <= nowText }) == true || workDue.map({ $0 <= nowText }) == true else {
            return [agentDue, workDue].compactMap { $0 }.min().flatMap(Timestamp.parse)
        }
        let next = try store.read { db in
            [try ScheduleRecords.earliestDue(db), try ScheduledWorkRecords.earliestDue(db)].compactMap { $0 }.min()
        }
        return next.flatMap(Timestamp.parse)
    }

    /// `instant` cut to whole milliseconds, as timestamps are stored: what is due at its text is due at it.
    static func wholeMilliseconds(_ instant: Date) -> Date {
        Date(timeIntervalSince1970: (instant.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    /// Runs `batch` (up to `batchSize` agents or entries) again and again until one handles fewer than a full
    /// batch; returns the executions queued. Batches share a transaction for up to `transactionSeconds`: a burst
    /// (10,000 agents due in one minute) then commits, and waits for the writer between the runner's writes,
    /// a few times instead of once per batch.
    private func inBatches(_ batch: (Database) throws -> (handled: Int, queued: Int)) throws -> Int {
        var queued = 0
        var more = true
        while more {
            let started = monotonicNow()
            queued += try store.write { db -> Int in
                var count = 0
                repeat {
                    let (handled, fired) = try batch(db)
                    count += fired
                    more = handled == Scheduler.batchSize
                } while more && monotonicNow() - started < Scheduler.transactionSeconds
                return count
            }
        }
        return queued
    }

    private func cron(_ expression: String) -> CronSchedule? {
        if let known = parsed.withLock({ $0.crons[expression] }) { return known }
        let cron = try? CronSchedule(expression)
        if let cron { parsed.withLock { $0.crons[expression] = cron } }
        return cron
    }

    private func zone(_ name: String) -> TimeZone? {
        if let known = parsed.withLock({ $0.zones[name] }) { return known }
        let zone = ianaTimeZone(name)
        if let zone { parsed.withLock { $0.zones[name] = zone } }
        return zone
    }

    /// The slot to run now for an agent whose next_run_at is due: the latest slot at or before `now`, if it is
    /// within the catch-up window; and the first slot after `now`, the agent's next plan. Pure.
    static func slots(from planned: Date, cron: CronSchedule, zone: TimeZone, now: Date, catchup: TimeInterval) -> (run: Date?, next: Date?) {
        let oldest = now.addingTimeInterval(-catchup)
        var candidate: Date? = planned
        if planned < oldest {
            // Slots older than the window never run: start from the first one inside it.
            candidate = cron.next(after: oldest.addingTimeInterval(-1), in: zone)
            while let c = candidate, c < oldest { candidate = cron.next(after: c, in: zone) }
        }
        var run: Date?
        while let c = candidate, c <= now {
            run = c
            candidate = cron.next(after: c, in: zone)
        }
        return (run, candidate)
    }

    /// Fires one due agent inside the tick's transaction; true when it queued an execution.
    private func fire(_ agent: ScheduleRecords.DueAgent, now: Date, _ db: Database) throws -> Bool {
        guard let cron = cron(agent.schedule.cron), let zone = zone(agent.schedule.zone),
              let planned = Timestamp.parse(agent.nextRunAt) else {
            logger.warn("agent schedule unreadable; not fired", ["agent_id": .int(agent.id), "cron": .string(agent.schedule.cron)])
            try ScheduleRecords.advance(agentId: agent.id, to: nil, db)
            return false
        }
        let (run, next) = Scheduler.slots(from: planned, cron: cron, zone: zone, now: now, catchup: catchup)
        try ScheduleRecords.advance(agentId: agent.id, to: next.map(Timestamp.format), db)
        guard let run else {
            logger.info("missed slots skipped: the latest is older than NEO_SCHEDULE_CATCHUP", [
                "agent_id": .int(agent.id), "first_missed": .string(agent.nextRunAt),
                "next_run_at": next.map { .string(Timestamp.format($0)) } ?? .null])
            return false
        }
        let slot = Timestamp.format(run)
        if run > planned {
            logger.info("missed slots skipped; running the latest", ["agent_id": .int(agent.id), "first_missed": .string(agent.nextRunAt),
                                                                    "running": .string(slot)])
        }
        // This transaction holds the database's write lock, so the slot cannot be taken between the check and the
        // insert; the check keeps a fired slot from queueing a run, and the slot's primary key backs it up.
        if try ScheduleRecords.hasFired(agentId: agent.id, slot: slot, db) {
            logger.info("slot fired before; not fired again", ["agent_id": .int(agent.id), "slot": .string(slot)])
            return false
        }
        let executionId = SecureRandom.timeOrderedUUID()
        let trigger = JSON.object(JSONObject([("type", .string("SCHEDULED")), ("scheduled_for", .string(slot))]))
        try ExecutionRecords.insert(ExecutionRecords.NewExecution(
            tenantId: agent.tenantId, agentId: agent.id, agentName: agent.name, agentVersion: agent.version, kind: .agentRun,
            status: .queued, input: nil, keyId: nil, trigger: trigger), id: executionId, now: Timestamp.now(), db)
        try ScheduleRecords.recordFired(agentId: agent.id, tenantId: agent.tenantId, slot: slot, executionId: executionId,
                                        firedAt: Timestamp.format(now), db)
        return true
    }

    /// Starts one due scheduled-work entry inside the tick's transaction, like run-now with target_entity_id =
    /// ticket_id; an entry whose agent cannot run, or that is later than the catch-up window, fails instead.
    private func start(_ work: ScheduledWork, now: Date, _ db: Database) throws -> Bool {
        let nowText = Timestamp.format(now)
        let realNow = Timestamp.now()
        func refuse(_ message: String) throws -> Bool {
            try ScheduledWorkRecords.refused(work.id, message: message, executedAt: nowText, now: realNow, db)
            return false
        }
        if let due = Timestamp.parse(work.scheduledFor), now.timeIntervalSince(due) > catchup {
            return try refuse("missed: the server was not running at \(work.scheduledFor) nor within NEO_SCHEDULE_CATCHUP (\(Int(catchup)) s) after it")
        }
        guard let agent = try AgentRecords.document(work.workflowId, tenantId: work.tenantId, db) else {
            return try refuse("agent \(work.workflowId) no longer exists")
        }
        if let refusal = scheduledWorkRefusal(agent, agentId: work.workflowId, ticketId: work.ticketId) { return try refuse(refusal) }
        let executionId = SecureRandom.timeOrderedUUID()
        let trigger = JSON.object(JSONObject([("type", .string("SCHEDULED_WORK")), ("scheduled_work_id", .int(work.id))]))
        try ExecutionRecords.insert(ExecutionRecords.NewExecution(
            tenantId: work.tenantId, agentId: work.workflowId, agentName: agent["name"]?.stringValue ?? work.workflowName,
            agentVersion: agent["version"]?.intValue, kind: .agentRun, status: .queued, entityId: work.ticketId,
            instructions: work.additionalCustomInstructions, input: nil, keyId: nil, trigger: trigger), id: executionId, now: realNow, db)
        try ScheduledWorkRecords.started(work.id, executionId: executionId, executedAt: nowText, now: realNow, db)
        return true
    }

    /// PROCESSING scheduled work follows its execution to COMPLETED or FAILED.
    private func followScheduledWork() throws {
        try store.write { db in
            for run in try ScheduledWorkRecords.endedRuns(limit: 1000, db) {
                let status: ScheduledWorkStatus = run.status == .succeeded ? .completed : .failed
                let message = run.status == .cancelled ? "the execution was cancelled" : (run.message ?? run.status.rawValue)
                try ScheduledWorkRecords.ended(run.id, as: status, message: message, now: Timestamp.now(), db)
            }
        }
    }

    // MARK: agent writes

    /// What next_run_at becomes when `document` is written as agent `agentId` (nil for a new agent); `db` is
    /// the write's transaction (or a read, for test mode).
    func plannedNextRun(_ document: JSONObject, agentId: Int64?, tenantId: Int64, _ db: Database) throws -> String? {
        try plan(document, agentId: agentId, tenantZone: SettingsRecords.load(tenantId: tenantId, db).timezone, db).nextRunAt
    }

    /// Stores the agent's plan after a write (create, PUT, DELETE, an approved held edit) and returns its
    /// next_run_at; the write's caller pokes the scheduler after the commit.
    @discardableResult
    func agentWritten(_ agentId: Int64, tenantId: Int64, document: JSONObject, _ db: Database) throws -> String? {
        let zone = try SettingsRecords.load(tenantId: tenantId, db).timezone
        return try agentWritten(agentId, document: document, tenantZone: zone, isNew: false, db)
    }

    /// `agentWritten` with the tenant's time zone already read (a fixture's many agents read it once). `isNew`: the
    /// agent was inserted in this transaction, so it has no stored plan yet and an empty plan need not be written.
    @discardableResult
    func agentWritten(_ agentId: Int64, document: JSONObject, tenantZone: String?, isNew: Bool, _ db: Database) throws -> String? {
        let plan = try plan(document, agentId: isNew ? nil : agentId, tenantZone: tenantZone, db)
        // A new row's schedule columns are NULL already.
        if isNew && plan.schedule == nil && plan.nextRunAt == nil { return nil }
        try ScheduleRecords.setPlan(agentId: agentId, plan, db)
        return plan.nextRunAt
    }

    private func plan(_ document: JSONObject, agentId: Int64?, tenantZone: String?, _ db: Database) throws -> ScheduleRecords.Plan {
        let schedule = AgentSchedule.effective(document, tenantZone: tenantZone)
        let stored = try agentId.map { try ScheduleRecords.plan(agentId: $0, db) } ?? ScheduleRecords.Plan()
        let next = AgentSchedule.plannedNextRun(schedule, stored: stored.schedule, storedNext: stored.nextRunAt, now: clock.now())
        return ScheduleRecords.Plan(schedule: next == nil ? nil : schedule, nextRunAt: next)
    }

    /// A tenant's time zone changed: its scheduled agents without a zone of their own are planned again.
    func tenantTimeZoneChanged(_ tenantId: Int64, _ db: Database) throws {
        for agent in try ScheduleRecords.toPlan(tenantId: tenantId, db) {
            try agentWritten(agent.id, tenantId: tenantId, document: agent.document, db)
        }
    }

}

/// Why an agent cannot run as scheduled work now (the run-now rules), or nil when it can.
func scheduledWorkRefusal(_ agent: JSONObject, agentId: Int64, ticketId: String?) -> String? {
    if agent["autonomy_type"]?.stringValue == "CONVERSATIONAL" {
        return "agent \(agentId) is CONVERSATIONAL; conversational agents are reached through chat sessions, not scheduled work"
    }
    if let state = agent["state"]?.stringValue, state != "ENABLED" {
        return "agent \(agentId) is \(state); enable it before it runs"
    }
    if agent["trigger_type"]?.stringValue == "TRIGGERED" && ticketId == nil {
        return "agent \(agentId) is TRIGGERED and needs a ticket_id to run on"
    }
    return nil
}

import Foundation
import NeoJSON
import Store

/// SQL for agent schedules: each agent's planned slot (`next_run_at` and the schedule it came from) and the
/// fired slots, whose primary key (agent_id, slot) lets a slot fire at most once. Writes run inside the
/// caller's `store.write` transaction.
enum ScheduleRecords {
    /// An agent's stored plan: the schedule next_run_at was computed from, and next_run_at.
    struct Plan {
        var schedule: AgentSchedule?
        var nextRunAt: String?
    }

    static func plan(agentId: Int64, _ db: Database) throws -> Plan {
        guard let row = try db.queryOne("SELECT schedule_cron, schedule_zone, next_run_at FROM agents WHERE id = ?", [.int(agentId)]) else {
            return Plan()
        }
        var schedule: AgentSchedule?
        if let cron = row.string("schedule_cron"), let zone = row.string("schedule_zone") { schedule = AgentSchedule(cron: cron, zone: zone) }
        return Plan(schedule: schedule, nextRunAt: row.string("next_run_at"))
    }

    static func setPlan(agentId: Int64, _ plan: Plan, _ db: Database) throws {
        try db.execute("UPDATE agents SET schedule_cron = ?, schedule_zone = ?, next_run_at = ? WHERE id = ?",
                       [plan.schedule.map { .text($0.cron) } ?? .null, plan.schedule.map { .text($0.zone) } ?? .null,
                        plan.nextRunAt.map { .text($0) } ?? .null, .int(agentId)])
    }

    /// The read-only `next_run_at` of one agent as served.
    static func nextRunAt(agentId: Int64, tenantId: Int64, _ db: Database) throws -> String? {
        try db.queryOne("SELECT next_run_at FROM agents WHERE id = ? AND tenant_id = ?", [.int(agentId), .int(tenantId)])?.string("next_run_at")
    }

    /// Agents whose plan must be made again: a tenant's ENABLED SCHEDULED agents (its time zone changed), or,
    /// with `tenantId` nil, every ENABLED SCHEDULED agent without a plan (written before schedules ran).
    static func toPlan(tenantId: Int64?, _ db: Database) throws -> [(id: Int64, tenantId: Int64, document: JSONObject)] {
        let scope = tenantId == nil ? "schedule_cron IS NULL" : "tenant_id = ?"
        let rows = try db.query("""
            SELECT id, tenant_id, document FROM agents WHERE state = 'ENABLED' AND trigger_type = 'SCHEDULED' AND \(scope) ORDER BY id
            """, tenantId.map { [.int($0)] } ?? [])
        return rows.compactMap { row in
            guard let id = row.int("id"), let tenant = row.int("tenant_id"), let text = row.string("document"),
                  let document = try? JSON.parse(Array(text.utf8)).objectValue else { return nil }
            return (id, tenant, document)
        }
    }

    /// An agent with a slot due, as the scheduler needs it (no JSON document is read).
    struct DueAgent {
        let id: Int64
        let tenantId: Int64
        let name: String
        let version: Int64
        let nextRunAt: String
        let schedule: AgentSchedule
    }

    /// Up to `limit` agents whose next_run_at is at or before `now`, earliest first.
    static func due(at now: String, limit: Int, _ db: Database) throws -> [DueAgent] {
        try db.query("""
            SELECT id, tenant_id, name, version, next_run_at, schedule_cron, schedule_zone FROM agents
            WHERE next_run_at IS NOT NULL AND next_run_at <= ? AND state = 'ENABLED' AND trigger_type = 'SCHEDULED'
            ORDER BY next_run_at LIMIT ?
            """, [.text(now), .int(Int64(limit))]).compactMap { row in
            guard let id = row.int("id"), let tenantId = row.int("tenant_id"), let next = row.string("next_run_at"),
                  let cron = row.string("schedule_cron"), let zone = row.string("schedule_zone") else { return nil }
            return DueAgent(id: id, tenantId: tenantId, name: row.string("name") ?? "", version: row.int("version") ?? 0,
                            nextRunAt: next, schedule: AgentSchedule(cron: cron, zone: zone))
        }
    }

    /// The earliest planned slot of any agent.
    static func earliestDue(_ db: Database) throws -> String? {
        try db.queryOne("SELECT MIN(next_run_at) AS next FROM agents WHERE next_run_at IS NOT NULL")?.string("next")
    }

    /// Whether `slot` of the agent has fired.
    static func hasFired(agentId: Int64, slot: String, _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM schedule_slots WHERE agent_id = ? AND slot = ?", [.int(agentId), .text(slot)]) != nil
    }

    /// Records that `slot` of the agent fired as `executionId`, inserted by the caller just before in the same
    /// transaction. The primary key refuses a second row for a slot: the transaction fails, queueing nothing.
    static func recordFired(agentId: Int64, tenantId: Int64, slot: String, executionId: String, firedAt: String, _ db: Database) throws {
        try db.execute("INSERT INTO schedule_slots (agent_id, slot, tenant_id, execution_id, fired_at) VALUES (?, ?, ?, ?, ?)",
                       [.int(agentId), .text(slot), .int(tenantId), .text(executionId), .text(firedAt)])
    }

    /// Moves an agent's plan on to its next slot (nil stops it: the cron matches nothing any more).
    static func advance(agentId: Int64, to next: String?, _ db: Database) throws {
        try db.execute("UPDATE agents SET next_run_at = ? WHERE id = ?", [next.map { .text($0) } ?? .null, .int(agentId)])
    }

    /// The slots an agent fired, oldest first, with their executions.
    static func fired(agentId: Int64, _ db: Database) throws -> [(slot: String, executionId: String)] {
        try db.query("SELECT slot, execution_id FROM schedule_slots WHERE agent_id = ? ORDER BY slot", [.int(agentId)]).map {
            ($0.string("slot") ?? "", $0.string("execution_id") ?? "")
        }
    }
}

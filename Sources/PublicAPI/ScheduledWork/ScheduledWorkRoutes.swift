import Basics
import Foundation
import NeoJSON
import Store

/// `/scheduled-work` (Neo): one-off future runs of an agent. Create, list by page, get, and cancel while
/// pending; the scheduler starts each at its `scheduled_for`. Permission group `agents`.
enum ScheduledWorkRoutes {
    static func routes(store: Store, scheduler: Scheduler) -> [Route] {
        let read = Access.group(.agents, .read), write = Access.group(.agents, .read_write)
        return [
            Route("POST", "/public-api/scheduled-work", access: write, refusedInProcess: Route.queuesRuns) { try create($0, store, scheduler) },
            Route("GET", "/public-api/scheduled-work", access: read,
                  query: ["status", "ticket_id", "q", "page", "page_size"]) { try list($0, store) },
            Route("GET", "/public-api/scheduled-work/{scheduled_work_id}", access: read) { ctx in
                let id = try ctx.intParam("scheduled_work_id", resource: "scheduled work")
                guard let work = try ctx.timed({ try store.read { try ScheduledWorkRecords.find(id, tenantId: ctx.caller.tenantId, $0) } }) else {
                    throw APIError.notFound("scheduled work '\(id)' not found")
                }
                return Reply(data: work.json)
            },
            Route("DELETE", "/public-api/scheduled-work/{scheduled_work_id}", access: write) { try cancel($0, store) },
        ]
    }

    private static let testModeWarning = "test mode: not persisted"

    private static func create(_ ctx: RequestContext, _ store: Store, _ scheduler: Scheduler) throws -> Reply {
        let body = try ctx.jsonBody()
        let v = Validation()
        let r = FieldReader(body, validation: v)
        var scheduledFor: String?
        if let text = r.timestamp("scheduled_for", required: true), let instant = Timestamp.parse(text) {
            let now = scheduler.clock.now()
            if instant <= now {
                v.fail("scheduled_for", "must be in the future (got \(text); the server's time is \(Timestamp.format(now)))")
            } else {
                scheduledFor = text
            }
        }
        let workflowId = r.int("workflow_id", required: true, range: 1...Int64.max)
        var ticketId: String?
        if let raw = r.raw("ticket_id"), !raw.isNull {
            switch raw {
            case .string(let s) where !s.isEmpty && s.count <= 200: ticketId = s
            case .int(let n): ticketId = String(n)
            default: v.fail("ticket_id", "must be a non-empty string or integer of at most 200 characters")
            }
        }
        let instructions = r.string("additional_custom_instructions", maxLength: 10_000)
        r.warnUnknown()
        let tenantId = ctx.caller.tenantId
        let agent = try workflowId.flatMap { id in try ctx.timed { try store.read { try AgentRecords.document(id, tenantId: tenantId, $0) } } }
        if let workflowId {
            if let agent {
                if agent["autonomy_type"]?.stringValue == "CONVERSATIONAL" {
                    v.fail("workflow_id", "agent \(workflowId) is CONVERSATIONAL; conversational agents are reached through chat sessions, not scheduled work")
                } else if agent["trigger_type"]?.stringValue == "TRIGGERED" && ticketId == nil && v.ok {
                    v.fail("ticket_id", "is required: agent \(workflowId) is TRIGGERED and runs on a ticket")
                }
                if let state = agent["state"]?.stringValue, state != "ENABLED" {
                    v.warn("agent \(workflowId) is \(state): the work fails at \(scheduledFor ?? "its time") unless the agent is enabled by then")
                }
                let placeholders = (agent["actions"]?.arrayValue ?? []).flatMap { Templates.missing(in: $0["input_as_dict"] ?? .null, input: JSONObject()) }
                if !placeholders.isEmpty {
                    v.warn("agent \(workflowId)'s actions use " + placeholders.map { "{{\($0)}}" }.joined(separator: ", ")
                        + ", and scheduled work carries no input: its run fails before its first action unless the agent changes by then")
                }
            } else {
                v.fail("workflow_id", "no agent \(workflowId) in this tenant (GET /public-api/agents lists them)")
            }
        }
        ctx.warnings += v.warnings
        try v.check()
        guard let scheduledFor, let workflowId, let agent else { throw APIError.internalError() }
        let draft = ScheduledWorkRecords.Draft(tenantId: tenantId, workflowId: workflowId, workflowName: agent["name"]?.stringValue ?? "",
                                               scheduledFor: scheduledFor, ticketId: ticketId, instructions: instructions,
                                               createdBy: "api_key:\(ctx.caller.keyId)")
        if ctx.testMode {
            ctx.warnings.append(testModeWarning)
            return Reply(status: 201, data: ScheduledWork(unsaved: draft, now: Timestamp.now()).json)
        }
        let stored = try ctx.timed {
            try store.write { db in
                let stored = try ScheduledWorkRecords.insert(draft, now: Timestamp.now(), db)
                try ctx.audit(db, status: 201, .scheduledWork(stored.id), before: nil)
                return stored
            }
        }
        scheduler.poke()
        return Reply(status: 201, data: stored.json)
    }

    /// Neo pages this list by `page` (1-based), not by cursor: `meta.pagination.next_cursor` is always null.
    private static func list(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let page = try positive(ctx, "page", default: 1, max: 1_000_000)
        let size = try positive(ctx, "page_size", default: 50, max: 200)
        var filter = ScheduledWorkRecords.Filter()
        filter.statuses = try ListFilters.enumList(ctx, "status", ScheduledWorkStatus.names)
        if let ticket = try ctx.query("ticket_id"), !ticket.isEmpty { filter.ticketId = ticket }
        filter.search = try ctx.query("q")
        let (items, more) = try ctx.timed {
            try store.read { try ScheduledWorkRecords.list(tenantId: ctx.caller.tenantId, filter, page: page, size: size, $0) }
        }
        return Reply(data: .array(items.map(\.json)), pagination: PageInfo(hasMore: more, nextCursor: nil))
    }

    private static func positive(_ ctx: RequestContext, _ name: String, default value: Int, max: Int) throws -> Int {
        guard let raw = try ctx.query(name), !raw.isEmpty else { return value }
        guard let n = Int(raw), (1...max).contains(n) else {
            throw APIError.badRequest("\(name) must be an integer from 1 to \(max) (got '\(raw.prefix(64))')",
                                      details: [.init(field: name, issue: "must be 1-\(max)")])
        }
        return n
    }

    /// PENDING → CANCELLED; anything else is 409.
    private static func cancel(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let id = try ctx.intParam("scheduled_work_id", resource: "scheduled work")
        let tenantId = ctx.caller.tenantId
        let persist = !ctx.testMode
        let body = { (db: Database) throws -> ScheduledWork in
            guard let work = try ScheduledWorkRecords.find(id, tenantId: tenantId, db) else {
                throw APIError.notFound("scheduled work '\(id)' not found")
            }
            guard work.status == .pending else {
                throw APIError.conflict("scheduled work \(id) is \(work.status.rawValue); only PENDING work can be cancelled")
            }
            guard persist else { return work }
            let before = try ctx.auditDigest(.scheduledWork(id), db)
            _ = try ScheduledWorkRecords.cancel(id, tenantId: tenantId, now: Timestamp.now(), db)
            try ctx.audit(db, status: 200, .scheduledWork(id), before: before)
            return try ScheduledWorkRecords.find(id, tenantId: tenantId, db) ?? work
        }
        let work = try ctx.timed { persist ? try store.write(body) : try store.read(body) }
        guard persist else {
            ctx.warnings.append(testModeWarning)
            var wouldBe = work.json.objectValue ?? JSONObject()
            wouldBe["status"] = .string(ScheduledWorkStatus.cancelled.rawValue)
            return Reply(data: .object(wouldBe))
        }
        return Reply(data: work.json)
    }
}

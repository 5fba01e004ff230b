import Basics
import Foundation
import NeoJSON
import Store

/// `/agents` (design §5, seed 004): create, list, detail, PUT merge, delete, versions and stats.
/// Handlers glue the pure create/merge functions to the store; every write plans the agent's schedule.
enum AgentRoutes {
    static func routes(store: Store, scheduler: Scheduler) -> [Route] {
        let read = Access.group(.agents, .read), write = Access.group(.agents, .read_write)
        return [
            Route("POST", "/public-api/agents", access: write) { try create($0, store, scheduler) },
            // The two hot reads run on the event loop, on its own store reader (never waiting for a lock).
            Route("GET", "/public-api/agents", access: read, blocking: false,
                  query: Page.parameters + ["state", "trigger_type", "autonomy_type", "group_name", "q"]) { try list($0, store) },
            Route("GET", "/public-api/agents/{agent_id}", access: read, blocking: false) { try detail($0, store) },
            Route("PUT", "/public-api/agents/{agent_id}", access: write) { ctx in
                try edit(ctx, store, scheduler, patch: try ctx.jsonBody())
            },
            Route("DELETE", "/public-api/agents/{agent_id}", access: write) { ctx in
                try edit(ctx, store, scheduler, patch: JSONObject([("state", .string("DELETED"))]))
            },
            Route("GET", "/public-api/agents/{agent_id}/versions", access: read, query: Page.parameters) { try versions($0, store) },
            Route("GET", "/public-api/agents/{agent_id}/stats", access: read, query: ["since", "until"]) { try stats($0, store) },
            Route("GET", "/public-api/agents/{agent_id}/version-at", access: read, query: ["timestamp"]) { try versionAt($0, store) },
        ]
    }

    private static let testModeWarning = "test mode: not persisted"

    private static func create(_ ctx: RequestContext, _ store: Store, _ scheduler: Scheduler) throws -> Reply {
        let (document, warnings) = try newAgentDocument(try ctx.jsonBody())
        ctx.warnings += warnings
        let now = Timestamp.now()
        let tenantId = ctx.caller.tenantId
        if ctx.testMode {
            let nextRun = try ctx.timed {
                try store.read { db in
                    try checkAgentic(document, tenantId: tenantId, db)
                    ctx.warnings += try runWarnings(document, tenantId: tenantId, db)
                    return try scheduler.plannedNextRun(document, agentId: nil, tenantId: tenantId, db)
                }
            }
            var wouldBe = document
            wouldBe["created_at"] = .string(now)
            wouldBe["updated_at"] = .string(now)
            wouldBe["version"] = .int(1)
            ctx.warnings.append(testModeWarning)
            return Reply(status: 201, data: .object(summary(wouldBe, nextRunAt: nextRun)))
        }
        let (stored, nextRun) = try ctx.timed {
            try store.write { db in
                try checkAgentic(document, tenantId: tenantId, db)
                ctx.warnings += try runWarnings(document, tenantId: tenantId, db)
                let stored = try AgentRecords.insert(document, tenantId: tenantId, actor: AgentRecords.actor(ctx.caller), now: now, db)
                let id = Int64(stored["id"]?.stringValue ?? "") ?? 0
                try ctx.audit(db, status: 201, .agent(id), before: nil)
                return (stored, try scheduler.agentWritten(id, tenantId: tenantId, document: stored, db))
            }
        }
        scheduler.poke()
        return Reply(status: 201, data: .object(summary(stored, nextRunAt: nextRun)), headers: [("ETag", "\"1\"")])
    }

    /// The `Agent` summary with the read-only next_run_at, which the stored document does not hold.
    private static func summary(_ document: JSONObject, nextRunAt: String?) -> JSONObject {
        var out = agentSummary(document)
        out["next_run_at"] = nextRunAt.map { .string($0) } ?? .null
        return out
    }

    /// PUT and DELETE: read, merge and write in one transaction so a concurrent edit cannot slip in between.
    private static func edit(_ ctx: RequestContext, _ store: Store, _ scheduler: Scheduler, patch: JSONObject) throws -> Reply {
        let id = try ctx.intParam("agent_id", resource: "agent")
        let expected = ifMatchVersions(ctx.request.headers["If-Match"])
        let caller = ctx.caller
        let persist = !ctx.testMode
        let work = { (db: Database) throws -> Reply in
            let (current, version) = try AgentRecords.load(id, tenantId: caller.tenantId, db)
            if let expected, !expected.contains(version) {
                throw AgentRecords.conflict("agent \(id) is at version \(version), not the If-Match version; re-read it and retry")
            }
            let result = try applyAgentPatch(patch, to: current)
            ctx.warnings += result.warnings
            if result.touched.contains("toolbox") || result.touched.contains("agent_settings") {
                try checkAgentic(result.agent, tenantId: caller.tenantId, db)
            }
            ctx.warnings += try runWarnings(result.agent, tenantId: caller.tenantId, db)
            if !persist { ctx.warnings.append(testModeWarning) }
            if result.agent == current {
                let nextRun = try ScheduleRecords.nextRunAt(agentId: id, tenantId: caller.tenantId, db)
                return Reply(data: .object(summary(current, nextRunAt: nextRun)), headers: [("ETag", "\"\(version)\"")])
            }
            let now = Timestamp.now()
            if caller.actor == .agent && result.isDestructive {
                let til = try AgentRecords.holdForApproval(agent: current, agentId: id, baseVersion: version, patch: patch,
                                                           touched: result.touched, caller: caller, persist: persist, db)
                if persist, let tilId = til.id { try ctx.audit(db, status: 202, .tilRequest(tilId), before: nil) }
                return Reply(status: 202, data: til.json)
            }
            guard persist else {
                var wouldBe = result.agent
                wouldBe["version"] = .int(version + 1)
                wouldBe["updated_at"] = .string(now)
                let nextRun = try scheduler.plannedNextRun(result.agent, agentId: id, tenantId: caller.tenantId, db)
                return Reply(data: .object(summary(wouldBe, nextRunAt: nextRun)), headers: [("ETag", "\"\(version + 1)\"")])
            }
            let before = try ctx.auditDigest(.agent(id), db)
            let stored = try AgentRecords.update(id, tenantId: caller.tenantId, expectedVersion: version, document: result.agent,
                                                 actor: AgentRecords.actor(caller), now: now, db)
            try ctx.audit(db, status: 200, .agent(id), before: before)
            let nextRun = try scheduler.agentWritten(id, tenantId: caller.tenantId, document: stored, db)
            return Reply(data: .object(summary(stored, nextRunAt: nextRun)), headers: [("ETag", "\"\(version + 1)\"")])
        }
        let reply = try ctx.timed { persist ? try store.write(work) : try store.read(work) }
        if persist { scheduler.poke() }
        return reply
    }

    /// What would stop this agent from running as written: actions this server does not run, and
    /// EXTERNAL_API_REQUEST actions naming an API this tenant has not configured (a run fails on both
    /// before its first action). Warnings, not refusals: Neo accepts these agents.
    private static func runWarnings(_ document: JSONObject, tenantId: Int64, _ db: Database) throws -> [String] {
        var warnings = agentRunWarnings(document) + scheduleWarnings(document)
        for (actionId, apiName) in externalAPINames(document) where try !AgentRecords.externalAPIExists(apiName, tenantId: tenantId, db) {
            warnings.append("action \(actionId) calls external API '\(apiName.prefix(64))', which this tenant has not configured; "
                + "create it with POST /public-api/external-apis, or a run fails before its first action")
        }
        return warnings
    }

    /// 422 naming each field when the toolbox or agent_settings would stop a run (design §10): a malformed
    /// tool setting or cap, an allowlisted API or a model provider this tenant does not have.
    private static func checkAgentic(_ document: JSONObject, tenantId: Int64, _ db: Database) throws {
        let problems = try AgentToolbox.problems(document, apiExists: { try AgentRecords.externalAPIExists($0, tenantId: tenantId, db) },
                                                 providerExists: { try LLMProviderRecords.exists($0, tenant: tenantId, in: db) })
        if !problems.isEmpty { throw APIError.validation(problems) }
    }

    /// The versions an `If-Match` header accepts: nil for absent or `*`; an unparsable tag matches nothing,
    /// and so does a weak one (`W/"3"`): If-Match compares strongly (RFC 9110 §13.1.1).
    static func ifMatchVersions(_ header: String?) -> Set<Int64>? {
        guard let header, header.trimmingCharacters(in: .whitespaces) != "*" else { return nil }
        var versions: Set<Int64> = []
        for tag in header.split(separator: ",") {
            var t = tag.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("W/") { continue }
            if t.count >= 2 && t.hasPrefix("\"") && t.hasSuffix("\"") { t = String(t.dropFirst().dropLast()) }
            if let v = Int64(t) { versions.insert(v) }
        }
        return versions
    }

    private static func detail(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let id = try ctx.intParam("agent_id", resource: "agent")
        guard let stored = try ctx.timed({ try store.read { try AgentRecords.storedText(id, tenantId: ctx.caller.tenantId, $0) } }) else {
            throw APIError.notFound("agent '\(id)' not found")
        }
        var reply = Reply.raw(data: stored.document)
        reply.headers = [("ETag", "\"\(stored.version)\"")]
        return reply
    }

    /// The benchmark hot path: the stored summaries concatenated, no JSON tree per row.
    private static func list(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let page = try Page.parse(ctx)
        var filter = AgentRecords.Filter()
        filter.state = try enumQuery(ctx, "state", AgentSchema.states)
        filter.triggerType = try enumQuery(ctx, "trigger_type", AgentSchema.triggerTypes)
        filter.autonomyType = try enumQuery(ctx, "autonomy_type", AgentSchema.autonomyTypes)
        filter.groupName = try ctx.query("group_name")
        filter.search = try ctx.query("q")
        let (data, info) = try ctx.timed { try store.read { try AgentRecords.summaries(tenantId: ctx.caller.tenantId, filter, page: page, $0) } }
        return Reply.raw(data: data, pagination: info)
    }

    /// A query parameter that must be one of `allowed` (400 BAD_REQUEST otherwise).
    private static func enumQuery(_ ctx: RequestContext, _ name: String, _ allowed: [String]) throws -> String? {
        guard let value = try ctx.query(name) else { return nil }
        guard allowed.contains(value) else {
            throw APIError.badRequest("\(name) must be one of \(allowed.joined(separator: ", ")) (got '\(value.prefix(64))')",
                                      details: [.init(field: name, issue: "not one of \(allowed.joined(separator: ", "))")])
        }
        return value
    }

    private static func versions(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let id = try ctx.intParam("agent_id", resource: "agent")
        let page = try Page.parse(ctx)
        guard let (data, info) = try ctx.timed({ try store.read { try AgentRecords.versions(of: id, tenantId: ctx.caller.tenantId, page: page, $0) } }) else {
            throw APIError.notFound("agent '\(id)' not found")
        }
        return Reply.raw(data: data, pagination: info)
    }

    /// Neo's `version-at`: the AgentDetail in force at `timestamp` (the newest snapshot written at or
    /// before it); 404 when the agent did not exist yet.
    private static func versionAt(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let id = try ctx.intParam("agent_id", resource: "agent")
        guard let raw = try ctx.query("timestamp"), !raw.isEmpty else {
            throw APIError.badRequest("timestamp is required: an RFC 3339 date-time such as 2026-01-31T12:00:00+00:00",
                                      details: [.init(field: "timestamp", issue: "is required")])
        }
        guard let instant = parseInstant(raw) else {
            throw APIError.badRequest("timestamp must be an RFC 3339 date-time such as 2026-01-31T12:00:00+00:00 or 2026-01-31T12:00:00.5Z (got '\(raw.prefix(64))')",
                                      details: [.init(field: "timestamp", issue: "not an RFC 3339 date-time")])
        }
        // Snapshots are stamped to the millisecond: a snapshot is in force from its own millisecond on.
        let cutoff = Timestamp.format(Date(timeIntervalSince1970: (instant.timeIntervalSince1970 * 1000).rounded(.down) / 1000))
        let found = try ctx.timed {
            try store.read { try AgentRecords.version(at: cutoff, agentId: id, tenantId: ctx.caller.tenantId, $0) }
        }
        guard let found else {
            throw APIError.notFound("agent '\(id)' not found")
        }
        guard let (document, version) = found else {
            throw APIError.notFound("agent \(id) did not exist at \(cutoff); its first version is later")
        }
        var reply = Reply.raw(data: Array(document.utf8))
        reply.headers = [("ETag", "\"\(version)\"")]
        return reply
    }

    /// RFC 3339; a `+` offset that arrived unescaped in the query (and so decoded as a space) is read as `+`.
    static func parseInstant(_ raw: String) -> Date? {
        if let date = Timestamp.parse(raw) { return date }
        guard raw.utf8.count > 19, let space = raw.lastIndex(of: " "), raw.distance(from: raw.startIndex, to: space) >= 19 else { return nil }
        var repaired = raw
        repaired.replaceSubrange(space...space, with: "+")
        return Timestamp.parse(repaired)
    }

    /// Counts and p95 duration of this agent's executions in [since, until) (default: the last 30 days).
    private static func stats(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        let id = try ctx.intParam("agent_id", resource: "agent")
        let until = try timeQuery(ctx, "until") ?? Date()
        let since = try timeQuery(ctx, "since") ?? until.addingTimeInterval(-30 * 24 * 3600)
        guard since < until else {
            throw APIError.badRequest("since must be before until", details: [.init(field: "since", issue: "must be before until")])
        }
        let (sinceText, untilText) = (Timestamp.format(since), Timestamp.format(until))
        let (executions, failures, durations) = try ctx.timed {
            try store.read { db in
                guard try AgentRecords.exists(id, tenantId: ctx.caller.tenantId, db) else { throw APIError.notFound("agent '\(id)' not found") }
                return try ExecutionRecords.stats(agentId: id, tenantId: ctx.caller.tenantId, since: sinceText, until: untilText, db)
            }
        }
        return Reply(data: .object(JSONObject([
            ("agent_id", .int(id)), ("executions", .int(executions)), ("failures", .int(failures)),
            ("p95_duration_seconds", .double(percentile95(durations))),
            ("window", .object(JSONObject([("since", .string(sinceText)), ("until", .string(untilText))]))),
        ])))
    }

    /// Nearest-rank 95th percentile of ascending values; 0 when there are none.
    static func percentile95(_ sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((Double(sorted.count) * 0.95).rounded(.up))
        return sorted[max(rank, 1) - 1]
    }

    private static func timeQuery(_ ctx: RequestContext, _ name: String) throws -> Date? {
        guard let raw = try ctx.query(name) else { return nil }
        guard let date = Timestamp.parse(raw) else {
            throw APIError.badRequest("\(name) must be an RFC 3339 date-time such as 2026-01-31T00:00:00Z (got '\(raw.prefix(64))')",
                                      details: [.init(field: name, issue: "not an RFC 3339 date-time")])
        }
        return date
    }
}

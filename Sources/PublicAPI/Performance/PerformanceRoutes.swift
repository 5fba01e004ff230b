import Basics
import Foundation
import NeoJSON
import Store

/// Neo's per-agent performance rollups (design §12), computed from this server's executions:
/// `GET /performance/workflows?from&to&autonomy_type` answers an array of `WorkflowPerformance`,
/// `GET /observability/workflow-performance?since&until&agent_id` one of them (Neo's shape split).
enum PerformanceRoutes {
    /// Longest window either endpoint computes (every run in it is read).
    static let maxWindow: TimeInterval = 366 * 24 * 3600

    static func routes(store: Store) -> [Route] {
        let read = Access.group(.executions, .read)
        return [
            Route("GET", "/public-api/performance/workflows", access: read, query: ["from", "to", "autonomy_type"]) { ctx in
                guard let from = try instant(ctx, "from") else { throw missing("from") }
                guard let to = try instant(ctx, "to") else { throw missing("to") }
                let autonomy = try ctx.query("autonomy_type")
                if let autonomy, !["AGENTIC", "CHAINED_ACTIONS"].contains(autonomy) {
                    throw APIError.badRequest("autonomy_type must be AGENTIC or CHAINED_ACTIONS (got '\(autonomy.prefix(64))')",
                                              details: [.init(field: "autonomy_type", issue: "not AGENTIC or CHAINED_ACTIONS")])
                }
                try checkWindow(from, to, sinceName: "from", untilName: "to")
                let performance = try compute(ctx, store, since: from, until: to, agentId: nil, autonomyType: autonomy)
                return Reply(data: .array([.object(performance)]))
            },
            Route("GET", "/public-api/observability/workflow-performance", access: read, query: ["since", "until", "agent_id"]) { ctx in
                let until = try instant(ctx, "until") ?? Date()
                let since = try instant(ctx, "since") ?? until.addingTimeInterval(-24 * 3600)
                var agentId: Int64?
                if let raw = try ctx.query("agent_id") {
                    guard let n = Int64(raw), n > 0 else {
                        throw APIError.badRequest("agent_id must be a positive integer (got '\(raw.prefix(64))')",
                                                  details: [.init(field: "agent_id", issue: "not a positive integer")])
                    }
                    agentId = n
                }
                try checkWindow(since, until, sinceName: "since", untilName: "until")
                return Reply(data: .object(try compute(ctx, store, since: since, until: until, agentId: agentId, autonomyType: nil)))
            },
        ]
    }

    /// `{rows, window}` for the caller's tenant.
    private static func compute(_ ctx: RequestContext, _ store: Store, since: Date, until: Date, agentId: Int64?,
                                autonomyType: String?) throws -> JSONObject {
        let tenant = ctx.caller.tenantId
        let scope = PerformanceRecords.Scope(tenantId: tenant, since: Timestamp.format(since), until: Timestamp.format(until),
                                             agentId: agentId, autonomyType: autonomyType)
        let (runs, calls, timezone) = try ctx.timed {
            try store.read { db in
                (try PerformanceRecords.runs(scope, db), try PerformanceRecords.modelCalls(scope, db),
                 try SettingsRecords.load(tenantId: tenant, db).timezone)
            }
        }
        return JSONObject([
            ("rows", .array(rows(runs, calls).map { .object($0) })),
            ("window", .object(JSONObject([("since", .string(scope.since)), ("until", .string(scope.until)),
                                           ("timezone", .string(timezone ?? "UTC"))]))),
        ])
    }

    /// One row per agent with runs in the window, by agent id. Durations are of finished runs: total is
    /// created → finished (queueing and approval waits included), actual work the time upstream and
    /// model calls took, overhead the rest; each is the nearest-rank 95th percentile over the runs.
    static func rows(_ runs: [PerformanceRecords.Run], _ calls: [PerformanceRecords.ModelCall]) -> [JSONObject] {
        let byAgent = Dictionary(grouping: runs, by: \.agentId)
        let callsByAgent = Dictionary(grouping: calls, by: \.agentId)
        return byAgent.keys.sorted().map { agentId in
            let list = byAgent[agentId]!
            let finished = list.compactMap { run in run.totalSeconds.map { (total: $0, work: min(run.workSeconds, $0)) } }
            var purposes: [String: [String: [Double]]] = [:]
            for call in callsByAgent[agentId] ?? [] {
                purposes[purpose(call.stepType), default: [:]][call.model, default: []].append(call.seconds)
            }
            let llm: [JSON] = purposes.keys.sorted().flatMap { purpose in
                purposes[purpose]!.keys.sorted().map { model -> JSON in
                    let durations = purposes[purpose]![model]!.sorted()
                    return .object(JSONObject([("purpose", .string(purpose)), ("model", .string(model)), ("count", .int(Int64(durations.count))),
                                               ("p95_duration_seconds", .double(seconds(AgentRoutes.percentile95(durations))))]))
                }
            }
            return JSONObject([
                ("agent_id", .int(agentId)), ("agent_name", .string(list[0].agentName)),
                ("executions", .int(Int64(list.count))), ("failures", .int(Int64(list.filter(\.failed).count))),
                ("psa_calls", .int(list.reduce(0) { $0 + $1.externalCalls })),
                ("p95_total_duration_seconds", .double(seconds(AgentRoutes.percentile95(finished.map(\.total).sorted())))),
                ("p95_actual_work_seconds", .double(seconds(AgentRoutes.percentile95(finished.map(\.work).sorted())))),
                ("p95_overhead_seconds", .double(seconds(AgentRoutes.percentile95(finished.map { $0.total - $0.work }.sorted())))),
                ("llm_calls_by_purpose", .array(llm)),
            ])
        }
    }

    /// A model call that asked for tools chose the next step; one without tool calls gave the answer.
    static func purpose(_ stepType: String) -> String {
        stepType == StepType.finalMessage.rawValue ? "final_answer" : "tool_selection"
    }

    private static func seconds(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

    private static func instant(_ ctx: RequestContext, _ name: String) throws -> Date? {
        guard let raw = try ctx.query(name) else { return nil }
        guard let date = AgentRoutes.parseInstant(raw) else {
            throw APIError.badRequest("\(name) must be an ISO-8601 date-time such as 2026-01-31T00:00:00Z (got '\(raw.prefix(64))')",
                                      details: [.init(field: name, issue: "not an ISO-8601 date-time")])
        }
        return date
    }

    private static func missing(_ name: String) -> APIError {
        APIError.badRequest("query parameter '\(name)' is required (an ISO-8601 date-time)", details: [.init(field: name, issue: "required")])
    }

    private static func checkWindow(_ since: Date, _ until: Date, sinceName: String, untilName: String) throws {
        guard since < until else {
            throw APIError.badRequest("\(sinceName) must be before \(untilName)", details: [.init(field: sinceName, issue: "must be before \(untilName)")])
        }
        guard until.timeIntervalSince(since) <= maxWindow else {
            throw APIError.badRequest("the window from \(sinceName) to \(untilName) may span at most 366 days",
                                      details: [.init(field: sinceName, issue: "window longer than 366 days")])
        }
    }
}

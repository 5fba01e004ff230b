import Foundation
import Store

/// SQL for Neo's performance rollups: one row per agent run in a window, with the time its upstream
/// and model calls took and how many external-API calls it made, and one row per model call.
enum PerformanceRecords {
    /// One agent run in the window.
    struct Run {
        let agentId: Int64
        let agentName: String
        let failed: Bool
        /// finished_at − created_at; nil while unfinished.
        let totalSeconds: Double?
        /// Time spent waiting for upstream and model answers (recorded step durations).
        let workSeconds: Double
        let externalCalls: Int64
    }

    /// One model call of an AGENTIC run: the step kind says what it was for.
    struct ModelCall {
        let agentId: Int64
        let stepType: String
        let model: String
        let seconds: Double
    }

    /// What limits a query: tenant, [since, until), optionally one agent or one autonomy type.
    struct Scope {
        let tenantId: Int64
        let since: String
        let until: String
        var agentId: Int64?
        var autonomyType: String?

        /// One agent's window on SQLite is bounded in the form executions_by_agent holds (migration 0021), and its
        /// created_at terms carry a unary + so the planner does not take the tenant's window index instead.
        func sql(_ dialect: SQLDialect) -> String {
            let created = agentId != nil && dialect == .sqlite ? "+e.created_at" : "e.created_at"
            var out = "e.tenant_id = ? AND e.kind = 'agent_run' AND e.agent_id IS NOT NULL AND \(created) >= ? AND \(created) < ?"
            if agentId != nil {
                out += " AND e.agent_id = ?"
                if dialect == .sqlite { out += " AND " + ListQuery.julianDay("e.created_at", ">=") + " AND " + ListQuery.julianDay("e.created_at", "<=") }
            }
            if autonomyType != nil { out += " AND a.autonomy_type = ?" }
            return out
        }

        func params(_ dialect: SQLDialect) -> [SQLValue] {
            var out: [SQLValue] = [.int(tenantId), .text(since), .text(until)]
            if let agentId {
                out.append(.int(agentId))
                if dialect == .sqlite { out += [.text(since), .text(until)] }
            }
            if let autonomyType { out.append(.text(autonomyType)) }
            return out
        }
    }

    // MARK: reads

    static func runs(_ scope: Scope, _ db: Database) throws -> [Run] {
        var out: [Run] = []
        try db.forEachRow("""
            SELECT e.agent_id, a.name, CASE WHEN e.status = 'failed' THEN 1 ELSE 0 END,
              CASE WHEN e.finished_at IS NULL THEN NULL ELSE \(db.secondsBetween("e.created_at", "e.finished_at")) END,
              (SELECT COALESCE(SUM(\(db.jsonValue("s.data", "$.duration_ms", number: true))), 0) FROM execution_steps s
                 WHERE s.execution_id = e.id AND s.type = 'TOOL_RESULT'),
              (SELECT COALESCE(SUM(\(db.jsonValue("s.data", "$.llm.duration_ms", number: true))), 0) FROM execution_steps s
                 WHERE s.execution_id = e.id AND s.type IN ('THOUGHT', 'FINAL_MESSAGE')),
              (SELECT COUNT(*) FROM execution_steps s
                 WHERE s.execution_id = e.id AND s.type = 'TOOL_RESULT' AND s.tool_type_name = 'EXTERNAL_API_REQUEST'
                   AND \(db.jsonValue("s.data", "$.status")) IS NOT NULL)
            FROM executions e JOIN agents a ON a.id = e.agent_id AND a.tenant_id = e.tenant_id
            WHERE \(scope.sql(db.dialect))
            ORDER BY e.agent_id
            """, scope.params(db.dialect)) { row in
            out.append(Run(agentId: row.int(0), agentName: row.string(1) ?? "", failed: row.int(2) != 0,
                           totalSeconds: row.isNull(3) ? nil : max(0, row.double(3)),
                           workSeconds: (row.double(4) + row.double(5)) / 1000, externalCalls: row.int(6)))
        }
        return out
    }

    static func modelCalls(_ scope: Scope, _ db: Database) throws -> [ModelCall] {
        var out: [ModelCall] = []
        try db.forEachRow("""
            SELECT e.agent_id, s.type, \(db.jsonValue("s.data", "$.llm.model")), \(db.jsonValue("s.data", "$.llm.duration_ms", number: true))
            FROM execution_steps s
            JOIN executions e ON e.id = s.execution_id
            JOIN agents a ON a.id = e.agent_id AND a.tenant_id = e.tenant_id
            WHERE \(scope.sql(db.dialect)) AND s.type IN ('THOUGHT', 'FINAL_MESSAGE') AND \(db.jsonValue("s.data", "$.llm")) IS NOT NULL
            """, scope.params(db.dialect)) { row in
            out.append(ModelCall(agentId: row.int(0), stepType: row.string(1) ?? "", model: row.string(2) ?? "",
                                 seconds: row.double(3) / 1000))
        }
        return out
    }
}

import Basics
import Foundation
import NeoJSON
import Store
import XCTest
@testable import PublicAPI

/// One agent's runs, newest first, from SQLite's executions_by_agent on (agent_id, julianday(created_at)) (migration
/// 0021): the same order and pages as the (created_at, id) the list promises, with runs in the same millisecond, on
/// either side of a second, and another agent's runs between them; the window filters and the stats bounded alike.
final class ExecutionsByAgentTests: TenantStoreTestCase {

    private func agent(_ name: String) throws -> Int64 {
        let (document, _) = try newAgentDocument(["name": .string(name), "trigger_type": "TRIGGERED", "actions": []])
        return try store.write { db in
            Int64(try AgentRecords.insert(document, tenantId: tenantId, actor: .null, now: Timestamp.now(), db)["id"]!.stringValue!)!
        }
    }

    private func run(_ agent: Int64, at: String, seconds: Double? = nil) throws -> String {
        let id = SecureRandom.uuid()  // random: ties in one millisecond are ordered by id, not by insertion
        try store.write { db in
            try ExecutionRecords.insert(ExecutionRecords.NewExecution(tenantId: tenantId, agentId: agent, agentName: "a", kind: .agentRun,
                                                                      status: .queued, input: nil, keyId: nil), id: id, now: at, db)
            if let seconds { try db.execute("UPDATE executions SET seconds_spent = ? WHERE id = ?", [.double(seconds), .text(id)]) }
        }
        return id
    }

    private func pages(_ filter: ExecutionRecords.Filter, size: Int) throws -> [String] {
        var after: (createdAt: String, id: String)?
        var ids: [String] = []
        for _ in 0..<100 {
            let (rows, info) = try store.read { db in
                try ExecutionRecords.list(tenantId: tenantId, filter, page: Page(size: size, after: after, binding: "t"), db)
            }
            ids += rows.map(\.id)
            guard info.hasMore, let last = rows.last else { return ids }
            after = (last.createdAt, last.id)
        }
        XCTFail("paging did not end")
        return ids
    }

    func test_oneAgentsRuns_pageNewestFirst_byCreatedAtThenId_fromTheNarrowIndex() throws {
        let a = try agent("A")
        let b = try agent("B")
        let stamps = ["2026-12-01T10:00:59.998Z", "2026-12-01T10:00:59.999Z", "2026-12-01T10:01:00.000Z", "2026-12-01T10:01:00.001Z",
                      "2026-12-02T00:00:00.000Z"]
        var mine: [(at: String, id: String)] = []
        for (n, at) in stamps.enumerated() {
            for _ in 0...(n % 3 + 1) {  // 2-4 runs in the same millisecond
                mine.append((at, try run(a, at: at, seconds: Double(n))))
                _ = try run(b, at: at)
            }
        }
        let expected = mine.sorted { ($0.at, $0.id) > ($1.at, $1.id) }.map(\.id)
        for size in [1, 2, 3, 5, 50] {
            XCTAssertEqual(try pages(.init(agentId: a), size: size), expected, "page size \(size)")
        }
        // The window bounds (exclusive on both sides, as the list's created_after / created_before).
        let window = mine.filter { $0.at > stamps[0] && $0.at < stamps[4] }.sorted { ($0.at, $0.id) > ($1.at, $1.id) }.map(\.id)
        XCTAssertEqual(try pages(.init(agentId: a, createdAfter: stamps[0], createdBefore: stamps[4]), size: 2), window)
        // The stats' window: since inclusive, until exclusive.
        let stats = try store.read { db in try ExecutionRecords.stats(agentId: a, tenantId: tenantId, since: stamps[1], until: stamps[3], db) }
        let inStats = mine.filter { $0.at >= stamps[1] && $0.at < stamps[3] }
        XCTAssertEqual(stats.executions, Int64(inStats.count))
        XCTAssertEqual(stats.durations.count, inStats.count)
        // Served by the index, in its order (no scan of the tenant's runs, no sort of all of the agent's).
        let plan = try store.read { db in
            try db.query("""
                EXPLAIN QUERY PLAN SELECT id FROM executions WHERE tenant_id = ? AND agent_id = ? AND julianday(created_at) <= julianday(?)
                ORDER BY julianday(created_at) DESC, created_at DESC, id DESC LIMIT 5
                """, [.int(tenantId), .int(a), .text(stamps[2])]).compactMap { $0.string("detail") }.joined(separator: "; ")
        }
        XCTAssertTrue(plan.contains("USING INDEX executions_by_agent (agent_id=? AND <expr><?)"), plan)
        XCTAssertFalse(plan.contains("USE TEMP B-TREE FOR ORDER BY"), plan)
        // The performance endpoints' one-agent window reads the same index, not the tenant's window.
        let scope = PerformanceRecords.Scope(tenantId: tenantId, since: stamps[1], until: stamps[3], agentId: a)
        let scopePlan = try store.read { db in
            try db.query("EXPLAIN QUERY PLAN SELECT e.id FROM executions e JOIN agents a ON a.id = e.agent_id AND a.tenant_id = e.tenant_id WHERE "
                         + scope.sql(db.dialect), scope.params(db.dialect)).compactMap { $0.string("detail") }.joined(separator: "; ")
        }
        XCTAssertTrue(scopePlan.contains("USING INDEX executions_by_agent (agent_id=? AND <expr>>? AND <expr><?)"), scopePlan)
        let runs = try store.read { db in try PerformanceRecords.runs(scope, db) }
        XCTAssertEqual(runs.count, inStats.count)
    }
}

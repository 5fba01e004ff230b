import Basics
import Foundation
import NeoJSON
import Store
import XCTest
@testable import PublicAPI

/// Callback retention against a real SQLite store and a manual clock: callbacks older than the retention that
/// started no run go, in batches; one that started a run stays (its execution's /callback and run-once read
/// it), as does every younger one; 0 days keeps everything.
final class CallbackRetentionTests: TenantStoreTestCase {
    private let clock = ManualClock("2026-12-31T12:00:00Z")

    private func event(_ id: String) -> CallbackEvent {
        CallbackEvent(eventId: id, entityType: "ticket", entityId: "7", entityNumber: nil, changeType: "CREATE", changes: nil,
                      entity: ["status": "New"], createdInPSAAt: nil)
    }

    /// Stores a callback created at `at` the way ingest does; with `agent`, the run it started too.
    @discardableResult
    private func callback(_ eventId: String, at: String, agent: TriggeredAgent? = nil) throws -> String {
        let e = event(eventId)
        let result = CallbackMatcher.match(e, changes: [], agents: agent.map { [$0] } ?? [], alreadyRan: [])
        var c = Callback(id: SecureRandom.uuid(), tenantId: tenantId, event: e, changes: [], changesFrom: .none, source: ["type": "api"],
                         matcherRunId: SecureRandom.uuid(), result: result, runAfter: nil, now: at)
        try store.write { db in
            var runs: [(workflowId: Int64, executionId: String)] = []
            for match in result.matches where match.matched {
                let executionId = SecureRandom.uuid()
                try ExecutionRecords.insert(ExecutionRecords.NewExecution(tenantId: tenantId, agentId: match.agent.id, agentName: match.agent.name,
                                                                          kind: .agentRun, status: .queued, input: nil, keyId: nil),
                                            id: executionId, now: at, db)
                runs.append((match.agent.id, executionId))
            }
            c.startedExecutions = Callback.startedExecutions(runs)
            try CallbackRecords.insert(c, db)
            for run in runs {
                try CallbackRecords.recordRun(tenantId: tenantId, agentId: run.workflowId, entityId: "7", callbackId: c.id,
                                              executionId: run.executionId, now: at, db)
            }
        }
        return c.id
    }

    private func stored() throws -> Set<String> {
        Set(try store.read { db in try db.query("SELECT event_id FROM callbacks").compactMap { $0.string("event_id") } })
    }

    func test_prunesOldCallbacksThatStartedNothing_inBatches_keepsThoseWithRunsAndYoungerOnes() throws {
        let (document, _) = try newAgentDocument(["name": "runs", "trigger_type": "TRIGGERED", "actions": []])
        let agent = try store.write { db -> TriggeredAgent in
            let stored = try AgentRecords.insert(document, tenantId: tenantId, actor: .null, now: Timestamp.now(), db)
            return TriggeredAgent(id: Int64(stored["id"]!.stringValue!)!, version: 1, document: stored)
        }
        // 30 days before the clock is 2026-12-01T12:00:00Z.
        for n in 0..<(CallbackRetention.batch * 2 + 7) { try callback("old-\(n)", at: "2026-11-20T08:00:00.000Z") }
        try callback("just-older", at: "2026-12-01T11:59:59.999Z")
        try callback("old-with-run", at: "2026-10-01T00:00:00.000Z", agent: agent)
        try callback("at-the-cutoff", at: "2026-12-01T12:00:00.000Z")
        try callback("young", at: "2026-12-30T00:00:00.000Z")

        let keepAll = CallbackRetention(store: store, clock: clock, days: 0, logger: Logger(level: .error))
        XCTAssertEqual(try keepAll.prune(), 0, "0 days keeps every callback")

        let retention = CallbackRetention(store: store, clock: clock, days: 30, logger: Logger(level: .error))
        XCTAssertEqual(try retention.prune(), CallbackRetention.batch * 2 + 8, "every batch of one pass")
        XCTAssertEqual(try stored(), ["old-with-run", "at-the-cutoff", "young"])
        XCTAssertEqual(try retention.prune(), 0, "a second pass finds nothing")
        let runOnce = try store.read { try CallbackRecords.agentsThatRan(tenantId: tenantId, entityId: "7", $0) }
        XCTAssertEqual(runOnce, [agent.id], "run_only_once_per_entity still sees the kept callback's run")

        // Time moves on: the callback that started a run stays as long as its execution does.
        clock.set("2027-06-01T00:00:00Z")
        XCTAssertEqual(try retention.prune(), 2)
        XCTAssertEqual(try stored(), ["old-with-run"])
    }
}

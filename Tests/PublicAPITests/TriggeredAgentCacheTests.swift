import Basics
import Foundation
import NeoJSON
import Store
import XCTest
@testable import PublicAPI

/// The matching cache of TRIGGERED agents against a real SQLite store: reused while the tenant's agent
/// generation stands, read again after any agent write by any writer (the agent routes' functions, which a held
/// TIL edit applies through too, and another connection to the same file writing plain SQL: the generation is
/// bumped by triggers, not by our code), never after the scheduler's next_run_at bookkeeping or another tenant's edits.
final class TriggeredAgentCacheTests: XCTestCase {
    private var directory = ""
    private var store: Store!
    private var tenantId: Int64 = 0
    private var otherTenant: Int64 = 0

    override func setUpWithError() throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("neo-agent-cache-\(UUID().uuidString)")
        store = try openStore()
        try store.migrate()
        tenantId = try KeyService(store: store).tenant(named: "cache-tests")
        otherTenant = try KeyService(store: store).tenant(named: "cache-tests-other")
    }

    override func tearDownWithError() throws {
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func openStore() throws -> Store {
        try Store(Store.Options(path: (directory as NSString).appendingPathComponent("neo.db")))
    }

    private func createAgent(_ name: String, status: String, tenant: Int64? = nil) throws -> Int64 {
        let body: JSONObject = [
            "name": .string(name), "trigger_type": "TRIGGERED", "actions": [],
            "ticket_conditions": ["conditions": ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": .string(status)]]]],
        ]
        let (document, _) = try newAgentDocument(body)
        return try store.write { db in
            let stored = try AgentRecords.insert(document, tenantId: tenant ?? tenantId, actor: .null, now: Timestamp.now(), db)
            return Int64(stored["id"]!.stringValue!)!
        }
    }

    /// Applies a PUT body as PUT /agents/{id} (and DELETE, with state DELETED) does.
    private func patch(_ id: Int64, _ body: JSONObject, tenant: Int64? = nil) throws {
        try store.write { db in
            let (current, version) = try AgentRecords.load(id, tenantId: tenant ?? tenantId, db)
            let merged = try applyAgentPatch(body, to: current).agent
            _ = try AgentRecords.update(id, tenantId: tenant ?? tenantId, expectedVersion: version, document: merged, actor: .null,
                                        now: Timestamp.now(), db)
        }
    }

    /// The agents matching would use now, and whether the cache had to read them.
    private func current(_ cache: TriggeredAgentCache) throws -> (names: [String], read: Bool) {
        let before = cache.rebuilds
        let agents = try store.read { try cache.current(tenantId: tenantId, entityType: "ticket", $0) }
        return (agents.agents.map(\.name), cache.rebuilds > before)
    }

    private func matched(_ cache: TriggeredAgentCache, status: String) throws -> [String] {
        let agents = try store.read { try cache.current(tenantId: tenantId, entityType: "ticket", $0) }
        let event = CallbackEvent(eventId: nil, entityType: "ticket", entityId: "1", entityNumber: nil, changeType: "CREATE",
                                  changes: nil, entity: ["status": .string(status)], createdInPSAAt: nil)
        let result = CallbackMatcher.match(event, changes: [], agents: agents.agents, alreadyRan: [])
        return result.matches.filter(\.matched).map(\.agent.name)
    }

    func test_reusedWhileNothingChanged_readAgainAfterEveryAgentWrite() throws {
        let cache = TriggeredAgentCache()
        let a = try createAgent("a", status: "New")
        let b = try createAgent("b", status: "New")
        XCTAssertEqual(try current(cache).names, ["a", "b"])
        XCTAssertEqual(try current(cache).read, false, "nothing changed: the list is reused without reading the agents")
        XCTAssertEqual(try current(cache).read, false)

        // An edit of the conditions takes effect for the very next event.
        try patch(a, ["ticket_conditions": ["conditions": ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": "Closed"]]]]])
        XCTAssertEqual(try matched(cache, status: "Closed"), ["a"])
        XCTAssertEqual(try matched(cache, status: "New"), ["b"])
        XCTAssertEqual(try current(cache).read, false)

        // Disabling, enabling and deleting (DELETE /agents/{id} sets state DELETED).
        try patch(b, ["state": "DISABLED"])
        XCTAssertEqual(try current(cache).names, ["a"])
        try patch(b, ["state": "ENABLED"])
        XCTAssertEqual(try current(cache).names, ["a", "b"])
        try patch(a, ["state": "DELETED"])
        let afterDelete = try current(cache)
        XCTAssertEqual(afterDelete.names, ["b"])
        XCTAssertTrue(afterDelete.read)

        // A new agent, and a change of trigger type.
        let c = try createAgent("c", status: "New")
        XCTAssertEqual(try current(cache).names, ["b", "c"])
        try patch(c, ["trigger_type": "NONE"])
        XCTAssertEqual(try current(cache).names, ["b"])
    }

    func test_anotherWritersSQL_invalidates_theSchedulersBookkeeping_andOtherTenants_doNot() throws {
        let cache = TriggeredAgentCache()
        let a = try createAgent("a", status: "New")
        _ = try createAgent("b", status: "New")
        XCTAssertEqual(try current(cache).names, ["a", "b"])

        // Another connection to the same file (another process, an operator's sqlite3): a raw UPDATE.
        let other = try openStore()
        defer { other.close() }
        try other.write { try $0.execute("UPDATE agents SET state = 'DISABLED' WHERE id = ?", [.int(a)]) }
        XCTAssertEqual(try current(cache).names, ["b"], "the trigger bumped the generation in the writer's transaction")
        try other.write { try $0.execute("UPDATE agents SET state = 'ENABLED' WHERE id = ?", [.int(a)]) }
        XCTAssertEqual(try current(cache).names, ["a", "b"])
        try other.write { db in
            try db.execute("DELETE FROM agent_versions WHERE agent_id = ?", [.int(a)])
            try db.execute("DELETE FROM agents WHERE id = ?", [.int(a)])
        }
        XCTAssertEqual(try current(cache).names, ["b"], "a row deleted outright")

        // The scheduler's next_run_at and another tenant's agents leave the list as it is.
        XCTAssertEqual(try current(cache).read, false)
        try store.write { try $0.execute("UPDATE agents SET next_run_at = '2026-12-01T10:00:00.000Z' WHERE tenant_id = ?", [.int(self.tenantId)]) }
        XCTAssertEqual(try current(cache).read, false, "next_run_at is not read by matching")
        let foreign = try createAgent("foreign", status: "New", tenant: otherTenant)
        try patch(foreign, ["state": "DISABLED"], tenant: otherTenant)
        XCTAssertEqual(try current(cache).read, false, "another tenant's agents have their own generation")
        XCTAssertEqual(try current(cache).names, ["b"])
    }
}

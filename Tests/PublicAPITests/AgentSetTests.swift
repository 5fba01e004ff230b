import Basics
import Foundation
import NeoJSON
import Store
import XCTest
@testable import PublicAPI

/// Agent sets (migration 0018): the set's verdicts are `CallbackMatcher.match`'s for every agent (shared trees,
/// the equality index, run-once), its failed-id list is the matcher's, and against a real SQLite store a new
/// callback names its set and keeps one letter per agent, renders the CallbackDetail it was answered with and
/// the one the old form renders, is found by the `agent_id` list filter, and its set goes with retention only
/// once no callback names it.
final class AgentSetTests: TenantStoreTestCase {
    typealias Generator = ConditionsFuzzTests.Generator

    /// Values where `=` is subtle: case, canonical equivalence (é composed and decomposed), numbers as text,
    /// booleans as text, null, arrays.
    static let values: [JSON] = ["New", "new", "NEW", "Closed", "caf\u{e9}", "cafe\u{301}", "2", 2, 2.0, " 2", true, "true", "False", false,
                                 .null, ["New"], "", "Company 1", "company 1", "a,b"]
    static let fields = ["status", "company.name", "priority", "flag"]
    static let operators = ["=", "=", "=", "!=", "<=", "contains", "in", "between", "null", "notNull", "resembles"]

    private static func rule(_ g: inout Generator) -> JSON {
        var r: JSONObject = ["field": .string(g.pick(fields)), "operator": .string(g.pick(operators))]
        if g.chance(95) { r["value"] = g.chance(15) ? .array([g.pick(values), g.pick(values)]) : g.pick(values) }
        return .object(r)
    }

    private static func tree(_ g: inout Generator) -> JSON? {
        if g.chance(5) { return nil }
        var rules: [JSON] = (0..<(1 + g.below(4))).map { _ in rule(&g) }
        // Most trees are the indexable kind: an AND group with `field = "text"`.
        if g.chance(70) { rules.insert(["field": .string(g.pick(fields)), "operator": "=", "value": g.pick(values)], at: g.below(rules.count + 1)) }
        if g.chance(10) { rules.append(["combinator": "or", "rules": [rule(&g), rule(&g)]]) }
        var group: JSONObject = ["combinator": g.chance(80) ? "and" : "or", "rules": .array(rules)]
        if g.chance(10) { group["not"] = true }
        return .object(group)
    }

    private static func agents(_ g: inout Generator, count: Int) -> [TriggeredAgent] {
        // A pool of trees smaller than the agents, so agents share trees.
        let trees = (0..<max(1, count / 3)).map { _ in tree(&g) }
        return (0..<count).map { i in
            var settings = JSONObject()
            if g.chance(20) { settings["target_changes"] = [["change_type": g.chance(50) ? "CREATE" : "UPDATE"]] }
            if g.chance(20) { settings["run_only_once_per_entity"] = true }
            var document: JSONObject = ["name": .string("agent \(i)"), "entity_type": "ticket",
                                        "callback_settings": settings.isEmpty ? nil : .object(settings)]
            if let tree = g.pick(trees) { document["ticket_conditions"] = ["conditions": tree] }
            return TriggeredAgent(id: Int64(i + 1), version: 1, document: document)
        }
    }

    private static func entity(_ g: inout Generator) -> JSONObject {
        var e = JSONObject()
        for field in ["status", "priority", "flag"] where g.chance(85) { e[field] = g.pick(values) }
        if g.chance(85) { e["company"] = ["name": g.pick(values)] }
        return e
    }

    func test_verdicts_areTheMatchersForEveryAgent() {
        var g = Generator(state: 0x9E37_79B9_7F4A_7C15)
        var indexed = 0
        for _ in 0..<60 {
            let agents = Self.agents(&g, count: 1 + g.below(80))
            let set = AgentSet(agents)
            indexed += set.treeCount
            for _ in 0..<20 {
                let event = CallbackEvent(eventId: nil, entityType: "ticket", entityId: "1", entityNumber: nil,
                                          changeType: g.chance(70) ? "CREATE" : "UPDATE", changes: nil, entity: Self.entity(&g), createdInPSAAt: nil)
                let ran = Set(agents.filter { _ in g.chance(30) }.map(\.id))
                let expected = CallbackMatcher.match(event, changes: [], agents: agents, alreadyRan: ran)
                var verdicts = set.verdicts(changeType: event.changeType, changes: [], fields: EntityFields(event.entity))
                set.applyRunOnce(&verdicts, alreadyRan: ran)
                XCTAssertEqual(verdicts, expected.matches.map(\.verdict), "entity \(JSON.object(event.entity).serializedString())")
                XCTAssertEqual(set.idsJSON(verdicts, matched: false), expected.idsJSON(matched: false))
                XCTAssertEqual(set.idsJSON(verdicts, matched: true), expected.idsJSON(matched: true))
                XCTAssertEqual(AgentSet.parseLetters(AgentSet.letters(verdicts), count: agents.count), verdicts)
            }
        }
        XCTAssertGreaterThan(indexed, 0)
    }

    func test_sharedTrees_areEvaluatedOncePerDistinctTree() {
        let agents = (0..<1000).map { i in
            TriggeredAgent(id: Int64(i + 1), version: 1, document: [
                "name": .string("bench \(i)"), "callback_settings": ["target_changes": [["change_type": "CREATE"]]],
                "ticket_conditions": ["conditions": ["combinator": "and", "rules": [
                    ["field": "status", "operator": "=", "value": "New"],
                    ["field": "company.name", "operator": "=", "value": .string("Company \(i % 200)")],
                ]]],
            ])
        }
        let set = AgentSet(agents)
        XCTAssertEqual(set.treeCount, 200)
        XCTAssertEqual(EqualityIndex.keys(agents[0].compiled).map(\.field), ["status", "company.name"], "an AND group with `field = \"text\"` is indexed")
        XCTAssertEqual(EqualityIndex(set.trees).indexedField(ofTree: 7), "company.name", "by the field whose texts vary most")
        let fields = EntityFields(["status": "New", "company": ["name": "company 7"]])
        let verdicts = set.verdicts(changeType: "CREATE", changes: [], fields: fields)
        XCTAssertEqual(verdicts.indices.filter { verdicts[$0] == .matched }.map { agents[$0].id }, [8, 208, 408, 608, 808])
        XCTAssertEqual(set.idsJSON(verdicts, matched: false).split(separator: ",").count, 995)
        XCTAssertEqual(AgentSet.parseAgents(set.agentsJSON)?.count, 1000)
        XCTAssertEqual(set.digest.count, 32)
        XCTAssertNotEqual(AgentSet(Array(agents.dropLast())).digest, set.digest)
        XCTAssertEqual(AgentSet(agents).digest, set.digest, "the digest is the list's")
    }

    func test_trimmedOfWhitespace_isFoundationsTrim() {
        let pieces = ["", " ", "\t", "\u{a0}", "\u{2003}", "\n", "x", "3", "é", "e\u{301}", "🔥", " 3 ", "return=minimal"]
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = a + b + c
                    XCTAssertEqual(Conditions.trimmedOfWhitespace(s), s.trimmingCharacters(in: .whitespaces), "\(Array(s.unicodeScalars))")
                }
            }
        }
    }

    // MARK: stored

    private func createAgent(_ name: String, status: String) throws -> Int64 {
        let (document, _) = try newAgentDocument([
            "name": .string(name), "trigger_type": "TRIGGERED", "actions": [],
            "ticket_conditions": ["conditions": ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": .string(status)]]]],
        ])
        return try store.write { db in
            Int64(try AgentRecords.insert(document, tenantId: tenantId, actor: .null, now: Timestamp.now(), db)["id"]!.stringValue!)!
        }
    }

    func test_storedCallback_namesItsSet_rendersAsAnswered_andAsTheOldForm_andIsFilteredByAgent() throws {
        let a = try createAgent("a", status: "New")
        let b = try createAgent("b", status: "Closed")
        let c = try createAgent("c", status: "new")
        let service = CallbackService(store: store, runner: ExecutionRunner(store: store, logger: Logger(level: .error), concurrency: 1))
        let event = CallbackEvent(eventId: "e-1", entityType: "ticket", entityId: "9", entityNumber: nil, changeType: "CREATE", changes: nil,
                                  entity: ["status": "New"], createdInPSAAt: nil)
        guard case .created(let callback, let answered) = try service.ingest(event, tenantId: tenantId, keyId: nil, source: ["type": "api"],
                                                                              testMode: false) else { return XCTFail("not created") }
        let row = try XCTUnwrap(try store.read { try $0.queryOne("SELECT agent_set, workflow_matches, failed_to_match_workflow_ids FROM callbacks WHERE id = ?", [.text(callback.id)]) })
        let digest = try XCTUnwrap(row.string("agent_set"))
        XCTAssertEqual(row.string("workflow_matches"), "mcm", "one letter per agent of the set, in execution order")
        XCTAssertEqual(row.string("failed_to_match_workflow_ids"), "[]", "derived from the set when read")
        XCTAssertEqual(try store.read { try CallbackRecords.agentSet(digest, tenantId: tenantId, $0) }, "[[\(a),1],[\(b),1],[\(c),1]]")

        let answer = try JSON.parse(answered)
        XCTAssertEqual(answer["failed_to_match_workflow_ids"], [.int(b)])
        XCTAssertEqual(answer["started_workflow_ids"], [.int(a), .int(c)])
        let read = try store.read { db in try service.detail(try XCTUnwrap(CallbackRecords.find(callback.id, tenantId: tenantId, db)), includeAuditTrail: true, db) }
        XCTAssertEqual(read, answered, "the stored callback renders the CallbackDetail it was answered with")
        // A reader with a cold cache (another process) renders the same from the stored set.
        let cold = CallbackService(store: store, runner: ExecutionRunner(store: store, logger: Logger(level: .error), concurrency: 1))
        XCTAssertEqual(try store.read { db in try cold.detail(try XCTUnwrap(CallbackRecords.find(callback.id, tenantId: tenantId, db)), includeAuditTrail: true, db) }, answered)
        let receipt = try store.read { db in
            try cold.detail(try XCTUnwrap(CallbackRecords.find(callback.id, tenantId: tenantId, db)), includeAuditTrail: false, workflowMatches: false, db)
        }
        XCTAssertEqual(try JSON.parse(receipt)["failed_to_match_workflow_ids"], [.int(b)], "the receipt of a duplicate lists the failed ids too")

        // The form stored before agent sets renders the same workflow_matches.
        let agents = try store.read { try service.agents.current(tenantId: tenantId, entityType: "ticket", $0) }.agents
        let old = Callback(id: SecureRandom.uuid(), tenantId: tenantId, event: CallbackEvent(eventId: "e-old", entityType: "ticket", entityId: "9",
                           entityNumber: nil, changeType: "CREATE", changes: nil, entity: ["status": "New"], createdInPSAAt: nil),
                           changes: [], changesFrom: .none, source: ["type": "api"], matcherRunId: SecureRandom.uuid(),
                           result: CallbackMatcher.match(event, changes: [], agents: agents, alreadyRan: []), runAfter: nil, now: Timestamp.now())
        try store.write { try CallbackRecords.insert(old, $0) }
        let oldDetail = try JSON.parse(try store.read { db in try service.detail(old, includeAuditTrail: true, db) })
        XCTAssertEqual(oldDetail["workflow_matches"], answer["workflow_matches"])
        XCTAssertEqual(oldDetail["failed_to_match_workflow_ids"], answer["failed_to_match_workflow_ids"])

        // agent_id finds callbacks that considered the agent, matched or not, in both forms.
        for (agent, expected) in [(b, 2), (a, 2), (c + 100, 0)] {
            var filter = CallbackRecords.Filter()
            filter.entityType = "ticket"
            filter.entityId = "9"
            filter.agentId = agent
            let (rows, _) = try store.read { try CallbackRecords.list(tenantId: tenantId, filter, page: Page(size: 20, after: nil, binding: ""), $0) }
            XCTAssertEqual(rows.count, expected, "agent \(agent)")
        }

        // Retention: the set stays while a callback names it, and goes after.
        XCTAssertEqual(try store.write { try CallbackRecords.pruneAgentSets(before: "9999", limit: 10, $0) }, 0, "a callback names it")
        try store.write { db in
            try db.execute("DELETE FROM callback_entity_runs")
            try db.execute("DELETE FROM executions")
            try db.execute("DELETE FROM callbacks")
        }
        XCTAssertEqual(try store.write { try CallbackRecords.pruneAgentSets(before: Timestamp.format(Date(timeIntervalSinceNow: -60)), limit: 10, $0) }, 0,
                       "a set younger than the cutoff stays")
        XCTAssertEqual(try store.write { try CallbackRecords.pruneAgentSets(before: "9999", limit: 10, $0) }, 1)
        // The next callback matched against the same agents stores the set again.
        guard case .created(let again, _) = try service.ingest(CallbackEvent(eventId: "e-2", entityType: "ticket", entityId: "9", entityNumber: nil,
                                                                             changeType: "CREATE", changes: nil, entity: ["status": "Closed"], createdInPSAAt: nil),
                                                               tenantId: tenantId, keyId: nil, source: ["type": "api"], testMode: false)
        else { return XCTFail("not created") }
        XCTAssertEqual(again.agentSet, digest)
        XCTAssertNotNil(try store.read { try CallbackRecords.agentSet(digest, tenantId: tenantId, $0) })
    }
}

import NeoJSON
import XCTest
@testable import PublicAPI

/// Matching: execution order, target_changes before conditions, run_only_once_per_entity, and the audit.
final class CallbackMatcherTests: XCTestCase {
    private func agent(_ id: Int64, order: Int64? = nil, targetChanges: JSON? = nil, conditions: JSON? = nil, once: Bool = false,
                       entityType: String = "ticket") -> TriggeredAgent {
        var settings = JSONObject()
        if let order { settings["execution_order"] = .int(order) }
        if let targetChanges { settings["target_changes"] = targetChanges }
        if once { settings["run_only_once_per_entity"] = true }
        let field = entityType == "time_entry" ? "time_entry_conditions" : "ticket_conditions"
        var document: JSONObject = ["name": .string("agent \(id)"), "entity_type": .string(entityType),
                                    "callback_settings": settings.isEmpty ? nil : .object(settings)]
        if let conditions { document[field] = ["conditions": conditions] }
        return TriggeredAgent(id: id, version: 1, document: document)
    }

    private func event(_ changeType: String = "CREATE", entity: JSONObject = ["status": "New", "priority": 2]) -> CallbackEvent {
        CallbackEvent(eventId: nil, entityType: "ticket", entityId: "42", entityNumber: nil, changeType: changeType, changes: nil,
                      entity: entity, createdInPSAAt: nil)
    }

    func test_agentDocument_readsSettingsAndTheConditionsOfItsEntityType() {
        let ticket = agent(1, order: -3, targetChanges: [["change_type": "CREATE"]], conditions: ["combinator": "and", "rules": []], once: true)
        XCTAssertEqual(ticket.executionOrder, -3)
        XCTAssertTrue(ticket.runOnlyOncePerEntity)
        XCTAssertEqual(ticket.conditions, ["combinator": "and", "rules": []])
        let timeEntry = TriggeredAgent(id: 2, version: 4, document: [
            "name": "t", "entity_type": "time_entry", "ticket_conditions": ["conditions": ["rules": [["field": "a", "operator": "null"]]]],
            "time_entry_conditions": ["conditions": ["rules": []]], "callback_settings": nil])
        XCTAssertEqual(timeEntry.conditions, ["rules": []], "time_entry agents match on time_entry_conditions")
        XCTAssertEqual(String(decoding: timeEntry.auditHead, as: UTF8.self), #"{"workflow_id":2,"workflow_name":"t","matched":"#)
        XCTAssertEqual(timeEntry.executionOrder, 0, "no execution_order counts as 0")
        XCTAssertFalse(timeEntry.runOnlyOncePerEntity)
    }

    func test_ordered_lowerExecutionOrderFirstThenId() {
        let agents = [agent(5), agent(2, order: 10), agent(9, order: -1), agent(1), agent(3, order: 10)]
        XCTAssertEqual(CallbackMatcher.ordered(agents).map(\.id), [9, 1, 5, 2, 3])
    }

    func test_match_targetChangesThenConditionsThenRunOnce_eachWithItsReason() {
        let statusRule: JSON = ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": "new"],
                                                               ["field": "priority", "operator": "<=", "value": 2]]]
        let agents = [
            agent(1),                                                                  // matches everything
            agent(2, targetChanges: [["change_type": "UPDATE"]]),                      // wrong change type
            agent(3, conditions: statusRule),                                          // conditions pass
            agent(4, conditions: ["rules": [["field": "status", "operator": "=", "value": "Closed"]]]),  // a rule fails
            agent(5, conditions: ["rules": [["field": "status", "operator": "resembles", "value": "x"]]]), // unknown operator
            agent(6, once: true),                                                      // already ran for this entity
            agent(7, once: true),                                                      // run-once, first time
        ]
        let result = CallbackMatcher.match(event(), changes: [], agents: agents, alreadyRan: [6, 1])
        let matches = result.matches
        XCTAssertEqual(matches.map(\.workflowId), [1, 2, 3, 4, 5, 6, 7], "every agent considered is in the audit, in the order given")
        XCTAssertEqual(result.startedIds, [1, 3, 7], "agent 1 ran before but is not run-once")
        XCTAssertEqual(matches.map(\.verdict), [.matched, .targetChanges, .matched, .conditions, .error, .runOnce, .matched])
        XCTAssertEqual(result.reason(matches[0]), CallbackMatcher.matchedReason)
        XCTAssertTrue(result.reason(matches[1]).hasPrefix("target_changes:"), result.reason(matches[1]))
        XCTAssertNil(matches[1].outcome, "conditions are not evaluated when target_changes fails")
        XCTAssertEqual(matches[2].outcome?.isMatch.array, [true, true])
        XCTAssertEqual(result.json(matches[2])["match_details"]?["field_comparisons"]?.arrayValue?.first?["field_value"], "New")
        XCTAssertEqual(result.reason(matches[3]), #"rule failed: status = "Closed""#)
        XCTAssertTrue(matches[4].error)
        XCTAssertFalse(matches[4].matched)
        XCTAssertTrue(result.reason(matches[4]).contains("unknown operator 'resembles'"), result.reason(matches[4]))
        XCTAssertEqual(result.reason(matches[5]), "run_only_once_per_entity: this agent already ran for ticket 42 from a callback")

        let bytes = result.workflowMatchesJSON()
        XCTAssertEqual(try JSON.parse(bytes), .array(matches.map(result.json)), "the wire bytes are the JSON entries")
        let stored = MatchResult.parseCompact(result.compact)
        XCTAssertEqual(stored.map(\.verdict), matches.map(\.verdict))
        let replayed = CallbackMatcher.replay(zip(agents, stored).map { ($0, $1.verdict) }, changeType: "CREATE", changes: [],
                                              entity: event().entity, entityLabel: "ticket 42")
        XCTAssertEqual(replayed.workflowMatchesJSON(), bytes, "a stored callback renders the audit it was answered with")
    }

    func test_match_updateWithTargetField_readsTheChanges() {
        let agents = [agent(1, targetChanges: [["change_type": "UPDATE", "target_field": "status", "target_value": "Closed"]])]
        let closed = CallbackMatcher.match(event("UPDATE"), changes: [.init(field: "status", old: "New", new: "Closed")], agents: agents, alreadyRan: [])
        XCTAssertEqual(closed.matches.map(\.matched), [true])
        let other = CallbackMatcher.match(event("UPDATE"), changes: [.init(field: "board", old: "A", new: "B")], agents: agents, alreadyRan: [])
        XCTAssertEqual(other.matches.map(\.matched), [false])
    }

    func test_auditJSON_isNeosWorkflowMatchShape() {
        let m = CallbackMatcher.match(event(), changes: [], agents: [agent(8, conditions: ["rules": [["field": "priority", "operator": ">", "value": 5]]])], alreadyRan: [])
        XCTAssertEqual(m.matches.first.map(m.json), [
            "workflow_id": 8, "workflow_name": "agent 8", "matched": false, "error": false, "match_reason": "rule failed: priority > 5",
            "match_details": ["event_type": "CREATE", "field_comparisons": [
                ["field_name": "priority", "field_value": 2, "operator": ">", "rule_value": 5, "is_match": false]]],
        ])
    }

    func test_callbackSettingsCheck_namesTheBadKey() {
        let cases: [(JSONObject, [String])] = [
            (["target_changes": [["change_type": "CREATE"]], "execution_order": 2, "run_only_once_per_entity": true], []),
            (["target_changes": nil, "execution_order": nil, "custom": "kept"], []),
            (["target_changes": [["change_type": "MOVED"]]], ["callback_settings.target_changes[0].change_type"]),
            (["execution_order": "first"], ["callback_settings.execution_order"]),
            (["run_only_once_per_entity": "yes", "ignore_execution_order": 1], ["callback_settings.run_only_once_per_entity", "callback_settings.ignore_execution_order"]),
        ]
        for (settings, fields) in cases {
            let v = Validation()
            CallbackSettings.check(settings, path: "callback_settings", validation: v)
            XCTAssertEqual(v.details.map(\.field), fields, JSON.object(settings).serializedString())
        }
    }
    func test_agentPatch_checksWhatMatchingReads_whenAWriteSendsIt() throws {
        let base = baseAgentDocument(autonomyType: "CHAINED_ACTIONS", entityType: "ticket", audience: nil)
        var deep: JSON = ["combinator": "and", "rules": [["field": "status", "operator": "=", "value": "New"]]]
        for _ in 1..<20 { deep = ["combinator": "or", "rules": [deep]] }
        let refusals: [(JSONObject, String)] = [
            (["ticket_conditions": ["conditions": deep]], "ticket_conditions.conditions" + String(repeating: ".rules[0]", count: 8)),
            (["time_entry_conditions": ["conditions": ["combinator": "xor", "rules": []]]], "time_entry_conditions.conditions.combinator"),
            (["ticket_conditions": ["conditions": ["rules": [["field": "status"]]]]], "ticket_conditions.conditions.rules[0].operator"),
            (["callback_settings": ["target_changes": [["change_type": "DELETED"]]]], "callback_settings.target_changes[0].change_type"),
        ]
        for (patch, field) in refusals {
            XCTAssertThrowsError(try applyAgentPatch(patch, to: base), field) { error in
                XCTAssertEqual((error as? APIError)?.status, 422, field)
                XCTAssertEqual((error as? APIError)?.details.map(\.field), [field])
            }
        }
        let unknown = try applyAgentPatch(["ticket_conditions": ["conditions": ["rules": [["field": "status", "operator": "resembles", "value": "x"]]]]], to: base)
        XCTAssertEqual(unknown.warnings.count, 1)
        XCTAssertTrue(unknown.warnings[0].contains("'resembles' is not one this server knows"), unknown.warnings[0])

        // Stored data is not re-checked by edits that do not send it.
        var legacy = base
        legacy["ticket_conditions"] = ["conditions": ["combinator": "xor", "rules": "all"]]
        XCTAssertEqual(try applyAgentPatch(["description": "still editable"], to: legacy).agent["description"], "still editable")
    }
}

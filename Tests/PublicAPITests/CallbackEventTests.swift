import Basics
import NeoJSON
import XCTest
@testable import PublicAPI

/// The ingest body (`CallbackEvent.parse`), the derived changes (`EntityDiff`) and the CallbackDetail shape.
final class CallbackEventTests: XCTestCase {
    private let valid: JSONObject = [
        "event_id": "evt-1", "entity_type": "TICKET", "entity_id": "42", "entity_number": "T-42", "change_type": "FIELD_UPDATED",
        "changes": [["field": "status", "old": "New", "new": "Closed"]], "entity": ["summary": "Printer on fire"],
        "created_in_psa_at": "2026-11-30T10:00:00+01:00",
    ]

    func test_parse_normalizesCaseAliasesIdsAndTimestamps() throws {
        let (event, warnings) = try CallbackEvent.parse(valid)
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(event.entityType, "ticket")
        XCTAssertEqual(event.changeType, "UPDATE")
        XCTAssertEqual(event.entityNumber, "T-42")
        XCTAssertEqual(event.changes, [.init(field: "status", old: "New", new: "Closed")])
        XCTAssertEqual(event.createdInPSAAt, "2026-11-30T09:00:00.000Z")

        var minimal: JSONObject = ["entity_type": "time_entry", "entity_id": 7, "change_type": "TICKET_CREATED", "entity": [:], "colour": "red"]
        minimal["entity_number"] = 700
        let (small, smallWarnings) = try CallbackEvent.parse(minimal)
        XCTAssertEqual(small.entityId, "7", "integer ids are kept as strings")
        XCTAssertEqual(small.entityNumber, "700")
        XCTAssertEqual(small.changeType, "CREATE")
        XCTAssertNil(small.changes, "changes not sent stays nil (matching may derive them)")
        XCTAssertNil(small.eventId)
        XCTAssertEqual(smallWarnings, ["unknown field 'colour' ignored"])
    }

    func test_parse_refusesEachBadFieldByName() {
        let cases: [(String, JSON?, String)] = [
            ("entity_id", nil, "entity_id"),
            ("entity_id", "", "entity_id"),
            ("entity_id", .string(String(repeating: "9", count: 201)), "entity_id"),
            ("entity_type", nil, "entity_type"),
            ("entity_type", "invoice", "entity_type"),
            ("entity_type", "none", "entity_type"),
            ("change_type", "DELETE", "change_type"),
            ("change_type", nil, "change_type"),
            ("entity", nil, "entity"),
            ("entity", "text", "entity"),
            ("event_id", .string(String(repeating: "e", count: 201)), "event_id"),
            ("event_id", "", "event_id"),
            ("changes", "status", "changes"),
            ("changes", [["old": 1]], "changes[0].field"),
            ("changes", ["x"], "changes[0]"),
            ("created_in_psa_at", "yesterday", "created_in_psa_at"),
        ]
        for (key, value, field) in cases {
            var body = valid
            body[key] = value
            XCTAssertThrowsError(try CallbackEvent.parse(body), "\(key)=\(value.map { $0.serializedString() } ?? "absent")") { error in
                let e = error as? APIError
                XCTAssertEqual(e?.status, 422)
                XCTAssertEqual(e?.details.map(\.field), [field], "\(key)=\(value.map { $0.serializedString() } ?? "absent")")
            }
        }
    }

    func test_parse_reportsEveryProblemAtOnce() {
        XCTAssertThrowsError(try CallbackEvent.parse(["entity_type": "ticket"])) { error in
            XCTAssertEqual((error as? APIError)?.details.map(\.field), ["entity_id", "change_type", "entity"])
        }
    }

    func test_entityDiff_tableDriven() {
        let cases: [(String, JSONObject, JSONObject, [CallbackEvent.Change])] = [
            ("same record", ["status": "New"], ["status": "New"], []),
            ("a changed field", ["status": "New", "board": "Help"], ["status": "Closed", "board": "Help"], [.init(field: "status", old: "New", new: "Closed")]),
            ("a new field", [:], ["owner": "ada"], [.init(field: "owner", old: nil, new: "ada")]),
            ("a dropped field", ["owner": "ada"], [:], [.init(field: "owner", old: "ada", new: nil)]),
            ("bookkeeping skipped", ["_info": ["lastUpdated": "1"]], ["_info": ["lastUpdated": "2"]], []),
            ("nested values compare whole", ["company": ["id": 1]], ["company": ["id": 2]], [.init(field: "company", old: ["id": 1], new: ["id": 2])]),
        ]
        for (name, old, new, expected) in cases {
            XCTAssertEqual(EntityDiff.changes(from: old, to: new), expected, name)
        }
    }

    func test_detail_listsNeoFieldsFirst_andListRowsOmitTheAuditTrail() throws {
        let (event, _) = try CallbackEvent.parse(valid)
        let agent = TriggeredAgent(id: 3, version: 1, document: ["name": "Close notes"])
        let result = CallbackMatcher.match(event, changes: event.changes ?? [], agents: [agent], alreadyRan: [])
        var callback = Callback(id: "0b7c2f0e-4d3c-4f6b-9a39-2f0d5bb3c001", tenantId: 1, event: event, changes: event.changes ?? [],
                                changesFrom: .event, source: ["type": "api", "key_id": 1], matcherRunId: "run", result: result,
                                runAfter: nil, now: "2026-11-30T09:00:01.000Z")
        callback.startedExecutions = Callback.startedExecutions([(3, "exec")])
        XCTAssertEqual(callback.workflowMatches, #"[[3,1,"m"]]"#, "the stored audit is the verdicts")
        let detail = try XCTUnwrap(JSON.parse(callback.detail(includeAuditTrail: true, workflowMatches: result)).objectValue)
        XCTAssertEqual(Array(detail.keys.prefix(11)), ["callback_id", "created_in_psa_at", "entity_id", "entity_number", "error_message",
                                                       "failed_to_match_workflow_ids", "finished_processing_at", "matcher_run_id",
                                                       "processed_audit_trail", "started_workflow_ids", "workflow_matches"])
        XCTAssertEqual(detail["started_workflow_ids"], [3])
        XCTAssertEqual(detail["failed_to_match_workflow_ids"], [])
        XCTAssertEqual(detail["started_executions"], [["workflow_id": 3, "execution_id": "exec"]])
        XCTAssertEqual(detail["processed_audit_trail"]?["changes_from"], "event")
        XCTAssertEqual(detail["processed_audit_trail"]?["entity"], ["summary": "Printer on fire"])
        XCTAssertEqual(detail["workflow_matches"]?.arrayValue?.first?["workflow_name"], "Close notes")
        let row = try XCTUnwrap(JSON.parse(callback.detail(includeAuditTrail: false, workflowMatches: result)).objectValue)
        XCTAssertNil(row["processed_audit_trail"])
        XCTAssertEqual(row.count, detail.count - 1)
    }
}

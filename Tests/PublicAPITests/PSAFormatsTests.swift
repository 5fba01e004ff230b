import NeoJSON
import XCTest
@testable import PublicAPI

/// `PSAFormat` and `ConnectWiseCallback`: a ConnectWise callback body mapped onto the normalized event.
///
/// The sample is built from public sources (README, "Events from a PSA", lists them):
/// - the callback envelope, from callbacks captured on a ConnectWise sandbox:
///   https://github.com/amp-labs/connectors/blob/d9e92f3f61fb0e578cb1cc2ac8195f471a3c331a/providers/connectwise/internal/webhook/test/event.json
///   and, for "deleted" (Entity null),
///   https://github.com/amp-labs/connectors/blob/4e1ab9168c52672f12330c1e8fe9a005f32ba1a3/providers/connectwise/internal/webhook/test/contact-delete.json
/// - the ticket record inside `Entity`, trimmed from a ConnectWise service ticket:
///   https://github.com/PipedreamHQ/pipedream/blob/2dcd8d08ca0740d4217fbf98e1df29ee73d5d64b/components/connectwise_psa/sources/new-ticket-created/test-event.mjs
final class PSAFormatsTests: XCTestCase {
    static let ticket: JSONObject = [
        "id": 493,
        "summary": "Check Remote Backup",
        "recordType": "ServiceTicket",
        "board": ["id": 1, "name": "Professional Services",
                  "_info": ["board_href": "https://api-staging.connectwisedev.com/v4_6_release/apis/3.0//service/boards/1"]],
        "status": ["id": 16, "name": "New (not responded)", "Sort": 0,
                   "_info": ["status_href": "https://api-staging.connectwisedev.com/v4_6_release/apis/3.0//service/boards/1/statuses/16"]],
        "company": ["id": 16, "identifier": "IndigoStrawberryCo", "name": "IndigoStrawberry, Co.",
                    "_info": ["company_href": "https://api-staging.connectwisedev.com/v4_6_release/apis/3.0//company/companies/16"]],
        "contactName": "Ramon Stawiarz",
        "priority": ["id": 4, "name": "Priority 3 - Normal Response", "sort": 6],
        "severity": "Medium",
        "closedFlag": false,
        "customFields": [["id": 3, "caption": "Backup Vendor", "type": "Text", "value": "Acme"]],
        "_info": ["lastUpdated": "2022-07-02T04:25:10Z", "updatedBy": "template3",
                  "dateEntered": "2022-07-02T04:20:41Z", "enteredBy": "template3"],
    ]

    static func callback(action: JSON = "added", type: JSON = "ticket", entity: JSONObject = ticket) -> JSONObject {
        [
            "MessageId": "cb67323f-43ba-4ef6-b471-6bb90e62ab6a",
            "FromUrl": "sandbox-na.myconnectwise.net",
            "CompanyId": "myCompany",
            "MemberId": "Cobalt",
            "Action": action,
            "Type": type,
            "ID": 493,
            "ProductInstanceId": "639c96cab2eb560001dd1324",
            "PartnerId": "61ddc2817bcddc0001c74208",
            "Entity": .string(JSON.object(entity).serializedString()),
            "Metadata": ["key_url": "https://sandbox-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=myCompany&id=89966c04"],
            "CallbackObjectRecId": 26567,
        ]
    }

    private func event(_ body: JSONObject) throws -> JSONObject {
        guard case .event(let event) = try PSAFormat.connectwise.normalize(body) else {
            XCTFail("expected an event")
            return [:]
        }
        return event
    }

    private func refusal(_ body: JSONObject) -> APIError? {
        do {
            _ = try PSAFormat.connectwise.normalize(body)
            return nil
        } catch {
            return error as? APIError
        }
    }

    func test_addedTicket_mapsEnvelopeOntoNormalizedEvent() throws {
        let mapped = try event(Self.callback())
        XCTAssertEqual(Array(mapped.keys), ["event_id", "entity_type", "entity_id", "entity_number", "change_type", "entity", "created_in_psa_at"])
        XCTAssertEqual(mapped["event_id"], "cb67323f-43ba-4ef6-b471-6bb90e62ab6a")
        XCTAssertEqual(mapped["entity_type"], "ticket")
        XCTAssertEqual(mapped["entity_id"], "493")
        XCTAssertEqual(mapped["entity_number"], "493")
        XCTAssertEqual(mapped["change_type"], "CREATE")
        XCTAssertEqual(mapped["created_in_psa_at"], "2022-07-02T04:25:10Z")
    }

    func test_entity_referencesBecomeNamesWithIdsBeside_otherFieldsKeptAsSent() throws {
        let entity = try event(Self.callback())["entity"]?.objectValue ?? [:]
        let expected: [(String, JSON?)] = [
            ("summary", "Check Remote Backup"),
            ("board", "Professional Services"), ("boardId", 1),
            ("status", "New (not responded)"), ("statusId", 16),
            ("company", "IndigoStrawberry, Co."), ("companyId", 16), ("companyIdentifier", "IndigoStrawberryCo"),
            ("priority", "Priority 3 - Normal Response"), ("priorityId", 4),
            ("severity", "Medium"), ("closedFlag", false), ("contactName", "Ramon Stawiarz"),
            ("customFields", Self.ticket["customFields"]),
            ("_info", Self.ticket["_info"]),
            ("statusIdentifier", nil), ("boardIdentifier", nil),
        ]
        for (field, value) in expected {
            XCTAssertEqual(entity[field], value, field)
        }
    }

    func test_flattenReferences_tableDriven() {
        let cases: [(JSONObject, JSONObject, String)] = [
            (["owner": ["id": 7, "identifier": "jdoe", "name": "Jane Doe"]],
             ["owner": "Jane Doe", "ownerId": 7, "ownerIdentifier": "jdoe"], "name wins, identifier kept beside"),
            (["location": ["id": 2, "identifier": "Tampa"]], ["location": "Tampa", "locationId": 2], "identifier when there is no name"),
            (["board": ["id": 1, "name": "Help Desk"], "boardId": 99], ["board": "Help Desk", "boardId": 99], "the record's own key wins"),
            (["mergedParentTicket": ["id": 5, "summary": "Old"]], ["mergedParentTicket": ["id": 5, "summary": "Old"]], "no name: not a reference"),
            (["status": ["id": .null, "name": "New"]], ["status": ["id": .null, "name": "New"]], "no id: not a reference"),
            (["_info": ["lastUpdated": "2022-07-02T04:20:41Z"]], ["_info": ["lastUpdated": "2022-07-02T04:20:41Z"]], "_info kept"),
            (["tags": ["a", "b"], "hours": 1.5], ["tags": ["a", "b"], "hours": 1.5], "scalars and arrays kept"),
        ]
        for (record, expected, label) in cases {
            XCTAssertEqual(ConnectWiseCallback.flattenReferences(record), expected, label)
        }
    }

    func test_mappedEntity_letsRulesOnStatusAndBoardMatch() throws {
        let entity = try event(Self.callback(action: "updated"))["entity"]?.objectValue ?? [:]
        let conditions: JSON = ["combinator": "and", "rules": [
            ["field": "status", "operator": "=", "value": "new (not responded)"],
            ["field": "board", "operator": "in", "value": ["Professional Services", "Help Desk"]],
            ["field": "companyIdentifier", "operator": "=", "value": "IndigoStrawberryCo"],
            ["field": "_info.updatedBy", "operator": "!=", "value": "neo-api"],
        ]]
        let outcome = Conditions.evaluate(conditions, entity: entity)
        XCTAssertTrue(outcome.matched, outcome.reason ?? "")
        XCTAssertFalse(outcome.error)
    }

    func test_actionsTypesAndRecordTypes_tableDriven() throws {
        var projectTicket = Self.ticket
        projectTicket["recordType"] = "ProjectTicket"
        let timeEntry: JSONObject = ["id": 88, "chargeToId": 493, "_info": ["lastUpdated": "2022-07-03T10:00:00Z"]]
        let cases: [(JSONObject, String, String, JSON?, String)] = [
            (Self.callback(action: "updated"), "UPDATE", "ticket", "493", "updated"),
            (Self.callback(action: "Added"), "CREATE", "ticket", "493", "Action ignores case"),
            (Self.callback(type: "Ticket"), "CREATE", "ticket", "493", "Type ignores case"),
            (Self.callback(entity: projectTicket), "CREATE", "project_ticket", "493", "a project ticket"),
            (Self.callback(type: "time", entity: timeEntry), "CREATE", "time_entry", nil, "time entries have no number"),
            (Self.callback(type: "company", entity: ["id": 16, "name": "IndigoStrawberry, Co."]), "CREATE", "company", nil, "company"),
        ]
        for (body, changeType, entityType, number, label) in cases {
            let mapped = try event(body)
            XCTAssertEqual(mapped["change_type"], .string(changeType), label)
            XCTAssertEqual(mapped["entity_type"], .string(entityType), label)
            XCTAssertEqual(mapped["entity_number"], number, label)
        }
    }

    func test_variants_entityObjectStringIdNoMessageIdOrDates() throws {
        var body = Self.callback()
        body["Entity"] = .object(Self.ticket)
        XCTAssertEqual(try event(body)["entity"], try event(Self.callback())["entity"], "a decoded Entity object is accepted")

        body = Self.callback(entity: ["id": 493, "summary": "No dates", "_info": ["lastUpdated": "yesterday"]])
        body["ID"] = "493"
        body["MessageId"] = nil
        let mapped = try event(body)
        XCTAssertEqual(mapped["entity_id"], "493")
        XCTAssertNil(mapped["event_id"], "no MessageId: no dedupe key")
        XCTAssertNil(mapped["created_in_psa_at"], "a date that is not RFC 3339 is left out")
    }

    func test_deletedAndUnknownTypes_areIgnoredNotRefused() throws {
        var deleted = Self.callback(action: "deleted", type: "contact")
        deleted["Entity"] = .null
        let cases: [(JSONObject, String)] = [
            (deleted, "\"deleted\""),
            (Self.callback(type: "invoice"), "'invoice'"),
        ]
        for (body, mention) in cases {
            guard case .ignored(let reason) = try PSAFormat.connectwise.normalize(body) else {
                XCTFail("expected ignored for \(mention)")
                continue
            }
            XCTAssertTrue(reason.contains(mention), reason)
        }
    }

    func test_malformedBodies_areRefusedNamingTheField() {
        func with(_ key: String, _ value: JSON?) -> JSONObject {
            var body = Self.callback()
            body[key] = value
            return body
        }
        let cases: [(JSONObject, [String], String)] = [
            (with("ID", nil), ["ID"], "is required"),
            (with("ID", true), ["ID"], "(got boolean)"),
            (with("ID", ""), ["ID"], "is required"),
            (with("Action", nil), ["Action"], "\"added\", \"updated\" or \"deleted\""),
            (with("Action", "merged"), ["Action"], "(got 'merged')"),
            (with("Type", nil), ["Type"], "is required"),
            (with("Type", 3), ["Type"], "(got integer)"),
            (with("Entity", nil), ["Entity"], "is required on \"added\" and \"updated\""),
            (with("Entity", .null), ["Entity"], "(got null)"),
            (with("Entity", "{\"id\": 493,"), ["Entity"], "is not valid JSON"),
            (with("Entity", "[493]"), ["Entity"], "must hold a JSON object"),
            (with("Entity", 493), ["Entity"], "(got integer)"),
            (with("MessageId", 7), ["MessageId"], "1 to 200 characters"),
            (with("MessageId", .string(String(repeating: "x", count: 201))), ["MessageId"], "1 to 200 characters"),
            (["Action": "updated", "Type": "ticket"], ["ID", "Entity"], "is required"),
            ([:], ["Action", "Type"], "is required"),
        ]
        for (body, fields, phrase) in cases {
            guard let error = refusal(body) else {
                XCTFail("accepted: \(fields)")
                continue
            }
            XCTAssertEqual(error.status, 422, "\(fields)")
            XCTAssertEqual(error.details.map(\.field), fields)
            XCTAssertTrue(error.details.contains { $0.issue.contains(phrase) }, "\(error.details)")
        }
    }

    func test_formatLookup_namesTheAcceptedFormats() throws {
        XCTAssertEqual(try PSAFormat.named(nil), .neo)
        XCTAssertEqual(try PSAFormat.named(""), .neo)
        XCTAssertEqual(try PSAFormat.named("neo"), .neo)
        XCTAssertEqual(try PSAFormat.named("ConnectWise"), .connectwise)
        XCTAssertThrowsError(try PSAFormat.named("autotask")) { error in
            let error = error as? APIError
            XCTAssertEqual(error?.status, 400)
            XCTAssertEqual(error?.details.map(\.field), ["format"])
            XCTAssertEqual(error?.message, "format must be one of neo, connectwise (got 'autotask')")
        }
    }

    func test_neoFormat_passesTheBodyThrough() throws {
        let body: JSONObject = ["entity_type": "ticket", "entity_id": "1", "change_type": "CREATE", "entity": ["summary": "x"]]
        XCTAssertEqual(try PSAFormat.neo.normalize(body), .event(body))
    }
}

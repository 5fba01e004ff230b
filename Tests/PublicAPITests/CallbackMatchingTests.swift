import NeoJSON
import XCTest
@testable import PublicAPI

/// target_changes and webhook signatures: the pure halves of inbound events.
final class CallbackMatchingTests: XCTestCase {
    private func settings(_ entries: [JSON]) -> JSON { ["target_changes": .array(entries)] }

    func test_targetChanges_tableDriven() {
        let statusChange: [(field: String, old: JSON, new: JSON)] = [("status", "New", "In Progress"), ("priority", 3, 1)]
        let cases: [(String, JSON?, String, [(field: String, old: JSON, new: JSON)], Bool)] = [
            ("no settings match every event", nil, "UPDATE", [], true),
            ("an empty list matches every event", settings([]), "CREATE", [], true),
            ("change type alone", settings([["change_type": "CREATE"]]), "CREATE", [], true),
            ("change type mismatch", settings([["change_type": "CREATE"]]), "UPDATE", statusChange, false),
            ("Neo aliases", settings([["change_type": "FIELD_UPDATED"]]), "UPDATE", statusChange, true),
            ("a field that changed", settings([["change_type": "UPDATE", "target_field": "status"]]), "UPDATE", statusChange, true),
            ("a field that did not change", settings([["change_type": "UPDATE", "target_field": "board"]]), "UPDATE", statusChange, false),
            ("to a value (case ignored)", settings([["change_type": "UPDATE", "target_field": "status", "target_value": "in progress"]]), "UPDATE", statusChange, true),
            ("to another value", settings([["change_type": "UPDATE", "target_field": "status", "target_value": "Closed"]]), "UPDATE", statusChange, false),
            ("from a value", settings([["change_type": "UPDATE", "target_field": "status", "source_value": "New", "target_value": "In Progress"]]), "UPDATE", statusChange, true),
            ("from another value", settings([["change_type": "UPDATE", "target_field": "status", "source_value": "Open"]]), "UPDATE", statusChange, false),
            ("numbers compare as numbers", settings([["change_type": "UPDATE", "target_field": "priority", "target_value": "1"]]), "UPDATE", statusChange, true),
            ("entries are OR-ed", settings([["change_type": "CREATE"], ["change_type": "UPDATE", "target_field": "status"]]), "UPDATE", statusChange, true),
        ]
        for (name, s, type, changes, expected) in cases {
            let verdict = TargetChanges.evaluate(s, changeType: type, changes: changes)
            XCTAssertEqual(verdict.matched, expected, name)
            XCTAssertEqual(verdict.reason == nil, expected, "\(name): a miss says why")
        }
    }

    func test_targetChanges_check_namesTheBadEntry() {
        let cases: [(JSON, String)] = [
            ("all", "callback_settings.target_changes"),
            ([["change_type": "DELETE"]], "callback_settings.target_changes[0].change_type"),
            ([["change_type": "UPDATE", "target_field": 3]], "callback_settings.target_changes[0].target_field"),
            (["x"], "callback_settings.target_changes[0]"),
        ]
        for (value, field) in cases {
            let v = Validation()
            TargetChanges.check(value, path: "callback_settings.target_changes", validation: v)
            XCTAssertEqual(v.details.first?.field, field, value.serializedString())
        }
    }

    func test_signature_roundTripAndEveryRefusal() throws {
        let secret = Array("whsec_test_0123456789".utf8)
        let body = Array(#"{"entity_id":"42"}"#.utf8)
        let now: Int64 = 1_800_000_000
        let header = WebhookSignature.sign(secret: secret, timestamp: now, body: body)
        XCTAssertEqual(try WebhookSignature.verify(header: header, body: body, secret: secret, now: now + 299), now)
        XCTAssertEqual(try WebhookSignature.verify(header: "v1=\("00" + String(repeating: "ab", count: 31)), " + header, body: body, secret: secret, now: now), now,
                       "any v1 entry may match (secret rotation)")

        let refusals: [(String?, [UInt8], Int64, WebhookSignature.Failure)] = [
            (nil, body, now, .missing),
            ("", body, now, .missing),
            ("t=abc,v1=00", body, now, .malformed),
            ("t=\(now)", body, now, .malformed),
            ("t=\(now),v1=zz", body, now, .malformed),
            (header, body, now + 301, .stale(skewSeconds: 301)),
            (header, body, now - 400, .stale(skewSeconds: 400)),
            (header, Array(#"{"entity_id":"43"}"#.utf8), now, .mismatch),
            (WebhookSignature.sign(secret: Array("other".utf8), timestamp: now, body: body), body, now, .mismatch),
        ]
        for (h, b, at, failure) in refusals {
            XCTAssertThrowsError(try WebhookSignature.verify(header: h, body: b, secret: secret, now: at), h ?? "nil") { error in
                XCTAssertEqual(error as? WebhookSignature.Failure, failure, h ?? "nil")
            }
        }
    }
}

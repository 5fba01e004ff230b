import NeoJSON
import XCTest
@testable import PublicAPI

/// Warnings found before a refusal travel with the APIError into the error envelope.
final class ErrorWarningsTests: XCTestCase {
    private func object(_ text: String) -> JSONObject { try! JSON.parse(Array(text.utf8)).objectValue! }

    func test_validationCheck_carriesTheWarningsSoFar() {
        let v = Validation()
        v.warn("unknown field 'x' ignored")
        v.fail("name", "is required")
        XCTAssertThrowsError(try v.check()) { error in
            XCTAssertEqual((error as? APIError)?.warnings, ["unknown field 'x' ignored"])
        }
    }

    func test_create_missingTriggerTypeSentMisspelt_refusesAndSaysWhatItIgnored() {
        XCTAssertThrowsError(try newAgentDocument(object(#"{"name": "x", "trigger-type": "NONE", "actions": []}"#))) { error in
            let e = error as? APIError
            XCTAssertEqual(e?.status, 422)
            XCTAssertEqual(e?.message, "trigger_type: is required")
            XCTAssertEqual(e?.warnings, ["unknown field 'trigger-type' ignored; did you mean 'trigger_type'?"])
        }
    }

    func test_create_patchRefusalAndCreateRefusal_keepThePatchWarnings() {
        XCTAssertThrowsError(try newAgentDocument(object(#"{"name": 5, "trigger-type": "NONE", "actions": []}"#))) { error in
            let e = error as? APIError
            XCTAssertEqual(Set(e?.details.map(\.field) ?? []), ["trigger_type", "name"])
            XCTAssertEqual(e?.warnings, ["unknown field 'trigger-type' ignored; did you mean 'trigger_type'?"])
        }
    }

    func test_errorEnvelope_listsWarningsOnlyWhenThereAreAny() throws {
        let bare = try JSON.parse(Envelope.error(.notFound("no"), requestId: "r1"))
        XCTAssertNil(bare["meta"]?["warnings"])
        let warned = try JSON.parse(Envelope.error(.notFound("no"), requestId: "r1", warnings: ["w"]))
        XCTAssertEqual(warned["meta"]?["warnings"], ["w"])
        XCTAssertEqual(warned["meta"]?["request_id"], "r1")
    }
}

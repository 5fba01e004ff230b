import NeoJSON
import XCTest
@testable import PublicAPI

/// "Did you mean …?" for unknown body fields and query parameters.
final class NameSuggestionTests: XCTestCase {
    private let listParameters = ["page_size", "cursor", "state", "trigger_type", "autonomy_type", "group_name", "q"]

    func test_closest_caseDashAndUnderscoreDifferences() {
        XCTAssertEqual(NameSuggestion.closest(to: "trigger-type", among: listParameters), "trigger_type")
        XCTAssertEqual(NameSuggestion.closest(to: "pageSize", among: listParameters), "page_size")
        XCTAssertEqual(NameSuggestion.closest(to: "PAGE_SIZE", among: listParameters), "page_size")
        XCTAssertEqual(NameSuggestion.closest(to: "groupname", among: listParameters), "group_name")
    }

    func test_closest_synonymsOnlyWhereTheirTargetIsAccepted() {
        XCTAssertEqual(NameSuggestion.closest(to: "limit", among: listParameters), "page_size")
        XCTAssertEqual(NameSuggestion.closest(to: "per_page", among: listParameters), "page_size")
        XCTAssertEqual(NameSuggestion.closest(to: "offset", among: listParameters), "cursor")
        XCTAssertEqual(NameSuggestion.closest(to: "search", among: listParameters), "q")
        XCTAssertEqual(NameSuggestion.closest(to: "status", among: listParameters), "state")
        XCTAssertEqual(NameSuggestion.closest(to: "state", among: ["status", "agent_id"]), "status")
        XCTAssertNil(NameSuggestion.closest(to: "limit", among: ["since", "until"]))
    }

    func test_closest_smallEditDistance() {
        XCTAssertEqual(NameSuggestion.closest(to: "curosr", among: listParameters), "cursor", "adjacent swap")
        XCTAssertEqual(NameSuggestion.closest(to: "trigger_typ", among: listParameters), "trigger_type")
        XCTAssertEqual(NameSuggestion.closest(to: "autonomytipe", among: listParameters), "autonomy_type")
        XCTAssertEqual(NameSuggestion.closest(to: "untill", among: ["since", "until"]), "until")
        XCTAssertNil(NameSuggestion.closest(to: "colour", among: listParameters))
        XCTAssertNil(NameSuggestion.closest(to: "x", among: listParameters), "too short to guess")
        XCTAssertNil(NameSuggestion.closest(to: "zzzz_type", among: listParameters))
    }

    func test_distance_isOptimalStringAlignment() {
        XCTAssertEqual(NameSuggestion.distance("", "abc"), 3)
        XCTAssertEqual(NameSuggestion.distance("abc", "abc"), 0)
        XCTAssertEqual(NameSuggestion.distance("abc", "acb"), 1)
        XCTAssertEqual(NameSuggestion.distance("kitten", "sitting"), 3)
    }

    func test_unknownMessage_withAndWithoutSuggestion() {
        XCTAssertEqual(NameSuggestion.unknownMessage("query parameter", "limit", suggestion: "page_size"),
                       "unknown query parameter 'limit' ignored; did you mean 'page_size'?")
        XCTAssertEqual(NameSuggestion.unknownMessage("field", "colour", suggestion: nil), "unknown field 'colour' ignored")
    }

    func test_warnUnknown_suggestsAKnownFieldThatWasNotSent() throws {
        let body = try XCTUnwrap(try JSON.parse(Array(#"{"name": "x", "trigger-type": "NONE", "Name": "y", "opts": {"tmeout": 1}}"#.utf8)).objectValue)
        let v = Validation()
        let r = FieldReader(body, validation: v)
        _ = r.string("name")
        _ = r.enumValue("trigger_type", ["NONE"])
        let nested = r.nested("opts")
        _ = nested?.int("timeout")
        nested?.warnUnknown()
        r.warnUnknown()
        XCTAssertEqual(v.warnings.sorted(), [
            "unknown field 'Name' ignored",
            "unknown field 'opts.tmeout' ignored; did you mean 'opts.timeout'?",
            "unknown field 'trigger-type' ignored; did you mean 'trigger_type'?",
        ], "'name' was sent, so 'Name' gets no suggestion")
    }
}

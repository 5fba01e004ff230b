import Executor
import NeoJSON
import XCTest
@testable import PublicAPI

/// A CI fixture's validation (design §12): every entry through the API's validators, each problem named by its
/// place in the file, all of them at once.
final class FixtureParseTests: XCTestCase {
    private func problems(_ json: String) -> [String] {
        do {
            _ = try Fixture.parse(Array(json.utf8), policy: .any)
            return []
        } catch let invalid as Fixture.Invalid {
            return invalid.problems.map(\.field)
        } catch {
            return ["unexpected \(error)"]
        }
    }

    func test_aValidFixture_parsesEveryPart() throws {
        let fixture = try Fixture.parse(Array("""
            {"tenant": "default", "settings": {"timezone": "Europe/Berlin"},
             "keys": [{"key": "neo_sk_test_FixtureKey0123456789abcdef", "name": "ci", "role": "admin"}, {"name": "made"}],
             "external_apis": [{"name": "tickets", "endpoint_url": "https://x.example/v1", "method": "GET"}],
             "agents": [{"name": "a", "trigger_type": "NONE", "actions": []}], "extra": true}
            """.utf8), policy: .any)
        XCTAssertEqual(fixture.tenants.count, 1)
        XCTAssertEqual(fixture.tenants[0].keys.map(\.key), ["neo_sk_test_FixtureKey0123456789abcdef", nil])
        XCTAssertEqual(fixture.tenants[0].externalAPIs.map(\.config.name), ["tickets"])
        XCTAssertEqual(fixture.tenants[0].agents.first?.document["actions"]?.arrayValue?.count, 1, "FIND_ENTITIES is built as on create")
        XCTAssertTrue(fixture.warnings.contains { $0.contains("extra") }, "\(fixture.warnings)")
    }

    func test_everyBadEntry_isNamedByItsPlaceInTheFile() {
        let found = problems("""
            {"tenant": "default", "settings": {"timezone": "Mars/Olympus"},
             "keys": [{"key": "sk_live_nope", "name": "k"}, {"role": "root"}],
             "external_apis": [{"name": "Bad Name", "endpoint_url": "ftp://x", "method": "GET"}],
             "agents": [{"name": "ok", "trigger_type": "NONE", "actions": []}, {"name": "ok2", "trigger_type": "NONE", "actions": []},
                        {"name": "ok3", "trigger_type": "NONE", "actions": []}, {"name": "bad", "trigger_type": "SOMETIMES", "actions": []},
                        {"name": "ok", "trigger_type": "NONE", "actions": []}, 7]}
            """)
        for field in ["settings.timezone", "keys[0].key", "keys[1].name", "keys[1].role", "external_apis[0].name",
                      "external_apis[0].endpoint_url", "agents[3].trigger_type", "agents[4].name", "agents[5]"] {
            XCTAssertTrue(found.contains(field), "\(field) not in \(found)")
        }
    }

    func test_manyTenants_prefixTheirEntries_andATenantTwiceIsRefused() {
        let found = problems("""
            {"tenants": [{"tenant": "a", "agents": [{"name": "x", "actions": []}]}, {"tenant": "a"}, {"name": "no tenant"}]}
            """)
        XCTAssertTrue(found.contains("tenants[0].agents[0].trigger_type"), "\(found)")
        XCTAssertTrue(found.contains("tenants[1].tenant"), "\(found)")
        XCTAssertTrue(found.contains("tenants[2].tenant"), "\(found)")
        XCTAssertEqual(problems("[1]"), ["(file)"])
        XCTAssertEqual(problems("{"), ["(file)"])
    }
}

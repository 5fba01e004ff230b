import Foundation
import NeoJSON
import XCTest

/// Request headers and query parameters read strictly, and every refusal saying what to fix:
/// test-mode header values, unknown query parameters, cursors bound to their list, If-Match,
/// an empty bearer token.
final class StrictRequestTests: SharedServerTestCase {
    private func parse(_ text: String) -> JSON { try! JSON.parse(Array(text.utf8)) }

    private let minimalAgent = #"{"name": "strict", "trigger_type": "NONE", "actions": []}"#

    private func agentCount() throws -> Int {
        try server.request("GET", "/public-api/agents?page_size=200").data?.arrayValue?.count ?? -1
    }

    // MARK: X-Neo-Test-Mode

    func test_testModeHeader_trueYesAnyCase_persistNothing() throws {
        for value in ["true", "TRUE", "yes", "Yes", " 1 "] {
            let before = try agentCount()
            let r = try server.request("POST", "/public-api/agents", json: parse(minimalAgent), headers: ["X-Neo-Test-Mode": value])
            XCTAssertEqual(r.status, 201, "\(value): \(r.text)")
            XCTAssertEqual(r.data?["id"], .null, value)
            XCTAssertEqual(r.json?["meta"]?["warnings"], ["test mode: not persisted"], value)
            XCTAssertEqual(try agentCount(), before, "\(value) must not write")
        }
        let off = try server.request("POST", "/public-api/agents", json: parse(minimalAgent), headers: ["X-Neo-Test-Mode": "False"])
        XCTAssertEqual(off.status, 201)
        XCTAssertNotEqual(off.data?["id"], .null, "False is off: a real write")
    }

    func test_testModeHeader_otherValues_are400BeforeAnyWrite() throws {
        for value in ["maybe", "2", "on", ""] {
            let before = try agentCount()
            let r = try server.request("POST", "/public-api/agents", json: parse(minimalAgent), headers: ["X-Neo-Test-Mode": value])
            XCTAssertEqual(r.status, 400, "'\(value)': \(r.text)")
            XCTAssertEqual(r.errorCode, "BAD_REQUEST")
            XCTAssertTrue(r.errorMessage?.contains("X-Neo-Test-Mode must be 1, true or yes (on) or 0, false or no (off)") ?? false, r.text)
            XCTAssertEqual(r.json?["error"]?["details"]?.arrayValue?.first?["field"], "X-Neo-Test-Mode")
            XCTAssertEqual(try agentCount(), before)
        }
    }

    func test_testModeHeader_givenTwiceWithDifferentValues_is400() throws {
        let body = Array(minimalAgent.utf8)
        let c = try RawClient(port: server.port)
        try c.send("POST /public-api/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.adminKey)\r\n"
                   + "Content-Type: application/json\r\nX-Neo-Test-Mode: 1\r\nX-Neo-Test-Mode: 0\r\nContent-Length: \(body.count)\r\n\r\n")
        try c.send(body)
        let r = c.readResponses(1).first
        XCTAssertEqual(r?.status, 400, r?.text ?? "")
        XCTAssertTrue(r?.errorMessage?.contains("more than once with different values") ?? false, r?.text ?? "")
    }

    func test_testModeKey_cannotBeTurnedOffByTheHeader() throws {
        let key = try server.createKey(["name": "always dry", "role": "member", "test_mode": true,
                                        "permissions": ["agents": "read_write"]])
        let before = try agentCount()
        let r = try server.request("POST", "/public-api/agents", key: key, json: parse(minimalAgent), headers: ["X-Neo-Test-Mode": "0"])
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertEqual(r.data?["id"], .null)
        XCTAssertEqual(r.json?["meta"]?["warnings"], ["test mode: not persisted"])
        XCTAssertEqual(try agentCount(), before)
    }

    // MARK: If-Match

    func test_ifMatch_weakTagNeverMatches() throws {
        let created = try server.request("POST", "/public-api/agents", json: parse(minimalAgent))
        let id = try XCTUnwrap(created.data?["id"]?.stringValue, created.text)
        let weak = try server.request("PUT", "/public-api/agents/\(id)", json: ["name": "weak"], headers: ["If-Match": #"W/"1""#])
        XCTAssertEqual(weak.status, 409, weak.text)
        XCTAssertEqual(weak.errorCode, "agent_update_conflict")
        let strong = try server.request("PUT", "/public-api/agents/\(id)", json: ["name": "strong"], headers: ["If-Match": #""1""#])
        XCTAssertEqual(strong.status, 200, strong.text)
    }
}

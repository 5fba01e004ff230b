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

    // MARK: unknown query parameters

    private func warnings(_ r: TestResponse) -> [String] {
        r.json?["meta"]?["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    func test_unknownQueryParameter_warnsWithDidYouMean() throws {
        let r = try server.request("GET", "/public-api/agents?limit=5&pageSize=2&colour=blue&q=x")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(warnings(r), ["unknown query parameter 'limit' ignored; did you mean 'page_size'?",
                                     "unknown query parameter 'pageSize' ignored; did you mean 'page_size'?",
                                     "unknown query parameter 'colour' ignored"])
        let plain = try server.request("GET", "/public-api/agents?page_size=2&state=ENABLED")
        XCTAssertNil(plain.json?["meta"]?["warnings"], "declared parameters warn nothing")
        let detail = try server.request("GET", "/public-api/tenant?page_size=2")
        XCTAssertEqual(warnings(detail), ["unknown query parameter 'page_size' ignored"], "not a list: page_size is unknown")
        let health = try server.request("GET", "/public-api/health?verbose=1", key: nil)
        XCTAssertEqual(warnings(health), ["unknown query parameter 'verbose' ignored"])
    }

    func test_unknownQueryParameter_warnedAlsoWhenTheHandlerFailsEarly() throws {
        let r = try server.request("GET", "/public-api/executions?limit=5&status=nope")
        XCTAssertEqual(r.status, 400, r.text)
        XCTAssertEqual(warnings(r), ["unknown query parameter 'limit' ignored; did you mean 'page_size'?"])
        let missing = try server.request("GET", "/public-api/agents/999999/versions?pagesize=1")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(warnings(missing), ["unknown query parameter 'pagesize' ignored; did you mean 'page_size'?"])
    }

    /// The spec's query parameters are the ones the routes declare: none is reported unknown, on any GET.
    func test_everyDocumentedQueryParameter_isDeclaredByItsRoute() throws {
        let spec = try XCTUnwrap(try server.request("GET", "/public-api/openapi.json", key: nil).json)
        var checked = 0
        for (path, item) in spec["paths"]?.objectValue ?? JSONObject() {
            // The raw spec and the metrics text have no envelope (and /metrics is off on this server).
            guard let get = item["get"], path != "/public-api/openapi.json", path != "/metrics" else { continue }
            var parameters = get["parameters"]?.arrayValue ?? []
            parameters += item["parameters"]?.arrayValue ?? []
            let names = parameters.compactMap { p -> String? in
                var p = p
                if let ref = p["$ref"]?.stringValue {
                    p = ref.split(separator: "/").dropFirst().reduce(spec) { $0?[String($1)] } ?? .null
                }
                return p["in"]?.stringValue == "query" ? p["name"]?.stringValue : nil
            }
            let concrete = path.replacingOccurrences(of: #"\{[a-z_]+\}"#, with: "00000000-0000-4000-8000-000000000000", options: .regularExpression)
                .replacingOccurrences(of: "/agents/00000000-0000-4000-8000-000000000000", with: "/agents/1")
            let query = (names + ["bogus_param"]).map { "\($0)=" }.joined(separator: "&")
            let r = try server.request("GET", "\(concrete)?\(query)")
            XCTAssertEqual(warnings(r).filter { $0.hasPrefix("unknown query parameter") }, ["unknown query parameter 'bogus_param' ignored"],
                           "GET \(path): \(r.text)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 15)
    }

    // MARK: warnings on errors

    func test_errorEnvelope_carriesTheWarnings() throws {
        let r = try server.request("POST", "/public-api/agents", json: parse(#"{"name": "x", "trigger-type": "NONE", "actions": []}"#))
        XCTAssertEqual(r.status, 422, r.text)
        XCTAssertEqual(r.errorCode, "VALIDATION_ERROR")
        XCTAssertEqual(r.errorMessage, "trigger_type: is required")
        XCTAssertEqual(warnings(r), ["unknown field 'trigger-type' ignored; did you mean 'trigger_type'?"])
        XCTAssertNotNil(r.json?["meta"]?["request_id"]?.stringValue)

        let created = try server.request("POST", "/public-api/agents", json: parse(minimalAgent))
        let id = try XCTUnwrap(created.data?["id"]?.stringValue)
        let put = try server.request("PUT", "/public-api/agents/\(id)?colour=1", json: parse(#"{"state": "NOPE", "colour": "blue"}"#))
        XCTAssertEqual(put.status, 422, put.text)
        XCTAssertEqual(warnings(put), ["unknown query parameter 'colour' ignored", "unknown field 'colour' ignored"])

        let decision = try server.request("POST", "/public-api/til-requests/1/decision", json: parse(#"{"acton": "approve"}"#))
        XCTAssertEqual(decision.status, 422, decision.text)
        XCTAssertEqual(warnings(decision), ["unknown field 'acton' ignored; did you mean 'action'?"], "a handler that added them itself lists them once")
    }

    // MARK: cursors

    func test_cursor_isBoundToItsListAndFilters() throws {
        let group = "cursor-\(UUID().uuidString.prefix(8))"
        for i in 0..<3 {
            let r = try server.request("POST", "/public-api/agents",
                                       json: parse(#"{"name": "c\#(i)", "trigger_type": "NONE", "actions": [], "group_name": "\#(group)"}"#))
            XCTAssertEqual(r.status, 201, r.text)
        }
        let first = try server.request("GET", "/public-api/agents?group_name=\(group)&page_size=1")
        let cursor = try XCTUnwrap(first.json?["meta"]?["pagination"]?["next_cursor"]?.stringValue, first.text)

        let same = try server.request("GET", "/public-api/agents?page_size=2&group_name=\(group)&cursor=\(cursor)")
        XCTAssertEqual(same.status, 200, "the same filters, another page_size: \(same.text)")
        XCTAssertEqual(same.data?.arrayValue?.count, 2)

        for (path, why) in [("/public-api/executions?cursor=\(cursor)", "another list"),
                            ("/public-api/api-keys?cursor=\(cursor)", "another list"),
                            ("/public-api/agents?group_name=other&cursor=\(cursor)", "another filter value"),
                            ("/public-api/agents?group_name=\(group)&q=c&cursor=\(cursor)", "a filter added"),
                            ("/public-api/agents?cursor=\(cursor)", "a filter dropped")] {
            let r = try server.request("GET", path)
            XCTAssertEqual(r.status, 400, "\(why): \(r.text)")
            XCTAssertEqual(r.errorCode, "BAD_REQUEST", why)
            XCTAssertEqual(r.json?["error"]?["details"]?.arrayValue?.first?["field"], "cursor", why)
        }
    }

    // MARK: Authorization

    func test_emptyBearerToken_saysTheTokenIsEmpty() throws {
        for header in ["Bearer ", "Bearer", "bearer   ", ""] {
            let r = try server.request("GET", "/public-api/tenant", key: nil, headers: ["Authorization": header])
            XCTAssertEqual(r.status, 401, "'\(header)'")
            XCTAssertEqual(r.errorMessage, "Authorization: Bearer has an empty token; is the variable holding your key (e.g. $NEO_KEY) set?", "'\(header)'")
            XCTAssertNotNil(r.headers["www-authenticate"])
        }
        let basic = try server.request("GET", "/public-api/tenant", key: nil, headers: ["Authorization": "Basic abc"])
        XCTAssertEqual(basic.errorMessage, "Authorization must use the Bearer scheme: 'Bearer neo_sk_<env>_<secret>'")
    }

    // MARK: upstream policy (this server runs the default, private)

    func test_loopbackEndpoint_refusalNamesThePolicyThatAllowsIt() throws {
        let fix = "start the server with NEO_UPSTREAM_POLICY=loopback (or any) to allow it"
        let literal = try server.request("POST", "/public-api/external-apis",
                                         json: ["name": "local_literal", "endpoint_url": "http://127.0.0.1:8080/", "method": "GET"])
        XCTAssertEqual(literal.status, 422, literal.text)
        XCTAssertEqual(literal.errorMessage, "endpoint_url: 127.0.0.1 is a loopback address, refused by NEO_UPSTREAM_POLICY=private; \(fix)")

        let named = try server.request("POST", "/public-api/external-apis", json: [
            "name": "local_name", "endpoint_url": "http://localhost:9/", "method": "GET", "requires_approval": false,
        ])
        XCTAssertEqual(named.status, 201, "a name is judged when it is called: \(named.text)")
        let call = try server.request("POST", "/public-api/external-apis/local_name/invoke", json: [:])
        XCTAssertEqual(call.status, 502, call.text)
        XCTAssertTrue(call.errorMessage?.contains("is a loopback address, refused by NEO_UPSTREAM_POLICY=private; \(fix)") ?? false, call.text)
    }
}

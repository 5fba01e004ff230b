import HTTPServer
import XCTest
@testable import PublicAPI

/// Cursors: opaque, short, and bound to the list and filters they came from.
final class PaginationTests: XCTestCase {
    private let agentsQuery = Page.parameters + ["state", "trigger_type", "autonomy_type", "group_name", "q"]

    private func context(_ target: String, pattern: String = "/public-api/agents", params: [String: String] = [:],
                         accepted: [String]? = nil) -> RequestContext {
        let ctx = RequestContext(request: HTTPRequest(method: "GET", target: target), requestId: "t", params: params,
                                 pattern: pattern, started: 0)
        ctx.acceptedQuery = accepted ?? agentsQuery
        return ctx
    }

    private func cursor(from target: String, pattern: String = "/public-api/agents", params: [String: String] = [:]) throws -> String {
        try Page.parse(context(target, pattern: pattern, params: params))
            .encodeCursor(createdAt: "2026-01-02T03:04:05.678Z", id: "42")
    }

    private func refusal(_ target: String, pattern: String = "/public-api/agents", params: [String: String] = [:],
                         accepted: [String]? = nil) -> APIError? {
        do {
            _ = try Page.parse(context(target, pattern: pattern, params: params, accepted: accepted))
            return nil
        } catch {
            return error as? APIError
        }
    }

    func test_cursor_roundTripsOnTheSameListAndFilters() throws {
        let c = try cursor(from: "/public-api/agents?q=note&state=ENABLED&page_size=2")
        XCTAssertLessThanOrEqual(c.count, 64, "short")
        XCTAssertTrue(c.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, "base64url without padding: \(c)")
        let page = try Page.parse(context("/public-api/agents?state=ENABLED&q=note&page_size=5&cursor=\(c)&colour=x"))
        XCTAssertEqual(page.after?.createdAt, "2026-01-02T03:04:05.678Z")
        XCTAssertEqual(page.after?.id, "42")
        XCTAssertEqual(page.size, 5, "page_size may change between pages; filter order and unknown parameters do not matter")
    }

    func test_cursor_fromAnotherList_isRefusedNamingCursor() throws {
        let c = try cursor(from: "/public-api/agents?page_size=1")
        let e = refusal("/public-api/executions?cursor=\(c)", pattern: "/public-api/executions", accepted: Page.parameters + ["status"])
        XCTAssertEqual(e?.status, 400)
        XCTAssertEqual(e?.code, "BAD_REQUEST")
        XCTAssertEqual(e?.details.first?.field, "cursor")
        XCTAssertTrue(e?.message.contains("another list or to other filters") ?? false, e?.message ?? "")
    }

    func test_cursor_withOtherFiltersOrAnotherParent_isRefused() throws {
        let c = try cursor(from: "/public-api/agents?q=note")
        XCTAssertNil(refusal("/public-api/agents?q=note&cursor=\(c)"))
        XCTAssertEqual(refusal("/public-api/agents?q=other&cursor=\(c)")?.details.first?.field, "cursor")
        XCTAssertEqual(refusal("/public-api/agents?cursor=\(c)")?.details.first?.field, "cursor", "a filter dropped")
        XCTAssertEqual(refusal("/public-api/agents?q=note&state=ENABLED&cursor=\(c)")?.details.first?.field, "cursor", "a filter added")

        let versions = "/public-api/agents/{agent_id}/versions"
        let v = try cursor(from: "/x", pattern: versions, params: ["agent_id": "1"])
        XCTAssertNil(refusal("/x?cursor=\(v)", pattern: versions, params: ["agent_id": "1"], accepted: Page.parameters))
        XCTAssertNotNil(refusal("/x?cursor=\(v)", pattern: versions, params: ["agent_id": "2"], accepted: Page.parameters))
    }

    func test_unboundAndForeignCursors_areRefusedAsNotIssued() {
        let v1 = Data("v1|2026-01-02T03:04:05.678Z|42".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        for bad in [v1, "garbage!!", "djJ8enp6enp6enp8MjAyNnw0Mg"] {
            let e = refusal("/public-api/agents?cursor=\(bad)")
            XCTAssertEqual(e?.details.first?.field, "cursor", bad)
            XCTAssertEqual(e?.details.first?.issue, "invalid", bad)
        }
    }

    func test_binding_dependsOnPatternParamsAndFiltersOnly() {
        let b = { (target: String, pattern: String) in Page.binding(self.context(target, pattern: pattern)) }
        XCTAssertEqual(b("/a?q=1&state=ENABLED", "/p"), b("/a?state=ENABLED&q=1&page_size=3&cursor=zz&unknown=1", "/p"))
        XCTAssertNotEqual(b("/a?q=1", "/p"), b("/a?q=2", "/p"))
        XCTAssertNotEqual(b("/a?q=1", "/p"), b("/a?q=1", "/other"))
        XCTAssertNotEqual(b("/a?q=ab&state=c", "/p"), b("/a?q=a&state=bc", "/p"))
        XCTAssertEqual(b("/a", "/p").count, 8)
    }
}

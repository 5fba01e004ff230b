import Foundation
import NeoJSON
import XCTest

/// The console's files as the real server serves them (design §14); bench/console-test.sh drives the page itself
/// in headless Chromium.
final class ConsoleTests: SharedServerTestCase {
    func test_root_servesThePageWithAStrictCSP() throws {
        let r = try server.request("GET", "/", key: nil)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "text/html; charset=utf-8")
        let csp = try XCTUnwrap(r.headers["content-security-policy"])
        XCTAssertTrue(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), csp)
        XCTAssertEqual(r.headers["x-content-type-options"], "nosniff")
        XCTAssertEqual(r.headers["cache-control"], "no-cache")
        XCTAssertTrue(r.text.contains(#"<script type="module" src="/console/app.js"></script>"#))
        XCTAssertNotNil(r.headers["x-request-id"])
    }

    func test_files_haveTheirTypesAndRevalidateByETag() throws {
        for (path, type) in [("/console/app.js", "text/javascript; charset=utf-8"), ("/console/style.css", "text/css; charset=utf-8"),
                             ("/console/favicon.svg", "image/svg+xml")] {
            let r = try server.request("GET", path, key: nil)
            XCTAssertEqual(r.status, 200, path)
            XCTAssertEqual(r.headers["content-type"], type, path)
            let etag = try XCTUnwrap(r.headers["etag"], path)
            XCTAssertTrue(etag.hasPrefix("\"") && etag.hasSuffix("\""), "a strong validator: \(etag)")
            let again = try server.request("GET", path, key: nil, headers: ["If-None-Match": "\"other\", \(etag)"])
            XCTAssertEqual(again.status, 304, path)
            XCTAssertTrue(again.body.isEmpty)
            XCTAssertEqual(again.headers["etag"], etag)
            let head = try server.request("HEAD", path, key: nil)
            XCTAssertEqual(head.status, 200)
            XCTAssertEqual(head.headers["content-length"], r.headers["content-length"])
        }
    }

    func test_unknownFile_is404InTheEnvelope() throws {
        for path in ["/console/nope.js", "/console/index.html", "/console/..%2Fapp.js"] {
            let r = try server.request("GET", path, key: nil)
            XCTAssertEqual(r.status, 404, path)
            XCTAssertEqual(r.errorCode, "NOT_FOUND", path)
            XCTAssertEqual(r.headers["content-type"], "application/json; charset=utf-8")
        }
        XCTAssertEqual(try server.request("POST", "/", key: nil).status, 405)
    }

    func test_apiResponses_keepTheirJSONTypeAndNoStore() throws {
        let r = try server.request("GET", "/public-api/tenant")
        XCTAssertEqual(r.headers["content-type"], "application/json; charset=utf-8")
        XCTAssertEqual(r.headers["cache-control"], "no-store")
    }
}

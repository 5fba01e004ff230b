import Executor
import XCTest

/// URL parsing, template filling, path joining and the same-origin decision (design §6).
final class SSRFGuardTests: XCTestCase {
    func test_parse_acceptsOnlyStrictAbsoluteHTTPURLs() {
        let cases: [(String, String?)] = [
            ("https://api.example.com/v1", "https://api.example.com:443"),
            ("HTTP://API.Example.com:8080/x?y=1", "http://api.example.com:8080"),
            ("http://10.0.0.1/", "http://10.0.0.1:80"),
            ("http://[::1]:9000/", "http://[::1]:9000"),
            ("http://[0:0:0:0:0:0:0:1]/", "http://[::1]:80"),
            ("ftp://example.com/", nil),
            ("file:///etc/passwd", nil),
            ("//example.com/", nil),
            ("https://user:pass@example.com/", nil),
            ("https://example.com@evil.com/", nil),
            ("https://example.com\\@evil.com/", nil),
            ("https://example.com/#frag", nil),
            ("https://exa mple.com/", nil),
            ("http://127.1/", nil),
            ("http://2130706433/", nil),
            ("http://0x7f000001/", nil),
            ("http://0177.0.0.1/", nil),
            ("http://127.0.0.01/", nil),
            ("http://example.com:0/", nil),
            ("http://example.com:65536/", nil),
            ("http://example..com/", nil),
            ("http://[::1/", nil),
            ("http:///path", nil),
        ]
        for (text, origin) in cases {
            switch UpstreamURL.parse(text) {
            case .success(let url): XCTAssertEqual(url.origin, origin, text)
            case .failure: XCTAssertNil(origin, "\(text) should parse")
            }
        }
    }

    func test_fillTemplate_percentEncodesEachValueIntoOneSegment() throws {
        let cases: [([String: String], String)] = [
            (["id": "42"], "https://h.example/t/42/x"),
            (["id": "a/b"], "https://h.example/t/a%2Fb/x"),
            (["id": "a b?c#d"], "https://h.example/t/a%20b%3Fc%23d/x"),
            (["id": "@evil.com"], "https://h.example/t/%40evil.com/x"),
            (["id": "é"], "https://h.example/t/%C3%A9/x"),
        ]
        for (params, expected) in cases {
            XCTAssertEqual(try RequestBuilder.fillTemplate("https://h.example/t/{id}/x", params: params), expected)
        }
        XCTAssertThrowsError(try RequestBuilder.fillTemplate("https://h.example/t/{id}", params: [:])) {
            XCTAssertEqual(($0 as? ExecutorError)?.field, "params.id")
        }
        for bad in ["..", ".", ""] {
            XCTAssertThrowsError(try RequestBuilder.fillTemplate("https://h.example/t/{id}", params: ["id": bad]), bad)
        }
    }

    func test_appendedPath_refusesTraversalAndEncodedSlashes() {
        let refused = ["../admin", "/a/../../b", "/a/..", "/%2e%2e/x", "/.%2E/x", "/a/./b", "/a%2fb", "/a%2Fb", "/a%5cb",
                       "/a\\b", "/a#b", "/a b", "/a\u{0}", "/a\r\nHost: x", "/%zz", "/é"]
        for path in refused {
            XCTAssertThrowsError(try RequestBuilder.checkAppendedPath(path), path) {
                XCTAssertEqual(($0 as? ExecutorError)?.kind, .refused)
                XCTAssertEqual(($0 as? ExecutorError)?.field, "path")
            }
        }
        for path in ["/users", "users/42", "/a:b@c", "/search?q=x&y=1", "/%41", "/a..b", "/...", "/v1/"] {
            XCTAssertNoThrow(try RequestBuilder.checkAppendedPath(path), path)
        }
    }

    func test_appendedPath_encodedSlashMessageQuotesTheEscape() {
        for (path, escape) in [("/a%2Fb", "%2F"), ("/a%2fb", "%2f"), ("/a%5Cb", "%5C")] {
            XCTAssertThrowsError(try RequestBuilder.checkAppendedPath(path), path) {
                XCTAssertEqual(($0 as? ExecutorError)?.message, "contains an encoded slash or backslash ('\(escape)')")
            }
        }
    }

    func test_join_putsExactlyOneSlashAndKeepsBothQueries() throws {
        let base = try XCTUnwrap(try? UpstreamURL.parse("https://h.example/v1/?a=1").get())
        XCTAssertEqual(RequestBuilder.join(base, "/users?b=2").string, "https://h.example/v1/users?a=1&b=2")
        XCTAssertEqual(RequestBuilder.join(base, "users").string, "https://h.example/v1/users?a=1")
        let root = try XCTUnwrap(try? UpstreamURL.parse("https://h.example").get())
        XCTAssertEqual(RequestBuilder.join(root, "@evil.com/x").string, "https://h.example/@evil.com/x")
    }

    func test_build_keepsTheConfiguredOriginWhateverThePath() throws {
        let config = ExternalAPIConfig(name: "t", endpointURL: "https://api.example.com/v1/{tenant}")
        let paths = ["@evil.com", "//evil.com/x", "/x?y=http://evil.com", ":8080/x", "evil.com"]
        for path in paths {
            let r = try RequestBuilder.build(config, Invocation(path: path, params: ["tenant": "acme"]))
            XCTAssertEqual(r.base.origin, "https://api.example.com:443", path)
            XCTAssertTrue(r.url.hasPrefix("https://api.example.com/v1/acme/"), r.url)
        }
    }

    func test_build_refusesPathsThatLeaveTheOrigin() {
        let config = ExternalAPIConfig(name: "t", endpointURL: "http://api.example.com:8080/v1")
        for path in ["/../../etc", "/%2e%2e/admin", "/a%2f..%2fb", "/a\\..\\b"] {
            XCTAssertThrowsError(try RequestBuilder.build(config, Invocation(path: path)), path) {
                XCTAssertEqual(($0 as? ExecutorError)?.kind, .refused)
            }
        }
    }

    func test_checkSameOrigin_refusesOtherHostPortSchemeAndIPLiteral() throws {
        let configured = try UpstreamURL.parse("https://api.example.com/v1").get()
        for other in ["https://evil.com/v1", "https://api.example.com:8443/v1", "http://api.example.com/v1",
                      "https://93.184.216.34/v1", "https://[::1]/v1", "https://api.example.com.evil.com/v1"] {
            let url = try UpstreamURL.parse(other).get()
            XCTAssertThrowsError(try RequestBuilder.checkSameOrigin(url, configured, field: "path"), other)
        }
        XCTAssertNoThrow(try RequestBuilder.checkSameOrigin(try UpstreamURL.parse("https://API.example.com:443/v2").get(), configured, field: "path"))
    }
}

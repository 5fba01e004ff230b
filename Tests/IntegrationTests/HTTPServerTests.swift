import Foundation
import NeoJSON
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The HTTP layer through real sockets: keep-alive, pipelining, partial writes, chunked bodies,
/// 100-continue, strictness, limits, timeouts, shutdown.
final class HTTPServerIntegrationTests: SharedServerTestCase {
    override class var environment: [String: String] { ["NEO_HEADER_TIMEOUT": "1", "NEO_MAX_BODY": "4096", "NEO_RATE_LIMIT": "0"] }

    private func get(_ path: String, id: String? = nil, close: Bool = false) -> String {
        "GET \(path) HTTP/1.1\r\nHost: x\r\n" + (id.map { "X-Request-Id: \($0)\r\n" } ?? "") + (close ? "Connection: close\r\n" : "") + "\r\n"
    }

    private func createKeyRequest(_ name: String, chunked: Bool = false, expect: Bool = false) -> (head: String, body: [UInt8]) {
        let body = Array(#"{"name":"\#(name)"}"#.utf8)
        var head = "POST /public-api/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.adminKey)\r\nContent-Type: application/json\r\n"
        if expect { head += "Expect: 100-continue\r\n" }
        head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: \(body.count)\r\n\r\n"
        return (head, body)
    }

    func test_health_answersInEnvelopeWithStandardHeaders() throws {
        let r = try server.request("GET", "/public-api/health", key: nil, headers: ["X-Request-Id": "abc-123"])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "application/json; charset=utf-8")
        XCTAssertEqual(r.headers["x-request-id"], "abc-123")
        XCTAssertEqual(r.json?["meta"]?["request_id"]?.stringValue, "abc-123")
        XCTAssertEqual(r.headers["cache-control"], "no-store", "no-cache without a validator is flagged by REDbot")
        XCTAssertNil(r.headers["etag"])
        XCTAssertTrue(r.headers["server"]?.hasPrefix("neo-server/") ?? false)
        XCTAssertNotNil(r.headers["date"])
        XCTAssertEqual(r.data?["status"], "ok")
        XCTAssertEqual(r.data?["db"], "ok")
    }

    func test_requestId_insaneInboundValueIsReplacedByUUID() throws {
        let r = try server.request("GET", "/public-api/health", key: nil, headers: ["X-Request-Id": "bad id with spaces"])
        let id = try XCTUnwrap(r.headers["x-request-id"])
        XCTAssertNotNil(UUID(uuidString: id))
    }

    func test_keepAlive_reusesOneConnection() throws {
        let c = try RawClient(port: server.port)
        for i in 0..<3 {
            try c.send(get("/public-api/health", id: "ka-\(i)"))
            let rs = c.readResponses(1)
            XCTAssertEqual(rs.first?.status, 200)
            XCTAssertEqual(rs.first?.headers["x-request-id"], "ka-\(i)")
            XCTAssertNil(rs.first?.headers["connection"])
        }
    }

    func test_pipelining_tenRequestsInOneWriteAnsweredInOrder() throws {
        let c = try RawClient(port: server.port)
        var batch = ""
        for i in 0..<10 {
            // Mix inline and worker-pool routes so completion order differs from request order.
            batch += get(i % 2 == 0 ? "/public-api/health" : "/public-api/openapi.json", id: "p\(i)")
        }
        try c.send(batch)
        let rs = c.readResponses(10)
        XCTAssertEqual(rs.count, 10)
        XCTAssertEqual(rs.map { $0.headers["x-request-id"] ?? "" }, (0..<10).map { "p\($0)" })
        XCTAssertTrue(rs.allSatisfy { $0.status == 200 })
    }

    func test_partialWrites_requestSplitAcrossManyWrites() throws {
        let c = try RawClient(port: server.port)
        let bytes = Array(get("/public-api/health", id: "split").utf8)
        for b in bytes {
            try c.send([b])
            usleep(2_000)
        }
        let rs = c.readResponses(1)
        XCTAssertEqual(rs.first?.status, 200)
        XCTAssertEqual(rs.first?.headers["x-request-id"], "split")
    }

    func test_chunkedUpload_isDecoded() throws {
        let (head, body) = createKeyRequest("chunked-key", chunked: true)
        let c = try RawClient(port: server.port)
        var wire = Array(head.utf8)
        let half = body.count / 2
        wire += Array("\(String(half, radix: 16));ext=1\r\n".utf8) + body[0..<half] + Array("\r\n".utf8)
        wire += Array("\(String(body.count - half, radix: 16))\r\n".utf8) + body[half...] + Array("\r\n0\r\nX-Trailer: t\r\n\r\n".utf8)
        try c.send(wire)
        let r = c.readResponses(1).first
        XCTAssertEqual(r?.status, 201, r?.text ?? "")
        XCTAssertEqual(r?.data?["name"], "chunked-key")
    }

    func test_expectContinue_sends100ThenTheResponse() throws {
        let (head, body) = createKeyRequest("continue-key", expect: true)
        let c = try RawClient(port: server.port)
        try c.send(head)
        let interim = c.read(timeout: 5) ?? []
        XCTAssertEqual(String(decoding: interim, as: UTF8.self), "HTTP/1.1 100 Continue\r\n\r\n")
        try c.send(body)
        let r = c.readResponses(1).first
        XCTAssertEqual(r?.status, 201)
    }

    func test_expectContinue_bodyOverLimitRefusedWithoutReadingIt() throws {
        let c = try RawClient(port: server.port)
        try c.send("POST /public-api/api-keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 999999\r\n\r\n")
        let r = c.readResponses(1).first
        XCTAssertEqual(r?.status, 413)
        XCTAssertEqual(r?.errorCode, "PAYLOAD_TOO_LARGE")
        XCTAssertTrue(c.isClosed(within: 5))
    }

    func test_oversizeChunkedBody_is413AndCloses() throws {
        let c = try RawClient(port: server.port)
        try c.send("POST /public-api/api-keys HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n" + String(repeating: "a", count: 100))
        let r = c.readResponses(1).first
        XCTAssertEqual(r?.status, 413)
        XCTAssertTrue(c.isClosed(within: 5))
    }

    func test_malformedRequests_are400AndClose() throws {
        let cases: [(String, String)] = [
            ("CL and TE", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("duplicate CL", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na"),
            ("non-numeric CL", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na"),
            ("TE gzip", "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
            ("bad chunk size", "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            ("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n"),
            ("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
            ("NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n"),
            ("bare LF", "GET / HTTP/1.1\nHost: x\n\n"),
            ("bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("space in target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("missing Host", "GET / HTTP/1.1\r\n\r\n"),
            ("space in Host", "GET /public-api/health HTTP/1.1\r\nHost: exa mple.com\r\n\r\n"),
            ("comma in Host", "GET /public-api/health HTTP/1.1\r\nHost: a.example, b.example\r\n\r\n"),
            ("two ports in Host", "GET /public-api/health HTTP/1.1\r\nHost: a.example:80:81\r\n\r\n"),
            ("unclosed IPv6 literal in Host", "GET /public-api/health HTTP/1.1\r\nHost: [::1\r\n\r\n"),
            ("bad version", "GET / HTP/1.1\r\nHost: x\r\n\r\n"),
        ]
        for (name, raw) in cases {
            let c = try RawClient(port: server.port)
            try c.send(raw)
            let r = c.readResponses(1).first
            XCTAssertEqual(r?.status, 400, name)
            XCTAssertEqual(r?.errorCode, "BAD_REQUEST", name)
            XCTAssertEqual(r?.headers["connection"], "close", name)
            XCTAssertEqual(r?.headers["content-type"], "application/json; charset=utf-8", name)
            XCTAssertTrue(c.isClosed(within: 5), "\(name): connection left open")
        }
    }

    func test_host_everyUriHostPortForm_isServed() throws {
        for host in ["127.0.0.1:8080", "[::1]:8080", "[::1]", "api.example.com:", ""] {
            let c = try RawClient(port: server.port)
            try c.send("GET /public-api/health HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            XCTAssertEqual(c.readResponses(1).first?.status, 200, "Host: \(host)")
        }
    }

    func test_host_invalidValue_messageNamesTheExpectedForm() throws {
        let c = try RawClient(port: server.port)
        try c.send("GET /public-api/health HTTP/1.1\r\nHost: exa mple.com\r\n\r\n")
        let r = c.readResponses(1).first
        XCTAssertEqual(r?.status, 400)
        XCTAssertEqual(r?.errorMessage, "malformed request: Host header is not host[:port]")
        XCTAssertTrue(c.isClosed(within: 5))
    }

    func test_tooManyHeaders_is431() throws {
        let c = try RawClient(port: server.port)
        var raw = "GET / HTTP/1.1\r\nHost: x\r\n"
        for i in 0..<101 { raw += "X-H\(i): v\r\n" }
        try c.send(raw + "\r\n")
        XCTAssertEqual(c.readResponses(1).first?.status, 431)
        XCTAssertTrue(c.isClosed(within: 5))
    }

    func test_pipelinedRequestAfterMalformedOneIsNotServed() throws {
        let c = try RawClient(port: server.port)
        try c.send(get("/public-api/health", id: "ok1") + "GET / HTTP/1.1\r\nHost : x\r\n\r\n" + get("/public-api/health", id: "never"))
        let rs = c.readResponses(3, timeout: 3)
        XCTAssertEqual(rs.map(\.status), [200, 400])
        XCTAssertTrue(c.isClosed(within: 5))
    }

    func test_slowHeader_gets408AfterTimeout() throws {
        let c = try RawClient(port: server.port)
        try c.send("GET /public-api/health HTTP/1.1\r\nHost: x\r\n")
        let started = Date()
        let r = c.readResponses(1, timeout: 5).first
        XCTAssertEqual(r?.status, 408)
        XCTAssertEqual(r?.errorCode, "REQUEST_TIMEOUT")
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.8)
        XCTAssertTrue(c.isClosed(within: 5))
    }

    func test_unknownRoute_is404InEnvelope() throws {
        let r = try server.request("GET", "/public-api/nope", key: nil)
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(r.errorCode, "NOT_FOUND")
        XCTAssertEqual(r.headers["cache-control"], "no-store")
    }

    func test_wrongMethod_is405WithAllow() throws {
        let r = try server.request("DELETE", "/public-api/health", key: nil)
        XCTAssertEqual(r.status, 405)
        XCTAssertEqual(r.errorCode, "METHOD_NOT_ALLOWED")
        XCTAssertEqual(r.headers["allow"], "GET, HEAD")
    }

    func test_head_hasHeadersButNoBody() throws {
        let c = try RawClient(port: server.port)
        try c.send("HEAD /public-api/health HTTP/1.1\r\nHost: x\r\n\r\n" + get("/public-api/health", id: "after-head"))
        let rs = c.readResponses(2, isHead: true)
        XCTAssertEqual(rs.first?.status, 200)
        XCTAssertGreaterThan(Int(rs.first?.headers["content-length"] ?? "0") ?? 0, 0)
        XCTAssertEqual(rs.first?.body.count, 0)
    }

    func test_http10_closesUnlessKeepAlive() throws {
        let c = try RawClient(port: server.port)
        try c.send("GET /public-api/health HTTP/1.0\r\n\r\n")
        XCTAssertEqual(c.readResponses(1).first?.status, 200)
        XCTAssertTrue(c.isClosed(within: 5))
        let k = try RawClient(port: server.port)
        try k.send("GET /public-api/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(k.readResponses(1).first?.headers["connection"], "keep-alive")
        XCTAssertFalse(k.isClosed(within: 0.3))
    }

    func test_openapi_isServedWithStrongETagAnd304() throws {
        let r = try server.request("GET", "/public-api/openapi.json", key: nil)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json?["openapi"], "3.1.0")
        XCTAssertEqual(r.headers["cache-control"], "no-cache")
        let etag = try XCTUnwrap(r.headers["etag"])
        XCTAssertTrue(etag.hasPrefix("\"") && !etag.hasPrefix("W/"))
        let again = try server.request("GET", "/public-api/openapi.json", key: nil, headers: ["If-None-Match": etag])
        XCTAssertEqual(again.status, 304)
        XCTAssertEqual(again.body.count, 0)
    }

    func test_accessLog_isOneJSONLinePerRequestWithoutSecrets() throws {
        _ = try server.request("GET", "/public-api/api-keys?page_size=1", headers: ["X-Request-Id": "log-check-1"])
        usleep(100_000)
        let line = try XCTUnwrap(server.log.split(separator: "\n").first { $0.contains("log-check-1") })
        let json = try JSON.parse(String(line))
        XCTAssertEqual(json["method"], "GET")
        XCTAssertEqual(json["path"], "/public-api/api-keys")
        XCTAssertEqual(json["status"], 200)
        XCTAssertNotNil(json["duration_ms"]?.doubleValue)
        XCTAssertNotNil(json["tenant"])
        XCTAssertFalse(server.log.contains(TestServer.adminKey))
    }
}

/// Shutdown gets its own server: it ends the process.
final class GracefulShutdownTests: XCTestCase {
    func test_sigterm_finishesInFlightRequestThenExitsZero() throws {
        let server = try TestServer()
        let c = try RawClient(port: server.port)
        let body = Array(#"{"name":"during-shutdown"}"#.utf8)
        try c.send("POST /public-api/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.adminKey)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
        try c.send(Array(body[0..<5]))
        usleep(200_000)
        kill(server.process.processIdentifier, SIGTERM)
        usleep(300_000)
        // The listener is closed, the started request still completes.
        XCTAssertThrowsError(try RawClient(port: server.port))
        try c.send(Array(body[5...]))
        let r = c.readResponses(1).first
        XCTAssertEqual(r?.status, 201)
        XCTAssertEqual(r?.headers["connection"], "close")
        XCTAssertEqual(server.stop(), 0)
    }

    func test_sigint_withIdleConnections_exitsZeroPromptly() throws {
        let server = try TestServer()
        let idle = try RawClient(port: server.port)
        try idle.send("GET /public-api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(idle.readResponses(1).first?.status, 200)
        let started = Date()
        XCTAssertEqual(server.stop(signal: SIGINT), 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertTrue(idle.isClosed(within: 1))
    }
}

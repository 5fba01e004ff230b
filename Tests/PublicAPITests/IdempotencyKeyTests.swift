import HTTPServer
import NeoJSON
import XCTest
@testable import PublicAPI

/// The pure parts of Idempotency-Key (design §12): the header's bounds, what makes two requests the same,
/// and the replayed envelope.
final class IdempotencyKeyTests: XCTestCase {
    private func key(_ values: [String]) throws -> String? {
        try IdempotencyKeys.key(in: HTTPHeaders([("Host", "x")] + values.map { ("Idempotency-Key", $0) }))
    }

    func test_key_acceptsOneToTwoHundredFiftyFivePrintableASCIICharacters() throws {
        XCTAssertNil(try key([]))
        XCTAssertEqual(try key(["a"]), "a")
        XCTAssertEqual(try key([String(repeating: "x", count: 255)])?.count, 255)
        XCTAssertEqual(try key(["6f1c 2b7e-0d4a_4c1f.9e3b~"]), "6f1c 2b7e-0d4a_4c1f.9e3b~")
        XCTAssertEqual(try IdempotencyKeys.key(in: HTTPHeaders([("idempotency-key", "k")])), "k", "the name is case-insensitive")
    }

    func test_key_refusesEmptyLongNonASCIIAndRepeated_namingTheHeader() {
        for bad in [[""], [String(repeating: "x", count: 256)], ["clé"], ["tab\tkey"], ["a", "a"]] {
            XCTAssertThrowsError(try key(bad), "\(bad)") { error in
                let e = error as? APIError
                XCTAssertEqual(e?.status, 400)
                XCTAssertEqual(e?.code, "BAD_REQUEST")
                XCTAssertEqual(e?.details.first?.field, "Idempotency-Key")
                XCTAssertFalse(e?.message.contains(String(repeating: "x", count: 256)) ?? true, "the key is not echoed")
            }
        }
    }

    func test_fingerprint_differsByMethodPathQueryAndBody_only() {
        func print(_ method: String, _ target: String, _ body: String, headers: [(String, String)] = []) -> String {
            IdempotencyKeys.fingerprint(HTTPRequest(method: method, target: target, headers: HTTPHeaders(headers), body: Array(body.utf8)))
        }
        let base = print("POST", "/public-api/agents/1/run-now", #"{"a":1}"#)
        XCTAssertEqual(base.count, 64)
        XCTAssertEqual(base, print("POST", "/public-api/agents/1/run-now", #"{"a":1}"#, headers: [("X-Request-Id", "other")]),
                       "headers do not count")
        XCTAssertNotEqual(base, print("PUT", "/public-api/agents/1/run-now", #"{"a":1}"#))
        XCTAssertNotEqual(base, print("POST", "/public-api/agents/2/run-now", #"{"a":1}"#))
        XCTAssertNotEqual(base, print("POST", "/public-api/agents/1/run-now?x=1", #"{"a":1}"#))
        XCTAssertNotEqual(base, print("POST", "/public-api/agents/1/run-now", #"{"a":2}"#))
        XCTAssertNotEqual(print("POST", "/a", "b/c"), print("POST", "/ab", "/c"), "the parts are delimited")
    }

    func test_replay_keepsStatusBodyAndHeaders_withThisRequestsId() throws {
        let kept = IdempotencyKeys.Stored(status: 201, headers: [("ETag", "\"1\"")],
                                          body: Array(#"{"data":{"id":"7"},"meta":{"request_id":"first","timings_ms":{"total":1.0}}}"#.utf8),
                                          requestId: "first")
        let reply = IdempotencyKeys.replayReply(kept, requestId: "second")
        XCTAssertEqual(reply.status, 201)
        let body = try JSON.parse(try XCTUnwrap(reply.rawBody))
        XCTAssertEqual(body["data"]?["id"]?.stringValue, "7")
        XCTAssertEqual(body["meta"]?["request_id"]?.stringValue, "second")
        XCTAssertTrue(reply.headers.contains { $0 == ("ETag", "\"1\"") })
        XCTAssertTrue(reply.headers.contains { $0 == ("Idempotent-Replayed", "true") })
        XCTAssertTrue(reply.headers.contains { $0 == ("Original-Request", "first") })
    }

    func test_headers_roundTripThroughTheirStoredForm() {
        let headers = [("ETag", "\"3\""), ("Location", "/x?a=\"b\"")]
        let back = IdempotencyKeys.decodeHeaders(IdempotencyKeys.encodeHeaders(headers))
        XCTAssertEqual(back.map(\.0), headers.map(\.0))
        XCTAssertEqual(back.map(\.1), headers.map(\.1))
    }
}

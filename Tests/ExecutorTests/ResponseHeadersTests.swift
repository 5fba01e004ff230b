import Executor
import XCTest

/// The response's header fields as one byte buffer, made into pairs on reading.
final class ResponseHeadersTests: XCTestCase {
    func test_pairs_comeBackInOrder_withEmptyValuesAndColonsInValues() {
        let pairs = [("Content-Type", "application/json"), ("X-Empty", ""), ("Link", "<https://a.example:8443/x>; rel=next"), ("X-Dup", "1"), ("x-dup", "2")]
        let headers = ResponseHeaders(pairs)
        XCTAssertEqual(headers.count, 5)
        XCTAssertEqual(headers.pairs.map(\.0), pairs.map(\.0))
        XCTAssertEqual(headers.pairs.map(\.1), pairs.map(\.1))
        XCTAssertEqual(headers.value(named: "content-type"), "application/json")
        XCTAssertEqual(headers.value(named: "X-DUP"), "1")
        XCTAssertNil(headers.value(named: "Retry-After"))
    }

    func test_fieldsThatWouldSplitOnReading_neverGetIn() {
        let headers = ResponseHeaders([("X-A", "one\ntwo"), ("X:B", "v"), ("X-C\n", "v"), ("X-D", "kept")])
        XCTAssertEqual(headers.count, 1)
        XCTAssertEqual(headers.pairs.map(\.0), ["X-D"])
        XCTAssertEqual(headers.pairs.map(\.1), ["kept"])
    }

    func test_nonASCIIValues_roundTrip_andNoFieldsReadAsNone() {
        XCTAssertEqual(ResponseHeaders([("X-A", "caf\u{e9} \u{1F600}")]).value(named: "x-a"), "caf\u{e9} \u{1F600}")
        XCTAssertTrue(ResponseHeaders().pairs.isEmpty)
        XCTAssertEqual(ResponseHeaders().count, 0)
    }
}

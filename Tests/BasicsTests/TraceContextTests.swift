import XCTest
@testable import Basics

final class TraceContextTests: XCTestCase {
    let valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    func test_parse_acceptsVersion00AndKeepsIds() throws {
        let t = try XCTUnwrap(TraceContext.parse(valid))
        XCTAssertEqual(t.traceId, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertEqual(t.spanId, "b7ad6b7169203331")
        XCTAssertEqual(t.flags, "01")
    }

    func test_parse_refusesMalformedValues() {
        let bad = [
            "", "garbage", valid.uppercased(), valid + "-extra", valid.replacingOccurrences(of: "-01", with: "-0"),
            "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", " " + valid,
        ]
        for value in bad { XCTAssertNil(TraceContext.parse(value), value) }
    }

    func test_parse_laterVersionMayCarryMoreFields() {
        XCTAssertNotNil(TraceContext.parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-comes-next"))
        XCTAssertNil(TraceContext.parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x"))
    }

    func test_forRequest_keepsTheTraceWithANewSpan_orStartsANewOne() throws {
        let child = TraceContext.forRequest(valid)
        XCTAssertEqual(child.traceId, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertNotEqual(child.spanId, "b7ad6b7169203331")
        XCTAssertEqual(child.flags, "01")
        XCTAssertNotNil(TraceContext.parse(child.traceparent))
        let fresh = TraceContext.forRequest("00-zzz")
        XCTAssertNotEqual(fresh.traceId, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertNotNil(TraceContext.parse(fresh.traceparent), fresh.traceparent)
        XCTAssertNotEqual(TraceContext.newRoot().traceId, TraceContext.newRoot().traceId)
    }
}

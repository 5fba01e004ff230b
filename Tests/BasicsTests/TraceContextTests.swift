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

    // MARK: tracestate (W3C Trace Context §3.3)

    func test_tracestate_validLists_areNormalised() {
        XCTAssertEqual(TraceState.parse(["congo=t61rcWkgMzE"]), "congo=t61rcWkgMzE")
        XCTAssertEqual(TraceState.parse(["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        // Optional whitespace around members and empty members are allowed, and dropped.
        XCTAssertEqual(TraceState.parse([" rojo=1 ,\t, ,congo=2\t", ""]), "rojo=1,congo=2")
        // Several header fields form one list, in order.
        XCTAssertEqual(TraceState.parse(["rojo=1", "congo=2,bleu=3"]), "rojo=1,congo=2,bleu=3")
        // Multi-tenant keys, the key characters, and values with inner spaces and every allowed symbol.
        XCTAssertEqual(TraceState.parse(["fw529a3039@dt=abc"]), "fw529a3039@dt=abc")
        XCTAssertEqual(TraceState.parse(["1tenant@sys_-*/9=v"]), "1tenant@sys_-*/9=v")
        XCTAssertEqual(TraceState.parse(["a_-*/0=x y!~"]), "a_-*/0=x y!~")
        XCTAssertEqual(TraceState.parse(["k= leading"]), "k= leading")
        // Limits: 32 members, 256-character keys and values.
        let thirtyTwo = (0..<32).map { "k\($0)=v" }.joined(separator: ",")
        XCTAssertEqual(TraceState.parse([thirtyTwo]), thirtyTwo)
        let longKey = "a" + String(repeating: "b", count: 255)
        XCTAssertEqual(TraceState.parse([longKey + "=v"]), longKey + "=v")
        let longValue = String(repeating: "v", count: 256)
        XCTAssertEqual(TraceState.parse(["k=" + longValue]), "k=" + longValue)
    }

    func test_tracestate_invalidLists_areDroppedWhole() {
        let bad: [[String]] = [
            [], [""], [" , ,"],  // nothing in it
            ["rojo"], ["=value"], ["rojo="], ["rojo=1,congo"],  // not key=value
            ["Rojo=1"], ["9rojo=1"], ["ro.jo=1"], ["ro jo=1"], ["rojo@=1"], ["@dt=1"], ["t@Dt=1"], ["t@9dt=1"], ["t@@dt=1"],  // keys
            ["t@" + String(repeating: "s", count: 15) + "=1"], [String(repeating: "t", count: 242) + "@dt=1"],
            ["a" + String(repeating: "b", count: 256) + "=v"],
            ["k=a=b"], ["k=a\u{7f}"], ["k=caf\u{e9}"], ["k=a\tb"], ["k=" + String(repeating: "v", count: 257)],  // values
            ["rojo=1,rojo=2"], ["rojo=1", "rojo=2"],  // a key twice
            [(0..<33).map { "k\($0)=v" }.joined(separator: ",")],  // 33 members
            [(0..<20).map { "key\($0)=" + String(repeating: "v", count: 22) }.joined(separator: ",")],  // 569 characters
        ]
        for fields in bad { XCTAssertNil(TraceState.parse(fields), "\(fields)") }
        // 512 characters exactly is kept.
        let exact = "k=" + String(repeating: "v", count: 256) + ",l=" + String(repeating: "w", count: 251)
        XCTAssertEqual(exact.utf8.count, 512)
        XCTAssertEqual(TraceState.parse([exact]), exact)
        XCTAssertNil(TraceState.parse([exact + "w"]))
    }

    func test_tracestate_onlyBesideAValidTraceparent_andKeptBySpansAndStorage() throws {
        let kept = TraceContext.forRequest(valid, tracestate: ["rojo=1 ", "congo=2"])
        XCTAssertEqual(kept.state, "rojo=1,congo=2")
        XCTAssertEqual(kept.child().state, "rojo=1,congo=2", "an outbound span carries it")
        XCTAssertNil(TraceContext.forRequest("00-zzz", tracestate: ["rojo=1"]).state, "a replaced trace drops the tracestate")
        XCTAssertNil(TraceContext.forRequest(nil, tracestate: ["rojo=1"]).state)
        XCTAssertNil(TraceContext.forRequest(valid, tracestate: ["Rojo=1"]).state, "an invalid tracestate is dropped, the trace kept")
        XCTAssertEqual(TraceContext.forRequest(valid, tracestate: ["Rojo=1"]).traceId, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertNil(TraceContext.forRequest(valid).state)

        let run = try XCTUnwrap(TraceContext.span(inTrace: kept.traceId, state: kept.state))
        XCTAssertEqual(run.traceId, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertEqual(run.state, "rojo=1,congo=2")
        let plain = try XCTUnwrap(TraceContext.span(inTrace: kept.traceId))
        XCTAssertEqual(plain.traceId, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertNil(plain.state)
        XCTAssertNil(TraceContext.span(inTrace: "0af7651916cd43dd8448eb211c80319cX"))
        XCTAssertNil(TraceContext.span(inTrace: "00000000000000000000000000000000"))
        XCTAssertNil(TraceContext.span(inTrace: kept.traceId, state: "Bad=1")?.state, "a kept tracestate that no longer parses is dropped")
        XCTAssertFalse(kept.traceparent.contains("rojo"), "the traceparent is ours alone")
    }

    func test_traceparentLine_isTheHeaderLineOfTheSameSpan() {
        for _ in 0..<100 {
            let trace = TraceContext.newRoot().child()
            XCTAssertEqual(trace.traceparentLine, "traceparent: " + trace.traceparent)
        }
    }
}

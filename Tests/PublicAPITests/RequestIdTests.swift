import Foundation
import XCTest
@testable import PublicAPI

final class RequestIdTests: XCTestCase {
    func test_newRequestId_isAUniqueVersion4UUID() {
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = App.newRequestId()
            XCTAssertEqual(id.count, 36)
            XCTAssertNotNil(UUID(uuidString: id))
            XCTAssertEqual(Array(id)[14], "4", id)
            XCTAssertTrue("89ab".contains(Array(id)[19]), id)
            XCTAssertEqual(id, id.lowercased())
            seen.insert(id)
        }
        XCTAssertEqual(seen.count, 10_000)
    }

    func test_requestId_echoesOnlySaneInboundValues() {
        XCTAssertEqual(App.requestId(from: "trace-1.2_3"), "trace-1.2_3")
        for bad in ["", "has space", String(repeating: "a", count: 129), "semi;colon", "ünï"] {
            XCTAssertNotEqual(App.requestId(from: bad), bad)
        }
    }
}

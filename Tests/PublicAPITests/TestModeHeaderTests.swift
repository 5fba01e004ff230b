import HTTPServer
import XCTest
@testable import PublicAPI

/// `X-Neo-Test-Mode` parsing (design §4): a safety switch that fails closed.
final class TestModeHeaderTests: XCTestCase {
    private func parse(_ values: [String]) throws -> Bool {
        try RequestContext.testModeHeader(HTTPHeaders([("Host", "x")] + values.map { ("X-Neo-Test-Mode", $0) }))
    }

    func test_onAndOffSpellings_acceptedInAnyCaseAndWhitespace() throws {
        for on in ["1", "true", "TRUE", "True", "yes", "YES", " yes\t"] { XCTAssertTrue(try parse([on]), on) }
        for off in ["0", "false", "FALSE", "no", "No", " 0 "] { XCTAssertFalse(try parse([off]), off) }
        XCTAssertFalse(try parse([]), "absent is off")
        XCTAssertTrue(try RequestContext.testModeHeader(HTTPHeaders([("x-neo-test-mode", "true")])), "the name is case-insensitive")
    }

    func test_anythingElse_is400NamingTheHeaderAndTheAcceptedValues() {
        for bad in ["", "2", "on", "off", "y", "tru", "1,1", "true, false", "ja"] {
            XCTAssertThrowsError(try parse([bad]), bad) { error in
                let e = error as? APIError
                XCTAssertEqual(e?.status, 400, bad)
                XCTAssertEqual(e?.code, "BAD_REQUEST", bad)
                XCTAssertEqual(e?.details.first?.field, "X-Neo-Test-Mode", bad)
                XCTAssertTrue(e?.message.contains("X-Neo-Test-Mode must be 1, true or yes (on) or 0, false or no (off)") ?? false, e?.message ?? "")
            }
        }
    }

    func test_repeatedHeader_mustAgree() throws {
        XCTAssertTrue(try parse(["1", "TRUE"]))
        XCTAssertFalse(try parse(["no", "0"]))
        XCTAssertThrowsError(try parse(["1", "0"])) { error in
            XCTAssertEqual((error as? APIError)?.status, 400)
            XCTAssertTrue((error as? APIError)?.message.contains("more than once with different values") ?? false)
        }
        XCTAssertThrowsError(try parse(["1", "maybe"]))
    }
}

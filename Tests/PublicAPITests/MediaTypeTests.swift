@testable import PublicAPI
import XCTest

/// The media type `jsonBody` checks Content-Type against: before any `;`, spaces and tabs trimmed, ASCII lower case.
final class MediaTypeTests: XCTestCase {
    func test_mediaType_dropsParametersAndSurroundingWhitespace_lowercasesASCII() {
        XCTAssertEqual(RequestContext.mediaType("application/json"), "application/json")
        XCTAssertEqual(RequestContext.mediaType("Application/JSON; charset=utf-8"), "application/json")
        XCTAssertEqual(RequestContext.mediaType(" \tapplication/json \t;charset=utf-8"), "application/json")
        XCTAssertEqual(RequestContext.mediaType("application/json;"), "application/json")
        XCTAssertEqual(RequestContext.mediaType(""), "")
        XCTAssertEqual(RequestContext.mediaType(" \t "), "")
        XCTAssertEqual(RequestContext.mediaType(";application/json"), "")
        XCTAssertEqual(RequestContext.mediaType("text/plain"), "text/plain")
        XCTAssertEqual(RequestContext.mediaType("application/json-patch+json"), "application/json-patch+json")
        XCTAssertEqual(RequestContext.mediaType("application/jsön"), "application/jsön", "non-ASCII bytes pass through unchanged")
        XCTAssertNotEqual(RequestContext.mediaType("application/ json"), "application/json", "inner whitespace is kept")
    }
}

import Foundation
import Basics
import XCTest

final class TimestampTests: XCTestCase {
    func test_format_isRFC3339UTCWithMillisAndZ() {
        XCTAssertEqual(Timestamp.format(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Timestamp.format(Date(timeIntervalSince1970: 1_795_971_600.123)), "2026-11-29T17:00:00.123Z")
        XCTAssertEqual(Timestamp.format(Date(timeIntervalSince1970: -0.5)), "1969-12-31T23:59:59.500Z")
    }

    func test_now_hasCanonicalShape() throws {
        let now = Timestamp.now()
        XCTAssertEqual(now.count, 24)
        XCTAssertTrue(now.hasSuffix("Z"))
        let parsed = try XCTUnwrap(Timestamp.parse(now))
        XCTAssertLessThan(abs(parsed.timeIntervalSinceNow), 5)
    }

    func test_formatThenParse_roundTrips() throws {
        for text in ["2026-11-29T17:00:00.123Z", "2000-02-29T23:59:59.999Z", "1999-12-31T00:00:00.001Z"] {
            XCTAssertEqual(Timestamp.format(try XCTUnwrap(Timestamp.parse(text))), text)
        }
    }

    func test_parse_acceptsOffsetsAndOptionalFraction() {
        XCTAssertEqual(Timestamp.parse("2026-11-29T18:30:00+01:30").map(Timestamp.format), "2026-11-29T17:00:00.000Z")
        XCTAssertEqual(Timestamp.parse("2026-11-29T12:00:00.5-05:00").map(Timestamp.format), "2026-11-29T17:00:00.500Z")
        XCTAssertEqual(Timestamp.parse("2026-11-29t17:00:00.123456789z").map(Timestamp.format), "2026-11-29T17:00:00.123Z")
    }

    func test_parse_rejectsMalformed() {
        for bad in ["", "2026-11-29", "2026-11-29T17:00:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                    "2026-11-29T24:00:00Z", "2026-11-29T17:00:00.Z", "2026-11-29T17:00:00Zjunk", "2026-11-29T17:00:00+0100"] {
            XCTAssertNil(Timestamp.parse(bad), bad)
        }
    }
}

import XCTest
@testable import NeoJSON

/// Asserts that parsing `text` fails with the given offset and (optionally) a message fragment.
func assertRejects(_ text: String, offset: Int, contains fragment: String? = nil, maxDepth: Int = 64,
                   file: StaticString = #filePath, line: UInt = #line) {
    assertRejectsBytes(Array(text.utf8), offset: offset, contains: fragment, maxDepth: maxDepth, file: file, line: line)
}

func assertRejectsBytes(_ bytes: [UInt8], offset: Int, contains fragment: String? = nil, maxDepth: Int = 64,
                        file: StaticString = #filePath, line: UInt = #line) {
    do {
        let v = try JSON.parse(bytes, maxDepth: maxDepth)
        XCTFail("expected rejection, got \(v)", file: file, line: line)
    } catch let e as JSONParseError {
        XCTAssertEqual(e.offset, offset, "offset for: \(e.message)", file: file, line: line)
        XCTAssertEqual(e.description, e.message, file: file, line: line)
        XCTAssertTrue(e.message.contains("offset \(e.offset)") || e.message.contains("nesting deeper"),
                      "message should name the offset: \(e.message)", file: file, line: line)
        if let fragment {
            XCTAssertTrue(e.message.contains(fragment), "'\(e.message)' should contain '\(fragment)'",
                          file: file, line: line)
        }
    } catch {
        XCTFail("unexpected error type \(error)", file: file, line: line)
    }
}

func parseOK(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSON? {
    do {
        return try JSON.parse(text)
    } catch {
        XCTFail("parse failed: \(error)", file: file, line: line)
        return nil
    }
}

/// Deterministic SplitMix64 generator for reproducible randomized tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

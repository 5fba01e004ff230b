import XCTest
@testable import NeoJSON

final class ParseTests: XCTestCase {
    // MARK: basic values

    func test_parse_scalars() throws {
        XCTAssertEqual(try JSON.parse("null"), .null)
        XCTAssertEqual(try JSON.parse("true"), .bool(true))
        XCTAssertEqual(try JSON.parse("false"), .bool(false))
        XCTAssertEqual(try JSON.parse("\"hi\""), .string("hi"))
        XCTAssertEqual(try JSON.parse("42"), .int(42))
        XCTAssertEqual(try JSON.parse("[]"), .array([]))
        XCTAssertEqual(try JSON.parse("{}"), .object(JSONObject()))
    }

    func test_parse_allowsSurroundingWhitespace() throws {
        XCTAssertEqual(try JSON.parse(" \t\r\n[ 1 , { \"a\" : null } ]\n "), [1, ["a": nil]])
    }

    func test_parse_nestedDocumentPreservesKeyOrder() throws {
        let text = #"{"zeta":1,"alpha":{"y":[true,false,null],"b":"x","a":2.5},"mid":[]}"#
        let v = try JSON.parse(text)
        XCTAssertEqual(v.objectValue?.keys, ["zeta", "alpha", "mid"])
        XCTAssertEqual(v["alpha"]?.objectValue?.keys, ["y", "b", "a"])
        XCTAssertEqual(v.serializedString(), text)
    }

    func test_parse_acceptsAllInputForms() throws {
        let text = #"{"k":[1,"two"]}"#
        let expected: JSON = ["k": [1, "two"]]
        XCTAssertEqual(try JSON.parse(text), expected)
        XCTAssertEqual(try JSON.parse(Array(text.utf8)), expected)
        let bytes = Array(text.utf8)
        let viaRaw = try bytes.withUnsafeBytes { try JSON.parse($0) }
        XCTAssertEqual(viaRaw, expected)
    }

    // MARK: rejections

    func test_parse_rejectsEmptyInput() {
        assertRejects("", offset: 0, contains: "unexpected end of input")
        assertRejects("   ", offset: 3, contains: "unexpected end of input")
    }

    func test_parse_rejectsTrailingContent() {
        assertRejects("1 2", offset: 2, contains: "unexpected character '2'")
        assertRejects("{} x", offset: 3, contains: "unexpected character 'x'")
        assertRejects("nullx", offset: 4)
    }

    func test_parse_rejectsDuplicateKeys() {
        assertRejects(#"{"name":1,"name":2}"#, offset: 10, contains: "duplicate key 'name'")
        assertRejects(#"{"a":{"b":1},"c":{"b":2,"b":3}}"#, offset: 24, contains: "duplicate key 'b'")
    }

    func test_parse_rejectsDuplicateKeysInLargeObjects() {
        var text = "{"
        for k in 0..<40 { text += "\"k\(k)\":\(k)," }
        let dupOffset = text.utf8.count
        text += "\"k7\":0}"
        assertRejects(text, offset: dupOffset, contains: "duplicate key 'k7'")
    }

    func test_parse_duplicateKeyDetectionIsByteExact() throws {
        // "é" precomposed vs decomposed are canonically equivalent but different member names.
        let v = try JSON.parse("{\"\u{E9}\":1,\"e\u{301}\":2}")
        XCTAssertEqual(v.objectValue?.count, 2)
    }

    func test_parse_rejectsTrailingCommas() {
        assertRejects("[1,2,]", offset: 5, contains: "unexpected character ']'")
        assertRejects(#"{"a":1,}"#, offset: 7, contains: "unexpected character '}'")
        assertRejects("[,]", offset: 1)
        assertRejects("{,}", offset: 1)
    }

    func test_parse_rejectsComments() {
        assertRejects("// c\n1", offset: 0, contains: "unexpected character '/'")
        assertRejects("[1 /* c */]", offset: 3, contains: "unexpected character '/'")
        assertRejects("# x\n1", offset: 0)
    }

    func test_parse_rejectsNaNAndInfinity() {
        assertRejects("NaN", offset: 0, contains: "unexpected character 'N'")
        assertRejects("Infinity", offset: 0)
        assertRejects("-Infinity", offset: 1, contains: "expected digit")
        assertRejects("[nan]", offset: 2)
    }

    func test_parse_rejectsHugeExponentAsOutOfRange() {
        assertRejects("[1e400]", offset: 1, contains: "out of range")
        assertRejects("-1e400", offset: 0, contains: "out of range")
    }

    func test_parse_rejectsBadLiterals() {
        assertRejects("tru", offset: 3, contains: "unexpected end of input")
        assertRejects("nul1", offset: 3)
        assertRejects("True", offset: 0)
        assertRejects("'a'", offset: 0)
    }

    func test_parse_rejectsStructuralErrors() {
        assertRejects("[1 2]", offset: 3)
        assertRejects(#"{"a" 1}"#, offset: 5)
        assertRejects(#"{a:1}"#, offset: 1, contains: "unexpected character 'a'")
        assertRejects(#"{"a":}"#, offset: 5)
        assertRejects("[1", offset: 2, contains: "unexpected end of input")
        assertRejects(#"{"a":1"#, offset: 6)
        assertRejects("]", offset: 0)
    }

    func test_parse_rejectsControlCharacterInString() {
        assertRejectsBytes([0x22, 0x61, 0x0A, 0x62, 0x22], offset: 2, contains: "control character 0x0A")
        assertRejectsBytes([0x22, 0x09, 0x22], offset: 1)
        assertRejectsBytes([0x22, 0x00, 0x22], offset: 1)
        // Also after an escape (slow path).
        assertRejectsBytes(Array(#""\n"#.utf8) + [0x1F, 0x22], offset: 3, contains: "control character 0x1F")
        // DEL (0x7F) is allowed unescaped.
        XCTAssertEqual(try JSON.parse([0x22, 0x7F, 0x22]), .string("\u{7F}"))
    }

    func test_parse_rejectsUnterminatedString() {
        assertRejects(#"["abc"#, offset: 1, contains: "unterminated string")
        assertRejects(#""ab\"#, offset: 0, contains: "unterminated string starting at offset 0")
        assertRejects(#""ab\n"#, offset: 0, contains: "unterminated string")
    }

    func test_parse_rejectsInvalidUTF8() {
        assertRejectsBytes([0x22, 0xFF, 0x22], offset: 1, contains: "invalid UTF-8")
        assertRejectsBytes([0x22, 0x61, 0x80, 0x22], offset: 2)               // lone continuation
        assertRejectsBytes([0x22, 0xC0, 0xAF, 0x22], offset: 1)               // overlong '/'
        assertRejectsBytes([0x22, 0xE0, 0x80, 0xAF, 0x22], offset: 1)         // overlong 3-byte
        assertRejectsBytes([0x22, 0xED, 0xA0, 0x80, 0x22], offset: 1)         // encoded surrogate
        assertRejectsBytes([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], offset: 1)   // > U+10FFFF
        assertRejectsBytes([0x22, 0xE2, 0x82, 0x22], offset: 1)               // truncated
        assertRejectsBytes([0x22, 0x5C, 0x6E, 0xFE, 0x22], offset: 3)         // after an escape
        assertRejectsBytes([0x22, 0xE2, 0x82], offset: 1)                     // truncated at EOF
    }

    func test_parse_acceptsValidMultibyteUTF8() throws {
        let s = "h\u{E9}llo \u{20AC} \u{1F600} \u{10FFFF}"
        XCTAssertEqual(try JSON.parse("\"" + s + "\""), .string(s))
        XCTAssertEqual(try JSON.parse("\"\\t" + s + "\""), .string("\t" + s))
    }

    func test_parse_rejectsNonASCIIOutsideStrings() {
        assertRejectsBytes([0x5B, 0xC3, 0xA9, 0x5D], offset: 1, contains: "unexpected byte 0xC3")
        assertRejectsBytes([0xEF, 0xBB, 0xBF, 0x31], offset: 0) // BOM is not JSON whitespace
    }

    func test_parse_rejectsNestingDeeperThanMaxDepth() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNoThrow(try JSON.parse(ok))
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        assertRejects(tooDeep, offset: 64, contains: "nesting deeper than 64 levels")
        let objects = String(repeating: "{\"a\":", count: 65) + "1" + String(repeating: "}", count: 65)
        assertRejects(objects, offset: 64 * 5, contains: "nesting deeper than 64 levels")
        let mixedOK = String(repeating: "{\"a\":[", count: 32) + "1" + String(repeating: "]}", count: 32)
        XCTAssertNoThrow(try JSON.parse(mixedOK))
    }

    func test_parse_respectsCustomMaxDepth() throws {
        XCTAssertNoThrow(try JSON.parse("[[1]]", maxDepth: 2))
        assertRejects("[[[1]]]", offset: 2, contains: "nesting deeper than 2 levels", maxDepth: 2)
        assertRejects("[]", offset: 0, maxDepth: 0)
        XCTAssertEqual(try JSON.parse("1", maxDepth: 0), .int(1))
        let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        XCTAssertNoThrow(try JSON.parse(deep, maxDepth: 500))
    }

    // MARK: numbers

    func test_parse_numberForms() throws {
        XCTAssertEqual(try JSON.parse("0"), .int(0))
        XCTAssertEqual(try JSON.parse("-0"), .int(0))
        XCTAssertEqual(try JSON.parse("-12"), .int(-12))
        XCTAssertEqual(try JSON.parse("1e3"), .double(1000))
        XCTAssertEqual(try JSON.parse("1E3"), .double(1000))
        XCTAssertEqual(try JSON.parse("1e+3"), .double(1000))
        XCTAssertEqual(try JSON.parse("1.5E-2"), .double(0.015))
        XCTAssertEqual(try JSON.parse("-0.0"), .double(-0.0))
        XCTAssertEqual(try JSON.parse("2.0"), .double(2.0))
        XCTAssertEqual(try JSON.parse("0.1"), .double(0.1))
        XCTAssertEqual(try JSON.parse("-1.25e2"), .double(-125))
        XCTAssertEqual(try JSON.parse("5e-324"), .double(.leastNonzeroMagnitude))
        XCTAssertEqual(try JSON.parse("1.7976931348623157e308"), .double(.greatestFiniteMagnitude))
    }

    func test_parse_int64Boundaries() throws {
        XCTAssertEqual(try JSON.parse("9223372036854775807"), .int(.max))
        XCTAssertEqual(try JSON.parse("-9223372036854775808"), .int(.min))
        XCTAssertEqual(try JSON.parse("9223372036854775808"), .double(9223372036854775808.0))
        XCTAssertEqual(try JSON.parse("-9223372036854775809"), .double(-9223372036854775809.0))
    }

    func test_parse_bigIntegersBeyondInt64BecomeDouble() throws {
        XCTAssertEqual(try JSON.parse("12345678901234567890123"), .double(12345678901234567890123.0))
        XCTAssertEqual(try JSON.parse("18446744073709551616"), .double(18446744073709551616.0))
        XCTAssertEqual(try JSON.parse("-" + String(repeating: "9", count: 40)), .double(-1e40))
    }

    func test_parse_rejectsLeadingZero() {
        assertRejects("01", offset: 0, contains: "leading zero")
        assertRejects("-01", offset: 1, contains: "leading zero")
        assertRejects("[00]", offset: 1)
        assertRejects("00.5", offset: 0)
    }

    func test_parse_rejectsMalformedNumbers() {
        assertRejects("1.", offset: 2, contains: "expected digit after '.'")
        assertRejects("[1.]", offset: 3)
        assertRejects(".5", offset: 0, contains: "unexpected character '.'")
        assertRejects("-", offset: 1, contains: "expected digit")
        assertRejects("-a", offset: 1)
        assertRejects("+1", offset: 0, contains: "unexpected character '+'")
        assertRejects("1e", offset: 2, contains: "exponent")
        assertRejects("1e+", offset: 3)
        assertRejects("1.e5", offset: 2)
        assertRejects("0x10", offset: 1)
        assertRejects("1.5.2", offset: 3)
    }

    // MARK: strings

    func test_parse_simpleEscapes() throws {
        XCTAssertEqual(try JSON.parse(#""a\"b\\c\/d\be\ff\ng\rh\ti""#), .string("a\"b\\c/d\u{8}e\u{C}f\ng\rh\ti"))
    }

    func test_parse_unicodeEscapes() throws {
        XCTAssertEqual(try JSON.parse(#""\u0041\u00e9\u20AC""#), .string("A\u{E9}\u{20AC}"))
        XCTAssertEqual(try JSON.parse(#""\u0000""#), .string("\u{0}"))
    }

    func test_parse_surrogatePairEscapeProducesCorrectUTF8() throws {
        let v = try JSON.parse(#""x\uD83D\uDE00y""#)
        XCTAssertEqual(v, .string("x\u{1F600}y"))
        XCTAssertEqual(Array(v.stringValue!.utf8), [0x78, 0xF0, 0x9F, 0x98, 0x80, 0x79])
        XCTAssertEqual(try JSON.parse(#""\udbff\udfff""#), .string("\u{10FFFF}"))
    }

    func test_parse_rejectsLoneSurrogates() {
        assertRejects(#""\uD83D""#, offset: 1, contains: "lone surrogate \\uD83D")
        assertRejects(#""ab\uDE00cd""#, offset: 3, contains: "lone surrogate \\uDE00")
        assertRejects(#""\uD83Dx""#, offset: 1, contains: "lone surrogate")
        assertRejects(#""\uD83D\u0041""#, offset: 1, contains: "lone surrogate")
        assertRejects(#""\uD83D\uD83D""#, offset: 1, contains: "lone surrogate")
        assertRejects(#""\uD83D\n""#, offset: 1, contains: "lone surrogate")
    }

    func test_parse_rejectsInvalidEscapes() {
        assertRejects(#""\x""#, offset: 1, contains: "invalid escape '\\x'")
        assertRejects(#""\u12G4""#, offset: 1, contains: "invalid \\u escape")
        assertRejects(#""\u12""#, offset: 1, contains: "invalid \\u escape")
        assertRejects(#""\'""#, offset: 1)
    }

    func test_parse_keysWithEscapes() throws {
        let v = try JSON.parse(#"{"a\nb":1,"\u00e9":2}"#)
        XCTAssertEqual(v.objectValue?.keys, ["a\nb", "\u{E9}"])
        XCTAssertEqual(v["\u{E9}"], .int(2))
    }
}

import XCTest
@testable import NeoJSON

final class SerializeTests: XCTestCase {
    func test_serialize_scalars() {
        XCTAssertEqual(JSON.null.serializedString(), "null")
        XCTAssertEqual(JSON.bool(true).serializedString(), "true")
        XCTAssertEqual(JSON.bool(false).serializedString(), "false")
        XCTAssertEqual(JSON.string("").serializedString(), "\"\"")
        XCTAssertEqual(JSON.array([]).serializedString(), "[]")
        XCTAssertEqual(JSON.object([:]).serializedString(), "{}")
    }

    func test_serialize_integersWrittenAsDigits() {
        XCTAssertEqual(JSON.int(0).serializedString(), "0")
        XCTAssertEqual(JSON.int(7).serializedString(), "7")
        XCTAssertEqual(JSON.int(10).serializedString(), "10")
        XCTAssertEqual(JSON.int(-1).serializedString(), "-1")
        XCTAssertEqual(JSON.int(1234567890).serializedString(), "1234567890")
        XCTAssertEqual(JSON.int(.max).serializedString(), "9223372036854775807")
        XCTAssertEqual(JSON.int(.min).serializedString(), "-9223372036854775808")
        for v: Int64 in [9, 99, 100, 999_999, -10, -99, 1 << 40] {
            XCTAssertEqual(JSON.int(v).serializedString(), String(v))
        }
    }

    func test_serialize_doublesInShortestRoundTripForm() throws {
        XCTAssertEqual(JSON.double(1.5).serializedString(), "1.5")
        XCTAssertEqual(JSON.double(2.0).serializedString(), "2.0")
        XCTAssertEqual(JSON.double(0.1).serializedString(), "0.1")
        XCTAssertEqual(JSON.double(-0.0).serializedString(), "-0.0")
        for d in [1e30, 1e-7, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, -123.456, 1.0 / 3.0] {
            let text = JSON.double(d).serializedString()
            XCTAssertEqual(try JSON.parse(text), .double(d), text)
        }
    }

    func test_serialize_nonFiniteDoublesAsNull() {
        XCTAssertEqual(JSON.double(.nan).serializedString(), "null")
        XCTAssertEqual(JSON.double(.infinity).serializedString(), "null")
        XCTAssertEqual(JSON.array([.double(-.infinity), 1]).serializedString(), "[null,1]")
    }

    func test_serialize_compactKeysInStoredOrder() {
        let v: JSON = ["b": 1, "a": [true, nil, "x"], "c": ["z": 1.5, "y": [:]]]
        XCTAssertEqual(v.serializedString(), #"{"b":1,"a":[true,null,"x"],"c":{"z":1.5,"y":{}}}"#)
    }

    func test_serialize_escapesQuotesAndBackslash() {
        XCTAssertEqual(JSON.string("a\"b\\c").serializedString(), #""a\"b\\c""#)
    }

    func test_serialize_doesNotEscapeSlash() {
        XCTAssertEqual(JSON.string("a/b</script>").serializedString(), #""a/b</script>""#)
    }

    func test_serialize_escapesControlCharacters() {
        XCTAssertEqual(JSON.string("\n\r\t\u{8}\u{C}").serializedString(), #""\n\r\t\b\f""#)
        XCTAssertEqual(JSON.string("\u{0}\u{1}\u{1F}\u{B}").serializedString(), #""\u0000\u0001\u001f\u000b""#)
        XCTAssertEqual(JSON.string("\u{7F}").serializedString(), "\"\u{7F}\"")
        var all = ""
        for c in 0..<0x20 { all.unicodeScalars.append(Unicode.Scalar(UInt8(c))) }
        XCTAssertEqual(try JSON.parse(JSON.string(all).serialized()), .string(all))
    }

    func test_serialize_emitsNonASCIIAsUTF8() {
        let s = "caf\u{E9} \u{20AC} \u{1F600}"
        let bytes = JSON.string(s).serialized()
        XCTAssertEqual(bytes, [0x22] + Array(s.utf8) + [0x22])
        XCTAssertEqual(JSON.string("\u{2028}").serializedString(), "\"\u{2028}\"")
    }

    func test_serialize_escapesKeys() {
        let v: JSON = ["a\"\n": 1]
        XCTAssertEqual(v.serializedString(), #"{"a\"\n":1}"#)
    }

    func test_appendJSONString_appendsToExistingBuffer() {
        var out = Array("{\"k\":".utf8)
        appendJSONString("v\u{1}\"", to: &out)
        out.append(0x7D)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"{"k":"v\u0001\""}"#)
    }

    func test_appendJSONString_handlesBridgedAndSubstringDerivedStrings() {
        let base = String(repeating: "ab\"", count: 100)
        let sub = String(base.dropFirst(1).prefix(5)) // "b\"ab\""
        var out: [UInt8] = []
        appendJSONString(sub, to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #""b\"ab\"""#)
        var long: [UInt8] = []
        appendJSONString(base, to: &long)
        XCTAssertEqual(try JSON.parse(long), .string(base))
    }

    func test_write_appendsWithoutClearing() {
        var out = Array("x".utf8)
        JSON.array([1, "a"]).write(into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"x[1,"a"]"#)
    }

    func test_serialize_listResponseShape() throws {
        var items: [JSON] = []
        for i in 0..<50 {
            items.append(["id": .int(Int64(i)), "name": .string("item \(i) \u{E9}"), "ok": true,
                          "score": .double(Double(i) / 4), "tags": ["a", "b\n"]])
        }
        let doc: JSON = ["items": .array(items), "next": nil]
        let bytes = doc.serialized()
        XCTAssertEqual(try JSON.parse(bytes), doc)
        XCTAssertEqual(doc.serializedString(), String(decoding: bytes, as: UTF8.self))
    }
}

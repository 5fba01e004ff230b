import XCTest
@testable import NeoJSON

final class RoundTripTests: XCTestCase {
    func test_roundTrip_nestedDocumentIsByteForByte() throws {
        let text = #"{"z":{"k2":[1,-2,3.25,"s\"\\\n\u0001",true,false,null,{}],"k1":[]},"a":"\u00e9/\ud83d\ude00","m":1e+30}"#
        let v = try JSON.parse(text)
        // Escapes normalize: \u00e9 and the pair are emitted as raw UTF-8; everything else is byte-for-byte.
        let expected = #"{"z":{"k2":[1,-2,3.25,"s\"\\\n\u0001",true,false,null,{}],"k1":[]},"a":"é/😀","m":1e+30}"#
        XCTAssertEqual(v.serializedString(), expected)
        XCTAssertEqual(try JSON.parse(expected).serializedString(), expected)
        XCTAssertEqual(v["z"]?.objectValue?.keys, ["k2", "k1"])
    }

    func test_roundTrip_randomizedCorpusParsesBackEqual() throws {
        var rng = SeededGenerator(seed: 0x5EED_0F_15_0B)
        for n in 0..<400 {
            let doc = randomJSON(&rng, depth: 0)
            let bytes = doc.serialized()
            let parsed: JSON
            do {
                parsed = try JSON.parse(bytes)
            } catch {
                XCTFail("doc \(n) failed to parse: \(error)\n\(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            XCTAssertEqual(parsed, doc, "doc \(n)")
            XCTAssertEqual(parsed.serialized(), bytes, "doc \(n) re-serialization differs")
            // The String entry point agrees with the byte entry point.
            XCTAssertEqual(try JSON.parse(String(decoding: bytes, as: UTF8.self)), doc)
        }
    }

    // MARK: generator

    private func randomJSON(_ rng: inout SeededGenerator, depth: Int) -> JSON {
        let maxKind = depth >= 5 ? 5 : 7
        switch Int.random(in: 0..<maxKind, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(randomInt(&rng))
        case 3: return .double(randomDouble(&rng))
        case 4: return .string(randomString(&rng))
        case 5:
            let count = Int.random(in: 0...6, using: &rng)
            return .array((0..<count).map { _ in randomJSON(&rng, depth: depth + 1) })
        default:
            var o = JSONObject()
            let count = Int.random(in: 0...(Bool.random(using: &rng) ? 6 : 20), using: &rng)
            for _ in 0..<count { o[randomString(&rng)] = randomJSON(&rng, depth: depth + 1) }
            return .object(o)
        }
    }

    private func randomInt(_ rng: inout SeededGenerator) -> Int64 {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return Int64.random(in: -10...10, using: &rng)
        case 1: return [Int64.min, Int64.max, 0, -1][Int.random(in: 0..<4, using: &rng)]
        default: return Int64(bitPattern: rng.next())
        }
    }

    private func randomDouble(_ rng: inout SeededGenerator) -> Double {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return Double.random(in: -1000...1000, using: &rng)
        case 1: return [0.0, -0.0, 2.0, 1e300, .leastNonzeroMagnitude, -1.5e-10][Int.random(in: 0..<6, using: &rng)]
        default:
            while true {
                let d = Double(bitPattern: rng.next())
                if d.isFinite { return d }
            }
        }
    }

    private func randomString(_ rng: inout SeededGenerator) -> String {
        let pool: [Unicode.Scalar] = ["a", "b", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}",
                                      "\u{7F}", "\u{E9}", "\u{301}", "\u{20AC}", "\u{2028}", "\u{FFFF}",
                                      "\u{1F600}", "\u{10FFFF}"]
        var s = String.UnicodeScalarView()
        let len = Int.random(in: 0...12, using: &rng)
        for _ in 0..<len {
            if Bool.random(using: &rng) {
                s.append(pool[Int.random(in: 0..<pool.count, using: &rng)])
            } else {
                var v = UInt32.random(in: 0...0x10FFFF, using: &rng)
                if (0xD800...0xDFFF).contains(v) { v = 0x41 }
                s.append(Unicode.Scalar(v)!)
            }
        }
        return String(s)
    }
}

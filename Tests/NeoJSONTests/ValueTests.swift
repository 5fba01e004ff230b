import XCTest
@testable import NeoJSON

final class ValueTests: XCTestCase {
    func test_literals_buildExpectedCases() {
        let v: JSON = ["n": nil, "b": true, "i": 3, "d": 1.5, "s": "x", "a": [1, "y"], "o": ["k": false]]
        XCTAssertEqual(v["n"], .null)
        XCTAssertEqual(v["b"], .bool(true))
        XCTAssertEqual(v["i"], .int(3))
        XCTAssertEqual(v["d"], .double(1.5))
        XCTAssertEqual(v["s"], .string("x"))
        XCTAssertEqual(v["a"], .array([.int(1), .string("y")]))
        XCTAssertEqual(v["o"], .object(JSONObject([("k", .bool(false))])))
        XCTAssertEqual(v.objectValue?.keys, ["n", "b", "i", "d", "s", "a", "o"])
    }

    func test_accessors_returnNilForOtherCases() {
        let s: JSON = "x"
        XCTAssertEqual(s.stringValue, "x")
        XCTAssertNil(s.boolValue)
        XCTAssertNil(s.intValue)
        XCTAssertNil(s.doubleValue)
        XCTAssertNil(s.arrayValue)
        XCTAssertNil(s.objectValue)
        XCTAssertFalse(s.isNull)
        XCTAssertNil(s["k"])
        XCTAssertTrue(JSON.null.isNull)
        XCTAssertEqual(JSON.bool(false).boolValue, false)
        XCTAssertEqual(JSON.array([1]).arrayValue, [1])
    }

    func test_intValue_acceptsExactIntegralDoublesOnly() {
        XCTAssertEqual(JSON.int(-5).intValue, -5)
        XCTAssertEqual(JSON.double(3.0).intValue, 3)
        XCTAssertEqual(JSON.double(-0.0).intValue, 0)
        XCTAssertNil(JSON.double(3.5).intValue)
        XCTAssertNil(JSON.double(9.3e18).intValue)
        XCTAssertEqual(JSON.double(-9223372036854775808.0).intValue, .min)
        XCTAssertNil(JSON.double(9223372036854775808.0).intValue)
        XCTAssertNil(JSON.double(.nan).intValue)
        XCTAssertNil(JSON.double(.infinity).intValue)
    }

    func test_doubleValue_convertsInts() {
        XCTAssertEqual(JSON.int(2).doubleValue, 2.0)
        XCTAssertEqual(JSON.double(2.5).doubleValue, 2.5)
        XCTAssertNil(JSON.null.doubleValue)
    }

    func test_typeName_namesEveryCase() {
        XCTAssertEqual(JSON.null.typeName, "null")
        XCTAssertEqual(JSON.bool(true).typeName, "boolean")
        XCTAssertEqual(JSON.int(1).typeName, "integer")
        XCTAssertEqual(JSON.double(1).typeName, "number")
        XCTAssertEqual(JSON.string("").typeName, "string")
        XCTAssertEqual(JSON.array([]).typeName, "array")
        XCTAssertEqual(JSON.object([:]).typeName, "object")
    }

    func test_parseError_descriptionIsMessage() {
        let e = JSONParseError(offset: 3, message: "boom at offset 3")
        XCTAssertEqual(e.description, "boom at offset 3")
        XCTAssertEqual("\(e)", "boom at offset 3")
    }
}

final class JSONObjectTests: XCTestCase {
    func test_object_subscriptSetAppendsNewKeysInOrder() {
        var o = JSONObject()
        XCTAssertTrue(o.isEmpty)
        o["c"] = 1
        o["a"] = 2
        o["b"] = 3
        XCTAssertEqual(o.keys, ["c", "a", "b"])
        XCTAssertEqual(o.count, 3)
        XCTAssertFalse(o.isEmpty)
    }

    func test_object_subscriptSetOnExistingKeyKeepsPosition() {
        var o: JSONObject = ["x": 1, "y": 2, "z": 3]
        o["y"] = "changed"
        XCTAssertEqual(o.keys, ["x", "y", "z"])
        XCTAssertEqual(o["y"], .string("changed"))
        XCTAssertEqual(JSON.object(o).serializedString(), #"{"x":1,"y":"changed","z":3}"#)
    }

    func test_object_subscriptSetNilRemovesKey() {
        var o: JSONObject = ["x": 1, "y": 2, "z": 3]
        o["y"] = nil
        XCTAssertEqual(o.keys, ["x", "z"])
        XCTAssertFalse(o.contains("y"))
        o["missing"] = nil
        XCTAssertEqual(o.count, 2)
        o["y"] = 9
        XCTAssertEqual(o.keys, ["x", "z", "y"])
    }

    func test_object_removeValueReturnsOldValueAndKeepsOrder() {
        var o: JSONObject = ["a": 1, "b": 2, "c": 3, "d": 4]
        XCTAssertEqual(o.removeValue(forKey: "b"), .int(2))
        XCTAssertNil(o.removeValue(forKey: "b"))
        XCTAssertEqual(o.keys, ["a", "c", "d"])
        XCTAssertEqual(o["d"], .int(4))
    }

    func test_object_largeObjectLookupAndRemovalStayConsistent() {
        var o = JSONObject()
        for i in 0..<100 { o["k\(i)"] = .int(Int64(i)) }
        XCTAssertEqual(o.count, 100)
        XCTAssertEqual(o["k57"], .int(57))
        o["k10"] = "ten"
        XCTAssertEqual(o.keys[10], "k10")
        for i in stride(from: 0, to: 100, by: 2) { XCTAssertNotNil(o.removeValue(forKey: "k\(i)")) }
        XCTAssertEqual(o.count, 50)
        XCTAssertEqual(o.keys.first, "k1")
        XCTAssertEqual(o["k99"], .int(99))
        XCTAssertNil(o["k98"])
        for i in stride(from: 1, to: 100, by: 2) where i > 5 { o["k\(i)"] = nil }
        XCTAssertEqual(o.keys, ["k1", "k3", "k5"])
        XCTAssertEqual(o["k3"], .int(3))
        o["k0"] = 0
        XCTAssertEqual(o.keys, ["k1", "k3", "k5", "k0"])
    }

    func test_object_sequenceIteratesInOrder() {
        let o: JSONObject = ["b": 1, "a": 2]
        var seen: [String] = []
        for (key, value) in o {
            seen.append(key)
            XCTAssertNotNil(value.intValue)
        }
        XCTAssertEqual(seen, ["b", "a"])
        XCTAssertEqual(o.map { $0.key }, ["b", "a"])
        XCTAssertEqual(o.map { $0.value }, [1, 2])
    }

    func test_object_initFromPairsLastDuplicateWinsInFirstPosition() {
        let o = JSONObject([("a", 1), ("b", 2), ("a", 3)])
        XCTAssertEqual(o.keys, ["a", "b"])
        XCTAssertEqual(o["a"], .int(3))
    }

    func test_object_equalityIsOrderSensitive() {
        let a: JSONObject = ["x": 1, "y": 2]
        let b: JSONObject = ["x": 1, "y": 2]
        let c: JSONObject = ["y": 2, "x": 1]
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertNotEqual(a, ["x": 1])
        XCTAssertNotEqual(a, ["x": 1, "y": 3])
    }

    func test_object_keysAreComparedByExactBytes() {
        var o = JSONObject()
        o["\u{E9}"] = 1
        o["e\u{301}"] = 2
        XCTAssertEqual(o.count, 2)
        XCTAssertEqual(o["\u{E9}"], .int(1))
        XCTAssertEqual(o["e\u{301}"], .int(2))
    }

    func test_json_subscriptReadsObjectMembers() {
        let v: JSON = ["a": ["b": "c"]]
        XCTAssertEqual(v["a"]?["b"], .string("c"))
        XCTAssertNil(v["zz"])
        XCTAssertNil(JSON.array([]).self["a"])
    }
}

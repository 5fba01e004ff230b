import Basics
import XCTest

final class CryptoTests: XCTestCase {
    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func test_sha256_abc_matchesKnownVector() {
        XCTAssertEqual(hex(SHA256.hash(Array("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex(SHA256.hash([])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func test_hmacSHA256_rfc4231Case2() {
        let mac = hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        XCTAssertEqual(hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func test_constantTimeEqual_comparesContentAndLength() {
        XCTAssertTrue(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(constantTimeEqual([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(constantTimeEqual([1, 2], [1, 2, 3]))
        XCTAssertTrue(constantTimeEqual([], []))
    }

    func test_secureRandom_returnsRequestedLengthAndVaries() {
        XCTAssertEqual(SecureRandom.bytes(32).count, 32)
        XCTAssertNotEqual(SecureRandom.bytes(32), SecureRandom.bytes(32))
        XCTAssertEqual(SecureRandom.bytes(0), [])
    }

    func test_uuid_isVersion4() {
        let id = SecureRandom.uuid()
        XCTAssertNotNil(UUID(uuidString: id))
        XCTAssertEqual(Array(id)[14], "4")
        XCTAssertTrue("89ab".contains(Array(id)[19]))
    }

    func test_timeOrderedUUID_carriesTheMillisecondsThenRandomBits() {
        // 1_795_996_800_123 ms = 0x01a229c0547b: the first 48 bits, then the version nibble.
        let id = SecureRandom.timeOrderedUUID(milliseconds: 1_795_996_800_123)
        XCTAssertNotNil(UUID(uuidString: id))
        XCTAssertEqual(id.count, 36)
        XCTAssertTrue(id.hasPrefix("01a229c0-547b-7"), id)
        XCTAssertTrue("89ab".contains(Array(id)[19]))
        let again = SecureRandom.timeOrderedUUID(milliseconds: 1_795_996_800_123)
        XCTAssertEqual(again.prefix(13), id.prefix(13))
        XCTAssertNotEqual(again, id)  // 74 random bits after the time
        // Later milliseconds sort after earlier ones, as text (the index order).
        var last = ""
        for ms in stride(from: UInt64(1_795_996_800_000), to: 1_795_996_801_000, by: 7) {
            let next = SecureRandom.timeOrderedUUID(milliseconds: ms)
            XCTAssertLessThan(last, next)
            last = next
        }
    }

    func test_secretBox_roundTrips() throws {
        let box = SecretBox(key: SecureRandom.bytes(32))
        for secret in ["", "client-secret-🔑", String(repeating: "x", count: 5000)] {
            let sealed = box.seal(secret, context: "external_api:7")
            XCTAssertTrue(sealed.hasPrefix("v1:"))
            XCTAssertFalse(sealed.contains(secret.isEmpty ? "\u{0}" : secret))
            XCTAssertEqual(try box.open(sealed, context: "external_api:7"), secret)
        }
    }

    func test_secretBox_sealingSameTextTwice_differs() {
        let box = SecretBox(key: SecureRandom.bytes(32))
        XCTAssertNotEqual(box.seal("same", context: "c"), box.seal("same", context: "c"))
    }

    func test_secretBox_wrongKeyOrContext_throwsInsteadOfGarbage() {
        let sealed = SecretBox(key: SecureRandom.bytes(32)).seal("token", context: "c")
        XCTAssertThrowsError(try SecretBox(key: SecureRandom.bytes(32)).open(sealed, context: "c")) {
            XCTAssertEqual($0 as? SecretBoxError, .wrongKeyOrCorrupt)
        }
        let key = SecureRandom.bytes(32)
        let bound = SecretBox(key: key).seal("token", context: "row:1")
        XCTAssertThrowsError(try SecretBox(key: key).open(bound, context: "row:2"))
    }

    func test_secretBox_tamperedOrMalformed_throws() throws {
        let box = SecretBox(key: SecureRandom.bytes(32))
        let sealed = box.seal("token", context: "c")
        var raw = [UInt8](try XCTUnwrap(Data(base64Encoded: String(sealed.dropFirst(3)))))
        raw[raw.count - 1] ^= 0x01
        XCTAssertThrowsError(try box.open("v1:" + Data(raw).base64EncodedString(), context: "c"))
        for bad in ["", "v1:", "v1:!!!", "v2:" + sealed.dropFirst(3), "v1:" + Data([1, 2, 3]).base64EncodedString()] {
            XCTAssertThrowsError(try box.open(bad, context: "c"), bad)
        }
    }

    func test_base62_usesOnlyAlphanumericsWithFixedLength() {
        let alphabet = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        for _ in 0..<200 {
            let encoded = Base62.encode(SecureRandom.bytes(32))
            XCTAssertEqual(encoded.count, 43)
            XCTAssertTrue(encoded.allSatisfy(alphabet.contains), encoded)
        }
        XCTAssertEqual(Base62.encode([0, 0]), "000")
        XCTAssertEqual(Base62.encode([0, 61]), "00z")
        XCTAssertEqual(Base62.encode([0, 62]), "010")
        XCTAssertEqual(Base62.encode([]), "")
    }
}

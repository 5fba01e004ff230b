import Basics
import Foundation
import Store

/// Formats UUIDv4 strings from this thread's `ThreadRandom` words.
enum RequestIdGenerator {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func next() -> String {
        let random = ThreadRandom.current
        let a = random.next(), b = random.next()
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: a >> (8 * UInt64(i))) }
        for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(i))) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return String(unsafeUninitializedCapacity: 36) { out in
            var j = 0
            for (i, byte) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { out[j] = 45; j += 1 }
                out[j] = RequestIdGenerator.hex[Int(byte >> 4)]
                out[j + 1] = RequestIdGenerator.hex[Int(byte & 0x0F)]
                j += 2
            }
            return j
        }
    }
}

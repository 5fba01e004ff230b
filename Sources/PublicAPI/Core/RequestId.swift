import Basics
import Foundation
import Store

/// xoshiro256** per thread, seeded from the OS through OpenSSL; formats UUIDv4 strings.
final class RequestIdGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { if let p = $0 { Unmanaged<RequestIdGenerator>.fromOpaque(p).release() } }
        return key
    }()
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private init() {
        let seed = SecureRandom.bytes(32)
        func word(_ i: Int) -> UInt64 { seed[i * 8..<i * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) } | 1 }
        s = (word(0), word(1), word(2), word(3))
    }

    static var current: RequestIdGenerator {
        if let existing = pthread_getspecific(key) { return Unmanaged<RequestIdGenerator>.fromOpaque(existing).takeUnretainedValue() }
        let generator = RequestIdGenerator()
        pthread_setspecific(key, Unmanaged.passRetained(generator).toOpaque())
        return generator
    }

    private func nextWord() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    func next() -> String {
        let a = nextWord(), b = nextWord()
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

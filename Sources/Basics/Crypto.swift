import CShim
import Foundation

/// Cryptographically secure random bytes from the kernel (getrandom).
public enum SecureRandom {
    /// A random (version 4) UUID in lowercase, from OpenSSL's generator: Foundation's UUID() opens
    /// /dev/urandom on every call on Linux, which showed up in request-id profiles.
    public static func uuid() -> String {
        var b = bytes(16)
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        return text(b)
    }

    /// A time-ordered (version 7, RFC 9562 §5.7) UUID: the Unix time in milliseconds in its first 48 bits,
    /// then 74 random bits. Rows keyed by it are appended at the end of their index instead of landing on
    /// a random page of it, so a write dirties (and the WAL and its checkpoint copy) a few pages, not one per
    /// row; for execution and callback ids, whose creation time is public anyway (`created_at`).
    public static func timeOrderedUUID(milliseconds: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)) -> String {
        var b = bytes(16)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(i))) }
        b[6] = (b[6] & 0x0F) | 0x70
        b[8] = (b[8] & 0x3F) | 0x80
        return text(b)
    }

    private static func text(_ b: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: 36) { out in
            let hex: StaticString = "0123456789abcdef"
            var n = 0
            for (i, byte) in b.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 {
                    out[n] = 45
                    n += 1
                }
                out[n] = hex.utf8Start[Int(byte >> 4)]
                out[n + 1] = hex.utf8Start[Int(byte & 0x0F)]
                n += 2
            }
            return n
        }
    }

    /// `n` random bytes; crashes rather than ever returning predictable bytes.
    public static func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        guard n > 0 else { return out }
        guard out.withUnsafeMutableBufferPointer({ cshim_random_bytes($0.baseAddress, n) }) == 1 else {
            fatalError("getrandom failed: no secure randomness available")
        }
        return out
    }
}

/// SHA-256 digests (used to store API key hashes, never the keys).
public enum SHA256 {
    /// The 32-byte SHA-256 digest of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { cshim_sha256(input.baseAddress, input.count, $0.baseAddress) }
        }
        return digest
    }

    /// The digest of `data` as 64 lowercase hex digits (fingerprints and audit hashes).
    public static func hexDigest(_ data: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in hash(data) {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Compares two byte strings in time independent of where they differ (lengths are not secret).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    guard !a.isEmpty else { return true }
    return a.withUnsafeBufferPointer { x in
        b.withUnsafeBufferPointer { y in cshim_ct_equal(x.baseAddress, y.baseAddress, x.count) == 1 }
    }
}

/// HMAC-SHA-256 of `data` under `key` (32-byte result).
public func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
    var mac = [UInt8](repeating: 0, count: 32)
    // Empty arrays may have no storage; give OpenSSL a valid pointer with length 0 instead of NULL.
    let keyBytes = key.isEmpty ? [0] : key
    let dataBytes = data.isEmpty ? [0] : data
    keyBytes.withUnsafeBufferPointer { k in
        dataBytes.withUnsafeBufferPointer { d in
            mac.withUnsafeMutableBufferPointer {
                cshim_hmac_sha256(k.baseAddress, key.count, d.baseAddress, data.count, $0.baseAddress)
            }
        }
    }
    return mac
}

/// Why `SecretBox.open` refused a sealed value.
public enum SecretBoxError: Error, Sendable {
    /// The value was sealed under another key or context, or was altered or truncated.
    case wrongKeyOrCorrupt
}

/// Authenticated encryption of secrets at rest (AES-256-GCM), bound to a context string such as a row id.
public struct SecretBox: Sendable {
    private static let prefix = "v1:"
    private static let nonceLength = 12
    private static let tagLength = 16
    private let key: [UInt8]

    /// `key` must be exactly 32 bytes.
    public init(key: [UInt8]) {
        precondition(key.count == 32, "SecretBox key must be 32 bytes")
        self.key = key
    }

    /// "v1:" + base64(nonce(12) || tag(16) || ciphertext), fresh random nonce per call, `context` as AAD.
    public func seal(_ plaintext: String, context: String) -> String {
        let nonce = SecureRandom.bytes(Self.nonceLength)
        let input = Array(plaintext.utf8)
        let aad = Array(context.utf8)
        var tag = [UInt8](repeating: 0, count: Self.tagLength)
        var ciphertext = [UInt8](repeating: 0, count: max(input.count, 1))
        let ok = Self.withBytes(input) { pt in
            Self.withBytes(aad) { ad in
                ciphertext.withUnsafeMutableBufferPointer { ct in
                    tag.withUnsafeMutableBufferPointer { t in
                        cshim_aes256gcm_seal(key, nonce, ad, aad.count, pt, input.count, ct.baseAddress, t.baseAddress)
                    }
                }
            }
        }
        guard ok == 1 else { fatalError("AES-256-GCM seal failed") }
        return Self.prefix + Data(nonce + tag + ciphertext.prefix(input.count)).base64EncodedString()
    }

    /// The plaintext of a value from `seal` with the same key and context; throws rather than return garbage.
    public func open(_ sealed: String, context: String) throws -> String {
        guard sealed.hasPrefix(Self.prefix),
              let data = Data(base64Encoded: String(sealed.dropFirst(Self.prefix.count))),
              data.count >= Self.nonceLength + Self.tagLength else { throw SecretBoxError.wrongKeyOrCorrupt }
        let bytes = [UInt8](data)
        let nonce = Array(bytes[0..<Self.nonceLength])
        let tag = Array(bytes[Self.nonceLength..<(Self.nonceLength + Self.tagLength)])
        let ciphertext = Array(bytes[(Self.nonceLength + Self.tagLength)...])
        let aad = Array(context.utf8)
        var plaintext = [UInt8](repeating: 0, count: max(ciphertext.count, 1))
        let ok = Self.withBytes(ciphertext) { ct in
            Self.withBytes(aad) { ad in
                plaintext.withUnsafeMutableBufferPointer { pt in
                    cshim_aes256gcm_open(key, nonce, ad, aad.count, ct, ciphertext.count, tag, pt.baseAddress)
                }
            }
        }
        guard ok == 1, let text = String(validating: plaintext.prefix(ciphertext.count), as: UTF8.self) else {
            throw SecretBoxError.wrongKeyOrCorrupt
        }
        return text
    }

    /// A non-null pointer to `bytes` even when empty (OpenSSL dislikes NULL buffers).
    private static func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>) -> R) -> R {
        let storage = bytes.isEmpty ? [0] : bytes
        return storage.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Base62 text (0-9A-Za-z) for API key secrets: URL- and copy-paste-safe, no padding characters.
public enum Base62 {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `bytes` as a big-endian number in base 62, left-padded with "0" to a length fixed by `bytes.count`
    /// (43 characters for 32 bytes), so keys of one size always have one length.
    public static func encode(_ bytes: [UInt8]) -> String {
        let length = Int((Double(bytes.count) * 8 / log2(62.0)).rounded(.up))
        var digits: [UInt8] = []  // little-endian base-62 digits
        digits.reserveCapacity(length)
        for byte in bytes {
            var carry = Int(byte)
            for i in digits.indices {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 62)
                carry /= 62
            }
            while carry > 0 {
                digits.append(UInt8(carry % 62))
                carry /= 62
            }
        }
        while digits.count < length { digits.append(0) }
        return String(decoding: digits.reversed().map { alphabet[Int($0)] }, as: UTF8.self)
    }
}

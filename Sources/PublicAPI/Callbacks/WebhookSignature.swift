import Basics
import Foundation
import Store

/// `X-Neo-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>` on
/// `POST /public-api/inbound/{endpoint_id}` (design §9), in the style of Stripe's webhook signatures.
/// Pure: the clock and the secret are arguments; replay refusal (one use per signature) is the store's.
enum WebhookSignature {
    /// How far the signed time may be from the server's clock, either way.
    static let tolerance: Int64 = 300

    enum Failure: Error, Equatable, CustomStringConvertible {
        case missing
        case malformed
        case stale(skewSeconds: Int64)
        case mismatch

        var description: String {
            switch self {
            case .missing: return "X-Neo-Signature is required: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under the endpoint secret>"
            case .malformed: return "X-Neo-Signature must look like t=<unix seconds>,v1=<64 hex characters>"
            case .stale(let skew): return "X-Neo-Signature timestamp is \(skew) s away from the server clock; at most \(WebhookSignature.tolerance) s is accepted (sign each delivery when it is sent)"
            case .mismatch: return "X-Neo-Signature does not match the body under this endpoint's secret"
            }
        }
    }

    /// The signature header value for `body` at `timestamp` (what a sender computes; tests use it too).
    static func sign(secret: [UInt8], timestamp: Int64, body: [UInt8]) -> String {
        "t=\(timestamp),v1=" + hex(hmacSHA256(key: secret, data: Array("\(timestamp).".utf8) + body))
    }

    /// Checks the header against `body` at `now`; returns the signed timestamp. Every v1 entry is tried
    /// (a sender rotating secrets may send two); the comparison is constant-time.
    static func verify(header: String?, body: [UInt8], secret: [UInt8], now: Int64) throws -> Int64 {
        guard let header, !header.isEmpty else { throw Failure.missing }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { throw Failure.malformed }
            switch pair[0] {
            case "t":
                guard timestamp == nil, pair[1].utf8.count <= 12, let t = Int64(pair[1]) else { throw Failure.malformed }
                timestamp = t
            case "v1":
                guard let bytes = unhex(pair[1]), bytes.count == 32 else { throw Failure.malformed }
                signatures.append(bytes)
            default:
                continue
            }
        }
        guard let timestamp, !signatures.isEmpty, signatures.count <= 4 else { throw Failure.malformed }
        let skew = abs(now - timestamp)
        guard skew <= tolerance else { throw Failure.stale(skewSeconds: skew) }
        let expected = hmacSHA256(key: secret, data: Array("\(timestamp).".utf8) + body)
        var matched = false
        for candidate in signatures where constantTimeEqual(candidate, expected) { matched = true }
        guard matched else { throw Failure.mismatch }
        return timestamp
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ s: String) -> [UInt8]? {
        let chars = Array(s.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

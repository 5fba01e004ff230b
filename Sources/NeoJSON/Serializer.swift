// Compact JSON serialization straight into a byte buffer.

extension JSON {
    /// Compact serialization (no spaces), keys in stored order, RFC 8259 string escaping.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .array(let a): out.reserveCapacity(64 + a.count * 64)
        case .object(let o): out.reserveCapacity(64 + o.count * 32)
        default: out.reserveCapacity(32)
        }
        write(into: &out)
        return out
    }

    public func serializedString() -> String {
        String(decoding: serialized(), as: UTF8.self)
    }

    /// Appends the compact serialization of `self` to `out`.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .null:
            appendLiteral(out: &out, 0x6E, 0x75, 0x6C, 0x6C) // null
        case .bool(let b):
            if b {
                appendLiteral(out: &out, 0x74, 0x72, 0x75, 0x65) // true
            } else {
                appendLiteral(out: &out, 0x66, 0x61, 0x6C, 0x73) // fals
                out.append(0x65) // e
            }
        case .int(let v):
            appendInt64(v, to: &out)
        case .double(let d):
            appendDouble(d, to: &out)
        case .string(let s):
            appendJSONString(s, to: &out)
        case .array(let a):
            out.append(0x5B) // [
            var first = true
            for v in a {
                if first { first = false } else { out.append(0x2C) }
                v.write(into: &out)
            }
            out.append(0x5D) // ]
        case .object(let o):
            out.append(0x7B) // {
            let keys = o._keys, values = o._values
            for i in 0..<keys.count {
                if i > 0 { out.append(0x2C) }
                appendJSONString(keys[i], to: &out)
                out.append(0x3A) // :
                values[i].write(into: &out)
            }
            out.append(0x7D) // }
        }
    }
}

@inline(__always)
private func appendLiteral(out: inout [UInt8], _ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
    out.append(a)
    out.append(b)
    out.append(c)
    out.append(d)
}

/// Appends the decimal digits of `v`.
@inline(__always)
internal func appendInt64(_ v: Int64, to out: inout [UInt8]) {
    if v >= 0 && v < 10 {
        out.append(0x30 &+ UInt8(truncatingIfNeeded: v))
        return
    }
    if v < 0 { out.append(0x2D) } // -
    var mag = v.magnitude
    var len = 0
    var m = mag
    repeat { len &+= 1; m /= 10 } while m != 0
    let start = out.count
    out.append(contentsOf: repeatElement(0x30 as UInt8, count: len))
    out.withUnsafeMutableBufferPointer { p in
        var idx = start + len - 1
        repeat {
            let (q, r) = mag.quotientAndRemainder(dividingBy: 10)
            p[idx] = 0x30 &+ UInt8(truncatingIfNeeded: r)
            mag = q
            idx -= 1
        } while mag != 0
    }
}

/// Shortest round-trip form ("1.5", "2.0", "1e+30"); non-finite values become null.
@inline(__always)
internal func appendDouble(_ d: Double, to out: inout [UInt8]) {
    guard d.isFinite else {
        appendLiteral(out: &out, 0x6E, 0x75, 0x6C, 0x6C)
        return
    }
    // Swift's description is the shortest representation that round-trips, and is valid JSON
    // for finite values (e.g. "0.1", "2.0", "-0.0", "1e+30", "5e-324").
    out.append(contentsOf: d.description.utf8)
}

@inline(__always)
private func hexDigit(_ v: UInt8) -> UInt8 {
    v < 10 ? 0x30 &+ v : 0x61 &+ (v &- 10)
}

/// Appends `s` as a quoted, escaped JSON string (the hot path for hand-built responses).
public func appendJSONString(_ s: String, to out: inout [UInt8]) {
    out.append(0x22)
    let done: Void? = s.utf8.withContiguousStorageIfAvailable { appendEscaped($0, to: &out) }
    if done == nil {
        var copy = s
        copy.withUTF8 { appendEscaped($0, to: &out) }
    }
    out.append(0x22)
}

/// Escapes UTF-8 bytes (already valid, since they come from a String), copying safe runs wholesale.
@inline(__always)
private func appendEscaped(_ buf: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
    let n = buf.count
    var i = 0
    var runStart = 0
    while i < n {
        let b = buf[i]
        if b >= 0x20 && b != 0x22 && b != 0x5C {
            i &+= 1
            continue
        }
        if runStart < i {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart..<i]))
        }
        out.append(0x5C) // backslash
        switch b {
        case 0x22: out.append(0x22)
        case 0x5C: out.append(0x5C)
        case 0x0A: out.append(0x6E) // n
        case 0x0D: out.append(0x72) // r
        case 0x09: out.append(0x74) // t
        case 0x08: out.append(0x62) // b
        case 0x0C: out.append(0x66) // f
        default:
            out.append(0x75) // u
            out.append(0x30)
            out.append(0x30)
            out.append(hexDigit(b >> 4))
            out.append(hexDigit(b & 0x0F))
        }
        i &+= 1
        runStart = i
    }
    if runStart < n {
        out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart..<n]))
    }
}

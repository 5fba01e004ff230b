/// W3C Trace Context (`traceparent`, version 00): the trace a request belongs to and this server's
/// span in it. An inbound header that parses keeps its trace id and flags and gets a new span id;
/// a missing or malformed one is replaced by a new trace (never echoed).
///
/// The ids are kept as integers and formatted only when needed: every response carries a
/// `traceparent`, so making one costs three random words and one 55-byte string.
public struct TraceContext: Sendable, Equatable {
    public let traceHigh: UInt64
    public let traceLow: UInt64
    /// This server's span (the parent-id of what it calls).
    public let span: UInt64
    /// The trace flags (bit 0: sampled).
    public let flagBits: UInt8

    public init(traceHigh: UInt64, traceLow: UInt64, span: UInt64, flagBits: UInt8) {
        self.traceHigh = traceHigh
        self.traceLow = traceLow
        self.span = span
        self.flagBits = flagBits
    }

    /// 32 lowercase hex digits, not all zeros.
    public var traceId: String {
        String(unsafeUninitializedCapacity: 32) { out in
            Self.writeHex(traceHigh, into: out, at: 0)
            Self.writeHex(traceLow, into: out, at: 16)
            return 32
        }
    }
    /// 16 lowercase hex digits.
    public var spanId: String {
        String(unsafeUninitializedCapacity: 16) { out in
            Self.writeHex(span, into: out, at: 0)
            return 16
        }
    }
    /// 2 lowercase hex digits.
    public var flags: String {
        String(unsafeUninitializedCapacity: 2) { out in
            out[0] = Self.hexDigit(flagBits >> 4)
            out[1] = Self.hexDigit(flagBits & 0xF)
            return 2
        }
    }

    /// The header value naming this span: `00-<trace-id>-<span-id>-<flags>`. Written byte by byte into
    /// one buffer: it goes on every response.
    public var traceparent: String {
        String(unsafeUninitializedCapacity: 55) { out in
            out[0] = 48
            out[1] = 48
            out[2] = 45
            Self.writeHex(traceHigh, into: out, at: 3)
            Self.writeHex(traceLow, into: out, at: 19)
            out[35] = 45
            Self.writeHex(span, into: out, at: 36)
            out[52] = 45
            out[53] = Self.hexDigit(flagBits >> 4)
            out[54] = Self.hexDigit(flagBits & 0xF)
            return 55
        }
    }

    @inline(__always)
    private static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 48 + v : 87 + v }

    /// `v` as 16 lowercase hex digits at `out[start...]`.
    @inline(__always)
    private static func writeHex(_ v: UInt64, into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        var v = v
        var i = start + 15
        while i >= start {
            out[i] = hexDigit(UInt8(truncatingIfNeeded: v & 0xF))
            v >>= 4
            i -= 1
        }
    }

    /// A span in the same trace, for one outbound call.
    public func child() -> TraceContext {
        TraceContext(traceHigh: traceHigh, traceLow: traceLow, span: Self.nonZero(ThreadRandom.current.next()), flagBits: flagBits)
    }

    /// The request's span: a child of a valid inbound `traceparent`, else the root of a new trace.
    public static func forRequest(_ inbound: String?) -> TraceContext {
        if let inbound, let parent = parse(inbound) { return parent.child() }
        return newRoot()
    }

    /// A new trace (flag sampled: the access log records every request).
    public static func newRoot() -> TraceContext {
        let random = ThreadRandom.current
        let high = random.next(), low = random.next()
        return TraceContext(traceHigh: high, traceLow: high == 0 && low == 0 ? 1 : low, span: nonZero(random.next()), flagBits: 1)
    }

    /// A new span in the trace `traceId` (32 hex digits, as stored with an execution); nil when it is not one.
    public static func span(inTrace traceId: String) -> TraceContext? {
        let bytes = Array(traceId.utf8)
        guard bytes.count == 32, let high = hexValue(bytes[0..<16]), let low = hexValue(bytes[16..<32]), high != 0 || low != 0 else { return nil }
        return TraceContext(traceHigh: high, traceLow: low, span: nonZero(ThreadRandom.current.next()), flagBits: 1)
    }

    /// Parses a `traceparent` per W3C Trace Context §3.2: `version-traceid-parentid-flags`, lowercase
    /// hex, trace and parent ids not all zeros, version `ff` invalid. Version 00 is exactly 55
    /// characters; a later version may append `-…` fields, which are ignored. nil when invalid.
    public static func parse(_ value: String) -> TraceContext? {
        var value = value
        return value.withUTF8 { bytes -> TraceContext? in
            guard bytes.count >= 55, bytes.count <= 512, bytes[2] == 45, bytes[35] == 45, bytes[52] == 45 else { return nil }
            guard let version = hexValue(bytes[0..<2]), version != 0xff else { return nil }
            if version == 0 && bytes.count != 55 { return nil }
            if bytes.count > 55 && bytes[55] != 45 { return nil }
            guard let high = hexValue(bytes[3..<19]), let low = hexValue(bytes[19..<35]), let parent = hexValue(bytes[36..<52]),
                  let flags = hexValue(bytes[53..<55]), high != 0 || low != 0, parent != 0 else { return nil }
            return TraceContext(traceHigh: high, traceLow: low, span: parent, flagBits: UInt8(flags))
        }
    }

    private static func nonZero(_ v: UInt64) -> UInt64 { v == 0 ? 1 : v }

    /// The value of lowercase hex digits (at most 16), or nil.
    private static func hexValue<C: Collection<UInt8>>(_ digits: C) -> UInt64? {
        var v: UInt64 = 0
        for c in digits {
            switch c {
            case 48...57: v = v << 4 | UInt64(c - 48)
            case 97...102: v = v << 4 | UInt64(c - 87)
            default: return nil
            }
        }
        return v
    }
}

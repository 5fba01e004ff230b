/// W3C Trace Context (`traceparent`, version 00): the trace a request belongs to and this server's
/// span in it. An inbound header that parses keeps its trace id and flags and gets a new span id;
/// a missing or malformed one is replaced by a new trace (never echoed). An inbound `tracestate` is
/// kept only beside a valid `traceparent` and only when it is a valid list (`TraceState.parse`); it
/// goes on the calls this server makes and is never answered (the response states our span only).
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
    /// The vendors' `tracestate` that came with the inbound `traceparent`, normalised
    /// (`TraceState.parse`); passed on unchanged (this server adds no entry of its own).
    public let state: String?

    public init(traceHigh: UInt64, traceLow: UInt64, span: UInt64, flagBits: UInt8, state: String? = nil) {
        self.traceHigh = traceHigh
        self.traceLow = traceLow
        self.span = span
        self.flagBits = flagBits
        self.state = state
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
            writeTraceparent(into: out, at: 0)
            return 55
        }
    }

    /// `traceparent: <traceparent>`, the header line, made in one buffer (one per outbound call).
    public var traceparentLine: String {
        String(unsafeUninitializedCapacity: 68) { out in
            for (i, byte) in "traceparent: ".utf8.enumerated() { out[i] = byte }
            writeTraceparent(into: out, at: 13)
            return 68
        }
    }

    /// The 55 bytes of `traceparent` at `out[start...]`.
    @inline(__always)
    private func writeTraceparent(into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        out[start] = 48
        out[start + 1] = 48
        out[start + 2] = 45
        Self.writeHex(traceHigh, into: out, at: start + 3)
        Self.writeHex(traceLow, into: out, at: start + 19)
        out[start + 35] = 45
        Self.writeHex(span, into: out, at: start + 36)
        out[start + 52] = 45
        out[start + 53] = Self.hexDigit(flagBits >> 4)
        out[start + 54] = Self.hexDigit(flagBits & 0xF)
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
        TraceContext(traceHigh: traceHigh, traceLow: traceLow, span: Self.nonZero(ThreadRandom.current.next()), flagBits: flagBits, state: state)
    }

    /// The request's span: a child of a valid inbound `traceparent` (with its `tracestate` when that
    /// is valid too), else the root of a new trace (and any `tracestate` dropped: it described the
    /// trace that was not kept). `tracestate` is every such header field's value, in order.
    public static func forRequest(_ inbound: String?, tracestate: [String] = []) -> TraceContext {
        if let inbound, let parent = parse(inbound) {
            let child = parent.child()
            guard !tracestate.isEmpty, let state = TraceState.parse(tracestate) else { return child }
            return TraceContext(traceHigh: child.traceHigh, traceLow: child.traceLow, span: child.span, flagBits: child.flagBits, state: state)
        }
        return newRoot()
    }

    /// A new trace (flag sampled: the access log records every request).
    public static func newRoot() -> TraceContext {
        let random = ThreadRandom.current
        let high = random.next(), low = random.next()
        return TraceContext(traceHigh: high, traceLow: high == 0 && low == 0 ? 1 : low, span: nonZero(random.next()), flagBits: 1)
    }

    /// A new span in the trace `traceId` names (32 hex digits, as kept with an execution) with the
    /// tracestate kept beside it; nil when it is not a trace id. A kept tracestate that no longer
    /// parses is dropped, the trace kept.
    public static func span(inTrace traceId: String, state stored: String? = nil) -> TraceContext? {
        let bytes = Array(traceId.utf8)
        guard bytes.count == 32, let high = hexValue(bytes[0..<16]), let low = hexValue(bytes[16..<32]),
              high != 0 || low != 0 else { return nil }
        let state = stored.flatMap { $0.isEmpty ? nil : TraceState.parse([$0]) }
        return TraceContext(traceHigh: high, traceLow: low, span: nonZero(ThreadRandom.current.next()), flagBits: 1, state: state)
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

/// W3C Trace Context `tracestate` (§3.3): a comma-separated list of `key=value` members that vendors
/// use to carry their own data along a trace. This server has no entry of its own: it validates what
/// came, keeps it whole or not at all, and passes it on.
public enum TraceState {
    /// At most this many list members (§3.3.1).
    public static let maxMembers = 32
    /// At most this many characters, normalised: what every vendor must pass on (§3.3.1.5); a longer
    /// list is dropped whole rather than cut, so no member's value is ever changed.
    public static let maxLength = 512

    /// The normalised list (members joined by `,`, optional whitespace and empty members removed), or
    /// nil when the header is invalid: a member that is not `key=value` per §3.3.1.3 (simple key
    /// `lcalpha 0*255(lcalpha/digit/_-*/)`, or multi-tenant `tenant@system`: tenant `(lcalpha/digit)
    /// 0*240(…)`, system `lcalpha 0*13(…)`; value 1–256 printable ASCII, no `,` or `=`, not ending in a
    /// space), a key seen twice, more than 32 members, more than 512 characters, or none at all.
    /// `fields` are the values of every `tracestate` header field, in order (they form one list).
    public static func parse(_ fields: [String]) -> String? {
        var members: [Substring] = []
        var keys: Set<Substring> = []
        var total = 0
        for field in fields {
            for raw in field.split(separator: ",", omittingEmptySubsequences: false) {
                let member = trimOWS(raw)
                if member.isEmpty { continue }  // empty and whitespace-only members are allowed, and dropped
                guard members.count < maxMembers, let eq = member.firstIndex(of: "=") else { return nil }
                let key = member[..<eq], value = member[member.index(after: eq)...]
                guard validKey(key), validValue(value), keys.insert(key).inserted else { return nil }
                total += member.utf8.count + (members.isEmpty ? 0 : 1)
                guard total <= maxLength else { return nil }
                members.append(member)
            }
        }
        return members.isEmpty ? nil : members.joined(separator: ",")
    }

    /// OWS = *(SP / HTAB) on both sides.
    private static func trimOWS(_ s: Substring) -> Substring {
        var s = s
        while let c = s.utf8.first, c == 32 || c == 9 { s = s.dropFirst() }
        while let c = s.utf8.last, c == 32 || c == 9 { s = s.dropLast() }
        return s
    }

    @inline(__always)
    private static func isLower(_ c: UInt8) -> Bool { c >= 97 && c <= 122 }
    @inline(__always)
    private static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    /// lcalpha / DIGIT / "_" / "-" / "*" / "/"
    @inline(__always)
    private static func isKeyChar(_ c: UInt8) -> Bool { isLower(c) || isDigit(c) || c == 95 || c == 45 || c == 42 || c == 47 }

    static func validKey(_ key: Substring) -> Bool {
        let bytes = Array(key.utf8)
        guard let first = bytes.first else { return false }
        if let at = bytes.firstIndex(of: 64) {
            // multi-tenant-key = tenant-id "@" system-id
            let tenant = bytes[..<at], system = bytes[(at + 1)...]
            guard (1...241).contains(tenant.count), isLower(first) || isDigit(first), tenant.dropFirst().allSatisfy(isKeyChar) else { return false }
            guard (1...14).contains(system.count), let s0 = system.first, isLower(s0), system.dropFirst().allSatisfy(isKeyChar) else { return false }
            return true
        }
        return bytes.count <= 256 && isLower(first) && bytes.dropFirst().allSatisfy(isKeyChar)
    }

    /// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E.
    static func validValue(_ value: Substring) -> Bool {
        let bytes = value.utf8
        guard (1...256).contains(bytes.count), bytes.last != 32 else { return false }
        return bytes.allSatisfy { c in c >= 0x20 && c <= 0x7E && c != 0x2C && c != 0x3D }
    }
}

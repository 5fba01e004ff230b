/// W3C Trace Context (`traceparent`, version 00): the trace a request belongs to and this server's
/// span in it. An inbound header that parses keeps its trace id and flags and gets a new span id;
/// a missing or malformed one is replaced by a new trace (never echoed).
public struct TraceContext: Sendable, Equatable {
    /// 32 lowercase hex digits, not all zeros.
    public let traceId: String
    /// 16 lowercase hex digits: this server's span (the parent-id of what it calls).
    public let spanId: String
    /// 2 lowercase hex digits (01 = sampled).
    public let flags: String

    public init(traceId: String, spanId: String, flags: String) {
        self.traceId = traceId
        self.spanId = spanId
        self.flags = flags
    }

    /// The header value naming this span: `00-<trace-id>-<span-id>-<flags>`.
    public var traceparent: String { "00-\(traceId)-\(spanId)-\(flags)" }

    /// A span in the same trace, for one outbound call.
    public func child() -> TraceContext {
        TraceContext(traceId: traceId, spanId: ThreadRandom.current.hex(words: 1), flags: flags)
    }

    /// The request's span: a child of a valid inbound `traceparent`, else the root of a new trace.
    public static func forRequest(_ inbound: String?) -> TraceContext {
        if let inbound, let parent = parse(inbound) { return parent.child() }
        return TraceContext(traceId: ThreadRandom.current.hex(words: 2), spanId: ThreadRandom.current.hex(words: 1), flags: "01")
    }

    /// A new trace for work no request started (a schedule slot, a callback run without one).
    public static func newRoot() -> TraceContext { forRequest(nil) }

    /// Parses a `traceparent` per W3C Trace Context §3.2: `version-traceid-parentid-flags`, lowercase
    /// hex, trace and parent ids not all zeros, version `ff` invalid. Version 00 is exactly 55
    /// characters; a later version may append `-…` fields, which are ignored. nil when invalid.
    public static func parse(_ value: String) -> TraceContext? {
        let bytes = Array(value.utf8)
        guard bytes.count >= 55, bytes.count <= 512 else { return nil }
        func isHex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
        }
        func allZero(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == 48 } }
        guard isHex(0..<2), bytes[2] == 45, isHex(3..<35), bytes[35] == 45, isHex(36..<52), bytes[52] == 45, isHex(53..<55) else {
            return nil
        }
        let version = String(decoding: bytes[0..<2], as: UTF8.self)
        if version == "ff" { return nil }
        if version == "00" && bytes.count != 55 { return nil }
        if bytes.count > 55 && bytes[55] != 45 { return nil }
        if allZero(3..<35) || allZero(36..<52) { return nil }
        return TraceContext(traceId: String(decoding: bytes[3..<35], as: UTF8.self),
                            spanId: String(decoding: bytes[36..<52], as: UTF8.self),
                            flags: String(decoding: bytes[53..<55], as: UTF8.self))
    }
}

// Strict RFC 8259 parser over a byte buffer.

/// A parse failure with the byte offset and a message a client can act on.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    public let offset: Int
    public let message: String
    public var description: String { message }

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }
}

extension JSON {
    /// Strict RFC 8259 parse: one value, optional surrounding whitespace, nothing after it.
    /// Rejects duplicate object keys, invalid UTF-8, lone surrogates in \u escapes, control chars in strings,
    /// leading zeros, NaN/Infinity, trailing commas, comments, and nesting deeper than maxDepth.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws -> JSON {
        try bytes.withUnsafeBufferPointer { try parseBuffer($0, maxDepth: maxDepth) }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSON {
        try bytes.withMemoryRebound(to: UInt8.self) { try parseBuffer($0, maxDepth: maxDepth) }
    }

    public static func parse(_ text: String, maxDepth: Int = 64) throws -> JSON {
        var copy = text
        return try copy.withUTF8 { try parseBuffer($0, maxDepth: maxDepth) }
    }

    internal static func parseBuffer(_ buf: UnsafeBufferPointer<UInt8>, maxDepth: Int) throws -> JSON {
        var p = JSONParser(buf: buf, maxDepth: maxDepth)
        p.skipWhitespace()
        let value = try p.parseValue(depth: 0)
        p.skipWhitespace()
        if p.i < buf.count { throw p.unexpected(at: p.i) }
        return value
    }
}

private let QUOTE: UInt8 = 0x22
private let BACKSLASH: UInt8 = 0x5C

internal struct JSONParser {
    let buf: UnsafeBufferPointer<UInt8>
    let n: Int
    let maxDepth: Int
    var i = 0
    var scratch: [UInt8] = []

    init(buf: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.buf = buf
        self.n = buf.count
        self.maxDepth = maxDepth
    }

    // MARK: errors

    func unexpected(at pos: Int) -> JSONParseError {
        guard pos < n else {
            return JSONParseError(offset: pos, message: "unexpected end of input at offset \(pos)")
        }
        let b = buf[pos]
        if b >= 0x21 && b <= 0x7E {
            let c = Character(Unicode.Scalar(b))
            return JSONParseError(offset: pos, message: "unexpected character '\(c)' at offset \(pos)")
        }
        return JSONParseError(offset: pos, message: "unexpected byte 0x\(hex2(b)) at offset \(pos)")
    }

    func error(_ what: String, at pos: Int) -> JSONParseError {
        JSONParseError(offset: pos, message: "\(what) at offset \(pos)")
    }

    // MARK: structure

    @inline(__always)
    mutating func skipWhitespace() {
        while i < n {
            let b = buf[i]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { i &+= 1 } else { return }
        }
    }

    mutating func parseValue(depth: Int) throws -> JSON {
        guard i < n else { throw unexpected(at: i) }
        switch buf[i] {
        case QUOTE:
            return .string(try parseString())
        case 0x7B: // {
            return try parseObject(depth: depth + 1)
        case 0x5B: // [
            return try parseArray(depth: depth + 1)
        case 0x74: // t
            try expectLiteral(0x74, 0x72, 0x75, 0x65)
            return .bool(true)
        case 0x66: // f
            try expectLiteral(0x66, 0x61, 0x6C, 0x73, 0x65)
            return .bool(false)
        case 0x6E: // n
            try expectLiteral(0x6E, 0x75, 0x6C, 0x6C)
            return .null
        case 0x2D, 0x30...0x39:
            return try parseNumber()
        default:
            throw unexpected(at: i)
        }
    }

    mutating func expectLiteral(_ bytes: UInt8...) throws {
        for b in bytes {
            guard i < n, buf[i] == b else { throw unexpected(at: i) }
            i &+= 1
        }
    }

    mutating func checkDepth(_ depth: Int) throws {
        if depth > maxDepth {
            throw JSONParseError(offset: i, message: "nesting deeper than \(maxDepth) levels at offset \(i)")
        }
    }

    mutating func parseArray(depth: Int) throws -> JSON {
        try checkDepth(depth)
        i &+= 1 // [
        var elements: [JSON] = []
        skipWhitespace()
        if i < n && buf[i] == 0x5D {
            i &+= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            if try consumeSeparator(closing: 0x5D) { return .array(elements) }
        }
    }

    /// After a member: consumes `,` (false: another follows) or the closing bracket (true).
    mutating func consumeSeparator(closing: UInt8) throws -> Bool {
        skipWhitespace()
        guard i < n else { throw unexpected(at: i) }
        let b = buf[i]
        guard b == 0x2C || b == closing else { throw unexpected(at: i) }
        i &+= 1
        return b == closing
    }

    mutating func parseObject(depth: Int) throws -> JSON {
        try checkDepth(depth)
        i &+= 1 // {
        var object = JSONObject()
        skipWhitespace()
        if i < n && buf[i] == 0x7D {
            i &+= 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard i < n, buf[i] == QUOTE else { throw unexpected(at: i) }
            let keyStart = i
            let key = try parseString()
            if object.contains(key) {
                throw JSONParseError(offset: keyStart,
                                     message: "duplicate key '\(abbreviated(key))' at offset \(keyStart)")
            }
            skipWhitespace()
            guard i < n, buf[i] == 0x3A else { throw unexpected(at: i) }
            i &+= 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            object._appendUnchecked(key, value)
            if try consumeSeparator(closing: 0x7D) { return .object(object) }
        }
    }

    // MARK: strings

    /// Parses a string starting at the opening quote; leaves `i` after the closing quote.
    mutating func parseString() throws -> String {
        let open = i
        i &+= 1
        let start = i
        // Fast path: no escapes.
        while i < n {
            let b = buf[i]
            if b == QUOTE {
                let s = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)
                i &+= 1
                return s
            } else if b == BACKSLASH {
                return try parseStringSlow(open: open, start: start)
            } else if b < 0x20 {
                throw controlCharError(b, at: i)
            } else if b < 0x80 {
                i &+= 1
            } else {
                i &+= try utf8SequenceLength(at: i)
            }
        }
        throw unterminated(open)
    }

    func unterminated(_ open: Int) -> JSONParseError {
        JSONParseError(offset: open, message: "unterminated string starting at offset \(open)")
    }

    func controlCharError(_ b: UInt8, at pos: Int) -> JSONParseError {
        JSONParseError(offset: pos,
                       message: "unescaped control character 0x\(hex2(b)) in string at offset \(pos)")
    }

    /// Slow path once an escape is seen: decode into `scratch`.
    mutating func parseStringSlow(open: Int, start: Int) throws -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<i]))
        var runStart = i
        while i < n {
            let b = buf[i]
            if b == QUOTE {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart..<i]))
                i &+= 1
                return String(decoding: scratch, as: UTF8.self)
            } else if b == BACKSLASH {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart..<i]))
                try parseEscape(open: open)
                runStart = i
            } else if b < 0x20 {
                throw controlCharError(b, at: i)
            } else if b < 0x80 {
                i &+= 1
            } else {
                i &+= try utf8SequenceLength(at: i)
            }
        }
        throw unterminated(open)
    }

    /// Decodes one escape at `i` (the backslash) into `scratch`.
    mutating func parseEscape(open: Int) throws {
        let esc = i
        guard i + 1 < n else { throw unterminated(open) }
        let c = buf[i + 1]
        i &+= 2
        switch c {
        case 0x22: scratch.append(0x22)
        case 0x5C: scratch.append(0x5C)
        case 0x2F: scratch.append(0x2F)
        case 0x62: scratch.append(0x08)
        case 0x66: scratch.append(0x0C)
        case 0x6E: scratch.append(0x0A)
        case 0x72: scratch.append(0x0D)
        case 0x74: scratch.append(0x09)
        case 0x75: // u
            let hi = try readHex4(escapeAt: esc)
            var scalar: UInt32
            if hi >= 0xD800 && hi <= 0xDBFF {
                // Must be followed by a low surrogate escape.
                guard i + 1 < n, buf[i] == BACKSLASH, buf[i + 1] == 0x75 else {
                    throw loneSurrogate(hi, at: esc)
                }
                let lowEsc = i
                i &+= 2
                let lo = try readHex4(escapeAt: lowEsc)
                guard lo >= 0xDC00 && lo <= 0xDFFF else { throw loneSurrogate(hi, at: esc) }
                scalar = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            } else if hi >= 0xDC00 && hi <= 0xDFFF {
                throw loneSurrogate(hi, at: esc)
            } else {
                scalar = hi
            }
            appendUTF8(scalar)
        default:
            if c >= 0x21 && c <= 0x7E {
                throw JSONParseError(offset: esc,
                                     message: "invalid escape '\\\(Character(Unicode.Scalar(c)))' at offset \(esc)")
            }
            throw JSONParseError(offset: esc, message: "invalid escape at offset \(esc)")
        }
    }

    func loneSurrogate(_ v: UInt32, at pos: Int) -> JSONParseError {
        JSONParseError(offset: pos, message: "lone surrogate \\u\(hex4(v)) in string at offset \(pos)")
    }

    mutating func readHex4(escapeAt esc: Int) throws -> UInt32 {
        guard i + 4 <= n else {
            throw JSONParseError(offset: esc, message: "invalid \\u escape at offset \(esc)")
        }
        var v: UInt32 = 0
        for k in 0..<4 {
            let b = buf[i + k]
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x41...0x46: d = b - 0x41 + 10
            case 0x61...0x66: d = b - 0x61 + 10
            default: throw JSONParseError(offset: esc, message: "invalid \\u escape at offset \(esc)")
            }
            v = v << 4 | UInt32(d)
        }
        i &+= 4
        return v
    }

    mutating func appendUTF8(_ s: UInt32) {
        if s < 0x80 {
            scratch.append(UInt8(s))
        } else if s < 0x800 {
            scratch.append(UInt8(0xC0 | (s >> 6)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        } else if s < 0x10000 {
            scratch.append(UInt8(0xE0 | (s >> 12)))
            scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (s >> 18)))
            scratch.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (s & 0x3F)))
        }
    }

    /// Validates one multi-byte UTF-8 sequence whose lead byte (>= 0x80) is at `pos`
    /// (rejecting overlongs, surrogates and code points above U+10FFFF); returns its length.
    @inline(__always)
    func utf8SequenceLength(at pos: Int) throws -> Int {
        let b0 = buf[pos]
        @inline(__always) func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            pos + k < n && buf[pos + k] >= lo && buf[pos + k] <= hi
        }
        switch b0 {
        case 0xC2...0xDF:
            if cont(1) { return 2 }
        case 0xE0:
            if cont(1, 0xA0) && cont(2) { return 3 }
        case 0xE1...0xEC, 0xEE...0xEF:
            if cont(1) && cont(2) { return 3 }
        case 0xED:
            if cont(1, 0x80, 0x9F) && cont(2) { return 3 }
        case 0xF0:
            if cont(1, 0x90) && cont(2) && cont(3) { return 4 }
        case 0xF1...0xF3:
            if cont(1) && cont(2) && cont(3) { return 4 }
        case 0xF4:
            if cont(1, 0x80, 0x8F) && cont(2) && cont(3) { return 4 }
        default:
            break
        }
        throw JSONParseError(offset: pos, message: "invalid UTF-8 at offset \(pos)")
    }

    // MARK: numbers

    mutating func parseNumber() throws -> JSON {
        let start = i
        var negative = false
        if buf[i] == 0x2D {
            negative = true
            i &+= 1
        }
        guard i < n, isDigit(buf[i]) else {
            throw JSONParseError(offset: i, message: "invalid number: expected digit at offset \(i)")
        }
        let intStart = i
        if buf[i] == 0x30 {
            i &+= 1
            if i < n && isDigit(buf[i]) {
                throw JSONParseError(offset: intStart, message: "leading zeros are not allowed at offset \(intStart)")
            }
        } else {
            while i < n && isDigit(buf[i]) { i &+= 1 }
        }
        let intEnd = i
        var integral = true
        if i < n && buf[i] == 0x2E { // .
            integral = false
            i &+= 1
            guard i < n, isDigit(buf[i]) else {
                throw JSONParseError(offset: i, message: "invalid number: expected digit after '.' at offset \(i)")
            }
            while i < n && isDigit(buf[i]) { i &+= 1 }
        }
        if i < n && (buf[i] == 0x65 || buf[i] == 0x45) { // e E
            integral = false
            i &+= 1
            if i < n && (buf[i] == 0x2B || buf[i] == 0x2D) { i &+= 1 }
            guard i < n, isDigit(buf[i]) else {
                throw JSONParseError(offset: i, message: "invalid number: expected digit in exponent at offset \(i)")
            }
            while i < n && isDigit(buf[i]) { i &+= 1 }
        }

        if integral {
            // Accumulate the magnitude with overflow detection.
            var mag: UInt64 = 0
            var overflow = false
            var k = intStart
            while k < intEnd {
                let (m1, o1) = mag.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(buf[k] &- 0x30))
                if o1 || o2 { overflow = true; break }
                mag = m2
                k &+= 1
            }
            if !overflow {
                if !negative && mag <= UInt64(Int64.max) { return .int(Int64(mag)) }
                if negative && mag <= UInt64(Int64.max) + 1 { return .int(Int64(truncatingIfNeeded: 0 &- mag)) }
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw JSONParseError(offset: start, message: "number out of range at offset \(start)")
        }
        return .double(d)
    }
}

@inline(__always)
private func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

private func abbreviated(_ s: String) -> String {
    s.count <= 64 ? s : String(s.prefix(61)) + "..."
}

private func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    return String(decoding: [digits[Int(b >> 4)], digits[Int(b & 0xF)]], as: UTF8.self)
}

private func hex4(_ v: UInt32) -> String {
    hex2(UInt8(truncatingIfNeeded: v >> 8)) + hex2(UInt8(truncatingIfNeeded: v))
}

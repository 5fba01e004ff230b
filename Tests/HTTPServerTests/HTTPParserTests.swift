import CShim
import XCTest

// MARK: - Driver

/// One parsed message, copied out of the parser's spans.
struct ParsedMessage: Equatable, CustomStringConvertible {
    var method: String
    var target: String
    var versionMinor: Int
    var headers: [Field]
    var body: [UInt8]
    var complete: Bool

    struct Field: Equatable {
        var name: [UInt8]
        var value: [UInt8]
    }

    var description: String {
        let hs = headers.map { "\(String(decoding: $0.name, as: UTF8.self))=\(String(decoding: $0.value, as: UTF8.self))" }
        return "\(method) \(target) 1.\(versionMinor) \(hs) body=\(String(decoding: body, as: UTF8.self))\(complete ? "" : " (incomplete)")"
    }
}

/// Everything observable from feeding one byte stream, independent of how it was split.
struct Transcript: Equatable, CustomStringConvertible {
    var messages: [ParsedMessage] = []
    var error: Int32 = 0        // 0: no error
    var errorIsSticky = true    // a second call after the error repeats it with consumed 0
    var leftover = 0            // bytes still buffered (not consumed) after the last call; 0 on error

    var description: String {
        "messages=\(messages) error=\(error) (\(String(cString: hp_error_reason(error)))) leftover=\(leftover)"
    }
}

enum Feed: CustomStringConvertible {
    case whole
    case split(Int)
    case bytewise

    var description: String {
        switch self {
        case .whole: return "one chunk"
        case .split(let k): return "split at \(k)"
        case .bytewise: return "1 byte at a time"
        }
    }
}

func limits(line: UInt32 = 8192, headerBytes: UInt32 = 16384, headers: UInt32 = 100, body: UInt64 = 1 << 20) -> hp_limits {
    hp_limits(max_request_line: line, max_header_bytes: headerBytes, max_headers: headers, max_body: body)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Feeds `input` as a server would: keep a buffer, append what arrives, call hp_execute until
/// HP_AGAIN or an error, drop p.consumed bytes after every call.
func parse(_ input: [UInt8], _ feed: Feed, _ lim: hp_limits) -> Transcript {
    var pieces: [ArraySlice<UInt8>]
    switch feed {
    case .whole: pieces = [input[...]]
    case .split(let k): pieces = [input[..<k], input[k...]]
    case .bytewise: pieces = input.indices.map { input[$0...$0] }
    }
    var p = hp_parser()
    var l = lim
    hp_init(&p, &l)
    var buf: [UInt8] = []
    var t = Transcript()
    var current: ParsedMessage?

    for piece in pieces {
        buf.append(contentsOf: piece)
        while true {
            let r = buf.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }
            precondition(p.consumed <= buf.count, "consumed beyond the buffer")
            switch r {
            case HP_HEAD_DONE.rawValue:
                current = headMessage(p, buf)
            case HP_BODY.rawValue:
                let s = Int(p.body.off), n = Int(p.body.len)
                precondition(s + n <= buf.count && n > 0, "body span outside the buffer")
                current?.body.append(contentsOf: buf[s..<(s + n)])
            case HP_DONE.rawValue:
                if var m = current {
                    m.complete = true
                    t.messages.append(m)
                }
                current = nil
            case HP_AGAIN.rawValue:
                break
            default:
                t.error = r
                let again = buf.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }
                t.errorIsSticky = again == r && p.consumed == 0
                if let m = current { t.messages.append(m) }
                return t // leftover is meaningless after an error: feeding stops there
            }
            buf.removeFirst(p.consumed)
            if r == HP_AGAIN.rawValue { break }
        }
    }
    if let m = current { t.messages.append(m) }
    t.leftover = buf.count
    return t
}

func headMessage(_ p: hp_parser, _ buf: [UInt8]) -> ParsedMessage {
    func str(_ s: hp_span) -> String { String(decoding: buf[Int(s.off)..<Int(s.off + s.len)], as: UTF8.self) }
    func arr(_ s: hp_span) -> [UInt8] { Array(buf[Int(s.off)..<Int(s.off + s.len)]) }
    let n = Int(p.nheaders)
    let fields = withUnsafeBytes(of: p.headers) { raw in
        raw.bindMemory(to: hp_header.self).prefix(n).map { ParsedMessage.Field(name: arr($0.name), value: arr($0.value)) }
    }
    return ParsedMessage(method: str(p.method), target: str(p.target), versionMinor: Int(p.version_minor),
                         headers: fields, body: [], complete: false)
}

func msg(_ method: String, _ target: String, _ minor: Int = 1, _ headers: [(String, String)], body: String = "") -> ParsedMessage {
    ParsedMessage(method: method, target: target, versionMinor: minor,
                  headers: headers.map { .init(name: bytes($0.0), value: bytes($0.1)) },
                  body: bytes(body), complete: true)
}

// MARK: - Tests

final class HTTPParserTests: XCTestCase {

    /// Parses `raw` in one chunk, split at every offset and 1 byte at a time; all must agree.
    @discardableResult
    func transcript(_ raw: [UInt8], _ lim: hp_limits = hp_default_limits(),
                    file: StaticString = #filePath, line: UInt = #line) -> Transcript {
        let whole = parse(raw, .whole, lim)
        var feeds: [Feed] = [.bytewise]
        if raw.count > 1 { feeds += (1..<raw.count).map { .split($0) } }
        for f in feeds {
            let t = parse(raw, f, lim)
            if t != whole {
                XCTFail("\(f) differs:\n  \(t)\nvs one chunk:\n  \(whole)", file: file, line: line)
                break
            }
        }
        XCTAssertTrue(whole.errorIsSticky, "error not sticky", file: file, line: line)
        return whole
    }

    func expectMessages(_ raw: [UInt8], _ expected: [ParsedMessage], _ lim: hp_limits = hp_default_limits(),
                        file: StaticString = #filePath, line: UInt = #line) {
        let t = transcript(raw, lim, file: file, line: line)
        XCTAssertEqual(t.error, 0, "unexpected error \(String(cString: hp_error_reason(t.error)))", file: file, line: line)
        XCTAssertEqual(t.messages, expected, file: file, line: line)
        XCTAssertEqual(t.leftover, 0, file: file, line: line)
    }

    func expectMessages(_ raw: String, _ expected: [ParsedMessage], _ lim: hp_limits = hp_default_limits(),
                        file: StaticString = #filePath, line: UInt = #line) {
        expectMessages(bytes(raw), expected, lim, file: file, line: line)
    }

    func expectError(_ raw: [UInt8], _ code: hp_status, _ lim: hp_limits = hp_default_limits(),
                     messagesBefore: Int = 0, file: StaticString = #filePath, line: UInt = #line) {
        let t = transcript(raw, lim, file: file, line: line)
        XCTAssertEqual(t.error, code.rawValue,
                       "got \(String(cString: hp_error_reason(t.error))), want \(String(cString: hp_error_reason(code.rawValue)))",
                       file: file, line: line)
        XCTAssertEqual(t.messages.filter(\.complete).count, messagesBefore, file: file, line: line)
    }

    func expectError(_ raw: String, _ code: hp_status, _ lim: hp_limits = hp_default_limits(),
                     messagesBefore: Int = 0, file: StaticString = #filePath, line: UInt = #line) {
        expectError(bytes(raw), code, lim, messagesBefore: messagesBefore, file: file, line: line)
    }

    /// A request with Host and the given extra header lines.
    func req(_ extra: String = "", method: String = "GET", target: String = "/", body: String = "") -> String {
        "\(method) \(target) HTTP/1.1\r\nHost: a\r\n\(extra)\r\n\(body)"
    }

    // MARK: valid requests

    func test_get_parsesMethodTargetVersionAndHeaders() {
        expectMessages("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
                       [msg("GET", "/index.html?q=1", 1, [("Host", "example.com"), ("Accept", "*/*")])])
    }

    func test_postWithContentLength_deliversBody() {
        expectMessages("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
                       [msg("POST", "/submit", 1, [("Host", "a"), ("Content-Length", "11")], body: "hello world")])
    }

    func test_contentLengthZero_hasNoBody() {
        expectMessages(req("Content-Length: 0\r\n", method: "POST"),
                       [msg("POST", "/", 1, [("Host", "a"), ("Content-Length", "0")])])
    }

    func test_chunked_withExtensionsAndTrailers_decodesBody() {
        let raw = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n"
            + "6 ; quoted=\"a;b \\\" c\" ;flag\r\n world\r\n"
            + "A\r\n0123456789\r\n"
            + "0;last\r\nX-Checksum: abc\r\nX-Other:\tv v \r\n\r\n"
        expectMessages(raw, [msg("POST", "/up", 1, [("Host", "a"), ("Transfer-Encoding", "chunked")],
                                 body: "hello world0123456789")])
    }

    func test_chunked_acceptsHexCaseAndLeadingZeros() {
        let raw = req("Transfer-Encoding: CHUNKED\r\n", method: "POST")
            + "0000a\r\n0123456789\r\n00B\r\nabcdefghijk\r\n000\r\n\r\n"
        expectMessages(raw, [msg("POST", "/", 1, [("Host", "a"), ("Transfer-Encoding", "CHUNKED")],
                                 body: "0123456789abcdefghijk")])
    }

    func test_chunked_withoutDataChunks_isEmptyBody() {
        expectMessages(req("Transfer-Encoding: chunked\r\n", method: "POST") + "0\r\n\r\n",
                       [msg("POST", "/", 1, [("Host", "a"), ("Transfer-Encoding", "chunked")])])
    }

    func test_pipelined_getPostChunked_inOneBuffer() {
        let raw = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
            + "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
            + "DELETE /d HTTP/1.1\r\nHost: h\r\n\r\n"
        expectMessages(raw, [
            msg("GET", "/a", 1, [("Host", "h")]),
            msg("POST", "/b", 1, [("Host", "h"), ("Content-Length", "3")], body: "xyz"),
            msg("PUT", "/c", 1, [("Host", "h"), ("Transfer-Encoding", "chunked")], body: "ok"),
            msg("DELETE", "/d", 1, [("Host", "h")]),
        ])
    }

    func test_tenPipelinedRequests_yieldTenMessagesInOrder() {
        var raw = ""
        var expected: [ParsedMessage] = []
        for i in 0..<10 {
            if i % 2 == 0 {
                raw += "GET /r\(i) HTTP/1.1\r\nHost: h\r\n\r\n"
                expected.append(msg("GET", "/r\(i)", 1, [("Host", "h")]))
            } else {
                raw += "POST /r\(i) HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n#\(i)"
                expected.append(msg("POST", "/r\(i)", 1, [("Host", "h"), ("Content-Length", "2")], body: "#\(i)"))
            }
        }
        expectMessages(raw, expected)
    }

    func test_requestSmuggledInBody_isBodyNotRequest() {
        let inner = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
        let raw = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(inner.utf8.count)\r\n\r\n" + inner
        expectMessages(raw, [msg("POST", "/", 1, [("Host", "a"), ("Content-Length", "\(inner.utf8.count)")], body: inner)])
    }

    func test_requestSmuggledInChunk_isBodyNotRequest() {
        let inner = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n"
        let raw = req("Transfer-Encoding: chunked\r\n", method: "POST")
            + String(inner.utf8.count, radix: 16) + "\r\n" + inner + "\r\n0\r\n\r\n"
        expectMessages(raw, [msg("POST", "/", 1, [("Host", "a"), ("Transfer-Encoding", "chunked")], body: inner)])
    }

    func test_http10_withoutHost_isAccepted() {
        expectMessages("GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n",
                       [msg("GET", "/old", 0, [("User-Agent", "x")])])
    }

    func test_absoluteForm_isAccepted_caseInsensitiveScheme() {
        expectMessages("GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n"
                       + "GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", [
            msg("GET", "http://example.com/x", 1, [("Host", "example.com")]),
            msg("GET", "HTTPS://example.com", 1, [("Host", "example.com")]),
        ])
    }

    func test_optionsAsterisk_isAccepted() {
        expectMessages("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", [msg("OPTIONS", "*", 1, [("Host", "a")])])
    }

    func test_obsTextInValue_isAccepted() {
        let raw = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf") + [0xE9, 0x80, 0xFF] + bytes("\r\n\r\n")
        let t = transcript(raw)
        XCTAssertEqual(t.error, 0)
        XCTAssertEqual(t.messages.first?.headers.last?.value, bytes("caf") + [0xE9, 0x80, 0xFF])
    }

    func test_ows_isTrimmedFromValues() {
        expectMessages("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t spaced out \t \r\nX-Empty:\r\nX-Blank:   \r\n\r\n",
                       [msg("GET", "/", 1, [("Host", "a"), ("X-A", "spaced out"), ("X-Empty", ""), ("X-Blank", "")])])
    }

    func test_methodsAreTokens_caseSensitive() {
        expectMessages("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\nget / HTTP/1.1\r\nHost: a\r\n\r\n", [
            msg("PROPFIND", "/", 1, [("Host", "a")]),
            msg("get", "/", 1, [("Host", "a")]),
        ])
    }

    func test_leadingEmptyLines_areSkipped() {
        expectMessages("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", [
            msg("GET", "/", 1, [("Host", "a")]),
            msg("GET", "/2", 1, [("Host", "a")]),
        ])
    }

    func test_limits_exactlyAtLimit_areAccepted() {
        // request line "GET /aaaa HTTP/1.1" is 18 bytes; header lines "Host: a\r\n" + "X: 12345\r\n" are 19 bytes
        let raw = "GET /aaaa HTTP/1.1\r\nHost: a\r\nX: 12345\r\nContent-Length: 16\r\n\r\n0123456789abcdef"
        expectMessages(raw, [msg("GET", "/aaaa", 1, [("Host", "a"), ("X", "12345"), ("Content-Length", "16")],
                                 body: "0123456789abcdef")],
                       limits(line: 18, headerBytes: 39, headers: 3, body: 16))
        let chunked = req("Transfer-Encoding: chunked\r\n", method: "POST") + "8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n"
        expectMessages(chunked, [msg("POST", "/", 1, [("Host", "a"), ("Transfer-Encoding", "chunked")],
                                     body: "0123456789abcdef")], limits(body: 16))
    }

    // MARK: request line errors

    func test_requestLine_rejectsBadMethodChar() { expectError("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_METHOD) }
    func test_requestLine_rejectsEmptyMethod() { expectError(" / HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_METHOD) }
    func test_requestLine_rejectsTwoSpaces() { expectError("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_REQUEST_LINE) }
    func test_requestLine_rejectsTwoSpacesBeforeVersion() { expectError("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_REQUEST_LINE) }
    func test_requestLine_rejectsTrailingSpace() { expectError("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", HP_E_BAD_REQUEST_LINE) }
    func test_requestLine_rejectsHTTP09StyleWithoutVersion() { expectError("GET /\r\n\r\n", HP_E_BAD_REQUEST_LINE) }
    func test_requestLine_rejectsSingleWord() { expectError("GET\r\n\r\n", HP_E_BAD_REQUEST_LINE) }
    func test_requestLine_rejectsTooManyLeadingEmptyLines() {
        expectError(String(repeating: "\r\n", count: 9) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_REQUEST_LINE)
    }

    func test_target_rejectsSpace() { expectError("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET) }
    func test_target_rejectsFragment() { expectError("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET) }
    func test_target_rejectsControlAndDEL() {
        expectError("GET /a\u{1}b HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET)
        expectError("GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET)
        expectError("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET)
    }
    func test_target_rejectsNonASCII() {
        expectError(bytes("GET /") + [0x80] + bytes(" HTTP/1.1\r\nHost: a\r\n\r\n"), HP_E_BAD_TARGET)
    }
    func test_target_rejectsAsteriskForNonOptions() { expectError("GET * HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET) }
    func test_target_rejectsAsteriskWithSuffix() { expectError("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET) }
    func test_target_rejectsOtherSchemesAndAuthorityForm() {
        expectError("GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET)
        expectError("CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET)
        expectError("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_TARGET)
    }

    func test_version_rejectsHTTP12AsUnsupported() { expectError("GET / HTTP/1.2\r\nHost: a\r\n\r\n", HP_E_UNSUPPORTED_VERSION) }
    func test_version_rejectsHTTP20AsUnsupported() { expectError("GET / HTTP/2.0\r\nHost: a\r\n\r\n", HP_E_UNSUPPORTED_VERSION) }
    func test_version_rejectsHTTP09AsUnsupported() { expectError("GET / HTTP/0.9\r\nHost: a\r\n\r\n", HP_E_UNSUPPORTED_VERSION) }
    func test_version_rejectsMisspelledProtocol() { expectError("GET / HTP/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_VERSION) }
    func test_version_rejectsMalformedVersions() {
        expectError("GET / http/1.1\r\nHost: a\r\n\r\n", HP_E_BAD_VERSION)
        expectError("GET / HTTP/1.10\r\nHost: a\r\n\r\n", HP_E_BAD_VERSION)
        expectError("GET / HTTP/1\r\nHost: a\r\n\r\n", HP_E_BAD_VERSION)
        expectError("GET / HTTP/a.b\r\nHost: a\r\n\r\n", HP_E_BAD_VERSION)
    }

    func test_requestLine_rejectsOverLimitBeforeLineEnd() {
        // 12-byte limit: the 13th byte fails at once, without waiting for CRLF
        expectError("GET /abcdefgh", HP_E_REQUEST_LINE_TOO_LONG, limits(line: 12))
        expectError("GET /abcdefg HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_REQUEST_LINE_TOO_LONG, limits(line: 12))
    }

    // MARK: line ending errors

    func test_bareLF_isRejectedInRequestLine() { expectError("GET / HTTP/1.1\nHost: a\r\n\r\n", HP_E_BARE_LF) }
    func test_bareLF_isRejectedInHeaderAndAtEndOfHead() {
        expectError("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", HP_E_BARE_LF)
        expectError("GET / HTTP/1.1\r\nHost: a\r\n\n", HP_E_BARE_LF)
        expectError("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HP_E_BARE_LF)
    }
    func test_bareCR_isRejected() {
        expectError("GET / HTTP/1.1\rHost: a\r\n\r\n", HP_E_BARE_CR)
        expectError("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HP_E_BARE_CR)
        expectError("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", HP_E_BARE_CR)
    }

    // MARK: header field errors

    func test_header_rejectsObsFold() { expectError(req("X-A: one\r\n  two\r\n"), HP_E_OBS_FOLD) }
    func test_header_rejectsFirstLineStartingWithTab() { expectError("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", HP_E_OBS_FOLD) }
    func test_header_rejectsSpaceBeforeColon() { expectError(req("X-A : v\r\n"), HP_E_SPACE_BEFORE_COLON) }
    func test_header_rejectsTabBeforeColon() { expectError("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", HP_E_SPACE_BEFORE_COLON) }
    func test_header_rejectsNonTokenName() { expectError(req("X@A: v\r\n"), HP_E_BAD_HEADER_NAME) }
    func test_header_rejectsEmptyName() { expectError(req(": v\r\n"), HP_E_BAD_HEADER_NAME) }
    func test_header_rejectsLineWithoutColon() { expectError(req("NoColonHere\r\n"), HP_E_BAD_HEADER_NAME) }
    func test_header_rejectsNameWithInnerSpace() { expectError(req("X A: v\r\n"), HP_E_BAD_HEADER_NAME) }
    func test_header_rejectsNULInValue() { expectError(req("X-A: a\u{0}b\r\n"), HP_E_BAD_HEADER_VALUE) }
    func test_header_rejectsControlsAndDELInValue() {
        expectError(req("X-A: a\u{1}b\r\n"), HP_E_BAD_HEADER_VALUE)
        expectError(req("X-A: a\u{1F}\r\n"), HP_E_BAD_HEADER_VALUE)
        expectError(req("X-A: a\u{7F}\r\n"), HP_E_BAD_HEADER_VALUE)
    }
    func test_header_rejectsTooManyFields() {
        expectError(req("B: 1\r\nC: 2\r\nD: 3\r\nE: 4\r\nF: 5\r\n"), HP_E_TOO_MANY_HEADERS, limits(headers: 5))
    }
    func test_header_rejectsOversizedBlockWhileScanning() {
        // 40-byte header block limit: fails inside the long value, before any CRLF
        expectError("GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "v", count: 40),
                    HP_E_HEADERS_TOO_LARGE, limits(headerBytes: 40))
        expectError(req("X-Long: 0123456789012345678901234\r\n"), HP_E_HEADERS_TOO_LARGE, limits(headerBytes: 40))
    }

    // MARK: framing errors

    func test_framing_rejectsContentLengthAndTransferEncoding() {
        expectError(req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", method: "POST") + "0\r\n\r\n", HP_E_CL_AND_TE)
        expectError(req("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", method: "POST"), HP_E_CL_AND_TE)
    }
    func test_framing_rejectsDuplicateContentLength_evenWhenEqual() {
        expectError(req("Content-Length: 5\r\nContent-Length: 5\r\n", method: "POST", body: "hello"), HP_E_DUPLICATE_CL)
    }
    func test_framing_rejectsSignedContentLength() {
        expectError(req("Content-Length: +5\r\n", method: "POST"), HP_E_BAD_CL)
        expectError(req("Content-Length: -1\r\n", method: "POST"), HP_E_BAD_CL)
    }
    func test_framing_rejectsNonDecimalContentLength() {
        expectError(req("Content-Length: 0x10\r\n", method: "POST"), HP_E_BAD_CL)
        expectError(req("Content-Length: 5, 5\r\n", method: "POST"), HP_E_BAD_CL)
        expectError(req("Content-Length: 1 2\r\n", method: "POST"), HP_E_BAD_CL)
    }
    func test_framing_rejectsEmptyContentLength() {
        expectError(req("Content-Length:\r\n", method: "POST"), HP_E_BAD_CL)
        expectError(req("Content-Length:  \r\n", method: "POST"), HP_E_BAD_CL)
    }
    func test_framing_rejectsOverflowingContentLength() {
        expectError(req("Content-Length: 9223372036854775808\r\n", method: "POST"), HP_E_BAD_CL)
        expectError(req("Content-Length: 1234567890123456789\r\n", method: "POST"), HP_E_BAD_CL)
    }
    func test_framing_rejectsTransferCodingLists() {
        expectError(req("Transfer-Encoding: gzip, chunked\r\n", method: "POST"), HP_E_BAD_TE)
        expectError(req("Transfer-Encoding: chunked, gzip\r\n", method: "POST"), HP_E_BAD_TE)
    }
    func test_framing_rejectsOtherTransferCodings() {
        expectError(req("Transfer-Encoding: identity\r\n", method: "POST"), HP_E_BAD_TE)
        expectError(req("Transfer-Encoding: chunked;x\r\n", method: "POST"), HP_E_BAD_TE)
        expectError(req("Transfer-Encoding: xchunked\r\n", method: "POST"), HP_E_BAD_TE)
        expectError(req("Transfer-Encoding:\r\n", method: "POST"), HP_E_BAD_TE)
    }
    func test_framing_rejectsTwoTransferEncodingFields() {
        expectError(req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", method: "POST"), HP_E_BAD_TE)
    }
    func test_framing_rejectsTransferEncodingInHTTP10() {
        expectError("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", HP_E_BAD_TE)
    }
    func test_host_rejectsMissingHostIn11() { expectError("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", HP_E_MISSING_HOST) }
    func test_host_rejectsDuplicateHost() { expectError(req("host: b\r\n"), HP_E_DUPLICATE_HOST) }
    func test_host_acceptsEveryUriHostPortForm() {
        // RFC 9110 §7.2 Host = uri-host [ ":" port ]; RFC 3986: port = *DIGIT, reg-name may be empty.
        let hosts = ["example.com", "EXAMPLE.com:8080", "a:", "", "127.0.0.1:1", "999.1.1.1", "xn--bcher-kva.example",
                     "a%20b", "!$&'()*+;=", "a_b~c-d", "[::1]", "[::1]:8080", "[::]", "[2001:db8::ff00:42:8329]",
                     "[1:2:3:4:5:6:7:8]", "[1:2:3:4:5:6:7::]", "[::2:3:4:5:6:7:8]", "[::ffff:192.0.2.1]",
                     "[1:2:3:4:5:6:1.2.3.4]", "[FE80::A]:0", "[v1.fe80::a+en1]", "[V7.x:y]"]
        for host in hosts {
            expectMessages("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n", [msg("GET", "/", 1, [("Host", host)])])
        }
        expectMessages("GET / HTTP/1.0\r\nHost: a:80\r\n\r\n", [msg("GET", "/", 0, [("Host", "a:80")])])
    }
    func test_host_rejectsValuesThatAreNotUriHostPort() {
        let hosts = ["exa mple.com", "a\tb", "a,b", "a, b", "a:1:2", "a:b", "a :80", "[::1", "::1", "[::1]x", "[::1]:x",
                     "[1.2.3.4]", "[::1::2]", "[12345::]", "[1:2:3:4:5:6:7]", "[1:2:3:4:5:6:7:8:9]", "[1:2:3:4:5:6:7:8::]",
                     "[:1::]", "[1:]", "[::256.1.1.1]", "[::1.2.3.04]", "[::1.2.3]", "[fe80::1%25eth0]", "[v.x]", "[v1.]",
                     "a%2", "a%zz", "a/b", "user@host", "a?b", "a#b", "\"a\"", "a\\b", "\u{e9}.example"]
        for host in hosts {
            expectError("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n", HP_E_BAD_HOST)
        }
        expectError("GET / HTTP/1.0\r\nHost: a b\r\n\r\n", HP_E_BAD_HOST)
    }

    func test_body_rejectsContentLengthOverMaxAtHeadTime() {
        // the body is never sent: the error comes from the head alone
        expectError(req("Content-Length: 17\r\n", method: "POST"), HP_E_BODY_TOO_LARGE, limits(body: 16))
    }

    // MARK: chunked errors

    func chunked(_ body: String) -> String { req("Transfer-Encoding: chunked\r\n", method: "POST") + body }

    func test_chunked_rejectsNonHexSize() { expectError(chunked("zz\r\n"), HP_E_BAD_CHUNK_SIZE) }
    func test_chunked_rejectsHexFollowedByGarbage() { expectError(chunked("5z\r\nhello\r\n0\r\n\r\n"), HP_E_BAD_CHUNK_SIZE) }
    func test_chunked_rejectsEmptySize() {
        expectError(chunked("\r\n"), HP_E_BAD_CHUNK_SIZE)
        expectError(chunked(";ext\r\n"), HP_E_BAD_CHUNK_SIZE)
    }
    func test_chunked_rejectsOverflowingSize() {
        expectError(chunked("1000000000000000\r\n"), HP_E_BAD_CHUNK_SIZE, limits(body: .max))
        expectError(chunked("ffffffffffffffffff\r\n"), HP_E_BAD_CHUNK_SIZE, limits(body: .max))
    }
    func test_chunked_rejectsMalformedExtensions() {
        expectError(chunked("5;\r\nhello\r\n0\r\n\r\n"), HP_E_BAD_CHUNK_EXT)
        expectError(chunked("5 \r\nhello\r\n0\r\n\r\n"), HP_E_BAD_CHUNK_EXT)
        expectError(chunked("5;=v\r\nhello\r\n0\r\n\r\n"), HP_E_BAD_CHUNK_EXT)
        expectError(chunked("5;a=\u{1}\r\nhello\r\n0\r\n\r\n"), HP_E_BAD_CHUNK_EXT)
    }
    func test_chunked_rejectsOverlongExtension() {
        expectError(chunked("5;x=" + String(repeating: "a", count: 4100) + "\r\nhello\r\n0\r\n\r\n"), HP_E_BAD_CHUNK_EXT)
    }
    func test_chunked_rejectsBareLFInSizeLine() { expectError(chunked("5\nhello\r\n0\r\n\r\n"), HP_E_BARE_LF) }
    func test_chunked_rejectsMissingCRLFAfterData() {
        expectError(chunked("5\r\nhelloX\r\n0\r\n\r\n"), HP_E_BAD_CHUNK_END)
        expectError(chunked("5\r\nhello\n0\r\n\r\n"), HP_E_BAD_CHUNK_END)
        expectError(chunked("5\r\nhello\r0\r\n\r\n"), HP_E_BAD_CHUNK_END)
    }
    func test_chunked_rejectsBodyOverMaxAcrossChunks() {
        expectError(chunked("8\r\n01234567\r\n9\r\n012345678\r\n0\r\n\r\n"), HP_E_BODY_TOO_LARGE, limits(body: 16))
    }
    func test_chunked_rejectsBadTrailers() {
        expectError(chunked("0\r\nBad Name: v\r\n\r\n"), HP_E_BAD_TRAILER)
        expectError(chunked("0\r\nNoColon\r\n\r\n"), HP_E_BAD_TRAILER)
        expectError(chunked("0\r\nX: a\r\n folded\r\n\r\n"), HP_E_BAD_TRAILER)
        expectError(chunked("0\r\nX: a\u{0}\r\n\r\n"), HP_E_BAD_TRAILER)
        expectError(chunked("0\r\n: v\r\n\r\n"), HP_E_BAD_TRAILER)
    }
    func test_chunked_rejectsOversizedTrailerSection() {
        expectError(chunked("0\r\nX: " + String(repeating: "t", count: 64) + "\r\n\r\n"), HP_E_BAD_TRAILER,
                    limits(headerBytes: 64))
    }

    // MARK: pipelining and stickiness

    func test_errorAfterValidMessage_keepsEarlierMessage() {
        expectError("GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                    HP_E_DUPLICATE_HOST, messagesBefore: 1)
    }

    func test_errors_areStickyWithNothingConsumed() {
        var p = hp_parser()
        var l = hp_default_limits()
        hp_init(&p, &l)
        let raw = bytes("GET / HTTP/1.1\nHost: a\r\n\r\n")
        let r1 = raw.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }
        XCTAssertEqual(r1, HP_E_BARE_LF.rawValue)
        XCTAssertEqual(p.consumed, 0)
        let good = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let r2 = good.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }
        XCTAssertEqual(r2, HP_E_BARE_LF.rawValue)
        XCTAssertEqual(p.consumed, 0)
    }

    // MARK: API details

    func test_headDone_reportsSpansConsumedAndFraming() {
        var p = hp_parser()
        var l = hp_default_limits()
        hp_init(&p, &l)
        let head = bytes("\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n")
        let raw = head + bytes("bodyGET")
        let r = raw.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }
        XCTAssertEqual(r, HP_HEAD_DONE.rawValue)
        XCTAssertEqual(p.consumed, head.count)
        XCTAssertEqual(p.method.off, 2)
        XCTAssertEqual(p.method.len, 4)
        XCTAssertEqual(p.content_length, 4)
        XCTAssertEqual(p.chunked, 0)
        XCTAssertEqual(p.nheaders, 2)
        let rest = Array(raw[head.count...])
        let b = rest.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }
        XCTAssertEqual(b, HP_BODY.rawValue)
        XCTAssertEqual(p.body.off, 0)
        XCTAssertEqual(p.body.len, 4)
        XCTAssertEqual(p.consumed, 4)
        let d = rest.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress.map { $0 + 4 }, 3) }
        XCTAssertEqual(d, HP_DONE.rawValue)
        XCTAssertEqual(p.consumed, 0)
        XCTAssertEqual(p.content_length, -1, "per-message state reset after HP_DONE")
    }

    func test_headScan_continuesWhereItStopped() {
        var p = hp_parser()
        var l = hp_default_limits()
        hp_init(&p, &l)
        let raw = bytes("GET / HTTP/1.1\r\nHost: a\r\nX-Long: abcdef")
        let r = raw.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }
        XCTAssertEqual(r, HP_AGAIN.rawValue)
        XCTAssertEqual(p.consumed, 0)
        XCTAssertEqual(p.scan, raw.count, "scan remembers how far it got")
    }

    func test_chunkFraming_partialInputIsConsumed() {
        var p = hp_parser()
        var l = hp_default_limits()
        hp_init(&p, &l)
        let head = bytes(chunked(""))
        XCTAssertEqual(head.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }, HP_HEAD_DONE.rawValue)
        let part = bytes("1f;ext=v")
        XCTAssertEqual(part.withUnsafeBufferPointer { hp_execute(&p, $0.baseAddress, $0.count) }, HP_AGAIN.rawValue)
        XCTAssertEqual(p.consumed, part.count, "partial chunk-size line is consumed, not rescanned")
    }

    func test_errorReasons_areDistinctAndNonEmpty() {
        var seen = Set<String>()
        for code in Int32(-26)...Int32(-1) {
            let reason = String(cString: hp_error_reason(code))
            XCTAssertFalse(reason.isEmpty)
            XCTAssertTrue(seen.insert(reason).inserted, "duplicate reason \(reason)")
        }
        XCTAssertEqual(String(cString: hp_error_reason(HP_E_CL_AND_TE.rawValue)), "both Content-Length and Transfer-Encoding")
        XCTAssertEqual(String(cString: hp_error_reason(HP_E_BARE_LF.rawValue)), "bare LF in request head")
    }

    func test_spanIeq_comparesCaseInsensitivelyWithExactLength() {
        let b = bytes("xxContent-LENGTHyy")
        XCTAssertEqual(hp_span_ieq(b, hp_span(off: 2, len: 14), "content-length"), 1)
        XCTAssertEqual(hp_span_ieq(b, hp_span(off: 2, len: 13), "content-length"), 0)
        XCTAssertEqual(hp_span_ieq(b, hp_span(off: 2, len: 15), "content-length"), 0)
        XCTAssertEqual(hp_span_ieq(b, hp_span(off: 0, len: 0), ""), 1)
    }
}

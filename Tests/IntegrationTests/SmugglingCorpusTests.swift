import Foundation
import NeoJSON
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Replays Tests/corpus/smuggling.txt (format in its header) against a real server over raw
/// sockets: every case answered with exactly the listed statuses, the connection closed or kept
/// as listed, and the request hidden after or inside each case never answered nor logged.
final class SmugglingCorpusTests: XCTestCase {
    struct Case {
        let index: Int
        let name: String
        let statuses: [Int]
        let close: Bool
        let raw: [UInt8]
        let line: Int
    }

    static var corpusURL: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("corpus/smuggling.txt")
    }

    /// The request every case tries to smuggle; fixed length whatever the case (the corpus's
    /// chunk sizes and Content-Lengths count on 83 bytes).
    static func smuggled(_ index: Int) -> [UInt8] {
        let id = "smuggled-" + String(format: "%03d", index)
        return Array("GET /public-api/health?smuggled=1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: \(id)\r\n\r\n".utf8)
    }

    static func probe(_ name: String) -> [UInt8] {
        Array("GET /public-api/health HTTP/1.1\r\nHost: x\r\nX-Request-Id: probe-\(name)\r\nConnection: close\r\n\r\n".utf8)
    }

    /// Decodes one raw line: escapes, {{N|text}} repetition and {SMUGGLE}.
    static func decode(_ line: String, index: Int) throws -> [UInt8] {
        var text = line
        // {{N|text}}: repeat text N times (applied before escapes, so text may hold escapes).
        while let open = text.range(of: "{{"), let close = text.range(of: "}}", range: open.upperBound..<text.endIndex) {
            let inner = text[open.upperBound..<close.lowerBound]
            guard let bar = inner.firstIndex(of: "|"), let n = Int(inner[..<bar]) else {
                throw NSError(domain: "corpus", code: 1, userInfo: [NSLocalizedDescriptionKey: "bad repeat in \(line)"])
            }
            text.replaceSubrange(open.lowerBound..<close.upperBound, with: String(repeating: String(inner[inner.index(after: bar)...]), count: n))
        }
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        let smuggle = Array("{SMUGGLE}".utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "{"), i + smuggle.count <= bytes.count, Array(bytes[i..<i + smuggle.count]) == smuggle {
                out += smuggled(index)
                i += smuggle.count
                continue
            }
            guard bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count else { out.append(bytes[i]); i += 1; continue }
            switch bytes[i + 1] {
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "0"): out.append(0)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "x"):
                guard i + 3 < bytes.count, let h = hexValue(bytes[i + 2]), let l = hexValue(bytes[i + 3]) else {
                    throw NSError(domain: "corpus", code: 2, userInfo: [NSLocalizedDescriptionKey: "bad \\x escape in \(line)"])
                }
                out.append(h << 4 | l)
                i += 4
                continue
            default:
                throw NSError(domain: "corpus", code: 3, userInfo: [NSLocalizedDescriptionKey: "unknown escape in \(line)"])
            }
            i += 2
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 65...70: return c - 55
        case 97...102: return c - 87
        default: return nil
        }
    }

    static func load() throws -> [Case] {
        let text = try String(contentsOf: corpusURL, encoding: .utf8)
        var cases: [Case] = []
        var name: String?
        var statuses: [Int] = []
        var close = true
        var raw: [UInt8] = []
        var startLine = 0
        func finish() throws {
            guard let n = name else { return }
            guard !statuses.isEmpty, !raw.isEmpty else {
                throw NSError(domain: "corpus", code: 4, userInfo: [NSLocalizedDescriptionKey: "case \(n) (line \(startLine)) lacks expect: or bytes"])
            }
            cases.append(Case(index: cases.count, name: n, statuses: statuses, close: close, raw: raw, line: startLine))
        }
        for (number, line) in text.components(separatedBy: "\n").enumerated() {
            if line.hasPrefix("#") || line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if line.hasPrefix("=== ") {
                try finish()
                name = String(line.dropFirst(4)).trimmingCharacters(in: .whitespaces)
                statuses = []
                close = true
                raw = []
                startLine = number + 1
            } else if line.hasPrefix("expect:") {
                let words = line.dropFirst(7).split(separator: " ")
                statuses = words.dropLast().compactMap { Int($0) }
                guard statuses.count == words.count - 1, let mode = words.last, mode == "close" || mode == "open" else {
                    throw NSError(domain: "corpus", code: 5, userInfo: [NSLocalizedDescriptionKey: "bad expect line \(number + 1): \(line)"])
                }
                close = mode == "close"
            } else {
                raw += try decode(line, index: cases.count)
            }
        }
        try finish()
        return cases
    }

    /// Reads until EOF or `timeout`; `closed` tells which.
    static func readAll(_ c: RawClient, timeout: Double) -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let chunk = c.read(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { return (out, true) }
            out += chunk
        }
        return (out, false)
    }

    func test_corpus_isLargeAndWellFormed() throws {
        let cases = try Self.load()
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        XCTAssertEqual(Set(cases.map(\.name)).count, cases.count, "case names must be unique")
        XCTAssertEqual(Self.smuggled(7).count, 83)
    }

    func test_everyCaseAnsweredAsExpected_andNothingSmuggled() throws {
        let cases = try Self.load()
        let server = try TestServer(environment: ["NEO_MAX_BODY": "4096", "NEO_RATE_LIMIT": "0", "NEO_HEADER_TIMEOUT": "5"])
        defer { server.stop() }
        var openCases = 0
        for c in cases {
            let label = "\(c.name) (corpus line \(c.line))"
            let client = try RawClient(port: server.port)
            var wire = c.raw
            if c.close { wire += Self.smuggled(c.index) } else { wire += Self.probe(c.name); openCases += 1 }
            // The server may close (and stop reading) before all bytes are sent: that is fine.
            try? client.send(wire)
            let (bytes, closed) = Self.readAll(client, timeout: 8)
            let responses = TestResponse.parse(bytes)
            let ids = responses.map { $0.headers["x-request-id"] ?? "" }
            XCTAssertTrue(closed, "\(label): connection not closed")
            XCTAssertFalse(ids.contains { $0.hasPrefix("smuggled") }, "\(label): smuggled request answered")
            if c.close {
                XCTAssertEqual(responses.map(\.status), c.statuses, "\(label): \(String(decoding: bytes.prefix(400), as: UTF8.self))")
                if let last = responses.last { XCTAssertEqual(last.headers["connection"], "close", label) }
            } else {
                XCTAssertEqual(responses.map(\.status), c.statuses + [200], "\(label): \(String(decoding: bytes.prefix(400), as: UTF8.self))")
                XCTAssertEqual(ids.last, "probe-\(c.name)", "\(label): the probe after the case was not answered last")
                for r in responses.dropLast() { XCTAssertNotEqual(r.headers["connection"], "close", label) }
            }
            for r in responses where r.status >= 400 {
                XCTAssertNotNil(r.json?["error"]?["code"]?.stringValue, "\(label): error response is not an error envelope")
            }
        }
        // The server is still healthy, and its access log never saw a smuggled request.
        XCTAssertEqual(try server.request("GET", "/public-api/health", key: nil).status, 200)
        usleep(200_000)
        let log = server.log
        XCTAssertFalse(log.contains("smuggled"), "a smuggled request reached the application")
        let probes = log.split(separator: "\n").filter { $0.contains("\"request_id\":\"probe-") }
        XCTAssertEqual(probes.count, openCases, "every probe logged exactly once")
    }
}

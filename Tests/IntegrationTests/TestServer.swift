import Basics
import Foundation
import NeoJSON
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The real `neo-server` binary started on an ephemeral port with a fresh SQLite file in a temp
/// directory. Tests talk to it over real sockets.
// unchecked: everything is set once in init except stdout, which stdoutLock guards.
final class TestServer: @unchecked Sendable {
    static let adminKey = "neo_sk_test_IntegrationAdmin0123456789abcdefghij"

    let directory: URL
    let process: Process
    let port: Int
    let logURL: URL
    private let environment: [String: String]

    /// The built binary: beside the test bundle in .build/<config>/.
    static var binary: String {
        if let explicit = ProcessInfo.processInfo.environment["NEO_SERVER_BIN"] { return explicit }
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("neo-server").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/neo-server").path
    }

    /// Starts a server. `environment` overrides the defaults; pass `directory` to reuse a DB;
    /// `arguments` follow `serve` on the command line.
    init(environment extra: [String: String] = [:], directory: URL? = nil, arguments: [String] = []) throws {
        self.directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("neo-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["NEO_PORT"] = "0"
        env["NEO_HOST"] = "127.0.0.1"
        env["NEO_DB"] = self.directory.appendingPathComponent("neo.db").path
        if extra["NEO_DB"] == nil, let postgres = try TestServer.postgresDatabase(for: self.directory) {
            env["NEO_DB"] = postgres
            if extra["NEO_SECRET_KEY"] == nil && extra["NEO_SECRET_KEY_FILE"] == nil {
                env["NEO_SECRET_KEY_FILE"] = self.directory.appendingPathComponent("secret.key").path
            }
        }
        env["NEO_BOOTSTRAP_ADMIN_KEY"] = TestServer.adminKey
        env["NEO_LOG_LEVEL"] = "info"
        env["NEO_THREADS"] = "2"
        for (k, v) in extra { env[k] = v }
        environment = env
        logURL = self.directory.appendingPathComponent("server-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let outPipe = Pipe()
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestServer.binary)
        process.arguments = ["serve"] + arguments
        process.environment = env
        process.standardOutput = outPipe
        process.standardError = try FileHandle(forWritingTo: logURL)
        try process.run()
        // Read stdout until "listening on http://HOST:PORT".
        var collected = ""
        let deadline = Date().addingTimeInterval(20)
        var found: Int?
        let handle = outPipe.fileHandleForReading
        while found == nil && Date() < deadline && process.isRunning {
            let chunk = handle.availableData
            if chunk.isEmpty { usleep(10_000); continue }
            collected += String(decoding: chunk, as: UTF8.self)
            if let r = collected.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                found = Int(collected[r].split(separator: ":").last!)
            }
        }
        guard let port = found else {
            process.terminate()
            throw NSError(domain: "TestServer", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "server did not start: \(collected) \(String(decoding: (try? Data(contentsOf: logURL)) ?? Data(), as: UTF8.self))"])
        }
        self.port = port
        self.stdout = collected
        // Keep draining stdout so the server never blocks on a full pipe.
        handle.readabilityHandler = { [weak self] h in
            let d = h.availableData
            if !d.isEmpty { self?.appendStdout(String(decoding: d, as: UTF8.self)) }
        }
    }

    /// With NEO_TEST_DB=postgres://… (make test-pg), each test directory gets a schema of its own in that database
    /// (made on first use, remembered in the directory so a restarted server finds it again), and the server runs
    /// on PostgreSQL with its search_path there. nil when NEO_TEST_DB is unset: SQLite, as always.
    static func postgresDatabase(for directory: URL) throws -> String? {
        guard let base = ProcessInfo.processInfo.environment["NEO_TEST_DB"], !base.isEmpty else { return nil }
        let marker = directory.appendingPathComponent("pg-schema")
        let schema: String
        if let known = try? String(contentsOf: marker, encoding: .utf8) {
            schema = known
        } else {
            schema = "neo_it_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
            let psql = Process()
            psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            psql.arguments = ["-q", "-v", "ON_ERROR_STOP=1", base, "-c", "CREATE SCHEMA \(schema)"]
            try psql.run()
            psql.waitUntilExit()
            guard psql.terminationStatus == 0 else {
                throw NSError(domain: "TestServer", code: 4, userInfo: [NSLocalizedDescriptionKey: "CREATE SCHEMA failed on \(base)"])
            }
            try schema.write(to: marker, atomically: true, encoding: .utf8)
        }
        return base + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D" + schema
    }

    private let stdoutLock = NSLock()
    private var stdout: String
    private func appendStdout(_ s: String) { stdoutLock.lock(); stdout += s; stdoutLock.unlock() }
    /// What the server printed on stdout so far.
    var printed: String { stdoutLock.lock(); defer { stdoutLock.unlock() }; return stdout }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    /// Everything the server wrote to stderr (the JSON log).
    var log: String { String(decoding: (try? Data(contentsOf: logURL)) ?? Data(), as: UTF8.self) }

    /// Sends `signal` and waits for exit; returns the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Double = 15) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        return process.terminationStatus
    }

    /// Runs `neo-server ARGS` against this server's DB (the offline CLI); returns stdout.
    func cli(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestServer.binary)
        p.arguments = args
        p.environment = environment
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs SQL straight on this server's database (sqlite3, or psql when it runs on PostgreSQL); a SELECT's rows
    /// come back as JSON objects. For tests that inspect or stage stored state.
    @discardableResult
    func sql(_ query: String) throws -> [JSON] {
        let p = Process()
        if let url = environment["NEO_DB"], url.hasPrefix("postgres") {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            let isSelect = query.trimmingCharacters(in: .whitespaces).uppercased().hasPrefix("SELECT")
            p.arguments = ["-qAt", "-v", "ON_ERROR_STOP=1", url, "-c", isSelect ? "SELECT COALESCE(json_agg(q), '[]') FROM (\(query)) q" : query]
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            // Waits for the running server's write lock rather than failing "database is locked".
            p.arguments = ["-json", "-cmd", ".timeout 5000", directory.appendingPathComponent("neo.db").path, query]
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let problem = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "TestServer", code: 5, userInfo: [NSLocalizedDescriptionKey: "SQL failed: \(query): \(problem)"])
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? [] : (try JSON.parse(Array(text.utf8))).arrayValue ?? []
    }

    /// Creates tenant `tenant` (if needed) and an admin key for it through the CLI.
    func adminKey(forTenant tenant: String) throws -> String {
        let (status, out) = try cli(["keys", "create", "--tenant", tenant, "--create-tenant", "--role", "admin", "--name", "\(tenant) admin"])
        guard status == 0, let key = out.split(separator: "\n").last.map(String.init), key.hasPrefix("neo_sk_") else {
            throw NSError(domain: "TestServer", code: 2, userInfo: [NSLocalizedDescriptionKey: "keys create failed: \(out)"])
        }
        return key
    }

    /// Creates a key through the API with the given body (admin key by default); returns the full key.
    func createKey(_ body: JSON, using key: String = TestServer.adminKey) throws -> String {
        let r = try request("POST", "/public-api/api-keys", key: key, json: body)
        guard r.status == 201, let k = r.data?["key"]?.stringValue else {
            throw NSError(domain: "TestServer", code: 3, userInfo: [NSLocalizedDescriptionKey: "create key failed: \(r.status) \(r.text)"])
        }
        return k
    }

    /// One HTTP/1.1 request on a new connection. `rawHeaders` go after `headers`, in order (a name may repeat).
    func request(_ method: String, _ path: String, key: String? = TestServer.adminKey, json: JSON? = nil,
                 body: [UInt8]? = nil, headers: [String: String] = [:], rawHeaders: [(String, String)] = []) throws -> TestResponse {
        var h = headers
        if let key { h["Authorization"] = "Bearer \(key)" }
        var payload = body ?? []
        if let json {
            payload = json.serialized()
            if h["Content-Type"] == nil { h["Content-Type"] = "application/json" }
        }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in h { head += "\(k): \(v)\r\n" }
        for (k, v) in rawHeaders { head += "\(k): \(v)\r\n" }
        if !payload.isEmpty || ["POST", "PUT", "PATCH"].contains(method) { head += "Content-Length: \(payload.count)\r\n" }
        head += "\r\n"
        let client = try RawClient(port: port)
        try client.send(Array(head.utf8) + payload)
        let raw = try client.readUntilClose(timeout: 30)
        guard let response = TestResponse.parse(raw, isHead: method == "HEAD").first else {
            throw NSError(domain: "TestServer", code: 4, userInfo: [NSLocalizedDescriptionKey: "no response to \(method) \(path): \(String(decoding: raw, as: UTF8.self))"])
        }
        return response
    }
}

/// A parsed HTTP response.
struct TestResponse {
    let status: Int
    /// Header names lowercased; repeated headers joined with ", ".
    let headers: [String: String]
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSON? { try? JSON.parse(body) }
    var data: JSON? { json?["data"] }
    var errorCode: String? { json?["error"]?["code"]?.stringValue }
    var errorMessage: String? { json?["error"]?["message"]?.stringValue }

    /// Parses every complete response in `raw` (pipelined answers come back-to-back).
    static func parse(_ raw: [UInt8], isHead: Bool = false) -> [TestResponse] {
        var out: [TestResponse] = []
        var i = 0
        let crlf2: [UInt8] = [13, 10, 13, 10]
        while i < raw.count {
            guard let end = find(crlf2, in: raw, from: i) else { break }
            let head = String(decoding: raw[i..<end], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst()
            let parts = statusLine.split(separator: " ")
            guard parts.count >= 2, let status = Int(parts[1]) else { break }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers[name] = headers[name].map { "\($0), \(value)" } ?? value
            }
            var bodyStart = end + 4
            if status == 100 { i = bodyStart; continue }
            let length = (isHead || status == 304 || status == 204) ? 0 : Int(headers["content-length"] ?? "0") ?? 0
            let bodyEnd = min(raw.count, bodyStart + length)
            out.append(TestResponse(status: status, headers: headers, body: Array(raw[bodyStart..<bodyEnd])))
            bodyStart = bodyEnd
            i = bodyStart
        }
        return out
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            if hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}

/// A blocking TCP client for raw HTTP bytes.
final class RawClient {
    let fd: Int32

    /// `receiveBuffer` sets SO_RCVBUF before connecting (a small one makes a reader that stops reading fill up fast).
    init(port: Int, host: String = "127.0.0.1", receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else {
            close(fd)
            throw NSError(domain: "RawClient", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "connect: \(String(cString: strerror(errno)))"])
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw NSError(domain: "RawClient", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "send failed"]) }
            off += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads whatever arrives within `timeout` seconds (stops early at EOF). nil at EOF with nothing read.
    func read(timeout: Double) -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) > 0 else { return [] }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { return nil }
        return Array(buf[0..<n])
    }

    /// Reads until the server closes the connection (or `timeout`).
    func readUntilClose(timeout: Double) throws -> [UInt8] {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let chunk = read(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { return out }
            out += chunk
        }
        return out
    }

    /// Reads until `count` complete responses have arrived (or `timeout`).
    func readResponses(_ count: Int, timeout: Double = 10, isHead: Bool = false) -> [TestResponse] {
        var raw: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let parsed = TestResponse.parse(raw, isHead: isHead)
            if parsed.count >= count { return parsed }
            guard let chunk = read(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { break }
            raw += chunk
        }
        return TestResponse.parse(raw, isHead: isHead)
    }

    /// True when the server has closed the connection within `timeout` (EOF or reset).
    func isClosed(within timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if read(timeout: max(0.01, deadline.timeIntervalSinceNow)) == nil { return true }
        }
        return false
    }
}

/// A test class whose tests share one server, started before the first test and stopped after the last.
/// Subclasses override `environment` to configure it.
class SharedServerTestCase: XCTestCase {
    private static let servers = Lock<[ObjectIdentifier: TestServer]>([:])

    class var environment: [String: String] { ["NEO_RATE_LIMIT": "0"] }

    var server: TestServer { Self.servers.withLock { $0[ObjectIdentifier(Self.self)]! } }

    override class func setUp() {
        super.setUp()
        let started = try! TestServer(environment: environment)
        servers.withLock { $0[ObjectIdentifier(self)] = started }
    }

    override class func tearDown() {
        servers.withLock { $0.removeValue(forKey: ObjectIdentifier(self)) }?.stop()
        super.tearDown()
    }
}

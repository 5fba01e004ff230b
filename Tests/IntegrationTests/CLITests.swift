import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// One run of the real binary, its two streams kept apart.
struct CLIRun {
    let status: Int32
    let stdout: String
    let stderr: String

    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs `neo-server ARGS` in `directory` with `environment` as its only NEO_ variables (none leak in
/// from the test's own environment); kills it and fails after `timeout` seconds.
func runNeoServer(_ args: [String], in directory: URL, environment: [String: String] = [:],
                  timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line) throws -> CLIRun {
    let outURL = directory.appendingPathComponent(".out-\(UUID().uuidString)")
    let errURL = directory.appendingPathComponent(".err-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: TestServer.binary)
    p.arguments = args
    p.currentDirectoryURL = directory
    p.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NEO_") }.merging(environment) { $1 }
    p.standardOutput = try FileHandle(forWritingTo: outURL)
    p.standardError = try FileHandle(forWritingTo: errURL)
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning {
        p.terminate()
        p.waitUntilExit()
        XCTFail("neo-server \(args.joined(separator: " ")) still running after \(timeout) s", file: file, line: line)
    }
    return CLIRun(status: p.terminationStatus,
                  stdout: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
                  stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
}

/// A listening socket on 127.0.0.1 that nobody serves: its port is taken for as long as it lives.
final class BusyPort {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, len) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard fd >= 0, bound else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw NSError(domain: "BusyPort", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot hold a port on 127.0.0.1: \(reason)"])
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }
}

/// The command line as a new user meets it: `keys` from the wrong directory, a busy port,
/// `--help`, a flag fixing a bad environment value.
final class CLITests: XCTestCase {
    /// An empty directory of this test's own, removed after it.
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("neo-cli-\(UUID().uuidString)").resolvingSymlinksInPath()
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// What `dir` holds, leaving out the hidden files `runNeoServer` keeps its output in.
    private func contents(of dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// A migrated database with no tenant yet.
    private func migratedDatabase() throws -> String {
        let db = scratch.appendingPathComponent("neo.db").path
        let r = try runNeoServer(["migrate"], in: scratch, environment: ["NEO_DB": db])
        XCTAssertEqual(r.status, 0, r.stderr)
        return db
    }

    func test_keys_withoutADatabase_refusesToCreateOne_andNamesThePathAndTheFix() throws {
        let elsewhere = scratch.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let missing = scratch.appendingPathComponent("missing.db").path
        for (args, environment, lookedAt) in [
            (["keys", "create", "--tenant", "default", "--role", "admin"], [:], elsewhere.path + "/data/neo.db"),
            (["keys", "list", "--tenant", "default"], [:], elsewhere.path + "/data/neo.db"),
            (["keys", "revoke", "1"], [:], elsewhere.path + "/data/neo.db"),
            (["keys", "create", "--tenant", "default", "--create-tenant"], ["NEO_DB": missing], missing),
            (["keys", "list", "--tenant", "default", "--db", missing], [:], missing),
        ] {
            let what = args.joined(separator: " ")
            let r = try runNeoServer(args, in: elsewhere, environment: environment)
            XCTAssertEqual(r.status, 1, what)
            XCTAssertTrue(r.stderr.contains(lookedAt), "names the path it looked at: \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("--db PATH") && r.stderr.contains("NEO_DB"), "says how to point at the right one: \(r.stderr)")
            XCTAssertFalse(r.stdout.contains("neo_sk_"), what)
            XCTAssertEqual(contents(of: elsewhere), [], "\(what) created nothing")
            XCTAssertFalse(FileManager.default.fileExists(atPath: missing), what)
        }
    }

    func test_keys_unknownTenant_isAnErrorNamingTheTenantsThere_unlessCreateTenant() throws {
        let env = ["NEO_DB": try migratedDatabase()]
        let first = try runNeoServer(["keys", "create", "--tenant", "alpha"], in: scratch, environment: env)
        XCTAssertEqual(first.status, 1)
        XCTAssertTrue(first.stderr.contains("no tenant 'alpha'") && first.stderr.contains("no tenants yet")
                      && first.stderr.contains("--create-tenant"), first.stderr)
        XCTAssertFalse(first.stdout.contains("neo_sk_"))

        let created = try runNeoServer(["keys", "create", "--tenant", "alpha", "--create-tenant", "--role", "admin"], in: scratch, environment: env)
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertTrue(created.stderr.contains("created tenant 'alpha'"), created.stderr)
        XCTAssertTrue(created.stdoutLines.last?.hasPrefix("neo_sk_prod_") ?? false, created.stdout)
        let again = try runNeoServer(["keys", "create", "--tenant", "alpha", "--create-tenant"], in: scratch, environment: env)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stderr.contains("created tenant"), "an existing tenant is reused: \(again.stderr)")

        for args in [["keys", "create", "--tenant", "beta"], ["keys", "list", "--tenant", "beta"]] {
            let r = try runNeoServer(args, in: scratch, environment: env)
            XCTAssertEqual(r.status, 1, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains("no tenant 'beta'") && r.stderr.contains("tenants there: 'alpha'"), r.stderr)
            XCTAssertEqual(r.stdout, "", "nothing on stdout, not even the list's header")
        }
        let list = try runNeoServer(["keys", "list", "--tenant", "alpha"], in: scratch, environment: env)
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertEqual(list.stdoutLines.count, 3, "header and the two keys: \(list.stdout)")
    }

    func test_keys_everySubcommandNamesItsDatabase_andCreatePrintsAKeyTheServerAccepts() throws {
        // About database files and relative paths: SQLite even under make test-pg.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("neo-it-\(UUID().uuidString)")
        let server = try TestServer(environment: ["NEO_DB": directory.appendingPathComponent("neo.db").path], directory: directory)
        defer { server.stop() }
        let db = server.directory.appendingPathComponent("neo.db").path
        let create = try runNeoServer(["keys", "create", "--tenant", "default", "--role", "admin", "--db", db], in: scratch)
        XCTAssertEqual(create.status, 0, create.stderr)
        XCTAssertTrue(create.stderr.contains("database: \(db)\n"), create.stderr)
        let key = try XCTUnwrap(create.stdoutLines.last)
        XCTAssertTrue(key.hasPrefix("neo_sk_prod_"), "the key is alone on stdout's last line: \(create.stdout)")
        XCTAssertEqual(try server.request("GET", "/public-api/tenant", key: key).data?["name"]?.stringValue, "default")

        // A relative NEO_DB is reported as the absolute path it resolved to.
        let list = try runNeoServer(["keys", "list", "--tenant", "default"], in: server.directory.resolvingSymlinksInPath(),
                                    environment: ["NEO_DB": "neo.db"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stderr.contains("database: \(server.directory.resolvingSymlinksInPath().path)/neo.db\n"), list.stderr)
        XCTAssertEqual(list.stdoutLines.first, "ID\tROLE\tLAST4\tCREATED\tEXPIRES\tREVOKED\tNAME", "stdout is only the table")
        let id = try XCTUnwrap(list.stdoutLines.first { $0.hasSuffix("\tadmin key") }?.split(separator: "\t").first.map(String.init))

        let revoke = try runNeoServer(["keys", "revoke", id], in: scratch, environment: ["NEO_DB": db])
        XCTAssertEqual(revoke.status, 0, revoke.stderr)
        XCTAssertTrue(revoke.stderr.contains("database: \(db)\n"), revoke.stderr)
        XCTAssertEqual(revoke.stdout, "revoked key \(id)\n")
    }

    func test_keys_aMistypedOption_isAUsageErrorBeforeAnyDatabaseIsLookedFor() throws {
        let r = try runNeoServer(["keys", "create", "--tennant", "acme"], in: scratch)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("no option --tennant") && r.stderr.contains("--tenant"), r.stderr)
        XCTAssertFalse(r.stderr.contains("no database"), r.stderr)
    }

    func test_routes_createsNoDatabase() throws {
        for environment in [[:], ["NEO_DB": scratch.appendingPathComponent("sub/neo.db").path]] {
            let r = try runNeoServer(["routes"], in: scratch, environment: environment)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdoutLines.contains("GET /public-api/health"), r.stdout)
            XCTAssertEqual(contents(of: scratch), [], "routes left files behind (\(environment))")
        }
    }

    func test_serve_onABusyPort_exits1NamingTheAddress_printsNoKey_andLeavesNoNewDatabase() throws {
        let busy = try BusyPort()
        let fresh = scratch.appendingPathComponent("fresh")
        let r = try runNeoServer(["serve", "--port", String(busy.port)], in: scratch,
                                 environment: ["NEO_DB": fresh.appendingPathComponent("neo.db").path, "NEO_HOST": "127.0.0.1"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("127.0.0.1:\(busy.port)") && r.stderr.contains("--port") && r.stderr.contains("NEO_PORT"), r.stderr)
        XCTAssertFalse(r.stdout.contains("neo_sk_") || r.stderr.contains("neo_sk_"), "no key is shown: \(r.stdout)")
        XCTAssertFalse(r.stderr.contains("secret key file"), "no file to back up is announced: \(r.stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: fresh.path), "a first start that failed leaves nothing: \(contents(of: fresh))")

        // An existing database stays, and gets no admin key nor tenant: bootstrap never ran. The key
        // file made for it stays too (it sealed the database's key check), so the next start works.
        let env = ["NEO_DB": try migratedDatabase(), "NEO_HOST": "127.0.0.1"]
        let existing = try runNeoServer(["serve", "--port", String(busy.port)], in: scratch, environment: env)
        XCTAssertEqual(existing.status, 1)
        XCTAssertFalse(existing.stdout.contains("neo_sk_"), existing.stdout)
        XCTAssertTrue(existing.stderr.contains("created secret key file \(scratch.path)/secret.key"), existing.stderr)
        let list = try runNeoServer(["keys", "list", "--tenant", "default"], in: scratch, environment: env)
        XCTAssertEqual(list.status, 1)
        XCTAssertTrue(list.stderr.contains("it has no tenants yet"), list.stderr)
        let next = try TestServer(directory: scratch)
        defer { next.stop() }
        XCTAssertEqual(try next.request("GET", "/public-api/tenant").status, 200)
    }

    /// `neo-server serve | head -1`: the reader of stdout goes away after the first line, and the lines the start
    /// still prints (`listening on`) meet a closed pipe. The server goes on serving (a write to stdout once trapped on
    /// EPIPE and killed it).
    func test_serve_whoseStdoutReaderHasGone_keepsServing() throws {
        let db = scratch.appendingPathComponent("epipe/neo.db").path
        let logURL = scratch.appendingPathComponent("epipe.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let out = Pipe()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestServer.binary)
        p.arguments = ["serve"]
        p.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NEO_") }.merging(
            ["NEO_DB": db, "NEO_HOST": "127.0.0.1", "NEO_PORT": "0", "NEO_LOG_LEVEL": "info",
             "NEO_BOOTSTRAP_ADMIN_KEY": TestServer.adminKey]) { $1 }
        p.standardOutput = out
        p.standardError = try FileHandle(forWritingTo: logURL)
        try p.run()
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        var first = Data()
        while !first.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            first += chunk
        }
        XCTAssertTrue(String(decoding: first, as: UTF8.self).hasPrefix("installed the admin key"), String(decoding: first, as: UTF8.self))
        try out.fileHandleForReading.close()
        // The port is in the JSON log's "started" line (stderr).
        var port: Int?
        let deadline = Date().addingTimeInterval(20)
        while port == nil && p.isRunning && Date() < deadline {
            let log = String(decoding: (try? Data(contentsOf: logURL)) ?? Data(), as: UTF8.self)
            if let r = log.range(of: #""port":\d+"#, options: .regularExpression) { port = Int(log[r].dropFirst(7)) } else { usleep(10_000) }
        }
        let listening = try XCTUnwrap(port, "no started line: \(String(decoding: (try? Data(contentsOf: logURL)) ?? Data(), as: UTF8.self))")
        XCTAssertTrue(p.isRunning, "the server died writing to a closed stdout")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(listening).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let connected = withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        let request = "GET /public-api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var reply = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &reply, reply.count, 0)
        XCTAssertTrue(n > 0 && String(decoding: reply[0..<max(0, n)], as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    func test_help_printsTheUsageAndExits0_evenWithABrokenEnvironment() throws {
        for args in [["serve", "--help"], ["serve", "-h"], ["keys", "--help"], ["keys", "create", "--help"], ["migrate", "--help"], ["help"]] {
            let r = try runNeoServer(args, in: scratch, environment: ["NEO_PORT": "abc"])
            XCTAssertEqual(r.status, 0, "\(args.joined(separator: " ")): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("usage:") && r.stdout.contains("--create-tenant") && r.stdout.contains("NEO_DB"), r.stdout)
            XCTAssertEqual(r.stderr, "")
            XCTAssertEqual(contents(of: scratch), [], "help touches no database")
        }
    }

    func test_aFlag_overridesABadEnvironmentValue_andABadFlagIsNamedAsTheFlag() throws {
        let server = try TestServer(environment: ["NEO_PORT": "abc"], arguments: ["--port", "0"])
        defer { server.stop() }
        XCTAssertEqual(try server.request("GET", "/public-api/health", key: nil).status, 200)

        let badFlag = try runNeoServer(["serve", "--port", "abc"], in: scratch,
                                       environment: ["NEO_DB": scratch.appendingPathComponent("neo.db").path])
        XCTAssertEqual(badFlag.status, 2)
        XCTAssertTrue(badFlag.stderr.contains("--port must be an integer in 0...65535 (got 'abc')"), badFlag.stderr)
    }

    func test_runLeaseSettings_badValuesStopTheStartNamingTheSetting() throws {
        for (name, value, message) in [("NEO_RUN_LEASE_SECONDS", "0.1", "NEO_RUN_LEASE_SECONDS must be a number of seconds in [0.5, 3600] (got '0.1')"),
                                       ("NEO_RUN_LEASE_SECONDS", "soon", "NEO_RUN_LEASE_SECONDS must be a number of seconds in [0.5, 3600] (got 'soon')"),
                                       ("NEO_RUN_MAX_ATTEMPTS", "0", "NEO_RUN_MAX_ATTEMPTS must be an integer in 1...100 (got '0')")] {
            let r = try runNeoServer(["serve"], in: scratch, environment: ["NEO_DB": scratch.appendingPathComponent("neo.db").path, name: value])
            XCTAssertEqual(r.status, 2, "\(name)=\(value)")
            XCTAssertTrue(r.stderr.contains(message), r.stderr)
        }
        let server = try TestServer(environment: ["NEO_RUN_LEASE_SECONDS": "2.5", "NEO_RUN_MAX_ATTEMPTS": "5"])
        defer { server.stop() }
        XCTAssertTrue(server.log.contains(#""lease_seconds":2.5"#) && server.log.contains(#""max_attempts":5"#), server.log)
    }
}

import Basics
import Foundation
import NeoJSON
import XCTest

/// The PostgreSQL backend (design §11) against a real server: start-up refusals naming NEO_DB, migrations by several
/// processes at once, a schema newer than the binary, and a database that goes away and comes back (503, then
/// recovery without a restart). The tests that need a PostgreSQL run under `make test-pg` (NEO_TEST_DB set by
/// scripts/pg-harness.sh); the refusals of a malformed URL and a refused connection need none and always run.
final class PostgresTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("neo-pg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    private var base: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["NEO_TEST_DB"], !url.isEmpty else {
                throw XCTSkip("NEO_TEST_DB is not set (make test-pg runs this against a real PostgreSQL)")
            }
            return url
        }
    }

    /// Runs SQL through psql on `url`; returns its unaligned output.
    @discardableResult
    private func psql(_ url: String, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        p.arguments = ["-qAt", "-v", "ON_ERROR_STOP=1", url, "-c", sql]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "psql failed on: \(sql)")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func freshSchema() throws -> (schema: String, url: String) {
        let base = try base
        let schema = "neo_pg_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try psql(base, "CREATE SCHEMA \(schema)")
        return (schema, base + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D" + schema)
    }

    private func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    private func serveEnvironment(_ db: String) -> [String: String] {
        ["NEO_DB": db, "NEO_PORT": "0", "NEO_HOST": "127.0.0.1", "NEO_SECRET_KEY_FILE": scratch.appendingPathComponent("secret.key").path]
    }

    // MARK: - Start-up refusals

    func test_malformedURL_andRefusedConnection_stopStartNamingNEO_DB_withoutThePassword() throws {
        let refused = "postgresql://neo:Sekrit-Refused-123@127.0.0.1:\(freePort())/postgres?connect_timeout=3"
        let malformed = "postgres://neo:Sekrit-Malformed-123@127.0.0.1:notaport/postgres"
        for (url, says) in [(malformed, "invalid"), (refused, "refused")] {
            for command in [["serve"], ["migrate"]] {
                let r = try runNeoServer(command, in: scratch, environment: serveEnvironment(url), timeout: 20)
                XCTAssertNotEqual(r.status, 0, "\(command) on \(url)")
                XCTAssertTrue(r.stderr.contains(says), "\(command): \(r.stderr)")
                XCTAssertFalse(r.stderr.contains("Sekrit"), "the password never appears: \(r.stderr)")
                if command == ["serve"] {
                    XCTAssertTrue(r.stderr.contains("NEO_DB"), "names the setting: \(r.stderr)")
                }
            }
        }
    }

    func test_wrongPassword_stopsStartNamingNEO_DB_withoutThePassword() throws {
        let (_, url) = try freshSchema()
        guard let r = url.range(of: #"(?<=://neo:)[^@]*"#, options: .regularExpression) else { throw XCTSkip("NEO_TEST_DB has no password") }
        let wrong = url.replacingCharacters(in: r, with: "Sekrit-Wrong-456")
        let run = try runNeoServer(["serve"], in: scratch, environment: serveEnvironment(wrong), timeout: 20)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("NEO_DB") && run.stderr.contains("password authentication failed"), run.stderr)
        XCTAssertFalse(run.stderr.contains("Sekrit"), run.stderr)
    }

    func test_withoutASharedSecretKey_startIsRefusedNamingTheSettings() throws {
        let (_, url) = try freshSchema()
        let r = try runNeoServer(["serve"], in: scratch, environment: ["NEO_DB": url, "NEO_PORT": "0"], timeout: 20)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("NEO_SECRET_KEY") && r.stderr.contains("NEO_SECRET_KEY_FILE"), r.stderr)
    }

    // MARK: - Migrations

    /// Three processes migrating one empty database at once: the advisory lock lets one apply, the others wait and
    /// find nothing left to do; every version is recorded once.
    func test_threeProcessesMigratingAtOnce_applyEachVersionOnce() throws {
        let (schema, url) = try freshSchema()
        let results = Lock<[CLIRun]>([])
        let directory: URL = scratch
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            if let r = try? runNeoServer(["migrate"], in: directory, environment: ["NEO_DB": url], timeout: 60) {
                results.withLock { $0.append(r) }
            }
        }
        let runs = results.withLock { $0 }
        XCTAssertEqual(runs.count, 3)
        XCTAssertEqual(runs.map(\.status), [0, 0, 0], runs.map(\.stderr).joined(separator: "\n"))
        XCTAssertEqual(runs.filter { $0.stdout.contains("applied migrations 1,") }.count, 1, runs.map(\.stdout).joined(separator: "\n"))
        XCTAssertEqual(runs.filter { $0.stdout.contains("database is up to date") }.count, 2, runs.map(\.stdout).joined(separator: "\n"))
        let versions = try psql(try base, "SELECT COUNT(*), COUNT(DISTINCT version) FROM \(schema).schema_migrations")
        // Every PostgreSQL migration of this checkout (migrations/postgres/NNNN_*.sql), applied once.
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("migrations/postgres")
        let latest = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.count
        XCTAssertEqual(versions, "\(latest)|\(latest)")
    }

    func test_schemaNewerThanTheBinary_refusesToStart() throws {
        let (schema, url) = try freshSchema()
        XCTAssertEqual(try runNeoServer(["migrate"], in: scratch, environment: ["NEO_DB": url]).status, 0)
        try psql(try base, "INSERT INTO \(schema).schema_migrations VALUES (9999, 'future', '2030-01-01T00:00:00.000Z')")
        for command in [["serve"], ["migrate"]] {
            let r = try runNeoServer(command, in: scratch, environment: serveEnvironment(url), timeout: 20)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("newer than this binary"), r.stderr)
        }
    }

    // MARK: - The database going away

    /// The server's sessions are terminated (what a database restart does to them): the next request reconnects and
    /// succeeds. Then the server cannot log in at all: requests answer 503 UNAVAILABLE, not 500, and once it can
    /// again the same process serves normally, without a restart.
    func test_databaseAway_answers503_andRecoversWithoutARestart() throws {
        let base = try base
        let role = "neo_r_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12)
        let password = UUID().uuidString
        try psql(base, "CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
        try psql(base, "CREATE SCHEMA \(role) AUTHORIZATION \(role)")
        let url = base.replacingOccurrences(of: #"://[^@]*@"#, with: "://\(role):\(password)@", options: .regularExpression)
            + (base.contains("?") ? "&" : "?") + "options=-csearch_path%3D\(role)"
        let server = try TestServer(environment: ["NEO_DB": url, "NEO_SECRET_KEY_FILE": scratch.appendingPathComponent("secret.key").path])
        defer { server.stop() }
        XCTAssertEqual(try server.request("POST", "/public-api/agents", json: ["name": "before", "trigger_type": "NONE", "actions": []]).status, 201)

        let terminate = "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '\(role)'"
        XCTAssertNotEqual(try psql(base, terminate), "0", "the server holds sessions")
        let afterRestart = try server.request("GET", "/public-api/agents")
        XCTAssertEqual(afterRestart.status, 200, "reconnected: \(afterRestart.text)")

        try psql(base, "ALTER ROLE \(role) NOLOGIN")
        try psql(base, terminate)
        for _ in 0..<3 {
            let away = try server.request("GET", "/public-api/agents")
            XCTAssertEqual(away.status, 503, away.text)
            XCTAssertEqual(away.json?["error"]?["code"]?.stringValue, "UNAVAILABLE", away.text)
            XCTAssertFalse(away.text.contains(password), "no secret in the answer")
        }
        XCTAssertEqual(try server.request("POST", "/public-api/agents", json: ["name": "while away", "trigger_type": "NONE", "actions": []]).status, 503)

        try psql(base, "ALTER ROLE \(role) LOGIN")
        let back = try server.request("POST", "/public-api/agents", json: ["name": "after", "trigger_type": "NONE", "actions": []])
        XCTAssertEqual(back.status, 201, back.text)
        let names = try server.request("GET", "/public-api/agents").data?.arrayValue?.compactMap { $0["name"]?.stringValue }
        XCTAssertEqual(names, ["after", "before"])
        XCTAssertFalse(server.log.contains(password), "no secret in the log")
    }
}

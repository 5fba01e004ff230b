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

    func test_routes_createsNoDatabase() throws {
        for environment in [[:], ["NEO_DB": scratch.appendingPathComponent("sub/neo.db").path]] {
            let r = try runNeoServer(["routes"], in: scratch, environment: environment)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdoutLines.contains("GET /public-api/health"), r.stdout)
            XCTAssertEqual(contents(of: scratch), [], "routes left files behind (\(environment))")
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
}

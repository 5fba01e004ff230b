import Foundation
import NeoJSON
import XCTest

/// libcurl and libpq are loaded with dlopen (Sources/CShim/lazy_library.h), not linked: libpq only when a PostgreSQL
/// store opens, libcurl off the start's path. A library that cannot be loaded fails closed with a message naming it
/// and the loader's error; NEO_LIBCURL / NEO_LIBPQ (the operator's knob for a library elsewhere) name a missing file.
final class LazyLibrariesTests: XCTestCase {
    /// The server process's memory map (its shared objects among it). Read to its end: procfs reports a size of 0.
    func mappedLibraries(_ server: TestServer) throws -> String {
        let path = "/proc/\(server.process.processIdentifier)/maps"
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CocoaError(.fileReadNoSuchFile) }
        defer { try? handle.close() }
        let text = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        XCTAssertTrue(text.contains("neo-server"), "the map lists the binary itself: \(path)")
        return text
    }

    func test_libpqIsLoadedOnlyForAPostgreSQLStore_andLibcurlAfterListening() throws {
        let onPostgres = ProcessInfo.processInfo.environment["NEO_TEST_DB"].map { !$0.isEmpty } ?? false
        let server = try TestServer(environment: ["NEO_UPSTREAM_POLICY": "loopback"])
        defer { server.stop() }
        // A thread loads libcurl once the server listens; give it a moment on a busy box.
        let deadline = Date().addingTimeInterval(10)
        while try !mappedLibraries(server).contains("/libcurl.so"), Date() < deadline { usleep(20_000) }
        let maps = try mappedLibraries(server)
        XCTAssertTrue(maps.contains("/libcurl.so.4"), "libcurl is loaded at start-up, off the path to `listening`")
        if onPostgres {
            XCTAssertTrue(maps.contains("/libpq.so.5"), "a PostgreSQL store loads libpq")
        } else {
            XCTAssertFalse(maps.contains("/libpq.so"), "a SQLite store never loads libpq")
        }
    }

    func test_aMissingLibcurl_failsUpstreamCallsClearly_andIsLoggedOnce() throws {
        let missing = "/nonexistent/neo-test/libcurl.so.4"
        let server = try TestServer(environment: ["NEO_UPSTREAM_POLICY": "loopback", "NEO_RATE_LIMIT": "0", "NEO_LIBCURL": missing])
        defer { server.stop() }
        XCTAssertEqual(try server.request("POST", "/public-api/external-apis", json: [
            "name": "nowhere", "endpoint_url": "http://127.0.0.1:1/", "method": "GET",
        ]).status, 201)
        for _ in 0..<2 {
            let r = try server.request("POST", "/public-api/external-apis/nowhere/invoke", json: [:])
            XCTAssertEqual(r.status, 502, r.text)
            XCTAssertEqual(r.errorCode, "UPSTREAM_ERROR", r.text)
            let message = r.errorMessage ?? ""
            XCTAssertTrue(message.contains("cannot load libcurl.so.4 (NEO_LIBCURL=\(missing))"), message)
            XCTAssertTrue(message.contains("cannot open shared object file"), "dlerror()'s words: \(message)")
        }
        let test = try server.request("POST", "/public-api/external-apis/nowhere/test", json: [:])
        XCTAssertEqual(test.data?["ok"], false, test.text)
        XCTAssertEqual(test.data?["error"]?["code"], "UPSTREAM_ERROR", test.text)
        // The server is otherwise fine, and said so once, at start-up.
        XCTAssertEqual(try server.request("GET", "/public-api/external-apis").status, 200)
        XCTAssertEqual(server.log.components(separatedBy: "cannot load libcurl.so.4").count - 1, 1, server.log)
        XCTAssertFalse(try mappedLibraries(server).contains("/libcurl.so"))
        XCTAssertEqual(server.stop(), 0, "a graceful stop without libcurl: \(server.log)")
    }

    func test_aMissingLibpq_stopsAPostgreSQLStartNamingTheLibrary() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("neo-lazylibs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let missing = "/nonexistent/neo-test/libpq.so.5"
        // Port 1 on loopback: nothing is ever contacted, the load fails first.
        let env = ["NEO_DB": "postgres://neo:CANARY-pq-pass@127.0.0.1:1/neo", "NEO_LIBPQ": missing,
                   "NEO_SECRET_KEY": Data(repeating: 7, count: 32).base64EncodedString()]
        for args in [["serve", "--port", "0"], ["migrate"]] {
            let r = try runNeoServer(args, in: scratch, environment: env)
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("cannot load libpq.so.5 (NEO_LIBPQ=\(missing)), which a PostgreSQL database needs"), r.stderr)
            XCTAssertTrue(r.stderr.contains("cannot open shared object file"), "dlerror()'s words: \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("CANARY"), r.stderr)
            XCTAssertFalse(r.stdout.contains("listening"), r.stdout)
        }
    }
}

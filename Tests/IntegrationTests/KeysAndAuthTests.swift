import Foundation
import NeoJSON
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Tenants, API keys, authentication, permission groups and pagination through the real server.
final class KeysAndAuthTests: SharedServerTestCase {

    func test_missingKey_is401WithWWWAuthenticate() throws {
        let r = try server.request("GET", "/public-api/tenant", key: nil)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.errorCode, "UNAUTHORIZED")
        XCTAssertTrue(r.headers["www-authenticate"]?.hasPrefix("Bearer") ?? false)
    }

    func test_malformedAndUnknownKeys_are401() throws {
        for header in ["Basic abc", "Bearer", "Bearer not-a-key", "Bearer neo_sk_prod_short"] {
            let r = try server.request("GET", "/public-api/tenant", key: nil, headers: ["Authorization": header])
            XCTAssertEqual(r.status, 401, header)
        }
        let unknown = try server.request("GET", "/public-api/tenant", key: "neo_sk_prod_" + String(repeating: "A", count: 43))
        XCTAssertEqual(unknown.status, 401)
        XCTAssertEqual(unknown.errorMessage, "unknown API key")
    }

    func test_tenant_returnsCallersTenant() throws {
        let r = try server.request("GET", "/public-api/tenant")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.data?["name"], "default")
        XCTAssertNotNil(r.data?["created_at"]?.stringValue)
        XCTAssertEqual(r.headers["cache-control"], "no-store")
    }

    func test_keyLifecycle_createGetRotateRevoke() throws {
        let created = try server.request("POST", "/public-api/api-keys", json: ["name": "lifecycle", "role": "member"])
        XCTAssertEqual(created.status, 201)
        let id = try XCTUnwrap(created.data?["id"]?.stringValue)
        let key = try XCTUnwrap(created.data?["key"]?.stringValue)
        XCTAssertTrue(key.hasPrefix("neo_sk_prod_"))
        XCTAssertEqual(created.data?["last4"]?.stringValue, String(key.suffix(4)))
        XCTAssertEqual(created.data?["permissions"]?["agents"], "read")

        let fetched = try server.request("GET", "/public-api/api-keys/\(id)")
        XCTAssertEqual(fetched.status, 200)
        XCTAssertNil(fetched.data?["key"], "the full key is shown only at creation")
        XCTAssertFalse(fetched.text.contains(key))
        XCTAssertEqual(try server.request("GET", "/public-api/tenant", key: key).status, 200)

        let rotated = try server.request("POST", "/public-api/api-keys/\(id)/rotate")
        XCTAssertEqual(rotated.status, 200)
        let newKey = try XCTUnwrap(rotated.data?["key"]?.stringValue)
        XCTAssertNotEqual(newKey, key)
        XCTAssertEqual(rotated.data?["rotated_from"]?.stringValue, id)
        XCTAssertEqual(try server.request("GET", "/public-api/tenant", key: newKey).status, 200)
        XCTAssertEqual(try server.request("GET", "/public-api/tenant", key: key).status, 200, "old key works during the 24 h overlap")
        let old = try server.request("GET", "/public-api/api-keys/\(id)")
        let expires = try XCTUnwrap(old.data?["expires_at"]?.stringValue)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let expiry = try XCTUnwrap(formatter.date(from: expires))
        XCTAssertEqual(expiry.timeIntervalSinceNow, 24 * 3600, accuracy: 120)

        let revoked = try server.request("DELETE", "/public-api/api-keys/\(id)")
        XCTAssertEqual(revoked.status, 200)
        XCTAssertNotNil(revoked.data?["revoked_at"]?.stringValue)
        let after = try server.request("GET", "/public-api/tenant", key: key)
        XCTAssertEqual(after.status, 401)
        XCTAssertTrue(after.errorMessage?.contains("revoked") ?? false)
        XCTAssertEqual(try server.request("POST", "/public-api/api-keys/\(id)/rotate").status, 409)
    }

    func test_expiredKey_is401() throws {
        let soon = Date().addingTimeInterval(1.5)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let key = try server.createKey(["name": "short-lived", "expires_at": .string(formatter.string(from: soon))])
        XCTAssertEqual(try server.request("GET", "/public-api/tenant", key: key).status, 200)
        Thread.sleep(forTimeInterval: 2)
        let r = try server.request("GET", "/public-api/tenant", key: key)
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(r.errorMessage, "API key has expired")
    }

    func test_memberKey_cannotManageKeys() throws {
        let member = try server.createKey(["name": "member"])
        let r = try server.request("GET", "/public-api/api-keys", key: member)
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(r.errorCode, "FORBIDDEN")
        XCTAssertEqual(r.errorMessage, "API-key management requires admin role.")
    }

    func test_createKey_validatesEveryField() throws {
        let r = try server.request("POST", "/public-api/api-keys", json: [
            "name": "", "expires_at": "tomorrow", "role": "root", "permissions": ["agents": "write"],
            "actor": "agent", "test_mode": "yes", "env": "dev",
        ])
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.errorCode, "VALIDATION_ERROR")
        let fields = Set((r.json?["error"]?["details"]?.arrayValue ?? []).compactMap { $0["field"]?.stringValue })
        XCTAssertEqual(fields, ["name", "expires_at", "role", "permissions.agents", "agent_id", "test_mode", "env"])
        XCTAssertEqual(try server.request("POST", "/public-api/api-keys", json: ["name": "past", "expires_at": "2001-01-01T00:00:00Z"]).status, 422)
        XCTAssertEqual(try server.request("POST", "/public-api/api-keys", json: ["name": "agent", "actor": "agent", "agent_id": 999]).status, 422)
    }

    func test_badBodies_areRefusedWithTheRightStatus() throws {
        let wrongType = try server.request("POST", "/public-api/api-keys", body: Array(#"{"name":"x"}"#.utf8), headers: ["Content-Type": "text/plain"])
        XCTAssertEqual(wrongType.status, 415)
        XCTAssertEqual(wrongType.errorCode, "UNSUPPORTED_MEDIA_TYPE")
        let malformed = try server.request("POST", "/public-api/api-keys", body: Array(#"{"name": }"#.utf8), headers: ["Content-Type": "application/json"])
        XCTAssertEqual(malformed.status, 400)
        XCTAssertTrue(malformed.errorMessage?.hasPrefix("malformed JSON") ?? false)
        let notObject = try server.request("POST", "/public-api/api-keys", json: [1, 2])
        XCTAssertEqual(notObject.status, 422)
    }

    func test_unknownFields_areIgnoredWithWarnings() throws {
        let r = try server.request("POST", "/public-api/api-keys", json: ["name": "warn", "colour": "blue"])
        XCTAssertEqual(r.status, 201)
        XCTAssertEqual(r.json?["meta"]?["warnings"], ["unknown field 'colour' ignored"])
    }

    func test_permissionGroups_areEnforcedAndNamedIn403() throws {
        let none = try server.createKey(["name": "no-agents", "permissions": ["agents": "none"]])
        let r = try server.request("GET", "/public-api/agents", key: none)
        if r.status == 404 { throw XCTSkip("agents routes not present yet") }
        XCTAssertEqual(r.status, 403)
        XCTAssertTrue(r.errorMessage?.contains("'agents'") ?? false, r.errorMessage ?? "")
        XCTAssertTrue(r.errorMessage?.contains("read") ?? false)
    }

    func test_testMode_createIsNotPersisted() throws {
        let before = try server.request("GET", "/public-api/api-keys?page_size=200").data?.arrayValue?.count
        let r = try server.request("POST", "/public-api/api-keys", json: ["name": "dry-run"], headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(r.status, 201)
        XCTAssertNil(r.data?["key"])
        XCTAssertEqual(r.json?["meta"]?["warnings"], ["test mode: not persisted"])
        XCTAssertEqual(try server.request("GET", "/public-api/api-keys?page_size=200").data?.arrayValue?.count, before)
    }

    func test_pagination_walksEveryKeyOnceNewestFirst() throws {
        for i in 0..<5 { _ = try server.createKey(["name": .string("page-\(i)")]) }
        var seen: [String] = []
        var cursor: String?
        repeat {
            let path = "/public-api/api-keys?page_size=2" + (cursor.map { "&cursor=\($0)" } ?? "")
            let r = try server.request("GET", path)
            XCTAssertEqual(r.status, 200)
            let items = r.data?.arrayValue ?? []
            XCTAssertLessThanOrEqual(items.count, 2)
            seen += items.compactMap { $0["id"]?.stringValue }
            cursor = r.json?["meta"]?["pagination"]?["next_cursor"]?.stringValue
            XCTAssertEqual(r.json?["meta"]?["pagination"]?["has_more"]?.boolValue, cursor != nil)
        } while cursor != nil
        XCTAssertEqual(seen.count, Set(seen).count)
        let ids = seen.compactMap { Int($0) }
        XCTAssertEqual(ids, ids.sorted(by: >), "newest first")
        let all = try server.request("GET", "/public-api/api-keys?page_size=200").data?.arrayValue?.count
        XCTAssertEqual(seen.count, all)
    }

    func test_pagination_rejectsBadParameters() throws {
        for q in ["page_size=0", "page_size=201", "page_size=abc", "cursor=garbage!!", "page_size=1&page_size=2"] {
            let r = try server.request("GET", "/public-api/api-keys?\(q)")
            XCTAssertEqual(r.status, 400, q)
            XCTAssertEqual(r.errorCode, "BAD_REQUEST", q)
        }
    }

    func test_crossTenant_keysAreInvisible() throws {
        let otherAdmin = try server.adminKey(forTenant: "tenant-b-\(UUID().uuidString.prefix(6))")
        let mine = try server.request("POST", "/public-api/api-keys", json: ["name": "tenant-a-key"])
        let id = try XCTUnwrap(mine.data?["id"]?.stringValue)
        XCTAssertEqual(try server.request("GET", "/public-api/api-keys/\(id)", key: otherAdmin).status, 404)
        XCTAssertEqual(try server.request("DELETE", "/public-api/api-keys/\(id)", key: otherAdmin).status, 404)
        XCTAssertEqual(try server.request("POST", "/public-api/api-keys/\(id)/rotate", key: otherAdmin).status, 404)
        let list = try server.request("GET", "/public-api/api-keys?page_size=200", key: otherAdmin)
        XCTAssertEqual(list.data?.arrayValue?.count, 1, "only its own admin key")
        XCTAssertNotEqual(try server.request("GET", "/public-api/tenant", key: otherAdmin).data?["name"], "default")
        XCTAssertEqual(try server.request("GET", "/public-api/api-keys/\(id)").status, 200)
    }

    func test_fullKeys_neverAppearInTheLog() throws {
        let key = try server.createKey(["name": "secret-check"])
        _ = try server.request("GET", "/public-api/tenant", key: key)
        _ = try server.request("GET", "/public-api/api-keys")
        usleep(100_000)
        XCTAssertFalse(server.log.contains(key))
        XCTAssertFalse(server.log.contains(TestServer.adminKey))
        XCTAssertFalse(try server.request("GET", "/public-api/api-keys?page_size=200").text.contains(key))
    }

    func test_everyRoute_isInTheOpenAPISpecAndViceVersa() throws {
        let (status, out) = try server.cli(["routes"])
        XCTAssertEqual(status, 0)
        let all = Set(out.split(separator: "\n").map(String.init))
        // The console's page and files (design §14) are not part of the public API, so not in its spec.
        let console: Set = ["GET /", "GET /console/{file}"]
        // /metrics (design §12) is outside /public-api too, and documented.
        XCTAssertEqual(all.filter { !$0.contains(" /public-api/") }, console.union(["GET /metrics"]),
                       "only the console and /metrics live outside /public-api")
        let routes = all.subtracting(console)
        let spec = try XCTUnwrap(try server.request("GET", "/public-api/openapi.json", key: nil).json)
        var documented = Set<String>()
        for (path, item) in spec["paths"]?.objectValue ?? JSONObject() {
            for (method, _) in item.objectValue ?? JSONObject() { documented.insert("\(method.uppercased()) \(path)") }
        }
        XCTAssertEqual(routes.subtracting(documented), [], "routes missing from the spec")
        XCTAssertEqual(documented.subtracting(routes), [], "spec paths the router lacks")
    }

    /// Generated clients name their functions after operationIds (Neo's docs names: listAgents, runAgentNow, ...).
    func test_everyOperation_hasAUniqueCamelCaseOperationId() throws {
        let spec = try XCTUnwrap(try server.request("GET", "/public-api/openapi.json", key: nil).json)
        var owners: [String: String] = [:]
        for (path, item) in spec["paths"]?.objectValue ?? JSONObject() {
            for (method, operation) in item.objectValue ?? JSONObject() {
                let route = "\(method.uppercased()) \(path)"
                guard let id = operation["operationId"]?.stringValue else { XCTFail("\(route) has no operationId"); continue }
                let camelCase = id.first.map { $0.isASCII && $0.isLowercase } == true
                    && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
                XCTAssertTrue(camelCase, "\(route): operationId \(id) is not camelCase")
                XCTAssertNil(owners[id], "operationId \(id) is used by \(owners[id] ?? "") and \(route)")
                owners[id] = route
            }
        }
        XCTAssertEqual(owners["listAgents"], "GET /public-api/agents")
        XCTAssertEqual(owners["runAgentNow"], "POST /public-api/agents/{agent_id}/run-now")
        XCTAssertEqual(owners["decideTilRequest"], "POST /public-api/til-requests/{request_id}/decision")
    }
}

/// Rate limiting, restarts and migrations each need their own server.
final class StoreLifecycleTests: XCTestCase {
    func test_rateLimit_reaches429AndRecovers() throws {
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "5", "NEO_RATE_WINDOW": "2"])
        defer { server.stop() }
        // Start at the beginning of a window so the five requests share it.
        let now = Date().timeIntervalSince1970
        let wait = 2 - now.truncatingRemainder(dividingBy: 2)
        if wait < 1.5 { Thread.sleep(forTimeInterval: wait + 0.05) }
        var last: TestResponse?
        for i in 0..<5 {
            last = try server.request("GET", "/public-api/tenant")
            XCTAssertEqual(last?.status, 200, "request \(i)")
            XCTAssertEqual(last?.headers["x-ratelimit-limit"], "5")
            XCTAssertEqual(last?.headers["x-ratelimit-remaining"], String(4 - i))
            XCTAssertNotNil(last?.headers["x-ratelimit-reset"].flatMap { Int($0) })
        }
        let limited = try server.request("GET", "/public-api/tenant")
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(limited.errorCode, "RATE_LIMITED")
        let retry = try XCTUnwrap(limited.headers["retry-after"].flatMap { Int($0) })
        XCTAssertGreaterThanOrEqual(retry, 1)
        XCTAssertEqual(limited.headers["x-ratelimit-remaining"], "0")
        // The health check is not authenticated and not limited.
        XCTAssertEqual(try server.request("GET", "/public-api/health", key: nil).status, 200)
        Thread.sleep(forTimeInterval: Double(retry) + 0.2)
        XCTAssertEqual(try server.request("GET", "/public-api/tenant").status, 200)
    }

    func test_restart_keepsData() throws {
        let first = try TestServer()
        let key = try first.createKey(["name": "survivor"])
        XCTAssertEqual(first.stop(), 0)
        let second = try TestServer(directory: first.directory)
        defer { second.stop() }
        XCTAssertEqual(try second.request("GET", "/public-api/tenant", key: key).status, 200)
        XCTAssertFalse(second.printed.contains("installed the admin key"), "bootstrap is idempotent")
    }

    func test_firstStartWithoutBootstrapKey_printsOneAdminKeyOnce() throws {
        let first = try TestServer(environment: ["NEO_BOOTSTRAP_ADMIN_KEY": ""])
        let lines = first.printed.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let key = try XCTUnwrap(lines.first { $0.hasPrefix("neo_sk_prod_") })
        XCTAssertEqual(try first.request("GET", "/public-api/api-keys", key: key).status, 200)
        XCTAssertFalse(first.log.contains(key))
        XCTAssertEqual(first.stop(), 0)
        let second = try TestServer(environment: ["NEO_BOOTSTRAP_ADMIN_KEY": ""], directory: first.directory)
        defer { second.stop() }
        XCTAssertFalse(second.printed.contains("neo_sk_"), "no second admin key once one exists")
    }

    func test_migrate_onEmptyThenMigratedDB_andRefusesNewerSchema() throws {
        let server = try TestServer()
        server.stop()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neo-migrate-\(UUID().uuidString)")
        let env = ["NEO_DB": dir.appendingPathComponent("fresh.db").path]
        func cli(_ args: [String]) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestServer.binary)
            p.arguments = args
            p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, out)
        }
        let (s1, o1) = try cli(["migrate"])
        XCTAssertEqual(s1, 0, o1)
        XCTAssertTrue(o1.contains("applied migrations 1"), o1)
        let (s2, o2) = try cli(["migrate"])
        XCTAssertEqual(s2, 0)
        XCTAssertTrue(o2.contains("up to date"), o2)
        // A database written by a newer binary.
        let (s3, _) = try cli(["keys", "create", "--tenant", "x", "--create-tenant"])
        XCTAssertEqual(s3, 0)
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sqlite.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO schema_migrations VALUES (9999,'future','2030-01-01T00:00:00.000Z')\"); c.commit()", env["NEO_DB"]!]
        try sqlite.run()
        sqlite.waitUntilExit()
        XCTAssertEqual(sqlite.terminationStatus, 0)
        let (s4, o4) = try cli(["serve", "--port", "0"])
        XCTAssertNotEqual(s4, 0)
        XCTAssertTrue(o4.contains("9999"), o4)
    }

    func test_badConfiguration_stopsStartupNamingTheVariable() throws {
        for (name, value, accepted) in [("NEO_PORT", "eighty", "0...65535"), ("NEO_UPSTREAM_POLICY", "open", "public, private, any, loopback"),
                                        ("NEO_LOG_LEVEL", "loud", "debug, info, warn, error")] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestServer.binary)
            p.arguments = ["serve"]
            p.environment = ProcessInfo.processInfo.environment.merging([name: value, "NEO_DB": "/tmp/never-\(UUID().uuidString).db"]) { $1 }
            let pipe = Pipe()
            p.standardError = pipe
            p.standardOutput = Pipe()
            try p.run()
            let err = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 2, name)
            XCTAssertTrue(err.contains(name) && err.contains(accepted), err)
        }
    }
}

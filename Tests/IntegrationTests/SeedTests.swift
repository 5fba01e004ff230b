import Foundation
import NeoJSON
import XCTest

/// CI fixtures (design §12): `serve --seed FILE` and the offline `seed FILE`, through the real binary.
final class SeedTests: XCTestCase {
    static let ciKey = "neo_sk_test_SeedFixtureAdmin0123456789abcd"
    static let secret = "CANARY-seed-secret-4d1f"

    func fixture(agents: Int = 3, description: String = "seeded", role: String = "admin") -> JSON {
        var list: [JSON] = []
        for i in 0..<agents {
            list.append(["name": .string("seeded \(i)"), "trigger_type": "NONE", "description": .string(description), "actions": [
                ["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": "tickets", "path": "/t"]],
            ]])
        }
        return [
            "tenant": "default",
            "settings": ["timezone": "Europe/Berlin", "human_friendly_client_name": "CI"],
            "keys": [["key": .string(Self.ciKey), "name": "ci", "role": .string(role)],
                     ["name": "ci reader", "permissions": ["agents": "read", "executions": "none"]]],
            "external_apis": [["name": "tickets", "endpoint_url": "https://api.example.invalid/v1", "method": "GET",
                               "auth": ["type": "bearer", "token": .string(Self.secret)]]],
            "agents": .array(list),
        ]
    }

    func write(_ json: JSON, in directory: URL, name: String = "fixture.json") throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(json.serialized()).write(to: url)
        return url.path
    }

    func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("neo-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    func test_serveSeed_loadsEverything_andASecondStartChangesNothing() throws {
        let dir = try scratch()
        let path = try write(fixture(), in: dir)
        let first = try TestServer(environment: ["NEO_RATE_LIMIT": "0"], directory: dir, arguments: ["--seed", path])
        XCTAssertTrue(first.printed.contains("seeded \(path): "), first.printed)
        XCTAssertTrue(first.printed.contains("created key 'ci reader' for tenant 'default'"), first.printed)
        XCTAssertFalse(first.printed.contains(Self.ciKey), "a key the fixture gives is not printed")
        let agents = try first.request("GET", "/public-api/agents?q=seeded", key: Self.ciKey)
        XCTAssertEqual(agents.status, 200, agents.text)
        XCTAssertEqual(agents.data?.arrayValue?.count, 3)
        XCTAssertNil(agents.json?["meta"]?["warnings"], "the agents' external API exists: no run warning")
        let api = try first.request("GET", "/public-api/external-apis/tickets", key: Self.ciKey)
        XCTAssertEqual(api.data?["auth"]?["token"]?.stringValue, "***")
        XCTAssertEqual(try first.request("GET", "/public-api/settings", key: Self.ciKey).data?["timezone"]?.stringValue, "Europe/Berlin")
        let reader = try XCTUnwrap(first.printed.split(separator: "\n").first { $0.hasPrefix("  neo_sk_") }).trimmingCharacters(in: .whitespaces)
        XCTAssertEqual(try first.request("GET", "/public-api/agents", key: reader).status, 200)
        XCTAssertEqual(try first.request("GET", "/public-api/executions", key: reader).status, 403)
        XCTAssertEqual(first.stop(), 0)
        for file in ["neo.db", "neo.db-wal"] {
            let bytes = (try? Data(contentsOf: dir.appendingPathComponent(file))) ?? Data()
            XCTAssertNil(bytes.range(of: Data(Self.secret.utf8)), "secrets are sealed on load (\(file))")
        }

        let second = try TestServer(environment: ["NEO_RATE_LIMIT": "0"], directory: dir, arguments: ["--seed", path])
        defer { second.stop() }
        XCTAssertTrue(second.printed.contains("seeded \(path): 0 created, 0 updated, 7 unchanged"), second.printed)
        XCTAssertFalse(second.printed.contains("neo_sk_"), second.printed)
        let again = try second.request("GET", "/public-api/agents?q=seeded", key: Self.ciKey)
        XCTAssertEqual(again.data?.arrayValue?.count, 3)
        XCTAssertTrue(again.data?.arrayValue?.allSatisfy { $0["version"]?.intValue == 1 } ?? false)
    }

    func test_offlineSeed_updatesWhatDiffers_andAuditsAsTheCLI() throws {
        let dir = try scratch()
        let env = ["NEO_DB": dir.appendingPathComponent("neo.db").path]
        let path = try write(fixture(agents: 2), in: dir)
        let first = try runNeoServer(["seed", path], in: dir, environment: env)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("5 created, 1 updated, 0 unchanged"), first.stdout)
        // Another description and a member role: the agents and the key are updated in place.
        let changed = try write(fixture(agents: 2, description: "changed", role: "member"), in: dir)
        let second = try runNeoServer(["seed", changed], in: dir, environment: env)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stdout.contains("0 created, 3 updated, 3 unchanged"), second.stdout)
        // The offline command works on the file it names, so the server opens that file too (under make test-pg as well).
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "0"].merging(env) { $1 }, directory: dir)
        defer { server.stop() }
        let list = try server.request("GET", "/public-api/agents?q=seeded")
        XCTAssertEqual(list.data?.arrayValue?.map { $0["description"]?.stringValue ?? "" }, ["changed", "changed"])
        XCTAssertTrue(list.data?.arrayValue?.allSatisfy { $0["version"]?.intValue == 2 } ?? false)
        XCTAssertEqual(try server.request("GET", "/public-api/api-keys", key: Self.ciKey).status, 403, "the ci key is a member now")
        let audit = try server.request("GET", "/public-api/audit-log?resource_type=agent&page_size=200").data?.arrayValue ?? []
        XCTAssertEqual(audit.filter { $0["route"]?.stringValue == "seed" && $0["actor"]?.stringValue == "cli" }.count, 4)
    }

    func test_aBadEntry_stopsTheStartNamingIt_storesNothing_printsNoKey() throws {
        let dir = try scratch()
        var body = fixture(agents: 5).objectValue!
        var agents = body["agents"]!.arrayValue!
        agents[3] = ["name": "broken", "trigger_type": "SOMETIMES", "actions": []]
        body["agents"] = .array(agents)
        let path = try write(.object(body), in: dir)
        let env = ["NEO_DB": dir.appendingPathComponent("db/neo.db").path, "NEO_PORT": "0", "NEO_BOOTSTRAP_ADMIN_KEY": TestServer.adminKey]
        let run = try runNeoServer(["serve", "--seed", path], in: dir, environment: env)
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("agents[3].trigger_type"), run.stderr)
        XCTAssertFalse(run.stdout.contains("neo_sk_") || run.stderr.contains("neo_sk_"), run.stdout)
        XCTAssertFalse(run.stdout.contains("listening"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("db").path), "no database was created")

        // An existing database: a problem only the store can show (a key of another tenant) stores nothing either.
        let file = ["NEO_DB": dir.appendingPathComponent("neo.db").path]  // the offline seed below names this file
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "0"].merging(file) { $1 }, directory: dir)
        let other = try server.adminKey(forTenant: "elsewhere")
        server.stop()
        var stolen = fixture(agents: 2).objectValue!
        stolen["keys"] = [["key": .string(other), "name": "not yours", "role": "admin"]]
        let stolenPath = try write(.object(stolen), in: dir, name: "stolen.json")
        let refused = try runNeoServer(["seed", stolenPath], in: dir, environment: ["NEO_DB": dir.appendingPathComponent("neo.db").path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("keys[0].key: is a key of another tenant"), refused.stderr)
        let after = try TestServer(environment: ["NEO_RATE_LIMIT": "0"].merging(file) { $1 }, directory: dir)
        defer { after.stop() }
        XCTAssertEqual(try after.request("GET", "/public-api/agents?q=seeded").data?.arrayValue?.count, 0, "the agents before it were not stored")
        XCTAssertEqual(try after.request("GET", "/public-api/external-apis").data?.arrayValue?.count, 0)
    }

    /// `serve --seed` on a new database creates and migrates it while another thread parses the fixture; on an existing
    /// one the fixture is parsed first. Either way a refused fixture leaves nothing: no new database, and an existing
    /// database's files byte for byte as they were.
    func test_aRefusedFixture_leavesNoNewDatabase_andAnExistingOneUntouched() throws {
        let dir = try scratch()
        let missing = dir.appendingPathComponent("nowhere.json").path
        let newDB = ["NEO_DB": dir.appendingPathComponent("fresh/db/neo.db").path, "NEO_PORT": "0", "NEO_BOOTSTRAP_ADMIN_KEY": TestServer.adminKey]
        let unreadable = try runNeoServer(["serve", "--seed", missing], in: dir, environment: newDB)
        XCTAssertEqual(unreadable.status, 1)
        XCTAssertTrue(unreadable.stderr.contains("cannot read fixture \(missing)"), unreadable.stderr)
        XCTAssertFalse(unreadable.stdout.contains("listening") || unreadable.stdout.contains("neo_sk_"), unreadable.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("fresh").path), "no database was created")

        let file = ["NEO_DB": dir.appendingPathComponent("neo.db").path]
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "0"].merging(file) { $1 }, directory: dir)
        server.stop()
        func files() -> [String: Data] {
            var out: [String: Data] = [:]
            for suffix in ["", "-wal", "-shm"] { out[suffix] = FileManager.default.contents(atPath: file["NEO_DB"]! + suffix) }
            return out
        }
        let before = files()
        var body = fixture(agents: 4).objectValue!
        var agents = body["agents"]!.arrayValue!
        agents[2] = ["name": "broken", "trigger_type": "NONE", "actions": [], "schedule": ["cron": "61 * * * *"]]
        body["agents"] = .array(agents)
        let bad = try write(.object(body), in: dir, name: "bad.json")
        let refused = try runNeoServer(["serve", "--seed", bad], in: dir, environment: file.merging(["NEO_PORT": "0"]) { $1 })
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("agents[2].schedule.cron"), refused.stderr)
        XCTAssertFalse(refused.stdout.contains("listening"))
        XCTAssertEqual(files(), before, "the existing database was not opened for writing")
    }

    func test_manyTenants_eachGetsItsOwn() throws {
        let dir = try scratch()
        let keyA = "neo_sk_test_TenantAlphaKey0123456789abcdef", keyB = "neo_sk_test_TenantBetaKey01234567890abcdef"
        let body: JSON = ["tenants": [
            ["tenant": "alpha", "keys": [["key": .string(keyA), "name": "a", "role": "admin"]],
             "agents": [["name": "shared name", "trigger_type": "NONE", "actions": []]]],
            ["tenant": "beta", "keys": [["key": .string(keyB), "name": "b", "role": "admin"]],
             "agents": [["name": "shared name", "trigger_type": "NONE", "actions": []], ["name": "beta only", "trigger_type": "NONE", "actions": []]]],
        ]]
        let path = try write(body, in: dir)
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "0"], directory: dir, arguments: ["--seed", path])
        defer { server.stop() }
        XCTAssertEqual(try server.request("GET", "/public-api/agents", key: keyA).data?.arrayValue?.count, 1)
        XCTAssertEqual(try server.request("GET", "/public-api/agents", key: keyB).data?.arrayValue?.count, 2)
        XCTAssertEqual(try server.request("GET", "/public-api/tenant", key: keyB).data?["name"]?.stringValue, "beta")
        let dup: JSON = ["tenants": [["tenant": "alpha"], ["tenant": "alpha"]], "extra": 1]
        let dupRun = try runNeoServer(["seed", try write(dup, in: dir, name: "dup.json")], in: dir,
                                      environment: ["NEO_DB": dir.appendingPathComponent("neo.db").path])
        XCTAssertEqual(dupRun.status, 1)
        XCTAssertTrue(dupRun.stderr.contains("tenants[1].tenant: 'alpha' is given twice"), dupRun.stderr)
    }
}

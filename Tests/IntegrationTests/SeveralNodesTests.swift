import Basics
import Foundation
import NeoJSON
import XCTest

/// Several nodes on one PostgreSQL (design §11): NEO_RATE_LIMIT_MODE=shared holds a tenant's limit across nodes,
/// NEO_OAUTH_REFRESH=shared fetches a token once for all of them (kept sealed), and a chat stream tailed on one
/// node carries the parts another node produced, numbered as one sequence. Two or three `neo-server serve`
/// processes share one schema (TestServer with the same directory). The tests that need PostgreSQL run under
/// `make test-pg`; the settings' validation and their SQLite behaviour always run.
final class SeveralNodesSettingsTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("neo-nodes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func test_badModes_stopStartNamingTheSetting() throws {
        for (name, value, accepted) in [("NEO_RATE_LIMIT_MODE", "cluster", "local, shared"), ("NEO_OAUTH_REFRESH", "everywhere", "local, shared"),
                                        ("NEO_CHAT_POLL_MS", "1", "10...10000")] {
            let run = try runNeoServer(["serve"], in: scratch, environment: ["NEO_PORT": "0", "NEO_DB": scratch.appendingPathComponent("neo.db").path, name: value])
            XCTAssertNotEqual(run.status, 0, "\(name)=\(value) started")
            XCTAssertTrue(run.stderr.contains(name) && run.stderr.contains(accepted) && run.stderr.contains(value), run.stderr)
        }
    }

    /// On SQLite (one node) shared mode is accepted, says it changes nothing, and limits as local mode does.
    func test_sharedOnSQLite_startsWithANote_andLimitsInMemory() throws {
        guard ProcessInfo.processInfo.environment["NEO_TEST_DB"]?.isEmpty ?? true else { throw XCTSkip("a SQLite test") }
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "3", "NEO_RATE_LIMIT_MODE": "shared", "NEO_OAUTH_REFRESH": "shared"])
        defer { server.stop() }
        let statuses = try (0..<4).map { _ in try server.request("GET", "/public-api/agents").status }
        XCTAssertEqual(statuses, [200, 200, 200, 429])
        XCTAssertTrue(server.log.contains("have no effect on SQLite"), server.log)
        XCTAssertEqual(try server.sql("SELECT COUNT(*) AS n FROM rate_limit_windows").first?["n"], 0)
    }
}

final class SeveralNodesTests: AgenticTestCase {
    nonisolated(unsafe) static var nodes: [TestServer] = []

    override class func setUp() {
        // The base class's setUp makes the first node (and the upstream) with its own environment; these need theirs.
        guard !(ProcessInfo.processInfo.environment["NEO_TEST_DB"]?.isEmpty ?? true) else { return }
        let env = ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_OAUTH_REFRESH": "shared", "NEO_CHAT_POLL_MS": "50"]
        server = try! TestServer(environment: env)
        nodes = [server] + (0..<2).map { _ in try! TestServer(environment: env, directory: server.directory) }
        upstream = try! PythonUpstream(expect: canaries, directory: server.directory)
    }

    override class func tearDown() {
        for node in nodes.dropFirst() { node.stop() }
        if server != nil { upstream.stop(); server.stop() }
    }

    override func setUpWithError() throws {
        guard !Self.nodes.isEmpty else { throw XCTSkip("NEO_TEST_DB is not set (make test-pg runs this against a real PostgreSQL)") }
        try super.setUpWithError()
    }

    override func tearDown() {
        guard !Self.nodes.isEmpty else { return }
        super.tearDown()
    }

    func on(_ node: Int, _ method: String, _ path: String, _ json: JSON? = nil) throws -> TestResponse {
        try Self.nodes[node].request(method, path, key: key, json: json)
    }

    // MARK: rate limits

    /// Two nodes with a limit of 6 per tenant: shared, 6 requests alternating between them pass and the 7th is
    /// refused on either node with local mode's 429 envelope and headers; local, each node allows its own 6.
    func test_sharedRateLimit_holdsAcrossNodes_localCountsPerNode() throws {
        for mode in ["shared", "local"] {
            let env = ["NEO_RATE_LIMIT": "6", "NEO_RATE_LIMIT_MODE": mode]
            let a = try TestServer(environment: env, directory: server.directory)
            defer { a.stop() }
            let b = try TestServer(environment: env, directory: server.directory)
            defer { b.stop() }
            let tenantKey = try a.adminKey(forTenant: "limits-\(mode)-\(UUID().uuidString.prefix(6))")
            var remaining: [String] = []
            for i in 0..<6 {
                let r = try (i % 2 == 0 ? a : b).request("GET", "/public-api/agents", key: tenantKey)
                XCTAssertEqual(r.status, 200, "\(mode) request \(i): \(r.text)")
                XCTAssertEqual(r.headers["x-ratelimit-limit"], "6")
                remaining.append(r.headers["x-ratelimit-remaining"] ?? "?")
            }
            let seventh = try b.request("GET", "/public-api/agents", key: tenantKey)
            if mode == "shared" {
                XCTAssertEqual(remaining, ["5", "4", "3", "2", "1", "0"], "one budget across the nodes")
                XCTAssertEqual(seventh.status, 429, seventh.text)
                XCTAssertEqual(seventh.errorCode, "RATE_LIMITED")
                XCTAssertEqual(seventh.headers["x-ratelimit-remaining"], "0")
                let retry = Int(seventh.headers["retry-after"] ?? "") ?? 0
                XCTAssertTrue(retry >= 1 && retry <= 120, "Retry-After \(retry)")
                let reset = Int(seventh.headers["x-ratelimit-reset"] ?? "") ?? 0
                XCTAssertEqual(Double(reset), Date().timeIntervalSince1970, accuracy: 61, "the window's end, Unix seconds")
                XCTAssertEqual(try a.request("GET", "/public-api/agents", key: tenantKey).status, 429, "refused on the other node too")
                // Another tenant has its own row; the refusals were not counted.
                let other = try a.adminKey(forTenant: "limits-other-\(UUID().uuidString.prefix(6))")
                XCTAssertEqual(try b.request("GET", "/public-api/agents", key: other).headers["x-ratelimit-remaining"], "5")
                let counted = try a.sql("SELECT SUM(this_count) AS n FROM rate_limit_windows WHERE budget = 'keys'").first?["n"]
                XCTAssertEqual(counted, 7)
            } else {
                XCTAssertEqual(remaining, ["5", "5", "4", "4", "3", "3"], "each node its own budget")
                XCTAssertEqual(seventh.status, 200, seventh.text)
            }
        }
    }

    // MARK: OAuth2 refresh lease

    /// Three nodes asked at once for a call needing an OAuth2 token make one token request between them (the token
    /// endpoint answers after 0.5 s, so all of them ask while it runs); the token is stored sealed, never plain.
    func test_sharedOAuthRefresh_threeNodesAtOnce_oneTokenRequest_storedSealed() throws {
        let oauth: JSON = ["type": "oauth2_client_credentials", "token_url": .string(upstreamBase + "/token/slow"),
                           "params": [["key": "grant_type", "value": "client_credentials"], ["key": "client_id", "value": "neo"],
                                      ["key": "client_secret", "value": .string(Self.canaries["client_secret"]!), "secret": true]],
                           "token_auth": ["username": "tu", "password": .string(Self.canaries["token_auth"]!)]]
        try api(["name": "crm_oauth", "endpoint_url": .string(upstreamBase + "/check/oauth"), "method": "GET", "auth": oauth,
                 "requires_approval": false])
        let before = try tokenGrants()
        let results = Lock<[Int: (Int, String)]>([:])
        let nodes = Self.nodes, key = key
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            let r = try? nodes[i % 3].request("POST", "/public-api/external-apis/crm_oauth/invoke", key: key, json: [:])
            results.withLock { $0[i] = (r?.status ?? 0, r?.data?["body"]?.stringValue ?? r?.text ?? "") }
        }
        for (i, r) in results.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(r.0, 200, "call \(i): \(r.1)")
            XCTAssertEqual(r.1, #"{"ok": true}"#, "call \(i) carried a token")
        }
        XCTAssertEqual(try tokenGrants() - before, 1, "one token request for three nodes")
        let rows = try server.sql("SELECT token_sealed, token_sha256, holder FROM oauth_token_leases")
        XCTAssertEqual(rows.count, 1)
        let sealed = rows.first?["token_sealed"]?.stringValue ?? ""
        XCTAssertTrue(sealed.hasPrefix("v1:") && !sealed.contains("tok-"), "sealed, not plain: \(sealed.prefix(12))…")
        XCTAssertEqual(rows.first?["holder"], .null, "the lease ended with the fetch")
        for node in Self.nodes { XCTAssertFalse(node.log.contains("tok-"), "no token in a log") }
    }

    /// The Python upstream's count of granted tokens.
    func tokenGrants() throws -> Int {
        try api(["name": .string("stats_\(UUID().uuidString.prefix(6).lowercased())"), "endpoint_url": .string(upstreamBase + "/stats"), "method": "GET",
                 "requires_approval": false])
        let names = try call("GET", "/public-api/external-apis?page_size=200").data?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        let name = try XCTUnwrap(names.first { $0.hasPrefix("stats_") })
        let r = try call("POST", "/public-api/external-apis/\(name)/invoke", [:])
        _ = try call("DELETE", "/public-api/external-apis/\(name)")
        let body = try JSON.parse(Array((r.data?["body"]?.stringValue ?? "").utf8))
        return Int(body["tokens"]?.intValue ?? -1)
    }

    // MARK: chat streams

    /// Live tailers on all three nodes get every part of a turn posted to node A; a turn posted to node B continues the
    /// numbering; a tailer on A resumes from B's since_cursor; every node replays the same parts under the ids 1…n.
    func test_chatStream_tailedOnAnotherNode_oneNumberingAcrossNodes() throws {
        try provider()
        let agent = try call("POST", "/public-api/agents", ["name": "desk", "trigger_type": "NONE", "autonomy_type": "CONVERSATIONAL", "actions": [],
                                                            "agent_settings": ["custom_instructions": "Help."]])
        XCTAssertEqual(agent.status, 201, agent.text)
        let created = try on(0, "POST", "/public-api/chat/sessions", ["agent_id": .int(Int64(agent.data?["id"]?.stringValue ?? "") ?? 0)])
        let id = try XCTUnwrap(created.data?["id"]?.stringValue, created.text)
        let path = "/public-api/chat/sessions/\(id)/events"
        model.add(ScriptedModelServer.openAIStream(["Hello ", "from ", "a node."], pause: 0.02),
                  ScriptedModelServer.openAIStream(["And ", "again."], pause: 0.02))

        // A live tailer on every node: whichever node's runner claims a turn (the one it was posted to, unless another
        // looked first), two of them are on other nodes.
        let live = try Self.nodes.map { node -> SSETail in
            let t = try SSETail(port: node.port, path: path + "?since=0", key: key)
            XCTAssertTrue(t.read(until: { $0.comments.contains("stream open") }, timeout: 5), t.text)
            return t
        }
        let onB = live[1]
        let first = try on(0, "POST", "/public-api/chat/sessions/\(id)/messages", ["message": "hi"])
        XCTAssertEqual(first.status, 202, first.text)
        XCTAssertTrue(onB.waitFor("finish"), "node B saw: \(onB.types)")
        XCTAssertEqual(onB.text_, "Hello from a node.")

        let second = try on(1, "POST", "/public-api/chat/sessions/\(id)/messages", ["message": "again?"])
        XCTAssertEqual(second.status, 202, second.text)
        let cursor = try XCTUnwrap(Int64(second.data?["since_cursor"]?.stringValue ?? ""), second.text)
        XCTAssertEqual(cursor, onB.events.last?.id, "the cursor follows the parts node A produced")
        let onA = try SSETail(port: Self.nodes[0].port, path: path + "?since=\(cursor)", key: key)
        XCTAssertTrue(onA.waitFor("finish"), "node A saw: \(onA.types)")
        XCTAssertTrue(onB.waitFor("finish", count: 2), "node B saw: \(onB.types)")
        XCTAssertEqual(onA.events.first?.id, cursor + 1)
        XCTAssertEqual(onA.text_, "And again.")

        let replays = try (0..<3).map { node -> SSETail in
            let t = try SSETail(port: Self.nodes[node].port, path: path + "?since=0", key: key)
            XCTAssertTrue(t.waitFor("finish", count: 2), "node \(node) replayed: \(t.types)")
            return t
        }
        let ids = replays[0].events.map(\.id)
        XCTAssertEqual(ids, Array(1...Int64(ids.count)), "one sequence, no gap, no repeat")
        for (node, t) in live.enumerated() {
            XCTAssertTrue(t.waitFor("finish", count: 2), "node \(node) live: \(t.types)")
            XCTAssertEqual(t.events.map(\.id), ids, "the live tailer on node \(node) got exactly the stored parts")
            XCTAssertEqual(t.events.map(\.part), replays[0].events.map(\.part))
        }
        for t in replays.dropFirst() {
            XCTAssertEqual(t.events.map(\.id), ids)
            XCTAssertEqual(t.events.map(\.part), replays[0].events.map(\.part))
        }
        XCTAssertEqual(replays[2].text_, "Hello from a node.And again.")
    }
}

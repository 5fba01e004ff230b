import Basics
import Foundation
import NeoJSON
import XCTest

/// Design §12 through the real server: /metrics (parsed with PyPI prometheus-client), W3C traceparent on
/// requests, upstream calls and model calls, upstream retries, and Neo's performance endpoints, against
/// a recording Python upstream and a scripted model provider on 127.0.0.1.
final class OperationsTests: XCTestCase {
    static let metricsToken = "metrics-token-0123456789abcdef"
    // XCTest runs a class's setUp, tests and tearDown one after another on one thread.
    nonisolated(unsafe) static var server: TestServer!
    nonisolated(unsafe) static var upstream: RecordingUpstream!

    override class func setUp() {
        super.setUp()
        // One worker thread: a retry waiting for its backoff must not hold it (see the retry tests).
        server = try! TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_METRICS_TOKEN": metricsToken,
                                               "NEO_WORKERS": "1"])
        upstream = try! RecordingUpstream(directory: server.directory)
    }

    override class func tearDown() {
        upstream.stop()
        server.stop()
        super.tearDown()
    }

    var server: TestServer { Self.server }
    var upstream: RecordingUpstream { Self.upstream }

    /// A unique name for this test's configs and paths.
    func unique(_ prefix: String) -> String { "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())" }

    func api(_ name: String, _ path: String, method: String = "GET", retry: JSON? = nil, timeoutMs: Int = 15000) throws {
        var body: JSONObject = ["name": .string(name), "endpoint_url": .string(upstream.base + path), "method": .string(method),
                                "requires_approval": false, "timeout_ms": .int(Int64(timeoutMs))]
        if let retry { body["retry"] = retry }
        let r = try server.request("POST", "/public-api/external-apis", json: .object(body))
        XCTAssertEqual(r.status, 201, r.text)
    }

    func invoke(_ name: String, headers: [String: String] = [:]) throws -> TestResponse {
        try server.request("POST", "/public-api/external-apis/\(name)/invoke", json: [:], headers: headers)
    }

    func waitFor(_ id: String, key: String = TestServer.adminKey, timeout: Double = 20) throws -> JSON {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = try server.request("GET", "/public-api/executions/\(id)", key: key)
            if let s = r.data?["status"]?.stringValue, ["succeeded", "failed", "cancelled"].contains(s) { return r.data! }
            if Date() > deadline { XCTFail("execution \(id) still \(r.data?["status"] ?? .null)"); return r.data ?? .null }
            usleep(20_000)
        }
    }

    func steps(_ id: String) throws -> [JSON] {
        try server.request("GET", "/public-api/executions/\(id)/steps?page_size=200").data?.arrayValue ?? []
    }

    /// A CHAINED_ACTIONS agent whose one action calls `apiName`; returns its id.
    func chainedAgent(_ apiName: String) throws -> Int64 {
        let r = try server.request("POST", "/public-api/agents", json: [
            "name": .string(unique("agent")), "trigger_type": "TRIGGERED",
            "actions": [["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": .string(apiName)]]],
        ])
        XCTAssertEqual(r.status, 201, r.text)
        return Int64(r.data?["id"]?.stringValue ?? "") ?? -1
    }

    func runNow(_ agent: Int64, headers: [String: String] = [:]) throws -> String {
        let r = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: ["target_entity_id": "T-1"], headers: headers)
        XCTAssertEqual(r.status, 202, r.text)
        return r.data?["execution_id"]?.stringValue ?? ""
    }

    // MARK: metrics

    /// Every sample of a scrape as prometheus_client's parser reads it: `(name, labels, value)`.
    func scrape() throws -> [(name: String, labels: [String: String], value: Double)] {
        let r = try server.request("GET", "/metrics", key: nil, headers: ["Authorization": "Bearer \(Self.metricsToken)"])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        return try Self.parseWithPrometheusClient(r.text)
    }

    /// Runs prometheus_client.parser.text_string_to_metric_families (from .venv-metrics, which `make test` creates).
    static func parseWithPrometheusClient(_ text: String) throws -> [(name: String, labels: [String: String], value: Double)] {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let python = repo.appendingPathComponent(".venv-metrics/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw NSError(domain: "OperationsTests", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "\(python) is missing: run `make test`, or python3 -m venv .venv-metrics && .venv-metrics/bin/pip install prometheus-client"])
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = []
            for family in text_string_to_metric_families(sys.stdin.read()):
                for s in family.samples:
                    out.append([s.name, s.labels, s.value])
            print(json.dumps(out))
            """]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = errors
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "OperationsTests", code: 2, userInfo: [NSLocalizedDescriptionKey: "the parser refused the scrape: \(problems)"])
        }
        return (try JSON.parse([UInt8](data))).arrayValue?.map { s in
            let labels = s[1]?.objectValue.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key, $0.value.stringValue ?? "") }) } ?? [:]
            return (s[0]?.stringValue ?? "", labels, s[2]?.doubleValue ?? Double(s[2]?.intValue ?? 0))
        } ?? []
    }

    func value(_ samples: [(name: String, labels: [String: String], value: Double)], _ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }.reduce(0) { $0 + $1.value }
    }

    func test_metrics_withoutOrWithAWrongToken_is401InTheEnvelope() throws {
        for headers in [[:], ["Authorization": "Bearer not-the-token-at-all"], ["Authorization": "Basic \(Self.metricsToken)"]] {
            let r = try server.request("GET", "/metrics", key: nil, headers: headers)
            XCTAssertEqual(r.status, 401, r.text)
            XCTAssertEqual(r.errorCode, "UNAUTHORIZED")
            XCTAssertNotNil(r.json?["meta"]?["request_id"]?.stringValue)
            XCTAssertEqual(r.headers["www-authenticate"], #"Bearer realm="neo-server""#)
            XCTAssertFalse(r.text.contains(Self.metricsToken))
        }
    }

    func test_metrics_parseWithPrometheusClient_andMoveAfterRequests() throws {
        let name = unique("metrics")
        try api(name, "/ok/\(name)")
        let before = try scrape()
        XCTAssertEqual(try server.request("GET", "/public-api/agents/987654321").status, 404)
        XCTAssertEqual(try server.request("GET", "/public-api/agents").status, 200)
        XCTAssertEqual(try server.request("GET", "/no/such/route/5555").status, 404)
        XCTAssertEqual(try invoke(name).status, 200)
        let after = try scrape()

        let byId = ["method": "GET", "route": "/public-api/agents/{agent_id}"]
        XCTAssertEqual(value(after, "neo_http_requests_total", byId.merging(["status": "4xx"]) { a, _ in a })
                       - value(before, "neo_http_requests_total", byId.merging(["status": "4xx"]) { a, _ in a }), 1)
        XCTAssertGreaterThanOrEqual(value(after, "neo_http_requests_total", ["route": "/public-api/agents", "status": "2xx"])
                                    - value(before, "neo_http_requests_total", ["route": "/public-api/agents", "status": "2xx"]), 1)
        XCTAssertEqual(value(after, "neo_http_requests_total", ["route": "unmatched", "status": "4xx"])
                       - value(before, "neo_http_requests_total", ["route": "unmatched", "status": "4xx"]), 1)
        XCTAssertGreaterThan(value(after, "neo_http_request_duration_seconds_count", ["route": "/public-api/agents"]),
                             value(before, "neo_http_request_duration_seconds_count", ["route": "/public-api/agents"]))
        XCTAssertEqual(value(after, "neo_upstream_requests_total", ["kind": "external_api", "status": "2xx"])
                       - value(before, "neo_upstream_requests_total", ["kind": "external_api", "status": "2xx"]), 1)
        XCTAssertGreaterThan(value(after, "neo_upstream_request_duration_seconds_sum", ["kind": "external_api"]),
                             value(before, "neo_upstream_request_duration_seconds_sum", ["kind": "external_api"]))
        XCTAssertGreaterThanOrEqual(value(after, "neo_executions", ["kind": "external_api_invoke", "status": "succeeded"]), 1)
        XCTAssertGreaterThan(value(after, "neo_store_duration_seconds_count", ["op": "write"]),
                             value(before, "neo_store_duration_seconds_count", ["op": "write"]))
        XCTAssertGreaterThan(value(after, "process_resident_memory_bytes"), 1_000_000)
        XCTAssertGreaterThan(value(after, "process_open_fds"), 3)
        for family in ["neo_execution_queue_depth", "neo_oauth_token_fetches_total", "neo_oauth_token_cache_hits_total",
                       "neo_rate_limit_refusals_total", "neo_model_tokens_total"] {
            XCTAssertTrue(after.contains { $0.name == family }, "\(family) missing")
        }
        // Bounded labels: route templates only, never a raw path, id, config name or tenant.
        for sample in after {
            for (_, v) in sample.labels {
                XCTAssertFalse(v.contains("987654321") || v.contains("5555") || v.contains(name), "\(sample)")
            }
        }
    }

    func test_metrics_whenNeitherTokenNorAddressIsSet_is404() throws {
        let plain = try TestServer(environment: ["NEO_RATE_LIMIT": "0"])
        defer { plain.stop() }
        let r = try plain.request("GET", "/metrics", key: nil, headers: ["Authorization": "Bearer \(Self.metricsToken)"])
        XCTAssertEqual(r.status, 404, r.text)
        XCTAssertEqual(r.errorCode, "NOT_FOUND")
    }

    func test_metrics_onItsOwnListener_andNotOnTheAPIPort() throws {
        let separate = try TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_METRICS_ADDR": "127.0.0.1:0"])
        defer { separate.stop() }
        let found = separate.printed.range(of: #"metrics on http://127\.0\.0\.1:(\d+)/metrics"#, options: .regularExpression)
        let line = try XCTUnwrap(found.map { String(separate.printed[$0]) }, separate.printed)
        let port = try XCTUnwrap(Int(line.split(separator: ":").last!.split(separator: "/").first!))
        XCTAssertEqual(try separate.request("GET", "/metrics", key: nil).status, 404)
        let client = try RawClient(port: port)
        try client.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let r = try XCTUnwrap(TestResponse.parse(try client.readUntilClose(timeout: 10)).first)
        XCTAssertEqual(r.status, 200)
        let samples = try Self.parseWithPrometheusClient(r.text)
        XCTAssertTrue(samples.contains { $0.name == "neo_http_requests_total" })
    }

    // MARK: tracing

    let inbound = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    func test_trace_validTraceparent_keepsTheTraceIdWithANewSpan_toTheUpstreamAndTheLog() throws {
        let name = unique("traced")
        try api(name, "/ok/\(name)")
        let r = try invoke(name, headers: ["traceparent": inbound])
        XCTAssertEqual(r.status, 200, r.text)
        let answered = try XCTUnwrap(TraceContext.parse(r.headers["traceparent"] ?? ""), r.headers.description)
        XCTAssertEqual(answered.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertNotEqual(answered.spanId, "00f067aa0ba902b7")
        let sent = try XCTUnwrap(upstream.requests("/ok/\(name)").first?["headers"]?["traceparent"]?.stringValue)
        let upstreamSpan = try XCTUnwrap(TraceContext.parse(sent))
        XCTAssertEqual(upstreamSpan.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertNotEqual(upstreamSpan.spanId, "00f067aa0ba902b7")
        XCTAssertTrue(server.log.contains(#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736""#))
    }

    func test_trace_malformedTraceparent_isReplacedAndNeverEchoed() throws {
        let name = unique("badtrace")
        try api(name, "/ok/\(name)")
        let malformed = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"
        let r = try invoke(name, headers: ["traceparent": malformed])
        XCTAssertEqual(r.status, 200, r.text)
        let answered = try XCTUnwrap(TraceContext.parse(r.headers["traceparent"] ?? ""))
        XCTAssertNotEqual(answered.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertFalse(r.text.contains("4BF92F"))
        let sent = try XCTUnwrap(upstream.requests("/ok/\(name)").first?["headers"]?["traceparent"]?.stringValue)
        XCTAssertEqual(TraceContext.parse(sent)?.traceId, answered.traceId)
        XCTAssertFalse(server.log.contains("4BF92F"))
    }

    func test_tracestate_besideAValidTraceparent_goesToTheUpstreamAndTheTokenEndpoint_neverIntoTheResponse() throws {
        let name = unique("tstate")
        let body: JSONObject = ["name": .string(name), "endpoint_url": .string(upstream.base + "/ok/\(name)"), "method": "GET",
                                "requires_approval": false, "headers": [["name": "tracestate", "value": "configured=1"]],
                                "auth": ["type": "oauth2_client_credentials", "token_url": .string(upstream.base + "/token/\(name)"),
                                         "params": [["key": "grant_type", "value": "client_credentials"],
                                                    ["key": "client_secret", "value": "s3cret-tstate", "secret": true]]]]
        let created = try server.request("POST", "/public-api/external-apis", json: .object(body))
        XCTAssertEqual(created.status, 201, created.text)
        let r = try server.request("POST", "/public-api/external-apis/\(name)/invoke", json: [:], rawHeaders: [
            ("traceparent", inbound), ("tracestate", "rojo=00f067aa0ba902b7 , ,congo=t61rcWkgMzE"), ("tracestate", "fw529a3039@dt=x"),
        ])
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertNil(r.headers["tracestate"], "the response states our span only")
        XCTAssertFalse(r.text.contains("t61rcWkgMzE"))
        let expected = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,fw529a3039@dt=x"
        let call = try XCTUnwrap(upstream.requests("/ok/\(name)").first?["headers"])
        XCTAssertEqual(call["tracestate"]?.stringValue, expected, "the inbound list replaces a configured header")
        XCTAssertEqual(TraceContext.parse(call["traceparent"]?.stringValue ?? "")?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
        let token = try XCTUnwrap(upstream.requests("/token/\(name)").first?["headers"])
        XCTAssertEqual(token["tracestate"]?.stringValue, expected)
        XCTAssertEqual(TraceContext.parse(token["traceparent"]?.stringValue ?? "")?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
        XCTAssertFalse(server.log.contains("t61rcWkgMzE"), "not logged either")
    }

    func test_tracestate_invalidOrWithoutAValidTraceparent_isDropped_notAnError() throws {
        let name = unique("tstate_bad")
        try api(name, "/ok/\(name)")
        let cases: [(String, [String: String])] = [
            ("invalid list", ["traceparent": inbound, "tracestate": "Rojo=1,congo=2"]),
            ("a key twice", ["traceparent": inbound, "tracestate": "rojo=1,rojo=2"]),
            ("33 members", ["traceparent": inbound, "tracestate": (0..<33).map { "k\($0)=v" }.joined(separator: ",")]),
            ("no traceparent", ["tracestate": "rojo=1"]),
            ("a malformed traceparent", ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", "tracestate": "rojo=1"]),
        ]
        for (label, headers) in cases {
            let before = try upstream.requests("/ok/\(name)").count
            let r = try invoke(name, headers: headers)
            XCTAssertEqual(r.status, 200, "\(label): \(r.text)")
            XCTAssertNil(r.headers["tracestate"], label)
            let sent = try upstream.requests("/ok/\(name)")
            XCTAssertEqual(sent.count, before + 1, label)
            XCTAssertNil(sent.last?["headers"]?["tracestate"], "\(label): \(sent.last ?? .null)")
            if headers["traceparent"] == inbound {
                XCTAssertEqual(TraceContext.parse(sent.last?["headers"]?["traceparent"]?.stringValue ?? "")?.traceId,
                               "4bf92f3577b34da6a3ce929d0e0e4736", "\(label): the trace is kept")
            }
        }
    }

    func test_tracestate_runNowCarriesItToTheRunsUpstreamCalls() throws {
        let name = unique("runstate")
        try api(name, "/ok/\(name)")
        let id = try runNow(try chainedAgent(name), headers: ["traceparent": inbound, "tracestate": "congo=t61rcWkgMzE"])
        XCTAssertEqual(try waitFor(id)["status"], "succeeded")
        let sent = try XCTUnwrap(upstream.requests("/ok/\(name)").first?["headers"])
        XCTAssertEqual(sent["tracestate"]?.stringValue, "congo=t61rcWkgMzE")
        XCTAssertEqual(TraceContext.parse(sent["traceparent"]?.stringValue ?? "")?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736")
        let shown = try server.request("GET", "/public-api/executions/\(id)")
        XCTAssertFalse(shown.text.contains("t61rcWkgMzE"), "the execution does not show it")
    }

    func test_trace_absent_isCreated_andRunNowCarriesItToTheRunsUpstreamCalls() throws {
        let name = unique("runtrace")
        try api(name, "/ok/\(name)")
        let agent = try chainedAgent(name)
        let r = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: ["target_entity_id": "T-1"])
        XCTAssertEqual(r.status, 202, r.text)
        let created = try XCTUnwrap(TraceContext.parse(r.headers["traceparent"] ?? ""), "a traceparent is made when none came")
        let done = try waitFor(r.data?["execution_id"]?.stringValue ?? "")
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        let sent = try XCTUnwrap(upstream.requests("/ok/\(name)").first?["headers"]?["traceparent"]?.stringValue)
        XCTAssertEqual(TraceContext.parse(sent)?.traceId, created.traceId)
        XCTAssertNotEqual(TraceContext.parse(sent)?.spanId, created.spanId)
    }

    // MARK: upstream retries

    func test_retry_503Then200_secondAttemptAnswers_andEachAttemptIsAStep() throws {
        let name = unique("flaky")
        try api(name, "/flaky/\(name)/1/503", retry: ["max_attempts": 3, "backoff_ms": 50])
        let r = try invoke(name)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.data?["status"], 200)
        XCTAssertEqual(r.data?["attempt"], 2)
        XCTAssertEqual(r.data?["earlier_attempts"]?[0]?["status"], 503)
        XCTAssertEqual(try upstream.requests("/flaky/\(name)").count, 2)
        let s = try steps(r.data?["execution_id"]?.stringValue ?? "")
        XCTAssertEqual(s.map { $0["type"]?.stringValue ?? "" }, ["TOOL_CALL", "TOOL_RESULT", "TOOL_RESULT"])
        XCTAssertEqual(s[1]["data"]?["status"], 503)
        XCTAssertEqual(s[1]["is_error"], true)
        XCTAssertTrue(s[1]["message"]?.stringValue?.contains("attempt 1 answered 503; retrying in 50 ms") ?? false, "\(s[1])")
        XCTAssertEqual(s[2]["data"]?["status"], 200)
        XCTAssertEqual(s[2]["data"]?["attempt"], 2)
    }

    func test_retry_honoursRetryAfterSeconds_andHTTPDates_withoutHoldingAWorker() throws {
        for (label, ra) in [("seconds", "1"), ("date", "date:2")] {
            let name = unique("ra_\(label)")
            try api(name, "/flaky/\(name)/1/429?ra=\(ra)", retry: ["max_attempts": 2, "backoff_ms": 0])
            let box = Lock<TestResponse?>(nil)
            let server = self.server
            let t = Thread { let r = try? server.request("POST", "/public-api/external-apis/\(name)/invoke", json: [:]); box.withLock { $0 = r } }
            t.start()
            usleep(300_000)
            // The server has one worker thread: a retry waiting for its Retry-After must not occupy it.
            let started = Date()
            XCTAssertEqual(try server.request("POST", "/public-api/agents", json: ["name": .string(unique("while")), "trigger_type": "NONE",
                                                                                  "actions": []]).status, 201)
            XCTAssertLessThan(Date().timeIntervalSince(started), 0.6, "a write waited for the retry's backoff")
            let deadline = Date().addingTimeInterval(10)
            while box.withLock({ $0 }) == nil && Date() < deadline { usleep(20_000) }
            let r = try XCTUnwrap(box.withLock { $0 })
            XCTAssertEqual(r.data?["status"], 200, r.text)
            let seen = try upstream.requests("/flaky/\(name)")
            XCTAssertEqual(seen.count, 2)
            let gap = (seen[1]["t"]?.doubleValue ?? 0) - (seen[0]["t"]?.doubleValue ?? 0)
            XCTAssertGreaterThanOrEqual(gap, 0.9, "\(label): retried after \(gap) s")
        }
    }

    func test_retry_aRetryAfterBeyondTheTimeout_isNotWaitedFor() throws {
        let name = unique("ra_long")
        try api(name, "/flaky/\(name)/1/503?ra=30", retry: ["max_attempts": 3, "backoff_ms": 10], timeoutMs: 2000)
        let r = try invoke(name)
        XCTAssertEqual(r.data?["status"], 503, r.text)
        XCTAssertEqual(r.data?["attempt"], 1)
        XCTAssertEqual(try upstream.requests("/flaky/\(name)").count, 1)
    }

    func test_retry_stopsAtMaxAttempts_andOnlyOnListedStatuses() throws {
        let name = unique("always")
        try api(name, "/flaky/\(name)/9/502", retry: ["max_attempts": 3, "backoff_ms": 10])
        let r = try invoke(name)
        XCTAssertEqual(r.data?["status"], 502, r.text)
        XCTAssertEqual(r.data?["attempt"], 3)
        XCTAssertEqual(try upstream.requests("/flaky/\(name)").count, 3)
        let unlisted = unique("unlisted")
        try api(unlisted, "/flaky/\(unlisted)/9/500", retry: ["max_attempts": 3, "backoff_ms": 10])
        XCTAssertEqual(try invoke(unlisted).data?["status"], 500)
        XCTAssertEqual(try upstream.requests("/flaky/\(unlisted)").count, 1)
    }

    func test_retry_postOnlyWhenIncludeNonIdempotent() throws {
        let strict = unique("post_strict")
        try api(strict, "/flaky/\(strict)/1/503", method: "POST", retry: ["max_attempts": 3, "backoff_ms": 10])
        XCTAssertEqual(try invoke(strict).data?["status"], 503)
        XCTAssertEqual(try upstream.requests("/flaky/\(strict)").count, 1)
        let loose = unique("post_loose")
        try api(loose, "/flaky/\(loose)/1/503", method: "POST", retry: ["max_attempts": 3, "backoff_ms": 10, "include_non_idempotent": true])
        XCTAssertEqual(try invoke(loose).data?["status"], 200)
        XCTAssertEqual(try upstream.requests("/flaky/\(loose)").map { $0["method"]?.stringValue ?? "" }, ["POST", "POST"])
    }

    func test_retry_inAnAgentRun_eachAttemptIsAStep() throws {
        let name = unique("run_flaky")
        try api(name, "/flaky/\(name)/2/504", retry: ["max_attempts": 3, "backoff_ms": 10])
        let id = try runNow(try chainedAgent(name))
        XCTAssertEqual(try waitFor(id)["status"], "succeeded")
        let results = try steps(id).filter { $0["type"] == "TOOL_RESULT" && $0["tool_type_name"] == "EXTERNAL_API_REQUEST" }
        XCTAssertEqual(results.map { $0["data"]?["status"]?.intValue ?? 0 }, [504, 504, 200])
        XCTAssertEqual(results.map { $0["data"]?["attempt"]?.intValue ?? 0 }, [1, 2, 3])
    }

    func test_retry_validation_namesTheField_andTheBlockIsShown() throws {
        let base: JSONObject = ["endpoint_url": .string(upstream.base + "/ok"), "method": "GET"]
        let cases: [(JSON, String)] = [
            (["max_attempts": 9], "retry.max_attempts"), (["max_attempts": 0], "retry.max_attempts"),
            (["on_status": [200]], "retry.on_status[0]"), (["backoff_ms": 500, "max_backoff_ms": 100], "retry.max_backoff_ms"),
            (["include_non_idempotent": "yes"], "retry.include_non_idempotent"), ("often", "retry"),
        ]
        for (retry, field) in cases {
            var body = base
            body["name"] = .string(unique("bad"))
            body["retry"] = retry
            let r = try server.request("POST", "/public-api/external-apis", json: .object(body))
            XCTAssertEqual(r.status, 422, r.text)
            XCTAssertEqual(r.json?["error"]?["details"]?[0]?["field"]?.stringValue, field, r.text)
        }
        let name = unique("shown")
        try api(name, "/ok", retry: ["max_attempts": 2])
        let shown = try server.request("GET", "/public-api/external-apis/\(name)").data?["retry"]
        XCTAssertEqual(shown, ["max_attempts": 2, "backoff_ms": 200, "max_backoff_ms": 5000, "on_status": [429, 502, 503, 504],
                               "include_non_idempotent": false])
        let plain = unique("plain")
        try api(plain, "/ok")
        XCTAssertEqual(try server.request("GET", "/public-api/external-apis/\(plain)").data?["retry"]?["max_attempts"], 1)
    }

    // MARK: performance endpoints

    func test_performance_rowsFromRealExecutions_inNeosTwoShapes() throws {
        let tenantKey = try server.adminKey(forTenant: unique("perf"))
        func call(_ method: String, _ path: String, _ json: JSON? = nil) throws -> TestResponse {
            try server.request(method, path, key: tenantKey, json: json)
        }
        let good = unique("perf_ok"), bad = unique("perf_bad")
        for (name, path) in [(good, "/ok/\(good)"), (bad, "/flaky/\(bad)/99/500")] {
            XCTAssertEqual(try call("POST", "/public-api/external-apis", ["name": .string(name), "endpoint_url": .string(upstream.base + path),
                                                                        "method": "GET", "requires_approval": false]).status, 201)
        }
        func agent(_ api: String) throws -> Int64 {
            let r = try call("POST", "/public-api/agents", ["name": .string(unique("agent")), "trigger_type": "TRIGGERED",
                                                           "actions": [["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": .string(api)]]]])
            return Int64(r.data?["id"]?.stringValue ?? "") ?? -1
        }
        let (okAgent, failingAgent) = (try agent(good), try agent(bad))
        let from = Timestamp.format(Date().addingTimeInterval(-60))
        var ids: [String] = []
        for a in [okAgent, okAgent, okAgent, failingAgent] {
            ids.append(try call("POST", "/public-api/agents/\(a)/run-now", ["target_entity_id": "T-9"]).data?["execution_id"]?.stringValue ?? "")
        }
        for id in ids { _ = try waitFor(id, key: tenantKey) }
        let to = Timestamp.format(Date().addingTimeInterval(60))

        let list = try call("GET", "/public-api/performance/workflows?from=\(from)&to=\(to)")
        XCTAssertEqual(list.status, 200, list.text)
        let items = try XCTUnwrap(list.data?.arrayValue, "an array of WorkflowPerformance")
        XCTAssertEqual(items.count, 1)
        XCTAssertEqual(items[0]["window"]?["since"]?.stringValue, from)
        XCTAssertEqual(items[0]["window"]?["timezone"], "UTC")
        let rows = items[0]["rows"]?.arrayValue ?? []
        XCTAssertEqual(rows.map { $0["agent_id"]?.intValue ?? 0 }, [okAgent, failingAgent])
        let ok = rows[0], failing = rows[1]
        XCTAssertEqual(ok["executions"], 3)
        XCTAssertEqual(ok["failures"], 0)
        XCTAssertEqual(ok["psa_calls"], 3)
        XCTAssertEqual(failing["executions"], 1)
        XCTAssertEqual(failing["failures"], 1)
        XCTAssertEqual(failing["psa_calls"], 1)
        let total = ok["p95_total_duration_seconds"]?.doubleValue ?? -1
        let work = ok["p95_actual_work_seconds"]?.doubleValue ?? -1
        XCTAssertGreaterThan(total, 0)
        XCTAssertGreaterThan(work, 0, "the upstream calls took some time")
        XCTAssertLessThanOrEqual(work, total)
        XCTAssertGreaterThanOrEqual(ok["p95_overhead_seconds"]?.doubleValue ?? -1, 0)
        XCTAssertEqual(ok["llm_calls_by_purpose"], [])

        let one = try call("GET", "/public-api/observability/workflow-performance?agent_id=\(failingAgent)")
        XCTAssertEqual(one.status, 200, one.text)
        XCTAssertNotNil(one.data?["rows"]?.arrayValue, "one WorkflowPerformance object")
        XCTAssertEqual(one.data?["rows"]?.arrayValue?.map { $0["agent_id"]?.intValue ?? 0 }, [failingAgent])
        XCTAssertEqual(one.data?["window"]?["timezone"], "UTC")

        let filtered = try call("GET", "/public-api/performance/workflows?from=\(from)&to=\(to)&autonomy_type=AGENTIC")
        XCTAssertEqual(filtered.data?[0]?["rows"], [])
        // Another tenant sees none of it.
        XCTAssertEqual(try server.request("GET", "/public-api/performance/workflows?from=\(from)&to=\(to)").data?[0]?["rows"]?
            .arrayValue?.filter { [okAgent, failingAgent].contains($0["agent_id"]?.intValue ?? 0) }.count, 0)
    }

    func test_performance_badParameters_are400NamingThem() throws {
        let cases: [(String, String)] = [
            ("/public-api/performance/workflows?to=2026-01-02T00:00:00Z", "from"),
            ("/public-api/performance/workflows?from=2026-01-01T00:00:00Z", "to"),
            ("/public-api/performance/workflows?from=yesterday&to=2026-01-02T00:00:00Z", "from"),
            ("/public-api/performance/workflows?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&autonomy_type=CONVERSATIONAL", "autonomy_type"),
            ("/public-api/performance/workflows?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
            ("/public-api/observability/workflow-performance?agent_id=abc", "agent_id"),
            ("/public-api/observability/workflow-performance?since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
        ]
        for (path, field) in cases {
            let r = try server.request("GET", path)
            XCTAssertEqual(r.status, 400, "\(path): \(r.text)")
            XCTAssertEqual(r.errorCode, "BAD_REQUEST")
            XCTAssertEqual(r.json?["error"]?["details"]?[0]?["field"]?.stringValue, field, path)
        }
    }
}

/// AGENTIC runs: the model provider gets the run's traceparent, its calls show in llm_calls_by_purpose
/// and its tokens in the metrics.
final class OperationsAgenticTests: AgenticTestCase {
    override class var extraEnvironment: [String: String] { ["NEO_METRICS_TOKEN": OperationsTests.metricsToken] }

    func modelTokens() throws -> (input: Double, output: Double) {
        let r = try server.request("GET", "/metrics", key: nil, headers: ["Authorization": "Bearer \(OperationsTests.metricsToken)"])
        XCTAssertEqual(r.status, 200, r.text)
        let samples = try OperationsTests.parseWithPrometheusClient(r.text).filter { $0.name == "neo_model_tokens_total" }
        let input = try XCTUnwrap(samples.first { $0.labels == ["direction": "input"] }, "\(samples)")
        let output = try XCTUnwrap(samples.first { $0.labels == ["direction": "output"] }, "\(samples)")
        return (input.value, output.value)
    }

    func test_agenticRun_modelTokenCounters_moveByExactlyTheScriptedUsage() throws {
        try provider()
        try lookupAPI()
        let agent = try agent(apis: ["crm_lookup"])
        model.add(openAI(text: "Looking.", calls: [(id: "call_1", name: "crm_lookup", arguments: #"{"contact_id": "7"}"#)], prompt: 1234, completion: 56),
                  openAI(text: "Done.", prompt: 789, completion: 10))
        let before = try modelTokens()
        let id = try run(agent)
        let done = try wait(id)
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        XCTAssertEqual(done["usage"], ["llm_calls": 2, "prompt_tokens": 2023, "completion_tokens": 66])
        let after = try modelTokens()
        XCTAssertEqual(after.input - before.input, 1234 + 789)
        XCTAssertEqual(after.output - before.output, 56 + 10)
    }

    func test_agenticRun_tracestateGoesToTheModel() throws {
        try provider()
        let agent = try agent()
        model.add(openAI(text: "Done."))
        let id = try run(agent, headers: ["traceparent": "00-11112222333344445555666677778888-1234567890abcdef-01",
                                          "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"])
        XCTAssertEqual(try wait(id)["status"], "succeeded")
        XCTAssertEqual(model.requests.map { $0.headers["tracestate"] }, ["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"])
        XCTAssertEqual(model.requests.compactMap { TraceContext.parse($0.headers["traceparent"] ?? "")?.traceId }, ["11112222333344445555666677778888"])
    }

    func test_agenticRun_traceToTheModel_llmCallsByPurpose() throws {
        try provider()
        try lookupAPI()
        let agent = try agent(apis: ["crm_lookup"])
        model.add(openAI(text: "Looking.", calls: [(id: "call_1", name: "crm_lookup", arguments: #"{"contact_id": "7"}"#)]),
                  openAI(text: "Done."))
        let inbound = "00-11112222333344445555666677778888-1234567890abcdef-01"
        let from = Timestamp.format(Date().addingTimeInterval(-60))
        let id = try run(agent, headers: ["traceparent": inbound])
        XCTAssertEqual(try wait(id)["status"], "succeeded")
        let sent = model.requests.compactMap { $0.headers["traceparent"] }
        XCTAssertEqual(sent.count, 2)
        XCTAssertEqual(Set(sent.compactMap { TraceContext.parse($0)?.traceId }), ["11112222333344445555666677778888"])
        XCTAssertEqual(Set(sent).count, 2, "each model call is its own span")

        let to = Timestamp.format(Date().addingTimeInterval(60))
        let r = try call("GET", "/public-api/performance/workflows?from=\(from)&to=\(to)&autonomy_type=AGENTIC")
        XCTAssertEqual(r.status, 200, r.text)
        let row = try XCTUnwrap(r.data?[0]?["rows"]?.arrayValue?.first { $0["agent_id"]?.intValue == agent })
        XCTAssertEqual(row["executions"], 1)
        XCTAssertEqual(row["psa_calls"], 1)
        let purposes = row["llm_calls_by_purpose"]?.arrayValue ?? []
        XCTAssertEqual(purposes.map { $0["purpose"]?.stringValue ?? "" }, ["final_answer", "tool_selection"])
        XCTAssertEqual(purposes.map { $0["model"]?.stringValue ?? "" }, ["test-model", "test-model"])
        XCTAssertEqual(purposes.map { $0["count"]?.intValue ?? 0 }, [1, 1])
        XCTAssertTrue(purposes.allSatisfy { ($0["p95_duration_seconds"]?.doubleValue ?? -1) >= 0 })
        XCTAssertEqual(try call("GET", "/public-api/performance/workflows?from=\(from)&to=\(to)&autonomy_type=CHAINED_ACTIONS").data?[0]?["rows"]?
            .arrayValue?.contains { $0["agent_id"]?.intValue == agent }, false)
    }
}

fileprivate extension JSON {
    /// The array element at `index`, or nil.
    subscript(index: Int) -> JSON? {
        guard let items = arrayValue, index >= 0, index < items.count else { return nil }
        return items[index]
    }
}

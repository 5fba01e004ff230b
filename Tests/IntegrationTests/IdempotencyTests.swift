import Basics
import Foundation
import NeoJSON
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Idempotency-Key on POST (design §12) through the real server: replays, reuse, in-flight requests,
/// restarts, tenants and the header's bounds.
final class IdempotencyTests: SharedServerTestCase {
    func createAgent(_ name: String, key: String = TestServer.adminKey) throws -> String {
        let r = try server.request("POST", "/public-api/agents", key: key, json: ["name": .string(name), "trigger_type": "NONE", "actions": []])
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap(r.data?["id"]?.stringValue, r.text)
    }

    func executions(of agent: String, key: String = TestServer.adminKey) throws -> [JSON] {
        let r = try server.request("GET", "/public-api/executions?agent_id=\(agent)&page_size=200", key: key)
        XCTAssertEqual(r.status, 200, r.text)
        return r.data?.arrayValue ?? []
    }

    func test_runNow_fiftyConcurrentRetriesWithOneKey_startOneExecution() throws {
        let agent = try createAgent("idem concurrent")
        let key = "retry-\(UUID().uuidString)"
        let results = Lock<[TestResponse]>([])
        let server = self.server
        DispatchQueue.concurrentPerform(iterations: 50) { _ in
            let r = try? server.request("POST", "/public-api/agents/\(agent)/run-now", json: ["input": ["n": 1]],
                                        headers: ["Idempotency-Key": key])
            if let r { results.withLock { $0.append(r) } }
        }
        let all = results.withLock { $0 }
        XCTAssertEqual(all.count, 50)
        let accepted = all.filter { $0.status == 202 }
        let inUse = all.filter { $0.status == 409 }
        XCTAssertEqual(accepted.count + inUse.count, 50, all.map { "\($0.status) \($0.text)" }.joined(separator: "\n"))
        XCTAssertTrue(inUse.allSatisfy { $0.errorCode == "IDEMPOTENCY_KEY_IN_USE" })
        XCTAssertGreaterThanOrEqual(accepted.count, 1)
        let ids = Set(accepted.compactMap { $0.data?["execution_id"]?.stringValue })
        XCTAssertEqual(ids.count, 1, "every accepted answer names the same execution")
        XCTAssertEqual(accepted.filter { $0.headers["idempotent-replayed"] == nil }.count, 1, "exactly one answer is the original")
        // After the burst, every retry replays.
        let again = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: ["input": ["n": 1]], headers: ["Idempotency-Key": key])
        XCTAssertEqual(again.status, 202)
        XCTAssertEqual(again.headers["idempotent-replayed"], "true")
        XCTAssertEqual(again.data?["execution_id"]?.stringValue, ids.first)
        XCTAssertEqual(again.json?["meta"]?["request_id"]?.stringValue, again.headers["x-request-id"], "the replay carries its own request id")
        XCTAssertNotNil(again.headers["original-request"])
        XCTAssertEqual(try executions(of: agent).count, 1)
    }

    func test_sameKeyWithAnotherBody_is422AndRunsNothing() throws {
        let agent = try createAgent("idem reuse")
        let first = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: ["input": ["n": 1]], headers: ["Idempotency-Key": "reuse-1"])
        XCTAssertEqual(first.status, 202, first.text)
        let other = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: ["input": ["n": 2]], headers: ["Idempotency-Key": "reuse-1"])
        XCTAssertEqual(other.status, 422, other.text)
        XCTAssertEqual(other.errorCode, "IDEMPOTENCY_KEY_REUSED")
        XCTAssertEqual(other.json?["error"]?["details"]?.arrayValue?.first?["field"]?.stringValue, "Idempotency-Key")
        // Another path with the same key is another request too.
        let elsewhere = try server.request("POST", "/public-api/agents", json: ["name": "x", "trigger_type": "NONE", "actions": []],
                                           headers: ["Idempotency-Key": "reuse-1"])
        XCTAssertEqual(elsewhere.errorCode, "IDEMPOTENCY_KEY_REUSED")
        XCTAssertEqual(try executions(of: agent).count, 1)
    }

    func test_createAgent_replayReturnsTheStoredAnswerAndHeaders() throws {
        let body: JSON = ["name": "idem create", "trigger_type": "NONE", "actions": []]
        let first = try server.request("POST", "/public-api/agents", json: body, headers: ["Idempotency-Key": "create-1"])
        XCTAssertEqual(first.status, 201)
        let replay = try server.request("POST", "/public-api/agents", json: body, headers: ["Idempotency-Key": "create-1"])
        XCTAssertEqual(replay.status, 201)
        XCTAssertEqual(replay.data, first.data)
        XCTAssertEqual(replay.headers["etag"], first.headers["etag"])
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
        XCTAssertNil(first.headers["idempotent-replayed"])
        let list = try server.request("GET", "/public-api/agents?q=idem%20create")
        XCTAssertEqual(list.data?.arrayValue?.count, 1)
        // A 4xx answer is kept as well (only 5xx are not).
        let bad: JSON = ["name": "bad", "trigger_type": "SOMETIMES", "actions": []]
        let refused = try server.request("POST", "/public-api/agents", json: bad, headers: ["Idempotency-Key": "create-bad"])
        XCTAssertEqual(refused.status, 422)
        let refusedAgain = try server.request("POST", "/public-api/agents", json: bad, headers: ["Idempotency-Key": "create-bad"])
        XCTAssertEqual(refusedAgain.status, 422)
        XCTAssertEqual(refusedAgain.headers["idempotent-replayed"], "true")
        XCTAssertEqual(refusedAgain.json?["error"], refused.json?["error"])
    }

    func test_keptAnswers_areSealedAtRest_evenWhenTheyShowASecretOnce() throws {
        let first = try server.request("POST", "/public-api/api-keys", json: ["name": "idem key"], headers: ["Idempotency-Key": "key-1"])
        XCTAssertEqual(first.status, 201)
        let secret = try XCTUnwrap(first.data?["key"]?.stringValue)
        let replay = try server.request("POST", "/public-api/api-keys", json: ["name": "idem key"], headers: ["Idempotency-Key": "key-1"])
        XCTAssertEqual(replay.data?["key"]?.stringValue, secret, "a client that lost the answer gets it again, not a second key")
        let keys = try server.request("GET", "/public-api/api-keys?page_size=200").data?.arrayValue ?? []
        XCTAssertEqual(keys.filter { $0["name"]?.stringValue == "idem key" }.count, 1)
        for file in ["neo.db", "neo.db-wal"] {
            let bytes = (try? Data(contentsOf: server.directory.appendingPathComponent(file))) ?? Data()
            XCTAssertNil(bytes.range(of: Data(secret.utf8)), "the kept answer is sealed (\(file))")
        }
    }

    func test_keyHeader_boundsAndTestMode() throws {
        let agent = try createAgent("idem bounds")
        let long = String(repeating: "k", count: 256)
        let tooLong = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: [:], headers: ["Idempotency-Key": long])
        XCTAssertEqual(tooLong.status, 400)
        XCTAssertEqual(tooLong.errorCode, "BAD_REQUEST")
        XCTAssertTrue(tooLong.errorMessage?.contains("Idempotency-Key") ?? false, tooLong.text)
        XCTAssertFalse(tooLong.text.contains(long), "the key is not echoed")
        let longest = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: [:],
                                         headers: ["Idempotency-Key": String(repeating: "k", count: 255)])
        XCTAssertEqual(longest.status, 202, longest.text)
        XCTAssertEqual(try executions(of: agent).count, 1)
        // In test mode the key is checked, not kept: nothing is persisted.
        let planned = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: [:],
                                         headers: ["Idempotency-Key": "test-mode-key", "X-Neo-Test-Mode": "1"])
        XCTAssertEqual(planned.status, 202, planned.text)
        let real = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: [:], headers: ["Idempotency-Key": "test-mode-key"])
        XCTAssertEqual(real.status, 202)
        XCTAssertNil(real.headers["idempotent-replayed"])
        // PUT is idempotent by itself: the header is ignored there.
        let put = try server.request("PUT", "/public-api/agents/\(agent)", json: ["description": "d"], headers: ["Idempotency-Key": long])
        XCTAssertEqual(put.status, 200, put.text)
    }

    func test_sameKeyInTwoTenants_isIndependent() throws {
        let otherKey = try server.adminKey(forTenant: "idem-other-\(UUID().uuidString.prefix(8))")
        let mine = try createAgent("idem tenant a")
        let theirs = try createAgent("idem tenant b", key: otherKey)
        let a = try server.request("POST", "/public-api/agents/\(mine)/run-now", json: [:], headers: ["Idempotency-Key": "shared"])
        let b = try server.request("POST", "/public-api/agents/\(theirs)/run-now", key: otherKey, json: [:], headers: ["Idempotency-Key": "shared"])
        XCTAssertEqual(a.status, 202)
        XCTAssertEqual(b.status, 202, b.text)
        XCTAssertNil(b.headers["idempotent-replayed"])
        XCTAssertNotEqual(a.data?["execution_id"], b.data?["execution_id"])
        XCTAssertEqual(try executions(of: theirs, key: otherKey).count, 1)
    }
}

/// Requests that reply later (an invoke waiting on a slow upstream) and restarts need their own server.
final class IdempotencyLifecycleTests: XCTestCase {
    func test_inFlight_is409_andTheDeferredAnswerIsKept() throws {
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback"])
        let upstream = try PythonUpstream(expect: [:], directory: server.directory)
        defer { upstream.stop(); server.stop() }
        let created = try server.request("POST", "/public-api/external-apis", json: [
            "name": "slow_idem", "endpoint_url": .string(upstream.base + "/slow"), "method": "GET", "requires_approval": false,
            "timeout_ms": 10000,
        ])
        XCTAssertEqual(created.status, 201, created.text)
        let first = Lock<TestResponse?>(nil)
        let started = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            started.signal()
            let r = try? server.request("POST", "/public-api/external-apis/slow_idem/invoke", json: [:], headers: ["Idempotency-Key": "slow-1"])
            first.withLock { $0 = r }
            first.notifyAll()
        }
        started.wait()
        usleep(700_000)
        let during = try server.request("POST", "/public-api/external-apis/slow_idem/invoke", json: [:], headers: ["Idempotency-Key": "slow-1"])
        XCTAssertEqual(during.status, 409, during.text)
        XCTAssertEqual(during.errorCode, "IDEMPOTENCY_KEY_IN_USE")
        XCTAssertEqual(during.headers["retry-after"], "1")
        let original = try XCTUnwrap(first.withLock(waitingUntil: { $0 != nil }) { $0 })
        XCTAssertEqual(original.status, 200, original.text)
        let replay = try server.request("POST", "/public-api/external-apis/slow_idem/invoke", json: [:], headers: ["Idempotency-Key": "slow-1"])
        XCTAssertEqual(replay.status, 200)
        XCTAssertEqual(replay.headers["idempotent-replayed"], "true")
        XCTAssertEqual(replay.data, original.data, "the upstream is not called again: the same answer, duration included")
    }

    func test_5xxAnswer_releasesTheKey() throws {
        let server = try TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback"])
        defer { server.stop() }
        // A port nothing listens on: the invoke fails with 502 UPSTREAM_ERROR, which is not kept.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(probe, $0, len) } }
        withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(probe, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        close(probe)
        XCTAssertEqual(try server.request("POST", "/public-api/external-apis", json: [
            "name": "down_idem", "endpoint_url": .string("http://127.0.0.1:\(port)/x"), "method": "GET", "requires_approval": false,
        ]).status, 201)
        for _ in 0..<2 {
            let r = try server.request("POST", "/public-api/external-apis/down_idem/invoke", json: [:], headers: ["Idempotency-Key": "down-1"])
            XCTAssertEqual(r.status, 502, r.text)
            XCTAssertNil(r.headers["idempotent-replayed"], "a 5xx is never replayed: the key was released")
        }
    }

    func test_expiredKeys_arePrunedAtStart_andTheKeyIsFreeAgain() throws {
        let first = try TestServer(environment: ["NEO_RATE_LIMIT": "0"])
        let created = try first.request("POST", "/public-api/agents", json: ["name": "expiry idem", "trigger_type": "NONE", "actions": []])
        let agent = try XCTUnwrap(created.data?["id"]?.stringValue)
        let run = try first.request("POST", "/public-api/agents/\(agent)/run-now", json: [:], headers: ["Idempotency-Key": "day-old"])
        XCTAssertEqual(run.status, 202)
        XCTAssertEqual(first.stop(), 0)
        func sql(_ statement: String) throws -> String {
            let rows = try first.sql(statement)
            return rows.first?["n"].map { "\($0.intValue ?? -1)" } ?? ""
        }
        XCTAssertEqual(try sql("SELECT count(*) AS n FROM idempotency_keys"), "1")
        _ = try sql("UPDATE idempotency_keys SET expires_at = '2026-01-01T00:00:00.000Z'")
        let second = try TestServer(environment: ["NEO_RATE_LIMIT": "0"], directory: first.directory)
        defer { second.stop() }
        XCTAssertEqual(try sql("SELECT count(*) AS n FROM idempotency_keys"), "0", "expired keys are deleted at start")
        let again = try second.request("POST", "/public-api/agents/\(agent)/run-now", json: [:], headers: ["Idempotency-Key": "day-old"])
        XCTAssertEqual(again.status, 202)
        XCTAssertNil(again.headers["idempotent-replayed"])
        XCTAssertNotEqual(again.data?["execution_id"], run.data?["execution_id"])
    }

    func test_keySurvivesARestart() throws {
        let first = try TestServer(environment: ["NEO_RATE_LIMIT": "0"])
        let created = try first.request("POST", "/public-api/agents", json: ["name": "restart idem", "trigger_type": "NONE", "actions": []])
        let agent = try XCTUnwrap(created.data?["id"]?.stringValue)
        let run = try first.request("POST", "/public-api/agents/\(agent)/run-now", json: [:], headers: ["Idempotency-Key": "across-restarts"])
        XCTAssertEqual(run.status, 202)
        XCTAssertEqual(first.stop(), 0)
        let second = try TestServer(environment: ["NEO_RATE_LIMIT": "0"], directory: first.directory)
        defer { second.stop() }
        let retry = try second.request("POST", "/public-api/agents/\(agent)/run-now", json: [:], headers: ["Idempotency-Key": "across-restarts"])
        XCTAssertEqual(retry.status, 202)
        XCTAssertEqual(retry.headers["idempotent-replayed"], "true")
        XCTAssertEqual(retry.data?["execution_id"], run.data?["execution_id"])
        let list = try second.request("GET", "/public-api/executions?agent_id=\(agent)")
        XCTAssertEqual(list.data?.arrayValue?.count, 1)
    }
}

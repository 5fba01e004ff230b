import Basics
import Foundation
import NeoJSON
import XCTest

/// Runs shared by nodes (design §11): leases, takeover after a node dies, fencing of a stale attempt's writes, and
/// two nodes on one PostgreSQL never running one run twice. Real servers, a real upstream on 127.0.0.1.
final class RunLeaseTests: XCTestCase {
    static var onPostgres: Bool { ProcessInfo.processInfo.environment["NEO_TEST_DB"] != nil }

    private func call(_ s: TestServer, _ method: String, _ path: String, _ body: JSON? = nil) throws -> JSON {
        let r = try s.request(method, path, json: body)
        XCTAssertTrue((200..<300).contains(r.status), "\(method) \(path): \(r.status) \(r.text)")
        return r.data ?? .null
    }

    /// An agent that calls `slow` (an upstream taking `seconds`) and then adds a note.
    private func slowAgent(_ s: TestServer, upstream: RecordingUpstream, seconds: Int) throws -> String {
        _ = try call(s, "POST", "/public-api/external-apis", ["name": "slow", "endpoint_url": .string(upstream.base + "/slow/\(seconds)/call"), "method": "GET", "requires_approval": false])
        let agent = try call(s, "POST", "/public-api/agents", ["name": "slow-then-note", "trigger_type": "TRIGGERED", "actions": [
            ["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": "slow"]],
            ["action_type": "ADD_NOTE", "input_as_dict": ["template": "after the call", "name": "after.md"]],
        ]])
        return try XCTUnwrap(agent["id"]?.stringValue)
    }

    private func runNow(_ s: TestServer, _ agent: String) throws -> String {
        try XCTUnwrap(try call(s, "POST", "/public-api/agents/\(agent)/run-now", ["target_entity_id": "T-1"])["execution_id"]?.stringValue)
    }

    private func waitFor(_ timeout: Double, _ what: String, _ done: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try done() { return }
            usleep(50_000)
        }
        XCTFail("not within \(timeout) s: \(what)")
    }

    /// The node id a server logged at start.
    private func node(of s: TestServer) throws -> String {
        var found: String?
        try waitFor(5, "the runner logs its node") {
            found = s.log.split(separator: "\n").compactMap { line -> String? in
                guard let json = try? JSON.parse(Array(line.utf8)), json["msg"] == "runner node" else { return nil }
                return json["node"]?.stringValue
            }.first
            return found != nil
        }
        return found ?? "?"
    }

    private func execution(_ s: TestServer, _ id: String) throws -> JSON { try call(s, "GET", "/public-api/executions/\(id)") }

    /// A node killed while the run's external call is in flight: once its lease expires the next node takes the run
    /// over (a THOUGHT step naming the dead node), resumes it at the action in progress (sent again: at least once)
    /// and finishes it as attempt 2.
    func test_killedMidRun_leaseExpires_anotherNodeTakesOverAndFinishes() throws {
        let environment = ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_RUN_LEASE_SECONDS": "1.5"]
        let first = try TestServer(environment: environment)
        let upstream = try RecordingUpstream(directory: first.directory)
        defer { upstream.stop() }
        let agent = try slowAgent(first, upstream: upstream, seconds: 3)
        let id = try runNow(first, agent)
        let dead = try node(of: first)
        try waitFor(10, "the call reaches the upstream") { try upstream.requests("/slow").count == 1 }
        XCTAssertEqual(first.stop(signal: SIGKILL), 9)
        let started = Date()
        let second = try TestServer(environment: environment, directory: first.directory)
        defer { second.stop() }
        var done = JSON.null
        try waitFor(30, "the run is taken over and finishes") {
            done = try execution(second, id)
            return ["succeeded", "failed"].contains(done["status"]?.stringValue ?? "")
        }
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        XCTAssertEqual(done["attempt"], 2)
        XCTAssertLessThan(Date().timeIntervalSince(started), 15)
        let steps = try call(second, "GET", "/public-api/executions/\(id)/steps?page_size=50").arrayValue ?? []
        let takeover = try XCTUnwrap(steps.firstIndex { $0["message"]?.stringValue?.hasPrefix("taken over from node \(dead)") ?? false },
                                     "\(steps.map { $0["message"] })")
        XCTAssertEqual(steps[takeover]["type"], "THOUGHT")
        XCTAssertEqual(steps[takeover]["data"]?["taken_over_from"]?.stringValue, dead)
        XCTAssertEqual(steps[takeover]["data"]?["attempt"], 1)
        XCTAssertEqual(steps.last?["message"], "completed 2 action(s)")
        // The action in progress ran again (at least once); the note after it once.
        XCTAssertEqual(try upstream.requests("/slow").count, 2)
        let artifacts = try call(second, "GET", "/public-api/executions/\(id)/artifacts").arrayValue ?? []
        XCTAssertEqual(artifacts.count, 1)
        // Claims are sequential, the first by the dead node; steps name the claim that wrote them.
        let claims = try second.sql("SELECT attempt, node FROM execution_attempts WHERE execution_id = '\(id)' ORDER BY attempt")
        XCTAssertEqual(claims.map { $0["attempt"]?.intValue ?? 0 }, [1, 2])
        XCTAssertEqual(claims.first?["node"]?.stringValue, dead)
        XCTAssertEqual(claims.last?["node"]?.stringValue, try node(of: second))
        let written = try second.sql("SELECT seq, attempt, node FROM execution_steps WHERE execution_id = '\(id)' ORDER BY seq")
        let takeoverSeq = written.first { $0["attempt"] == .null }?["seq"]?.intValue ?? 0
        for step in written where step["attempt"] != .null {
            let attempt = step["attempt"]?.intValue ?? 0
            XCTAssertEqual(step["node"]?.stringValue, claims[Int(attempt) - 1]["node"]?.stringValue)
            XCTAssertEqual(attempt, (step["seq"]?.intValue ?? 0) < takeoverSeq ? 1 : 2, "\(written)")
        }
    }

    /// Fencing: while a node waits for an upstream, its run is given to another claim (as the reaper and another node
    /// would). The node's answer then writes nothing: no step, no note, no end; it logs that it lost the lease.
    func test_staleAttempt_writesAreRefused() throws {
        let s = try TestServer(environment: ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback"])
        defer { s.stop() }
        let upstream = try RecordingUpstream(directory: s.directory)
        defer { upstream.stop() }
        let agent = try slowAgent(s, upstream: upstream, seconds: 2)
        let id = try runNow(s, agent)
        try waitFor(10, "the call reaches the upstream") { try upstream.requests("/slow").count == 1 }
        let before = try s.sql("SELECT COUNT(*) AS n FROM execution_steps WHERE execution_id = '\(id)'").first?["n"]?.intValue ?? -1
        try s.sql("""
            UPDATE executions SET attempt = attempt + 1, lease_owner = 'other-node', lease_expires_at = '2999-01-01T00:00:00.000Z' WHERE id = '\(id)'
            """)
        try waitFor(15, "the stale attempt notices") { s.log.contains("lease lost") }
        usleep(300_000)
        let after = try s.sql("SELECT COUNT(*) AS n FROM execution_steps WHERE execution_id = '\(id)'").first?["n"]?.intValue ?? -1
        XCTAssertEqual(after, before, "the stale attempt's TOOL_CALL/TOOL_RESULT were refused")
        let e = try execution(s, id)
        XCTAssertEqual(e["status"], "running", "the stale attempt did not finish the run: \(e)")
        XCTAssertEqual(e["attempt"], 2)
        XCTAssertEqual((try call(s, "GET", "/public-api/executions/\(id)/artifacts").arrayValue ?? []).count, 0)
        let row = try s.sql("SELECT lease_owner, next_action FROM executions WHERE id = '\(id)'").first
        XCTAssertEqual(row?["lease_owner"], "other-node", "the heartbeat renews only what the node holds")
        XCTAssertEqual(row?["next_action"]?.intValue, 0)
        let lost = s.log.split(separator: "\n").first { $0.contains("lease lost") }.map(String.init) ?? ""
        XCTAssertTrue(lost.contains(#""level":"warn""#) && lost.contains(id) && lost.contains(#""now_node":"other-node""#), lost)
    }

    /// Two nodes on one PostgreSQL share the queue: every run claimed once (attempt 1), every step written by the
    /// claim's node, every note added once; both nodes take work.
    func test_twoNodes_onePostgres_neverRunTheSameRunTwice() throws {
        try XCTSkipUnless(Self.onPostgres, "several nodes share PostgreSQL only (make test-pg)")
        let environment = ["NEO_RATE_LIMIT": "0", "NEO_RUNNER_CONCURRENCY": "4", "NEO_RUN_LEASE_SECONDS": "2"]
        let a = try TestServer(environment: environment)
        defer { a.stop() }
        let b = try TestServer(environment: environment, directory: a.directory)
        defer { b.stop() }
        var agents: [String] = []
        for i in 0..<4 {
            let agent = try call(a, "POST", "/public-api/agents", ["name": .string("note-\(i)"), "trigger_type": "TRIGGERED", "actions": [
                ["action_type": "ADD_NOTE", "input_as_dict": ["template": "one"]], ["action_type": "ADD_NOTE", "input_as_dict": ["template": "two"]],
            ]])
            agents.append(try XCTUnwrap(agent["id"]?.stringValue))
        }
        var ids: [String] = []
        for i in 0..<120 { ids.append(try runNow(i % 2 == 0 ? a : b, agents[i % agents.count])) }
        try waitFor(60, "every run ends") {
            let open = try a.sql("SELECT COUNT(*) AS n FROM executions WHERE status IN ('queued', 'running')").first?["n"]?.intValue
            return open == 0
        }
        let statuses = try a.sql("SELECT status, COUNT(*) AS n FROM executions GROUP BY status")
        XCTAssertEqual(statuses.count, 1, "\(statuses)")
        XCTAssertEqual(statuses.first?["status"], "succeeded")
        XCTAssertEqual(statuses.first?["n"]?.intValue, 120)
        XCTAssertEqual(try a.sql("SELECT execution_id FROM execution_attempts WHERE attempt <> 1"), [], "no run claimed twice")
        XCTAssertEqual(try a.sql("SELECT COUNT(*) AS n FROM execution_attempts").first?["n"]?.intValue, 120)
        XCTAssertEqual(try a.sql("""
            SELECT s.execution_id FROM execution_steps s LEFT JOIN execution_attempts c ON c.execution_id = s.execution_id AND c.attempt = s.attempt
            WHERE c.node IS NULL OR c.node <> s.node
            """), [], "every step written by the node that claimed its run")
        XCTAssertEqual(try a.sql("SELECT execution_id FROM artifacts GROUP BY execution_id HAVING COUNT(*) <> 2"), [], "each note once")
        XCTAssertEqual(try a.sql("SELECT COUNT(DISTINCT execution_id) AS n FROM artifacts").first?["n"]?.intValue, 120)
        let nodes = try a.sql("SELECT node, COUNT(*) AS n FROM execution_attempts GROUP BY node")
        XCTAssertEqual(Set(nodes.compactMap { $0["node"]?.stringValue }), [try node(of: a), try node(of: b)], "both nodes took work: \(nodes)")
    }

    /// A node paused (SIGSTOP) while its call is in flight stops renewing its lease; the other node takes the run
    /// over and finishes it; the paused node, resumed, finds its writes refused.
    func test_pausedNode_losesItsLease_itsLateWritesAreRefused() throws {
        try XCTSkipUnless(Self.onPostgres, "several nodes share PostgreSQL only (make test-pg)")
        let environment = ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_RUN_LEASE_SECONDS": "1.5"]
        let a = try TestServer(environment: environment)
        defer { a.stop() }
        let upstream = try RecordingUpstream(directory: a.directory)
        defer { upstream.stop() }
        let agent = try slowAgent(a, upstream: upstream, seconds: 3)
        let id = try runNow(a, agent)
        try waitFor(10, "node A's call reaches the upstream") { try upstream.requests("/slow").count == 1 }
        let b = try TestServer(environment: environment, directory: a.directory)
        defer { b.stop() }
        kill(a.process.processIdentifier, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(a.process.processIdentifier, SIGCONT) } }
        try waitFor(15, "node B claims attempt 2") { try execution(b, id)["attempt"] == 2 }
        kill(a.process.processIdentifier, SIGCONT)
        resumed = true
        var done = JSON.null
        try waitFor(20, "node B finishes the run") {
            done = try execution(b, id)
            return done["status"]?.stringValue != "running" && done["status"]?.stringValue != "queued"
        }
        XCTAssertEqual(done["status"], "succeeded", "\(done)")
        try waitFor(15, "node A's late answer is refused") { a.log.contains("lease lost") }
        let nodeA = try node(of: a), nodeB = try node(of: b)
        let written = try b.sql("SELECT attempt, node, type, tool_type_name FROM execution_steps WHERE execution_id = '\(id)' ORDER BY seq")
        XCTAssertFalse(written.contains { $0["node"]?.stringValue == nodeA && $0["tool_type_name"]?.stringValue == "EXTERNAL_API_REQUEST" },
                       "node A's call result was not recorded: \(written)")
        XCTAssertEqual(written.filter { $0["tool_type_name"]?.stringValue == "EXTERNAL_API_REQUEST" && $0["type"] == "TOOL_RESULT" }.count, 1)
        XCTAssertTrue(written.filter { $0["attempt"]?.intValue == 2 }.allSatisfy { $0["node"]?.stringValue == nodeB })
        XCTAssertEqual((try call(b, "GET", "/public-api/executions/\(id)/artifacts").arrayValue ?? []).count, 1)
    }
    /// LISTEN/NOTIFY: a run queued on a node whose one worker is busy starts on the idle other node at once, woken by
    /// the notification rather than its 1 s poll (ten runs in a row, each started well within a poll period).
    func test_notify_wakesTheOtherNodeAtOnce() throws {
        try XCTSkipUnless(Self.onPostgres, "LISTEN/NOTIFY is PostgreSQL's")
        let environment = ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_RUNNER_CONCURRENCY": "1"]
        let a = try TestServer(environment: environment)
        defer { a.stop() }
        let upstream = try RecordingUpstream(directory: a.directory)
        defer { upstream.stop() }
        let busy = try slowAgent(a, upstream: upstream, seconds: 10)
        _ = try runNow(a, busy)
        try waitFor(10, "node A's only worker is busy") { try upstream.requests("/slow").count == 1 }
        let b = try TestServer(environment: environment, directory: a.directory)
        defer { b.stop() }
        _ = try node(of: b)
        usleep(300_000)  // B's worker has polled once and waits
        let quick = try XCTUnwrap(try call(a, "POST", "/public-api/agents", ["name": "quick", "trigger_type": "TRIGGERED",
                                                                             "actions": [["action_type": "ADD_NOTE", "input_as_dict": ["template": "q"]]]])["id"]?.stringValue)
        var delays: [Double] = []
        for _ in 0..<10 {
            let id = try runNow(a, quick)
            var e = JSON.null
            try waitFor(5, "the run ends") {
                e = try execution(b, id)
                return e["status"] == "succeeded"
            }
            let created = Timestamp.parse(e["created_at"]?.stringValue ?? "") ?? .distantPast
            let started = Timestamp.parse(e["started_at"]?.stringValue ?? "") ?? .distantFuture
            delays.append(started.timeIntervalSince(created))
            usleep(100_000)
        }
        XCTAssertLessThan(delays.max() ?? 99, 0.6, "queue-to-start delays \(delays) (a 1 s poll alone would spread them over 0-1 s)")
        let claimers = try a.sql("SELECT DISTINCT c.node FROM execution_attempts c JOIN executions e ON e.id = c.execution_id WHERE e.agent_id = \(quick)")
        XCTAssertEqual(claimers.compactMap { $0["node"]?.stringValue }, [try node(of: b)], "the idle node ran them")
    }
    /// The reaper's two refusals: a run interrupted NEO_RUN_MAX_ATTEMPTS times fails saying so, and a direct invoke
    /// whose node died mid-call fails (its caller is gone), neither sent again.
    func test_reaper_failsARunInterruptedTooOften_andAnOrphanedDirectInvoke() throws {
        let environment = ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback", "NEO_RUN_MAX_ATTEMPTS": "3"]
        let first = try TestServer(environment: environment)
        let upstream = try RecordingUpstream(directory: first.directory)
        defer { upstream.stop() }
        _ = try call(first, "POST", "/public-api/external-apis", ["name": "ok", "endpoint_url": .string(upstream.base + "/ok/x"), "method": "GET",
                                                                 "requires_approval": false])
        let agent = try XCTUnwrap(try call(first, "POST", "/public-api/agents", ["name": "n", "trigger_type": "TRIGGERED", "actions": [
            ["action_type": "EXTERNAL_API_REQUEST", "input_as_dict": ["api_name": "ok"]]]])["id"]?.stringValue)
        let run = try runNow(first, agent)
        let invoke = try XCTUnwrap(try call(first, "POST", "/public-api/external-apis/ok/invoke", [:])["execution_id"]?.stringValue)
        try waitFor(10, "the run ends") { try execution(first, run)["status"] == "succeeded" }
        XCTAssertEqual(first.stop(signal: SIGKILL), 9)
        let sent = try upstream.requests("/ok").count
        // Both left running by a dead node: the run on its third attempt after two interruptions; the invoke mid-call.
        let expiry = Self.onPostgres ? "2000-01-01T00:00:00.000Z" : "2999-01-01T00:00:00.000Z"
        try first.sql("""
            UPDATE executions SET status = 'running', finished_at = NULL, next_action = 0, attempt = 3, interruptions = 2,
              lease_owner = 'dead-node', lease_expires_at = '\(expiry)' WHERE id = '\(run)'
            """)
        try first.sql("""
            UPDATE executions SET status = 'running', finished_at = NULL, lease_owner = 'dead-node', lease_expires_at = '\(expiry)' WHERE id = '\(invoke)'
            """)
        let second = try TestServer(environment: environment, directory: first.directory)
        defer { second.stop() }
        var failedRun = JSON.null, failedInvoke = JSON.null
        try waitFor(15, "the reaper ends both") {
            failedRun = try execution(second, run)
            failedInvoke = try execution(second, invoke)
            return failedRun["status"] == "failed" && failedInvoke["status"] == "failed"
        }
        XCTAssertTrue(failedRun["error"]?.stringValue?.contains("interrupted 3 time(s), the most NEO_RUN_MAX_ATTEMPTS (3) allows") ?? false, "\(failedRun)")
        XCTAssertTrue(failedRun["error"]?.stringValue?.contains("node dead-node stopped while running attempt 3") ?? false, "\(failedRun)")
        XCTAssertTrue(failedInvoke["error"]?.stringValue?.contains("whether the upstream received it is unknown") ?? false, "\(failedInvoke)")
        let last = try call(second, "GET", "/public-api/executions/\(invoke)/steps?page_size=50").arrayValue?.last
        XCTAssertEqual(last?["type"], "ERROR")
        XCTAssertEqual(last?["data"]?["taken_over_from"], "dead-node")
        usleep(500_000)
        XCTAssertEqual(try upstream.requests("/ok").count, sent, "neither was sent again")
        XCTAssertEqual(try execution(second, run)["attempt"], 3, "and neither claimed again")
    }
}

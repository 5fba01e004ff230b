import Foundation
import NeoJSON
import XCTest

/// The audit log (design §12) through the real server: which writes append a row, what a row holds,
/// the read API's filters and paging, who may read it, and that no one can change a row.
final class AuditLogTests: SharedServerTestCase {
    func audit(_ query: String = "", key: String = TestServer.adminKey) throws -> [JSON] {
        let r = try server.request("GET", "/public-api/audit-log" + (query.isEmpty ? "" : "?" + query), key: key)
        XCTAssertEqual(r.status, 200, r.text)
        return r.data?.arrayValue ?? []
    }

    func createAgent(_ name: String, key: String = TestServer.adminKey) throws -> String {
        let r = try server.request("POST", "/public-api/agents", key: key, json: ["name": .string(name), "trigger_type": "NONE", "actions": []])
        XCTAssertEqual(r.status, 201, r.text)
        return try XCTUnwrap(r.data?["id"]?.stringValue)
    }

    /// SQL straight on the server's database (sqlite3 or psql): the exit status and what it printed.
    func sql(_ statement: String) throws -> (status: Int32, output: String) {
        do {
            try server.sql(statement)
            return (0, "")
        } catch {
            return (1, (error as NSError).localizedDescription)
        }
    }

    func test_agentWrites_appendOneRowEachWithTemplateAndChainedHashes() throws {
        let id = try createAgent("audited agent")
        XCTAssertEqual(try server.request("PUT", "/public-api/agents/\(id)", json: ["description": "first"]).status, 200)
        // A PUT that changes nothing writes nothing, and so logs nothing.
        XCTAssertEqual(try server.request("PUT", "/public-api/agents/\(id)", json: ["description": "first"]).status, 200)
        // Test mode persists nothing: no row.
        XCTAssertEqual(try server.request("PUT", "/public-api/agents/\(id)", json: ["description": "planned"],
                                          headers: ["X-Neo-Test-Mode": "1"]).status, 200)
        let deleted = try server.request("DELETE", "/public-api/agents/\(id)")
        XCTAssertEqual(deleted.status, 200)
        let rows = try audit("resource_type=agent&resource_id=\(id)")
        XCTAssertEqual(rows.count, 3, "\(rows)")
        let (del, put, create) = (rows[0], rows[1], rows[2])
        XCTAssertEqual(create["method"]?.stringValue, "POST")
        XCTAssertEqual(create["route"]?.stringValue, "/public-api/agents")
        XCTAssertEqual(create["status"]?.intValue, 201)
        XCTAssertEqual(create["before_sha256"], .null)
        XCTAssertEqual(put["route"]?.stringValue, "/public-api/agents/{agent_id}", "the template, not the raw path")
        XCTAssertEqual(put["method"]?.stringValue, "PUT")
        XCTAssertEqual(del["method"]?.stringValue, "DELETE")
        XCTAssertEqual(put["before_sha256"], create["after_sha256"], "each write starts from the state the last one left")
        XCTAssertEqual(del["before_sha256"], put["after_sha256"])
        XCTAssertNotEqual(put["before_sha256"], put["after_sha256"])
        for row in rows {
            XCTAssertEqual(row["actor"]?.stringValue, "user")
            XCTAssertEqual(row["resource_id"]?.stringValue, id)
            XCTAssertNotNil(row["key_id"]?.intValue)
            XCTAssertEqual(row["after_sha256"]?.stringValue?.count, 64)
            XCTAssertEqual(row["request_id"]?.stringValue?.count, 36)
        }
        XCTAssertEqual(del["request_id"]?.stringValue, deleted.headers["x-request-id"])
        let ids = rows.compactMap { $0["id"]?.intValue }
        XCTAssertEqual(ids, ids.sorted(by: >), "newest first")
    }

    func test_everyKindOfWrite_isLoggedAndNoSecretIsEver() throws {
        let secret = "CANARY-audit-secret-91ab"
        let created = try server.request("POST", "/public-api/external-apis", json: [
            "name": "audited_api", "endpoint_url": "https://api.example.invalid/v1", "method": "GET",
            "auth": ["type": "bearer", "token": .string(secret)],
        ])
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(try server.request("PUT", "/public-api/external-apis/audited_api", json: ["description": "d"]).status, 200)
        XCTAssertEqual(try server.request("PUT", "/public-api/settings", json: ["timezone": "Europe/Berlin"]).status, 200)
        let member = try server.createKey(["name": "audited member"])
        let agent = try createAgent("audited runs")
        let run = try server.request("POST", "/public-api/agents/\(agent)/run-now", json: [:])
        XCTAssertEqual(run.status, 202)
        let executionId = try XCTUnwrap(run.data?["execution_id"]?.stringValue)
        let keys = try server.request("GET", "/public-api/api-keys?page_size=200").data?.arrayValue ?? []
        let memberId = try XCTUnwrap(keys.first { $0["name"]?.stringValue == "audited member" }?["id"]?.stringValue)
        XCTAssertEqual(try server.request("DELETE", "/public-api/api-keys/\(memberId)").status, 200)
        XCTAssertEqual(try server.request("DELETE", "/public-api/api-keys/\(memberId)").status, 200, "a repeated revoke changes nothing")
        XCTAssertEqual(try server.request("DELETE", "/public-api/external-apis/audited_api").status, 200)
        XCTAssertEqual(try server.request("GET", "/public-api/agents/\(agent)", key: member).status, 401)

        let api = try audit("resource_type=external_api&resource_id=audited_api")
        XCTAssertEqual(api.map { $0["method"]?.stringValue ?? "" }, ["DELETE", "PUT", "POST"])
        XCTAssertEqual(api.first?["after_sha256"], .null, "a delete leaves no row to hash")
        XCTAssertEqual(try audit("resource_type=settings").first?["route"]?.stringValue, "/public-api/settings")
        let execution = try audit("resource_type=execution&resource_id=\(executionId)")
        XCTAssertEqual(execution.first?["route"]?.stringValue, "/public-api/agents/{agent_id}/run-now")
        XCTAssertEqual(execution.first?["status"]?.intValue, 202)
        let key = try audit("resource_type=api_key&resource_id=\(memberId)")
        XCTAssertEqual(key.map { $0["status"]?.intValue ?? 0 }, [200, 201])
        let everything = try server.request("GET", "/public-api/audit-log?page_size=200")
        XCTAssertFalse(everything.text.contains(secret))
        XCTAssertFalse(everything.text.contains(member))
    }

    func test_filtersPagingAndCursorBinding() throws {
        let other = try server.createKey(["name": "audit filter key", "permissions": ["agents": "read_write"]])
        let before = Date()
        for i in 0..<3 { _ = try createAgent("filtered \(i)", key: other) }
        let keys = try server.request("GET", "/public-api/api-keys?page_size=200").data?.arrayValue ?? []
        let otherId = try XCTUnwrap(keys.first { $0["name"]?.stringValue == "audit filter key" }?["id"]?.stringValue)
        let mine = try audit("key_id=\(otherId)")
        XCTAssertEqual(mine.count, 3)
        XCTAssertTrue(mine.allSatisfy { $0["key_id"]?.intValue == Int64(otherId) })
        let first = try server.request("GET", "/public-api/audit-log?key_id=\(otherId)&page_size=2")
        XCTAssertEqual(first.data?.arrayValue?.count, 2)
        XCTAssertEqual(first.json?["meta"]?["pagination"]?["has_more"], .bool(true))
        let cursor = try XCTUnwrap(first.json?["meta"]?["pagination"]?["next_cursor"]?.stringValue)
        let second = try server.request("GET", "/public-api/audit-log?key_id=\(otherId)&page_size=2&cursor=\(cursor)")
        XCTAssertEqual(second.data?.arrayValue?.count, 1)
        XCTAssertEqual(second.data?.arrayValue?.first?["id"], mine.last?["id"])
        let rebound = try server.request("GET", "/public-api/audit-log?resource_type=agent&cursor=\(cursor)")
        XCTAssertEqual(rebound.status, 400, "a cursor is bound to its filters")
        let since = ISO8601DateFormatter().string(from: before.addingTimeInterval(-1))
        XCTAssertEqual(try audit("key_id=\(otherId)&since=\(since)").count, 3)
        XCTAssertEqual(try audit("key_id=\(otherId)&until=\(since)").count, 0)
        for bad in ["resource_type=widget", "since=yesterday", "key_id=abc", "page_size=0"] {
            let r = try server.request("GET", "/public-api/audit-log?\(bad)")
            XCTAssertEqual(r.status, 400, bad)
            XCTAssertEqual(r.errorCode, "BAD_REQUEST", bad)
        }
    }

    func test_onlyAdminsRead_andEachTenantSeesItsOwn() throws {
        let member = try server.createKey(["name": "audit reader", "permissions": ["agents": "read_write", "executions": "read_write"]])
        let refused = try server.request("GET", "/public-api/audit-log", key: member)
        XCTAssertEqual(refused.status, 403)
        XCTAssertEqual(refused.errorCode, "FORBIDDEN")
        let otherAdmin = try server.adminKey(forTenant: "audit-other-\(UUID().uuidString.prefix(8))")
        let theirs = try createAgent("their audited agent", key: otherAdmin)
        let theirRows = try audit(key: otherAdmin)
        XCTAssertTrue(theirRows.contains { $0["resource_id"]?.stringValue == theirs })
        XCTAssertTrue(theirRows.contains { $0["actor"]?.stringValue == "cli" && $0["route"]?.stringValue == "keys create" },
                      "the CLI made that tenant's admin key")
        XCTAssertFalse(try audit("page_size=200").contains { $0["resource_id"]?.stringValue == theirs && $0["resource_type"]?.stringValue == "agent" })
    }

    func test_noAPIOrSQLCanChangeOrDeleteARow() throws {
        _ = try createAgent("append only")
        for method in ["PUT", "PATCH", "DELETE", "POST"] {
            XCTAssertEqual(try server.request(method, "/public-api/audit-log", json: [:]).status, 405, method)
        }
        let update = try sql("UPDATE audit_log SET status = 999;")
        XCTAssertNotEqual(update.status, 0)
        XCTAssertTrue(update.output.contains("append-only"), update.output)
        let delete = try sql("DELETE FROM audit_log;")
        XCTAssertNotEqual(delete.status, 0)
        XCTAssertTrue(delete.output.contains("append-only"), delete.output)
        XCTAssertFalse(try audit().isEmpty)
        XCTAssertFalse(try audit().contains { $0["status"]?.intValue == 999 })
    }

    func test_cliKeyOperations_areLogged() throws {
        let (status, out) = try server.cli(["keys", "create", "--tenant", "default", "--name", "cli audited"])
        XCTAssertEqual(status, 0, out)
        let keys = try server.request("GET", "/public-api/api-keys?page_size=200").data?.arrayValue ?? []
        let id = try XCTUnwrap(keys.first { $0["name"]?.stringValue == "cli audited" }?["id"]?.stringValue)
        XCTAssertEqual(try server.cli(["keys", "revoke", id]).status, 0)
        let rows = try audit("resource_type=api_key&resource_id=\(id)")
        XCTAssertEqual(rows.map { $0["route"]?.stringValue ?? "" }, ["keys revoke", "keys create"])
        XCTAssertTrue(rows.allSatisfy { $0["actor"]?.stringValue == "cli" && $0["method"]?.stringValue == "CLI" && $0["key_id"] == .null })
    }

    func test_tilDecision_isLoggedWithWhatItApplied() throws {
        let agent = try createAgent("held edits")
        let agentKey = try server.createKey(["name": "agent actor", "actor": "agent", "agent_id": .int(Int64(agent)!),
                                             "permissions": ["agents": "read_write"]])
        let held = try server.request("PUT", "/public-api/agents/\(agent)", key: agentKey, json: ["agent_settings": ["x": 1]])
        XCTAssertEqual(held.status, 202, held.text)
        let til = try XCTUnwrap(held.data?["id"]?.intValue)
        let decided = try server.request("POST", "/public-api/til-requests/\(til)/decision", json: ["action": "approve"])
        XCTAssertEqual(decided.status, 200, decided.text)
        let tilRows = try audit("resource_type=til_request&resource_id=\(til)")
        XCTAssertEqual(tilRows.map { $0["status"]?.intValue ?? 0 }, [200, 202])
        XCTAssertEqual(tilRows.last?["actor"]?.stringValue, "agent")
        XCTAssertEqual(tilRows.first?["route"]?.stringValue, "/public-api/til-requests/{request_id}/decision")
        XCTAssertEqual(tilRows.first?["before_sha256"], tilRows.last?["after_sha256"])
        let agentRows = try audit("resource_type=agent&resource_id=\(agent)")
        XCTAssertEqual(agentRows.first?["route"]?.stringValue, "/public-api/til-requests/{request_id}/decision",
                       "the approved edit is logged as the decision's write")
    }
}

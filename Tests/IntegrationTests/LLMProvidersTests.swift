import Foundation
import NeoJSON
import XCTest

/// `/llm-providers` through the real server: CRUD, the masked key, one default per tenant, validation at
/// write (the upstream policy included), permissions and tenants.
final class LLMProvidersTests: SharedServerTestCase {
    override class var environment: [String: String] { ["NEO_RATE_LIMIT": "0", "NEO_UPSTREAM_POLICY": "loopback"] }

    static let canary = "CANARY-llm-key-6b1f0e"

    func provider(_ name: String, _ extra: JSONObject = JSONObject()) -> JSON {
        var body: JSONObject = ["name": .string(name), "kind": "openai_chat", "base_url": "http://127.0.0.1:9/v1", "model": "test-model",
                                "api_key": .string(Self.canary)]
        for (k, v) in extra { body[k] = v }
        return .object(body)
    }

    func test_crud_masksTheKey_keepsItOnMask_andHasOneDefault() throws {
        let tenant = try server.adminKey(forTenant: "providers-crud")
        let first = try server.request("POST", "/public-api/llm-providers", key: tenant, json: provider("local"))
        XCTAssertEqual(first.status, 201, first.text)
        XCTAssertEqual(first.data?["api_key"], "***")
        XCTAssertEqual(first.data?["default"], true, "a tenant's first provider is its default")
        XCTAssertEqual(first.data?["timeout_ms"], 60000)
        XCTAssertEqual(first.data?["max_retries"], 2)

        let second = try server.request("POST", "/public-api/llm-providers", key: tenant,
                                        json: provider("claude", ["kind": "anthropic_messages", "default": true, "api_key": .null]))
        XCTAssertEqual(second.status, 201, second.text)
        XCTAssertEqual(second.data?["api_key"], .null, "no key is null, not ***")
        XCTAssertEqual(try server.request("GET", "/public-api/llm-providers/local", key: tenant).data?["default"], false,
                       "a new default takes over")

        let put = try server.request("PUT", "/public-api/llm-providers/local", key: tenant,
                                     json: ["model": "other-model", "api_key": "***", "default": true])
        XCTAssertEqual(put.status, 200, put.text)
        XCTAssertEqual(put.data?["model"], "other-model")
        XCTAssertEqual(put.data?["api_key"], "***", "*** kept the stored key")
        let list = try server.request("GET", "/public-api/llm-providers", key: tenant).data?.arrayValue ?? []
        XCTAssertEqual(list.compactMap { $0["name"]?.stringValue }, ["claude", "local"])
        XCTAssertEqual(list.filter { $0["default"] == true }.count, 1)

        XCTAssertEqual(try server.request("POST", "/public-api/llm-providers", key: tenant, json: provider("local")).status, 409)
        XCTAssertEqual(try server.request("PUT", "/public-api/llm-providers/local", key: tenant, json: ["name": "renamed"]).status, 422)
        XCTAssertEqual(try server.request("DELETE", "/public-api/llm-providers/claude", key: tenant).status, 200)
        XCTAssertEqual(try server.request("GET", "/public-api/llm-providers/claude", key: tenant).status, 404)
        XCTAssertFalse(list.contains { $0.serializedString().contains(Self.canary) })
    }

    func test_invalidBodies_are422NamingTheField() throws {
        let cases: [(JSONObject, String, String?)] = [
            (["kind": "gemini"], "kind", nil),
            (["base_url": "ftp://127.0.0.1/v1"], "base_url", nil),
            (["base_url": "http://127.0.0.1:11434/v1?x=1"], "base_url", nil),
            (["base_url": "https://api.openai.com/v1"], "base_url", "NEO_UPSTREAM_POLICY=loopback"),
            (["base_url": "http://10.1.2.3/v1"], "base_url", "NEO_UPSTREAM_POLICY=private"),
            (["model": ""], "model", nil),
            (["api_key": "***"], "api_key", nil),
            (["timeout_ms": 10], "timeout_ms", nil),
            (["max_retries": 11], "max_retries", nil),
            (["name": "Bad Name"], "name", nil),
        ]
        for (change, field, hint) in cases {
            let r = try server.request("POST", "/public-api/llm-providers", json: provider("bad", change))
            XCTAssertEqual(r.status, 422, "\(change): \(r.text)")
            XCTAssertEqual(r.json?["error"]?["details"]?.arrayValue?.first?["field"]?.stringValue, field, "\(change)")
            if let hint { XCTAssertTrue(r.errorMessage?.contains(hint) ?? false, "the refusal names the fix: \(r.text)") }
        }
        XCTAssertEqual(try server.request("GET", "/public-api/llm-providers/bad").status, 404, "nothing was stored")
    }

    func test_permissions_tenants_agentKeys_andTestMode() throws {
        let tenant = try server.adminKey(forTenant: "providers-perm")
        XCTAssertEqual(try server.request("POST", "/public-api/llm-providers", key: tenant, json: provider("shared")).status, 201)
        let reader = try server.createKey(["name": "reader", "role": "member", "permissions": ["external_apis": "read"]], using: tenant)
        XCTAssertEqual(try server.request("GET", "/public-api/llm-providers/shared", key: reader).status, 200)
        XCTAssertEqual(try server.request("PUT", "/public-api/llm-providers/shared", key: reader, json: ["model": "x"]).status, 403)
        let none = try server.createKey(["name": "none", "role": "member", "permissions": ["external_apis": "none"]], using: tenant)
        XCTAssertEqual(try server.request("GET", "/public-api/llm-providers", key: none).status, 403)

        let agent = try server.request("POST", "/public-api/agents", key: tenant, json: ["name": "a", "trigger_type": "NONE", "actions": []])
        let agentKey = try server.createKey(["name": "agent", "role": "member", "actor": "agent",
                                             "agent_id": .int(Int64(agent.data?["id"]?.stringValue ?? "") ?? 0),
                                             "permissions": ["external_apis": "read_write"]], using: tenant)
        let held = try server.request("PUT", "/public-api/llm-providers/shared", key: agentKey, json: ["model": "x"])
        XCTAssertEqual(held.status, 403, "an agent key cannot repoint its agents at another model: \(held.text)")

        XCTAssertEqual(try server.request("GET", "/public-api/llm-providers/shared").status, 404, "another tenant's provider is 404")
        let dry = try server.request("POST", "/public-api/llm-providers", key: tenant, json: provider("dry"), headers: ["X-Neo-Test-Mode": "1"])
        XCTAssertEqual(dry.status, 201)
        XCTAssertEqual(dry.json?["meta"]?["warnings"], ["test mode: not persisted"])
        XCTAssertEqual(try server.request("GET", "/public-api/llm-providers/dry", key: tenant).status, 404)
    }
}

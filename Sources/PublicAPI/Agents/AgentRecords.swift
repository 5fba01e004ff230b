import Basics
import Foundation
import NeoJSON
import Store

/// SQL for agents, their version snapshots and held agent edits (TIL requests). Every query filters on the
/// tenant; every write runs inside the caller's `store.write` transaction.
enum AgentRecords {
    /// The stored document and version of one agent; 404 when absent or another tenant's.
    static func load(_ id: Int64, tenantId: Int64, _ db: Database) throws -> (document: JSONObject, version: Int64) {
        guard let row = try db.queryOne("SELECT document, version FROM agents WHERE id = ? AND tenant_id = ?",
                                        [.int(id), .int(tenantId)]),
              let text = row.string("document"), let version = row.int("version") else {
            throw APIError.notFound("agent '\(id)' not found")
        }
        guard case .object(let document) = try JSON.parse(Array(text.utf8)) else {
            throw APIError.internalError()
        }
        return (document, version)
    }

    /// Inserts a new agent at version 1 and its first snapshot; returns the stored document.
    static func insert(_ document: JSONObject, tenantId: Int64, actor: JSON, now: String, _ db: Database) throws -> JSONObject {
        let id = try db.queryOne("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM agents")?.int("next") ?? 1
        var stored = document
        stored["id"] = .string(String(id))
        stored["created_at"] = .string(now)
        stored["updated_at"] = .string(now)
        stored["version"] = .int(1)
        let text = JSON.object(stored).serializedString()
        try db.execute("""
            INSERT INTO agents (id, tenant_id, name, description, group_name, group_order, state, trigger_type,
                                autonomy_type, entity_type, version, document, summary, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
            """, [.int(id), .int(tenantId)] + listedColumns(stored)
                + [.text(stored["autonomy_type"]?.stringValue ?? ""), .text(stored["entity_type"]?.stringValue ?? ""),
                   .text(text), .text(JSON.object(agentSummary(stored)).serializedString()), .text(now), .text(now)])
        try snapshot(agentId: id, tenantId: tenantId, version: 1, actor: actor, document: text, now: now, db)
        return stored
    }

    /// Writes `document` as the next version when the stored one is still `expectedVersion`; a lost race
    /// is 409 agent_update_conflict with nothing written.
    static func update(_ id: Int64, tenantId: Int64, expectedVersion: Int64, document: JSONObject, actor: JSON,
                       now: String, _ db: Database) throws -> JSONObject {
        var stored = document
        stored["version"] = .int(expectedVersion + 1)
        stored["updated_at"] = .string(now)
        let text = JSON.object(stored).serializedString()
        let changed = try db.execute("""
            UPDATE agents SET name = ?, description = ?, group_name = ?, group_order = ?, state = ?, trigger_type = ?,
                              version = ?, document = ?, summary = ?, updated_at = ?
            WHERE id = ? AND tenant_id = ? AND version = ?
            """, listedColumns(stored) + [.int(expectedVersion + 1), .text(text),
                                          .text(JSON.object(agentSummary(stored)).serializedString()), .text(now),
                                          .int(id), .int(tenantId), .int(expectedVersion)])
        guard changed == 1 else { throw AgentRecords.conflict("agent \(id) changed while this update was applied; re-read it and retry") }
        try snapshot(agentId: id, tenantId: tenantId, version: expectedVersion + 1, actor: actor, document: text, now: now, db)
        return stored
    }

    /// Holds an agent-actor's destructive patch as a pending TIL request (design §4); returns the TilRequest.
    static func holdForApproval(agent: JSONObject, agentId: Int64, baseVersion: Int64, patch: JSONObject, touched: [String],
                                caller: Principal, now: String, persist: Bool, _ db: Database) throws -> JSONObject {
        let name = agent["name"]?.stringValue ?? ""
        let change = patch["state"]?.stringValue == "DELETED" && touched == ["state"]
            ? "delete it" : "change \(touched.joined(separator: ", "))"
        let comment = "API key \(caller.keyId) (agent actor) asks to \(change) of agent '\(name)' (version \(baseVersion))"
        let patchText = JSON.object(patch).serializedString()
        let expiresAt = Timestamp.format(Date().addingTimeInterval(7 * 24 * 3600))
        var tilId: JSON = .null
        if persist {
            try db.execute("""
                INSERT INTO til_requests (tenant_id, agent_id, agent_name, kind, status, comment, requested_for, payload,
                                          approvers, base_version, requested_by_key_id, created_at, updated_at, expires_at)
                VALUES (?, ?, ?, 'agent_update', 'pending', ?, ?, ?, '[]', ?, ?, ?, ?, ?)
                """, [.int(caller.tenantId), .int(agentId), .text(name), .text(comment), .text(patchText), .text(patchText),
                      .int(baseVersion), .int(caller.keyId), .text(now), .text(now), .text(expiresAt)])
            tilId = .int(db.lastInsertRowID)
        }
        return JSONObject([
            ("id", tilId), ("agent_id", .int(agentId)), ("agent_name", .string(name)), ("approvers", .array([])),
            ("comment", .string(comment)), ("decided_by", .null), ("requested_for", .object(patch)),
            ("session_id", .null), ("ticket_id", .null), ("ticket_number", .null),
            ("created_at", .string(now)), ("updated_at", .string(now)), ("status", .string("pending")),
            ("kind", .string("agent_update")), ("execution_id", .null), ("decided_at", .null), ("note", .null),
            ("expires_at", .string(expiresAt)),
        ])
    }

    /// The snapshot in force at `cutoff` (a stored timestamp string): nil when the agent is absent or
    /// another tenant's; `.some(nil)` when it was created after `cutoff`.
    static func version(at cutoff: String, agentId: Int64, tenantId: Int64, _ db: Database) throws -> (document: String, version: Int64)?? {
        guard try db.queryOne("SELECT 1 FROM agents WHERE id = ? AND tenant_id = ?", [.int(agentId), .int(tenantId)]) != nil else { return nil }
        guard let row = try db.queryOne("""
            SELECT document, version FROM agent_versions WHERE agent_id = ? AND tenant_id = ? AND created_at <= ?
            ORDER BY version DESC LIMIT 1
            """, [.int(agentId), .int(tenantId), .text(cutoff)]),
              let document = row.string("document"), let version = row.int("version") else { return .some(nil) }
        return .some((document, version))
    }

    /// Whether the tenant has an external-API config named `name`.
    static func externalAPIExists(_ name: String, tenantId: Int64, _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM external_apis WHERE tenant_id = ? AND name = ?", [.int(tenantId), .text(name)]) != nil
    }

    /// Neo's code for an edit that lost to another one (If-Match mismatch or a lost race).
    static func conflict(_ message: String) -> APIError {
        APIError(status: 409, code: "agent_update_conflict", message: message)
    }

    /// Who made a write, as recorded in AgentVersion.actor.
    static func actor(_ caller: Principal) -> JSON {
        .object(JSONObject([("type", .string(caller.actor.rawValue)), ("api_key_id", .string(String(caller.keyId)))]))
    }

    private static func snapshot(agentId: Int64, tenantId: Int64, version: Int64, actor: JSON, document: String,
                                 now: String, _ db: Database) throws {
        try db.execute("INSERT INTO agent_versions (agent_id, tenant_id, version, actor, document, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       [.int(agentId), .int(tenantId), .int(version), .text(actor.serializedString()), .text(document), .text(now)])
    }

    /// name, description, group_name, group_order, state, trigger_type: the columns lists filter on.
    private static func listedColumns(_ document: JSONObject) -> [SQLValue] {
        func text(_ key: String) -> SQLValue { document[key]?.stringValue.map(SQLValue.text) ?? .null }
        return [text("name"), text("description"), text("group_name"),
                document["group_order"]?.intValue.map(SQLValue.int) ?? .null, text("state"), text("trigger_type")]
    }
}

extension AgentRecords {
    /// TIL approval of a held agent edit: the patch is merged again onto the agent as it is now (so
    /// edits made since are kept) and must still validate; a refusal fails the request with its reason.
    static func applyHeld(_ db: Database, request: Row, decider: Principal) throws {
        guard let agentId = request.int("agent_id"), let text = request.string("payload"),
              case .object(let patch) = try JSON.parse(Array(text.utf8)) else {
            throw APIError.conflict("the held change is unreadable")
        }
        let tenantId = request.int("tenant_id")!
        let (current, version) = try AgentRecords.load(agentId, tenantId: tenantId, db)
        let result: AgentPatchResult
        do {
            result = try applyAgentPatch(patch, to: current)
        } catch let e as APIError {
            throw AgentRecords.conflict("the held change no longer applies to agent \(agentId) (now version \(version)): \(e.message)")
        }
        guard result.agent != current else { return }
        let actor = JSON.object(JSONObject([
            ("type", .string("agent")), ("api_key_id", request.int("requested_by_key_id").map { .string(String($0)) } ?? .null),
            ("approved_by_api_key_id", .string(String(decider.keyId))), ("til_request_id", .string(String(request.int("id")!))),
        ]))
        _ = try AgentRecords.update(agentId, tenantId: tenantId, expectedVersion: version, document: result.agent,
                                    actor: actor, now: Timestamp.now(), db)
    }
}

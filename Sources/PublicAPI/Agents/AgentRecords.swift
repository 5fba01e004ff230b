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

    /// The stored document, or nil when the agent is absent or another tenant's.
    static func document(_ id: Int64, tenantId: Int64, _ db: Database) throws -> JSONObject? {
        guard let text = try db.queryOne("SELECT document FROM agents WHERE id = ? AND tenant_id = ?", [.int(id), .int(tenantId)])?.string("document") else {
            return nil
        }
        return try JSON.parse(Array(text.utf8)).objectValue
    }

    /// The AgentDetail as served (the stored text with next_run_at) and its version.
    static func storedText(_ id: Int64, tenantId: Int64, _ db: Database) throws -> (document: [UInt8], version: Int64)? {
        var served: (document: [UInt8], version: Int64)?
        try db.forEachRow("SELECT document, version, next_run_at FROM agents WHERE id = ? AND tenant_id = ?", [.int(id), .int(tenantId)]) { row in
            var out: [UInt8] = []
            appendServed(row, to: &out)
            served = (out, row.int(1))
        }
        return served
    }

    /// Column 0 of `row` (a stored JSON object: an AgentDetail or an Agent summary) with the read-only
    /// `next_run_at` of column `nextRunAt` added as its last member. next_run_at lives in its own column,
    /// so the scheduler moving it on rewrites neither the document nor the summary.
    static func appendServed(_ row: RowCursor, nextRunAt column: Int = 2, to out: inout [UInt8]) {
        guard let object = row.textBytes(0), object.count >= 2, object.last == 125 else {
            row.appendText(0, to: &out)
            return
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: object.dropLast()))
        if object.count > 2 { out.append(44) }
        out.append(contentsOf: #""next_run_at":"#.utf8)
        if let next = row.textBytes(column) {
            out.append(34)
            out.append(contentsOf: next)
            out.append(34)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(125)
    }

    /// The list filters of `GET /agents`; DELETED agents are listed only when `state` asks for them.
    struct Filter {
        var state: String?
        var triggerType: String?
        var autonomyType: String?
        var groupName: String?
        var search: String?
    }

    /// One page of `Agent` summaries as a JSON array, concatenated from the stored summaries.
    static func summaries(tenantId: Int64, _ filter: Filter, page: Page, _ db: Database) throws -> ([UInt8], PageInfo) {
        var query = ListQuery("SELECT summary, created_at, id, next_run_at FROM agents WHERE tenant_id = ?", [.int(tenantId)])
        if let state = filter.state { query.filter("state = ?", [.text(state)]) } else { query.filter("state != 'DELETED'", []) }
        if let t = filter.triggerType { query.filter("trigger_type = ?", [.text(t)]) }
        if let a = filter.autonomyType { query.filter("autonomy_type = ?", [.text(a)]) }
        if let g = filter.groupName { query.filter("group_name = ?", [.text(g)]) }
        try query.search(["name", "description"], filter.search)
        let (sql, params) = query.paged(page)
        var out: [UInt8] = [91]
        out.reserveCapacity(page.size * 320)
        var count = 0
        var last: (createdAt: String, id: String)?
        try db.forEachRow(sql, params) { row in
            count += 1
            guard count <= page.size else { return }
            if count > 1 { out.append(44) }
            appendServed(row, nextRunAt: 3, to: &out)
            if count == page.size { last = (row.string(1) ?? "", String(row.int(2))) }
        }
        out.append(93)
        return (out, pageInfo(page, more: count > page.size, last: last))
    }

    /// One page of AgentVersion snapshots (`{version, created_at, actor, agent}`) as a JSON array, newest
    /// first; nil when the agent is absent or another tenant's.
    static func versions(of id: Int64, tenantId: Int64, page: Page, _ db: Database) throws -> ([UInt8], PageInfo)? {
        guard try exists(id, tenantId: tenantId, db) else { return nil }
        let (clause, keyset) = page.keysetClause(createdAt: "created_at", id: "version")
        var out: [UInt8] = [91]
        var count = 0
        var last: (createdAt: String, id: String)?
        try db.forEachRow("""
            SELECT version, created_at, actor, document FROM agent_versions WHERE agent_id = ? AND tenant_id = ?\(clause)
            ORDER BY created_at DESC, version DESC LIMIT ?
            """, [.int(id), .int(tenantId)] + keyset + [.int(Int64(page.size + 1))]) { row in
            count += 1
            guard count <= page.size else { return }
            if count > 1 { out.append(44) }
            out.append(contentsOf: #"{"version":"#.utf8)
            out.append(contentsOf: String(row.int(0)).utf8)
            out.append(contentsOf: #","created_at":""#.utf8)
            row.appendText(1, to: &out)
            out.append(contentsOf: #"","actor":"#.utf8)
            row.appendText(2, to: &out)
            out.append(contentsOf: #","agent":"#.utf8)
            row.appendText(3, to: &out)
            out.append(125)
            if count == page.size { last = (row.string(1) ?? "", String(row.int(0))) }
        }
        out.append(93)
        return (out, pageInfo(page, more: count > page.size, last: last))
    }

    private static func pageInfo(_ page: Page, more: Bool, last: (createdAt: String, id: String)?) -> PageInfo {
        PageInfo(hasMore: more, nextCursor: more ? last.map { page.encodeCursor(createdAt: $0.createdAt, id: $0.id) } : nil)
    }

    /// What an execution records about its agent.
    static func nameAndVersion(_ id: Int64, tenantId: Int64, _ db: Database) throws -> (name: String, version: Int64)? {
        guard let row = try db.queryOne("SELECT name, version FROM agents WHERE id = ? AND tenant_id = ?", [.int(id), .int(tenantId)]) else { return nil }
        return (row.string("name") ?? "", row.int("version") ?? 0)
    }

    /// The ids of the tenant's agents that are not DELETED, by name, each list in id order (a fixture matches agents by
    /// name: one query for all its entries, where one per entry walked the tenant's agents each time).
    static func liveIdsByName(tenantId: Int64, _ db: Database) throws -> [String: [Int64]] {
        var byName: [String: [Int64]] = [:]
        try db.forEachRow("SELECT id, name FROM agents WHERE tenant_id = ? AND state != 'DELETED' ORDER BY id", [.int(tenantId)]) { row in
            guard let name = row.string(1) else { return }
            byName[name, default: []].append(row.int(0))
        }
        return byName
    }

    static func exists(_ id: Int64, tenantId: Int64, _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM agents WHERE id = ? AND tenant_id = ?", [.int(id), .int(tenantId)]) != nil
    }

    /// Inserts a new agent at version 1 and its first snapshot; returns the stored document.
    static func insert(_ document: JSONObject, tenantId: Int64, actor: JSON, now: String, _ db: Database) throws -> JSONObject {
        // The id goes into the document before the row exists. SQLite: the next rowid (its single writer makes
        // MAX + 1 safe). PostgreSQL: the identity sequence, so concurrent creates on several nodes never collide
        // (a rolled-back create leaves a gap).
        let next = db.dialect == .postgres ? "SELECT nextval(pg_get_serial_sequence('agents', 'id')) AS next"
                                           : "SELECT COALESCE(MAX(id), 0) + 1 AS next FROM agents"
        let id = try db.queryOne(next)?.int("next") ?? 1
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

    /// Holds an agent-actor's destructive patch as a pending TIL request (design §4); returns it (unsaved
    /// when `persist` is false: test mode answers what it would store).
    static func holdForApproval(agent: JSONObject, agentId: Int64, baseVersion: Int64, patch: JSONObject, touched: [String],
                                caller: Principal, persist: Bool, _ db: Database) throws -> TilRequest {
        let name = agent["name"]?.stringValue ?? ""
        let change = patch["state"]?.stringValue == "DELETED" && touched == ["state"]
            ? "delete it" : "change \(touched.joined(separator: ", "))"
        let draft = TilRequestDraft(
            tenantId: caller.tenantId, agentId: agentId, agentName: name, kind: .agentUpdate,
            comment: "API key \(caller.keyId) (agent actor) asks to \(change) of agent '\(name)' (version \(baseVersion))",
            requestedFor: .object(patch), payload: JSON.object(patch).serializedString(), baseVersion: baseVersion,
            requestedByKeyId: caller.keyId)
        return persist ? try ApprovalRecords.insert(draft, now: Date(), db) : TilRequest(unsaved: draft, now: Date())
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
    static func applyHeld(_ db: Database, request: TilRequest, decider: Principal) throws {
        guard let agentId = request.agentId, let text = request.payload,
              case .object(let patch) = try JSON.parse(Array(text.utf8)) else {
            throw APIError.conflict("the held change is unreadable")
        }
        let (current, version) = try AgentRecords.load(agentId, tenantId: request.tenantId, db)
        let result: AgentPatchResult
        do {
            result = try applyAgentPatch(patch, to: current)
        } catch let e as APIError {
            throw AgentRecords.conflict("the held change no longer applies to agent \(agentId) (now version \(version)): \(e.message)")
        }
        guard result.agent != current else { return }
        let actor = JSON.object(JSONObject([
            ("type", .string("agent")), ("api_key_id", request.requestedByKeyId.map { .string(String($0)) } ?? .null),
            ("approved_by_api_key_id", .string(String(decider.keyId))), ("til_request_id", .string(String(request.id ?? 0))),
        ]))
        _ = try AgentRecords.update(agentId, tenantId: request.tenantId, expectedVersion: version, document: result.agent,
                                    actor: actor, now: Timestamp.now(), db)
    }

    /// `applyHeld`, then the agent's schedule planned again, as after every agent write.
    static func heldEditApplier(_ scheduler: Scheduler) -> TilApplier {
        { db, request, decider in
            try applyHeld(db, request: request, decider: decider)
            guard let agentId = request.agentId, let document = try document(agentId, tenantId: request.tenantId, db) else { return }
            try scheduler.agentWritten(agentId, tenantId: request.tenantId, document: document, db)
            scheduler.poke()
        }
    }
}

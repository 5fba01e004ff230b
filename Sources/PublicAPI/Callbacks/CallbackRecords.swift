import NeoJSON
import Store

/// SQL for inbound events: callbacks and their audit, the first callback run of each agent per entity, and
/// the agents matching reads. Every query names the tenant; writes run inside the caller's `store.write`.
enum CallbackRecords {
    // MARK: callbacks

    static func find(_ id: String, tenantId: Int64, _ db: Database) throws -> Callback? {
        try db.queryOne("SELECT \(Callback.columns) FROM callbacks WHERE id = ? AND tenant_id = ?", [.text(id), .int(tenantId)]).map(Callback.init)
    }

    /// The callback a sender's `event_id` already produced.
    static func find(eventId: String, tenantId: Int64, _ db: Database) throws -> Callback? {
        try db.queryOne("SELECT \(Callback.columns) FROM callbacks WHERE tenant_id = ? AND event_id = ?", [.int(tenantId), .text(eventId)]).map(Callback.init)
    }

    /// The entity as the last callback for it carried it (to derive `changes` for events without them).
    static func latestEntity(tenantId: Int64, entityType: String, entityId: String, _ db: Database) throws -> JSONObject? {
        guard let text = try db.queryOne("""
            SELECT entity FROM callbacks WHERE tenant_id = ? AND entity_type = ? AND entity_id = ?
            ORDER BY created_at DESC, id DESC LIMIT 1
            """, [.int(tenantId), .text(entityType), .text(entityId)])?.string("entity") else { return nil }
        return try JSON.parse(text).objectValue
    }

    /// Inserts a callback. A second one with the same (tenant, event_id) fails on the unique key
    /// (`isDuplicateEvent`), which is what makes dedupe hold under concurrent ingests.
    static func insert(_ c: Callback, _ db: Database) throws {
        func text(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
        try db.execute("INSERT INTO callbacks (\(Callback.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            .text(c.id), .int(c.tenantId), text(c.eventId), .text(c.entityType), .text(c.entityId), text(c.entityNumber),
            .text(c.changeType), .text(c.entity), .text(c.changes), .text(c.changesFrom.rawValue), .text(c.source),
            text(c.createdInPSAAt), .text(c.matcherRunId), .text(c.startedWorkflowIds), .text(c.storedFailedIds),
            .text(c.workflowMatches), .text(c.startedExecutions), text(c.runAfter), text(c.errorMessage), .text(c.createdAt),
            .text(c.finishedProcessingAt), text(c.agentSet),
        ])
    }

    // MARK: agent sets

    /// Stores the agents a callback is matched against, once per distinct list (a no-op when the tenant has it),
    /// in the callback's own transaction: a set a callback names is always there.
    static func insert(_ set: AgentSet, tenantId: Int64, now: String, _ db: Database) throws {
        // Looked up first: the usual case (stored) then binds a digest, not the whole list.
        guard try db.queryOne("SELECT 1 AS present FROM callback_agent_sets WHERE tenant_id = ? AND digest = ?",
                              [.int(tenantId), .text(set.digest)]) == nil else { return }
        try db.execute("""
            INSERT INTO callback_agent_sets (tenant_id, digest, agents, agent_ids, created_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """, [.int(tenantId), .text(set.digest), .text(set.agentsJSON), .text(String(decoding: set.idsJSON, as: UTF8.self)), .text(now)])
    }

    /// A stored set's `[[workflow_id, version], …]`.
    static func agentSet(_ digest: String, tenantId: Int64, _ db: Database) throws -> String? {
        try db.queryOne("SELECT agents FROM callback_agent_sets WHERE tenant_id = ? AND digest = ?", [.int(tenantId), .text(digest)])?.string("agents")
    }

    /// Deletes up to `limit` sets created before `cutoff` that no callback names; returns how many went. (A set
    /// still current is stored again by the next callback matched against it.)
    static func pruneAgentSets(before cutoff: String, limit: Int, _ db: Database) throws -> Int {
        try db.execute("""
            DELETE FROM callback_agent_sets WHERE (tenant_id, digest) IN (
                SELECT s.tenant_id, s.digest FROM callback_agent_sets s
                WHERE s.created_at < ?
                  AND NOT EXISTS (SELECT 1 FROM callbacks c WHERE c.tenant_id = s.tenant_id AND c.agent_set = s.digest)
                LIMIT ?)
            """, [.text(cutoff), .int(Int64(limit))])
    }

    /// The error `insert` throws for an `event_id` the tenant already used.
    static func isDuplicateEvent(_ error: Error) -> Bool {
        guard let e = error as? StoreError, e.kind == .constraint else { return false }
        return e.message.contains("callbacks.tenant_id, callbacks.event_id")       // SQLite
            || e.message.contains("constraint callbacks_tenant_id_event_id_key")  // PostgreSQL
    }

    /// The filters of `GET /callbacks`; the route makes sure one of them is indexed.
    struct Filter {
        var entityType: String?
        var entityId: String?
        var entityNumber: String?
        var since: String?
        var until: String?
        var changeTypes: [String]?
        var agentId: Int64?
    }

    static func list(tenantId: Int64, _ filter: Filter, page: Page, _ db: Database) throws -> ([Callback], PageInfo) {
        var query = ListQuery("SELECT \(Callback.columns) FROM callbacks WHERE tenant_id = ?", [.int(tenantId)])
        if let type = filter.entityType { query.filter("entity_type = ?", [.text(type)]) }
        if let id = filter.entityId { query.filter("entity_id = ?", [.text(id)]) }
        if let number = filter.entityNumber { query.filter("entity_number = ?", [.text(number)]) }
        if let since = filter.since { query.filter("created_at >= ?", [.text(since)]) }
        if let until = filter.until { query.filter("created_at < ?", [.text(until)]) }
        query.oneOf("change_type", filter.changeTypes)
        if let agent = filter.agentId {
            // Callbacks that considered the agent: it started, or it is in the failed-to-match list, or (callbacks
            // with an agent set, whose row keeps no failed ids) it is in the set.
            query.filter("""
                (\(db.jsonArrayHas("started_workflow_ids")) OR \(db.jsonArrayHas("failed_to_match_workflow_ids"))
                 OR EXISTS (SELECT 1 FROM callback_agent_sets s WHERE s.tenant_id = callbacks.tenant_id AND s.digest = callbacks.agent_set
                            AND \(db.jsonArrayHas("s.agent_ids"))))
                """, [.int(agent), .int(agent), .int(agent)])
        }
        let (sql, params) = query.paged(page)
        let (rows, info) = page.finish(try db.query(sql, params)) { ($0.string("created_at")!, $0.string("id")!) }
        return (rows.map(Callback.init), info)
    }

    // MARK: retention

    /// Deletes up to `limit` callbacks created before `cutoff` that started no run (`started_executions` is
    /// set in the same write as the runs, and a callback with runs stays for /executions/{id}/callback and
    /// run_only_once_per_entity); returns how many went. From the partial index alone.
    static func prune(before cutoff: String, limit: Int, _ db: Database) throws -> Int {
        try db.execute("""
            DELETE FROM callbacks WHERE id IN (
                SELECT id FROM callbacks\(db.indexedBy("callbacks_prunable"))
                WHERE started_executions = '[]' AND created_at < ?
                  AND NOT EXISTS (SELECT 1 FROM callback_entity_runs r WHERE r.callback_id = callbacks.id)
                ORDER BY created_at LIMIT ?)
            """, [.text(cutoff), .int(Int64(limit))])
    }

    // MARK: run_only_once_per_entity

    /// The agents that already ran for this entity from a callback.
    static func agentsThatRan(tenantId: Int64, entityId: String, _ db: Database) throws -> Set<Int64> {
        var ids: Set<Int64> = []
        try db.forEachRow("SELECT agent_id FROM callback_entity_runs WHERE tenant_id = ? AND entity_id = ?", [.int(tenantId), .text(entityId)]) {
            ids.insert($0.int(0))
        }
        return ids
    }

    /// Records an agent's first callback run for an entity; later runs leave the first one in place.
    static func recordRun(tenantId: Int64, agentId: Int64, entityId: String, callbackId: String, executionId: String,
                          now: String, _ db: Database) throws {
        try db.execute("""
            INSERT INTO callback_entity_runs (tenant_id, entity_id, agent_id, callback_id, execution_id, created_at)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """, [.int(tenantId), .text(entityId), .int(agentId), .text(callbackId), .text(executionId), .text(now)])
    }

    // MARK: the agents matching reads

    /// The tenant's agent generation (migration 0012's triggers bump it on every agent change); 0 before any.
    static func agentGeneration(tenantId: Int64, _ db: Database) throws -> Int64 {
        try db.queryOne("SELECT generation FROM agent_generations WHERE tenant_id = ?", [.int(tenantId)])?.int("generation") ?? 0
    }

    /// (id, version) of the tenant's ENABLED TRIGGERED agents of one entity type, from the covering index.
    static func triggeredAgentVersions(tenantId: Int64, entityType: String, _ db: Database) throws -> [(id: Int64, version: Int64)] {
        var out: [(Int64, Int64)] = []
        let hint = db.indexedBy("agents_triggered")
        try db.forEachRow("""
            SELECT id, version FROM agents\(hint)
            WHERE tenant_id = ? AND trigger_type = 'TRIGGERED' AND state = 'ENABLED' AND entity_type = ?
            """, [.int(tenantId), .text(entityType)]) { out.append(($0.int(0), $0.int(1))) }
        return out
    }

    /// One version of an agent from its snapshots (rendering a stored callback's audit).
    static func agentVersion(_ id: Int64, version: Int64, tenantId: Int64, _ db: Database) throws -> TriggeredAgent? {
        guard let text = try db.queryOne("SELECT document FROM agent_versions WHERE agent_id = ? AND version = ? AND tenant_id = ?",
                                         [.int(id), .int(version), .int(tenantId)])?.string("document"),
              let document = try JSON.parse(text).objectValue else { return nil }
        return TriggeredAgent(id: id, version: version, document: document)
    }

    /// One agent's document and version, for matching.
    static func triggeredAgent(_ id: Int64, _ db: Database) throws -> TriggeredAgent? {
        guard let row = try db.queryOne("SELECT version, document FROM agents WHERE id = ?", [.int(id)]),
              let version = row.int("version"), let text = row.string("document"),
              let document = try JSON.parse(text).objectValue else { return nil }
        return TriggeredAgent(id: id, version: version, document: document)
    }
}

import Basics
import Foundation
import NeoJSON
import Store

/// SQL for executions, their steps and artifacts: queueing and claiming runs, recording steps, and the
/// lists. Reads name the tenant; runner writes go by execution id (a uuid the runner claimed).
enum ExecutionRecords {
    static let columns = "id, tenant_id, agent_id, agent_name, kind, status, entity_id, entity_number, additional_custom_instructions, message_for_dashboard, error, input, test_mode, retry_of, created_at, updated_at, started_at, finished_at, seconds_spent, next_action, approved_action, trigger, llm_calls, prompt_tokens, completion_tokens, trace_id, trace_state, attempt, lease_owner"
    static let stepColumns = "id, execution_id, seq, type, message, is_error, tool_call_id, tool_type_name, data, created_at"
    static let artifactColumns = "id, execution_id, kind, name, content, created_at"
    /// Seconds from started_at to `?` (bound to the finishing time); 0 when it never started.
    private static func secondsSpent(_ db: Database) -> String {
        "COALESCE(\(db.secondsBetween("started_at", "?")), 0)"
    }

    // MARK: reads

    static func find(_ id: String, tenantId: Int64, _ db: Database) throws -> Execution? {
        try db.queryOne("SELECT \(columns) FROM executions WHERE id = ? AND tenant_id = ?", [.text(id), .int(tenantId)]).map(Execution.init)
    }

    /// A run by id alone (the runner's own claimed work).
    static func find(_ id: String, _ db: Database) throws -> Execution? {
        try db.queryOne("SELECT \(columns) FROM executions WHERE id = ?", [.text(id)]).map(Execution.init)
    }

    static func status(of id: String, _ db: Database) throws -> ExecutionStatus? {
        try db.queryOne("SELECT status FROM executions WHERE id = ?", [.text(id)])?.string("status").flatMap(ExecutionStatus.init)
    }

    /// The list filters of `GET /executions`.
    struct Filter {
        var agentId: Int64?
        var entityId: String?
        var entityNumber: String?
        var statuses: [String]?
        var createdAfter: String?
        var createdBefore: String?
    }

    static func list(tenantId: Int64, _ filter: Filter, page: Page, _ db: Database) throws -> ([Execution], PageInfo) {
        var query = ListQuery("SELECT \(columns) FROM executions WHERE tenant_id = ?", [.int(tenantId)])
        if let agent = filter.agentId { query.filter("agent_id = ?", [.int(agent)]) }
        if let entity = filter.entityId { query.filter("entity_id = ?", [.text(entity)]) }
        if let number = filter.entityNumber { query.filter("entity_number = ?", [.text(number)]) }
        query.oneOf("status", filter.statuses)
        // One agent's runs page from executions_by_agent, on SQLite an index on julianday(created_at) (migration 0021).
        let byJulianDay = filter.agentId != nil && db.dialect == .sqlite
        query.createdWindow(after: filter.createdAfter, before: filter.createdBefore, byJulianDay: byJulianDay)
        let (sql, params) = query.paged(page, byJulianDay: byJulianDay)
        let (rows, info) = page.finish(try db.query(sql, params)) { ($0.string("created_at")!, $0.string("id")!) }
        return (rows.map(Execution.init), info)
    }

    /// The step filters of `GET /executions/{id}/steps`.
    struct StepFilter {
        var types: [String]?
        var toolTypeName: String?
        var stepId: Int64?
    }

    /// One page of an execution's steps, oldest first (an event history reads forward).
    static func steps(of executionId: String, _ filter: StepFilter, page: Page, _ db: Database) throws -> ([ExecutionStep], PageInfo) {
        var sql = "SELECT \(stepColumns) FROM execution_steps WHERE execution_id = ?"
        var params: [SQLValue] = [.text(executionId)]
        if let types = filter.types, !types.isEmpty {
            sql += " AND type IN (\(Array(repeating: "?", count: types.count).joined(separator: ",")))"
            params += types.map { .text($0) }
        }
        if let tool = filter.toolTypeName { sql += " AND LOWER(tool_type_name) = LOWER(?)"; params.append(.text(tool)) }
        if let step = filter.stepId { sql += " AND id = ?"; params.append(.int(step)) }
        let (clause, cursorParams) = page.keysetClause(ascending: true)
        sql += clause + " ORDER BY created_at ASC, id ASC LIMIT ?"
        params += cursorParams + [.int(Int64(page.size + 1))]
        let (rows, info) = page.finish(try db.query(sql, params)) { ($0.string("created_at")!, String($0.int("id")!)) }
        return (rows.map(ExecutionStep.init), info)
    }

    static func artifacts(of executionId: String, tenantId: Int64, page: Page, _ db: Database) throws -> ([Artifact], PageInfo) {
        let (clause, params) = page.keysetClause()
        let rows = try db.query("SELECT \(artifactColumns) FROM artifacts WHERE tenant_id = ? AND execution_id = ?\(clause) ORDER BY created_at DESC, id DESC LIMIT ?",
                                [.int(tenantId), .text(executionId)] + params + [.int(Int64(page.size + 1))])
        let (items, info) = page.finish(rows) { ($0.string("created_at")!, $0.string("id")!) }
        return (items.map(Artifact.init), info)
    }

    static func artifact(_ id: String, tenantId: Int64, _ db: Database) throws -> Artifact? {
        try db.queryOne("SELECT \(artifactColumns) FROM artifacts WHERE id = ? AND tenant_id = ?", [.text(id), .int(tenantId)]).map(Artifact.init)
    }

    /// Counts, failures and the durations (ascending) of one agent's executions created in [since, until).
    static func stats(agentId: Int64, tenantId: Int64, since: String, until: String, _ db: Database) throws -> (executions: Int64, failures: Int64, durations: [Double]) {
        var scope = "FROM executions WHERE tenant_id = ? AND agent_id = ? AND created_at >= ? AND created_at < ?"
        var params: [SQLValue] = [.int(tenantId), .int(agentId), .text(since), .text(until)]
        if db.dialect == .sqlite {  // the window in the form executions_by_agent holds (migration 0021)
            scope += " AND " + ListQuery.julianDay("created_at", ">=") + " AND " + ListQuery.julianDay("created_at", "<=")
            params += [.text(since), .text(until)]
        }
        let counts = try db.queryOne("SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN status = \(ExecutionStatus.failed.sql) THEN 1 ELSE 0 END), 0) AS failed \(scope)", params)
        var durations: [Double] = []
        try db.forEachRow("SELECT seconds_spent \(scope) AND seconds_spent IS NOT NULL ORDER BY seconds_spent", params) {
            durations.append($0.double(0))
        }
        return (counts?.int("n") ?? 0, counts?.int("failed") ?? 0, durations)
    }

    /// Executions per (kind, status), for the metrics.
    static func countsByKindAndStatus(_ db: Database) throws -> [(kind: String, status: String, count: Int64)] {
        var out: [(kind: String, status: String, count: Int64)] = []
        try db.forEachRow("SELECT kind, status, COUNT(*) AS n FROM executions GROUP BY kind, status ORDER BY kind, status", []) {
            out.append(($0.string(0) ?? "", $0.string(1) ?? "", $0.int(2)))
        }
        return out
    }

    // MARK: queueing and the runner

    /// What a new execution records.
    struct NewExecution {
        var tenantId: Int64
        var agentId: Int64?
        var agentName: String?
        var agentVersion: Int64? = nil
        var kind: ExecutionKind
        var status: ExecutionStatus
        var entityId: String? = nil
        /// The entity's number when it differs from its id (callbacks carry both); else the id.
        var entityNumber: String? = nil
        var instructions: String? = nil
        var input: String?
        var testMode = false
        var retryOf: String? = nil
        var keyId: Int64?
        var trigger: JSON? = nil
        /// `trigger` already serialized, when one caller inserts many runs with the same trigger (a callback's matches).
        var triggerText: String? = nil
        /// Not before this time (a callback's sleep_before_callback_processing_seconds); nil = at once.
        var runAfter: String? = nil
        /// The W3C trace of the request that started it (its id and tracestate are kept).
        var trace: TraceContext? = nil
    }

    /// Inserts an execution; `startedBy` marks it running from `now` under a first claim by that node (a direct invoke,
    /// whose lease the node's heartbeat renews while the call is in flight). A queued one wakes the nodes.
    static func insert(_ new: NewExecution, id: String, now: String, startedBy node: String? = nil, leaseSeconds: Double = 0,
                       _ db: Database) throws {
        let started = node != nil
        try db.execute("""
            INSERT INTO executions (id, tenant_id, agent_id, agent_name, kind, status, entity_id, entity_number,
              additional_custom_instructions, input, test_mode, retry_of, created_by_key_id, created_at, updated_at, started_at, agent_version,
              trigger, run_after, trace_id, trace_state)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(id), .int(new.tenantId), new.agentId.map { .int($0) } ?? .null, new.agentName.map { .text($0) } ?? .null,
                  .text(new.kind.rawValue), .text(new.status.rawValue), new.entityId.map { .text($0) } ?? .null,
                  (new.entityNumber ?? new.entityId).map { .text($0) } ?? .null, new.instructions.map { .text($0) } ?? .null,
                  new.input.map { .text($0) } ?? .null, .int(new.testMode ? 1 : 0), new.retryOf.map { .text($0) } ?? .null,
                  new.keyId.map { .int($0) } ?? .null, .text(now), .text(now), started ? .text(now) : .null,
                  new.agentVersion.map { .int($0) } ?? .null, (new.triggerText ?? new.trigger?.serializedString()).map { .text($0) } ?? .null,
                  new.runAfter.map { .text($0) } ?? .null, new.trace.map { .text($0.traceId) } ?? .null,
                  new.trace?.state.map { .text($0) } ?? .null])
        if let node {
            try db.execute("UPDATE executions SET attempt = 1, lease_owner = ?, lease_expires_at = \(db.clockAfter("?")) WHERE id = ?",
                           [.text(node), .double(leaseSeconds), .text(id)])
            try db.execute("INSERT INTO execution_attempts (execution_id, attempt, node, claimed_at) VALUES (?, 1, ?, ?)",
                           [.text(id), .text(node), .text(now)])
        }
        if new.status == .queued { try db.notifyRunsQueued() }
    }

    /// When the queued run that becomes runnable first does so (its run_after, else created_at); nil when none is
    /// queued. One step of the partial index executions_runnable.
    static func nextRunnableAt(_ db: Database) throws -> String? {
        try db.queryOne("SELECT MIN(COALESCE(run_after, created_at)) AS due FROM executions WHERE status = \(ExecutionStatus.queued.sql)")?
            .string("due")
    }

    /// Claims the queued run that became runnable first (at created_at, or at run_after when it has one) for `node`:
    /// running, attempt + 1, leased for `leaseSeconds` on the database clock; returns it. Runs queued in the same
    /// millisecond start in insertion (rowid) order, so a callback's matches start in execution_order. The partial index
    /// executions_runnable serves this. PostgreSQL: `FOR UPDATE SKIP LOCKED` (run READ COMMITTED), so nodes claiming
    /// together take different rows; SQLite's single writer makes the plain UPDATE safe. The claim is recorded in
    /// execution_attempts, whose key refuses a second claim of one attempt.
    static func claimNext(node: String, leaseSeconds: Double, now: String, _ db: Database) throws -> Execution? {
        let set = """
            UPDATE executions SET status = \(ExecutionStatus.running.sql), attempt = attempt + 1, lease_owner = ?,
              lease_expires_at = \(db.clockAfter("?")), started_at = COALESCE(started_at, ?), updated_at = ?
            """
        let params: [SQLValue] = [.text(node), .double(leaseSeconds), .text(now), .text(now)]
        let claimed: Row?
        if db.dialect == .postgres {
            claimed = try db.queryOne(set + """
                 WHERE id = (SELECT id FROM executions
                             WHERE status = \(ExecutionStatus.queued.sql) AND COALESCE(run_after, created_at) <= ?
                             ORDER BY COALESCE(run_after, created_at), rowid LIMIT 1\(db.forUpdateSkipLocked))
                   AND status = \(ExecutionStatus.queued.sql)
                RETURNING id, attempt
                """, params + [.text(now)])
        } else {
            // INDEXED BY is SQLite's planner hint; PostgreSQL picks the partial index itself.
            guard let next = try db.queryOne("""
                SELECT id FROM executions INDEXED BY executions_runnable
                WHERE status = \(ExecutionStatus.queued.sql) AND COALESCE(run_after, created_at) <= ?
                ORDER BY COALESCE(run_after, created_at), rowid LIMIT 1
                """, [.text(now)])?.string("id") else {
                return nil
            }
            claimed = try db.queryOne(set + " WHERE id = ? AND status = \(ExecutionStatus.queued.sql) RETURNING id, attempt", params + [.text(next)])
        }
        guard let row = claimed, let id = row.string("id"), let attempt = row.int("attempt") else { return nil }
        try db.execute("INSERT INTO execution_attempts (execution_id, attempt, node, claimed_at) VALUES (?, ?, ?, ?)",
                       [.text(id), .int(attempt), .text(node), .text(now)])
        return try find(id, db)
    }

    /// The heartbeat: the leases of the runs `node` is executing (`ids`) run `leaseSeconds` from now, in one UPDATE;
    /// returns how many it still held.
    @discardableResult
    static func renewLeases(node: String, ids: [String], leaseSeconds: Double, _ db: Database) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try db.execute("""
            UPDATE executions SET lease_expires_at = \(db.clockAfter("?"))
            WHERE lease_owner = ? AND status = \(ExecutionStatus.running.sql) AND id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))
            """, [.double(leaseSeconds), .text(node)] + ids.map { .text($0) })
    }

    /// Leases `node` gives up (a stop whose runs did not finish in time): they expire now, for another node to take.
    static func releaseLeases(node: String, ids: [String], _ db: Database) throws {
        guard !ids.isEmpty else { return }
        try db.execute("""
            UPDATE executions SET lease_expires_at = \(db.clockNow)
            WHERE lease_owner = ? AND status = \(ExecutionStatus.running.sql) AND id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))
            """, [.text(node)] + ids.map { .text($0) })
    }

    /// What the reaper did with one run whose node stopped holding it.
    struct Reaped {
        let id: String
        let attempt: Int64
        let previousOwner: String?
        /// Queued again (to resume at its next action), or failed.
        let requeued: Bool
    }

    /// The reaper: running runs whose lease expired (or, with `everyRunning`, all of them: a SQLite node starting,
    /// since no other node can own them) are taken from their node. A run goes back to queued, attempt kept (the next
    /// claim makes attempt + 1), to resume at its next_action, with a THOUGHT step naming the node it was taken
    /// from; after `maxAttempts` attempts that ended this way it fails instead, as does a direct invoke (its caller
    /// is gone). Rows a writer holds right now are skipped (PostgreSQL, READ COMMITTED), left for the next round.
    /// Runs one reaper transaction takes at most.
    static let reapBatch = 100

    static func reap(node: String, everyRunning: Bool, maxAttempts: Int, now: String, limit: Int = reapBatch, _ db: Database) throws -> [Reaped] {
        let rows = try db.query("""
            SELECT id, kind, approved_action, attempt, lease_owner, lease_expires_at, interruptions, next_action FROM executions
            WHERE status = \(ExecutionStatus.running.sql) AND (? = 1 OR COALESCE(lease_expires_at, '') < \(db.clockNow))
            ORDER BY lease_expires_at LIMIT ?\(db.forUpdateSkipLocked)
            """, [.int(everyRunning ? 1 : 0), .int(Int64(limit))])
        var out: [Reaped] = []
        for row in rows {
            guard let id = row.string("id") else { continue }
            let attempt = row.int("attempt") ?? 0
            let owner = row.string("lease_owner")
            let interrupted = (row.int("interruptions") ?? 0) + 1
            let from = owner.map { "node \($0)" } ?? "a node"
            let expiry = row.string("lease_expires_at").map { " (its lease expired at \($0))" } ?? ""
            let directInvoke = row.string("kind") == ExecutionKind.externalAPIInvoke.rawValue && row.int("approved_action") == nil
            let data = JSON.object(JSONObject([("taken_over_from", owner.map(JSON.string) ?? .null), ("attempt", .int(attempt)),
                                               ("lease_expires_at", row.string("lease_expires_at").map(JSON.string) ?? .null),
                                               ("by_node", .string(node)), ("interruptions", .int(interrupted))]))
            let failure: String?
            if directInvoke {
                failure = "\(from) stopped while this call was in flight\(expiry); whether the upstream received it is unknown"
            } else if interrupted >= Int64(maxAttempts) {
                failure = "\(from) stopped while running attempt \(attempt)\(expiry); the run was interrupted \(interrupted) time(s), "
                    + "the most NEO_RUN_MAX_ATTEMPTS (\(maxAttempts)) allows, and is not tried again"
            } else {
                failure = nil
            }
            if let failure {
                try appendStep(id, type: .error, message: failure, isError: true, data: data, db)
                try db.execute("DELETE FROM agent_loops WHERE execution_id = ?", [.text(id)])
                try db.execute("""
                    UPDATE executions SET status = \(ExecutionStatus.failed.sql), error = ?, message_for_dashboard = ?, interruptions = ?,
                      finished_at = ?, updated_at = ?, seconds_spent = \(secondsSpent(db)) WHERE id = ?
                    """, [.text(failure), .text(failure), .int(interrupted), .text(now), .text(now), .text(now), .text(id)])
            } else {
                let next = row.int("next_action") ?? 0
                try appendStep(id, type: .thought,
                               message: "taken over from \(from): attempt \(attempt) stopped\(expiry); queued again to resume at action \(next)",
                               data: data, db)
                try db.execute("""
                    UPDATE executions SET status = \(ExecutionStatus.queued.sql), lease_owner = NULL, lease_expires_at = NULL, interruptions = ?,
                      run_after = NULL, updated_at = ? WHERE id = ?
                    """, [.int(interrupted), .text(now), .text(id)])
            }
            out.append(Reaped(id: id, attempt: attempt, previousOwner: owner, requeued: failure == nil))
        }
        if out.contains(where: \.requeued) { try db.notifyRunsQueued() }
        return out
    }

    // MARK: fencing (design §11)

    /// Whether `lease` is still the run's current claim: running, the same attempt, the same node. Inside a write
    /// (`locking`) the row is share-locked on PostgreSQL, so a reaper or a cancel changing it waits for this
    /// transaction: every write after this check lands while the node holds the attempt. Throws `LeaseLost`.
    static func hold(_ lease: RunLease, locking: Bool = true, _ db: Database) throws {
        let row = try db.queryOne("SELECT status, attempt, lease_owner FROM executions WHERE id = ?\(locking ? db.forShare : "")",
                                  [.text(lease.executionId)])
        let status = row?.string("status")
        let attempt = row?.int("attempt")
        let owner = row?.string("lease_owner")
        guard status == ExecutionStatus.running.rawValue, attempt == lease.attempt, owner == lease.node else {
            throw LeaseLost(lease: lease, status: status, attempt: attempt, owner: owner)
        }
    }

    /// Like `hold`, whatever the status: the attempt and node still match (a chat turn ending after its run finished).
    static func holdAttempt(_ lease: RunLease, _ db: Database) throws {
        let row = try db.queryOne("SELECT status, attempt, lease_owner FROM executions WHERE id = ?\(db.forShare)", [.text(lease.executionId)])
        guard row?.int("attempt") == lease.attempt, row?.string("lease_owner") == lease.node else {
            throw LeaseLost(lease: lease, status: row?.string("status"), attempt: row?.int("attempt"), owner: row?.string("lease_owner"))
        }
    }

    /// Cancels a run that is still active; false when it had finished.
    static func cancel(_ id: String, tenantId: Int64, now: String, _ db: Database) throws -> Bool {
        try db.execute("""
            UPDATE executions SET status = \(ExecutionStatus.cancelled.sql), finished_at = ?, updated_at = ?, seconds_spent = \(secondsSpent(db))
            WHERE id = ? AND tenant_id = ? AND status IN \(ExecutionStatus.sql(ExecutionStatus.active))
            """, [.text(now), .text(now), .text(now), .text(id), .int(tenantId)]) > 0
    }

    static func setNextAction(_ lease: RunLease, _ index: Int, now: String, _ db: Database) throws {
        try hold(lease, db)
        try db.execute("UPDATE executions SET next_action = ?, updated_at = ? WHERE id = ? AND attempt = ? AND lease_owner = ?",
                       [.int(Int64(index)), .text(now), .text(lease.executionId), .int(lease.attempt), .text(lease.node)])
    }

    /// A running run pauses at `action` until a person decides; the dashboard message says which request.
    static func waitForApproval(_ lease: RunLease, atAction action: Int, message: String, now: String, _ db: Database) throws {
        try hold(lease, db)
        try db.execute("""
            UPDATE executions SET status = \(ExecutionStatus.waitingApproval.sql), next_action = ?, message_for_dashboard = ?, updated_at = ?
            WHERE id = ? AND status = \(ExecutionStatus.running.sql) AND attempt = ? AND lease_owner = ?
            """, [.int(Int64(action)), .text(message), .text(now), .text(lease.executionId), .int(lease.attempt), .text(lease.node)])
    }

    static func setMessage(_ id: String, _ message: String, _ db: Database) throws {
        try db.execute("UPDATE executions SET message_for_dashboard = ? WHERE id = ?", [.text(message), .text(id)])
    }

    /// An approved run is queued again and resumes at `action` (under a new claim: attempt + 1).
    static func resume(_ id: String, approvedAction action: Int, now: String, _ db: Database) throws {
        let resumed = try db.execute("""
            UPDATE executions SET status = \(ExecutionStatus.queued.sql), approved_action = ?, message_for_dashboard = NULL, updated_at = ?
            WHERE id = ? AND status = \(ExecutionStatus.waitingApproval.sql)
            """, [.int(Int64(action)), .text(now), .text(id)])
        if resumed > 0 { try db.notifyRunsQueued() }
    }

    /// Ends a running run this node holds (`LeaseLost` when a cancel or another node came first).
    static func finish(_ lease: RunLease, as status: ExecutionStatus, error: String?, message: String, now: String, _ db: Database) throws {
        try hold(lease, db)
        try finish(lease.executionId, as: status, error: error, message: message, now: now, from: .running, db)
    }

    /// Ends a run. `from` is the status it must still have (a cancel that came first wins).
    static func finish(_ id: String, as status: ExecutionStatus, error: String?, message: String, now: String,
                       from current: ExecutionStatus, _ db: Database) throws {
        try db.execute("""
            UPDATE executions SET status = ?, error = ?, message_for_dashboard = ?, finished_at = ?, updated_at = ?, seconds_spent = \(secondsSpent(db))
            WHERE id = ? AND status = ?
            """, [.text(status.rawValue), error.map { .text($0) } ?? .null, .text(message), .text(now), .text(now), .text(now),
                  .text(id), .text(current.rawValue)])
    }

    /// Ends a direct invoke with its measured duration.
    static func finishInvoke(_ id: String, tenantId: Int64, failed: Bool, error: String?, message: String, now: String,
                             seconds: Double, _ db: Database) throws {
        try db.execute("""
            UPDATE executions SET status = ?, error = ?, message_for_dashboard = ?, updated_at = ?, finished_at = ?, seconds_spent = ?
            WHERE id = ? AND tenant_id = ?
            """, [.text(failed ? "failed" : "succeeded"), error.map { .text($0) } ?? .null, .text(message), .text(now), .text(now),
                  .double(seconds), .text(id), .int(tenantId)])
    }

    /// Appends one step of a run this node holds (fenced by `hold`); the step records the attempt and node that wrote it.
    @discardableResult
    static func appendStep(_ lease: RunLease, type: StepType, message: String?, isError: Bool = false,
                           toolCallId: String? = nil, toolType: String? = nil, data: JSON? = nil, _ db: Database) throws -> Int64 {
        try hold(lease, db)
        return try appendStep(lease.executionId, type: type, message: message, isError: isError, toolCallId: toolCallId, toolType: toolType,
                              data: data, claim: lease, db)
    }

    /// Appends one step written outside a claim (a direct invoke, a decision, the reaper); returns its sequence number.
    @discardableResult
    static func appendStep(_ executionId: String, type: StepType, message: String?, isError: Bool = false,
                           toolCallId: String? = nil, toolType: String? = nil, data: JSON? = nil, claim: RunLease? = nil,
                           _ db: Database) throws -> Int64 {
        let seq = (try db.queryOne("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM execution_steps WHERE execution_id = ?", [.text(executionId)])?.int("n")) ?? 1
        try db.execute("""
            INSERT INTO execution_steps (execution_id, tenant_id, seq, type, message, is_error, tool_call_id, tool_type_name, data, created_at, attempt, node)
            SELECT ?, tenant_id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM executions WHERE id = ?
            """, [.text(executionId), .int(seq), .text(type.rawValue), message.map { .text($0) } ?? .null, .int(isError ? 1 : 0),
                  toolCallId.map { .text($0) } ?? .null, toolType.map { .text($0) } ?? .null,
                  data.map { .text($0.serializedString()) } ?? .null, .text(Timestamp.now()),
                  claim.map { .int($0.attempt) } ?? .null, claim.map { .text($0.node) } ?? .null, .text(executionId)])
        return seq
    }

    static func insertArtifact(id: String, executionId: String, tenantId: Int64, name: String, content: String, now: String,
                               _ db: Database) throws {
        try db.execute("INSERT INTO artifacts (id, execution_id, tenant_id, kind, name, content, created_at) VALUES (?, ?, ?, 'markdown', ?, ?, ?)",
                       [.text(id), .text(executionId), .int(tenantId), .text(name), .text(content), .text(now)])
    }
}

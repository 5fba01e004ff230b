import Basics
import Executor
import Foundation
import NeoJSON
import Store

/// SQL for AGENTIC runs: the loop's persisted state and each execution's model usage. Writes run
/// inside the caller's transaction, by execution id (a run the runner claimed).
enum AgentLoopRecords {
    static func load(_ executionId: String, _ db: Database) throws -> AgentLoopState? {
        guard let text = try db.queryOne("SELECT state FROM agent_loops WHERE execution_id = ?", [.text(executionId)])?.string("state") else {
            return nil
        }
        guard let state = (try? JSON.parse(text)).flatMap(AgentLoopState.init(json:)) else {
            throw StoredLoopError(executionId: executionId)
        }
        return state
    }

    /// Saves the loop's state of a run this node holds (fenced by `ExecutionRecords.hold`).
    static func save(_ lease: RunLease, tenantId: Int64, _ state: AgentLoopState, _ db: Database) throws {
        try ExecutionRecords.hold(lease, db)
        let executionId = lease.executionId
        try db.execute("""
            INSERT INTO agent_loops (execution_id, tenant_id, state, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (execution_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
            """, [.text(executionId), .int(tenantId), .text(state.json.serializedString()), .text(Timestamp.now())])
    }

    static func delete(_ executionId: String, _ db: Database) throws {
        try db.execute("DELETE FROM agent_loops WHERE execution_id = ?", [.text(executionId)])
    }

    /// Whether the run is an AGENTIC loop holding a call for approval (a rejection then resumes it).
    static func isWaitingForApproval(_ executionId: String, _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM agent_loops WHERE execution_id = ? AND \(db.jsonValue("state", "$.approval")) IS NOT NULL",
                        [.text(executionId)]) != nil
    }

    /// Adds one model call's tokens to the execution's usage.
    static func addUsage(_ lease: RunLease, _ usage: TokenUsage, _ db: Database) throws {
        try ExecutionRecords.hold(lease, db)
        try db.execute("""
            UPDATE executions SET llm_calls = llm_calls + 1, prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?
            WHERE id = ? AND attempt = ? AND lease_owner = ?
            """, [.int(Int64(usage.prompt)), .int(Int64(usage.completion)), .text(lease.executionId), .int(lease.attempt), .text(lease.node)])
    }
}

/// A stored loop state that does not read back: the run fails, naming it.
struct StoredLoopError: Error, CustomStringConvertible {
    let executionId: String
    var description: String { "the stored state of AGENTIC run \(executionId) cannot be read" }
}

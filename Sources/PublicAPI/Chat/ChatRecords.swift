import Foundation
import NeoJSON
import Store

/// SQL for chat sessions (design §13): sessions, their history, their turns and their stream's parts. API
/// reads and writes name the tenant; the turn runner's writes go by id (a turn it started).
enum ChatRecords {
    static let sessionColumns = "id, tenant_id, agent_id, title, channel, client_id, bot_id, inbound_tenant_id, show_agent_progress_steps, archived_at, created_at, updated_at"

    // MARK: sessions

    static func insertSession(_ s: ChatSession, keyId: Int64, _ db: Database) throws {
        try db.execute("""
            INSERT INTO chat_sessions (id, tenant_id, agent_id, title, channel, client_id, bot_id, inbound_tenant_id,
              show_agent_progress_steps, key_id, archived_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)
            """, [.text(s.id), .int(s.tenantId), .int(s.agentId), s.title.map { .text($0) } ?? .null, .text(s.channel),
                  s.clientId.map { .text($0) } ?? .null, s.botId.map { .text($0) } ?? .null, s.inboundTenantId.map { .text($0) } ?? .null,
                  .int(s.showAgentProgressSteps ? 1 : 0), .int(keyId), .text(s.createdAt), .text(s.updatedAt)])
    }

    static func session(_ id: String, tenantId: Int64, _ db: Database) throws -> ChatSession? {
        try db.queryOne("SELECT \(sessionColumns) FROM chat_sessions WHERE id = ? AND tenant_id = ?", [.text(id), .int(tenantId)]).map(ChatSession.init)
    }

    /// One page of the tenant's sessions, newest first.
    static func sessions(tenantId: Int64, _ page: Page, _ db: Database) throws -> ([ChatSession], PageInfo) {
        let (sql, params) = ListQuery("SELECT \(sessionColumns) FROM chat_sessions WHERE tenant_id = ?", [.int(tenantId)]).paged(page)
        return page.finish(try db.query(sql, params).map(ChatSession.init)) { ($0.createdAt, $0.id) }
    }

    /// Sets archived_at once; false when it was archived already.
    static func archive(_ id: String, tenantId: Int64, now: String, _ db: Database) throws -> Bool {
        try db.execute("UPDATE chat_sessions SET archived_at = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND archived_at IS NULL",
                       [.text(now), .text(now), .text(id), .int(tenantId)]) == 1
    }

    // MARK: messages and turns

    /// The user message a `client_message_id` already made in this session.
    static func messageId(clientMessageId: String, session: String, _ db: Database) throws -> String? {
        try db.queryOne("SELECT id FROM chat_messages WHERE session_id = ? AND client_message_id = ?",
                        [.text(session), .text(clientMessageId)])?.string("id")
    }

    /// A message at its place in the conversation: turn n's user message is seq 2n, its answer 2n + 1, so the
    /// history reads as the conversation went even while later messages wait for their turn.
    static func insertMessage(id: String, session: ChatSession, role: String, content: String, turnId: String, turnSeq: Int64,
                              clientMessageId: String?, now: String, _ db: Database) throws {
        let seq = turnSeq * 2 + (role == "assistant" ? 1 : 0)
        try db.execute("""
            INSERT INTO chat_messages (id, session_id, tenant_id, seq, role, content, turn_id, client_message_id, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(id), .text(session.id), .int(session.tenantId), .int(seq), .text(role), .text(content),
                  .text(turnId), clientMessageId.map { .text($0) } ?? .null, .text(now)])
        try db.execute("UPDATE chat_sessions SET updated_at = ? WHERE id = ?", [.text(now), .text(session.id)])
    }

    /// The seq the session's next turn gets.
    static func nextTurnSeq(session: String, _ db: Database) throws -> Int64 {
        (try db.queryOne("SELECT MAX(seq) AS m FROM chat_turns WHERE session_id = ?", [.text(session)])?.int("m") ?? 0) + 1
    }

    static func insertTurn(_ turn: ChatTurn, _ db: Database) throws {
        try db.execute("""
            INSERT INTO chat_turns (id, session_id, tenant_id, seq, user_message_id, assistant_message_id, model_tier, status, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)
            """, [.text(turn.id), .text(turn.sessionId), .int(turn.tenantId), .int(turn.seq), .text(turn.userMessageId),
                  .text(turn.assistantMessageId), .text(turn.modelTier), .text(turn.createdAt), .text(turn.createdAt)])
    }

    /// One page of the history in conversation order (oldest first), keyed by seq alone: an answer can be
    /// written after a later question, so created_at does not order it.
    static func messages(session: String, _ page: Page, _ db: Database) throws -> ([JSONObject], PageInfo) {
        let after = page.after.flatMap { Int64($0.id) } ?? -1
        let rows = try db.query("""
            SELECT id, seq, role, content, turn_id, client_message_id, created_at FROM chat_messages WHERE session_id = ? AND seq > ?
            ORDER BY seq LIMIT ?
            """, [.text(session), .int(after), .int(Int64(page.size + 1))])
        let (items, info) = page.finish(rows) { ($0.string("created_at") ?? "", String($0.int("seq") ?? 0)) }
        return (items.map { row in
            JSONObject([("id", .string(row.string("id") ?? "")), ("session_id", .string(session)), ("role", .string(row.string("role") ?? "")),
                        ("content", .string(row.string("content") ?? "")), ("chat_turn_id", row.string("turn_id").map(JSON.string) ?? .null),
                        ("client_message_id", row.string("client_message_id").map(JSON.string) ?? .null),
                        ("attachments", .array([])), ("created_at", .string(row.string("created_at") ?? ""))])
        }, info)
    }

    /// The newest `limit` messages of the conversation up to turn `turnSeq`'s user message, oldest first.
    static func history(session: String, upToTurn turnSeq: Int64, limit: Int, _ db: Database) throws -> [(role: String, content: String)] {
        try db.query("""
            SELECT role, content FROM (
              SELECT seq, role, content FROM chat_messages WHERE session_id = ? AND seq <= ?
              ORDER BY seq DESC LIMIT ?) AS recent ORDER BY seq
            """, [.text(session), .int(turnSeq * 2), .int(Int64(limit))]).map { ($0.string("role") ?? "user", $0.string("content") ?? "") }
    }

    static let turnColumns = "id, session_id, tenant_id, seq, user_message_id, assistant_message_id, model_tier, status, execution_id, created_at"

    /// The session's oldest queued turn, when none of its turns is running.
    static func nextTurnToStart(session: String, _ db: Database) throws -> ChatTurn? {
        if try db.queryOne("SELECT 1 FROM chat_turns WHERE session_id = ? AND status = 'running'", [.text(session)]) != nil { return nil }
        return try db.queryOne("SELECT \(turnColumns) FROM chat_turns WHERE session_id = ? AND status = 'queued' ORDER BY seq LIMIT 1",
                               [.text(session)]).map(ChatTurn.init)
    }

    static func markRunning(_ turnId: String, executionId: String, now: String, _ db: Database) throws {
        try db.execute("UPDATE chat_turns SET status = 'running', execution_id = ?, updated_at = ? WHERE id = ? AND status = 'queued'",
                       [.text(executionId), .text(now), .text(turnId)])
    }

    static func turn(executionId: String, _ db: Database) throws -> ChatTurn? {
        try db.queryOne("SELECT \(turnColumns) FROM chat_turns WHERE execution_id = ?", [.text(executionId)]).map(ChatTurn.init)
    }

    /// running → succeeded | failed; false when the turn was not running.
    static func finishTurn(_ turnId: String, succeeded: Bool, error: String?, now: String, _ db: Database) throws -> Bool {
        try db.execute("UPDATE chat_turns SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = 'running'",
                       [.text(succeeded ? "succeeded" : "failed"), error.map { .text($0) } ?? .null, .text(now), .text(turnId)]) == 1
    }

    /// Turns left running whose execution has ended (the reaper fails a run interrupted NEO_RUN_MAX_ATTEMPTS times,
    /// and a crash can fall between a run's success and its turn's end): the execution's status, error and final text.
    static func orphanedTurns(session: String?, _ db: Database) throws -> [(turn: ChatTurn, status: String, error: String?, text: String?)] {
        try db.query("""
            SELECT t.id, t.session_id, t.tenant_id, t.seq, t.user_message_id, t.assistant_message_id, t.model_tier, t.status, t.execution_id, t.created_at,
                   e.status AS execution_status, e.error AS execution_error,
                   (SELECT \(db.jsonValue("s.data", "$.text")) FROM execution_steps s
                    WHERE s.execution_id = e.id AND s.type = 'FINAL_MESSAGE' ORDER BY s.seq DESC LIMIT 1) AS final_text
            FROM chat_turns t JOIN executions e ON e.id = t.execution_id
            WHERE t.status = 'running' AND e.status IN ('succeeded', 'failed', 'cancelled') AND (CAST(? AS TEXT) IS NULL OR t.session_id = ?)
            """, [session.map { .text($0) } ?? .null, session.map { .text($0) } ?? .null]).map {
            (ChatTurn(row: $0), $0.string("execution_status") ?? "failed", $0.string("execution_error"), $0.string("final_text"))
        }
    }

    /// Sessions with a queued turn and none running.
    static func sessionsWaitingToStart(_ db: Database) throws -> [String] {
        try db.query("""
            SELECT DISTINCT session_id FROM chat_turns q WHERE status = 'queued'
            AND NOT EXISTS (SELECT 1 FROM chat_turns r WHERE r.session_id = q.session_id AND r.status = 'running')
            """).compactMap { $0.string("session_id") }
    }

    // MARK: the stream's parts

    static func insertEvents(_ events: [ChatEvent], _ db: Database) throws {
        for e in events {
            try db.execute("INSERT INTO chat_events (session_id, seq, turn_id, part, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           [.text(e.sessionId), .int(e.seq), e.turnId.map { .text($0) } ?? .null, .text(e.part), .text(e.createdAt)])
        }
    }

    static func lastEventSeq(session: String, _ db: Database) throws -> Int64 {
        try db.queryOne("SELECT MAX(seq) AS m FROM chat_events WHERE session_id = ?", [.text(session)])?.int("m") ?? 0
    }

    static func eventExists(session: String, seq: Int64, _ db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM chat_events WHERE session_id = ? AND seq = ?", [.text(session), .int(seq)]) != nil
    }

    /// The parts after `seq`, in order.
    static func events(session: String, after seq: Int64, _ db: Database) throws -> [ChatEvent] {
        try db.query("SELECT seq, turn_id, part, created_at FROM chat_events WHERE session_id = ? AND seq > ? ORDER BY seq",
                     [.text(session), .int(seq)]).map {
            ChatEvent(sessionId: session, seq: $0.int("seq") ?? 0, turnId: $0.string("turn_id"), part: $0.string("part") ?? "{}",
                      createdAt: $0.string("created_at") ?? "")
        }
    }

    /// PostgreSQL: the parts after each session's cursor, for many sessions in one statement (the arrays bound as
    /// text literals), in order per session, at most `limit`: what other nodes wrote for the sessions tailed here.
    static func events(after cursors: [(session: String, seq: Int64)], limit: Int, _ db: Database) throws -> [ChatEvent] {
        let quoted = cursors.map { "\"" + $0.session.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        let sessions = "{" + quoted.joined(separator: ",") + "}"
        let seqs = "{" + cursors.map { String($0.seq) }.joined(separator: ",") + "}"
        return try db.query("""
            SELECT e.session_id, e.seq, e.turn_id, e.part, e.created_at
              FROM unnest(CAST(? AS text[]), CAST(? AS bigint[])) AS v(s, after)
              JOIN chat_events e ON e.session_id = v.s COLLATE "C" AND e.seq > v.after
             ORDER BY e.session_id, e.seq LIMIT ?
            """, [.text(sessions), .text(seqs), .int(Int64(limit))]).map {
            ChatEvent(sessionId: $0.string("session_id") ?? "", seq: $0.int("seq") ?? 0, turnId: $0.string("turn_id"),
                      part: $0.string("part") ?? "{}", createdAt: $0.string("created_at") ?? "")
        }
    }
}

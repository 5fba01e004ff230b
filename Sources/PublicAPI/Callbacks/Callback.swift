import NeoJSON
import Store

/// Where the `changes` that matching used came from.
enum ChangesSource: String {
    /// The event carried them.
    case event
    /// The event had none; they are the difference from the last callback stored for this entity.
    case previousCallback = "previous_callback"
    /// Neither: a CREATE, or the first event for this entity.
    case none
}

/// One ingested callback and its match audit (a `callbacks` row). The JSON parts are kept as the text
/// they are stored as, so answers splice them without re-parsing. `workflowMatches` holds the compact
/// verdicts: one letter per agent of `agentSet` (`AgentSet.letters`), or, for callbacks stored before agent
/// sets, `MatchResult.compact`; `CallbackService` renders Neo's entries from them.
struct Callback {
    let id: String
    let tenantId: Int64
    let eventId: String?
    let entityType: String
    let entityId: String
    let entityNumber: String?
    let changeType: String
    /// JSON object text.
    let entity: String
    /// JSON array text of the changes matching used.
    let changes: String
    let changesFrom: ChangesSource
    /// JSON object text: `{type: "api", key_id}` or `{type: "inbound", endpoint_id, format}`.
    let source: String
    let createdInPSAAt: String?
    let matcherRunId: String
    /// JSON array texts.
    let startedWorkflowIds: String
    /// As answered. With an `agentSet` the row stores '[]' and `CallbackService.detail` derives the list from the set.
    var failedToMatchWorkflowIds: String
    /// With an `agentSet`: one verdict letter per agent of the set; else `[[workflow_id, version, verdict], …]`.
    let workflowMatches: String
    /// The `callback_agent_sets` digest of the agents it was matched against; nil for callbacks stored before.
    let agentSet: String?
    /// JSON `[{workflow_id, execution_id}]` text: the runs this callback queued (ours); set when they are.
    var startedExecutions: String
    let runAfter: String?
    let errorMessage: String?
    let createdAt: String
    let finishedProcessingAt: String

    static let columns = "id, tenant_id, event_id, entity_type, entity_id, entity_number, change_type, entity, changes, changes_from, source, created_in_psa_at, matcher_run_id, started_workflow_ids, failed_to_match_workflow_ids, workflow_matches, started_executions, run_after, error_message, created_at, finished_processing_at, agent_set"

    /// What the row keeps in `failed_to_match_workflow_ids`.
    var storedFailedIds: String { agentSet == nil ? failedToMatchWorkflowIds : "[]" }

    /// A new callback matched against `set` (`verdicts` in the set's order, `fields` the event's entity as
    /// matching read it): stored as the set's digest and one letter per agent.
    init(id: String, tenantId: Int64, event: CallbackEvent, changes: [CallbackEvent.Change], changesFrom: ChangesSource,
         source: JSON, matcherRunId: String, set: AgentSet, verdicts: [MatchVerdict], fields: EntityFields, runAfter: String?, now: String) {
        self.init(id: id, tenantId: tenantId, event: event, changes: changes, changesFrom: changesFrom, source: source, matcherRunId: matcherRunId,
                  startedWorkflowIds: set.idsJSON(verdicts, matched: true), failedToMatchWorkflowIds: set.idsJSON(verdicts, matched: false),
                  workflowMatches: AgentSet.letters(verdicts), agentSet: set.digest,
                  errorMessage: Self.errorMessage(verdicts.indices.lazy.filter { verdicts[$0] == .error }.map { i in
                      let agent = set.agents[i]
                      return (agent.id, agent.compiled.reasonText(agent.compiled.evaluate(fields)) ?? "conditions did not match")
                  }), runAfter: runAfter, now: now)
    }

    /// "N agent(s) could not be evaluated…" naming the first five, or nil when none errored.
    private static func errorMessage<C: Collection>(_ errored: C) -> String? where C.Element == (Int64, String) {
        errored.isEmpty ? nil
            : "\(errored.count) agent(s) could not be evaluated and did not match: "
                + errored.prefix(5).map { "\($0.0) (\($0.1))" }.joined(separator: "; ")
    }

    private init(id: String, tenantId: Int64, event: CallbackEvent, changes: [CallbackEvent.Change], changesFrom: ChangesSource,
                 source: JSON, matcherRunId: String, startedWorkflowIds: String, failedToMatchWorkflowIds: String, workflowMatches: String,
                 agentSet: String?, errorMessage: String?, runAfter: String?, now: String) {
        self.id = id
        self.tenantId = tenantId
        eventId = event.eventId
        entityType = event.entityType
        entityId = event.entityId
        entityNumber = event.entityNumber
        changeType = event.changeType
        entity = JSON.object(event.entity).serializedString()
        self.changes = JSON.array(changes.map(\.json)).serializedString()
        self.changesFrom = changesFrom
        self.source = source.serializedString()
        createdInPSAAt = event.createdInPSAAt
        self.matcherRunId = matcherRunId
        self.startedWorkflowIds = startedWorkflowIds
        self.failedToMatchWorkflowIds = failedToMatchWorkflowIds
        self.workflowMatches = workflowMatches
        self.agentSet = agentSet
        startedExecutions = "[]"
        self.runAfter = runAfter
        self.errorMessage = errorMessage
        createdAt = now
        finishedProcessingAt = now
    }

    /// A callback in the form stored before agent sets (every agent's id, version and verdict in the row).
    init(id: String, tenantId: Int64, event: CallbackEvent, changes: [CallbackEvent.Change], changesFrom: ChangesSource,
         source: JSON, matcherRunId: String, result: MatchResult, runAfter: String?, now: String) {
        self.init(id: id, tenantId: tenantId, event: event, changes: changes, changesFrom: changesFrom, source: source, matcherRunId: matcherRunId,
                  startedWorkflowIds: result.idsJSON(matched: true), failedToMatchWorkflowIds: result.idsJSON(matched: false),
                  workflowMatches: result.compact, agentSet: nil,
                  errorMessage: Self.errorMessage(result.matches.lazy.filter(\.error).map { ($0.workflowId, result.reason($0)) }),
                  runAfter: runAfter, now: now)
    }

    init(row: Row) {
        id = row.string("id") ?? ""
        tenantId = row.int("tenant_id") ?? 0
        eventId = row.string("event_id")
        entityType = row.string("entity_type") ?? ""
        entityId = row.string("entity_id") ?? ""
        entityNumber = row.string("entity_number")
        changeType = row.string("change_type") ?? ""
        entity = row.string("entity") ?? "{}"
        changes = row.string("changes") ?? "[]"
        changesFrom = ChangesSource(rawValue: row.string("changes_from") ?? "") ?? .none
        source = row.string("source") ?? "{}"
        createdInPSAAt = row.string("created_in_psa_at")
        matcherRunId = row.string("matcher_run_id") ?? ""
        startedWorkflowIds = row.string("started_workflow_ids") ?? "[]"
        failedToMatchWorkflowIds = row.string("failed_to_match_workflow_ids") ?? "[]"
        workflowMatches = row.string("workflow_matches") ?? "[]"
        startedExecutions = row.string("started_executions") ?? "[]"
        runAfter = row.string("run_after")
        errorMessage = row.string("error_message")
        createdAt = row.string("created_at") ?? ""
        finishedProcessingAt = row.string("finished_processing_at") ?? ""
        agentSet = row.string("agent_set")
    }

    /// The runs this callback queued, as `started_executions` records them.
    static func startedExecutions(_ runs: [(workflowId: Int64, executionId: String)]) -> String {
        JSON.array(runs.map { .object(JSONObject([("workflow_id", .int($0.workflowId)), ("execution_id", .string($0.executionId))])) })
            .serializedString()
    }

    /// The changes matching used, parsed back.
    var changeList: [CallbackEvent.Change] {
        ((try? JSON.parse(changes))?.arrayValue ?? []).compactMap { item in
            item["field"]?.stringValue.map { CallbackEvent.Change(field: $0, old: item["old"] ?? .null, new: item["new"] ?? .null) }
        }
    }

    /// Neo's `CallbackDetail` (its fields first, then ours) with `result`'s `workflow_matches`; list rows
    /// leave out `processed_audit_trail`, and a receipt (`Prefer: return=minimal`, no `result`) both.
    func detail(includeAuditTrail: Bool, workflowMatches result: MatchResult?) -> [UInt8] {
        func text(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        var w = JSONObjectWriter()
        w.value("callback_id", .string(id))
        w.value("created_in_psa_at", text(createdInPSAAt))
        w.value("entity_id", .string(entityId))
        w.value("entity_number", text(entityNumber))
        w.value("error_message", text(errorMessage))
        w.raw("failed_to_match_workflow_ids", failedToMatchWorkflowIds)
        w.value("finished_processing_at", .string(finishedProcessingAt))
        w.value("matcher_run_id", .string(matcherRunId))
        if includeAuditTrail {
            var trail = JSONObjectWriter()
            trail.value("event_id", text(eventId))
            trail.value("entity_type", .string(entityType))
            trail.value("change_type", .string(changeType))
            trail.raw("changes", changes)
            trail.value("changes_from", .string(changesFrom.rawValue))
            trail.raw("entity", entity)
            trail.raw("source", source)
            trail.value("received_at", .string(createdAt))
            trail.value("run_after", text(runAfter))
            w.raw("processed_audit_trail", trail.finish())
        }
        w.raw("started_workflow_ids", startedWorkflowIds)
        if let result { w.raw("workflow_matches", write: result.writeWorkflowMatches) }
        w.value("event_id", text(eventId))
        w.value("entity_type", .string(entityType))
        w.value("change_type", .string(changeType))
        w.value("created_at", .string(createdAt))
        w.value("run_after", text(runAfter))
        w.raw("started_executions", startedExecutions)
        return w.finish()
    }
}

/// Writes a JSON object field by field, splicing stored JSON text where it is already serialized.
struct JSONObjectWriter {
    private var out: [UInt8] = [123]

    mutating func value(_ key: String, _ value: JSON) {
        self.key(key)
        value.write(into: &out)
    }

    /// `text` must be one JSON value (it is stored or produced by our own serializer).
    mutating func raw(_ key: String, _ text: String) {
        self.key(key)
        out.append(contentsOf: text.utf8)
    }

    mutating func raw(_ key: String, _ bytes: [UInt8]) {
        self.key(key)
        out.append(contentsOf: bytes)
    }

    /// A value `write` appends in place (a large one, not copied twice).
    mutating func raw(_ key: String, write: (inout [UInt8]) -> Void) {
        self.key(key)
        write(&out)
    }

    private mutating func key(_ key: String) {
        if out.count > 1 { out.append(44) }
        appendJSONString(key, to: &out)
        out.append(58)
    }

    mutating func finish() -> [UInt8] {
        out.append(125)
        return out
    }
}

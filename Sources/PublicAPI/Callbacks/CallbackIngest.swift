import Foundation
import NeoJSON
import Store

/// Ingests one inbound event for a tenant (design §9): dedupe by `event_id`, matching against the tenant's
/// ENABLED TRIGGERED agents, one queued execution per match (not before the tenant's
/// sleep_before_callback_processing_seconds), and the stored audit. Matching runs on a read snapshot, off
/// the writer; the write then re-checks what must hold under concurrency (the event id, run-once) and
/// stores the callback and its runs in one transaction, so an ingest costs one commit.
final class CallbackIngest: @unchecked Sendable {
    enum Outcome {
        /// A new callback (202); in test mode the one that would have been stored.
        case created(Callback)
        /// The callback this `event_id` already produced (200); nothing new was queued.
        case duplicate(Callback)
    }

    let store: Store
    let runner: ExecutionRunner
    private let agents = TriggeredAgentCache()

    init(store: Store, runner: ExecutionRunner) {
        self.store = store
        self.runner = runner
    }

    private enum Snapshot {
        case duplicate(Callback)
        case fresh(agents: [TriggeredAgent], changes: [CallbackEvent.Change], changesFrom: ChangesSource, alreadyRan: Set<Int64>, sleepSeconds: Int64)
    }

    /// `source` is recorded in the audit (`{type: "api", key_id}` / `{type: "inbound", endpoint_id, format}`).
    /// `inWrite` runs first inside the write transaction: the inbound route consumes its signature there, so
    /// a refused replay rolls back with everything else. Test mode reads only and answers what would be stored.
    func ingest(_ event: CallbackEvent, tenantId: Int64, keyId: Int64?, source: JSON, testMode: Bool,
                inWrite: ((Database) throws -> Void)? = nil) throws -> Outcome {
        let snapshot = try store.read { db -> Snapshot in
            if let eventId = event.eventId, let existing = try CallbackRecords.find(eventId: eventId, tenantId: tenantId, db) {
                return .duplicate(existing)
            }
            let agents = try self.agents.load(tenantId: tenantId, entityType: event.entityType, db)
            var changes = event.changes ?? []
            var changesFrom: ChangesSource = event.changes == nil ? .none : .event
            if event.changes == nil, event.changeType == "UPDATE",
               let previous = try CallbackRecords.latestEntity(tenantId: tenantId, entityType: event.entityType, entityId: event.entityId, db) {
                changes = EntityDiff.changes(from: previous, to: event.entity)
                changesFrom = .previousCallback
            }
            let alreadyRan = agents.contains(where: \.runOnlyOncePerEntity)
                ? try CallbackRecords.agentsThatRan(tenantId: tenantId, entityId: event.entityId, db) : []
            let sleep = try SettingsRecords.load(tenantId: tenantId, db).sleepBeforeCallbackProcessingSeconds ?? 0
            return .fresh(agents: agents, changes: changes, changesFrom: changesFrom, alreadyRan: alreadyRan, sleepSeconds: sleep)
        }
        guard case .fresh(let agents, let changes, let changesFrom, let alreadyRan, let sleep) = snapshot else {
            guard case .duplicate(let existing) = snapshot else { throw APIError.internalError() }
            // A known event still passes `inWrite`: a replayed signature is refused even when the event is a duplicate.
            if let inWrite, !testMode { try store.write { try inWrite($0) } }
            return .duplicate(existing)
        }

        let now = Date()
        let stamp = Timestamp.format(now)
        let runAfter = sleep > 0 ? Timestamp.format(now.addingTimeInterval(TimeInterval(sleep))) : nil
        let callbackId = SecureRandom.uuid()
        let matcherRunId = SecureRandom.uuid()
        let matches = CallbackMatcher.match(event, changes: changes, agents: agents, alreadyRan: alreadyRan)
        func callback(_ matches: [WorkflowMatch]) -> Callback {
            Callback(id: callbackId, tenantId: tenantId, event: event, changes: changes, changesFrom: changesFrom, source: source,
                     matcherRunId: matcherRunId, matches: matches, runAfter: runAfter, now: stamp)
        }
        let planned = callback(matches)
        if testMode { return .created(planned) }

        let input = JSON.object(JSONObject([
            ("entity", .object(event.entity)), ("changes", .array(changes.map(\.json))), ("change_type", .string(event.changeType)),
        ])).serializedString()
        let byId = Dictionary(agents.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let outcome: Outcome
        do {
            outcome = try store.write { db -> Outcome in
                try inWrite?(db)
                if let eventId = event.eventId, let existing = try CallbackRecords.find(eventId: eventId, tenantId: tenantId, db) {
                    return .duplicate(existing)
                }
                var final = planned
                var decided = matches
                if agents.contains(where: \.runOnlyOncePerEntity) {
                    let ran = try CallbackRecords.agentsThatRan(tenantId: tenantId, entityId: event.entityId, db)
                    CallbackMatcher.applyRunOnce(&decided, agents: agents, alreadyRan: ran, entity: "\(event.entityType) \(event.entityId)")
                    if decided != matches { final = callback(decided) }
                }
                var runs: [(workflowId: Int64, executionId: String)] = []
                for match in decided where match.matched {
                    guard let agent = byId[match.workflowId] else { continue }
                    let executionId = SecureRandom.uuid()
                    let new = ExecutionRecords.NewExecution(
                        tenantId: tenantId, agentId: agent.id, agentName: agent.name, agentVersion: agent.version, kind: .agentRun,
                        status: .queued, entityId: event.entityId, entityNumber: event.entityNumber, input: input, keyId: keyId,
                        trigger: .object(JSONObject([("type", .string("CALLBACK")), ("callback_id", .string(callbackId))])),
                        runAfter: runAfter)
                    try ExecutionRecords.insert(new, id: executionId, now: stamp, db)
                    runs.append((agent.id, executionId))
                }
                final.startedExecutions = Callback.startedExecutions(runs)
                try CallbackRecords.insert(final, db)
                for run in runs {
                    try CallbackRecords.recordRun(tenantId: tenantId, agentId: run.workflowId, entityId: event.entityId, callbackId: callbackId,
                                                  executionId: run.executionId, now: stamp, db)
                }
                return .created(final)
            }
        } catch let error where CallbackRecords.isDuplicateEvent(error) {
            // Another writer (another node) stored this event id first: answer its callback.
            guard let eventId = event.eventId,
                  let existing = try store.read({ try CallbackRecords.find(eventId: eventId, tenantId: tenantId, $0) }) else { throw error }
            return .duplicate(existing)
        }
        if case .created(let stored) = outcome, stored.startedExecutions != "[]" { runner.poke() }
        return outcome
    }
}

/// Parsed TRIGGERED agents by id, each entry valid for exactly one version: every ingest reads the current
/// (id, version) pairs from the store and parses only the documents whose version it has not seen, so the
/// cache can never serve an edit's old rules and needs no invalidation.
final class TriggeredAgentCache: @unchecked Sendable {
    private let lock = NSLock()
    private var byId: [Int64: TriggeredAgent] = [:]

    /// The tenant's ENABLED TRIGGERED agents of `entityType`, in execution order.
    func load(tenantId: Int64, entityType: String, _ db: Database) throws -> [TriggeredAgent] {
        let current = try CallbackRecords.triggeredAgentVersions(tenantId: tenantId, entityType: entityType, db)
        var agents: [TriggeredAgent] = []
        var missing: [Int64] = []
        lock.lock()
        for (id, version) in current {
            if let cached = byId[id], cached.version == version { agents.append(cached) } else { missing.append(id) }
        }
        lock.unlock()
        guard !missing.isEmpty else { return CallbackMatcher.ordered(agents) }
        var parsed: [TriggeredAgent] = []
        for id in missing {
            if let agent = try CallbackRecords.triggeredAgent(id, db) { parsed.append(agent) }
        }
        lock.lock()
        for agent in parsed { byId[agent.id] = agent }
        lock.unlock()
        return CallbackMatcher.ordered(agents + parsed)
    }
}

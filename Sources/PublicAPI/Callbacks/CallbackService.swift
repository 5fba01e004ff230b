import Basics
import Foundation
import NeoJSON
import Store

/// Inbound events for the routes (design §9). `ingest` dedupes by `event_id`, matches against the tenant's
/// ENABLED TRIGGERED agents, queues one execution per match (not before the tenant's
/// sleep_before_callback_processing_seconds) and stores the callback with its verdicts; `detail` renders a
/// stored callback as Neo's CallbackDetail. Matching runs on a read snapshot, off the writer; the write then
/// re-checks what must hold under concurrency (the event id, run-once) and stores the callback and its runs
/// in one savepoint of a commit that concurrent ingests share (`GroupCommit`).
final class CallbackService: Sendable {
    enum Outcome {
        /// A new callback (202); in test mode the one that would have been stored. `detail` is its answer.
        case created(Callback, detail: [UInt8])
        /// The callback this `event_id` already produced (200); nothing new was queued.
        case duplicate(Callback, detail: [UInt8])
    }

    let store: Store
    let runner: ExecutionRunner
    let agents = TriggeredAgentCache()
    /// Concurrent ingests share commits.
    private let commits: GroupCommit

    init(store: Store, runner: ExecutionRunner) {
        self.store = store
        self.runner = runner
        commits = GroupCommit(store: store)
    }

    private enum Snapshot {
        case duplicate(Callback, [UInt8])
        case fresh(set: AgentSet, changes: [CallbackEvent.Change], changesFrom: ChangesSource, alreadyRan: Set<Int64>, sleepSeconds: Int64)
    }

    /// `source` is recorded in the audit (`{type: "api", key_id}` / `{type: "inbound", endpoint_id, format}`).
    /// `inWrite` runs first inside the write transaction: the inbound route consumes its signature there, so
    /// a refused replay rolls back with everything else. Test mode reads only and answers what would be stored.
    /// `receipt` answers without `workflow_matches` and the audit trail (`Prefer: return=minimal`). In test mode
    /// `inTestRead` runs first in the read instead (the inbound route refuses a replayed signature there without
    /// consuming it), and a known event id is answered as a duplicate, as a real ingest would.
    /// `audit`: the request whose audit row is appended with a new callback, in its transaction.
    func ingest(_ event: CallbackEvent, tenantId: Int64, keyId: Int64?, source: JSON, testMode: Bool, receipt: Bool = false,
                audit: AuditSource? = nil, inWrite: ((Database) throws -> Void)? = nil,
                inTestRead: ((Database) throws -> Void)? = nil) throws -> Outcome {
        let snapshot = try store.read { db -> Snapshot in
            if testMode { try inTestRead?(db) }
            if let eventId = event.eventId, let existing = try CallbackRecords.find(eventId: eventId, tenantId: tenantId, db) {
                return .duplicate(existing, try detail(existing, includeAuditTrail: !receipt, workflowMatches: !receipt, db))
            }
            let set = try self.agents.current(tenantId: tenantId, entityType: event.entityType, db)
            var changes = event.changes ?? []
            var changesFrom: ChangesSource = event.changes == nil ? .none : .event
            if event.changes == nil, event.changeType == "UPDATE",
               let previous = try CallbackRecords.latestEntity(tenantId: tenantId, entityType: event.entityType, entityId: event.entityId, db) {
                changes = EntityDiff.changes(from: previous, to: event.entity)
                changesFrom = .previousCallback
            }
            let alreadyRan = set.anyRunOnce ? try CallbackRecords.agentsThatRan(tenantId: tenantId, entityId: event.entityId, db) : []
            let sleep = try SettingsRecords.load(tenantId: tenantId, db).sleepBeforeCallbackProcessingSeconds ?? 0
            return .fresh(set: set, changes: changes, changesFrom: changesFrom, alreadyRan: alreadyRan, sleepSeconds: sleep)
        }
        guard case .fresh(let set, let changes, let changesFrom, let alreadyRan, let sleep) = snapshot else {
            guard case .duplicate(let existing, let detail) = snapshot else { throw APIError.internalError() }
            // A known event still passes `inWrite`: a replayed signature is refused even when the event is a duplicate.
            if let inWrite, !testMode { try commits.write { try inWrite($0) } }
            return .duplicate(existing, detail: detail)
        }

        let now = Date()
        let stamp = Timestamp.format(now)
        let runAfter = sleep > 0 ? Timestamp.format(now.addingTimeInterval(TimeInterval(sleep))) : nil
        let callbackId = SecureRandom.timeOrderedUUID()
        let matcherRunId = SecureRandom.uuid()
        let fields = EntityFields(event.entity)
        let pairs = changes.map { (field: $0.field, old: $0.old, new: $0.new) }
        var verdicts = set.verdicts(changeType: event.changeType, changes: pairs, fields: fields)
        set.applyRunOnce(&verdicts, alreadyRan: alreadyRan)
        func callback(_ verdicts: [MatchVerdict]) -> Callback {
            Callback(id: callbackId, tenantId: tenantId, event: event, changes: changes, changesFrom: changesFrom, source: source,
                     matcherRunId: matcherRunId, set: set, verdicts: verdicts, fields: fields, runAfter: runAfter, now: stamp)
        }
        func answer(_ callback: Callback, _ verdicts: [MatchVerdict]) -> [UInt8] {
            guard !receipt else { return callback.detail(includeAuditTrail: false, workflowMatches: nil) }
            let result = CallbackMatcher.replay(Array(zip(set.agents, verdicts)), changeType: event.changeType, changes: changes, fields: fields,
                                                entityLabel: "\(event.entityType) \(event.entityId)")
            return callback.detail(includeAuditTrail: true, workflowMatches: result)
        }
        let planned = callback(verdicts)
        if testMode { return .created(planned, detail: answer(planned, verdicts)) }

        let input = JSON.object(JSONObject([
            ("entity", .object(event.entity)), ("changes", .array(changes.map(\.json))), ("change_type", .string(event.changeType)),
        ])).serializedString()
        // Serialized once here, not once per matched run under the writer.
        let trigger = JSON.object(JSONObject([("type", .string("CALLBACK")), ("callback_id", .string(callbackId))])).serializedString()
        // The runs' ids and `started_executions` are made here, off the writer, which all ingests share; run-once
        // re-checked in the write can only drop runs (matched becomes runOnce), and then the list is made again there.
        let plannedRuns = verdicts.indices.filter { verdicts[$0] == .matched }.map { (index: $0, executionId: SecureRandom.timeOrderedUUID()) }
        let plannedStarted = Callback.startedExecutions(plannedRuns.map { (set.agents[$0.index].id, $0.executionId) })
        let written: (Callback, [MatchVerdict])?
        do {
            written = try commits.write { db -> (Callback, [MatchVerdict])? in
                try inWrite?(db)
                if let eventId = event.eventId, try CallbackRecords.find(eventId: eventId, tenantId: tenantId, db) != nil { return nil }
                var final = planned
                var decided = verdicts
                if set.anyRunOnce {
                    set.applyRunOnce(&decided, alreadyRan: try CallbackRecords.agentsThatRan(tenantId: tenantId, entityId: event.entityId, db))
                    if decided != verdicts { final = callback(decided) }
                }
                var runs: [(workflowId: Int64, executionId: String)] = []
                // By index: walking the thousand agents with zip would retain and release each under the writer.
                for run in plannedRuns where decided[run.index] == .matched {
                    let agent = set.agents[run.index]
                    let new = ExecutionRecords.NewExecution(
                        tenantId: tenantId, agentId: agent.id, agentName: agent.name, agentVersion: agent.version, kind: .agentRun,
                        status: .queued, entityId: event.entityId, entityNumber: event.entityNumber, input: input, keyId: keyId,
                        triggerText: trigger, runAfter: runAfter)
                    try ExecutionRecords.insert(new, id: run.executionId, now: stamp, db)
                    runs.append((agent.id, run.executionId))
                }
                final.startedExecutions = runs.count == plannedRuns.count ? plannedStarted : Callback.startedExecutions(runs)
                try CallbackRecords.insert(set, tenantId: tenantId, now: stamp, db)
                try CallbackRecords.insert(final, db)
                if let audit { try AuditRecords.append(audit, tenantId: tenantId, .callback(callbackId), status: 202, before: nil, at: stamp, db) }
                for run in runs {
                    try CallbackRecords.recordRun(tenantId: tenantId, agentId: run.workflowId, entityId: event.entityId, callbackId: callbackId,
                                                  executionId: run.executionId, now: stamp, db)
                }
                return (final, decided)
            }
        } catch let error where CallbackRecords.isDuplicateEvent(error) {
            written = nil  // another writer (another node) stored this event id first
        }
        guard let (stored, decided) = written else {
            // The event id was taken between the snapshot and the write: answer the callback that took it.
            guard let eventId = event.eventId,
                  let existing = try store.read({ db in
                      try CallbackRecords.find(eventId: eventId, tenantId: tenantId, db)
                          .map { ($0, try detail($0, includeAuditTrail: !receipt, workflowMatches: !receipt, db)) }
                  })
            else { throw APIError.internalError() }
            return .duplicate(existing.0, detail: existing.1)
        }
        if decided.contains(.matched) { sleep > 0 ? runner.poke(at: now.addingTimeInterval(TimeInterval(sleep))) : runner.poke() }
        return .created(stored, detail: answer(stored, decided))
    }

    /// A stored callback as Neo's CallbackDetail: its verdicts rendered against the agent versions they were
    /// made with (reasons and field comparisons recomputed from the stored entity and changes). A callback that
    /// names an agent set (migration 0018) has one verdict letter per agent of the set and its failed ids are
    /// the set's agents that did not match; one stored before has its `[[id, version, verdict], …]` and ids.
    /// `workflowMatches` false: the receipt's fields only (no audit entries are derived).
    func detail(_ callback: Callback, includeAuditTrail: Bool, workflowMatches: Bool = true, _ db: Database) throws -> [UInt8] {
        var callback = callback
        let stored: [(agent: TriggeredAgent, verdict: MatchVerdict)]
        if let digest = callback.agentSet {
            // The set is written in the callback's own transaction and kept while a callback names it.
            let set = try agents.storedSet(digest, tenantId: callback.tenantId, db)
            let verdicts = set.flatMap { AgentSet.parseLetters(callback.workflowMatches, count: $0.agents.count) }
            if let set, let verdicts {
                callback.failedToMatchWorkflowIds = set.idsJSON(verdicts, matched: false)
                stored = workflowMatches ? Array(zip(set.agents, verdicts)) : []
            } else {
                stored = []
            }
        } else {
            stored = workflowMatches ? try MatchResult.parseCompact(callback.workflowMatches).map { entry in
                (agent: try agents.version(entry.id, entry.version, tenantId: callback.tenantId, db)
                    ?? TriggeredAgent(id: entry.id, version: entry.version, document: JSONObject()),
                 verdict: entry.verdict)
            } : []
        }
        guard workflowMatches else { return callback.detail(includeAuditTrail: includeAuditTrail, workflowMatches: nil) }
        let entity = (try? JSON.parse(callback.entity))?.objectValue ?? JSONObject()
        let result = CallbackMatcher.replay(stored, changeType: callback.changeType, changes: callback.changeList, fields: EntityFields(entity),
                                            entityLabel: "\(callback.entityType) \(callback.entityId)")
        return callback.detail(includeAuditTrail: includeAuditTrail, workflowMatches: result)
    }
}

/// TRIGGERED agents built from their documents, by (id, version): a version never changes, so an entry
/// never goes stale and needs no invalidation. The ordered list per tenant and entity type (an `AgentSet`) is kept with the
/// tenant's agent generation (`agent_generations`, bumped by triggers in the same transaction as any agent
/// insert, delete or matching-relevant update, whoever the writer): while it is unchanged an ingest reads that
/// one row and reuses the list; when it moved, the current (id, version) pairs are read and only the versions
/// not seen yet are built. Reads of old callbacks build theirs from the version snapshots, and the sets they
/// were matched against from `callback_agent_sets`. Bounded: when full it starts again empty.
final class TriggeredAgentCache: Sendable {
    private struct Key: Hashable {
        let id: Int64
        let version: Int64
    }

    private struct Scope: Hashable {
        let tenantId: Int64
        let entityType: String
    }

    private struct State {
        var agents: [Key: TriggeredAgent] = [:]
        /// The last ordered list per tenant and entity type, the keys it was made from and the tenant's agent
        /// generation it was read at: the common case (no agent changed since) answers from one row.
        var lists: [Scope: (generation: Int64, keys: [Key], set: AgentSet)] = [:]
        /// Stored sets read back for rendering, by tenant and digest.
        var storedSets: [String: AgentSet] = [:]
        /// How many lists were read from the agents (not reused): tests prove reuse and invalidation with it.
        var readLists = 0
    }

    static let capacity = 50_000
    private let state = Lock(State())
    var rebuilds: Int { state.withLock { $0.readLists } }

    private func cached(_ key: Key) -> TriggeredAgent? {
        state.withLock { $0.agents[key] }
    }

    /// Splits `keys` into the agents already built and the keys still to build, under one lock.
    private func cached(_ keys: [Key]) -> (found: [TriggeredAgent], missing: [Key]) {
        state.withLock { state in
            var found: [TriggeredAgent] = []
            var missing: [Key] = []
            found.reserveCapacity(keys.count)
            for key in keys {
                if let agent = state.agents[key] { found.append(agent) } else { missing.append(key) }
            }
            return (found, missing)
        }
    }

    private func keep(_ built: [TriggeredAgent]) {
        state.withLock { state in
            if state.agents.count + built.count > Self.capacity { state.agents.removeAll(keepingCapacity: true) }
            for agent in built { state.agents[Key(id: agent.id, version: agent.version)] = agent }
        }
    }

    /// The tenant's ENABLED TRIGGERED agents of `entityType` as they are now, in execution order. `db` is a
    /// read snapshot: the generation and the agents it reads are of the same instant.
    func current(tenantId: Int64, entityType: String, _ db: Database) throws -> AgentSet {
        let generation = try CallbackRecords.agentGeneration(tenantId: tenantId, db)
        let scope = Scope(tenantId: tenantId, entityType: entityType)
        let last = state.withLock { $0.lists[scope] }
        if let last, last.generation == generation { return last.set }
        let keys = try CallbackRecords.triggeredAgentVersions(tenantId: tenantId, entityType: entityType, db).map { Key(id: $0.id, version: $0.version) }
        let set: AgentSet
        if let last, last.keys == keys {
            set = last.set
        } else {
            let (found, missing) = cached(keys)
            let built = try missing.compactMap { try CallbackRecords.triggeredAgent($0.id, db) }
            keep(built)
            set = AgentSet(CallbackMatcher.ordered(found + built))
        }
        state.withLock { state in
            if state.lists.count > 10_000 { state.lists.removeAll(keepingCapacity: true) }
            // A reader of an older snapshot does not replace a newer list.
            if (state.lists[scope]?.generation ?? Int64.min) <= generation { state.lists[scope] = (generation, keys, set) }
            state.readLists += 1
        }
        return set
    }

    /// The stored set a callback names (`digest`), in its stored order, its agents built from their version
    /// snapshots; nil when the tenant has no such set.
    func storedSet(_ digest: String, tenantId: Int64, _ db: Database) throws -> AgentSet? {
        let key = "\(tenantId)/\(digest)"
        if let known = state.withLock({ $0.storedSets[key] }) { return known }
        guard let text = try CallbackRecords.agentSet(digest, tenantId: tenantId, db), let pairs = AgentSet.parseAgents(text) else { return nil }
        let set = AgentSet(try pairs.map { pair in
            try version(pair.id, pair.version, tenantId: tenantId, db) ?? TriggeredAgent(id: pair.id, version: pair.version, document: JSONObject())
        })
        state.withLock { state in
            if state.storedSets.count > 1_000 { state.storedSets.removeAll(keepingCapacity: true) }
            state.storedSets[key] = set
        }
        return set
    }

    /// One agent version (for rendering a stored callback); nil when the tenant has no such version.
    func version(_ id: Int64, _ version: Int64, tenantId: Int64, _ db: Database) throws -> TriggeredAgent? {
        if let agent = cached(Key(id: id, version: version)) { return agent }
        guard let agent = try CallbackRecords.agentVersion(id, version: version, tenantId: tenantId, db) else { return nil }
        keep([agent])
        return agent
    }
}

import NeoJSON

/// A TRIGGERED agent as matching reads it, built once per (id, version) from its stored document (a version
/// never changes, so neither does this).
final class TriggeredAgent: Equatable, Sendable {
    let id: Int64
    let version: Int64
    let name: String
    /// `callback_settings.execution_order`: lower runs first; absent counts as 0.
    let executionOrder: Int64
    let callbackSettings: JSON?
    let targetChanges: TargetChanges.Compiled
    /// `ticket_conditions.conditions`, or `time_entry_conditions.conditions` for time_entry agents.
    let conditions: JSON?
    let compiled: CompiledConditions
    let runOnlyOncePerEntity: Bool
    /// `{"workflow_id":…,"workflow_name":…,"matched":`, the start of its audit entry.
    let auditHead: [UInt8]
    /// `[id,version,"`: the start of its stored verdict (`MatchResult.compact`).
    let compactHead: [UInt8]
    /// Its id in decimal digits (the id lists of the callback row).
    let idDigits: [UInt8]

    init(id: Int64, version: Int64, document: JSONObject) {
        self.id = id
        self.version = version
        name = document["name"]?.stringValue ?? ""
        let settings = document["callback_settings"].flatMap { $0.isNull ? nil : $0 }
        callbackSettings = settings
        targetChanges = TargetChanges.Compiled(settings)
        executionOrder = settings?["execution_order"]?.intValue ?? 0
        runOnlyOncePerEntity = settings?["run_only_once_per_entity"]?.boolValue ?? false
        let conditionsField = document["entity_type"]?.stringValue == "time_entry" ? "time_entry_conditions" : "ticket_conditions"
        conditions = document[conditionsField]?["conditions"].flatMap { $0.isNull ? nil : $0 }
        compiled = CompiledConditions(conditions)
        var head: [UInt8] = Array(#"{"workflow_id":"#.utf8)
        head.append(contentsOf: String(id).utf8)
        head.append(contentsOf: #","workflow_name":"#.utf8)
        appendJSONString(name, to: &head)
        head.append(contentsOf: #","matched":"#.utf8)
        auditHead = head
        idDigits = Array(String(id).utf8)
        compactHead = [91] + idDigits + [44] + Array(String(version).utf8) + [44, 34]
    }

    static func == (a: TriggeredAgent, b: TriggeredAgent) -> Bool { a.id == b.id && a.version == b.version }
}

/// Write-time check of the `callback_settings` keys matching reads; other keys are kept as sent.
enum CallbackSettings {
    static func check(_ settings: JSONObject, path: String, validation: Validation) {
        if let changes = settings["target_changes"], !changes.isNull {
            TargetChanges.check(changes, path: "\(path).target_changes", validation: validation)
        }
        if let order = settings["execution_order"], !order.isNull, order.intValue == nil {
            validation.fail("\(path).execution_order", "must be an integer; lower runs first (got \(order.typeName))")
        }
        for key in ["run_only_once_per_entity", "ignore_execution_order"] {
            if let flag = settings[key], !flag.isNull, flag.boolValue == nil {
                validation.fail("\(path).\(key)", "must be a boolean (got \(flag.typeName))")
            }
        }
    }
}

/// What matching decided for one agent: the part of the audit that is stored. The reason and the field
/// comparisons follow from it, the event and the agent version, so they are derived again when read.
enum MatchVerdict: String {
    case matched = "m"
    /// `callback_settings.target_changes` did not match (conditions were not evaluated).
    case targetChanges = "t"
    /// A rule failed.
    case conditions = "c"
    /// An unknown operator or an unusable rule value.
    case error = "e"
    /// run_only_once_per_entity: it already ran for this entity.
    case runOnce = "o"

    /// The one ASCII letter it is stored as.
    var byte: UInt8 { rawValue.utf8.first! }

    init?(byte: UInt8) {
        switch byte {
        case UInt8(ascii: "m"): self = .matched
        case UInt8(ascii: "t"): self = .targetChanges
        case UInt8(ascii: "c"): self = .conditions
        case UInt8(ascii: "e"): self = .error
        case UInt8(ascii: "o"): self = .runOnce
        default: return nil
        }
    }
}

/// Neo's `workflow_matches[]` entry for one agent: the verdict with what explains it.
struct WorkflowMatch {
    let agent: TriggeredAgent
    var verdict: MatchVerdict
    /// Why target_changes failed, when it did.
    let targetReason: String?
    /// The conditions' evaluation; nil when target_changes failed first.
    let outcome: CompiledConditions.Outcome?

    var workflowId: Int64 { agent.id }
    var matched: Bool { verdict == .matched }
    var error: Bool { verdict == .error }
}

/// One event matched against the agents: every verdict, and what rendering the audit reads.
struct MatchResult {
    var matches: [WorkflowMatch]
    let eventType: String
    /// `ticket 42`, for the run-once reason.
    let entityLabel: String
    let fields: EntityFields

    func reason(_ m: WorkflowMatch) -> String {
        switch m.verdict {
        case .matched: return CallbackMatcher.matchedReason
        case .targetChanges: return m.targetReason ?? m.agent.targetChanges.failureReason(changeType: eventType)
        case .conditions, .error: return m.outcome.flatMap(m.agent.compiled.reasonText) ?? "conditions did not match"
        case .runOnce: return runOnceReason
        }
    }

    var runOnceReason: String { "run_only_once_per_entity: this agent already ran for \(entityLabel) from a callback" }
    private static let matchedReasonJSON = Array(#""\#(CallbackMatcher.matchedReason)""#.utf8)

    /// Appends `reason(m)` as a JSON string, from prepared bytes where there are some.
    private func writeReason(_ m: WorkflowMatch, runOnce: [UInt8], into out: inout [UInt8]) {
        switch m.verdict {
        case .matched: out.append(contentsOf: Self.matchedReasonJSON)
        case .runOnce: out.append(contentsOf: runOnce)
        case .conditions, .error:
            if let outcome = m.outcome, m.agent.compiled.writeReason(outcome, into: &out) { return }
            appendJSONString(reason(m), to: &out)
        case .targetChanges: appendJSONString(reason(m), to: &out)
        }
    }

    var startedIds: [Int64] { ids(matched: true) }
    var failedIds: [Int64] { ids(matched: false) }

    private func ids(matched: Bool) -> [Int64] {
        var out: [Int64] = []
        matches.withUnsafeBufferPointer { all in
            for i in all.indices where (all[i].verdict == .matched) == matched { out.append(all[i].agent.id) }
        }
        return out
    }

    /// One entry as a JSON value (tests and small answers; the wire uses `workflowMatchesJSON`).
    func json(_ m: WorkflowMatch) -> JSON {
        let comparisons = m.outcome.map { m.agent.compiled.comparisons($0, fields) } ?? []
        return .object(JSONObject([
            ("workflow_id", .int(m.workflowId)), ("workflow_name", .string(m.agent.name)), ("matched", .bool(m.matched)),
            ("error", .bool(m.error)), ("match_reason", .string(reason(m))),
            ("match_details", .object(JSONObject([("event_type", .string(eventType)), ("field_comparisons", .array(comparisons.map(\.json)))]))),
        ]))
    }

    /// `workflow_matches` as JSON bytes.
    func workflowMatchesJSON() -> [UInt8] {
        var out: [UInt8] = []
        writeWorkflowMatches(into: &out)
        return out
    }

    /// Appends `workflow_matches` from each agent's prepared fragments, each field serialized once per event.
    func writeWorkflowMatches(into out: inout [UInt8]) {
        out.reserveCapacity(out.count + matches.reduce(2) { $0 + 220 + ($1.outcome == nil ? 0 : $1.agent.compiled.rules.count * 130) })
        out.append(91)
        var eventTypeJSON: [UInt8] = []
        appendJSONString(eventType, to: &eventTypeJSON)
        var runOnce: [UInt8] = []
        appendJSONString(runOnceReason, to: &runOnce)
        for (i, m) in matches.enumerated() {
            if i > 0 { out.append(44) }
            out.append(contentsOf: m.agent.auditHead)
            out.append(contentsOf: (m.matched ? "true" : "false").utf8)
            out.append(contentsOf: (m.error ? #","error":true,"match_reason":"# : #","error":false,"match_reason":"#).utf8)
            writeReason(m, runOnce: runOnce, into: &out)
            out.append(contentsOf: #","match_details":{"event_type":"#.utf8)
            out.append(contentsOf: eventTypeJSON)
            out.append(contentsOf: #","field_comparisons":["#.utf8)
            if let outcome = m.outcome { m.agent.compiled.writeComparisons(outcome, fields, into: &out) }
            out.append(contentsOf: "]}}".utf8)
        }
        out.append(93)
    }

    /// The stored form: `[[workflow_id, version, verdict], …]`, about 15 bytes an agent, from each agent's prepared head.
    var compact: String {
        var out: [UInt8] = [91]
        out.reserveCapacity(matches.count * 16 + 2)
        // Through the buffer: each element read in place, not copied with its references retained.
        matches.withUnsafeBufferPointer { all in
            for i in all.indices {
                if i > 0 { out.append(44) }
                out.append(contentsOf: all[i].agent.compactHead)
                out.append(all[i].verdict.byte)
                out.append(34)
                out.append(93)
            }
        }
        out.append(93)
        return String(decoding: out, as: UTF8.self)
    }

    /// `started_workflow_ids` (matched: true) or `failed_to_match_workflow_ids` as JSON array text.
    func idsJSON(matched: Bool) -> String {
        var out: [UInt8] = [91]
        out.reserveCapacity(matched ? 16 : matches.count * 6 + 2)
        matches.withUnsafeBufferPointer { all in
            for i in all.indices where (all[i].verdict == .matched) == matched {
                if out.count > 1 { out.append(44) }
                out.append(contentsOf: all[i].agent.idDigits)
            }
        }
        out.append(93)
        return String(decoding: out, as: UTF8.self)
    }

    static func parseCompact(_ text: String) -> [(id: Int64, version: Int64, verdict: MatchVerdict)] {
        ((try? JSON.parse(text))?.arrayValue ?? []).compactMap { entry in
            guard let items = entry.arrayValue, items.count == 3, let id = items[0].intValue, let version = items[1].intValue,
                  let verdict = items[2].stringValue.flatMap(MatchVerdict.init) else { return nil }
            return (id, version, verdict)
        }
    }
}

/// Matching (design §9), pure: for each ENABLED TRIGGERED agent of the event's entity type, in execution
/// order, `callback_settings.target_changes`, then the agent's conditions over the entity, then
/// `run_only_once_per_entity`. Every agent considered gets a verdict saying why.
enum CallbackMatcher {
    static let matchedReason = "matched: target_changes and conditions passed"

    /// Lower `execution_order` first, then lower id.
    static func ordered(_ agents: [TriggeredAgent]) -> [TriggeredAgent] {
        agents.sorted { ($0.executionOrder, $0.id) < ($1.executionOrder, $1.id) }
    }

    /// One verdict per agent, in the order given. `alreadyRan` holds the agents that already ran for this
    /// entity from a callback; `changes` are those the matching uses (sent, or derived from the last record).
    static func match(_ event: CallbackEvent, changes: [CallbackEvent.Change], agents: [TriggeredAgent],
                      alreadyRan: Set<Int64>) -> MatchResult {
        let fields = EntityFields(event.entity)
        let pairs = changes.map { (field: $0.field, old: $0.old, new: $0.new) }
        var result = MatchResult(matches: agents.map { agent in
            // The reason of a target_changes miss is written only when the audit is rendered.
            guard agent.targetChanges.matches(changeType: event.changeType, changes: pairs) else {
                return WorkflowMatch(agent: agent, verdict: .targetChanges, targetReason: nil, outcome: nil)
            }
            let outcome = agent.compiled.evaluate(fields)
            return WorkflowMatch(agent: agent, verdict: outcome.matched ? .matched : outcome.error ? .error : .conditions,
                                 targetReason: nil, outcome: outcome)
        }, eventType: event.changeType, entityLabel: "\(event.entityType) \(event.entityId)", fields: fields)
        applyRunOnce(&result, alreadyRan: alreadyRan)
        return result
    }

    /// Turns off the matches of run_only_once_per_entity agents in `alreadyRan` (applied again inside the
    /// write, where `alreadyRan` is read under the writer lock).
    static func applyRunOnce(_ result: inout MatchResult, alreadyRan: Set<Int64>) {
        guard !alreadyRan.isEmpty else { return }
        for i in result.matches.indices where result.matches[i].matched && result.matches[i].agent.runOnlyOncePerEntity
            && alreadyRan.contains(result.matches[i].workflowId) {
            result.matches[i].verdict = .runOnce
        }
    }

    /// A stored callback's audit derived again from its verdicts, its event and the agent versions it
    /// was matched against (the stored verdict stands; reasons and comparisons are recomputed).
    static func replay(_ stored: [(agent: TriggeredAgent, verdict: MatchVerdict)], changeType: String,
                       changes: [CallbackEvent.Change], entity: JSONObject, entityLabel: String) -> MatchResult {
        replay(stored, changeType: changeType, changes: changes, fields: EntityFields(entity), entityLabel: entityLabel)
    }

    /// `replay` on an entity already read (an ingest's own `EntityFields`, whose rule verdicts it reuses).
    static func replay(_ stored: [(agent: TriggeredAgent, verdict: MatchVerdict)], changeType: String,
                       changes: [CallbackEvent.Change], fields: EntityFields, entityLabel: String) -> MatchResult {
        let pairs = changes.map { (field: $0.field, old: $0.old, new: $0.new) }
        return MatchResult(matches: stored.map { agent, verdict in
            if verdict == .targetChanges {
                let target = agent.targetChanges.evaluate(changeType: changeType, changes: pairs)
                return WorkflowMatch(agent: agent, verdict: verdict, targetReason: target.reason, outcome: nil)
            }
            return WorkflowMatch(agent: agent, verdict: verdict, targetReason: nil, outcome: agent.compiled.evaluate(fields))
        }, eventType: changeType, entityLabel: entityLabel, fields: fields)
    }
}

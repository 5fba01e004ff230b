import NeoJSON

/// A TRIGGERED agent as matching reads it, parsed once per (id, version) from its stored document.
struct TriggeredAgent: Equatable {
    let id: Int64
    let version: Int64
    let name: String
    /// `callback_settings.execution_order`: lower runs first; absent counts as 0.
    let executionOrder: Int64
    let callbackSettings: JSON?
    /// `ticket_conditions.conditions`, or `time_entry_conditions.conditions` for time_entry agents.
    let conditions: JSON?
    let runOnlyOncePerEntity: Bool

    init(id: Int64, version: Int64, document: JSONObject) {
        self.id = id
        self.version = version
        name = document["name"]?.stringValue ?? ""
        let settings = document["callback_settings"].flatMap { $0.isNull ? nil : $0 }
        callbackSettings = settings
        executionOrder = settings?["execution_order"]?.intValue ?? 0
        runOnlyOncePerEntity = settings?["run_only_once_per_entity"]?.boolValue ?? false
        let conditionsField = document["entity_type"]?.stringValue == "time_entry" ? "time_entry_conditions" : "ticket_conditions"
        conditions = document[conditionsField]?["conditions"].flatMap { $0.isNull ? nil : $0 }
    }
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

/// Neo's `workflow_matches[]` entry: why one agent did or did not start for an event.
struct WorkflowMatch: Equatable {
    let workflowId: Int64
    let workflowName: String
    var matched: Bool
    /// An unknown operator or an unusable rule value: no match, flagged.
    let error: Bool
    var matchReason: String
    /// `match_details.event_type`: the normalized change type.
    let eventType: String
    let comparisons: [Conditions.Comparison]

    var json: JSON {
        .object(JSONObject([
            ("workflow_id", .int(workflowId)), ("workflow_name", .string(workflowName)), ("matched", .bool(matched)),
            ("error", .bool(error)), ("match_reason", .string(matchReason)),
            ("match_details", .object(JSONObject([("event_type", .string(eventType)),
                                                  ("field_comparisons", .array(comparisons.map(\.json)))]))),
        ]))
    }
}

/// Matching (design §9), pure: for each ENABLED TRIGGERED agent of the event's entity type, in execution
/// order, `callback_settings.target_changes`, then the agent's conditions over the entity, then
/// `run_only_once_per_entity`. Every agent considered gets a `WorkflowMatch` saying why.
enum CallbackMatcher {
    static let matchedReason = "matched: target_changes and conditions passed"

    /// Lower `execution_order` first, then lower id.
    static func ordered(_ agents: [TriggeredAgent]) -> [TriggeredAgent] {
        agents.sorted { ($0.executionOrder, $0.id) < ($1.executionOrder, $1.id) }
    }

    /// One verdict per agent, in the order given. `alreadyRan` holds the agents that already ran for this
    /// entity from a callback; `changes` are those the matching uses (sent, or derived from the last record).
    static func match(_ event: CallbackEvent, changes: [CallbackEvent.Change], agents: [TriggeredAgent],
                      alreadyRan: Set<Int64>) -> [WorkflowMatch] {
        let pairs = changes.map { (field: $0.field, old: $0.old, new: $0.new) }
        var out = agents.map { agent -> WorkflowMatch in
            let target = TargetChanges.evaluate(agent.callbackSettings, changeType: event.changeType, changes: pairs)
            guard target.matched else {
                return WorkflowMatch(workflowId: agent.id, workflowName: agent.name, matched: false, error: false,
                                     matchReason: target.reason ?? "target_changes did not match", eventType: event.changeType, comparisons: [])
            }
            let outcome = Conditions.evaluate(agent.conditions, entity: event.entity)
            return WorkflowMatch(workflowId: agent.id, workflowName: agent.name, matched: outcome.matched, error: outcome.error,
                                 matchReason: outcome.matched ? matchedReason : outcome.reason ?? "conditions did not match",
                                 eventType: event.changeType, comparisons: outcome.comparisons)
        }
        applyRunOnce(&out, agents: agents, alreadyRan: alreadyRan, entity: "\(event.entityType) \(event.entityId)")
        return out
    }

    /// Turns off the matches of run_only_once_per_entity agents in `alreadyRan` (also applied again inside
    /// the write, where `alreadyRan` is read under the writer lock).
    static func applyRunOnce(_ matches: inout [WorkflowMatch], agents: [TriggeredAgent], alreadyRan: Set<Int64>, entity: String) {
        guard !alreadyRan.isEmpty else { return }
        let once = Set(agents.filter(\.runOnlyOncePerEntity).map(\.id))
        for i in matches.indices where matches[i].matched && once.contains(matches[i].workflowId) && alreadyRan.contains(matches[i].workflowId) {
            matches[i].matched = false
            matches[i].matchReason = "run_only_once_per_entity: this agent already ran for \(entity) from a callback"
        }
    }
}

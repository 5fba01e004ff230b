import Basics
import NeoJSON

/// Neo's agent enums and field lists (design §5), shared by create, patch, list filters and the store.
enum AgentSchema {
    static let autonomyTypes = AgentEnums.autonomyTypes
    static let triggerTypes = AgentEnums.triggerTypes
    static let states = AgentEnums.states
    static let entityTypes = AgentEnums.entityTypes
    static let audiences = AgentEnums.audiences
    static let accesses = AgentEnums.accesses

    /// Fixed at create: a PUT that sends a different value is refused with 422.
    static let immutableFields = ["autonomy_type", "entity_type", "audience"]
    /// Server-managed: ignored (with a warning) when a client sends them back.
    static let readOnlyFields = ["id", "version", "created_at", "updated_at", "next_run_at"]
    /// Edits an agent-actor key may only propose (design §4); `state → DELETED` is destructive too.
    static let destructiveFields: Set<String> = ["actions", "agent_settings", "toolbox", "integrations",
                                                 "ticket_conditions", "time_entry_conditions"]
    /// The `Agent` summary: the list item and the create/update/delete response.
    static let summaryFields = ["id", "name", "description", "group_name", "group_order", "state", "trigger_type",
                                "autonomy_type", "entity_type", "created_at", "updated_at", "version"]

    static let findEntities = "FIND_ENTITIES"
    static let agentic = "AGENTIC"
    static let conversational = "CONVERSATIONAL"
    static let externalAPIRequest = "EXTERNAL_API_REQUEST"
    static let addNote = "ADD_NOTE"
    /// Pipeline actions this server executes; Neo has many more, which are stored but refused at run time.
    static let runnableActionTypes: Set<String> = [externalAPIRequest, addNote]

    /// Neo's action types are UPPER_SNAKE identifiers (`ADD_NOTE`, `EXTERNAL_API_REQUEST`).
    static func isWellFormedActionType(_ type: String) -> Bool {
        guard let first = type.utf8.first, first >= 65 && first <= 90 else { return false }
        return type.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
    }
}

/// A new agent document (`AgentDetail`) with every field present, in the published order, before the
/// create body's fields are applied. `id`, timestamps and `version` are filled when it is stored.
func baseAgentDocument(autonomyType: String, entityType: String, audience: String?) -> JSONObject {
    // Built once per combination (a few dozen at most: the callers pass enum values): a fixture of 100 agents built
    // the same 26-key document 100 times.
    let key = "\(autonomyType)\u{0}\(entityType)\u{0}\(audience ?? "\u{1}")"
    if let known = baseAgentDocuments.withLock({ $0[key] }) { return known }
    let document = buildBaseAgentDocument(autonomyType: autonomyType, entityType: entityType, audience: audience)
    baseAgentDocuments.withLock { cache in
        if cache.count >= 256 { cache.removeAll() }
        cache[key] = document
    }
    return document
}

private let baseAgentDocuments = Lock([String: JSONObject]())

private func buildBaseAgentDocument(autonomyType: String, entityType: String, audience: String?) -> JSONObject {
    var actions: [JSON] = []
    if autonomyType != "CONVERSATIONAL" {
        actions.append(action(id: "act_1", type: AgentSchema.findEntities, input: JSONObject()))
    }
    if autonomyType == "AGENTIC" {
        actions.append(action(id: "act_2", type: AgentSchema.agentic, input: JSONObject()))
    }
    let conversational = autonomyType == "CONVERSATIONAL"
    var document = JSONObject([
        ("id", .null), ("name", .string("")), ("description", .null), ("group_name", .null), ("group_order", .null),
        ("state", .string("ENABLED")), ("trigger_type", .string("NONE")), ("autonomy_type", .string(autonomyType)),
        ("entity_type", .string(entityType)),
        ("audience", conversational ? .string(audience ?? "MSP") : .null),
        ("access", conversational ? .string("ALL_USERS") : .null),
        ("process_entities_sequentially", .null), ("process_sub_entities_only_once", .null), ("schedule", .null),
        ("callback_settings", .null), ("show_in_psa_pod", .null), ("ticket_conditions", .null),
        ("time_entry_conditions", .null), ("actions", .array(actions)), ("agent_settings", .null),
        ("integrations", .null), ("toolbox", .null), ("created_at", .null), ("updated_at", .null), ("version", .int(0)),
    ])
    rebuildFindEntities(&document)
    return document
}

/// One pipeline action as stored: `{id, action_type, input_as_dict}`.
func action(id: String, type: String, input: JSONObject) -> JSON {
    .object(JSONObject([("id", .string(id)), ("action_type", .string(type)), ("input_as_dict", .object(input))]))
}

/// FIND_ENTITIES is server-owned: its input always mirrors entity_type and the conditions.
func rebuildFindEntities(_ document: inout JSONObject) {
    guard var actions = document["actions"]?.arrayValue,
          let index = actions.firstIndex(where: { $0["action_type"]?.stringValue == AgentSchema.findEntities }),
          var found = actions[index].objectValue else { return }
    found["input_as_dict"] = .object(JSONObject([
        ("entity_type", document["entity_type"] ?? .null),
        ("ticket_conditions", document["ticket_conditions"] ?? .null),
        ("time_entry_conditions", document["time_entry_conditions"] ?? .null),
    ]))
    actions[index] = .object(found)
    document["actions"] = .array(actions)
}

/// The `Agent` summary of a stored document.
func agentSummary(_ document: JSONObject) -> JSONObject {
    JSONObject(AgentSchema.summaryFields.map { ($0, document[$0] ?? .null) })
}

/// Deep merge (seed 004): objects merge key by key, an explicit null deletes a key, scalars and lists replace.
func deepMerge(_ base: JSONObject, _ patch: JSONObject) -> JSONObject {
    var merged = base
    for (key, value) in patch {
        switch value {
        case .null:
            merged[key] = nil
        case .object(let nested):
            merged[key] = .object(deepMerge(base[key]?.objectValue ?? JSONObject(), nested))
        default:
            merged[key] = value
        }
    }
    return merged
}

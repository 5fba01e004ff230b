import NeoJSON

/// What a PUT patch does to an agent document.
struct AgentPatchResult {
    /// The merged document (`AgentDetail`), FIND_ENTITIES rebuilt; id, timestamps and version untouched.
    var agent: JSONObject
    /// Top-level fields the patch changes (read-only and unknown fields excluded).
    var touched: [String]
    /// `meta.warnings` lines: unknown and read-only fields ignored.
    var warnings: [String]
    /// An agent-actor key must get approval for this patch (design §4).
    var isDestructive: Bool
}

/// Applies a PUT body to a stored agent document exactly per seed 004 and design §5. Pure: no I/O.
///
/// Throws 422 VALIDATION_ERROR with every bad field named, or 400 `validation_error` for Neo's
/// documented refusals (FIND_ENTITIES sent, `actions` on a non-CHAINED_ACTIONS agent, conditions on a
/// CONVERSATIONAL agent, credentials inside a toolbox).
func applyAgentPatch(_ patch: JSONObject, to agent: JSONObject) throws -> AgentPatchResult {
    let validation = Validation()
    let reader = FieldReader(patch, validation: validation)
    do {
        return try mergeAgentPatch(patch, into: agent, reader: reader, validation: validation)
    } catch let refusal as APIError where refusal.status == 400 {
        // Neo's refusals stop the merge early: the envelope still names the fields it would have ignored.
        reader.warnUnknown(knowing: Array(agent.keys))
        throw refusal.adding(warnings: validation.warnings)
    }
}

private func mergeAgentPatch(_ patch: JSONObject, into agent: JSONObject, reader: FieldReader,
                             validation: Validation) throws -> AgentPatchResult {
    var document = agent
    var touched: [String] = []
    let autonomyType = agent["autonomy_type"]?.stringValue ?? "CHAINED_ACTIONS"

    for key in AgentSchema.immutableFields where reader.has(key) && patch[key] != agent[key] {
        let current = agent[key].map { String(decoding: $0.serialized(), as: UTF8.self) } ?? "null"
        validation.fail(key, "is immutable after create (current value \(current))")
    }
    for key in AgentSchema.readOnlyFields where reader.has(key) {
        validation.warn("read-only field '\(key)' ignored")
    }

    /// Sets `key` from `read` when sent; an explicit null clears it when `nullable`.
    func assign(_ key: String, nullable: Bool = true, _ read: () -> JSON?) {
        guard reader.has(key) else { return }
        if reader.isNull(key) {
            if nullable {
                document[key] = .null
                touched.append(key)
            } else {
                validation.fail(key, "must not be null")
            }
            return
        }
        if let value = read() {
            document[key] = value
            touched.append(key)
        }
    }
    assign("name", nullable: false) { reader.string("name", maxLength: 200, minLength: 1).map(JSON.string) }
    assign("description") { reader.string("description", maxLength: 10_000).map(JSON.string) }
    assign("group_name") { reader.string("group_name", maxLength: 200).map(JSON.string) }
    assign("group_order") { reader.int("group_order").map(JSON.int) }
    assign("state", nullable: false) { reader.enumValue("state", AgentSchema.states).map(JSON.string) }
    assign("trigger_type", nullable: false) { reader.enumValue("trigger_type", AgentSchema.triggerTypes).map(JSON.string) }
    for key in ["process_entities_sequentially", "process_sub_entities_only_once", "show_in_psa_pod"] {
        assign(key) { reader.bool(key).map(JSON.bool) }
    }
    for key in ["schedule", "callback_settings", "agent_settings", "integrations"] {
        assign(key) { reader.object(key).map(JSON.object) }
    }
    if reader.has("access") {
        if autonomyType == "CONVERSATIONAL" {
            assign("access", nullable: false) { reader.enumValue("access", AgentSchema.accesses).map(JSON.string) }
        } else {
            validation.fail("access", "is only for CONVERSATIONAL agents")
        }
    }
    for key in ["ticket_conditions", "time_entry_conditions"] {
        if autonomyType == "CONVERSATIONAL", let sent = reader.raw(key), !sent.isNull {
            throw APIError.neoValidation("CONVERSATIONAL agents have no \(key); omit it", field: key)
        }
        assign(key) { reader.object(key).map(JSON.object) }
    }
    checkMatchingFields(document, touched: touched, validation: validation)
    if let sent = reader.raw("actions"), !sent.isNull {
        try mergeActionsField(sent, autonomyType: autonomyType, into: &document, validation: validation)
        touched.append("actions")
    }
    if reader.has("toolbox") {
        if reader.isNull("toolbox") {
            document["toolbox"] = .null
        } else if let toolbox = reader.nested("toolbox") {
            document["toolbox"] = .object(try mergeToolbox(toolbox, onto: document["toolbox"]?.objectValue))
        }
        touched.append("toolbox")
    }

    if touched.contains("schedule") || touched.contains("trigger_type") {
        checkSchedule(document, validation: validation)
    }
    reader.warnUnknown()
    try validation.check()
    rebuildFindEntities(&document)
    let deletes = document["state"]?.stringValue == "DELETED" && agent["state"]?.stringValue != "DELETED"
    return AgentPatchResult(agent: document, touched: touched, warnings: validation.warnings,
                            isDestructive: deletes || touched.contains(where: AgentSchema.destructiveFields.contains))
}

/// What callback matching reads (design §9), checked when a write sends it: `callback_settings` and the
/// react-querybuilder trees in `ticket_conditions.conditions` / `time_entry_conditions.conditions`.
private func checkMatchingFields(_ document: JSONObject, touched: [String], validation: Validation) {
    if touched.contains("callback_settings"), let settings = document["callback_settings"]?.objectValue {
        CallbackSettings.check(settings, path: "callback_settings", validation: validation)
    }
    for key in ["ticket_conditions", "time_entry_conditions"] where touched.contains(key) {
        if let conditions = document[key]?["conditions"], !conditions.isNull {
            Conditions.check(conditions, path: "\(key).conditions", validation: validation)
        }
    }
}

/// `actions` (CHAINED_ACTIONS only): each entry targets an action by `id`, else by an `action_type` that
/// exactly one existing action has; the target's input_as_dict is deep-merged; anything else is appended.
/// Matching looks at the actions as they were before this patch, so two new entries of one type both append.
private func mergeActionsField(_ sent: JSON, autonomyType: String, into document: inout JSONObject,
                               validation: Validation) throws {
    guard let entries = sent.arrayValue else {
        validation.fail("actions", "must be an array (got \(sent.typeName))")
        return
    }
    if autonomyType == "CONVERSATIONAL" && entries.isEmpty { return }
    guard autonomyType == "CHAINED_ACTIONS" else {
        throw APIError.neoValidation("\(autonomyType) agents build their own actions; omit actions", field: "actions")
    }
    let existing = document["actions"]?.arrayValue ?? []
    var actions = existing
    var nextId = nextActionNumber(existing)
    for (i, entry) in entries.enumerated() {
        let path = "actions[\(i)]"
        guard let object = entry.objectValue else {
            validation.fail(path, "must be an object (got \(entry.typeName))")
            continue
        }
        let reader = FieldReader(object, path: path, validation: validation)
        let id = reader.string("id", maxLength: 100)
        let type = reader.string("action_type", maxLength: 100, minLength: 1)
        let input = reader.object("input_as_dict") ?? JSONObject()
        if reader.isNull("input_as_dict") { validation.fail(reader.field("input_as_dict"), "must be an object (got null)") }
        let typeMissing = object["action_type"]?.isNull ?? true
        reader.warnUnknown()
        if let type, !AgentSchema.isWellFormedActionType(type) {
            validation.fail(reader.field("action_type"), "must be an UPPER_SNAKE action type such as ADD_NOTE or EXTERNAL_API_REQUEST (got '\(type.prefix(64))')")
            continue
        }
        if type == AgentSchema.findEntities {
            throw APIError.neoValidation("FIND_ENTITIES is built by the server from entity_type and the conditions; do not send it",
                                         field: reader.field("action_type"))
        }

        var target: Int?
        if let id {
            target = existing.firstIndex { $0["id"]?.stringValue == id }
        } else if let type {
            let sameType = existing.indices.filter { existing[$0]["action_type"]?.stringValue == type }
            if sameType.count > 1 {
                let ids = sameType.compactMap { existing[$0]["id"]?.stringValue }.joined(separator: ", ")
                validation.fail(path, "action_type '\(type)' matches \(sameType.count) actions (ids \(ids)); send id to pick one")
                continue
            }
            target = sameType.first
        } else {
            if typeMissing { validation.fail(reader.field("action_type"), "is required when id is omitted") }
            continue
        }

        if let target {
            guard var matched = actions[target].objectValue else { continue }
            let matchedType = matched["action_type"]?.stringValue ?? ""
            if matchedType == AgentSchema.findEntities {
                throw APIError.neoValidation("action \(id ?? "") is FIND_ENTITIES, which the server owns; change the conditions instead",
                                             field: reader.field("id"))
            }
            if let type, type != matchedType {
                validation.fail(reader.field("action_type"), "action \(id ?? "") is \(matchedType); action_type cannot change")
                continue
            }
            let merged = deepMerge(matched["input_as_dict"]?.objectValue ?? JSONObject(), input)
            checkActionInput(type: matchedType, merged, path: reader.field("input_as_dict"), validation: validation)
            matched["input_as_dict"] = .object(merged)
            actions[target] = .object(matched)
        } else if let type {
            let created = deepMerge(JSONObject(), input)
            checkActionInput(type: type, created, path: reader.field("input_as_dict"), validation: validation)
            actions.append(action(id: "act_\(nextId)", type: type, input: created))
            nextId += 1
        } else if typeMissing {
            validation.fail(reader.field("action_type"), "is required for a new action (no action has id '\(id ?? "")')")
        }
    }
    document["actions"] = .array(actions)
}

/// The inputs a runnable action cannot work without, checked on every action a write creates or changes.
private func checkActionInput(type: String, _ input: JSONObject, path: String, validation: Validation) {
    func requireString(_ key: String, _ why: String) {
        guard let value = input[key], case .string(let s) = value, !s.isEmpty else {
            let got = input[key].map { $0.isNull ? "null" : $0.typeName } ?? "nothing"
            validation.fail("\(path).\(key)", "is required for \(type): \(why) (got \(got))")
            return
        }
    }
    switch type {
    case AgentSchema.addNote: requireString("template", "a non-empty string, the markdown of the note ({{input.field}} placeholders allowed)")
    case AgentSchema.externalAPIRequest: requireString("api_name", "a non-empty string naming an external-API config of this tenant")
    default: break
    }
}

/// `meta.warnings` for an agent document this server could not run as written: actions it stores
/// but does not execute. Pure.
func agentRunWarnings(_ document: JSONObject) -> [String] {
    var warnings: [String] = []
    for item in document["actions"]?.arrayValue ?? [] {
        let type = item["action_type"]?.stringValue ?? ""
        let id = item["id"]?.stringValue ?? "?"
        if type != AgentSchema.findEntities && type != AgentSchema.agentic && !AgentSchema.runnableActionTypes.contains(type) {
            warnings.append("action \(id) has action_type '\(type)', which this server stores but does not run; "
                + "a run of this agent fails before its first action (runnable: ADD_NOTE, EXTERNAL_API_REQUEST)")
        }
    }
    return warnings
}

/// The literal `api_name` of each EXTERNAL_API_REQUEST action (templated names are resolved at run time).
func externalAPINames(_ document: JSONObject) -> [(actionId: String, apiName: String)] {
    (document["actions"]?.arrayValue ?? []).compactMap { item in
        guard item["action_type"]?.stringValue == AgentSchema.externalAPIRequest,
              let name = item["input_as_dict"]?["api_name"]?.stringValue, !name.contains("{{") else { return nil }
        return (item["id"]?.stringValue ?? "?", name)
    }
}

/// The next free number for `act_<n>` ids: ids are never reused because actions are never dropped.
private func nextActionNumber(_ actions: [JSON]) -> Int {
    let numbers = actions.compactMap { $0["id"]?.stringValue.flatMap { id in id.hasPrefix("act_") ? Int(id.dropFirst(4)) : nil } }
    return (numbers.max() ?? 0) + 1
}

/// `toolbox` merges per tool (seed 004): each tool's settings deep-merge, a tool set to null is removed.
private func mergeToolbox(_ toolbox: FieldReader, onto current: JSONObject?) throws -> JSONObject {
    var tools = current?["tool_settings_by_type"]?.objectValue ?? JSONObject()
    if let sent = toolbox.nested("tool_settings_by_type") {
        for (tool, settings) in sent.object {
            let path = sent.field(tool)
            switch settings {
            case .null:
                tools[tool] = nil
            case .object(let object):
                if let credential = credentialPath(in: object, path: path) {
                    throw APIError.neoValidation("toolboxes cannot carry credentials; configure them on the external API instead",
                                                 field: credential)
                }
                tools[tool] = .object(deepMerge(tools[tool]?.objectValue ?? JSONObject(), object))
            default:
                toolbox.validation.fail(path, "must be an object or null (got \(settings.typeName))")
            }
        }
    } else if toolbox.isNull("tool_settings_by_type") {
        toolbox.validation.fail(toolbox.field("tool_settings_by_type"), "must be an object; send \"toolbox\": null to clear the toolbox")
    }
    toolbox.warnUnknown()
    return JSONObject([("tool_settings_by_type", .object(tools))])
}

/// Keys that name a secret; Neo refuses toolboxes that supply credentials (400 validation_error).
private let credentialKeys: Set<String> = ["api_key", "apikey", "password", "secret", "client_secret", "token",
                                           "access_token", "refresh_token", "bearer_token", "credentials"]

/// The path of the first credential-like key with a non-null value, searching nested objects and lists.
private func credentialPath(in object: JSONObject, path: String) -> String? {
    for (key, value) in object {
        let field = "\(path).\(key)"
        if credentialKeys.contains(key.lowercased()) && !value.isNull { return field }
        if let found = credentialPath(in: value, path: field) { return found }
    }
    return nil
}

private func credentialPath(in value: JSON, path: String) -> String? {
    switch value {
    case .object(let nested): return credentialPath(in: nested, path: path)
    case .array(let items):
        for (i, item) in items.enumerated() {
            if let found = credentialPath(in: item, path: "\(path)[\(i)]") { return found }
        }
        return nil
    default: return nil
    }
}

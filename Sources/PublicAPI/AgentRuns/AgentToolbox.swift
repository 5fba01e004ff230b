import NeoJSON

/// What an agent's toolbox lets the model call (design §10): the external APIs named in
/// `EXTERNAL_API_REQUEST.apis` (an allowlist) and, when `NEO_API_REQUEST` is present, this server's own
/// API with exactly its permission groups. Pure.
struct AgentToolbox: Equatable {
    static let externalAPITool = "EXTERNAL_API_REQUEST"
    static let neoAPITool = "NEO_API_REQUEST"
    /// The function name of the Neo API tool.
    static let neoAPIFunction = "neo_api_request"

    /// Allowed external-API config names, in toolbox order.
    var apis: [String] = []
    /// The Neo API tool's permission groups (absent groups are `none`); nil when the tool is off.
    var neoPermissions: [PermissionGroup: AccessLevel]?

    /// Reads `toolbox.tool_settings_by_type`, reporting malformed entries under their field paths. Other
    /// tools' settings are Neo's and left alone.
    static func read(_ toolbox: JSON?, validation v: Validation) -> AgentToolbox {
        var out = AgentToolbox()
        guard let tools = toolbox?["tool_settings_by_type"]?.objectValue else { return out }
        let base = "toolbox.tool_settings_by_type"
        if let external = tools[externalAPITool], !external.isNull {
            let path = "\(base).\(externalAPITool).apis"
            switch external["apis"] {
            case nil, .null?:
                break
            case .array(let names)?:
                for (i, item) in names.enumerated() {
                    guard let name = item.stringValue, ExternalAPIConfigCodec.isValidName(name) else {
                        v.fail("\(path)[\(i)]", "must be the name of an external-API config (got \(item.stringValue.map { "'\($0.prefix(64))'" } ?? item.typeName))")
                        continue
                    }
                    if out.apis.contains(name) { v.fail("\(path)[\(i)]", "names '\(name)' twice"); continue }
                    out.apis.append(name)
                }
            case let other?:
                v.fail(path, "must be an array of external-API config names (got \(other.typeName))")
            }
        }
        if let neo = tools[neoAPITool], !neo.isNull {
            var levels: [PermissionGroup: AccessLevel] = [:]
            let path = "\(base).\(neoAPITool).permissions"
            switch neo["permissions"] {
            case nil, .null?:
                break
            case .object(let object)?:
                for (group, level) in object {
                    guard let g = PermissionGroup(rawValue: group) else {
                        v.fail("\(path).\(group)", "is not a permission group (groups: \(PermissionGroup.allCases.map(\.rawValue).joined(separator: ", ")))")
                        continue
                    }
                    guard let l = level.stringValue.flatMap(AccessLevel.init(rawValue:)) else {
                        v.fail("\(path).\(group)", "must be one of none, read, read_write (got \(level.stringValue.map { "'\($0.prefix(64))'" } ?? level.typeName))")
                        continue
                    }
                    levels[g] = l
                }
            case let other?:
                v.fail(path, "must be an object {group: none|read|read_write} (got \(other.typeName))")
            }
            out.neoPermissions = levels
            if let clash = out.apis.firstIndex(of: neoAPIFunction) {
                v.fail("\(base).\(externalAPITool).apis[\(clash)]", "'\(neoAPIFunction)' is the Neo API tool's name; rename that external API")
            }
        }
        return out
    }

    /// Every problem that would stop a run of this agent, for refusing the write (422): malformed tool
    /// settings or caps, an allowlisted API or a model provider this tenant does not have.
    static func problems(_ document: JSONObject, apiExists: (String) throws -> Bool, providerExists: (String) throws -> Bool) rethrows -> [APIError.Detail] {
        let v = Validation()
        let toolbox = read(document["toolbox"], validation: v)
        let settings = AgentRunSettings.read(document["agent_settings"], validation: v)
        for (i, name) in toolbox.apis.enumerated() where try !apiExists(name) {
            v.fail("toolbox.tool_settings_by_type.\(externalAPITool).apis[\(i)]",
                   "external API '\(name)' is not configured in this tenant; create it with POST /public-api/external-apis first")
        }
        if let name = settings.llmProvider, try !providerExists(name) {
            v.fail("agent_settings.llm_provider", "model provider '\(name.prefix(64))' is not configured in this tenant; create it with POST /public-api/llm-providers first")
        }
        return v.details
    }
}

/// The AGENTIC keys of `agent_settings` (ours beside Neo's `custom_instructions`), with their defaults.
struct AgentRunSettings: Equatable {
    var customInstructions: String?
    /// A provider name; nil means the tenant's default.
    var llmProvider: String?
    var maxIterations = 10
    var maxToolCalls = 20
    var maxRunSeconds = 600
    var maxTotalTokens = 200_000
    /// Chat turns (design §13): how many messages of the session's history a turn sends.
    var maxHistoryMessages = 40
    /// Chat turns asked for with `model_tier: SMART` use this model of the provider, when set.
    var smartModel: String?

    static var caps: [(key: String, range: ClosedRange<Int64>, path: WritableKeyPath<AgentRunSettings, Int>)] {
        [("max_iterations", 1...200, \.maxIterations), ("max_tool_calls", 1...1000, \.maxToolCalls),
         ("max_run_seconds", 1...86_400, \.maxRunSeconds), ("max_total_tokens", 1...100_000_000, \.maxTotalTokens),
         ("max_history_messages", 1...1000, \.maxHistoryMessages)]
    }

    /// Reads `agent_settings`; other keys are Neo's and left alone.
    static func read(_ settings: JSON?, validation v: Validation) -> AgentRunSettings {
        var out = AgentRunSettings()
        guard let object = settings?.objectValue else { return out }
        switch object["custom_instructions"] {
        case .string(let s)?: out.customInstructions = s
        case nil, .null?: break
        case let other?: v.fail("agent_settings.custom_instructions", "must be a string (got \(other.typeName))")
        }
        switch object["llm_provider"] {
        case .string(let s)? where ExternalAPIConfigCodec.isValidName(s): out.llmProvider = s
        case nil, .null?: break
        case let other?: v.fail("agent_settings.llm_provider", "must be the name of a model provider (got \(other.stringValue.map { "'\($0.prefix(64))'" } ?? other.typeName))")
        }
        switch object["smart_model"] {
        case .string(let s)? where !s.isEmpty && s.utf8.count <= 200: out.smartModel = s
        case nil, .null?: break
        case let other?: v.fail("agent_settings.smart_model", "must be a model name of 1 to 200 characters (got \(other.typeName))")
        }
        for cap in caps {
            guard let value = object[cap.key], !value.isNull else { continue }
            guard case .int(let n) = value, cap.range.contains(n) else {
                v.fail("agent_settings.\(cap.key)", "must be an integer from \(cap.range.lowerBound) to \(cap.range.upperBound) (got \(value.serializedString().prefix(32)))")
                continue
            }
            out[keyPath: cap.path] = Int(n)
        }
        return out
    }
}

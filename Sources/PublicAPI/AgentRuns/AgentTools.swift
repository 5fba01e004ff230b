import Executor
import NeoJSON

/// The functions an AGENTIC run offers the model, built from its toolbox (design §10), and how a call's
/// arguments become a request. An external API is one function named by its config: the description
/// and instructions, and a JSON Schema of its URL placeholders and body fields. The URL, method,
/// headers and auth stay on the server. Pure.
enum AgentTools {
    /// What one offered function runs.
    enum Tool: Equatable {
        case externalAPI(ExternalAPIConfig)
        case neoAPI
    }

    /// The offered functions, in toolbox order, and what each runs.
    struct ToolSet: Equatable {
        var definitions: [ToolDefinition] = []
        var tools: [String: Tool] = [:]
    }

    /// A description longer than this is cut (some providers refuse long ones).
    static let maxDescription = 4096
    /// The methods `neo_api_request` takes.
    static let neoMethods = ["GET", "POST", "PUT", "DELETE"]

    /// The tool set for `toolbox` given the tenant's configs of the allowlisted names; throws a message
    /// naming the problem when an allowlisted API is missing or cannot be offered.
    static func build(_ toolbox: AgentToolbox, configs: [String: ExternalAPIConfig]) throws -> ToolSet {
        var set = ToolSet()
        for name in toolbox.apis {
            guard let config = configs[name] else {
                throw ToolboxProblem("the toolbox names external API '\(name)', which this tenant no longer has")
            }
            set.definitions.append(try definition(for: config))
            set.tools[name] = .externalAPI(config)
        }
        if let permissions = toolbox.neoPermissions {
            set.definitions.append(neoAPIDefinition(permissions))
            set.tools[AgentToolbox.neoAPIFunction] = .neoAPI
        }
        return set
    }

    /// One external API as a function.
    static func definition(for config: ExternalAPIConfig) throws -> ToolDefinition {
        guard case .success(let placeholders) = RequestBuilder.placeholders(in: config.endpointURL) else {
            throw ToolboxProblem("external API '\(config.name)' has a malformed endpoint template")
        }
        var properties = JSONObject()
        var required: [JSON] = []
        for name in placeholders where properties[name] == nil {
            properties[name] = .object(JSONObject([("type", "string"), ("description", .string("the {\(name)} part of the request"))]))
            required.append(.string(name))
        }
        for field in config.method.hasBody ? config.bodyFields : [] {
            guard properties[field.name] == nil else {
                throw ToolboxProblem("external API '\(config.name)' uses '\(field.name)' both as a URL placeholder and a body field; rename one")
            }
            var schema = JSONObject([("type", .string(jsonType(field.type)))])
            if let text = field.description, !text.isEmpty { schema["description"] = .string(text) }
            properties[field.name] = .object(schema)
            if field.required { required.append(.string(field.name)) }
        }
        let text = [config.description, config.instructions].compactMap { $0?.isEmpty == false ? $0 : nil }.joined(separator: "\n\n")
        return ToolDefinition(name: config.name, description: cut(text.isEmpty ? "Calls the external API '\(config.name)'." : text),
                              parameters: objectSchema(properties, required: required))
    }

    /// `neo_api_request`, scoped to `permissions` (named in its description so the model knows its reach).
    static func neoAPIDefinition(_ permissions: [PermissionGroup: AccessLevel]) -> ToolDefinition {
        let granted = PermissionGroup.allCases.map { "\($0.rawValue): \(permissions[$0, default: .none].rawValue)" }.joined(separator: ", ")
        let description = "Calls this Neo server's Public API as this agent. Permission groups: \(granted). "
            + "path starts with /public-api/ and may carry a query string (GET /public-api/agents, GET /public-api/executions?agent_id=1). "
            + "Answers {status, body} where body is Neo's JSON envelope. Edits of agents are held for a technician's approval."
        let properties = JSONObject([
            ("method", .object(JSONObject([("type", "string"), ("enum", .array(neoMethods.map(JSON.string)))]))),
            ("path", .object(JSONObject([("type", "string"), ("description", "/public-api/… with any query string")]))),
            ("body", .object(JSONObject([("type", "object"), ("description", "the JSON body of a POST or PUT")]))),
        ])
        return ToolDefinition(name: AgentToolbox.neoAPIFunction, description: description,
                              parameters: objectSchema(properties, required: ["method", "path"]))
    }

    /// The invoke body (`{params, body}`) for a call to `config`, or what is wrong with the arguments,
    /// phrased for the model.
    static func invocation(_ arguments: JSONObject, for config: ExternalAPIConfig, schema: JSONObject) -> Result<JSONObject, ToolArgumentError> {
        if let problem = SchemaCheck.problems(arguments, schema).first { return .failure(ToolArgumentError(problem)) }
        let placeholders = (try? RequestBuilder.placeholders(in: config.endpointURL).get()) ?? []
        var params = JSONObject()
        var body = JSONObject()
        for (key, value) in arguments {
            if placeholders.contains(key) { params[key] = value } else { body[key] = value }
        }
        var out = JSONObject()
        if !params.isEmpty { out["params"] = .object(params) }
        if config.method.hasBody { out["body"] = .object(body) }
        return .success(out)
    }

    /// A checked `neo_api_request` call.
    struct NeoAPICall: Equatable {
        var method: String
        var path: String
        var body: JSONObject?
    }

    /// The call, or what is wrong with it: paths outside /public-api/, escapes and dot segments. The routes a
    /// run may not call in process (those that queue runs or call external APIs) say so themselves
    /// (`Route.refusedInProcess`), checked by the App.
    static func neoAPICall(_ arguments: JSONObject, schema: JSONObject) -> Result<NeoAPICall, ToolArgumentError> {
        if let problem = SchemaCheck.problems(arguments, schema).first { return .failure(ToolArgumentError(problem)) }
        let method = arguments["method"]?.stringValue ?? ""
        let path = arguments["path"]?.stringValue ?? ""
        guard path.hasPrefix("/public-api/"), path.utf8.count <= 2048,
              path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != 0x23 && $0 != 0x5c }) else {
            return .failure(ToolArgumentError("path must start with /public-api/, at most 2048 printable ASCII characters without spaces, '#' or '\\'"))
        }
        let route = path.split(separator: "?", maxSplits: 1)[0]
        // No route of this API needs an escape in its path, so none can disguise a segment.
        let segments = route.split(separator: "/")
        if route.contains("%") || segments.contains(where: { $0 == "." || $0 == ".." }) {
            return .failure(ToolArgumentError("the path (before '?') must not contain '%' escapes or '.' or '..' segments"))
        }
        let body = arguments["body"]?.objectValue
        if body != nil && (method == "GET" || method == "DELETE") {
            return .failure(ToolArgumentError("a \(method) request carries no body; remove body"))
        }
        return .success(NeoAPICall(method: method, path: path, body: body))
    }

    static func jsonType(_ type: BodyField.FieldType) -> String {
        switch type {
        case .String: return "string"
        case .Number: return "number"
        case .Boolean: return "boolean"
        }
    }

    static func objectSchema(_ properties: JSONObject, required: [JSON]) -> JSONObject {
        JSONObject([("type", "object"), ("properties", .object(properties)), ("required", .array(required)), ("additionalProperties", false)])
    }

    private static func cut(_ text: String) -> String {
        text.count <= maxDescription ? text : String(text.prefix(maxDescription - 1)) + "…"
    }
}

/// Why a toolbox cannot be offered to the model; fails the run before the first model call.
struct ToolboxProblem: Error, Equatable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// What is wrong with a call's arguments, told to the model as an error result so it can correct them.
struct ToolArgumentError: Error, Equatable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Checks arguments against the object schemas `AgentTools` builds: declared properties only, each of
/// its type (and enum), every required one present. Pure.
enum SchemaCheck {
    static func problems(_ arguments: JSONObject, _ schema: JSONObject) -> [String] {
        let properties = schema["properties"]?.objectValue ?? JSONObject()
        var out: [String] = []
        for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where arguments[required]?.isNull ?? true {
            let type = properties[required]?["type"]?.stringValue ?? "value"
            out.append("'\(required)' is required (a \(type))")
        }
        for (key, value) in arguments {
            guard let property = properties[key] else {
                let known = properties.keys
                out.append("'\(key.prefix(64))' is not a parameter of this tool (parameters: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
                continue
            }
            if value.isNull && !(schema["required"]?.arrayValue?.contains(.string(key)) ?? false) { continue }
            let type = property["type"]?.stringValue ?? ""
            let ok: Bool
            switch (type, value) {
            case ("string", .string), ("boolean", .bool), ("object", .object), ("number", .int), ("number", .double), ("integer", .int): ok = true
            default: ok = false
            }
            if !ok {
                out.append("'\(key)' must be a \(type) (got \(value.typeName))")
            } else if let allowed = property["enum"]?.arrayValue, !allowed.contains(value) {
                out.append("'\(key)' must be one of \(allowed.compactMap(\.stringValue).joined(separator: ", "))")
            }
        }
        return out
    }
}

import NeoJSON

/// A function the model may call: its name, what it is for, and a JSON Schema object for its arguments.
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String
    public var parameters: JSONObject

    public init(name: String, description: String, parameters: JSONObject) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// One tool call the model asked for, normalized (design §10's quirks): `arguments` is always a JSON
/// object's text, `{}` when what the model sent was unusable, and `argumentsError` says why.
public struct ToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// What is replayed to the model and validated: a JSON object's text.
    public var arguments: String
    /// Why the arguments as sent could not be read (not JSON, not an object), if they could not.
    public var argumentsError: String?

    public init(id: String, name: String, arguments: String, argumentsError: String? = nil) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.argumentsError = argumentsError
    }

    /// The arguments as an object (empty when they were unusable).
    public var argumentsObject: JSONObject { (try? JSON.parse(arguments))?.objectValue ?? JSONObject() }
}

/// One message of a run's conversation in a wire-neutral form; the system prompt travels beside it.
public enum ChatMessage: Sendable, Equatable {
    case user(String)
    /// The model's turn: its text (nil when none) and the calls it asked for.
    case assistant(text: String?, calls: [ToolCall])
    /// What one call returned (or why it was refused), for the call with `callId`.
    case toolResult(callId: String, name: String, content: String, isError: Bool)
}

/// Tokens one model call used.
public struct TokenUsage: Sendable, Equatable {
    public var prompt: Int
    public var completion: Int
    public init(prompt: Int = 0, completion: Int = 0) {
        self.prompt = prompt
        self.completion = completion
    }
    public var total: Int { prompt + completion }
}

/// Everything one model call is asked: the system prompt, the conversation so far and the tools.
public struct ModelRequest: Sendable, Equatable {
    public var system: String
    public var messages: [ChatMessage]
    public var tools: [ToolDefinition]
    public init(system: String, messages: [ChatMessage], tools: [ToolDefinition]) {
        self.system = system
        self.messages = messages
        self.tools = tools
    }
}

/// What one model call answered, normalized from either wire.
public struct ModelTurn: Sendable, Equatable {
    public var text: String?
    public var calls: [ToolCall]
    public var usage: TokenUsage
    /// finish_reason / stop_reason as sent (informational: calls are decided on `calls`, never on this).
    public var stopReason: String?
    public init(text: String?, calls: [ToolCall], usage: TokenUsage, stopReason: String?) {
        self.text = text
        self.calls = calls
        self.usage = usage
        self.stopReason = stopReason
    }
}

/// A reply that cannot be read as the wire's answer (not JSON, no message): it fails the run, naming this.
public struct ModelReplyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The quirks every OpenAI-compatible server and Anthropic have in how they send tool calls, tolerated in
/// one place (design §10): arguments as an object, `""` or null as `{}`, JSON encoded twice, missing,
/// empty or repeated call ids.
public enum ToolCallNormalizer {
    /// The arguments as a JSON object's text, or `{}` and why the value sent cannot be used.
    public static func arguments(_ raw: JSON?) -> (text: String, error: String?) {
        switch raw {
        case nil, .null?:
            return ("{}", nil)
        case .object(let object)?:
            return (JSON.object(object).serializedString(), nil)
        case .string(let text)?:
            return arguments(text: text, depth: 0)
        case let other?:
            return ("{}", "arguments must be a JSON object (got \(other.typeName))")
        }
    }

    private static func arguments(text: String, depth: Int) -> (text: String, error: String?) {
        if text.allSatisfy({ $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) { return ("{}", nil) }
        let parsed: JSON
        do { parsed = try JSON.parse(text) } catch let e as JSONParseError {
            return ("{}", "arguments are not valid JSON (\(e.message))")
        } catch {
            return ("{}", "arguments are not valid JSON")
        }
        switch parsed {
        case .object(let object): return (JSON.object(object).serializedString(), nil)
        case .string(let inner) where depth == 0: return arguments(text: inner, depth: 1)  // encoded twice
        default: return ("{}", "arguments must be a JSON object (got \(parsed.typeName))")
        }
    }

    /// `id` when it is usable and not taken in this run, else a fresh one: 9 ASCII letters and digits,
    /// which every template accepts (Mistral's insists on exactly that).
    public static func callId(_ id: String?, taken: Set<String>, fresh: () -> String) -> String {
        if let id, !id.isEmpty, id.utf8.count <= 64, !taken.contains(id),
           id.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 }) {
            return id
        }
        var candidate = fresh()
        while taken.contains(candidate) { candidate = fresh() }
        return candidate
    }

    /// A random call id (9 alphanumerics).
    public static func randomId() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var out = ""
        for _ in 0..<9 { out.unicodeScalars.append(Unicode.Scalar(alphabet[Int.random(in: 0..<alphabet.count)])) }
        return out
    }
}

extension ChatMessage {
    /// The stored form (a run's persisted transcript).
    public var json: JSON {
        switch self {
        case .user(let text):
            return .object(JSONObject([("role", "user"), ("content", .string(text))]))
        case .assistant(let text, let calls):
            return .object(JSONObject([("role", "assistant"), ("content", text.map(JSON.string) ?? .null),
                                       ("tool_calls", .array(calls.map(\.json)))]))
        case .toolResult(let id, let name, let content, let isError):
            return .object(JSONObject([("role", "tool"), ("tool_call_id", .string(id)), ("name", .string(name)),
                                       ("content", .string(content)), ("is_error", .bool(isError))]))
        }
    }

    /// Reads the stored form; nil when it is not one.
    public init?(json: JSON) {
        switch json["role"]?.stringValue {
        case "user":
            guard let text = json["content"]?.stringValue else { return nil }
            self = .user(text)
        case "assistant":
            let calls = (json["tool_calls"]?.arrayValue ?? []).compactMap(ToolCall.init(json:))
            self = .assistant(text: json["content"]?.stringValue, calls: calls)
        case "tool":
            guard let id = json["tool_call_id"]?.stringValue, let content = json["content"]?.stringValue else { return nil }
            self = .toolResult(callId: id, name: json["name"]?.stringValue ?? "", content: content, isError: json["is_error"]?.boolValue ?? false)
        default:
            return nil
        }
    }
}

extension ToolCall {
    /// The stored form: `{id, name, arguments, arguments_error?}`.
    public var json: JSON {
        var out = JSONObject([("id", .string(id)), ("name", .string(name)), ("arguments", .string(arguments))])
        if let argumentsError { out["arguments_error"] = .string(argumentsError) }
        return .object(out)
    }

    public init?(json: JSON) {
        guard let id = json["id"]?.stringValue, let name = json["name"]?.stringValue, let arguments = json["arguments"]?.stringValue else { return nil }
        self.init(id: id, name: name, arguments: arguments, argumentsError: json["arguments_error"]?.stringValue)
    }
}

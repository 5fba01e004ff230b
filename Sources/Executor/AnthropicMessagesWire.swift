import NeoJSON

/// Anthropic Messages (`POST {base_url}/messages`, `anthropic-version: 2023-06-01`). Pure: bodies in,
/// normalized turns out. Tool results of one turn go back together in the next user message, each
/// `tool_use` answered by its `tool_result`, as the API requires.
public enum AnthropicMessagesWire {
    public static func body(model: String, maxTokens: Int = ModelProvider.anthropicMaxTokens, _ request: ModelRequest) -> JSONObject {
        var messages: [JSON] = []
        var results: [JSON] = []
        func flushResults() {
            guard !results.isEmpty else { return }
            messages.append(.object(JSONObject([("role", "user"), ("content", .array(results))])))
            results = []
        }
        for message in request.messages {
            switch message {
            case .user(let text):
                flushResults()
                messages.append(.object(JSONObject([("role", "user"), ("content", .string(text))])))
            case .assistant(let text, let calls):
                flushResults()
                var blocks: [JSON] = []
                if let text { blocks.append(.object(JSONObject([("type", "text"), ("text", .string(text))]))) }
                for call in calls {
                    blocks.append(.object(JSONObject([("type", "tool_use"), ("id", .string(call.id)), ("name", .string(call.name)),
                                                      ("input", .object(call.argumentsObject))])))
                }
                if blocks.isEmpty { blocks.append(.object(JSONObject([("type", "text"), ("text", "(no text)")]))) }
                messages.append(.object(JSONObject([("role", "assistant"), ("content", .array(blocks))])))
            case .toolResult(let id, _, let content, let isError):
                var block = JSONObject([("type", "tool_result"), ("tool_use_id", .string(id)), ("content", .string(content))])
                if isError { block["is_error"] = true }
                results.append(.object(block))
            }
        }
        flushResults()
        var body = JSONObject([("model", .string(model)), ("max_tokens", .int(Int64(maxTokens))), ("system", .string(request.system)),
                               ("messages", .array(messages))])
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map { tool in
                .object(JSONObject([("name", .string(tool.name)), ("description", .string(tool.description)),
                                    ("input_schema", .object(tool.parameters))]))
            })
        }
        return body
    }

    /// Reads a 2xx reply: text blocks joined, `tool_use` blocks as calls (their `input` normally an object).
    public static func parse(_ body: String, takenIds: Set<String>, freshId: () -> String = ToolCallNormalizer.randomId) throws -> ModelTurn {
        guard let reply = try? JSON.parse(body) else {
            throw ModelReplyError("the model's reply is not JSON: \(OpenAIChatWire.excerpt(body))")
        }
        guard let blocks = reply["content"]?.arrayValue else {
            throw ModelReplyError("the model's reply has no content array: \(OpenAIChatWire.excerpt(body))")
        }
        var taken = takenIds
        var texts: [String] = []
        var calls: [ToolCall] = []
        for block in blocks {
            switch block["type"]?.stringValue {
            case "text":
                if let t = block["text"]?.stringValue { texts.append(t) }
            case "tool_use":
                guard let name = block["name"]?.stringValue else { continue }
                let (arguments, problem) = ToolCallNormalizer.arguments(block["input"])
                let id = ToolCallNormalizer.callId(block["id"]?.stringValue, taken: taken, fresh: freshId)
                taken.insert(id)
                calls.append(ToolCall(id: id, name: name, arguments: arguments, argumentsError: problem))
            default:
                continue
            }
        }
        let joined = texts.joined(separator: "\n")
        let usage = reply["usage"]
        let prompt = [usage?["input_tokens"], usage?["cache_creation_input_tokens"], usage?["cache_read_input_tokens"]]
            .reduce(0) { $0 + Int($1?.intValue ?? 0) }
        return ModelTurn(text: joined.allSatisfy(\.isWhitespace) ? nil : joined, calls: calls,
                         usage: TokenUsage(prompt: prompt, completion: Int(usage?["output_tokens"]?.intValue ?? 0)),
                         stopReason: reply["stop_reason"]?.stringValue)
    }
}

import NeoJSON

/// OpenAI Chat Completions (`POST {base_url}/chat/completions`, non-streaming), the wire OpenAI, Ollama,
/// vLLM, llama.cpp, LM Studio and LiteLLM speak. Pure: bodies in, normalized turns out.
public enum OpenAIChatWire {
    /// The request body. Only what every compatible server accepts is sent: no `tool_choice` (its default
    /// with tools is `auto`), no `parallel_tool_calls` and no token limit, which some servers reject.
    public static func body(model: String, _ request: ModelRequest) -> JSONObject {
        var messages: [JSON] = [.object(JSONObject([("role", "system"), ("content", .string(request.system))]))]
        for message in request.messages {
            switch message {
            case .user(let text):
                messages.append(.object(JSONObject([("role", "user"), ("content", .string(text))])))
            case .assistant(let text, let calls):
                var out = JSONObject([("role", "assistant"), ("content", text.map(JSON.string) ?? .null)])
                if !calls.isEmpty {
                    out["tool_calls"] = .array(calls.map { call in
                        .object(JSONObject([("id", .string(call.id)), ("type", "function"),
                                            ("function", .object(JSONObject([("name", .string(call.name)), ("arguments", .string(call.arguments))])))]))
                    })
                }
                messages.append(.object(out))
            case .toolResult(let id, _, let content, _):
                messages.append(.object(JSONObject([("role", "tool"), ("tool_call_id", .string(id)), ("content", .string(content))])))
            }
        }
        var body = JSONObject([("model", .string(model)), ("messages", .array(messages)), ("stream", false)])
        if !request.tools.isEmpty {
            body["tools"] = .array(request.tools.map { tool in
                .object(JSONObject([("type", "function"), ("function", .object(JSONObject([
                    ("name", .string(tool.name)), ("description", .string(tool.description)), ("parameters", .object(tool.parameters)),
                ])))]))
            })
        }
        return body
    }

    /// Reads a 2xx reply. Tool calls are taken from `message.tool_calls` whatever `finish_reason` says
    /// (vLLM and others finish `stop` with calls); `content` may be null, absent, a string or text parts.
    public static func parse(_ body: String, takenIds: Set<String>, freshId: () -> String = ToolCallNormalizer.randomId) throws -> ModelTurn {
        guard let reply = try? JSON.parse(body) else {
            throw ModelReplyError("the model's reply is not JSON: \(excerpt(body))")
        }
        guard let choice = reply["choices"]?.arrayValue?.first, let message = choice["message"], message.objectValue != nil else {
            throw ModelReplyError("the model's reply has no choices[0].message: \(excerpt(body))")
        }
        var taken = takenIds
        var calls: [ToolCall] = []
        for item in message["tool_calls"]?.arrayValue ?? [] {
            let function = item["function"]
            guard let name = function?["name"]?.stringValue ?? item["name"]?.stringValue else { continue }
            let (arguments, problem) = ToolCallNormalizer.arguments(function?["arguments"] ?? item["arguments"])
            let id = ToolCallNormalizer.callId(item["id"]?.stringValue, taken: taken, fresh: freshId)
            taken.insert(id)
            calls.append(ToolCall(id: id, name: name, arguments: arguments, argumentsError: problem))
        }
        let usage = reply["usage"]
        return ModelTurn(text: text(message["content"]), calls: calls,
                         usage: TokenUsage(prompt: Int(usage?["prompt_tokens"]?.intValue ?? 0), completion: Int(usage?["completion_tokens"]?.intValue ?? 0)),
                         stopReason: choice["finish_reason"]?.stringValue)
    }

    /// `content` as one string: a string, the text parts of an array joined, else nil; blank is nil.
    static func text(_ content: JSON?) -> String? {
        let joined: String?
        switch content {
        case .string(let s)?: joined = s
        case .array(let parts)?: joined = parts.compactMap { $0["text"]?.stringValue ?? $0.stringValue }.joined()
        default: joined = nil
        }
        guard let joined, !joined.allSatisfy(\.isWhitespace) else { return nil }
        return joined
    }

    /// The start of a body for an error message.
    static func excerpt(_ body: String) -> String {
        let cut = body.prefix(200)
        return cut.isEmpty ? "(empty body)" : "'\(cut)\(cut.count < body.count ? "…" : "")'"
    }
}

/// The wire format a model provider speaks (design §10).
public enum ModelWire: String, Sendable, CaseIterable {
    /// OpenAI Chat Completions and the servers that copy it (Ollama `/v1`, vLLM, llama.cpp, LM Studio, LiteLLM).
    case openAIChat = "openai_chat"
    /// Anthropic Messages.
    case anthropicMessages = "anthropic_messages"

    /// Appended to the provider's base URL.
    public var path: String {
        switch self {
        case .openAIChat: return "/chat/completions"
        case .anthropicMessages: return "/messages"
        }
    }
}

/// One model endpoint: where it is, which model, its key and limits. The key is plaintext here;
/// storage seals it and responses mask it.
public struct ModelProvider: Sendable, Equatable {
    public var name: String
    public var wire: ModelWire
    /// `https://api.openai.com/v1`, `http://localhost:11434/v1`, `https://api.anthropic.com/v1`: the wire's path is appended.
    public var baseURL: String
    public var model: String
    /// Optional: local servers take none.
    public var apiKey: String?
    public var timeoutMs: Int
    public var maxRetries: Int

    public static let defaultTimeoutMs = 60_000
    public static let timeoutRange = 1_000...600_000
    public static let defaultMaxRetries = 2
    public static let maxRetriesRange = 0...10
    /// A reply larger than this is refused (a chat completion is a few KiB).
    public static let maxReplyBytes = 4 << 20
    /// Anthropic requires max_tokens; OpenAI-compatible servers get none (their defaults apply).
    public static let anthropicMaxTokens = 4096

    public init(name: String, wire: ModelWire, baseURL: String, model: String, apiKey: String? = nil,
                timeoutMs: Int = ModelProvider.defaultTimeoutMs, maxRetries: Int = ModelProvider.defaultMaxRetries) {
        self.name = name
        self.wire = wire
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.timeoutMs = timeoutMs
        self.maxRetries = maxRetries
    }

    /// The endpoint as an external-API config, so a model call goes through exactly the executor's
    /// request building, upstream policy, SSRF pin, auth injection, timeouts and secret scrubbing.
    public var endpoint: ExternalAPIConfig {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var headers: [ConfigHeader] = []
        var auth = UpstreamAuth.none
        let key = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        switch wire {
        case .openAIChat:
            if let key { auth = .bearer(token: key) }
        case .anthropicMessages:
            headers.append(ConfigHeader(name: "anthropic-version", value: "2023-06-01"))
            if let key { auth = .apiKeyHeader(headerName: "x-api-key", apiKey: key) }
        }
        return ExternalAPIConfig(name: name, endpointURL: base + wire.path, method: .POST, headers: headers, auth: auth,
                                 requiresApproval: false, timeoutMs: timeoutMs, maxResponseBytes: ModelProvider.maxReplyBytes)
    }
}

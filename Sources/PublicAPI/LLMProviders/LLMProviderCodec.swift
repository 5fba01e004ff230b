import Executor
import NeoJSON

/// A provider as the API and the store see it: the executor's `ModelProvider` plus whether it is the
/// tenant's default.
struct LLMProvider: Equatable {
    var provider: ModelProvider
    var isDefault: Bool
}

/// The wire and storage form of a model provider (design §10): validation naming each field, and
/// encoding with the key passed through a transform (mask, seal).
enum LLMProviderCodec {
    static let mask = "***"

    /// Reads a provider from `object`. `api_key: "***"` keeps the key stored in `stored` (PUT).
    /// `policy` refuses, at write, a base URL the executor would refuse at call time when that is
    /// knowable without DNS (IP literals, `localhost`, any name under `loopback`).
    static func decode(_ object: JSONObject, validation v: Validation, stored: ModelProvider? = nil,
                       policy: UpstreamPolicy = .any) -> LLMProvider? {
        let r = FieldReader(object, validation: v)
        let name = r.string("name", required: true, maxLength: 64, minLength: 1)
        if let name, !ExternalAPIConfigCodec.isValidName(name) {
            v.fail("name", "must match \(ExternalAPIConfigCodec.namePattern): lowercase letter first, then lowercase letters, digits or '_' (got '\(name)')")
        }
        let kind = r.enumValue("kind", ModelWire.allCases.map(\.rawValue), required: true).flatMap(ModelWire.init(rawValue:))
        let baseURL = r.string("base_url", required: true, maxLength: 2048, minLength: 1)
        if let baseURL, let problem = baseURLProblem(baseURL, policy: policy) { v.fail("base_url", problem) }
        let model = r.string("model", required: true, maxLength: 200, minLength: 1)
        var apiKey: String?
        if let sent = r.string("api_key", maxLength: 8192) {
            if sent == mask {
                if let kept = stored?.apiKey { apiKey = kept } else {
                    v.fail("api_key", "'***' keeps the stored key, but none is stored; send the real key, or null for none")
                }
            } else if !sent.isEmpty {
                apiKey = sent
            }
        }
        let timeout = r.int("timeout_ms", range: Int64(ModelProvider.timeoutRange.lowerBound)...Int64(ModelProvider.timeoutRange.upperBound))
            ?? Int64(ModelProvider.defaultTimeoutMs)
        let retries = r.int("max_retries", range: Int64(ModelProvider.maxRetriesRange.lowerBound)...Int64(ModelProvider.maxRetriesRange.upperBound))
            ?? Int64(ModelProvider.defaultMaxRetries)
        let isDefault = r.bool("default") ?? false
        for key in ["created_at", "updated_at"] { _ = r.raw(key) }  // echoed back from a GET: not an error
        r.warnUnknown()
        guard v.ok, let name, let kind, let baseURL, let model else { return nil }
        return LLMProvider(provider: ModelProvider(name: name, wire: kind, baseURL: baseURL, model: model, apiKey: apiKey,
                                                   timeoutMs: Int(timeout), maxRetries: Int(retries)),
                           isDefault: isDefault)
    }

    /// Why a base URL is unacceptable: not an absolute http(s) URL without query or placeholders, or an
    /// address the upstream policy refuses (with the setting that would allow it).
    static func baseURLProblem(_ url: String, policy: UpstreamPolicy) -> String? {
        if url.contains("{") || url.contains("}") { return "must not contain '{' or '}'" }
        guard case .success(let parsed) = UpstreamURL.parse(url) else {
            if case .failure(let problem) = UpstreamURL.parse(url) { return problem.message }
            return "is not a valid URL"
        }
        if parsed.query != nil { return "must not have a query; the wire's path (/chat/completions or /messages) is appended to it" }
        if let refusal = policy.refusesLookup(of: parsed.host) { return refusal }
        let literal = IPAddress(parsed.host) ?? (parsed.host == "localhost" ? IPAddress("127.0.0.1") : nil)
        if let literal, let refusal = policy.refusal(host: parsed.host, addresses: [literal]) { return refusal }
        return nil
    }

    /// The provider as JSON, the key (when there is one) replaced by `secret(value)`.
    static func encode(_ p: LLMProvider, createdAt: String? = nil, updatedAt: String? = nil,
                       secret: (String) throws -> String) rethrows -> JSONObject {
        let m = p.provider
        var out = JSONObject([
            ("name", .string(m.name)), ("kind", .string(m.wire.rawValue)), ("base_url", .string(m.baseURL)),
            ("model", .string(m.model)), ("api_key", try m.apiKey.map { .string(try secret($0)) } ?? .null),
            ("timeout_ms", .int(Int64(m.timeoutMs))), ("max_retries", .int(Int64(m.maxRetries))), ("default", .bool(p.isDefault)),
        ])
        if let createdAt { out["created_at"] = .string(createdAt) }
        if let updatedAt { out["updated_at"] = .string(updatedAt) }
        return out
    }

    /// The public view: the key as `"***"` (null when there is none).
    static func view(_ p: LLMProvider, createdAt: String? = nil, updatedAt: String? = nil) -> JSONObject {
        encode(p, createdAt: createdAt, updatedAt: updatedAt) { _ in mask }
    }
}

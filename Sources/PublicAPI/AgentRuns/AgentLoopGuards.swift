import Foundation
import NeoJSON

/// Refuses the third call of one tool with the same arguments in a run (design §10): a model that repeats
/// itself is told to use the earlier result instead of looping until a cap. Arguments compare as JSON
/// with keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same call. Pure.
struct IdenticalCallGuard: Equatable {
    /// Identical calls allowed; the next one is refused.
    static let allowed = 2
    /// Calls seen, by `key`.
    var counts: [String: Int] = [:]

    /// Counts the call; false when it is one too many.
    mutating func admit(tool: String, arguments: String) -> Bool {
        let key = Self.key(tool: tool, arguments: arguments)
        let seen = counts[key, default: 0]
        counts[key] = seen + 1
        return seen < Self.allowed
    }

    static func key(tool: String, arguments: String) -> String {
        let canonical = (try? JSON.parse(arguments)).map { sorted($0).serializedString() } ?? arguments
        return tool + " " + canonical
    }

    static let refusal = "this exact call (same tool, same arguments) was already made twice in this run; "
        + "use the earlier result, change the arguments, or give your final answer"

    private static func sorted(_ value: JSON) -> JSON {
        switch value {
        case .object(let object):
            return .object(JSONObject(object.keys.sorted().map { ($0, sorted(object[$0]!)) }))
        case .array(let items):
            return .array(items.map(sorted))
        default:
            return value
        }
    }
}

/// Removes credentials from text bound for the model (design §10): every stored secret of the run's
/// tools and its provider key, and anything shaped like a Neo API key. The executor already scrubs a
/// config's own secrets from its responses; this is the last pass before anything is sent. Pure.
struct SecretRedactor {
    static let replacement = "[REDACTED]"
    /// Longest first, so a secret containing another is replaced whole; shorter than 4 are ignored.
    let secrets: [String]

    init(secrets: [String]) {
        self.secrets = Array(Swift.Set(secrets.filter { $0.utf8.count >= 4 })).sorted { $0.utf8.count > $1.utf8.count }
    }

    func redact(_ text: String) -> String {
        var out = text
        for secret in secrets where out.contains(secret) { out = out.replacingOccurrences(of: secret, with: Self.replacement) }
        return Self.redactNeoKeys(out)
    }

    /// `neo_sk_<env>_<16+ base62>` → `[REDACTED]`.
    static func redactNeoKeys(_ text: String) -> String {
        guard text.contains("neo_sk_") else { return text }
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "neo_sk_") {
            out += rest[..<start.lowerBound]
            var end = start.upperBound
            let isAlnum: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber) }
            while end < rest.endIndex, isAlnum(rest[end]) { end = rest.index(after: end) }  // env
            var secretLength = 0
            if end < rest.endIndex, rest[end] == "_" {
                var cursor = rest.index(after: end)
                while cursor < rest.endIndex, isAlnum(rest[cursor]) { cursor = rest.index(after: cursor); secretLength += 1 }
                if secretLength >= 16 { end = cursor }
            }
            if secretLength >= 16 {
                out += replacement
            } else {
                out += rest[start.lowerBound..<start.upperBound]
                end = start.upperBound
            }
            rest = rest[end...]
        }
        return out + rest
    }
}

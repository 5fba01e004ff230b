import Basics
import NeoJSON
import Store

extension RequestContext {
    /// The request body as a JSON object: 415 unless Content-Type is application/json, 400 when it
    /// does not parse, 422 when it is not an object.
    public func jsonBody(allowEmpty: Bool = false) throws -> JSONObject {
        if request.body.isEmpty && allowEmpty { return JSONObject() }
        let type = request.headers["Content-Type"].map(Self.mediaType)
        guard type == "application/json" else {
            throw APIError.unsupportedMediaType("send the body as JSON with 'Content-Type: application/json'"
                + (type.map { " (got '\($0)')" } ?? ""))
        }
        guard !request.body.isEmpty else { throw APIError.badRequest("request body is empty; send a JSON object") }
        let value: JSON
        do {
            value = try JSON.parse(request.body)
        } catch let e as JSONParseError {
            throw APIError.badRequest("malformed JSON: \(e.message)")
        }
        guard case .object(let object) = value else {
            throw APIError.validation(field: "(body)", "must be a JSON object (got \(value.typeName))")
        }
        return object
    }

    /// The media type of a Content-Type value: what comes before any `;`, without surrounding spaces and tabs, in
    /// ASCII lower case. Byte by byte: Foundation's trimming bridges through NSString, which cost ~3 % of a worker's
    /// time on every JSON POST.
    static func mediaType(_ value: String) -> String {
        var bytes = Array(value.utf8.prefix { $0 != 0x3B })
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        let start = bytes.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? bytes.endIndex
        return String(decoding: bytes[start...].map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}

/// Collects every problem found in a request body, each with its field path.
public final class Validation {
    public private(set) var details: [APIError.Detail] = []
    public private(set) var warnings: [String] = []

    public init() {}

    public func fail(_ field: String, _ issue: String) { details.append(.init(field: field, issue: issue)) }
    public func warn(_ message: String) { warnings.append(message) }
    public var ok: Bool { details.isEmpty }

    /// Throws 422 with every collected detail when anything failed, carrying the warnings so far.
    public func check() throws { if !details.isEmpty { throw APIError.validation(details).adding(warnings: warnings) } }
}

/// Reads typed fields from one JSON object, reporting problems to a shared `Validation` under
/// `path` (e.g. `actions[0].input_as_dict`), and remembering which keys it read so the rest can
/// be reported as unknown.
public final class FieldReader {
    public let object: JSONObject
    public let path: String
    public let validation: Validation
    private var seen: Set<String> = []

    public init(_ object: JSONObject, path: String = "", validation: Validation) {
        self.object = object
        self.path = path
        self.validation = validation
    }

    public func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Whether `key` was sent at all (null included).
    public func has(_ key: String) -> Bool { seen.insert(key); return object[key] != nil }
    /// Whether `key` was sent as an explicit null.
    public func isNull(_ key: String) -> Bool { seen.insert(key); return object[key]?.isNull == true }
    /// The raw value, marking the key as known.
    public func raw(_ key: String) -> JSON? { seen.insert(key); return object[key] }

    private func value(_ key: String, required: Bool) -> JSON? {
        seen.insert(key)
        guard let v = object[key] else {
            if required { validation.fail(field(key), "is required") }
            return nil
        }
        if v.isNull {
            if required { validation.fail(field(key), "must not be null") }
            return nil
        }
        return v
    }

    public func string(_ key: String, required: Bool = false, maxLength: Int = 10_000, minLength: Int = 0) -> String? {
        guard let v = value(key, required: required) else { return nil }
        guard let s = v.stringValue else { validation.fail(field(key), "must be a string (got \(v.typeName))"); return nil }
        let n = s.count
        if n < minLength { validation.fail(field(key), minLength == 1 ? "must not be empty" : "must be at least \(minLength) characters"); return nil }
        if n > maxLength { validation.fail(field(key), "must be at most \(maxLength) characters (got \(n))"); return nil }
        return s
    }

    public func enumValue(_ key: String, _ allowed: [String], required: Bool = false) -> String? {
        guard let v = value(key, required: required) else { return nil }
        guard let s = v.stringValue else {
            validation.fail(field(key), "must be one of \(allowed.joined(separator: ", ")) (got \(v.typeName))")
            return nil
        }
        guard allowed.contains(s) else {
            validation.fail(field(key), "must be one of \(allowed.joined(separator: ", ")) (got '\(s.prefix(64))')")
            return nil
        }
        return s
    }

    public func bool(_ key: String, required: Bool = false) -> Bool? {
        guard let v = value(key, required: required) else { return nil }
        guard let b = v.boolValue else { validation.fail(field(key), "must be a boolean (got \(v.typeName))"); return nil }
        return b
    }

    public func int(_ key: String, required: Bool = false, range: ClosedRange<Int64> = Int64.min...Int64.max) -> Int64? {
        guard let v = value(key, required: required) else { return nil }
        guard case .int(let n) = v else { validation.fail(field(key), "must be an integer (got \(v.typeName))"); return nil }
        guard range.contains(n) else {
            validation.fail(field(key), "must be between \(range.lowerBound) and \(range.upperBound) (got \(n))")
            return nil
        }
        return n
    }

    /// An RFC 3339 timestamp, returned normalized (UTC, millisecond precision, Z).
    public func timestamp(_ key: String, required: Bool = false) -> String? {
        guard let s = string(key, required: required, maxLength: 64) else { return nil }
        guard let date = Timestamp.parse(s) else {
            validation.fail(field(key), "must be an RFC 3339 date-time such as 2026-12-31T23:59:59Z (got '\(s)')")
            return nil
        }
        return Timestamp.format(date)
    }

    public func object(_ key: String, required: Bool = false) -> JSONObject? {
        guard let v = value(key, required: required) else { return nil }
        guard let o = v.objectValue else { validation.fail(field(key), "must be an object (got \(v.typeName))"); return nil }
        return o
    }

    public func array(_ key: String, required: Bool = false, maxCount: Int = 1000) -> [JSON]? {
        guard let v = value(key, required: required) else { return nil }
        guard let a = v.arrayValue else { validation.fail(field(key), "must be an array (got \(v.typeName))"); return nil }
        guard a.count <= maxCount else { validation.fail(field(key), "must have at most \(maxCount) entries (got \(a.count))"); return nil }
        return a
    }

    /// A reader over a nested object field.
    public func nested(_ key: String, required: Bool = false) -> FieldReader? {
        object(key, required: required).map { FieldReader($0, path: field(key), validation: validation) }
    }

    /// Reports every key that no accessor read: "unknown field 'foo' ignored", with "did you mean 'bar'?"
    /// when a known field that was not sent is close to it (`trigger-type` → `trigger_type`).
    /// `warnUnknown` when the accessors may not all have run (an early refusal): `known` counts as read.
    public func warnUnknown(knowing known: [String]) {
        for key in known { seen.insert(key) }
        warnUnknown()
    }

    public func warnUnknown() {
        var unsent: [String]?
        for key in object.keys where !seen.contains(key) {
            if unsent == nil { unsent = seen.filter { object[$0] == nil }.sorted() }
            let suggestion = NameSuggestion.closest(to: key, among: unsent ?? []).map(field)
            validation.warn(NameSuggestion.unknownMessage("field", field(key), suggestion: suggestion))
        }
    }
}

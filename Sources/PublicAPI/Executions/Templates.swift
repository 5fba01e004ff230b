import NeoJSON

/// `{{input.field}}` templating of action inputs from a run's input (pure; design §5).
enum Templates {
    struct MissingField: Error, Equatable { let path: String }

    /// Fills every string inside `value`; a string that is exactly one placeholder takes the input
    /// value's own type (a number stays a number), otherwise values are spliced in as text.
    static func fill(_ value: JSON, input: JSONObject) throws -> JSON {
        switch value {
        case .string(let s): return try fillString(s, input: input)
        case .array(let items): return .array(try items.map { try fill($0, input: input) })
        case .object(let o):
            var out = JSONObject()
            for (k, v) in o { out[k] = try fill(v, input: input) }
            return .object(out)
        default: return value
        }
    }

    static func fillString(_ s: String, input: JSONObject) throws -> JSON {
        guard s.contains("{{") else { return .string(s) }
        let trimmed = s.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("{{"), trimmed.hasSuffix("}}"), trimmed.dropFirst(2).dropLast(2).range(of: "{{") == nil {
            return try lookup(String(trimmed.dropFirst(2).dropLast(2)), input)
        }
        var out = ""
        var rest = Substring(s)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                out += rest[open.lowerBound...]
                return .string(out)
            }
            let value = try lookup(String(rest[open.upperBound..<close.lowerBound]), input)
            switch value {
            case .string(let v): out += v
            case .null: break
            default: out += value.serializedString()
            }
            rest = rest[close.upperBound...]
        }
        out += rest
        return .string(out)
    }

    /// Every placeholder inside `value` that `input` cannot fill, in order, without duplicates, so a
    /// run can be refused before its first action instead of failing half way.
    static func missing(in value: JSON, input: JSONObject) -> [String] {
        var out: [String] = []
        func walk(_ v: JSON) {
            switch v {
            case .string(let s):
                var rest = Substring(s)
                while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
                    let expression = String(rest[open.upperBound..<close.lowerBound])
                    if (try? lookup(expression, input)) == nil {
                        let path = expression.trimmingCharacters(in: .whitespaces)
                        if !out.contains(path) { out.append(path) }
                    }
                    rest = rest[close.upperBound...]
                }
                // The scan lists every gap; filling itself is the final word on what fails.
                do { _ = try fillString(s, input: input) } catch {
                    if let m = error as? MissingField, !out.contains(m.path) { out.append(m.path) }
                }
            case .array(let items): items.forEach(walk)
            case .object(let o): for (_, item) in o { walk(item) }
            default: break
            }
        }
        walk(value)
        return out
    }

    /// Resolves `input.a.b`; anything else is not a placeholder we fill and is an error.
    static func lookup(_ expression: String, _ input: JSONObject) throws -> JSON {
        let path = expression.trimmingCharacters(in: .whitespaces)
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0] == "input", !parts.dropFirst().contains("") else { throw MissingField(path: path) }
        var current: JSON = .object(input)
        for key in parts.dropFirst() {
            guard let next = current[key] else { throw MissingField(path: path) }
            current = next
        }
        return current
    }
}

import NeoJSON
import Store

/// An agent's entity filter (`ticket_conditions.conditions`, design §9): a react-querybuilder group
/// `{combinator: "and"|"or", not?, rules: [rule | group]}` with rules `{field, operator, value}` over the
/// event's entity (dotted paths). Pure: `check` refuses malformed trees when an agent is written, and
/// `evaluate` decides a match and records every comparison for the callback audit.
enum Conditions {
    static let operators: Set<String> = ["=", "!=", "<", ">", "<=", ">=", "contains", "beginsWith", "endsWith",
                                         "doesNotContain", "doesNotBeginWith", "doesNotEndWith", "null", "notNull",
                                         "in", "notIn", "between", "notBetween"]
    /// Deeper trees and longer rule lists are refused on write: conditions are for people to read.
    static let maxDepth = 8
    static let maxRules = 200

    /// One rule as evaluated: Neo's `field_comparisons` entry.
    struct Comparison: Equatable {
        let fieldName: String
        let fieldValue: JSON
        let `operator`: String
        let ruleValue: JSON
        let isMatch: Bool

        var json: JSON {
            .object(JSONObject([("field_name", .string(fieldName)), ("field_value", fieldValue), ("operator", .string(`operator`)),
                                ("rule_value", ruleValue), ("is_match", .bool(isMatch))]))
        }
    }

    struct Outcome: Equatable {
        var matched: Bool
        /// An unknown operator or an unusable rule value: no match, flagged for the audit.
        var error: Bool
        var comparisons: [Comparison]
        /// The first reason it failed, for `match_reason`.
        var reason: String?
    }

    // MARK: write-time check

    /// Validates a group at `path` (e.g. `ticket_conditions.conditions`), reporting each problem there.
    /// Unknown operators are accepted (Neo's vocabulary is open) and answered with a warning.
    static func check(_ value: JSON, path: String, validation: Validation) {
        var rules = 0
        checkGroup(value, path: path, depth: 1, rules: &rules, validation: validation)
        if rules > maxRules { validation.fail(path, "has \(rules) rules; at most \(maxRules) are allowed") }
    }

    private static func checkGroup(_ value: JSON, path: String, depth: Int, rules: inout Int, validation: Validation) {
        guard let group = value.objectValue else {
            validation.fail(path, "must be a group object {combinator, rules} (got \(value.typeName))")
            return
        }
        guard depth <= maxDepth else {
            validation.fail(path, "nests groups \(depth) deep; at most \(maxDepth) levels are allowed")
            return
        }
        if let combinator = group["combinator"], !combinator.isNull {
            let c = combinator.stringValue?.lowercased()
            if c != "and" && c != "or" { validation.fail("\(path).combinator", "must be \"and\" or \"or\" (got \(combinator.serializedString().prefix(40)))") }
        }
        if let not = group["not"], !not.isNull, not.boolValue == nil {
            validation.fail("\(path).not", "must be a boolean (got \(not.typeName))")
        }
        guard let items = group["rules"]?.arrayValue else {
            validation.fail("\(path).rules", "is required: an array of rules and groups (may be [])")
            return
        }
        for (i, item) in items.enumerated() {
            let itemPath = "\(path).rules[\(i)]"
            if item["rules"] != nil {
                checkGroup(item, path: itemPath, depth: depth + 1, rules: &rules, validation: validation)
                continue
            }
            rules += 1
            guard let rule = item.objectValue else {
                validation.fail(itemPath, "must be a rule {field, operator, value} or a group (got \(item.typeName))")
                continue
            }
            if rule["field"]?.stringValue.map({ !$0.isEmpty && $0.utf8.count <= 200 }) != true {
                validation.fail("\(itemPath).field", "is required: a non-empty string of at most 200 characters (a dotted path into the entity)")
            }
            guard let op = rule["operator"]?.stringValue, !op.isEmpty else {
                validation.fail("\(itemPath).operator", "is required: one of \(operators.sorted().joined(separator: " "))")
                continue
            }
            if !operators.contains(op) {
                validation.warn("\(itemPath).operator '\(op.prefix(40))' is not one this server knows; the rule never matches and is flagged error: true")
            }
        }
    }

    // MARK: evaluation

    /// Evaluates `group` against `entity`. Every rule is evaluated (no short-circuit) so the audit shows all of them.
    static func evaluate(_ group: JSON?, entity: JSONObject) -> Outcome {
        guard let group, !group.isNull else { return Outcome(matched: true, error: false, comparisons: [], reason: nil) }
        var outcome = Outcome(matched: true, error: false, comparisons: [], reason: nil)
        outcome.matched = evaluateGroup(group, entity: entity, depth: 1, into: &outcome)
        if outcome.error { outcome.matched = false }
        if outcome.matched { outcome.reason = nil }
        return outcome
    }

    private static func evaluateGroup(_ value: JSON, entity: JSONObject, depth: Int, into outcome: inout Outcome) -> Bool {
        guard depth <= maxDepth, let items = value["rules"]?.arrayValue else {
            outcome.error = true
            outcome.reason = outcome.reason ?? "malformed condition group"
            return false
        }
        let any = value["combinator"]?.stringValue?.lowercased() == "or"
        var results: [Bool] = []
        for item in items {
            if item["rules"] != nil {
                results.append(evaluateGroup(item, entity: entity, depth: depth + 1, into: &outcome))
            } else {
                results.append(evaluateRule(item, entity: entity, into: &outcome))
            }
        }
        var result = results.isEmpty ? true : (any ? results.contains(true) : !results.contains(false))
        if value["not"]?.boolValue == true { result.toggle() }
        return result
    }

    private static func evaluateRule(_ rule: JSON, entity: JSONObject, into outcome: inout Outcome) -> Bool {
        let field = rule["field"]?.stringValue ?? ""
        let op = rule["operator"]?.stringValue ?? ""
        let ruleValue = rule["value"] ?? .null
        let fieldValue = lookup(field, in: entity)
        let result = apply(op, fieldValue, ruleValue)
        let isMatch = result ?? false
        if result == nil {
            outcome.error = true
            outcome.reason = outcome.reason ?? (operators.contains(op)
                ? "rule \(field) \(op): the rule value \(ruleValue.serializedString().prefix(60)) cannot be used with this operator"
                : "unknown operator '\(op.prefix(40))' in rule on \(field)")
        } else if !isMatch {
            outcome.reason = outcome.reason ?? "rule failed: \(field) \(op) \(ruleValue.serializedString().prefix(60))"
        }
        outcome.comparisons.append(Comparison(fieldName: field, fieldValue: fieldValue, operator: op, ruleValue: ruleValue, isMatch: isMatch))
        return isMatch
    }

    /// A dotted path into the entity (`company.name`); absent is null.
    static func lookup(_ path: String, in entity: JSONObject) -> JSON {
        var current: JSON = .object(entity)
        for key in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current[String(key)] else { return .null }
            current = next
        }
        return current
    }

    /// The rule's verdict; nil for an unknown operator or a rule value the operator cannot use.
    /// Text comparisons ignore case (PSA values such as statuses differ in case between boards);
    /// numbers compare as numbers and RFC 3339 timestamps as instants when both sides are such.
    static func apply(_ op: String, _ field: JSON, _ rule: JSON) -> Bool? {
        switch op {
        case "null": return field.isNull
        case "notNull": return !field.isNull
        case "=": return equal(field, rule)
        case "!=": return !equal(field, rule)
        case "<", ">", "<=", ">=":
            guard !field.isNull, let order = compare(field, rule) else { return field.isNull ? false : nil }
            switch op {
            case "<": return order < 0
            case ">": return order > 0
            case "<=": return order <= 0
            default: return order >= 0
            }
        case "contains", "beginsWith", "endsWith", "doesNotContain", "doesNotBeginWith", "doesNotEndWith":
            guard let needle = text(rule)?.lowercased() else { return nil }
            let negated = op.hasPrefix("doesNot")
            if field.isNull { return negated }
            // An array field is tested element by element (any element): `tags contains "urgent"`.
            let hays = field.arrayValue.map { $0.compactMap { text($0)?.lowercased() } } ?? [text(field)?.lowercased() ?? ""]
            let found = hays.contains { hay in
                switch op {
                case "contains", "doesNotContain": return hay.contains(needle)
                case "beginsWith", "doesNotBeginWith": return hay.hasPrefix(needle)
                default: return hay.hasSuffix(needle)
                }
            }
            return negated ? !found : found
        case "in", "notIn":
            guard let list = listValue(rule) else { return nil }
            let candidates = field.arrayValue ?? [field]
            let found = candidates.contains { item in list.contains { equal(item, $0) } }
            return op == "in" ? found : !found
        case "between", "notBetween":
            guard let bounds = listValue(rule), bounds.count == 2 else { return nil }
            if field.isNull { return op == "notBetween" }
            guard let low = compare(field, bounds[0]), let high = compare(field, bounds[1]) else { return nil }
            let inside = low >= 0 && high <= 0
            return op == "between" ? inside : !inside
        default:
            return nil
        }
    }

    private static func number(_ v: JSON) -> Double? {
        switch v {
        case .int(let n): return Double(n)
        case .double(let d): return d
        case .string(let s): return Double(s.trimmingCharacters(in: .whitespaces)).flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    private static func text(_ v: JSON) -> String? {
        switch v {
        case .string(let s): return s
        case .int, .double, .bool: return v.serializedString()
        case .null: return nil
        default: return v.serializedString()
        }
    }

    static func equal(_ a: JSON, _ b: JSON) -> Bool {
        if a.isNull || b.isNull { return a.isNull && b.isNull }
        if let x = number(a), let y = number(b) { return x == y }
        if case .bool(let x) = a, let y = text(b)?.lowercased() { return (x ? "true" : "false") == y }
        if case .bool(let y) = b, let x = text(a)?.lowercased() { return (y ? "true" : "false") == x }
        guard let x = text(a), let y = text(b) else { return false }
        return x.lowercased() == y.lowercased()
    }

    /// -1, 0, 1; numbers as numbers, then timestamps as instants, then text ignoring case.
    static func compare(_ a: JSON, _ b: JSON) -> Int? {
        if let x = number(a), let y = number(b) { return x < y ? -1 : x > y ? 1 : 0 }
        guard let x = text(a), let y = text(b) else { return nil }
        if let dx = Timestamp.parse(x), let dy = Timestamp.parse(y) { return dx < dy ? -1 : dx > dy ? 1 : 0 }
        let (lx, ly) = (x.lowercased(), y.lowercased())
        return lx < ly ? -1 : lx > ly ? 1 : 0
    }

    /// `in`/`between` values: an array, or react-querybuilder's comma-separated string.
    private static func listValue(_ v: JSON) -> [JSON]? {
        switch v {
        case .array(let items): return items
        case .string(let s): return s.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }
        case .null: return nil
        default: return [v]
        }
    }
}

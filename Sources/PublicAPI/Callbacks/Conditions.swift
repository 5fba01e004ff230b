import Basics
import Foundation
import NeoJSON
import Store

/// An agent's entity filter (`ticket_conditions.conditions`, design §9): a react-querybuilder group
/// `{combinator: "and"|"or", not?, rules: [rule | group]}` with rules `{field, operator, value}` over the
/// event's entity (dotted paths). Pure: `check` refuses malformed trees when an agent is written, and
/// `evaluate` decides a match and records every comparison for the callback audit.
enum Conditions {
    static let operators = Set(Operator.allCases.map(\.rawValue))
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

    /// Evaluates `group` against `entity`. Every rule is evaluated (no short-circuit) so the audit shows all of
    /// them; the walk is `CompiledConditions`', which matching uses to read each rule and field only once.
    static func evaluate(_ group: JSON?, entity: JSONObject) -> Outcome {
        let compiled = CompiledConditions(group)
        let fields = EntityFields(entity)
        let outcome = compiled.evaluate(fields)
        return Outcome(matched: outcome.matched, error: outcome.error, comparisons: compiled.comparisons(outcome, fields),
                       reason: compiled.reasonText(outcome))
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
        apply(op, Operand(field), Operand(rule))
    }

    /// `apply` over operands whose readings are already made: the compiled matcher reads each rule value
    /// once per agent version and each entity field once per event, and calls this same function.
    static func apply(_ op: String, _ field: Operand, _ rule: Operand) -> Bool? {
        apply(Operator(rawValue: op), field, rule)
    }

    /// The operators, so a compiled rule switches over a case instead of comparing strings.
    enum Operator: String, CaseIterable {
        case equal = "=", notEqual = "!=", less = "<", greater = ">", lessOrEqual = "<=", greaterOrEqual = ">="
        case contains, beginsWith, endsWith, doesNotContain, doesNotBeginWith, doesNotEndWith
        case null, notNull, `in`, notIn, between, notBetween
    }

    /// nil `op`: an unknown operator.
    static func apply(_ op: Operator?, _ field: Operand, _ rule: Operand) -> Bool? {
        guard let op else { return nil }
        switch op {
        case .null: return field.isNull
        case .notNull: return !field.isNull
        case .equal: return equal(field, rule)
        case .notEqual: return !equal(field, rule)
        case .less, .greater, .lessOrEqual, .greaterOrEqual:
            guard !field.isNull, let order = compare(field, rule) else { return field.isNull ? false : nil }
            switch op {
            case .less: return order < 0
            case .greater: return order > 0
            case .lessOrEqual: return order <= 0
            default: return order >= 0
            }
        case .contains, .beginsWith, .endsWith, .doesNotContain, .doesNotBeginWith, .doesNotEndWith:
            guard let needle = rule.lower else { return nil }
            let negated = op == .doesNotContain || op == .doesNotBeginWith || op == .doesNotEndWith
            if field.isNull { return negated }
            // An array field is tested element by element (any element): `tags contains "urgent"`.
            let hays = field.elements.map { $0.compactMap(\.lower) } ?? [field.lower ?? ""]
            let found = hays.contains { hay in
                switch op {
                case .contains, .doesNotContain: return contains(hay, needle)
                case .beginsWith, .doesNotBeginWith: return hay.hasPrefix(needle)
                default: return hay.hasSuffix(needle)
                }
            }
            return negated ? !found : found
        case .in, .notIn:
            guard let list = rule.list else { return nil }
            let candidates = field.elements ?? [field]
            let found = candidates.contains { item in list.contains { equal(item, $0) } }
            return op == .in ? found : !found
        case .between, .notBetween:
            guard let bounds = rule.list, bounds.count == 2 else { return nil }
            if field.isNull { return op == .notBetween }
            guard let low = compare(field, bounds[0]), let high = compare(field, bounds[1]) else { return nil }
            let inside = low >= 0 && high <= 0
            return op == .between ? inside : !inside
        }
    }

    /// A value as the operators read it, read once: its number, its text (and lowercased), its instant,
    /// its elements (an array field, one level) and its list (an `in`/`between` value: an array, or
    /// react-querybuilder's comma-separated string). A class: matching hands the same operands to
    /// thousands of rules per event.
    final class Operand {
        let isNull: Bool
        let bool: Bool?
        let number: Double?
        let text: String?
        let lower: String?
        let instant: Date?
        let elements: [Operand]?
        let list: [Operand]?

        convenience init(_ v: JSON) { self.init(v, nested: false) }

        private init(_ v: JSON, nested: Bool) {
            isNull = v.isNull
            if case .bool(let b) = v { bool = b } else { bool = nil }
            number = Conditions.number(v)
            text = Conditions.text(v)
            lower = text?.lowercased()
            instant = number == nil ? text.flatMap(Timestamp.parse) : nil
            if nested {
                elements = nil
                list = nil
                return
            }
            elements = v.arrayValue?.map { Operand($0, nested: true) }
            switch v {
            case .array(let items): list = items.map { Operand($0, nested: true) }
            case .string(let s): list = s.split(separator: ",").map { Operand(.string(trimmedOfWhitespace(String($0))), nested: true) }
            case .null: list = nil
            default: list = [Operand(v, nested: true)]
            }
        }
    }

    /// Whether `needle` occurs in `hay` (an empty needle always does), comparing Characters as String does
    /// (canonical equivalence); ASCII text, most PSA values, is searched byte by byte.
    static func contains(_ hay: String, _ needle: String) -> Bool {
        if hay.utf8.allSatisfy({ $0 < 0x80 }) && needle.utf8.allSatisfy({ $0 < 0x80 }) {
            return search(Array(hay.utf8), Array(needle.utf8))
        }
        return search(Array(hay), Array(needle))
    }

    private static func search<T: Equatable>(_ hay: [T], _ needle: [T]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard needle.count <= hay.count else { return false }
        for start in 0...(hay.count - needle.count) where hay[start] == needle[0] {
            var j = 1
            while j < needle.count && hay[start + j] == needle[j] { j += 1 }
            if j == needle.count { return true }
        }
        return false
    }

    private static func number(_ v: JSON) -> Double? {
        switch v {
        case .int(let n): return Double(n)
        case .double(let d): return d
        case .string(let s): return Double(trimmedOfWhitespace(s)).flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    /// `s.trimmingCharacters(in: .whitespaces)`, without Foundation's work for the usual text: spaces and tabs (the
    /// only ASCII members of `.whitespaces`) are cut from both ends byte by byte, and Foundation trims only what is
    /// left when it starts or ends with a non-ASCII character.
    static func trimmedOfWhitespace(_ s: String) -> String {
        let bytes = s.utf8
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while end > start, bytes[bytes.index(before: end)] == 0x20 || bytes[bytes.index(before: end)] == 0x09 { end = bytes.index(before: end) }
        guard start < end else { return "" }
        let cut = start == bytes.startIndex && end == bytes.endIndex ? s : String(s[start..<end])
        return bytes[start] < 0x80 && bytes[bytes.index(before: end)] < 0x80 ? cut : cut.trimmingCharacters(in: .whitespaces)
    }

    private static func text(_ v: JSON) -> String? {
        switch v {
        case .string(let s): return s
        case .null: return nil
        default: return v.serializedString()
        }
    }

    static func equal(_ a: JSON, _ b: JSON) -> Bool { equal(Operand(a), Operand(b)) }

    static func equal(_ a: Operand, _ b: Operand) -> Bool {
        if a.isNull || b.isNull { return a.isNull && b.isNull }
        if let x = a.number, let y = b.number { return x == y }
        if let x = a.bool, let y = b.lower { return (x ? "true" : "false") == y }
        if let y = b.bool, let x = a.lower { return (y ? "true" : "false") == x }
        guard let x = a.lower, let y = b.lower else { return false }
        return x == y
    }

    /// -1, 0, 1; numbers as numbers, then timestamps as instants, then text ignoring case.
    static func compare(_ a: Operand, _ b: Operand) -> Int? {
        if let x = a.number, let y = b.number { return x < y ? -1 : x > y ? 1 : 0 }
        guard let lx = a.lower, let ly = b.lower else { return nil }
        if let dx = a.instant, let dy = b.instant { return dx < dy ? -1 : dx > dy ? 1 : 0 }
        return lx < ly ? -1 : lx > ly ? 1 : 0
    }
}

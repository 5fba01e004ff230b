import Basics
import Foundation
import NeoJSON

/// An agent's condition tree compiled once per agent version, for matching one event against many agents.
/// Rules are shared: every agent whose tree has `status = "New"` holds the same `Rule`, and an event
/// evaluates each shared rule once (`EntityFields` keeps the verdicts and the audit bytes per rule). The
/// verdicts are `Conditions.apply`'s; the tree walk is the one `Conditions.evaluate` reports (every rule,
/// no short circuit, the first failure as the reason).
final class CompiledConditions: Sendable {
    indirect enum Node {
        case group(any: Bool, negate: Bool, children: [Node])
        /// Not a group (no `rules` array) or nested too deep: no match, an error.
        case malformed
        case rule(Int)
    }

    /// One rule `{field, operator, value}`, with what evaluating and reporting it needs prepared.
    // unchecked: every property is a let set when the rule is compiled; nothing mutates a Rule afterwards.
    final class Rule: @unchecked Sendable {
        /// Index in `RuleTable.shared` (-1: not shared, the table is full): where events keep its verdict.
        let number: Int
        let field: String
        /// `field`'s index in `RuleTable.shared`'s paths: where an event keeps that field's reading.
        let path: Int
        let op: String
        let known: Conditions.Operator?
        let value: JSON
        let operand: Conditions.Operand
        let failReason: String
        let errorReason: String
        /// The two reasons as JSON strings, and the audit entry around the field's value:
        /// `{"field_name":…,"field_value":` … `,"operator":…,"rule_value":…,"is_match":`.
        let failReasonJSON: [UInt8]
        let errorReasonJSON: [UInt8]
        let auditHead: [UInt8]
        let auditMiddle: [UInt8]

        init(number: Int, path: Int, field: String, op: String, value: JSON) {
            self.number = number
            self.path = path
            self.field = field
            self.op = op
            known = Conditions.Operator(rawValue: op)
            self.value = value
            operand = Conditions.Operand(value)
            let shown = value.serializedString().prefix(60)
            failReason = "rule failed: \(field) \(op) \(shown)"
            errorReason = known != nil
                ? "rule \(field) \(op): the rule value \(shown) cannot be used with this operator"
                : "unknown operator '\(op.prefix(40))' in rule on \(field)"
            var fail: [UInt8] = [], error: [UInt8] = []
            appendJSONString(failReason, to: &fail)
            appendJSONString(errorReason, to: &error)
            failReasonJSON = fail
            errorReasonJSON = error
            var head: [UInt8] = Array(#"{"field_name":"#.utf8)
            appendJSONString(field, to: &head)
            head.append(contentsOf: #","field_value":"#.utf8)
            auditHead = head
            var middle: [UInt8] = Array(#","operator":"#.utf8)
            appendJSONString(op, to: &middle)
            middle.append(contentsOf: #","rule_value":"#.utf8)
            value.write(into: &middle)
            middle.append(contentsOf: #","is_match":"#.utf8)
            auditMiddle = middle
        }
    }

    /// Why an evaluation did not match.
    enum Reason: Equatable {
        case malformed
        /// The rule at this index of `rules` failed, or could not be evaluated.
        case failed(Int)
        case errored(Int)
    }

    /// One evaluation: `isMatch` per rule, in `rules` order (the audit's order).
    struct Outcome: Equatable {
        let matched: Bool
        let error: Bool
        let reason: Reason?
        let isMatch: MatchBits
    }

    /// One flag per rule, in a word for the first 64 (no allocation per agent and event), then an array.
    struct MatchBits: Equatable {
        let count: Int
        private var word: UInt64 = 0
        private var overflow: [Bool]

        init(count: Int) {
            self.count = count
            overflow = count > 64 ? [Bool](repeating: false, count: count - 64) : []
        }

        subscript(i: Int) -> Bool {
            get { i < 64 ? (word >> UInt64(i)) & 1 == 1 : overflow[i - 64] }
            set {
                if i < 64 {
                    if newValue { word |= 1 << UInt64(i) } else { word &= ~(1 << UInt64(i)) }
                } else {
                    overflow[i - 64] = newValue
                }
            }
        }

        var array: [Bool] { (0..<count).map { self[$0] } }
    }

    /// nil: no conditions, every entity matches.
    let root: Node?
    let rules: [Rule]
    /// `rules`' numbers, so a rule an event already evaluated is found without touching the shared object.
    let numbers: [Int]
    /// The root's combinator and `not` when it is one group of rules (the usual tree): evaluated in a loop.
    let flat: (any: Bool, negate: Bool)?

    init(_ group: JSON?) {
        guard let group, !group.isNull else {
            root = nil
            rules = []
            numbers = []
            flat = nil
            return
        }
        var rules: [Rule] = []
        let root = Self.compile(group, depth: 1, into: &rules)
        self.root = root
        self.rules = rules
        numbers = rules.map(\.number)
        if case .group(let any, let negate, let children) = root,
           children.allSatisfy({ if case .rule = $0 { return true } else { return false } }) {
            flat = (any, negate)
        } else {
            flat = nil
        }
    }

    private static func compile(_ value: JSON, depth: Int, into rules: inout [Rule]) -> Node {
        guard depth <= Conditions.maxDepth, let items = value["rules"]?.arrayValue else { return .malformed }
        let children = items.map { item -> Node in
            if item["rules"] != nil { return compile(item, depth: depth + 1, into: &rules) }
            rules.append(RuleTable.shared.rule(field: item["field"]?.stringValue ?? "", op: item["operator"]?.stringValue ?? "",
                                               value: item["value"] ?? .null))
            return .rule(rules.count - 1)
        }
        return .group(any: value["combinator"]?.stringValue?.lowercased() == "or", negate: value["not"]?.boolValue == true, children: children)
    }

    func evaluate(_ fields: EntityFields) -> Outcome {
        guard let root else { return Outcome(matched: true, error: false, reason: nil, isMatch: MatchBits(count: 0)) }
        var isMatch = MatchBits(count: rules.count)
        var error = false
        var reason: Reason?
        func rule(_ i: Int) -> Bool {
            let result = fields.known(numbers[i]) ?? fields.verdict(rules[i])
            if result == nil {
                error = true
                if reason == nil { reason = .errored(i) }
            } else if result == false, reason == nil {
                reason = .failed(i)
            }
            isMatch[i] = result ?? false
            return result ?? false
        }
        if let (any, negate) = flat {
            var someTrue = false, someFalse = false
            for i in 0..<numbers.count {
                if rule(i) { someTrue = true } else { someFalse = true }
            }
            var result = numbers.isEmpty ? true : (any ? someTrue : !someFalse)
            if negate { result.toggle() }
            let matched = result && !error
            return Outcome(matched: matched, error: error, reason: matched ? nil : reason, isMatch: isMatch)
        }
        func walk(_ node: Node) -> Bool {
            switch node {
            case .malformed:
                error = true
                if reason == nil { reason = .malformed }
                return false
            case .rule(let i):
                return rule(i)
            case .group(let any, let negate, let children):
                var someTrue = false, someFalse = false
                for child in children {
                    if walk(child) { someTrue = true } else { someFalse = true }
                }
                let result = children.isEmpty ? true : (any ? someTrue : !someFalse)
                return negate ? !result : result
            }
        }
        let matched = walk(root) && !error
        return Outcome(matched: matched, error: error, reason: matched ? nil : reason, isMatch: isMatch)
    }

    func reasonText(_ outcome: Outcome) -> String? {
        switch outcome.reason {
        case nil: return nil
        case .malformed: return "malformed condition group"
        case .failed(let i): return rules[i].failReason
        case .errored(let i): return rules[i].errorReason
        }
    }

    /// Appends the reason as a JSON string; false when there is none.
    func writeReason(_ outcome: Outcome, into out: inout [UInt8]) -> Bool {
        switch outcome.reason {
        case nil: return false
        case .malformed: out.append(contentsOf: Self.malformedJSON)
        case .failed(let i): out.append(contentsOf: rules[i].failReasonJSON)
        case .errored(let i): out.append(contentsOf: rules[i].errorReasonJSON)
        }
        return true
    }

    private static let malformedJSON = Array(#""malformed condition group""#.utf8)

    /// The audit's `field_comparisons` entries, as `Conditions.evaluate` reports them.
    func comparisons(_ outcome: Outcome, _ fields: EntityFields) -> [Conditions.Comparison] {
        rules.indices.map { i in
            Conditions.Comparison(fieldName: rules[i].field, fieldValue: fields.entry(rules[i]).value, operator: rules[i].op,
                                  ruleValue: rules[i].value, isMatch: outcome.isMatch[i])
        }
    }

    /// Appends `field_comparisons` entries as JSON (comma-separated, no brackets).
    func writeComparisons(_ outcome: Outcome, _ fields: EntityFields, into out: inout [UInt8]) {
        for i in rules.indices {
            if i > 0 { out.append(44) }
            if !fields.writeKnownComparison(numbers[i], into: &out) { fields.writeComparison(rules[i], isMatch: outcome.isMatch[i], into: &out) }
        }
    }
}

/// The rules and field paths compiled trees share, each numbered so an event keeps per-rule verdicts and
/// per-field readings in arrays. Append-only and bounded; past the bound a rule or path is compiled
/// unshared (number -1) and evaluated for every agent that has it.
// unchecked: rules and paths are read and written only with `lock` held.
final class RuleTable: @unchecked Sendable {
    static let shared = RuleTable()
    static let limit = 50_000
    private let lock = NSLock()
    private var rules: [String: CompiledConditions.Rule] = [:]
    private var paths: [String: Int] = [:]

    /// How many rules are numbered (an event sizes its verdict table by it).
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return rules.count
    }

    func rule(field: String, op: String, value: JSON) -> CompiledConditions.Rule {
        let key = field + "\u{0}" + op + "\u{0}" + value.serializedString()
        lock.lock()
        defer { lock.unlock() }
        if let shared = rules[key] { return shared }
        let path: Int
        if let known = paths[field] {
            path = known
        } else if paths.count < Self.limit {
            path = paths.count
            paths[field] = path
        } else {
            path = -1
        }
        guard rules.count < Self.limit else { return CompiledConditions.Rule(number: -1, path: path, field: field, op: op, value: value) }
        let rule = CompiledConditions.Rule(number: rules.count, path: path, field: field, op: op, value: value)
        rules[key] = rule
        return rule
    }
}

/// One event's entity as rules read it: each field looked up, read and serialized once, each shared rule
/// evaluated once, and each rule's audit entry written once, whatever the number of agents that have it.
final class EntityFields {
    final class Entry {
        let value: JSON
        let operand: Conditions.Operand
        /// The value as JSON, for the audit: written only when an audit is.
        lazy var serialized: [UInt8] = value.serialized()

        init(_ value: JSON) {
            self.value = value
            operand = Conditions.Operand(value)
        }
    }

    let entity: JSONObject
    /// Field readings by path number, and by name for unnumbered paths.
    private var entries: [Int: Entry] = [:]
    private var unnumbered: [String: Entry] = [:]
    /// Verdicts by rule number: 0 not evaluated yet, 1 false, 2 true, 3 cannot be evaluated (nil); sized to
    /// the rules numbered when the event began (a byte each), later ones are evaluated without keeping it.
    private var verdicts: [UInt8]
    /// Each rule's whole audit entry, by rule number.
    private var audits: [Int: [UInt8]] = [:]

    init(_ entity: JSONObject) {
        self.entity = entity
        verdicts = [UInt8](repeating: 0, count: RuleTable.shared.count)
    }

    func entry(_ rule: CompiledConditions.Rule) -> Entry {
        if rule.path >= 0, let hit = entries[rule.path] { return hit }
        if rule.path < 0, let hit = unnumbered[rule.field] { return hit }
        let made = Entry(Conditions.lookup(rule.field, in: entity))
        if rule.path >= 0 { entries[rule.path] = made } else { unnumbered[rule.field] = made }
        return made
    }

    /// The verdict already computed for rule `number` (as `verdict` returns it), or nil when there is none.
    func known(_ number: Int) -> Bool?? {
        guard number >= 0, number < verdicts.count else { return nil }
        switch verdicts[number] {
        case 1: return .some(false)
        case 2: return .some(true)
        case 3: return .some(nil)
        default: return nil
        }
    }

    /// Appends rule `number`'s audit entry when this event already wrote it.
    func writeKnownComparison(_ number: Int, into out: inout [UInt8]) -> Bool {
        guard number >= 0, let written = audits[number] else { return false }
        out.append(contentsOf: written)
        return true
    }

    /// `Conditions.apply` for `rule` on this entity, computed once per shared rule.
    func verdict(_ rule: CompiledConditions.Rule) -> Bool? {
        if let known = known(rule.number) { return known }
        let result = Conditions.apply(rule.known, entry(rule).operand, rule.operand)
        if rule.number >= 0, rule.number < verdicts.count { verdicts[rule.number] = result == nil ? 3 : result! ? 2 : 1 }
        return result
    }

    /// Appends `rule`'s `field_comparisons` entry; written once per shared rule and copied after that.
    func writeComparison(_ rule: CompiledConditions.Rule, isMatch: Bool, into out: inout [UInt8]) {
        if writeKnownComparison(rule.number, into: &out) { return }
        var bytes = rule.auditHead
        bytes.append(contentsOf: entry(rule).serialized)
        bytes.append(contentsOf: rule.auditMiddle)
        bytes.append(contentsOf: (isMatch ? "true}" : "false}").utf8)
        out.append(contentsOf: bytes)
        if rule.number >= 0 { audits[rule.number] = bytes }
    }
}

import Foundation
import NeoJSON
import XCTest
@testable import PublicAPI

/// A fuzz loop for the conditions evaluator (run by fuzz/conditions.sh, 10 s in `make test`; 1 s in a plain
/// `swift test`): random trees (too deep, malformed, unknown operators, garbage entries) over random
/// entities (every JSON type, extreme numbers, numeric and timestamp strings, nesting). Evaluation must
/// never crash, must be deterministic and must keep the operators' algebra (`!=` is not `=`, `notIn` is not
/// `in`, `not` negates), and the audit bytes matching writes must be the JSON of its entries. NEO_FUZZ_SECONDS sets the duration, NEO_FUZZ_SEED replays a run.
final class ConditionsFuzzTests: XCTestCase {
    /// xorshift64*: reproducible from the printed seed.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
        mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    }

    static let fields = ["status", "priority", "board", "summary", "company.name", "company.id", "tags", "due", "count", "", "a..b", "missing.deep.path"]
    static let strings: [String] = ["", "New", "new", "Closed", " 3 ", "3", "-0", "1e309", "NaN", "inf", "2026-11-30T10:00:00Z",
                                    "2026-11-30T10:00:00.5+01:00", "2026-13-40T99:99:99Z", "a,b, c", "Ünïcødé", "\u{0}", "🔥", "true", "null",
                                    String(repeating: "x", count: 300)]
    static let operators = Array(Conditions.operators) + ["resembles", "", "IN", "=="]

    static func value(_ g: inout Generator, depth: Int = 0) -> JSON {
        switch g.below(depth > 2 ? 6 : 8) {
        case 0: return .null
        case 1: return .bool(g.chance(50))
        case 2: return .int(g.pick([0, 1, -1, 2, 42, Int64.max, Int64.min, Int64(g.below(1000))]))
        case 3: return .double(g.pick([0.5, -0.0, 1e308, -1e308, Double.leastNonzeroMagnitude, 2.0, 3.14159, Double(g.below(100)) / 7]))
        case 4, 5: return .string(g.pick(strings))
        case 6: return .array((0..<g.below(5)).map { _ in value(&g, depth: depth + 1) })
        default: return .object(JSONObject((0..<g.below(4)).map { _ in (g.pick(["name", "id", "x", ""]), value(&g, depth: depth + 1)) }))
        }
    }

    static func entity(_ g: inout Generator) -> JSONObject {
        var e = JSONObject()
        for field in ["status", "priority", "board", "summary", "tags", "due", "count"] where g.chance(70) { e[field] = value(&g) }
        if g.chance(60) { e["company"] = .object(JSONObject([("name", value(&g)), ("id", value(&g))])) }
        return e
    }

    static func rule(_ g: inout Generator) -> JSON {
        var r = JSONObject()
        if g.chance(95) { r["field"] = g.chance(95) ? .string(g.pick(fields)) : value(&g) }
        if g.chance(97) { r["operator"] = g.chance(95) ? .string(g.pick(operators)) : value(&g) }
        if g.chance(90) { r["value"] = value(&g) }
        return .object(r)
    }

    static func group(_ g: inout Generator, depth: Int) -> JSON {
        var out = JSONObject()
        if g.chance(90) { out["combinator"] = g.chance(90) ? .string(g.pick(["and", "or", "AND", "Or", "xor"])) : value(&g) }
        if g.chance(30) { out["not"] = g.chance(80) ? .bool(g.chance(50)) : value(&g) }
        var items: [JSON] = []
        for _ in 0..<g.below(5) {
            switch g.below(10) {
            case 0..<6: items.append(rule(&g))
            case 6..<9: items.append(depth < 12 ? group(&g, depth: depth + 1) : rule(&g))
            default: items.append(value(&g))
            }
        }
        if g.chance(97) { out["rules"] = g.chance(97) ? .array(items) : value(&g) }
        return .object(out)
    }

    static func ruleCount(_ tree: JSON) -> Int {
        guard let items = tree["rules"]?.arrayValue else { return 0 }
        return items.reduce(0) { $0 + ($1["rules"] != nil ? ruleCount($1) : 1) }
    }

    func test_fuzz_evaluatorNeverCrashes_isDeterministic_andKeepsTheOperatorAlgebra() {
        let environment = ProcessInfo.processInfo.environment
        let seconds = Double(environment["NEO_FUZZ_SECONDS"] ?? "") ?? 1
        let seed = UInt64(environment["NEO_FUZZ_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970 * 1000)
        var g = Generator(state: seed | 1)
        let deadline = Date().addingTimeInterval(seconds)
        var trees = 0, evaluations = 0, matched = 0, errored = 0
        let negations = ["=": "!=", "in": "notIn", "between": "notBetween", "contains": "doesNotContain",
                         "beginsWith": "doesNotBeginWith", "endsWith": "doesNotEndWith", "null": "notNull"]
        while Date() < deadline {
            for _ in 0..<200 {
                let tree = Self.group(&g, depth: 1)
                let e = Self.entity(&g)
                let first = Conditions.evaluate(tree, entity: e)
                let again = Conditions.evaluate(tree, entity: e)
                let reordered = Conditions.evaluate(tree, entity: JSONObject(e.reversed().map { ($0.key, $0.value) }))
                XCTAssertEqual(first, again, "seed \(seed): evaluation is not deterministic for \(tree.serializedString())")
                XCTAssertEqual(first, reordered, "seed \(seed): the entity's key order changed the outcome")
                XCTAssertFalse(first.matched && first.error, "seed \(seed): a match with an error")
                XCTAssertLessThanOrEqual(first.comparisons.count, Self.ruleCount(tree))
                if !first.error {
                    let negated = Conditions.evaluate(["combinator": "and", "not": true, "rules": [tree]], entity: e)
                    if !negated.error { XCTAssertEqual(negated.matched, !first.matched, "seed \(seed): not did not negate \(tree.serializedString())") }
                }
                let v = Validation()
                Conditions.check(tree, path: "c", validation: v)
                if trees % 10 == 0 {
                    // The audit matching writes from prepared fragments is the JSON of its entries.
                    let agent = TriggeredAgent(id: Int64(trees), version: 1, document: ["name": .string(g.pick(Self.strings)), "ticket_conditions": ["conditions": tree]])
                    let event = CallbackEvent(eventId: nil, entityType: "ticket", entityId: "1", entityNumber: nil, changeType: "CREATE",
                                              changes: nil, entity: e, createdInPSAAt: nil)
                    let result = CallbackMatcher.match(event, changes: [], agents: [agent], alreadyRan: [])
                    XCTAssertEqual(try? JSON.parse(result.workflowMatchesJSON()), .array(result.matches.map(result.json)),
                                   "seed \(seed): audit bytes differ from the entries for \(tree.serializedString())")
                    // Matching an agent set (shared trees, the equality index) decides what the matcher does.
                    let set = AgentSet([agent, TriggeredAgent(id: Int64(trees) + 1_000_000, version: 1, document: ["ticket_conditions": ["conditions": tree]])])
                    let both = CallbackMatcher.match(event, changes: [], agents: set.agents, alreadyRan: [])
                    XCTAssertEqual(set.verdicts(changeType: "CREATE", changes: [], fields: EntityFields(e)), both.matches.map(\.verdict),
                                   "seed \(seed): the agent set's verdicts differ for \(tree.serializedString())")
                }
                evaluations += 4
                trees += 1
                if first.matched { matched += 1 }
                if first.error { errored += 1 }

                let (field, ruleValue) = (Self.value(&g), Self.value(&g))
                for (op, opposite) in negations {
                    if let yes = Conditions.apply(op, field, ruleValue), let no = Conditions.apply(opposite, field, ruleValue) {
                        XCTAssertEqual(yes, !no, "seed \(seed): \(op)/\(opposite) on \(field.serializedString()) vs \(ruleValue.serializedString())")
                    }
                    evaluations += 2
                }
            }
        }
        print(String(format: "fuzz conditions: %d trees, %d evaluations (%.0f/s), %d matched, %d flagged error, seed %llu",
                     trees, evaluations, Double(evaluations) / seconds, matched, errored, seed))
    }
}

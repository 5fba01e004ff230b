import NeoJSON
import XCTest
@testable import PublicAPI

/// The react-querybuilder evaluator: every operator, groups, `not`, the audit, and write-time checks.
final class ConditionsTests: XCTestCase {
    let ticket: JSONObject = [
        "summary": "Printer on fire", "status": "New", "priority": 2, "hours": "3.5", "vip": true,
        "opened_at": "2026-12-01T08:00:00Z", "tags": ["printer", "urgent"], "owner": nil,
        "company": ["name": "Acme Corp", "tier": "gold"],
    ]

    func test_operators_tableDriven() {
        let cases: [(String, String, JSON, Bool?)] = [
            ("status", "=", "new", true),                         // text ignores case
            ("status", "=", "Closed", false),
            ("priority", "=", "2", true),                         // numbers compare as numbers
            ("vip", "=", "true", true),
            ("status", "!=", "Closed", true),
            ("owner", "=", .null, true),
            ("priority", "<", 3, true), ("priority", ">", 3, false), ("priority", "<=", 2, true), ("priority", ">=", "2.5", false),
            ("hours", ">", 3, true),                              // numeric strings are numbers
            ("opened_at", "<", "2026-12-01T09:00:00+00:00", true), // timestamps as instants
            ("owner", ">", 1, false),
            ("summary", "contains", "ON FIRE", true), ("summary", "doesNotContain", "fire", false),
            ("summary", "beginsWith", "printer", true), ("summary", "doesNotBeginWith", "fax", true),
            ("summary", "endsWith", "fire", true), ("summary", "doesNotEndWith", "fire", false),
            ("owner", "contains", "x", false), ("owner", "doesNotContain", "x", true),
            ("tags", "contains", "urgent", true),                 // an array field: any element
            ("tags", "contains", "URG", true), ("tags", "doesNotContain", "urgent", false), ("tags", "doesNotContain", "fax", true),
            ("tags", "beginsWith", "print", true), ("tags", "doesNotBeginWith", "print", false), ("tags", "endsWith", "[", false),
            ("owner", "null", .null, true), ("summary", "null", .null, false), ("missing.path", "null", .null, true),
            ("summary", "notNull", .null, true),
            ("status", "in", ["New", "Open"], true), ("status", "in", "open, new", true), ("status", "notIn", ["New"], false),
            ("tags", "in", ["urgent"], true),
            ("priority", "between", [1, 3], true), ("priority", "between", "3,5", false), ("priority", "notBetween", [3, 5], true),
            ("company.name", "beginsWith", "acme", true), ("company.tier", "=", "gold", true),
            ("priority", "between", [1], nil),                    // unusable rule value: error
            ("status", "contains", .null, nil),
            ("status", "matchesRegex", ".*", nil),                // unknown operator: error
        ]
        for (field, op, value, expected) in cases {
            XCTAssertEqual(Conditions.apply(op, Conditions.lookup(field, in: ticket), value), expected, "\(field) \(op) \(value.serializedString())")
        }
    }

    private func group(_ combinator: String, _ rules: [JSON], not: Bool? = nil) -> JSON {
        var g: JSONObject = ["combinator": .string(combinator), "rules": .array(rules)]
        if let not { g["not"] = .bool(not) }
        return .object(g)
    }

    /// Found by the fuzz loop (seed 1796116126453): `contains` read an array as its serialized text, where
    /// NUL is escaped, while `doesNotContain` compared elements, so both answered false.
    func test_stringOperatorsAndTheirNegations_agreeOnArrays() {
        for (field, value) in [(JSON.array(["\u{0}"]), JSON.string("\u{0}")), (["a\"b", 3], "\""), ([], "x"), ([nil, "Fax"], "fa")] {
            for (op, opposite) in [("contains", "doesNotContain"), ("beginsWith", "doesNotBeginWith"), ("endsWith", "doesNotEndWith")] {
                XCTAssertEqual(Conditions.apply(op, field, value), Conditions.apply(opposite, field, value).map(!), "\(op) \(field.serializedString())")
            }
        }
    }

    private func rule(_ field: String, _ op: String, _ value: JSON) -> JSON {
        ["field": .string(field), "operator": .string(op), "value": value]
    }

    func test_groups_combineNestAndNegate_andTheAuditListsEveryRule() {
        let nested = group("and", [
            rule("status", "=", "New"),
            group("or", [rule("priority", "=", 1), rule("company.tier", "=", "gold")]),
        ])
        let matched = Conditions.evaluate(nested, entity: ticket)
        XCTAssertTrue(matched.matched)
        XCTAssertFalse(matched.error)
        XCTAssertNil(matched.reason)
        XCTAssertEqual(matched.comparisons.map(\.isMatch), [true, false, true], "every rule is evaluated and recorded")
        XCTAssertEqual(matched.comparisons[1].json, ["field_name": "priority", "field_value": 2, "operator": "=", "rule_value": 1, "is_match": false])

        let negated = Conditions.evaluate(group("and", [rule("status", "=", "New")], not: true), entity: ticket)
        XCTAssertFalse(negated.matched)
        XCTAssertTrue(Conditions.evaluate(group("and", []), entity: ticket).matched, "an empty group matches")
        XCTAssertTrue(Conditions.evaluate(nil, entity: ticket).matched, "no conditions match every entity")

        let failed = Conditions.evaluate(group("and", [rule("status", "=", "Closed"), rule("priority", "=", 2)]), entity: ticket)
        XCTAssertFalse(failed.matched)
        XCTAssertEqual(failed.reason, #"rule failed: status = "Closed""#)

        let unknown = Conditions.evaluate(group("or", [rule("status", "=", "New"), rule("status", "soundsLike", "nu")]), entity: ticket)
        XCTAssertFalse(unknown.matched, "an unknown operator is no match even inside an OR that another rule satisfies")
        XCTAssertTrue(unknown.error)
        XCTAssertTrue(unknown.reason?.contains("soundsLike") ?? false)
    }

    func test_check_refusesMalformedTreesNamingTheField_warnsOnUnknownOperators() {
        var deep: JSON = group("and", [rule("status", "=", "New")])
        for _ in 0..<20 { deep = group("and", [deep]) }
        let cases: [(JSON, String)] = [
            (deep, "conditions" + String(repeating: ".rules[0]", count: Conditions.maxDepth)),
            (["combinator": "xor", "rules": []], "conditions.combinator"),
            (["combinator": "and"], "conditions.rules"),
            (group("and", [["operator": "=", "value": 1]]), "conditions.rules[0].field"),
            (group("and", [["field": "status", "value": 1]]), "conditions.rules[0].operator"),
            (group("and", ["not a rule"]), "conditions.rules[0]"),
            ("a string", "conditions"),
        ]
        for (value, field) in cases {
            let v = Validation()
            Conditions.check(value, path: "conditions", validation: v)
            XCTAssertEqual(v.details.first?.field, field, value.serializedString().prefix(80).description)
        }
        let v = Validation()
        Conditions.check(group("and", [rule("status", "soundsLike", "x")]), path: "conditions", validation: v)
        XCTAssertTrue(v.ok)
        XCTAssertTrue(v.warnings.first?.contains("soundsLike") ?? false)
    }
}

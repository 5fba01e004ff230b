// libFuzzer harness for the conditions evaluator (Sources/PublicAPI/Callbacks/Conditions.swift and
// CompiledConditions.swift, compiled in with NeoJSON, Basics/Timestamp.swift and the real Validation class by
// fuzz/run-conditions.sh). Input: JSON text `[tree, entity, field, ruleValue]` (missing parts are null; a
// non-array input is the tree over an empty entity). Properties: the write-time check and evaluation never crash;
// evaluation is deterministic and independent of the entity's key order; a match never carries an error; at most
// one comparison per rule; `not` negates an error-free outcome; and each operator disagrees with its negation
// (`=`/`!=`, `in`/`notIn`, `between`/`notBetween`, `contains`/`doesNotContain`, `beginsWith`/`doesNotBeginWith`,
// `endsWith`/`doesNotEndWith`, `null`/`notNull`) whenever both give a verdict.
import Foundation

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        FileHandle.standardError.write(Data("conditions fuzz: \(message())\n".utf8))
        abort()
    }
}

private func ruleCount(_ tree: JSON) -> Int {
    guard let items = tree["rules"]?.arrayValue else { return 0 }
    return items.reduce(0) { $0 + ($1["rules"] != nil ? ruleCount($1) : 1) }
}

private let negations: [(String, String)] = [("=", "!="), ("in", "notIn"), ("between", "notBetween"), ("contains", "doesNotContain"),
                                              ("beginsWith", "doesNotBeginWith"), ("endsWith", "doesNotEndWith"), ("null", "notNull")]

@_cdecl("LLVMFuzzerTestOneInput")
public func conditionsFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size <= 4096, let input = try? JSON.parse(UnsafeRawBufferPointer(start: data, count: size), maxDepth: 32) else { return 0 }
    let parts = input.arrayValue ?? [input]
    let tree = parts.first ?? .null
    let entity = parts.count > 1 ? parts[1].objectValue ?? JSONObject() : JSONObject()
    let shown = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self).debugDescription

    let validation = Validation()
    Conditions.check(tree, path: "c", validation: validation)
    check(validation.details.allSatisfy { !$0.field.isEmpty && !$0.issue.isEmpty }, "a check detail without field or issue for \(shown)")

    let first = Conditions.evaluate(tree, entity: entity)
    check(first == Conditions.evaluate(tree, entity: entity), "evaluation is not deterministic for \(shown)")
    let reordered = JSONObject(entity.reversed().map { ($0.key, $0.value) })
    check(first == Conditions.evaluate(tree, entity: reordered), "the entity's key order changed the outcome for \(shown)")
    check(!(first.matched && first.error), "a match with an error for \(shown)")
    check(first.comparisons.count <= ruleCount(tree), "more comparisons than rules for \(shown)")
    if !first.error && !tree.isNull {
        let negated = Conditions.evaluate(["combinator": "and", "not": true, "rules": [tree]], entity: entity)
        if !negated.error { check(negated.matched == !first.matched, "not did not negate \(shown)") }
    }

    let field = parts.count > 2 ? parts[2] : .null
    let ruleValue = parts.count > 3 ? parts[3] : .null
    for (op, opposite) in negations {
        if let yes = Conditions.apply(op, field, ruleValue), let no = Conditions.apply(opposite, field, ruleValue) {
            check(yes == !no, "\(op)/\(opposite) agree on \(shown)")
        }
    }
    return 0
}

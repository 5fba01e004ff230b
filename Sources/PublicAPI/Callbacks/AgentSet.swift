import Basics
import NeoJSON

/// The ordered agents an ingest is matched against (a tenant's ENABLED TRIGGERED agents of one entity type, in
/// execution order), prepared once per distinct list and kept with it in `TriggeredAgentCache`:
/// - its stored form: a callback row names the set by `digest` (`callback_agent_sets`, migration 0018) and keeps
///   one verdict letter per agent, instead of every agent's id, version and verdict;
/// - a plan that decides every agent's verdict with each distinct `target_changes` and each distinct condition
///   tree evaluated once per event (a thousand agents usually hold far fewer distinct trees: the same rules with
///   another company), and the trees that require `field = "text"` of one field looked up by the field's value
///   (`EqualityIndex`), so an event reads only the trees its value can satisfy.
/// The verdicts are exactly `CallbackMatcher.match`'s (`AgentSetTests` and the conditions fuzz compare them).
final class AgentSet: Sendable {
    let agents: [TriggeredAgent]
    /// Hex of the first 16 bytes of SHA-256 of `agentsJSON`: the set's key within its tenant.
    let digest: String
    /// `[[workflow_id, version], …]`, the stored list.
    let agentsJSON: String
    /// `[workflow_id, …]` as bytes, and where each agent's digits start in it (the failed-id list is cut from it).
    let idsJSON: [UInt8]
    private let idStarts: [Int]
    /// Some agent has run_only_once_per_entity (the ingest then reads which already ran).
    let anyRunOnce: Bool
    /// Per agent, the index of its `target_changes` in `targets` and of its tree in `trees`.
    private let targetOf: [Int]
    private let targets: [TargetChanges.Compiled]
    private let treeOf: [Int]
    let trees: [CompiledConditions]
    private let index: EqualityIndex

    init(_ ordered: [TriggeredAgent]) {
        agents = ordered
        var stored: [UInt8] = [91], ids: [UInt8] = [91], starts: [Int] = []
        starts.reserveCapacity(ordered.count)
        var targetKeys: [String: Int] = [:], treeKeys: [String: Int] = [:]
        var targets: [TargetChanges.Compiled] = [], trees: [CompiledConditions] = []
        var targetOf: [Int] = [], treeOf: [Int] = []
        for (i, agent) in ordered.enumerated() {
            if i > 0 {
                stored.append(44)
                ids.append(44)
            }
            stored.append(91)
            stored.append(contentsOf: agent.idDigits)
            stored.append(44)
            stored.append(contentsOf: String(agent.version).utf8)
            stored.append(93)
            starts.append(ids.count)
            ids.append(contentsOf: agent.idDigits)
            // Agents with the same target_changes (or conditions) JSON compile to the same thing.
            let targetKey = agent.callbackSettings?["target_changes"]?.serializedString() ?? ""
            if let known = targetKeys[targetKey] { targetOf.append(known) } else {
                targetKeys[targetKey] = targets.count
                targetOf.append(targets.count)
                targets.append(agent.targetChanges)
            }
            let treeKey = agent.conditions?.serializedString() ?? ""
            if let known = treeKeys[treeKey] { treeOf.append(known) } else {
                treeKeys[treeKey] = trees.count
                treeOf.append(trees.count)
                trees.append(agent.compiled)
            }
        }
        stored.append(93)
        ids.append(93)
        agentsJSON = String(decoding: stored, as: UTF8.self)
        digest = String(SHA256.hexDigest(stored).prefix(32))
        idsJSON = ids
        idStarts = starts
        anyRunOnce = ordered.contains(where: \.runOnlyOncePerEntity)
        self.targetOf = targetOf
        self.targets = targets
        self.treeOf = treeOf
        self.trees = trees
        index = EqualityIndex(trees)
    }

    /// How many distinct condition trees the agents hold (tests).
    var treeCount: Int { trees.count }

    /// Every agent's verdict for one event, in the set's order (run-once not applied: `applyRunOnce`).
    func verdicts(changeType: String, changes: [(field: String, old: JSON, new: JSON)], fields: EntityFields) -> [MatchVerdict] {
        var passes = [UInt8](repeating: 0, count: targets.count)  // 0 not asked yet, 1 no, 2 yes
        var decided = [MatchVerdict?](repeating: nil, count: trees.count)
        index.settle(fields, into: &decided)
        var out: [MatchVerdict] = []
        out.reserveCapacity(agents.count)
        for i in 0..<agents.count {
            let t = targetOf[i]
            if passes[t] == 0 { passes[t] = targets[t].matches(changeType: changeType, changes: changes) ? 2 : 1 }
            guard passes[t] == 2 else {
                out.append(.targetChanges)
                continue
            }
            let c = treeOf[i]
            if let known = decided[c] {
                out.append(known)
                continue
            }
            let outcome = trees[c].evaluate(fields)
            let verdict: MatchVerdict = outcome.matched ? .matched : outcome.error ? .error : .conditions
            decided[c] = verdict
            out.append(verdict)
        }
        return out
    }

    /// Turns the matches of run_only_once_per_entity agents in `alreadyRan` into `.runOnce`.
    func applyRunOnce(_ verdicts: inout [MatchVerdict], alreadyRan: Set<Int64>) {
        guard !alreadyRan.isEmpty else { return }
        for i in verdicts.indices where verdicts[i] == .matched && agents[i].runOnlyOncePerEntity && alreadyRan.contains(agents[i].id) {
            verdicts[i] = .runOnce
        }
    }

    /// `started_workflow_ids` (matched: true) or `failed_to_match_workflow_ids` as JSON array text: the failed
    /// list is `idsJSON` with the few matched ids cut out.
    func idsJSON(_ verdicts: [MatchVerdict], matched: Bool) -> String {
        var out: [UInt8] = [91]
        if matched {
            for i in verdicts.indices where verdicts[i] == .matched {
                if out.count > 1 { out.append(44) }
                out.append(contentsOf: agents[i].idDigits)
            }
            out.append(93)
            return String(decoding: out, as: UTF8.self)
        }
        out.reserveCapacity(idsJSON.count)
        idsJSON.withUnsafeBufferPointer { all in
            var runStart = -1  // start of the run of failed agents being copied
            func flush(upTo end: Int) {
                guard runStart >= 0 else { return }
                if out.count > 1 { out.append(44) }
                out.append(contentsOf: all[idStarts[runStart]..<end])
                runStart = -1
            }
            for i in verdicts.indices {
                if verdicts[i] == .matched {
                    // The run ends before the comma that precedes this agent.
                    flush(upTo: idStarts[i] - 1)
                } else if runStart < 0 {
                    runStart = i
                }
            }
            flush(upTo: all.count - 1)
        }
        out.append(93)
        return String(decoding: out, as: UTF8.self)
    }

    /// The stored verdicts: one letter per agent.
    static func letters(_ verdicts: [MatchVerdict]) -> String {
        String(decoding: verdicts.map(\.byte), as: UTF8.self)
    }

    /// The verdicts `letters` stored; nil when they do not fit a set of `count` agents.
    static func parseLetters(_ text: String, count: Int) -> [MatchVerdict]? {
        guard text.utf8.count == count else { return nil }
        var out: [MatchVerdict] = []
        out.reserveCapacity(count)
        for byte in text.utf8 {
            guard let verdict = MatchVerdict(byte: byte) else { return nil }
            out.append(verdict)
        }
        return out
    }

    /// The (id, version) pairs a stored `agentsJSON` lists.
    static func parseAgents(_ text: String) -> [(id: Int64, version: Int64)]? {
        guard let items = (try? JSON.parse(text))?.arrayValue else { return nil }
        var out: [(id: Int64, version: Int64)] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let pair = item.arrayValue, pair.count == 2, let id = pair[0].intValue, let version = pair[1].intValue else { return nil }
            out.append((id, version))
        }
        return out
    }
}

/// The condition trees that can only match when one field equals one text (an AND group, not negated, with a
/// rule `field = "text"`), by that field and the text lowercased: for an event, each such tree whose text is not
/// the field's value is decided without evaluating it. Exact: `Conditions.equal` of a text rule value (neither a
/// number nor a boolean) holds only for a field value whose reading (`Operand.lower`, or "true"/"false" for a
/// boolean) equals the value lowercased, and such a tree failing one rule is `.conditions` unless one of its
/// rules cannot be evaluated, so trees with a rule that may error are left out.
struct EqualityIndex: Sendable {
    /// Per indexed field: a rule of it (its path and reading), the trees by lowercased text, and every tree on it.
    private struct Field: Sendable {
        let rule: CompiledConditions.Rule
        var byText: [String: [Int]] = [:]
        var all: [Int] = []
    }

    private var fields: [Field] = []

    init(_ trees: [CompiledConditions]) {
        // Each tree is indexed by its `=` rule on the field whose texts vary most across the trees (the trees
        // that all require `status = New` are told apart by `company.name`).
        let candidates = trees.map(Self.keys)
        var texts: [String: Set<String>] = [:]
        for rules in candidates {
            for rule in rules { texts[rule.field, default: []].insert(rule.operand.lower ?? "") }
        }
        var slot: [String: Int] = [:]
        for (t, rules) in candidates.enumerated() {
            guard let rule = rules.max(by: { (texts[$0.field]?.count ?? 0, $1.field) < (texts[$1.field]?.count ?? 0, $0.field) }) else { continue }
            let at: Int
            if let known = slot[rule.field] { at = known } else {
                at = fields.count
                slot[rule.field] = at
                fields.append(Field(rule: rule))
            }
            fields[at].byText[rule.operand.lower ?? "", default: []].append(t)
            fields[at].all.append(t)
        }
        // A field that indexes a single tree saves nothing.
        fields.removeAll { $0.all.count < 2 }
    }

    /// The `field = "text"` rules a tree can be indexed by (none unless it is an AND group, not negated, of
    /// rules that never error).
    static func keys(_ tree: CompiledConditions) -> [CompiledConditions.Rule] {
        guard let flat = tree.flat, !flat.any, !flat.negate, tree.rules.allSatisfy(neverErrors) else { return [] }
        return tree.rules.filter { rule in
            rule.known == .equal && !rule.operand.isNull && rule.operand.number == nil && rule.operand.bool == nil && rule.operand.lower != nil
        }
    }

    /// Whether `Conditions.apply` can answer nil (an error) for this rule on some entity: unknown operators, and the
    /// operators that need a usable rule value when it is null or (between) not two non-null bounds.
    static func neverErrors(_ rule: CompiledConditions.Rule) -> Bool {
        guard let op = rule.known else { return false }
        switch op {
        case .null, .notNull, .equal, .notEqual: return true
        case .less, .greater, .lessOrEqual, .greaterOrEqual, .contains, .beginsWith, .endsWith, .doesNotContain, .doesNotBeginWith,
             .doesNotEndWith, .in, .notIn:
            return !rule.operand.isNull && rule.operand.lower != nil && rule.operand.list != nil
        case .between, .notBetween:
            guard let bounds = rule.operand.list, bounds.count == 2 else { return false }
            return bounds.allSatisfy { !$0.isNull && $0.lower != nil }
        }
    }

    /// The field tree `t` is indexed by, or nil (tests).
    func indexedField(ofTree t: Int) -> String? { fields.first { $0.all.contains(t) }?.rule.field }

    /// Marks `.conditions` every indexed tree whose text differs from the event's reading of its field.
    func settle(_ entity: EntityFields, into decided: inout [MatchVerdict?]) {
        for field in fields {
            let value = entity.entry(field.rule).operand
            let reading: String? = value.isNull ? nil : value.bool.map { $0 ? "true" : "false" } ?? value.lower
            let open = reading.flatMap { field.byText[$0] } ?? []
            for t in field.all { decided[t] = .conditions }
            for t in open { decided[t] = nil }
        }
    }
}

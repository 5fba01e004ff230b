import NeoJSON

/// `callback_settings.target_changes` (design §9): which events start an agent before its conditions are
/// looked at. Entries are OR-ed; an event matches an entry of its change type, and an UPDATE entry with a
/// `target_field` also needs a change of that field — to `target_value` and from `source_value` when
/// given. No entries (or no callback_settings) matches every event. Pure.
enum TargetChanges {
    /// The normalized change types, with the Neo-style aliases a PSA integration may send.
    static func normalizedChangeType(_ raw: String) -> String? {
        switch raw.uppercased() {
        case "CREATE", "CREATED", "TICKET_CREATED", "ADDED": return "CREATE"
        case "UPDATE", "UPDATED", "FIELD_UPDATED", "TICKET_UPDATED": return "UPDATE"
        default: return nil
        }
    }

    struct Verdict: Equatable {
        let matched: Bool
        /// Why not, for the callback audit's `match_reason`.
        let reason: String?
    }

    /// Whether an event (`changeType`, its `changes`) passes `settings.target_changes`.
    static func evaluate(_ settings: JSON?, changeType: String, changes: [(field: String, old: JSON, new: JSON)]) -> Verdict {
        Compiled(settings).evaluate(changeType: changeType, changes: changes)
    }

    /// `target_changes` read once per agent version (matching meets the same agents on every event).
    struct Compiled {
        struct Entry {
            /// nil: not a change type this server knows, so never met.
            let changeType: String?
            let field: String?
            let target: JSON?
            let source: JSON?
        }

        /// nil: no entries, every event passes.
        let entries: [Entry]?
        let wantedTypes: String

        init(_ settings: JSON?) {
            guard let raw = settings?["target_changes"]?.arrayValue, !raw.isEmpty else {
                entries = nil
                wantedTypes = ""
                return
            }
            entries = raw.map { entry in
                Entry(changeType: entry["change_type"]?.stringValue.flatMap(normalizedChangeType),
                      field: entry["target_field"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 },
                      target: entry["target_value"].flatMap { $0.isNull ? nil : $0 },
                      source: entry["source_value"].flatMap { $0.isNull ? nil : $0 })
            }
            wantedTypes = raw.compactMap { $0["change_type"]?.stringValue }.joined(separator: ", ")
        }

        func evaluate(changeType: String, changes: [(field: String, old: JSON, new: JSON)]) -> Verdict {
            matches(changeType: changeType, changes: changes) ? Verdict(matched: true, reason: nil)
                : Verdict(matched: false, reason: failureReason(changeType: changeType))
        }

        /// `evaluate`'s verdict without its reason (matching meets a thousand agents per event).
        func matches(changeType: String, changes: [(field: String, old: JSON, new: JSON)]) -> Bool {
            guard let entries else { return true }
            for entry in entries where entry.changeType == changeType {
                guard let field = entry.field else { return true }
                let hit = changes.contains { change in
                    change.field.caseInsensitiveCompare(field) == .orderedSame
                        && (entry.target.map { Conditions.equal(change.new, $0) } ?? true)
                        && (entry.source.map { Conditions.equal(change.old, $0) } ?? true)
                }
                if hit { return true }
            }
            return false
        }

        /// Why an event of `changeType` did not pass.
        func failureReason(changeType: String) -> String {
            "target_changes: no entry matches this \(changeType) (wanted \(wantedTypes))"
        }
    }

    /// Write-time check of `callback_settings.target_changes` at `path`.
    static func check(_ value: JSON, path: String, validation: Validation) {
        guard let entries = value.arrayValue else {
            validation.fail(path, "must be an array of {change_type, target_field?, target_value?, source_value?} (got \(value.typeName))")
            return
        }
        if entries.count > 50 { validation.fail(path, "has \(entries.count) entries; at most 50 are allowed") }
        for (i, entry) in entries.enumerated() {
            let p = "\(path)[\(i)]"
            guard entry.objectValue != nil else { validation.fail(p, "must be an object (got \(entry.typeName))"); continue }
            guard let raw = entry["change_type"]?.stringValue, normalizedChangeType(raw) != nil else {
                validation.fail("\(p).change_type", "must be CREATE or UPDATE (TICKET_CREATED and FIELD_UPDATED are accepted too)")
                continue
            }
            if let field = entry["target_field"], !field.isNull, field.stringValue?.isEmpty != false {
                validation.fail("\(p).target_field", "must be a non-empty string or null (got \(field.typeName))")
            }
        }
    }
}

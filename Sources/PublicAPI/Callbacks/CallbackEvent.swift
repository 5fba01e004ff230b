import NeoJSON

/// One inbound event as matching reads it (design §9): the body of `POST /public-api/callbacks`, or what a
/// PSA format maps its webhook onto. Pure: `parse` validates a body and names every bad field.
struct CallbackEvent: Equatable {
    /// One field change `{field, old, new}`.
    struct Change: Equatable {
        let field: String
        let old: JSON
        let new: JSON

        var json: JSON { .object(JSONObject([("field", .string(field)), ("old", old), ("new", new)])) }
    }

    /// The sender's dedupe key.
    var eventId: String?
    /// Lowercase, as agents spell it (`TICKET` arrives as `ticket`).
    var entityType: String
    var entityId: String
    var entityNumber: String?
    /// `CREATE` or `UPDATE` (Neo's TICKET_CREATED / FIELD_UPDATED are accepted and normalized).
    var changeType: String
    /// nil when the sender did not say what changed (ConnectWise sends whole records).
    var changes: [Change]?
    var entity: JSONObject
    var createdInPSAAt: String?

    static let maxIdLength = 200
    static let maxChanges = 500
    /// Entity types an event can be about: the agents' entity types, except `none`.
    static let entityTypes = AgentSchema.entityTypes.filter { $0 != "none" }

    /// The event a body describes; 422 naming each bad field (every problem at once), unknown fields as warnings.
    static func parse(_ body: JSONObject) throws -> (event: CallbackEvent, warnings: [String]) {
        let validation = Validation()
        let reader = FieldReader(body, validation: validation)
        let eventId = reader.string("event_id", maxLength: maxIdLength, minLength: 1)
        let entityType = readEntityType(reader)
        let entityId = identifier(reader, "entity_id", required: true)
        let entityNumber = identifier(reader, "entity_number", required: false)
        let changeType = readChangeType(reader)
        let changes = readChanges(reader)
        let entity = reader.object("entity", required: true)
        let createdInPSAAt = reader.timestamp("created_in_psa_at")
        reader.warnUnknown()
        try validation.check()
        guard let entityType, let entityId, let changeType, let entity else { throw APIError.internalError() }
        let event = CallbackEvent(eventId: eventId, entityType: entityType, entityId: entityId, entityNumber: entityNumber,
                                  changeType: changeType, changes: changes, entity: entity, createdInPSAAt: createdInPSAAt)
        return (event, validation.warnings)
    }

    private static func readEntityType(_ reader: FieldReader) -> String? {
        guard let raw = reader.string("entity_type", required: true, maxLength: 64) else { return nil }
        guard entityTypes.contains(raw.lowercased()) else {
            reader.validation.fail("entity_type", "must be one of \(entityTypes.joined(separator: ", ")) in any case (got '\(raw.prefix(64))')")
            return nil
        }
        return raw.lowercased()
    }

    private static func readChangeType(_ reader: FieldReader) -> String? {
        guard let raw = reader.string("change_type", required: true, maxLength: 64) else { return nil }
        guard let normalized = TargetChanges.normalizedChangeType(raw) else {
            reader.validation.fail("change_type", "must be CREATE or UPDATE (TICKET_CREATED and FIELD_UPDATED are accepted too; got '\(raw.prefix(64))')")
            return nil
        }
        return normalized
    }

    /// PSA ids are strings or integers; both are kept as strings.
    private static func identifier(_ reader: FieldReader, _ key: String, required: Bool) -> String? {
        if case .int(let n)? = reader.raw(key) { return String(n) }
        return reader.string(key, required: required, maxLength: maxIdLength, minLength: 1)
    }

    private static func readChanges(_ reader: FieldReader) -> [Change]? {
        guard let items = reader.array("changes", maxCount: maxChanges) else { return nil }
        var changes: [Change] = []
        for (i, item) in items.enumerated() {
            guard let object = item.objectValue else {
                reader.validation.fail("changes[\(i)]", "must be an object {field, old, new} (got \(item.typeName))")
                continue
            }
            let entry = FieldReader(object, path: "changes[\(i)]", validation: reader.validation)
            let field = entry.string("field", required: true, maxLength: maxIdLength, minLength: 1)
            let old = entry.raw("old") ?? .null
            let new = entry.raw("new") ?? .null
            entry.warnUnknown()
            if let field { changes.append(Change(field: field, old: old, new: new)) }
        }
        return changes
    }

    /// The normalized event as a JSON object (what test-mode and the audit echo back).
    var json: JSONObject {
        func text(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        return JSONObject([
            ("event_id", text(eventId)), ("entity_type", .string(entityType)), ("entity_id", .string(entityId)),
            ("entity_number", text(entityNumber)), ("change_type", .string(changeType)),
            ("changes", changes.map { .array($0.map(\.json)) } ?? .null), ("entity", .object(entity)),
            ("created_in_psa_at", text(createdInPSAAt)),
        ])
    }
}

/// What changed between two saves of one record, for events that carry the whole record and no `changes`
/// (ConnectWise): every top-level field whose value differs, in the new record's order, then fields the new
/// record dropped. Fields starting with `_` are the PSA's bookkeeping (`_info.lastUpdated` differs on every
/// save) and are skipped. Pure.
enum EntityDiff {
    static func changes(from previous: JSONObject, to current: JSONObject) -> [CallbackEvent.Change] {
        var out: [CallbackEvent.Change] = []
        for (key, value) in current where !key.hasPrefix("_") {
            let old = previous[key] ?? .null
            if old != value { out.append(.init(field: key, old: old, new: value)) }
        }
        for (key, value) in previous where !key.hasPrefix("_") && !current.contains(key) && !value.isNull {
            out.append(.init(field: key, old: value, new: .null))
        }
        return out
    }
}

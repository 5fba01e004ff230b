import Basics
import NeoJSON
import Store

/// The webhook body shapes the inbound endpoint accepts, chosen by `?format=` (design §9, issue 13):
/// `neo` is the normalized event itself; `connectwise` is a ConnectWise PSA callback, mapped by
/// `ConnectWiseCallback`. Pure: no I/O, so the routes only glue it to the request and the ingest.
enum PSAFormat: String, CaseIterable {
    case neo
    case connectwise

    /// The format `?format=` names, ignoring case; absent or empty means `neo`.
    static func named(_ value: String?) throws -> PSAFormat {
        guard let value, !value.isEmpty else { return .neo }
        guard let format = PSAFormat(rawValue: value.lowercased()) else {
            let accepted = allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.badRequest("format must be one of \(accepted) (got '\(value.prefix(64))')",
                                      details: [.init(field: "format", issue: "not one of \(accepted)")])
        }
        return format
    }

    /// `body` as the normalized event, or the reason it triggers nothing; throws 422 naming each bad field.
    func normalize(_ body: JSONObject) throws -> InboundEvent {
        switch self {
        case .neo: return .event(body)
        case .connectwise: return try ConnectWiseCallback.normalize(body)
        }
    }
}

/// What an inbound body becomes: an event to match, or a notice that triggers nothing. The PSA must
/// still get a 2xx for a notice: ConnectWise disables a callback after three days of failed posts.
enum InboundEvent: Equatable {
    case event(JSONObject)
    case ignored(reason: String)
}

/// A ConnectWise PSA (Manage) callback `{MessageId, FromUrl, CompanyId, MemberId, Action, Type, ID,
/// Entity, Metadata {key_url}, …}` mapped onto the normalized event. `Entity` is the saved record
/// serialized as a JSON string (null on "deleted"); its reference objects (`status: {id, name, _info}`)
/// become their name, with the id beside them (`statusId`), so rules on `status` or `board` compare
/// names. Sources and the full mapping table: README, "Events from a PSA".
enum ConnectWiseCallback {
    static let changeTypes = ["added": "CREATE", "updated": "UPDATE"]
    /// ConnectWise `Type` values that Neo spells differently; every other type is used lowercased.
    static let renamedTypes = ["time": "time_entry", "schedule": "scheduled_entry"]
    /// Types whose record id is also the number people quote (ConnectWise shows ticket #493 for id 493).
    static let numberedTypes: Set<String> = ["ticket", "project_ticket"]
    static let maxIdLength = 200

    static func normalize(_ body: JSONObject) throws -> InboundEvent {
        let action = body["Action"]?.stringValue?.lowercased()
        if action == "deleted" {
            return .ignored(reason: "ConnectWise \"deleted\" callbacks carry no entity and Neo's change types are CREATE and UPDATE; nothing to match")
        }
        let validation = Validation()
        let changeType = action.flatMap { changeTypes[$0] }
        if changeType == nil {
            validation.fail("Action", "must be \"added\", \"updated\" or \"deleted\"" + got(body["Action"]))
        }
        let type = body["Type"]?.stringValue?.lowercased() ?? ""
        if type.isEmpty {
            validation.fail("Type", "is required: the ConnectWise record type, e.g. \"ticket\"" + got(body["Type"]))
        }
        try validation.check()
        let neoType = renamedTypes[type] ?? type
        guard AgentSchema.entityTypes.contains(neoType) else {
            return .ignored(reason: "ConnectWise type '\(type.prefix(40))' has no Neo entity type; no agent can match it")
        }

        let entityId = recordId(body["ID"], validation: validation)
        let eventId = messageId(body["MessageId"], validation: validation)
        let record = decodedEntity(body["Entity"], validation: validation)
        guard validation.ok, let entityId, let changeType, let record else { throw APIError.validation(validation.details) }

        let entityType = neoType == "ticket" && record["recordType"]?.stringValue == "ProjectTicket" ? "project_ticket" : neoType
        var event = JSONObject()
        if let eventId { event["event_id"] = .string(eventId) }
        event["entity_type"] = .string(entityType)
        event["entity_id"] = .string(entityId)
        if numberedTypes.contains(entityType) { event["entity_number"] = .string(entityId) }
        event["change_type"] = .string(changeType)
        event["entity"] = .object(flattenReferences(record))
        if let savedAt = savedAt(record) { event["created_in_psa_at"] = .string(savedAt) }
        return .event(event)
    }

    /// Each top-level reference (an object with an `id` and a string `name` or `identifier`) becomes that
    /// name; its id follows as `<field>Id`, and a named reference's identifier as `<field>Identifier`, unless
    /// the record already has those keys. Everything else, `_info` and `customFields` included, is kept as sent.
    static func flattenReferences(_ record: JSONObject) -> JSONObject {
        var flat = JSONObject()
        for (key, value) in record {
            guard case .object(let reference) = value, let id = reference["id"], !id.isNull,
                  let label = reference["name"]?.stringValue ?? reference["identifier"]?.stringValue else {
                flat[key] = value
                continue
            }
            flat[key] = .string(label)
            if !record.contains("\(key)Id") { flat["\(key)Id"] = id }
            if reference["name"]?.stringValue != nil, let identifier = reference["identifier"], !record.contains("\(key)Identifier") {
                flat["\(key)Identifier"] = identifier
            }
        }
        return flat
    }

    /// `ID`: the changed record's id, an integer in ConnectWise's bodies (a non-empty string is taken as is).
    private static func recordId(_ value: JSON?, validation: Validation) -> String? {
        if let number = value?.intValue { return String(number) }
        if let text = value?.stringValue, !text.isEmpty, text.utf8.count <= maxIdLength { return text }
        validation.fail("ID", "is required: the id of the record that changed, an integer" + got(value))
        return nil
    }

    /// `MessageId` becomes `event_id`, the dedupe key; absent, the event is ingested without one.
    private static func messageId(_ value: JSON?, validation: Validation) -> String? {
        guard let value, !value.isNull else { return nil }
        if let text = value.stringValue, !text.isEmpty, text.utf8.count <= maxIdLength { return text }
        validation.fail("MessageId", "must be a string of 1 to \(maxIdLength) characters (ConnectWise sends a GUID)" + got(value))
        return nil
    }

    /// `Entity` as ConnectWise sends it, a JSON string holding the record; an already decoded object
    /// (from a relay that parsed it) is accepted too.
    private static func decodedEntity(_ value: JSON?, validation: Validation) -> JSONObject? {
        switch value {
        case .object(let record)?:
            return record
        case .string(let text)?:
            let parsed: JSON
            do {
                parsed = try JSON.parse(text)
            } catch {
                let reason = (error as? JSONParseError).map { " (\($0.message) at byte \($0.offset))" } ?? ""
                validation.fail("Entity", "is not valid JSON\(reason); send the record as ConnectWise serialized it")
                return nil
            }
            guard case .object(let record) = parsed else {
                validation.fail("Entity", "must hold a JSON object, the saved record (got \(parsed.typeName))")
                return nil
            }
            return record
        default:
            validation.fail("Entity", "is required on \"added\" and \"updated\" callbacks: the saved record as a JSON string" + got(value))
            return nil
        }
    }

    /// When the save that sent this callback happened: `_info.lastUpdated`, else `_info.dateEntered`,
    /// when it is an RFC 3339 timestamp.
    private static func savedAt(_ record: JSONObject) -> String? {
        let info = record["_info"]
        return [info?["lastUpdated"], info?["dateEntered"]]
            .compactMap { $0?.stringValue }
            .first { Timestamp.parse($0) != nil }
    }

    private static func got(_ value: JSON?) -> String {
        guard let value else { return "" }
        return " (got \(value.stringValue.map { "'\($0.prefix(40))'" } ?? value.typeName))"
    }
}

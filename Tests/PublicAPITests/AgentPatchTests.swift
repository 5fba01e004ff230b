import NeoJSON
import XCTest
@testable import PublicAPI

/// Table-driven tests of `applyAgentPatch(_:to:)`: one case per PUT rule of seed 004 / design §5.
final class AgentPatchTests: XCTestCase {
    /// What a case checks about the outcome.
    enum Check {
        /// The value at a dotted path (`actions.1.input_as_dict`) equals this JSON text.
        case equals(String, String)
        /// The path is absent from the result.
        case absent(String)
        /// Every top-level field other than these keeps its value.
        case unchangedExcept([String])
        /// The patch is refused with this status, code and first detail field (nil: no details).
        case fails(Int, String, String?)
        /// A meta.warnings line contains this text.
        case warns(String)
        /// Whether an agent-actor key would need approval.
        case destructive(Bool)
    }

    struct Case {
        let name: String
        let agent: JSONObject
        let patch: String
        let checks: [Check]
        init(_ name: String, _ agent: JSONObject, _ patch: String, _ checks: [Check]) {
            self.name = name; self.agent = agent; self.patch = patch; self.checks = checks
        }
    }

    static func parse(_ text: String) -> JSON { try! JSON.parse(Array(text.utf8)) }

    static func create(_ body: String) -> JSONObject { try! newAgentDocument(parse(body).objectValue!).document }

    /// act_1 FIND_ENTITIES, act_2 ADD_NOTE, act_3 and act_4 EXTERNAL_API_REQUEST; two tools.
    static let chained = create("""
        {"name": "Dispatch", "trigger_type": "TRIGGERED", "description": "routes tickets",
         "ticket_conditions": {"conditions": {"combinator": "and", "rules": []}},
         "actions": [
           {"action_type": "ADD_NOTE", "input_as_dict": {"template": "hi", "opts": {"x": 1, "y": {"z": 2, "w": 3}}}},
           {"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "crm", "query": {"a": "1"}, "pool": [1, 2]}},
           {"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "erp"}}],
         "agent_settings": {"custom_instructions": "be brief", "model": "m1"},
         "integrations": {"psa": "READ_WRITE", "m365": "READ"},
         "toolbox": {"tool_settings_by_type": {
           "PSA": {"enabled": true, "allowed_users": [1, 2], "limits": {"max": 3, "min": 1}},
           "EMAIL": {"enabled": true}}}}
        """)
    static let agentic = create("""
        {"name": "Triage agent", "autonomy_type": "AGENTIC", "entity_type": "ticket", "trigger_type": "TRIGGERED",
         "callback_settings": {"target_changes": [{"change_type": "CREATE"}]},
         "ticket_conditions": {"conditions": {"combinator": "and", "rules": []}, "custom_field_conditions": null,
                               "workload_conditions": null},
         "agent_settings": {"custom_instructions": "Triage incoming tickets"}, "toolbox": {"tool_settings_by_type": {}}}
        """)
    static let conversational = create("""
        {"name": "Helpdesk chat", "autonomy_type": "CONVERSATIONAL", "trigger_type": "NONE", "audience": "END_USER", "actions": []}
        """)

    static let cases: [Case] = [
        // Only sent fields change.
        Case("name only changes name", chained, #"{"name": "Triage agent (v2)"}"#,
             [.equals("name", #""Triage agent (v2)""#), .unchangedExcept(["name"]), .destructive(false)]),
        Case("null clears a nullable scalar", chained, #"{"description": null}"#,
             [.equals("description", "null"), .unchangedExcept(["description"])]),
        Case("null for name is refused", chained, #"{"name": null}"#, [.fails(422, "VALIDATION_ERROR", "name")]),
        Case("empty name is refused", chained, #"{"name": ""}"#, [.fails(422, "VALIDATION_ERROR", "name")]),
        Case("state outside its enum is refused", chained, #"{"state": "PAUSED"}"#, [.fails(422, "VALIDATION_ERROR", "state")]),
        Case("trigger_type outside its enum is refused", chained, #"{"trigger_type": "scheduled"}"#,
             [.fails(422, "VALIDATION_ERROR", "trigger_type")]),
        Case("trigger_type changes", chained, #"{"trigger_type": "SCHEDULED", "schedule": {"cron": "0 * * * *"}}"#,
             [.equals("trigger_type", #""SCHEDULED""#), .equals("schedule", #"{"cron":"0 * * * *"}"#),
              .unchangedExcept(["trigger_type", "schedule"])]),
        Case("group_order must be an integer", chained, #"{"group_order": "3"}"#, [.fails(422, "VALIDATION_ERROR", "group_order")]),
        Case("booleans set and clear", chained, #"{"show_in_psa_pod": true, "process_entities_sequentially": null}"#,
             [.equals("show_in_psa_pod", "true"), .equals("process_entities_sequentially", "null")]),
        // Immutables.
        Case("autonomy_type change is refused", chained, #"{"autonomy_type": "AGENTIC"}"#,
             [.fails(422, "VALIDATION_ERROR", "autonomy_type")]),
        Case("autonomy_type resent unchanged is accepted", chained, #"{"autonomy_type": "CHAINED_ACTIONS"}"#,
             [.unchangedExcept([])]),
        Case("entity_type change is refused", chained, #"{"entity_type": "task"}"#, [.fails(422, "VALIDATION_ERROR", "entity_type")]),
        Case("audience change is refused", conversational, #"{"audience": "MSP"}"#, [.fails(422, "VALIDATION_ERROR", "audience")]),
        // Actions merge.
        Case("action matched by id deep-merges input_as_dict", chained,
             #"{"actions": [{"id": "act_2", "input_as_dict": {"opts": {"x": 9}}}]}"#,
             [.equals("actions.1.input_as_dict", #"{"template":"hi","opts":{"x":9,"y":{"z":2,"w":3}}}"#),
              .unchangedExcept(["actions"]), .destructive(true)]),
        Case("explicit null deletes a nested key", chained,
             #"{"actions": [{"id": "act_2", "input_as_dict": {"opts": {"y": {"z": null}}}}]}"#,
             [.equals("actions.1.input_as_dict.opts", #"{"x":1,"y":{"w":3}}"#)]),
        Case("explicit null deletes a whole nested object", chained,
             #"{"actions": [{"id": "act_2", "input_as_dict": {"opts": null}}]}"#,
             [.equals("actions.1.input_as_dict", #"{"template":"hi"}"#)]),
        Case("lists replace, never merge", chained,
             #"{"actions": [{"id": "act_3", "input_as_dict": {"pool": [7]}}]}"#,
             [.equals("actions.2.input_as_dict", #"{"api_name":"crm","query":{"a":"1"},"pool":[7]}"#)]),
        Case("action matched by unique action_type", chained,
             #"{"actions": [{"action_type": "ADD_NOTE", "input_as_dict": {"template": "bye"}}]}"#,
             [.equals("actions.1.input_as_dict.template", #""bye""#), .equals("actions.1.id", #""act_2""#)]),
        Case("ambiguous action_type is refused naming the entry", chained,
             #"{"actions": [{"action_type": "EXTERNAL_API_REQUEST", "input_as_dict": {"api_name": "x"}}]}"#,
             [.fails(422, "VALIDATION_ERROR", "actions[0]")]),
        Case("unknown id is appended with a server id", chained,
             #"{"actions": [{"id": "zzz", "action_type": "ADD_NOTE", "input_as_dict": {"template": "new"}}]}"#,
             [.equals("actions.4", #"{"id":"act_5","action_type":"ADD_NOTE","input_as_dict":{"template":"new"}}"#),
              .equals("actions.1.input_as_dict.template", #""hi""#)]),
        Case("unmatched action_type is appended, nothing dropped or reordered", chained,
             #"{"actions": [{"action_type": "SEND_EMAIL", "input_as_dict": {"to": "a@b.c", "cc": null}}]}"#,
             [.equals("actions.4", #"{"id":"act_5","action_type":"SEND_EMAIL","input_as_dict":{"to":"a@b.c"}}"#),
              .equals("actions.0.id", #""act_1""#), .equals("actions.3.id", #""act_4""#)]),
        Case("two new entries of one type are both appended", chained,
             #"{"actions": [{"action_type": "SEND_EMAIL"}, {"action_type": "SEND_EMAIL"}]}"#,
             [.equals("actions.4.id", #""act_5""#), .equals("actions.5.id", #""act_6""#)]),
        Case("an id match cannot change the action_type", chained,
             #"{"actions": [{"id": "act_2", "action_type": "SEND_EMAIL"}]}"#,
             [.fails(422, "VALIDATION_ERROR", "actions[0].action_type")]),
        Case("an entry without id needs action_type", chained, #"{"actions": [{"input_as_dict": {}}]}"#,
             [.fails(422, "VALIDATION_ERROR", "actions[0].action_type")]),
        Case("actions must be an array", chained, #"{"actions": {"id": "act_2"}}"#, [.fails(422, "VALIDATION_ERROR", "actions")]),
        Case("actions null changes nothing", chained, #"{"actions": null}"#, [.unchangedExcept([])]),
        Case("FIND_ENTITIES sent by the client is refused", chained,
             #"{"actions": [{"action_type": "FIND_ENTITIES", "input_as_dict": {}}]}"#,
             [.fails(400, "validation_error", "actions[0].action_type")]),
        Case("targeting FIND_ENTITIES by id is refused", chained, #"{"actions": [{"id": "act_1", "input_as_dict": {}}]}"#,
             [.fails(400, "validation_error", "actions[0].id")]),
        Case("actions on an AGENTIC agent are refused", agentic, #"{"actions": [{"action_type": "ADD_NOTE"}]}"#,
             [.fails(400, "validation_error", "actions")]),
        Case("conditions on a CONVERSATIONAL agent are refused", conversational,
             #"{"ticket_conditions": {"conditions": {"rules": []}}}"#, [.fails(400, "validation_error", "ticket_conditions")]),
        Case("new conditions rebuild FIND_ENTITIES", chained,
             #"{"ticket_conditions": {"conditions": {"combinator": "or", "rules": [{"field": "status", "operator": "notNull"}]}}}"#,
             [.equals("actions.0.input_as_dict",
                      #"{"entity_type":"ticket","ticket_conditions":{"conditions":{"combinator":"or","rules":[{"field":"status","operator":"notNull"}]}},"time_entry_conditions":null}"#),
              .destructive(true)]),
        // Toolbox merge.
        Case("a tool's settings merge key by key", chained,
             #"{"toolbox": {"tool_settings_by_type": {"PSA": {"limits": {"max": 5}}}}}"#,
             [.equals("toolbox.tool_settings_by_type.PSA", #"{"enabled":true,"allowed_users":[1,2],"limits":{"max":5,"min":1}}"#),
              .equals("toolbox.tool_settings_by_type.EMAIL", #"{"enabled":true}"#), .destructive(true)]),
        Case("a tool's list replaces wholesale", chained,
             #"{"toolbox": {"tool_settings_by_type": {"PSA": {"allowed_users": [9]}}}}"#,
             [.equals("toolbox.tool_settings_by_type.PSA.allowed_users", "[9]")]),
        Case("a tool set to null is removed, others kept", chained,
             #"{"toolbox": {"tool_settings_by_type": {"PSA": null}}}"#,
             [.absent("toolbox.tool_settings_by_type.PSA"), .equals("toolbox.tool_settings_by_type.EMAIL", #"{"enabled":true}"#)]),
        Case("toolbox null clears the whole toolbox", chained, #"{"toolbox": null}"#,
             [.equals("toolbox", "null"), .unchangedExcept(["toolbox"])]),
        Case("a new tool is added to an empty toolbox", agentic,
             #"{"toolbox": {"tool_settings_by_type": {"WEB": {"enabled": true, "note": null}}}}"#,
             [.equals("toolbox", #"{"tool_settings_by_type":{"WEB":{"enabled":true}}}"#)]),
        Case("credentials inside a toolbox are refused", chained,
             #"{"toolbox": {"tool_settings_by_type": {"CRM": {"auth": {"api_key": "s3cret"}}}}}"#,
             [.fails(400, "validation_error", "toolbox.tool_settings_by_type.CRM.auth.api_key")]),
        Case("a tool must be an object or null", chained, #"{"toolbox": {"tool_settings_by_type": {"PSA": true}}}"#,
             [.fails(422, "VALIDATION_ERROR", "toolbox.tool_settings_by_type.PSA")]),
        // Whole-value replaces.
        Case("agent_settings replaces whole", chained, #"{"agent_settings": {"custom_instructions": "new"}}"#,
             [.equals("agent_settings", #"{"custom_instructions":"new"}"#), .destructive(true)]),
        Case("integrations replaces whole", chained, #"{"integrations": {"rmm": "READ"}}"#,
             [.equals("integrations", #"{"rmm":"READ"}"#), .destructive(true)]),
        // Unknown, read-only, destructive state.
        Case("unknown fields are ignored with a warning", chained, #"{"colour": "blue"}"#,
             [.warns("unknown field 'colour' ignored"), .unchangedExcept([])]),
        Case("read-only fields are ignored with a warning", chained, #"{"id": "99", "version": 7}"#,
             [.warns("read-only field 'id' ignored"), .unchangedExcept([])]),
        Case("state DELETED is destructive", chained, #"{"state": "DELETED"}"#,
             [.equals("state", #""DELETED""#), .destructive(true)]),
        Case("access is CONVERSATIONAL only", chained, #"{"access": "ADMINS_ONLY"}"#, [.fails(422, "VALIDATION_ERROR", "access")]),
        Case("access changes on a CONVERSATIONAL agent", conversational, #"{"access": "ADMINS_ONLY"}"#,
             [.equals("access", #""ADMINS_ONLY""#), .unchangedExcept(["access"])]),
        Case("every bad field is reported at once", chained, #"{"name": 5, "state": "X", "group_order": 1.5}"#,
             [.fails(422, "VALIDATION_ERROR", "name")]),
    ]

    func test_put_rules_tableDriven() {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 25)
        for c in Self.cases {
            let patch = Self.parse(c.patch).objectValue!
            let outcome = Result { try applyAgentPatch(patch, to: c.agent) }
            for check in c.checks {
                switch (check, outcome) {
                case (.fails(let status, let code, let field), .failure(let error as APIError)):
                    XCTAssertEqual(error.status, status, c.name)
                    XCTAssertEqual(error.code, code, c.name)
                    XCTAssertEqual(error.details.first?.field, field, "\(c.name): \(error.details)")
                case (.fails, _):
                    XCTFail("\(c.name): expected a refusal, got \(outcome)")
                case (_, .failure(let error)):
                    XCTFail("\(c.name): unexpected error \(error)")
                case (.equals(let path, let text), .success(let result)):
                    XCTAssertEqual(Self.value(at: path, in: result.agent), Self.parse(text), "\(c.name) at \(path)")
                case (.absent(let path), .success(let result)):
                    XCTAssertNil(Self.value(at: path, in: result.agent), "\(c.name) at \(path)")
                case (.unchangedExcept(let keys), .success(let result)):
                    for key in c.agent.keys where !keys.contains(key) && key != "actions" {
                        XCTAssertEqual(result.agent[key], c.agent[key], "\(c.name): \(key) changed")
                    }
                    XCTAssertEqual(Array(result.agent.keys), Array(c.agent.keys), "\(c.name): field order changed")
                    if !keys.contains("actions") && !keys.contains("ticket_conditions") {
                        XCTAssertEqual(result.agent["actions"], c.agent["actions"], "\(c.name): actions changed")
                    }
                case (.warns(let text), .success(let result)):
                    XCTAssertTrue(result.warnings.contains { $0.contains(text) }, "\(c.name): \(result.warnings)")
                case (.destructive(let expected), .success(let result)):
                    XCTAssertEqual(result.isDestructive, expected, c.name)
                }
            }
        }
    }

    func test_put_multipleBadFields_allNamedInDetails() throws {
        let patch = Self.parse(#"{"name": 5, "state": "X", "group_order": 1.5}"#).objectValue!
        XCTAssertThrowsError(try applyAgentPatch(patch, to: Self.chained)) { error in
            XCTAssertEqual(Set((error as? APIError)?.details.map(\.field) ?? []), ["name", "state", "group_order"])
        }
    }

    /// Follows `a.b.0.c` through objects and arrays.
    static func value(at path: String, in object: JSONObject) -> JSON? {
        var current: JSON? = .object(object)
        for part in path.split(separator: ".") {
            if let index = Int(part), let array = current?.arrayValue {
                current = array.indices.contains(index) ? array[index] : nil
            } else {
                current = current?[String(part)]
            }
        }
        return current
    }
}

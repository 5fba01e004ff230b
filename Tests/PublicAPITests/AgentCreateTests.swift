import NeoJSON
import XCTest
@testable import PublicAPI

/// `newAgentDocument(_:)`: the create union on autonomy_type (design §5).
final class AgentCreateTests: XCTestCase {
    private func body(_ text: String) -> JSONObject { AgentPatchTests.parse(text).objectValue! }

    private func refusal(_ text: String) -> APIError? {
        do {
            _ = try newAgentDocument(body(text))
            return nil
        } catch {
            return error as? APIError
        }
    }

    func test_create_agentic_buildsFindEntitiesAndTrailingAgenticAction() {
        let actions = AgentPatchTests.agentic["actions"]?.arrayValue ?? []
        XCTAssertEqual(actions.map { $0["action_type"] }, [.string("FIND_ENTITIES"), .string("AGENTIC")])
        XCTAssertEqual(actions.map { $0["id"] }, [.string("act_1"), .string("act_2")])
        XCTAssertEqual(actions[0]["input_as_dict"]?["ticket_conditions"], AgentPatchTests.agentic["ticket_conditions"])
        XCTAssertEqual(AgentPatchTests.agentic["toolbox"], AgentPatchTests.parse(#"{"tool_settings_by_type":{}}"#))
        XCTAssertEqual(AgentPatchTests.agentic["audience"], .null)
    }

    func test_create_chained_prependsFindEntitiesAndAssignsIds() {
        let actions = AgentPatchTests.chained["actions"]?.arrayValue ?? []
        XCTAssertEqual(actions.map { $0["id"] }, ["act_1", "act_2", "act_3", "act_4"].map(JSON.string))
        XCTAssertEqual(actions[0]["action_type"], "FIND_ENTITIES")
        XCTAssertEqual(Array(AgentPatchTests.chained.keys), [
            "id", "name", "description", "group_name", "group_order", "state", "trigger_type", "autonomy_type",
            "entity_type", "audience", "access", "process_entities_sequentially", "process_sub_entities_only_once",
            "schedule", "callback_settings", "show_in_psa_pod", "ticket_conditions", "time_entry_conditions",
            "actions", "agent_settings", "integrations", "toolbox", "created_at", "updated_at", "version"])
    }

    func test_create_conversational_defaultsAccessAndHasNoActions() {
        XCTAssertEqual(AgentPatchTests.conversational["actions"], .array([]))
        XCTAssertEqual(AgentPatchTests.conversational["audience"], "END_USER")
        XCTAssertEqual(AgentPatchTests.conversational["access"], "ALL_USERS")
    }

    func test_create_requiresNameTriggerTypeAndChainedActions() {
        XCTAssertEqual(Set(refusal("{}")?.details.map(\.field) ?? []), ["name", "trigger_type", "actions"])
    }

    func test_create_refusesFindEntitiesConditionsOnConversationalAndActionsOnAgentic() {
        XCTAssertEqual(refusal(#"{"name":"a","trigger_type":"NONE","actions":[{"action_type":"FIND_ENTITIES"}]}"#)?.code, "validation_error")
        XCTAssertEqual(refusal(#"{"name":"a","trigger_type":"NONE","autonomy_type":"CONVERSATIONAL","ticket_conditions":{}}"#)?.code,
                       "validation_error")
        XCTAssertEqual(refusal(#"{"name":"a","trigger_type":"NONE","autonomy_type":"AGENTIC","actions":[]}"#)?.code, "validation_error")
    }

    func test_create_badEnumsAndCreateOnlyFields_nameEachField() {
        let error = refusal(#"{"name":"a","trigger_type":"NONE","autonomy_type":"AGENTIC","entity_type":"Ticket","audience":"MSP","state":"DELETED"}"#)
        XCTAssertEqual(error?.status, 422)
        XCTAssertEqual(Set(error?.details.map(\.field) ?? []), ["entity_type", "audience", "state"])
    }

    func test_ifMatch_parsesQuotedWeakAndListTags() {
        XCTAssertNil(AgentRoutes.ifMatchVersions(nil))
        XCTAssertNil(AgentRoutes.ifMatchVersions("*"))
        XCTAssertEqual(AgentRoutes.ifMatchVersions("\"3\""), [3])
        XCTAssertEqual(AgentRoutes.ifMatchVersions("W/\"3\", \"5\""), [5], "a weak tag never matches (RFC 9110 §13.1.1)")
        XCTAssertEqual(AgentRoutes.ifMatchVersions("W/\"3\""), [])
        XCTAssertEqual(AgentRoutes.ifMatchVersions("\"abc\""), [])
    }

    func test_percentile95_nearestRank() {
        XCTAssertEqual(AgentRoutes.percentile95([]), 0)
        XCTAssertEqual(AgentRoutes.percentile95([4]), 4)
        XCTAssertEqual(AgentRoutes.percentile95((1...20).map(Double.init)), 19)
        XCTAssertEqual(AgentRoutes.percentile95((1...100).map(Double.init)), 95)
    }
}

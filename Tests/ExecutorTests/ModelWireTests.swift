import Executor
import NeoJSON
import XCTest

/// Request building and reply normalization for both model wires (design §10), every tolerated quirk one row.
final class ModelWireTests: XCTestCase {
    private func parse(_ text: String) -> JSON { try! JSON.parse(text) }

    private let tools = [ToolDefinition(name: "crm_lookup", description: "Look up a contact.",
                                        parameters: ["type": "object", "properties": ["contact_id": ["type": "string"]],
                                                     "required": ["contact_id"], "additionalProperties": false])]
    private var conversation: ModelRequest {
        ModelRequest(system: "be careful", messages: [
            .user("look up 42"),
            .assistant(text: "checking", calls: [ToolCall(id: "call_1", name: "crm_lookup", arguments: #"{"contact_id":"42"}"#),
                                                 ToolCall(id: "call_2", name: "crm_lookup", arguments: #"{"contact_id":"43"}"#)]),
            .toolResult(callId: "call_1", name: "crm_lookup", content: #"{"status":200}"#, isError: false),
            .toolResult(callId: "call_2", name: "crm_lookup", content: "refused", isError: true),
        ], tools: tools)
    }

    func test_openAIBody_isTheDocumentedShape() {
        let body = JSON.object(OpenAIChatWire.body(model: "m", conversation))
        XCTAssertEqual(body, parse("""
            {"model": "m", "messages": [
              {"role": "system", "content": "be careful"},
              {"role": "user", "content": "look up 42"},
              {"role": "assistant", "content": "checking", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "crm_lookup", "arguments": "{\\"contact_id\\":\\"42\\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "crm_lookup", "arguments": "{\\"contact_id\\":\\"43\\"}"}}]},
              {"role": "tool", "tool_call_id": "call_1", "content": "{\\"status\\":200}"},
              {"role": "tool", "tool_call_id": "call_2", "content": "refused"}],
             "stream": false,
             "tools": [{"type": "function", "function": {"name": "crm_lookup", "description": "Look up a contact.",
               "parameters": {"type": "object", "properties": {"contact_id": {"type": "string"}}, "required": ["contact_id"], "additionalProperties": false}}}]}
            """))
    }

    func test_openAIBody_toolOnlyAssistantHasNullContent_andNoToolsMeansNoToolsKey() {
        let request = ModelRequest(system: "s", messages: [.user("u"), .assistant(text: nil, calls: [ToolCall(id: "a", name: "t", arguments: "{}")])], tools: [])
        let body = OpenAIChatWire.body(model: "m", request)
        XCTAssertNil(body["tools"])
        XCTAssertEqual(body["messages"]?.arrayValue?[2]["content"], .null)
    }

    func test_anthropicBody_systemOnTop_resultsTogetherInOneUserMessage() {
        let body = JSON.object(AnthropicMessagesWire.body(model: "claude", conversation))
        XCTAssertEqual(body, parse("""
            {"model": "claude", "max_tokens": 4096, "system": "be careful", "messages": [
              {"role": "user", "content": "look up 42"},
              {"role": "assistant", "content": [{"type": "text", "text": "checking"},
                {"type": "tool_use", "id": "call_1", "name": "crm_lookup", "input": {"contact_id": "42"}},
                {"type": "tool_use", "id": "call_2", "name": "crm_lookup", "input": {"contact_id": "43"}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "{\\"status\\":200}"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "refused", "is_error": true}]}],
             "tools": [{"name": "crm_lookup", "description": "Look up a contact.",
               "input_schema": {"type": "object", "properties": {"contact_id": {"type": "string"}}, "required": ["contact_id"], "additionalProperties": false}}]}
            """))
    }

    /// One OpenAI-wire reply per quirk: the message JSON, then the calls it must normalize to.
    func test_openAIParse_toleratesEveryQuirk() throws {
        let cases: [(String, String, [ToolCall], String?)] = [
            ("string arguments (the spec)", #"{"content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "t", "arguments": "{\"a\":1}"}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: #"{"a":1}"#)], nil),
            ("arguments as an object (Ollama native)", #"{"tool_calls": [{"id": "c1", "function": {"name": "t", "arguments": {"a": 1}}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: #"{"a":1}"#)], nil),
            ("empty string arguments (LiteLLM)", #"{"content": "", "tool_calls": [{"id": "c1", "function": {"name": "t", "arguments": ""}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: "{}")], nil),
            ("null arguments", #"{"tool_calls": [{"id": "c1", "function": {"name": "t", "arguments": null}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: "{}")], nil),
            ("double-encoded (vLLM hermes)", #"{"tool_calls": [{"id": "c1", "function": {"name": "t", "arguments": "\"{\\\"a\\\":1}\""}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: #"{"a":1}"#)], nil),
            ("not JSON", #"{"tool_calls": [{"id": "c1", "function": {"name": "t", "arguments": "{\"a\":"}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: "{}", argumentsError: "arguments are not valid JSON (unexpected end of input at offset 5)")], nil),
            ("an array", #"{"tool_calls": [{"id": "c1", "function": {"name": "t", "arguments": "[1]"}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: "{}", argumentsError: "arguments must be a JSON object (got array)")], nil),
            ("missing and empty ids", #"{"tool_calls": [{"function": {"name": "t", "arguments": "{}"}}, {"id": "", "function": {"name": "u", "arguments": "{}"}}]}"#,
             [ToolCall(id: "GEN000001", name: "t", arguments: "{}"), ToolCall(id: "GEN000002", name: "u", arguments: "{}")], nil),
            ("a repeated id (llama.cpp parallel)", #"{"tool_calls": [{"id": "same", "function": {"name": "t", "arguments": "{}"}}, {"id": "same", "function": {"name": "t", "arguments": "{\"x\":1}"}}]}"#,
             [ToolCall(id: "same", name: "t", arguments: "{}"), ToolCall(id: "GEN000001", name: "t", arguments: #"{"x":1}"#)], nil),
            ("an id used earlier in the run", #"{"tool_calls": [{"id": "old", "function": {"name": "t", "arguments": "{}"}}]}"#,
             [ToolCall(id: "GEN000001", name: "t", arguments: "{}")], nil),
            ("text beside calls, content as parts", #"{"content": [{"type": "text", "text": "let me "}, {"type": "text", "text": "check"}], "tool_calls": [{"id": "c1", "function": {"name": "t", "arguments": "{}"}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: "{}")], "let me check"),
            ("no content key at all", #"{"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "t", "arguments": "{}"}}]}"#,
             [ToolCall(id: "c1", name: "t", arguments: "{}")], nil),
            ("a plain answer", #"{"content": "done"}"#, [], "done"),
        ]
        for (name, message, calls, text) in cases {
            var n = 0
            let reply = #"{"choices": [{"index": 0, "finish_reason": "stop", "message": \#(message)}], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}"#
            let turn = try OpenAIChatWire.parse(reply, takenIds: ["old"]) { n += 1; return String(format: "GEN%06d", n) }
            XCTAssertEqual(turn.calls, calls, name)
            XCTAssertEqual(turn.text, text, name)
            XCTAssertEqual(turn.usage, TokenUsage(prompt: 7, completion: 3), name)
            XCTAssertEqual(turn.stopReason, "stop", "\(name): calls are read whatever finish_reason says")
        }
    }

    func test_openAIParse_unreadableReplies_throwNamingTheCause() {
        for (body, expected) in [("<html>502</html>", "not JSON"), (#"{"choices": []}"#, "no choices[0].message"), ("", "not JSON")] {
            XCTAssertThrowsError(try OpenAIChatWire.parse(body, takenIds: [])) { error in
                XCTAssertTrue((error as? ModelReplyError)?.message.contains(expected) ?? false, "\(body): \(error)")
            }
        }
    }

    func test_anthropicParse_textAndToolUse_usageIncludesCache() throws {
        let reply = #"""
            {"id": "msg_1", "type": "message", "role": "assistant", "stop_reason": "tool_use",
             "content": [{"type": "text", "text": "Looking it up."}, {"type": "tool_use", "id": "toolu_1", "name": "crm_lookup", "input": {"contact_id": "42"}},
                         {"type": "tool_use", "id": "", "name": "crm_lookup", "input": "{\"contact_id\": \"43\"}"}],
             "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 4}}
            """#
        let turn = try AnthropicMessagesWire.parse(reply, takenIds: []) { "GEN000001" }
        XCTAssertEqual(turn.text, "Looking it up.")
        XCTAssertEqual(turn.calls, [ToolCall(id: "toolu_1", name: "crm_lookup", arguments: #"{"contact_id":"42"}"#),
                                    ToolCall(id: "GEN000001", name: "crm_lookup", arguments: #"{"contact_id":"43"}"#)])
        XCTAssertEqual(turn.usage, TokenUsage(prompt: 15, completion: 4))
        XCTAssertEqual(turn.stopReason, "tool_use")
        XCTAssertThrowsError(try AnthropicMessagesWire.parse(#"{"type": "message"}"#, takenIds: []))
    }

    func test_randomIds_areNineAlphanumerics() {
        for _ in 0..<100 {
            let id = ToolCallNormalizer.randomId()
            XCTAssertEqual(id.count, 9)
            XCTAssertTrue(id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        }
    }

    func test_transcript_roundTripsThroughItsStoredForm() {
        for message in conversation.messages + [.assistant(text: nil, calls: [ToolCall(id: "x", name: "t", arguments: "{}", argumentsError: "bad")])] {
            XCTAssertEqual(ChatMessage(json: message.json), message)
        }
    }
}

import Executor
import NeoJSON
import XCTest

/// The streamed-reply readers (design §13): SSE framing and both wires' chunk assembly, fed whole and split at
/// every byte offset (as the network may hand the body over), always to the same deltas and the same turn.
final class ModelStreamTests: XCTestCase {
    static let openAIStream = """
        data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

        data: {"id":"c","choices":[{"index":0,"delta":{"content":"Héllo "},"finish_reason":null}]}

        : a comment line

        data: {"id":"c","choices":[{"index":0,"delta":{"content":"wörld 🌍"},"finish_reason":null}]}

        data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"crm_lookup","arguments":"{\\"contact"}}]},"finish_reason":null}]}

        data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"_id\\": \\"42\\"}"}}]},"finish_reason":null}]}

        data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"notify","arguments":""}}]},"finish_reason":null}]}

        data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

        data: {"id":"c","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":9}}

        data: [DONE]


        """

    static let anthropicStream = """
        event: message_start\r
        data: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":20,"cache_read_input_tokens":5,"output_tokens":1}}}\r
        \r
        event: content_block_start\r
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\r
        \r
        event: ping\r
        data: {"type":"ping"}\r
        \r
        event: content_block_delta\r
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Looking "}}\r
        \r
        event: content_block_delta\r
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"it up."}}\r
        \r
        event: content_block_stop\r
        data: {"type":"content_block_stop","index":0}\r
        \r
        event: content_block_start\r
        data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"crm_lookup","input":{}}}\r
        \r
        event: content_block_delta\r
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"contact_id\\": "}}\r
        \r
        event: content_block_delta\r
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\\"42\\"}"}}\r
        \r
        event: message_delta\r
        data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":15}}\r
        \r
        event: message_stop\r
        data: {"type":"message_stop"}\r
        \r

        """

    /// Feeds `text` in two pieces split at byte `at` (nil: whole); returns the deltas and the turn.
    private func read(_ wire: ModelWire, _ text: String, splitAt at: Int? = nil) throws -> ([String], ModelTurn) {
        var a = ModelStreamAssembler(wire: wire)
        let bytes = Array(text.utf8)
        var deltas: [String] = []
        if let at {
            deltas += try a.feed(bytes[..<at])
            deltas += try a.feed(bytes[at...])
        } else {
            deltas += try a.feed(bytes)
        }
        return (deltas, try a.finish(takenIds: [], freshId: { "fresh" }))
    }

    func test_openAI_deltasAndAssembledToolCalls_atEveryByteSplit() throws {
        let (deltas, turn) = try read(.openAIChat, Self.openAIStream)
        XCTAssertEqual(deltas, ["Héllo ", "wörld 🌍"])
        XCTAssertEqual(turn.text, "Héllo wörld 🌍")
        XCTAssertEqual(turn.calls, [ToolCall(id: "call_1", name: "crm_lookup", arguments: #"{"contact_id":"42"}"#),
                                    ToolCall(id: "call_2", name: "notify", arguments: "{}")])
        XCTAssertEqual(turn.usage, TokenUsage(prompt: 31, completion: 9))
        XCTAssertEqual(turn.stopReason, "tool_calls")
        for at in 0...Self.openAIStream.utf8.count {
            let (d, t) = try read(.openAIChat, Self.openAIStream, splitAt: at)
            XCTAssertEqual(d.joined(), "Héllo wörld 🌍", "split at \(at)")
            XCTAssertEqual(t, turn, "split at \(at)")
        }
    }

    func test_openAI_byteByByte_sameTurn() throws {
        var a = ModelStreamAssembler(wire: .openAIChat)
        var text = ""
        for b in Self.openAIStream.utf8 { text += try a.feed([b]).joined() }
        XCTAssertEqual(text, "Héllo wörld 🌍")
        XCTAssertEqual(try a.finish(takenIds: [], freshId: { "fresh" }), try read(.openAIChat, Self.openAIStream).1)
    }

    func test_anthropic_crlfEvents_textAndInputJSON_atEveryByteSplit() throws {
        let (deltas, turn) = try read(.anthropicMessages, Self.anthropicStream)
        XCTAssertEqual(deltas, ["Looking ", "it up."])
        XCTAssertEqual(turn.text, "Looking it up.")
        XCTAssertEqual(turn.calls, [ToolCall(id: "toolu_1", name: "crm_lookup", arguments: #"{"contact_id":"42"}"#)])
        XCTAssertEqual(turn.usage, TokenUsage(prompt: 25, completion: 15))
        XCTAssertEqual(turn.stopReason, "tool_use")
        for at in 0...Self.anthropicStream.utf8.count {
            XCTAssertEqual(try read(.anthropicMessages, Self.anthropicStream, splitAt: at).1, turn, "split at \(at)")
        }
    }

    func test_streamCutBeforeTheEnd_isAnErrorNamingIt() {
        let cut = String(Self.openAIStream.prefix(300))
        XCTAssertThrowsError(try read(.openAIChat, cut)) { error in
            XCTAssertTrue("\(error)".contains("ended before the model finished"), "\(error)")
        }
        let anthropicCut = Self.anthropicStream.components(separatedBy: "event: message_stop")[0]
        XCTAssertThrowsError(try read(.anthropicMessages, anthropicCut))
    }

    func test_lastEventWithoutItsBlankLine_stillCounts_andItsDeltaIsFlushed() throws {
        var a = ModelStreamAssembler(wire: .openAIChat)
        let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}]}\n\ndata: [DONE]\n"
        XCTAssertEqual(try a.feed(Array(body.utf8)), ["hi", " there"])
        XCTAssertEqual(try a.flush(), [])
        XCTAssertEqual(try a.finish(takenIds: []).text, "hi there")
        var b = ModelStreamAssembler(wire: .openAIChat)
        let late = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\ndata: [DONE]\n"
        _ = try b.feed(Array(late.utf8))
        XCTAssertThrowsError(try b.flush(), "two data lines of one event join into text that is no JSON chunk")
        var c = ModelStreamAssembler(wire: .openAIChat)
        _ = try c.feed(Array("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}\n".utf8))
        XCTAssertEqual(try c.flush(), ["late"], "a last event missing only its blank line is still read, its delta handed out")
        XCTAssertThrowsError(try c.finish(takenIds: []), "no [DONE]: the stream did not finish")
    }

    func test_providerErrorEvents_failWithTheirMessage() {
        let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
        XCTAssertThrowsError(try read(.anthropicMessages, overloaded)) { XCTAssertTrue("\($0)".contains("Overloaded"), "\($0)") }
        let openAI = "data: {\"error\":{\"message\":\"context length exceeded\"}}\n\n"
        XCTAssertThrowsError(try read(.openAIChat, openAI)) { XCTAssertTrue("\($0)".contains("context length exceeded"), "\($0)") }
        XCTAssertThrowsError(try read(.openAIChat, "data: {not json\n\n"))
    }

    func test_sseDecoder_fieldsCommentsMultilineDataAndLimits() throws {
        var d = SSEDecoder()
        let events = try d.feed(Array("retry: 10\n: hi\nevent: a\ndata: one\ndata:two\nid: 4\n\ndata\n\n\n\r\n".utf8))
        XCTAssertEqual(events, [SSEDecoder.Event(name: "a", data: "one\ntwo"), SSEDecoder.Event(name: "message", data: "")])
        var big = SSEDecoder()
        XCTAssertThrowsError(try big.feed([UInt8](repeating: 65, count: SSEDecoder.maxLine + 1)))
    }
}

import Basics
import Foundation
import HTTPServer
import NeoJSON
import Synchronization

/// A model provider for tests, on 127.0.0.1 (our HTTPServer): answers each request with the next reply of
/// its script, in OpenAI Chat Completions or Anthropic Messages format, records every request, and
/// answers 400 (which no client retries) to anything past the script or failing a reply's expectation,
/// noting it in `failures`. Point a provider at `baseURL`.
final class ScriptedModelServer: @unchecked Sendable {
    /// One canned reply and what the request it answers must look like.
    struct Reply: Sendable {
        var status = 200
        var headers: [(String, String)] = []
        var body: String
        var delay = 0.0
        /// A streamed reply (`text/event-stream`): each piece is written after its delay, then the stream ends.
        var chunks: [(delay: Double, text: String)]?
        /// Returns why the request is not the one expected, or nil.
        var expect: (@Sendable (Seen) -> String?)?
    }

    /// A request as received.
    struct Seen: Sendable {
        let path: String
        let headers: HTTPHeaders
        let body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: JSON { (try? JSON.parse(body)) ?? .null }
        /// The conversation: OpenAI `messages` (system included) or Anthropic `messages`.
        var messages: [JSON] { json["messages"]?.arrayValue ?? [] }
        /// The offered tool names, either wire.
        var toolNames: [String] { (json["tools"]?.arrayValue ?? []).compactMap { $0["function"]?["name"]?.stringValue ?? $0["name"]?.stringValue } }
    }

    private final class State: @unchecked Sendable {
        let lock = NSLock()
        var script: [Reply] = []
        var requests: [Seen] = []
        var failures: [String] = []
    }

    private let state = State()
    private var server: HTTPServer!
    private(set) var port = 0
    private var stopped = false

    init(_ script: [Reply] = []) throws {
        state.script = script
        var config = HTTPServerConfiguration()
        config.host = "127.0.0.1"
        config.port = 0
        config.threads = 1
        config.shutdownDeadline = 1
        config.maxBody = 8 << 20
        server = HTTPServer(configuration: config, handler: { [state] request, responder in
            state.lock.lock()
            let seen = Seen(path: request.path, headers: request.headers, body: request.body)
            state.requests.append(seen)
            let number = state.requests.count
            var reply: Reply
            if state.script.isEmpty {
                reply = Reply(status: 400, body: #"{"error": {"message": "unexpected request \#(number): the script is exhausted"}}"#)
                state.failures.append("unexpected request \(number) to \(request.path): \(seen.text.prefix(300))")
            } else {
                reply = state.script.removeFirst()
                if let problem = reply.expect?(seen) {
                    state.failures.append("request \(number): \(problem)")
                    reply = Reply(status: 400, body: #"{"error": {"message": "request \#(number) was not the one expected"}}"#)
                }
            }
            state.lock.unlock()
            var response = HTTPResponse(status: reply.status, headers: HTTPHeaders([("Content-Type", "application/json")] + reply.headers),
                                        body: Array(reply.body.utf8))
            if let chunks = reply.chunks {
                response.headers.set("Content-Type", "text/event-stream")
                let stream = ResponseStream()
                response.stream = stream
                DispatchQueue.global().async {
                    while !stream.isOpen { usleep(500) }
                    for chunk in chunks {
                        if chunk.delay > 0 { usleep(UInt32(chunk.delay * 1_000_000)) }
                        stream.write(Array(chunk.text.utf8))
                    }
                    stream.finish()
                }
            }
            if reply.delay > 0 {
                DispatchQueue.global().asyncAfter(deadline: .now() + reply.delay) { [response] in responder.send(response) }
            } else {
                responder.send(response)
            }
        }, errorResponder: { HTTPResponse(status: $0.status) })
        port = try server.start()
    }

    deinit { stop() }

    /// `http://127.0.0.1:PORT/v1`: both wires append their path.
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    func stop() {
        guard !stopped else { return }
        stopped = true
        server.shutdown()
    }

    /// Appends replies to the script.
    func add(_ replies: Reply...) { state.lock.lock(); state.script += replies; state.lock.unlock() }

    var requests: [Seen] { state.lock.lock(); defer { state.lock.unlock() }; return state.requests }
    var failures: [String] { state.lock.lock(); defer { state.lock.unlock() }; return state.failures }
    /// Replies not yet used.
    var remaining: Int { state.lock.lock(); defer { state.lock.unlock() }; return state.script.count }

    // MARK: replies

    /// An OpenAI-format answer: optional text and tool calls (`arguments` sent as given: a JSON string's
    /// text, or raw JSON when `raw` is set, for the quirk cases).
    static func openAI(text: String? = nil, calls: [(id: String?, name: String, arguments: String)] = [], raw: Bool = false,
                       prompt: Int = 100, completion: Int = 20, expect: (@Sendable (Seen) -> String?)? = nil) -> Reply {
        var message = JSONObject([("role", "assistant"), ("content", text.map(JSON.string) ?? .null)])
        if !calls.isEmpty {
            message["tool_calls"] = .array(calls.map { call in
                var item = JSONObject([("type", "function"), ("function", .object(JSONObject([
                    ("name", .string(call.name)), ("arguments", raw ? ((try? JSON.parse(call.arguments)) ?? .string(call.arguments)) : .string(call.arguments)),
                ])))])
                if let id = call.id { item["id"] = .string(id) }
                return .object(item)
            })
        }
        let body = JSONObject([("id", "chatcmpl-test"), ("object", "chat.completion"), ("model", "test-model"),
                               ("choices", [.object(JSONObject([("index", 0), ("message", .object(message)),
                                                                ("finish_reason", .string(calls.isEmpty ? "stop" : "tool_calls"))]))]),
                               ("usage", .object(JSONObject([("prompt_tokens", .int(Int64(prompt))), ("completion_tokens", .int(Int64(completion))),
                                                             ("total_tokens", .int(Int64(prompt + completion)))])))])
        return Reply(body: JSON.object(body).serializedString(), expect: expect)
    }

    /// An Anthropic-format answer: optional text and `tool_use` blocks.
    static func anthropic(text: String? = nil, calls: [(id: String, name: String, input: JSON)] = [], input: Int = 100, output: Int = 20,
                          expect: (@Sendable (Seen) -> String?)? = nil) -> Reply {
        var blocks: [JSON] = []
        if let text { blocks.append(.object(JSONObject([("type", "text"), ("text", .string(text))]))) }
        for call in calls {
            blocks.append(.object(JSONObject([("type", "tool_use"), ("id", .string(call.id)), ("name", .string(call.name)), ("input", call.input)])))
        }
        let body = JSONObject([("id", "msg_test"), ("type", "message"), ("role", "assistant"), ("model", "claude-test"), ("content", .array(blocks)),
                               ("stop_reason", .string(calls.isEmpty ? "end_turn" : "tool_use")),
                               ("usage", .object(JSONObject([("input_tokens", .int(Int64(input))), ("output_tokens", .int(Int64(output)))])))])
        return Reply(body: JSON.object(body).serializedString(), expect: expect)
    }

    /// A streamed OpenAI answer: `pieces` of text as content deltas, then optional tool calls (each split in
    /// two argument pieces), usage, `[DONE]`. `pause` seconds pass before each piece; `breakAfter` cuts the
    /// stream after that many pieces with no `[DONE]` (a model failing mid-stream).
    static func openAIStream(_ pieces: [String], calls: [(id: String, name: String, arguments: String)] = [], pause: Double = 0,
                             breakAfter: Int? = nil, expect: (@Sendable (Seen) -> String?)? = nil) -> Reply {
        func chunk(_ delta: JSONObject, finish: String? = nil) -> String {
            let choice = JSONObject([("index", 0), ("delta", .object(delta)), ("finish_reason", finish.map(JSON.string) ?? .null)])
            return "data: " + JSON.object(JSONObject([("id", "chatcmpl-s"), ("object", "chat.completion.chunk"), ("choices", [.object(choice)])])).serializedString() + "\n\n"
        }
        var out: [(Double, String)] = [(0, chunk(JSONObject([("role", "assistant"), ("content", "")])))]
        for (i, piece) in pieces.enumerated() {
            if let cut = breakAfter, i >= cut { return Reply(body: "", chunks: out, expect: expect) }
            out.append((pause, chunk(JSONObject([("content", .string(piece))]))))
        }
        for (i, call) in calls.enumerated() {
            let half = call.arguments.index(call.arguments.startIndex, offsetBy: call.arguments.count / 2)
            out.append((0, chunk(JSONObject([("tool_calls", [.object(JSONObject([("index", .int(Int64(i))), ("id", .string(call.id)), ("type", "function"),
                ("function", .object(JSONObject([("name", .string(call.name)), ("arguments", .string(String(call.arguments[..<half])))])))]))])]))))
            out.append((0, chunk(JSONObject([("tool_calls", [.object(JSONObject([("index", .int(Int64(i))),
                ("function", .object(JSONObject([("arguments", .string(String(call.arguments[half...])))])))]))])]))))
        }
        out.append((0, chunk(JSONObject(), finish: calls.isEmpty ? "stop" : "tool_calls")))
        out.append((0, "data: " + JSON.object(JSONObject([("id", "chatcmpl-s"), ("choices", []),
                                                          ("usage", .object(JSONObject([("prompt_tokens", 50), ("completion_tokens", 7)])))])).serializedString() + "\n\n"))
        out.append((0, "data: [DONE]\n\n"))
        return Reply(body: "", chunks: out, expect: expect)
    }

    /// A streamed Anthropic answer: text deltas in one text block, then message_stop.
    static func anthropicStream(_ pieces: [String], pause: Double = 0) -> Reply {
        func event(_ name: String, _ body: JSONObject) -> String { "event: \(name)\ndata: \(JSON.object(body).serializedString())\n\n" }
        var out: [(Double, String)] = [
            (0, event("message_start", JSONObject([("type", "message_start"), ("message", .object(JSONObject([("id", "msg_s"), ("usage", .object(JSONObject([("input_tokens", 40)])))])))]))),
            (0, event("content_block_start", JSONObject([("type", "content_block_start"), ("index", 0), ("content_block", .object(JSONObject([("type", "text"), ("text", "")])))]))),
        ]
        for piece in pieces {
            out.append((pause, event("content_block_delta", JSONObject([("type", "content_block_delta"), ("index", 0),
                                                                         ("delta", .object(JSONObject([("type", "text_delta"), ("text", .string(piece))])))]))))
        }
        out.append((0, event("content_block_stop", JSONObject([("type", "content_block_stop"), ("index", 0)]))))
        out.append((0, event("message_delta", JSONObject([("type", "message_delta"), ("delta", .object(JSONObject([("stop_reason", "end_turn")]))),
                                                         ("usage", .object(JSONObject([("output_tokens", 9)])))]))))
        out.append((0, event("message_stop", JSONObject([("type", "message_stop")]))))
        return Reply(body: "", chunks: out)
    }

    /// An error answer in OpenAI's shape.
    static func error(_ status: Int, code: String, message: String, headers: [(String, String)] = []) -> Reply {
        Reply(status: status, headers: headers,
              body: JSON.object(JSONObject([("error", .object(JSONObject([("message", .string(message)), ("type", .string(code)), ("code", .string(code))])))]))
                .serializedString())
    }

    // MARK: expectations

    /// The last message is a tool result whose content contains `text` (either wire).
    static func lastToolResult(contains text: String) -> @Sendable (Seen) -> String? {
        { seen in
            let last = seen.messages.last
            let content = last?["role"] == "tool" ? last?["content"]?.stringValue
                : last?["content"]?.arrayValue?.compactMap { $0["type"] == "tool_result" ? $0["content"]?.stringValue : nil }.joined(separator: "\n")
            guard let content, content.contains(text) else {
                return "expected the last message to be a tool result containing '\(text)', got \(last?.serializedString().prefix(400) ?? "nothing")"
            }
            return nil
        }
    }

    /// The request offers exactly these tools.
    static func tools(_ names: [String]) -> @Sendable (Seen) -> String? {
        { seen in seen.toolNames == names ? nil : "expected tools \(names), got \(seen.toolNames)" }
    }
}

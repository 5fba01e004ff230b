import Foundation
import NeoJSON

/// Server-Sent Events framing (WHATWG HTML §9.2), incrementally: bytes go in as the network hands them over,
/// split anywhere (inside a line, inside a UTF-8 sequence, between CR and LF), and complete events come out.
/// Only `event` and `data` matter to a model stream; comments and other fields are skipped.
public struct SSEDecoder: Sendable {
    /// One dispatched event: its `event:` name ("message" when none) and its `data:` lines joined by LF.
    public struct Event: Sendable, Equatable {
        public var name: String
        public var data: String
        public init(name: String, data: String) {
            self.name = name
            self.data = data
        }
    }

    /// A line longer than this is refused (a model's event is a few KiB; this bounds the buffer).
    public static let maxLine = 1 << 20

    private var line: [UInt8] = []
    private var lastWasCR = false
    private var name = ""
    private var data: [String] = []
    private var hasData = false

    public init() {}

    /// Feeds bytes; returns the events they completed. Throws on a line over `maxLine`.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [Event] {
        var out: [Event] = []
        for b in bytes {
            if b == 10 && lastWasCR { lastWasCR = false; continue }   // the LF of a CRLF
            lastWasCR = b == 13
            if b == 10 || b == 13 {
                if let event = endLine() { out.append(event) }
                continue
            }
            guard line.count < Self.maxLine else { throw ModelReplyError("the model's stream has a line over \(Self.maxLine) bytes") }
            line.append(b)
        }
        return out
    }

    /// The end of the body: a line cut off before its line end is dropped, and an event whose lines all
    /// ended but whose blank line never came is still dispatched.
    public mutating func finish() -> Event? {
        line.removeAll()
        return endLine()
    }

    private mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            // A blank line dispatches the event being built.
            defer { name = ""; data = []; hasData = false }
            return hasData ? Event(name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n")) : nil
        }
        if line[0] == 58 { return nil }   // ":" comment
        let colon = line.firstIndex(of: 58) ?? line.count
        let field = String(decoding: line[..<colon], as: UTF8.self)
        var from = colon < line.count ? colon + 1 : colon
        if from < line.count && line[from] == 32 { from += 1 }
        let value = String(decoding: line[from...], as: UTF8.self)
        switch field {
        case "event": name = value
        case "data": data.append(value); hasData = true
        default: break
        }
        return nil
    }
}

/// Reads a streamed model reply (`stream: true`) as it arrives: text deltas are handed out at once, tool
/// calls are assembled from their pieces, and `finish` gives the same `ModelTurn` the non-streaming parse
/// would. One per attempt; not thread-safe (the caller serializes feeds).
public struct ModelStreamAssembler: Sendable {
    public let wire: ModelWire
    private var decoder = SSEDecoder()
    private var text = ""
    /// Tool calls in the order they began: OpenAI keys them by `index`, Anthropic by content-block index.
    private var calls: [(key: Int, id: String?, name: String, arguments: String)] = []
    private var usage = TokenUsage()
    private var stopReason: String?
    private var done = false
    private var failure: String?

    public init(wire: ModelWire) { self.wire = wire }

    /// Feeds bytes of the body; returns the text deltas they completed, in order. Throws when the stream
    /// reports an error (the provider's message) or is malformed.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [String] {
        var deltas: [String] = []
        for event in try decoder.feed(bytes) where !done {
            switch wire {
            case .openAIChat: try openAI(event, &deltas)
            case .anthropicMessages: try anthropic(event, &deltas)
            }
        }
        return deltas
    }

    /// At the end of the body: the deltas of a last event whose lines ended but whose blank line never came.
    public mutating func flush() throws -> [String] {
        guard !done, let last = decoder.finish() else { return [] }
        var deltas: [String] = []
        switch wire {
        case .openAIChat: try openAI(last, &deltas)
        case .anthropicMessages: try anthropic(last, &deltas)
        }
        return deltas
    }

    /// The whole turn, once the stream ended (after `flush`); throws when it ended before the provider said it was done.
    public mutating func finish(takenIds: Set<String>, freshId: () -> String = ToolCallNormalizer.randomId) throws -> ModelTurn {
        _ = try flush()
        if let failure { throw ModelReplyError(failure) }
        guard done else { throw ModelReplyError("the model's stream ended before the model finished its answer") }
        var taken = takenIds
        var out: [ToolCall] = []
        for call in calls {
            let (arguments, problem) = ToolCallNormalizer.arguments(.string(call.arguments))
            let id = ToolCallNormalizer.callId(call.id, taken: taken, fresh: freshId)
            taken.insert(id)
            out.append(ToolCall(id: id, name: call.name, arguments: arguments, argumentsError: problem))
        }
        return ModelTurn(text: text.allSatisfy(\.isWhitespace) ? nil : text, calls: out, usage: usage, stopReason: stopReason)
    }

    // MARK: OpenAI Chat Completions chunks

    private mutating func openAI(_ event: SSEDecoder.Event, _ deltas: inout [String]) throws {
        let data = event.data.trimmingCharacters(in: .whitespaces)
        if data == "[DONE]" { done = true; return }
        guard let chunk = try? JSON.parse(Array(data.utf8)) else {
            throw ModelReplyError("the model's stream sent a chunk that is not JSON: \(OpenAIChatWire.excerpt(data))")
        }
        if let error = chunk["error"], !error.isNull {
            throw fail("the model's stream reported an error: \(error["message"]?.stringValue ?? error.serializedString().prefix(200).description)")
        }
        if let u = chunk["usage"], !u.isNull {
            usage = TokenUsage(prompt: Int(u["prompt_tokens"]?.intValue ?? 0), completion: Int(u["completion_tokens"]?.intValue ?? 0))
        }
        guard let choice = chunk["choices"]?.arrayValue?.first else { return }
        if let reason = choice["finish_reason"]?.stringValue { stopReason = reason }
        guard let delta = choice["delta"] else { return }
        if let piece = OpenAIChatWire.text(delta["content"]) ?? delta["content"]?.stringValue, !piece.isEmpty {
            text += piece
            deltas.append(piece)
        }
        for item in delta["tool_calls"]?.arrayValue ?? [] {
            let key = Int(item["index"]?.intValue ?? Int64(calls.count))
            let function = item["function"]
            let piece = function?["arguments"]
            let argumentText = piece?.stringValue ?? (piece.map { $0.isNull ? "" : $0.serializedString() } ?? "")
            if let at = calls.firstIndex(where: { $0.key == key }) {
                if calls[at].id == nil, let id = item["id"]?.stringValue, !id.isEmpty { calls[at].id = id }
                if let name = function?["name"]?.stringValue, calls[at].name.isEmpty { calls[at].name = name }
                calls[at].arguments += argumentText
            } else {
                calls.append((key, item["id"]?.stringValue, function?["name"]?.stringValue ?? "", argumentText))
            }
        }
    }

    // MARK: Anthropic Messages events

    private mutating func anthropic(_ event: SSEDecoder.Event, _ deltas: inout [String]) throws {
        guard let body = try? JSON.parse(Array(event.data.utf8)) else {
            throw ModelReplyError("the model's stream sent an event that is not JSON: \(OpenAIChatWire.excerpt(event.data))")
        }
        let type = body["type"]?.stringValue ?? event.name
        switch type {
        case "message_start":
            let u = body["message"]?["usage"]
            let prompt = [u?["input_tokens"], u?["cache_creation_input_tokens"], u?["cache_read_input_tokens"]].reduce(0) { $0 + Int($1?.intValue ?? 0) }
            usage = TokenUsage(prompt: prompt, completion: Int(u?["output_tokens"]?.intValue ?? 0))
        case "content_block_start":
            let block = body["content_block"]
            if block?["type"]?.stringValue == "tool_use" {
                let key = Int(body["index"]?.intValue ?? Int64(calls.count))
                // The input arrives as input_json_delta pieces; a non-empty `input` here is the whole of it.
                let initial = block?["input"].flatMap { $0.objectValue?.isEmpty == false ? $0.serializedString() : nil } ?? ""
                calls.append((key, block?["id"]?.stringValue, block?["name"]?.stringValue ?? "", initial))
            } else if let t = block?["text"]?.stringValue, !t.isEmpty {
                text += t
                deltas.append(t)
            }
        case "content_block_delta":
            let delta = body["delta"]
            switch delta?["type"]?.stringValue {
            case "text_delta":
                if let t = delta?["text"]?.stringValue, !t.isEmpty {
                    text += t
                    deltas.append(t)
                }
            case "input_json_delta":
                let key = Int(body["index"]?.intValue ?? -1)
                if let at = calls.firstIndex(where: { $0.key == key }) { calls[at].arguments += delta?["partial_json"]?.stringValue ?? "" }
            default:
                break
            }
        case "message_delta":
            if let reason = body["delta"]?["stop_reason"]?.stringValue { stopReason = reason }
            if let out = body["usage"]?["output_tokens"]?.intValue { usage.completion = Int(out) }
        case "message_stop":
            done = true
        case "error":
            throw fail("the model's stream reported an error: \(body["error"]?["message"]?.stringValue ?? "unknown error")")
        default:
            break   // ping, content_block_stop, and types added later
        }
    }

    private mutating func fail(_ message: String) -> ModelReplyError {
        failure = message
        done = true
        return ModelReplyError(message)
    }
}

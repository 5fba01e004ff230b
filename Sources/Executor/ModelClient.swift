import Basics
import Foundation
import NeoJSON

/// Calls a model provider through the external-API executor (so the upstream policy, SSRF pin, TLS,
/// timeouts and secret scrubbing are those of every external call), retrying per `ModelRetryPolicy`
/// within a deadline. Blocks the calling thread (the runner's) while curl works on its own.
public final class ModelClient: Sendable {
    /// One answered model call.
    public struct Outcome: Sendable {
        public let turn: ModelTurn
        /// Attempts made (1 + retries).
        public let attempts: Int
        /// Wall time of every attempt and wait, in milliseconds.
        public let durationMs: Double
    }

    /// Why a call produced no turn; `message` never holds the key.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let message: String
        public let attempts: Int
        /// The deadline, not the provider, ended the call.
        public var outOfTime = false
        public var description: String { message }
    }

    let executor: ExternalAPIExecutor
    let sleep: @Sendable (Double) -> Void
    let jitter: @Sendable () -> Double

    public init(executor: ExternalAPIExecutor, sleep: @escaping @Sendable (Double) -> Void = { Thread.sleep(forTimeInterval: $0) },
                jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.executor = executor
        self.sleep = sleep
        self.jitter = jitter
    }

    /// Sends `request` to `provider` (whose `endpoint` is passed in, built once per run), retrying;
    /// gives up when `deadline` (monotonic seconds, `ModelClient.now()`) would pass before the next attempt.
    /// With `onText` the reply is asked for as a stream (`stream: true`) and each text delta goes to `onText`
    /// as it arrives (on the curl thread); the outcome is the same whole turn. A stream that breaks after its
    /// first byte is not retried (its text is already out). `model` replaces the provider's model (SMART tier).
    public func complete(_ provider: ModelProvider, endpoint: ExternalAPIConfig, _ request: ModelRequest, tenant: String,
                         takenIds: Set<String>, deadline: Double, trace: TraceContext? = nil, model: String? = nil,
                         onText: (@Sendable (String) -> Void)? = nil) -> Result<Outcome, Failure> {
        var body: JSONObject
        switch provider.wire {
        case .openAIChat: body = OpenAIChatWire.body(model: model ?? provider.model, request)
        case .anthropicMessages: body = AnthropicMessagesWire.body(model: model ?? provider.model, request)
        }
        if onText != nil {
            body["stream"] = true
            if provider.wire == .openAIChat { body["stream_options"] = .object(JSONObject([("include_usage", true)])) }
        }
        let started = Self.now()
        var retries = 0
        while true {
            var config = endpoint
            let remainingMs = Int((deadline - Self.now()) * 1000)
            guard remainingMs > 0 else { return .failure(Failure(message: "the run's time ran out waiting for the model", attempts: retries, outOfTime: true)) }
            config.timeoutMs = min(endpoint.timeoutMs, remainingMs)
            let decision: ModelRetryPolicy.Decision
            let stream: StreamReader? = onText.map { StreamReader(wire: provider.wire, onText: $0) }
            var onBody: (@Sendable ([UInt8]) -> Void)?
            if let stream { onBody = { bytes in stream.feed(bytes) } }
            let answer: Result<UpstreamResult, ExecutorError> = executor.invokeAndWait(config, Invocation(body: body), tenant: tenant, trace: trace,
                                                                                          kind: .model, onBody: onBody)
            switch answer {
            case .success(let result) where (200..<300).contains(result.status):
                if result.truncated {
                    return .failure(Failure(message: "the model's reply is larger than \(ModelProvider.maxReplyBytes) bytes", attempts: retries + 1))
                }
                do {
                    let isStream = result.headers.contains { $0.0.lowercased() == "content-type" && $0.1.lowercased().hasPrefix("text/event-stream") }
                    let turn: ModelTurn
                    if let stream, isStream {
                        turn = try stream.finish(takenIds: takenIds)
                    } else {
                        turn = provider.wire == .openAIChat
                            ? try OpenAIChatWire.parse(result.body, takenIds: takenIds)
                            : try AnthropicMessagesWire.parse(result.body, takenIds: takenIds)
                        // A server that ignored `stream: true` answered whole: its text is one delta.
                        if let text = turn.text { onText?(text) }
                    }
                    UpstreamMetrics.modelInputTokens.add(UInt64(max(0, turn.usage.prompt)))
                    UpstreamMetrics.modelOutputTokens.add(UInt64(max(0, turn.usage.completion)))
                    return .success(Outcome(turn: turn, attempts: retries + 1, durationMs: (Self.now() - started) * 1000))
                } catch let e as ModelReplyError {
                    return .failure(Failure(message: e.message, attempts: retries + 1))
                } catch {
                    return .failure(Failure(message: "the model's reply could not be read", attempts: retries + 1))
                }
            case .success(let result):
                decision = ModelRetryPolicy.decide(status: result.status, headers: result.headers, body: result.body,
                                                   retriesSoFar: retries, maxRetries: provider.maxRetries, jitter: jitter())
            case .failure(let e) where e.kind == .timeout && Self.now() >= deadline - 0.01:
                return .failure(Failure(message: e.message, attempts: retries + 1, outOfTime: true))
            case .failure(let e):
                decision = ModelRetryPolicy.decide(transportError: e, retriesSoFar: retries, maxRetries: provider.maxRetries, jitter: jitter())
            }
            switch decision {
            case .fail(let message):
                return .failure(Failure(message: message, attempts: retries + 1))
            case .retry(let wait):
                if Self.now() + wait >= deadline {
                    return .failure(Failure(message: "the run's time ran out before the model could be retried", attempts: retries + 1, outOfTime: true))
                }
                sleep(wait)
                retries += 1
            }
        }
    }

    /// Feeds one attempt's streamed body to its assembler and hands the text deltas on.
    private final class StreamReader: Sendable {
        private let assembler: Lock<(ModelStreamAssembler, error: ModelReplyError?)>
        private let onText: @Sendable (String) -> Void

        init(wire: ModelWire, onText: @escaping @Sendable (String) -> Void) {
            assembler = Lock((ModelStreamAssembler(wire: wire), nil))
            self.onText = onText
        }

        func feed(_ bytes: [UInt8]) {
            let deltas = assembler.withLock { state -> [String] in
                guard state.error == nil else { return [] }
                do { return try state.0.feed(bytes) } catch {
                    state.error = error as? ModelReplyError ?? ModelReplyError("the model's stream could not be read")
                    return []
                }
            }
            for delta in deltas { onText(delta) }
        }

        func finish(takenIds: Set<String>) throws -> ModelTurn {
            let late = try assembler.withLock { state -> [String] in
                if let error = state.error { throw error }
                return try state.0.flush()
            }
            for delta in late { onText(delta) }
            return try assembler.withLock { try $0.0.finish(takenIds: takenIds) }
        }
    }

    /// Monotonic seconds, the clock deadlines are in.
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

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
    public func complete(_ provider: ModelProvider, endpoint: ExternalAPIConfig, _ request: ModelRequest, tenant: String,
                         takenIds: Set<String>, deadline: Double, trace: TraceContext? = nil) -> Result<Outcome, Failure> {
        let body: JSONObject
        switch provider.wire {
        case .openAIChat: body = OpenAIChatWire.body(model: provider.model, request)
        case .anthropicMessages: body = AnthropicMessagesWire.body(model: provider.model, request)
        }
        let started = Self.now()
        var retries = 0
        while true {
            var config = endpoint
            let remainingMs = Int((deadline - Self.now()) * 1000)
            guard remainingMs > 0 else { return .failure(Failure(message: "the run's time ran out waiting for the model", attempts: retries, outOfTime: true)) }
            config.timeoutMs = min(endpoint.timeoutMs, remainingMs)
            let decision: ModelRetryPolicy.Decision
            switch executor.invokeAndWait(config, Invocation(body: body), tenant: tenant, trace: trace, kind: .model) {
            case .success(let result) where (200..<300).contains(result.status):
                if result.truncated {
                    return .failure(Failure(message: "the model's reply is larger than \(ModelProvider.maxReplyBytes) bytes", attempts: retries + 1))
                }
                do {
                    let turn = provider.wire == .openAIChat
                        ? try OpenAIChatWire.parse(result.body, takenIds: takenIds)
                        : try AnthropicMessagesWire.parse(result.body, takenIds: takenIds)
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

    /// Monotonic seconds, the clock deadlines are in.
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

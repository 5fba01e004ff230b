import Executor
import Foundation
import HTTPServer
import NeoJSON
import Synchronization
import XCTest

/// Model calls through the executor against a real HTTP server on 127.0.0.1: the wire's path and headers,
/// retries as the policy says (waits recorded, not slept), and no key in any failure.
final class ModelClientTests: XCTestCase {
    var upstreams: [TestUpstream] = []
    var executor: ExternalAPIExecutor!
    /// The backoff waits asked for (recorded, not slept).
    final class Waits: Sendable { let list = Mutex<[Double]>([]) }
    let waits = Waits()
    var client: ModelClient!

    override func setUp() {
        executor = ExternalAPIExecutor(policy: .loopbackOnly)
        client = ModelClient(executor: executor, sleep: { [waits] w in waits.list.withLock { $0.append(w) } }, jitter: { 0 })
    }

    override func tearDown() {
        executor.shutdown()
        upstreams.forEach { $0.stop() }
    }

    static let key = "sk-test-CANARY-0a1b2c3d"
    static let answer = #"{"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}"#

    /// A server answering each request with the next of `replies` (status, headers, body).
    func server(_ replies: [(Int, [(String, String)], String)]) throws -> TestUpstream {
        let next = Mutex(0)
        let u = try TestUpstream { _ in
            let i = next.withLock { n -> Int in defer { n += 1 }; return n }
            let (status, headers, body) = replies[min(i, replies.count - 1)]
            return (TestUpstream.json(status, body, headers: headers), 0)
        }
        upstreams.append(u)
        return u
    }

    func call(_ u: TestUpstream, wire: ModelWire = .openAIChat, retries: Int = 2, deadline: Double = 30) -> Result<ModelClient.Outcome, ModelClient.Failure> {
        let provider = ModelProvider(name: "p", wire: wire, baseURL: u.base + "/v1/", model: "m", apiKey: Self.key, maxRetries: retries)
        return client.complete(provider, endpoint: provider.endpoint, ModelRequest(system: "s", messages: [.user("u")], tools: []),
                               tenant: "1", takenIds: [], deadline: ModelClient.now() + deadline)
    }

    func test_openAI_postsToChatCompletionsWithBearer() throws {
        let u = try server([(200, [], Self.answer)])
        let outcome = try call(u).get()
        XCTAssertEqual(outcome.turn.text, "hi")
        XCTAssertEqual(outcome.attempts, 1)
        let seen = try XCTUnwrap(u.last)
        XCTAssertEqual(seen.method, "POST")
        XCTAssertEqual(seen.path, "/v1/chat/completions")
        XCTAssertEqual(seen.headers["Authorization"], "Bearer \(Self.key)")
        XCTAssertEqual(seen.headers["Content-Type"], "application/json")
        XCTAssertEqual(try JSON.parse(seen.body)["model"], "m")
    }

    func test_anthropic_postsToMessagesWithItsHeaders() throws {
        let u = try server([(200, [], #"{"content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 2, "output_tokens": 1}}"#)])
        XCTAssertEqual(try call(u, wire: .anthropicMessages).get().turn.usage, TokenUsage(prompt: 2, completion: 1))
        let seen = try XCTUnwrap(u.last)
        XCTAssertEqual(seen.path, "/v1/messages")
        XCTAssertEqual(seen.headers["x-api-key"], Self.key)
        XCTAssertEqual(seen.headers["anthropic-version"], "2023-06-01")
        XCTAssertNil(seen.headers["Authorization"])
    }

    func test_retries_honourRetryAfterMs_thenBackoff() throws {
        let u = try server([(429, [("retry-after-ms", "20")], #"{"error": {"code": "rate_limit_exceeded", "message": "slow down"}}"#),
                            (503, [], "overloaded"), (200, [], Self.answer)])
        let outcome = try call(u).get()
        XCTAssertEqual(outcome.attempts, 3)
        XCTAssertEqual(u.count, 3)
        XCTAssertEqual(waits.list.withLock { $0 }, [0.02, 1.0])
    }

    func test_quotaAndOther4xx_failAtOnce_withTheProvidersMessage_neverTheKey() throws {
        let quota = try server([(429, [("retry-after", "1")], #"{"error": {"code": "insufficient_quota", "message": "You exceeded your current quota"}}"#)])
        guard case .failure(let f) = call(quota) else { return XCTFail("a quota error is final") }
        XCTAssertEqual(f.message, "model provider answered 429 (insufficient_quota): You exceeded your current quota")
        XCTAssertEqual(quota.count, 1)

        let echoing = try server([(401, [], #"{"error": {"code": "invalid_api_key", "message": "Incorrect API key provided: \#(Self.key)"}}"#)])
        guard case .failure(let g) = call(echoing) else { return XCTFail("401 is final") }
        XCTAssertFalse(g.message.contains(Self.key), g.message)
        XCTAssertTrue(g.message.hasPrefix("model provider answered 401 (invalid_api_key): Incorrect API key provided: "), g.message)
        XCTAssertEqual(waits.list.withLock { $0 }, [])
    }

    func test_outOfRetries_andConnectionErrors_andNonJSON() throws {
        let down = try server([(500, [], "")])
        guard case .failure(let f) = call(down, retries: 1) else { return XCTFail() }
        XCTAssertEqual(f.message, "model provider answered 500 (after 2 attempts)")
        XCTAssertEqual(down.count, 2)

        let closed = try TestUpstream { _ in (TestUpstream.json(200, Self.answer), 0) }
        closed.stop()  // stopped once, so not in `upstreams`
        guard case .failure(let g) = call(closed, retries: 1) else { return XCTFail() }
        XCTAssertTrue(g.message.contains("after 2 attempts"), g.message)

        let garbage = try server([(200, [], "<html>proxy error</html>")])
        guard case .failure(let h) = call(garbage) else { return XCTFail() }
        XCTAssertTrue(h.message.hasPrefix("the model's reply is not JSON"), h.message)
    }

    func test_aRetryThatWouldPassTheDeadline_isNotMade() throws {
        let u = try server([(429, [("retry-after", "5")], "{}")])
        guard case .failure(let f) = call(u, deadline: 2) else { return XCTFail() }
        XCTAssertTrue(f.message.contains("time ran out"), f.message)
        XCTAssertEqual(u.count, 1)
    }
}

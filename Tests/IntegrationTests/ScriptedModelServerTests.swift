import Foundation
import NeoJSON
import XCTest

/// The scripted model server the AGENTIC tests stand on: it must replay in order, record everything and
/// refuse what it was not scripted for.
final class ScriptedModelServerTests: XCTestCase {
    func post(_ server: ScriptedModelServer, _ path: String, _ body: String) throws -> TestResponse {
        let client = try RawClient(port: server.port)
        try client.send("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return try XCTUnwrap(client.readResponses(1).first)
    }

    func test_repliesInOrder_recordsRequests_andRefusesTheUnexpected() throws {
        let server = try ScriptedModelServer([
            ScriptedModelServer.openAI(calls: [(id: "call_1", name: "crm_lookup", arguments: #"{"contact_id":"42"}"#)],
                                       expect: ScriptedModelServer.tools(["crm_lookup"])),
            ScriptedModelServer.anthropic(text: "done", expect: ScriptedModelServer.lastToolResult(contains: "vip")),
        ])
        defer { server.stop() }
        let first = try post(server, "/v1/chat/completions", #"{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "crm_lookup"}}]}"#)
        XCTAssertEqual(first.status, 200)
        let call = first.json?["choices"]?.arrayValue?.first?["message"]?["tool_calls"]?.arrayValue?.first
        XCTAssertEqual(call?["function"]?["arguments"], #"{"contact_id":"42"}"#)
        XCTAssertEqual(call?["id"], "call_1")

        let second = try post(server, "/v1/messages", #"{"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "{\"vip\":true}"}]}]}"#)
        XCTAssertEqual(second.json?["content"]?.arrayValue?.first?["text"], "done")
        XCTAssertEqual(server.failures, [])

        let third = try post(server, "/v1/chat/completions", "{}")
        XCTAssertEqual(third.status, 400, "past the script: a status no client retries")
        XCTAssertEqual(server.requests.map(\.path), ["/v1/chat/completions", "/v1/messages", "/v1/chat/completions"])
        XCTAssertEqual(server.failures.count, 1)
        XCTAssertTrue(server.failures[0].hasPrefix("unexpected request 3"), server.failures[0])
    }

    func test_aFailedExpectation_isRecordedAndRefused() throws {
        let server = try ScriptedModelServer([ScriptedModelServer.openAI(text: "x", expect: ScriptedModelServer.tools(["a"]))])
        defer { server.stop() }
        XCTAssertEqual(try post(server, "/v1/chat/completions", #"{"tools": []}"#).status, 400)
        XCTAssertEqual(server.failures, ["request 1: expected tools [\"a\"], got []"])
        XCTAssertEqual(server.remaining, 0)
    }

    func test_rawArguments_andErrors() throws {
        let server = try ScriptedModelServer([
            ScriptedModelServer.openAI(calls: [(id: nil, name: "t", arguments: #"{"a": 1}"#)], raw: true),
            ScriptedModelServer.error(429, code: "insufficient_quota", message: "out of credit", headers: [("retry-after", "1")]),
        ])
        defer { server.stop() }
        let quirk = try post(server, "/v1/chat/completions", "{}").json?["choices"]?.arrayValue?.first?["message"]?["tool_calls"]?.arrayValue?.first
        XCTAssertEqual(quirk?["function"]?["arguments"], ["a": 1], "arguments as an object, as some servers send them")
        XCTAssertNil(quirk?["id"], "and no id")
        let quota = try post(server, "/v1/chat/completions", "{}")
        XCTAssertEqual(quota.status, 429)
        XCTAssertEqual(quota.headers["retry-after"], "1")
        XCTAssertEqual(quota.json?["error"]?["code"], "insufficient_quota")
    }
}

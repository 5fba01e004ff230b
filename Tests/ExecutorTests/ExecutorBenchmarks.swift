import Basics
import Executor
import Foundation
import HTTPServer
import XCTest

/// Measurements for bench/executor.sh, skipped unless NEO_BENCH_CURL_LOOP names the compiled
/// bench/curl_loop.c. Everything runs against one local upstream in the same process run.
final class ExecutorBenchmarks: XCTestCase {
    let environment = ProcessInfo.processInfo.environment
    var total: Int { Int(environment["NEO_BENCH_CALLS"] ?? "") ?? 5000 }
    var inflight: Int { Int(environment["NEO_BENCH_INFLIGHT"] ?? "") ?? 16 }

    func test_bench_executorVersusPlainLibcurl() throws {
        guard let loop = environment["NEO_BENCH_CURL_LOOP"] else { throw XCTSkip("set NEO_BENCH_CURL_LOOP (bench/executor.sh does)") }
        let upstream = try TestUpstream { _ in (TestUpstream.json(200, #"{"ok":true}"#), 0) }
        defer { upstream.stop() }
        let executor = ExternalAPIExecutor(policy: .any)
        defer { executor.shutdown() }
        let config = ExternalAPIConfig(name: "bench", endpointURL: upstream.base + "/v1", auth: .bearer(token: "bench-token"))

        _ = runExecutor(executor, config, calls: 500)  // warm-up: connections, allocator
        let plain = try runPlain(loop, url: upstream.base + "/v1", port: upstream.port)
        let ours = runExecutor(executor, config, calls: total)
        let plainAgain = try runPlain(loop, url: upstream.base + "/v1", port: upstream.port)
        let baseline = (plain + plainAgain) / 2
        print(String(format: "bench executor_calls_per_second %.0f", ours))
        print(String(format: "bench libcurl_calls_per_second %.0f (runs: %.0f, %.0f)", baseline, plain, plainAgain))
        print(String(format: "bench overhead %.2fx (goal <= 1.15x)", baseline / ours))
    }

    func test_bench_tokenFetchesUnder1000ConcurrentCallsOnAColdConfig() throws {
        guard environment["NEO_BENCH_CURL_LOOP"] != nil else { throw XCTSkip("run through bench/executor.sh") }
        let grants = Lock(0)
        let tokens = try TestUpstream { _ in
            let n = grants.withLock { $0 += 1; return $0 }
            return (TestUpstream.json(200, #"{"access_token":"tok-\#(n)","expires_in":3600}"#), 0.05)
        }
        let api = try TestUpstream { _ in (TestUpstream.json(200, "{}"), 0) }
        defer { tokens.stop(); api.stop() }
        let executor = ExternalAPIExecutor(policy: .any)
        defer { executor.shutdown() }
        let config = ExternalAPIConfig(name: "cold", endpointURL: api.base, auth: .oauth2ClientCredentials(.init(
            tokenURL: tokens.base + "/token", params: [.init(key: "grant_type", value: "client_credentials")])))
        let group = DispatchGroup()
        let failures = Lock(0)
        DispatchQueue.concurrentPerform(iterations: 1000) { _ in
            group.enter()
            executor.invoke(config, Invocation(), tenant: "bench") { r in
                if case .failure = r { failures.withLock { $0 += 1 } }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        print("bench token_fetches_for_1000_concurrent_calls \(grants.withLock { $0 }) (goal 1), failed calls \(failures.withLock { $0 })")
        XCTAssertEqual(grants.withLock { $0 }, 1)
    }

    private func runExecutor(_ executor: ExternalAPIExecutor, _ config: ExternalAPIConfig, calls: Int) -> Double {
        let slots = DispatchSemaphore(value: inflight)
        let group = DispatchGroup()
        let started = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<calls {
            slots.wait()
            group.enter()
            executor.invoke(config, Invocation(), tenant: "bench") { _ in
                slots.signal()
                group.leave()
            }
        }
        group.wait()
        return Double(calls) / (Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }

    private func runPlain(_ loop: String, url: String, port: Int) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: loop)
        p.arguments = [url, "127.0.0.1:\(port):127.0.0.1", String(total), String(inflight)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("calls_per_second") }),
              let rate = Double(line.split(separator: " ")[1]) else { throw XCTSkip("curl_loop failed: \(text)") }
        return rate
    }
}

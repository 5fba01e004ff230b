import Basics
import Executor
import Foundation
import HTTPServer
import XCTest

/// Measurements for bench/executor.sh, skipped unless NEO_BENCH_CURL_LOOP names the compiled
/// bench/curl_loop.c. Everything runs against one local upstream in the same process run.
final class ExecutorBenchmarks: XCTestCase {
    let environment = ProcessInfo.processInfo.environment
    var total: Int { Int(environment["NEO_BENCH_CALLS"] ?? "") ?? 20000 }
    var inflight: Int { Int(environment["NEO_BENCH_INFLIGHT"] ?? "") ?? 16 }
    var rounds: Int { max(1, Int(environment["NEO_BENCH_ROUNDS"] ?? "") ?? 5) }

    /// Rounds of plain, ours, plain, ours, …, plain: each executor run is compared with the mean of
    /// the plain runs on either side of it, so load that drifts during the bench hits both sides of
    /// each ratio; the medians over the rounds are the figures to quote.
    func test_bench_executorVersusPlainLibcurl() throws {
        guard let loop = environment["NEO_BENCH_CURL_LOOP"] else { throw XCTSkip("set NEO_BENCH_CURL_LOOP (bench/executor.sh does)") }
        let upstream = try TestUpstream { _ in (TestUpstream.json(200, #"{"ok":true}"#), 0) }
        defer { upstream.stop() }
        let executor = ExternalAPIExecutor(policy: .any)
        defer { executor.shutdown() }
        let config = ExternalAPIConfig(name: "bench", endpointURL: upstream.base + "/v1", auth: .bearer(token: "bench-token"))

        // The same loop split across two threads as the executor is (bench/curl_handoff_loop.c): the
        // floor of any design whose callers are not the thread driving libcurl.
        let handoffLoop = environment["NEO_BENCH_CURL_HANDOFF_LOOP"]
        _ = runExecutor(executor, config, calls: 500)  // warm-up: connections, allocator
        var plain = [try runPlain(loop, url: upstream.base + "/v1", port: upstream.port)]
        var ours: [(rate: Double, cpuMicros: Double)] = []
        var handoff: [(rate: Double, cpuMicros: Double)] = []
        for _ in 0..<rounds {
            if let handoffLoop { handoff.append(try runPlain(handoffLoop, url: upstream.base + "/v1", port: upstream.port)) }
            ours.append(runExecutor(executor, config, calls: total))
            plain.append(try runPlain(loop, url: upstream.base + "/v1", port: upstream.port))
        }
        var rateRatios: [Double] = []
        var cpuRatios: [Double] = []
        for (i, o) in ours.enumerated() {
            let baseRate = (plain[i].rate + plain[i + 1].rate) / 2
            let baseCPU = (plain[i].cpuMicros + plain[i + 1].cpuMicros) / 2
            rateRatios.append(baseRate / o.rate)
            cpuRatios.append(o.cpuMicros / baseCPU)
            print(String(format: "bench round %d: executor %.0f calls/s %.1f us CPU, libcurl loop %.0f calls/s %.1f us CPU: %.2fx time, %.2fx CPU",
                         i + 1, o.rate, o.cpuMicros, baseRate, baseCPU, rateRatios[i], cpuRatios[i]))
        }
        if !handoff.isEmpty {
            var floorRatios: [Double] = []
            var floorCPU: [Double] = []
            var oursOverFloor: [Double] = []
            for (i, h) in handoff.enumerated() {
                let baseRate = (plain[i].rate + plain[i + 1].rate) / 2
                let baseCPU = (plain[i].cpuMicros + plain[i + 1].cpuMicros) / 2
                floorRatios.append(baseRate / h.rate)
                floorCPU.append(h.cpuMicros / baseCPU)
                oursOverFloor.append(h.rate / ours[i].rate)
            }
            print(String(format: "bench handoff_floor %.2fx time median (%.2f-%.2f), %.2fx CPU: the plain loop on two threads, %.1f us CPU per call; executor %.2fx that floor's time",
                         median(floorRatios), floorRatios.min()!, floorRatios.max()!, median(floorCPU),
                         median(handoff.map(\.cpuMicros)), median(oursOverFloor)))
        }
        print(String(format: "bench executor_calls_per_second %.0f (median of %d rounds of %d calls, %d in flight)", median(ours.map(\.rate)), rounds, total, inflight))
        print(String(format: "bench libcurl_calls_per_second %.0f (median of %d runs)", median(plain.map(\.rate)), plain.count))
        print(String(format: "bench overhead %.2fx median (%.2f-%.2f) (goal <= 1.15x)", median(rateRatios), rateRatios.min()!, rateRatios.max()!))
        // CPU time (user + system) per call, the in-process upstream's included on both sides: less
        // at the mercy of other load on a shared box than the rates.
        print(String(format: "bench cpu_per_call executor %.1f us, libcurl loop %.1f us (with the upstream's): %.2fx median (%.2f-%.2f)",
                     median(ours.map(\.cpuMicros)), median(plain.map(\.cpuMicros)), median(cpuRatios), cpuRatios.min()!, cpuRatios.max()!))
    }

    private func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
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

    /// User + system CPU seconds of this process, or of its waited-for children.
    private func cpuSeconds(_ who: Int32) -> Double {
        var usage = rusage()
        getrusage(who, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    private func runExecutor(_ executor: ExternalAPIExecutor, _ config: ExternalAPIConfig, calls: Int) -> (rate: Double, cpuMicros: Double) {
        let slots = DispatchSemaphore(value: inflight)
        let group = DispatchGroup()
        let cpu = cpuSeconds(RUSAGE_SELF.rawValue)
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
        let rate = Double(calls) / (Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        return (rate, (cpuSeconds(RUSAGE_SELF.rawValue) - cpu) * 1e6 / Double(calls))
    }

    private func runPlain(_ loop: String, url: String, port: Int) throws -> (rate: Double, cpuMicros: Double) {
        let cpu = cpuSeconds(RUSAGE_SELF.rawValue) + cpuSeconds(RUSAGE_CHILDREN.rawValue)
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
        return (rate, (cpuSeconds(RUSAGE_SELF.rawValue) + cpuSeconds(RUSAGE_CHILDREN.rawValue) - cpu) * 1e6 / Double(total))
    }
}

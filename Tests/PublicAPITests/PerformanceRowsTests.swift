import XCTest
@testable import PublicAPI

final class PerformanceRowsTests: XCTestCase {
    func test_rows_nearestRankP95PerAgent_overFinishedRuns() throws {
        // Agent 7: 20 finished runs of 1…20 s, each with a tenth of it upstream work; one unfinished; two failed.
        var runs = (1...20).map { i in
            PerformanceRecords.Run(agentId: 7, agentName: "triage", failed: i <= 2, totalSeconds: Double(i), workSeconds: Double(i) / 10, externalCalls: 2)
        }
        runs.append(PerformanceRecords.Run(agentId: 7, agentName: "triage", failed: false, totalSeconds: nil, workSeconds: 0, externalCalls: 1))
        runs.append(PerformanceRecords.Run(agentId: 3, agentName: "other", failed: false, totalSeconds: 4, workSeconds: 9, externalCalls: 0))
        let calls = [
            PerformanceRecords.ModelCall(agentId: 7, stepType: "THOUGHT", model: "m", seconds: 0.5),
            PerformanceRecords.ModelCall(agentId: 7, stepType: "THOUGHT", model: "m", seconds: 1.5),
            PerformanceRecords.ModelCall(agentId: 7, stepType: "FINAL_MESSAGE", model: "m", seconds: 2),
        ]
        let rows = PerformanceRoutes.rows(runs, calls)
        XCTAssertEqual(rows.map { $0["agent_id"]?.intValue }, [3, 7])
        let other = rows[0]
        // Work is capped at the total: overhead never goes negative.
        XCTAssertEqual(other["p95_actual_work_seconds"]?.doubleValue, 4)
        XCTAssertEqual(other["p95_overhead_seconds"]?.doubleValue, 0)
        let triage = rows[1]
        XCTAssertEqual(triage["executions"]?.intValue, 21)
        XCTAssertEqual(triage["failures"]?.intValue, 2)
        XCTAssertEqual(triage["psa_calls"]?.intValue, 41)
        // ceil(0.95 × 20) = 19th smallest.
        XCTAssertEqual(triage["p95_total_duration_seconds"]?.doubleValue, 19)
        XCTAssertEqual(triage["p95_actual_work_seconds"]?.doubleValue, 1.9)
        XCTAssertEqual(triage["p95_overhead_seconds"]?.doubleValue, 17.1)
        XCTAssertEqual(triage["llm_calls_by_purpose"], [
            ["purpose": "final_answer", "model": "m", "count": 1, "p95_duration_seconds": 2.0],
            ["purpose": "tool_selection", "model": "m", "count": 2, "p95_duration_seconds": 1.5],
        ])
    }
}

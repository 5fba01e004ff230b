import XCTest
@testable import Basics

final class MetricsTests: XCTestCase {
    func test_render_countersAndCumulativeHistogramBuckets() {
        let registry = MetricsRegistry()
        let a = registry.counter("t_requests_total", help: "Requests.", labels: [("route", "/a")])
        let b = registry.counter("t_requests_total", help: "Requests.", labels: [("route", "/b\"q")])
        let h = registry.histogram("t_seconds", help: "Latency.", bounds: [0.1, 1])
        a.add()
        a.add(2)
        b.add()
        h.observe(0.05)
        h.observe(0.5)
        h.observe(0.5)
        h.observe(7)
        registry.collect("t_gauge", help: "A gauge.") { [([("kind", "x")], 1.5)] }
        XCTAssertEqual(registry.render(), """
            # HELP t_requests_total Requests.
            # TYPE t_requests_total counter
            t_requests_total{route="/a"} 3
            t_requests_total{route="/b\\"q"} 1
            # HELP t_seconds Latency.
            # TYPE t_seconds histogram
            t_seconds_bucket{le="0.1"} 1
            t_seconds_bucket{le="1"} 3
            t_seconds_bucket{le="+Inf"} 4
            t_seconds_sum 8.05
            t_seconds_count 4
            # HELP t_gauge A gauge.
            # TYPE t_gauge gauge
            t_gauge{kind="x"} 1.5

            """)
    }

    func test_counter_isExactUnderConcurrentAdds() {
        let c = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in for _ in 0..<10_000 { c.add() } }
        XCTAssertEqual(c.current, 80_000)
    }
}

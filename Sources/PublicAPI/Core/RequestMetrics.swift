import Basics

/// One route template's request counters (by status class) and latency histogram, registered once
/// when the App is built: recording a request is three relaxed atomic adds and no lookup.
final class RouteMetrics: Sendable {
    private let byClass: [Counter]
    private let latency: Histogram

    static let requestsName = "neo_http_requests_total"
    static let latencyName = "neo_http_request_duration_seconds"

    init(method: String, route: String, registry: MetricsRegistry = .shared) {
        byClass = ["1xx", "2xx", "3xx", "4xx", "5xx"].map { cls in
            registry.counter(Self.requestsName, help: "HTTP requests answered, by method, route template and status class.",
                             labels: [("method", method), ("route", route), ("status", cls)])
        }
        latency = registry.histogram(Self.latencyName, help: "Time from a request's parse to its response, by method and route template.",
                                     labels: [("method", method), ("route", route)])
    }

    @inline(__always)
    func record(status: Int, seconds: Double) {
        let index = status < 200 ? 0 : status < 300 ? 1 : status < 400 ? 2 : status < 500 ? 3 : 4
        byClass[index].add()
        latency.observe(seconds)
    }

    /// Requests no route matched (404, 405): one series, whatever the path was.
    static let unmatched = RouteMetrics(method: "any", route: "unmatched")
}

/// A route and its counters, as the router stores them.
struct RouteEntry: Sendable {
    let route: Route
    let metrics: RouteMetrics
}

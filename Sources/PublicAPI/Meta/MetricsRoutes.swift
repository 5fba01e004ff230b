import Basics
import Executor
import Foundation
import Store

/// `GET /metrics` (design §12): the Prometheus text format, on its own listener (NEO_METRICS_ADDR)
/// or on the API's behind `NEO_METRICS_TOKEN` (Bearer). Off unless one of them is configured.
enum MetricsRoutes {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The route; `token`, when set, must come as `Authorization: Bearer <token>` (401 otherwise).
    static func route(token: String?) -> Route {
        Route("GET", "/metrics", access: .open) { ctx in
            if let token {
                let sent = ctx.request.headers["Authorization"] ?? ""
                guard sent.hasPrefix("Bearer "), constantTimeEqual(Array(sent.utf8.dropFirst(7)), Array(token.utf8)) else {
                    throw APIError.unauthorized(sent.isEmpty ? "/metrics needs Authorization: Bearer <NEO_METRICS_TOKEN>"
                                                              : "the metrics token is not valid")
                }
            }
            var reply = Reply(headers: [("Content-Type", contentType)])
            reply.rawBody = Array(MetricsRegistry.shared.render().utf8)
            return reply
        }
    }

    /// What is read at scrape time: executions by kind and status and the queue (from the store, so
    /// every node sharing it reports the same), and the process's RSS and open descriptors.
    static func registerCollectors(store: Store) {
        UpstreamMetrics.register()
        Store.registerMetrics()
        _ = RateLimiter.refusals
        let registry = MetricsRegistry.shared
        registry.collect("neo_executions", help: "Executions in the store, by kind and status.") {
            let counts = (try? store.read { try ExecutionRecords.countsByKindAndStatus($0) }) ?? []
            return counts.map { ([("kind", $0.kind), ("status", $0.status)], Double($0.count)) }
        }
        registry.collect("neo_execution_queue_depth", help: "Executions queued and not yet claimed by a runner.") {
            let counts = (try? store.read { try ExecutionRecords.countsByKindAndStatus($0) }) ?? []
            return [([], Double(counts.filter { $0.status == ExecutionStatus.queued.rawValue }.reduce(0) { $0 + $1.count }))]
        }
        registry.collect("process_resident_memory_bytes", help: "Resident memory size in bytes.") {
            [([], ProcessUsage.residentBytes())]
        }
        registry.collect("process_open_fds", help: "Number of open file descriptors.") {
            [([], ProcessUsage.openFileDescriptors())]
        }
    }
}

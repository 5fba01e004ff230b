import Basics
import Foundation
import NeoJSON
import Store

/// `GET /health` and `GET /openapi.json` (design §5): no key needed.
enum MetaRoutes {
    /// The spec's bytes and ETag, made on the first request for it rather than on every start (a cold start's time).
    private static let published: (spec: [UInt8], etag: String) = {
        let spec = Array(OpenAPIDocument.json.utf8)
        return (spec, "\"" + SHA256.hash(spec).prefix(16).map { String(format: "%02x", $0) }.joined() + "\"")
    }()

    static func routes(store: Store, version: String) -> [Route] {
        let probe = StoreProbe(store: store)
        func health(_ status: String, _ db: String) -> [UInt8] {
            JSON.object(JSONObject([("status", .string(status)), ("version", .string(version)), ("db", .string(db))])).serialized()
        }
        let healthy = health("ok", "ok"), degraded = health("degraded", "unavailable")
        return [
            Route("GET", "/public-api/health", access: .open, blocking: false) { _ in
                // No Cache-Control here: App's default no-store fits a probe (no validator to revalidate with).
                let ok = probe.status() == "ok"
                return Reply.raw(status: ok ? 200 : 503, data: ok ? healthy : degraded)
            },
            Route("GET", "/public-api/openapi.json", access: .open, blocking: false) { ctx in
                let (spec, etag) = MetaRoutes.published
                var reply = Reply(headers: [("Cache-Control", "no-cache"), ("ETag", etag)])
                if let inm = ctx.request.headers["If-None-Match"], inm.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag || $0.trimmingCharacters(in: .whitespaces) == "*" }) {
                    reply.status = 304
                    reply.rawBody = []
                } else {
                    reply.rawBody = spec
                }
                return reply
            },
        ]
    }
}

/// The store's health as the health route reports it: a real query, run at most once a second so
/// probes under load measure the server rather than SQLite's lock calls.
final class StoreProbe: Sendable {
    private let store: Store
    /// When the store was last asked, and what it said.
    private let last = Lock<(checkedAt: Double, status: String)>((-Double.infinity, "unavailable"))

    init(store: Store) { self.store = store }

    func status() -> String {
        let now = monotonicNow()
        return last.withLock { last in
            if now - last.checkedAt >= 1 {
                last = (now, (try? store.read { try HealthRecords.ping($0) }) == true ? "ok" : "unavailable")
            }
            return last.status
        }
    }
}

import Foundation
import NeoJSON
import Store

/// `GET /health` and `GET /openapi.json` (design §5): no key needed.
enum MetaRoutes {
    static func routes(store: Store, version: String) -> [Route] {
        let spec = Array(OpenAPIDocument.json.utf8)
        let etag = "\"" + SHA256.hash(spec).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
        return [
            Route("GET", "/public-api/health", access: .open, blocking: false) { _ in
                // Each probe runs a real query, so "db": "ok" means the store answered just now.
                let db: String = (try? store.read { try $0.queryOne("SELECT 1 AS ok") }) != nil ? "ok" : "unavailable"
                return Reply(status: db == "ok" ? 200 : 503,
                             data: .object(JSONObject([("status", .string(db == "ok" ? "ok" : "degraded")),
                                                       ("version", .string(version)), ("db", .string(db))])),
                             headers: [("Cache-Control", "no-cache")])
            },
            Route("GET", "/public-api/openapi.json", access: .open, blocking: false) { ctx in
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

import Basics
import Foundation
import Store
import HTTPServer
import NeoJSON

/// Who may call a route.
public enum Access {
    /// No key needed (health, openapi.json).
    case open
    /// A key with at least `level` in `group`.
    case group(PermissionGroup, AccessLevel)
    /// An admin key (API-key management).
    case admin
    /// Any valid key.
    case authenticated
}

/// One API route: pattern, who may call it, where it runs, and the handler.
public struct Route {
    public let method: String
    public let pattern: String
    public let access: Access
    /// Runs on the worker pool (it writes, or waits on upstreams). `false` runs it on the event loop:
    /// only for handlers that just read, which there use the loop's own store reader and never wait
    /// for a lock (in WAL mode readers do not wait for the writer).
    public let blocking: Bool
    /// The query parameters the handler reads (`ctx.query`); any other one is ignored with a
    /// `meta.warnings` entry, also when the handler throws before reading them all.
    public let query: [String]
    public let handler: (RequestContext) throws -> Reply

    public init(_ method: String, _ pattern: String, access: Access, blocking: Bool = true, query: [String] = [],
                _ handler: @escaping (RequestContext) throws -> Reply) {
        self.method = method
        self.pattern = pattern
        self.access = access
        self.blocking = blocking
        self.query = query
        self.handler = handler
    }
}

/// Glue between the HTTP server and the handlers: routing, request ids, authentication,
/// permission checks, rate-limit headers, the envelope, and the access log.
public final class App: @unchecked Sendable {
    public let logger: Logger
    let router: Router<Route>
    let workers: WorkerPool
    /// Authenticates a request for a protected route (set by the key service).
    let authenticate: (RequestContext) throws -> Principal
    /// Rate-limit headers to add, or a 429 to throw, per tenant.
    let rateLimit: (Principal) throws -> [(String, String)]

    public init(routes: [Route], logger: Logger, workers: WorkerPool,
                authenticate: @escaping (RequestContext) throws -> Principal,
                rateLimit: @escaping (Principal) throws -> [(String, String)]) {
        var router = Router<Route>()
        for r in routes { router.add(r.method, r.pattern, r) }
        self.router = router
        self.logger = logger
        self.workers = workers
        self.authenticate = authenticate
        self.rateLimit = rateLimit
    }

    /// Every (method, pattern) the router serves.
    public var routes: [(method: String, pattern: String)] { router.routes }

    /// The HTTPServer handler.
    public func handle(_ request: HTTPRequest, _ responder: Responder) {
        let started = monotonicNow()
        let requestId = App.requestId(from: request.headers["X-Request-Id"])
        switch router.match(request.method, request.path) {
        case .notFound:
            let ctx = RequestContext(request: request, requestId: requestId, params: [:], pattern: "", started: started)
            responder.send(finish(ctx, .failure(.notFound("no route for \(request.method) \(request.path)"))))
        case .methodNotAllowed(let allow):
            let ctx = RequestContext(request: request, requestId: requestId, params: [:], pattern: "", started: started)
            var error = APIError(status: 405, code: "METHOD_NOT_ALLOWED",
                                 message: "\(request.method) is not allowed on \(request.path); allowed: \(allow.joined(separator: ", "))")
            error.headers = [("Allow", allow.joined(separator: ", "))]
            responder.send(finish(ctx, .failure(error)))
        case .found(let route, let params, let pattern):
            let ctx = RequestContext(request: request, requestId: requestId, params: params, pattern: pattern, started: started)
            ctx.acceptedQuery = route.query
            ctx.offload = { [workers] work in
                if !workers.submit(work) { work() }
            }
            if !route.blocking {
                complete(ctx, run(route, ctx), responder)
                return
            }
            let accepted = workers.submit { [self] in complete(ctx, run(route, ctx), responder) }
            if !accepted {
                responder.send(finish(ctx, .failure(.unavailable("server is overloaded; retry shortly"))))
            }
        }
    }

    /// The HTTPServer error responder (malformed requests, limits, timeouts).
    public func errorResponse(_ error: HTTPServerError) -> HTTPResponse {
        let code: String
        switch error.status {
        case 413: code = "PAYLOAD_TOO_LARGE"
        case 431: code = "HEADERS_TOO_LARGE"
        case 408: code = "REQUEST_TIMEOUT"
        case 505: code = "HTTP_VERSION_NOT_SUPPORTED"
        default: code = "BAD_REQUEST"
        }
        let requestId = App.newRequestId()
        let apiError = APIError(status: error.status, code: code, message: error.message)
        logger.info("request", JSONObject([("request_id", .string(requestId)), ("status", .int(Int64(error.status))),
                                           ("error", .string(error.message))]))
        return HTTPResponse(status: error.status, headers: HTTPHeaders([
            ("Content-Type", "application/json; charset=utf-8"), ("X-Request-Id", requestId),
        ]), body: Envelope.error(apiError, requestId: requestId))
    }

    /// Sends the reply now, or when a deferred reply delivers (keeping the rate-limit headers).
    private func complete(_ ctx: RequestContext, _ result: Result<(Reply, [(String, String)]), APIError>, _ responder: Responder) {
        guard case .success(let (reply, extra)) = result, let start = reply.deferred else {
            responder.send(finish(ctx, result))
            return
        }
        start { [self] outcome in
            switch outcome {
            case .success(let r): responder.send(finish(ctx, .success((r, extra))))
            case .failure(var e):
                e.headers += extra
                responder.send(finish(ctx, .failure(e)))
            }
        }
    }

    private func run(_ route: Route, _ ctx: RequestContext) -> Result<(Reply, [(String, String)]), APIError> {
        do {
            // Before any handler runs, so none can act on a value that did not parse.
            ctx.testModeRequested = try RequestContext.testModeHeader(ctx.request.headers)
            var extra: [(String, String)] = []
            switch route.access {
            case .open:
                break
            case .authenticated, .group, .admin:
                let principal = try authenticate(ctx)
                ctx.principal = principal
                extra = try rateLimit(principal)
                try authorize(principal, route.access)
            }
            do {
                return .success((try route.handler(ctx), extra))
            } catch var e as APIError {
                e.headers += extra
                return .failure(e)
            }
        } catch let e as APIError {
            return .failure(e)
        } catch let e as StoreError where e.kind == .busy {
            logger.warn("store busy", JSONObject([("request_id", .string(ctx.requestId)), ("error", .string(e.description))]))
            return .failure(.unavailable("the database is busy; retry shortly"))
        } catch {
            logger.error("unhandled error", JSONObject([("request_id", .string(ctx.requestId)), ("error", .string(String(describing: error)))]))
            return .failure(.internalError())
        }
    }

    private func authorize(_ principal: Principal, _ access: Access) throws {
        switch access {
        case .open, .authenticated:
            return
        case .admin:
            if principal.role != .admin { throw APIError.forbidden("API-key management requires admin role.") }
        case .group(let group, let needed):
            let has = principal.level(group)
            if has < needed {
                throw APIError.forbidden("this key needs '\(needed.rawValue)' on permission group '\(group.rawValue)' (it has '\(has.rawValue)')")
            }
        }
    }

    private func finish(_ ctx: RequestContext, _ result: Result<(Reply, [(String, String)]), APIError>) -> HTTPResponse {
        let totalMs = (monotonicNow() - ctx.started) * 1000
        var headers = HTTPHeaders([("Content-Type", "application/json; charset=utf-8"), ("X-Request-Id", ctx.requestId)])
        let status: Int
        var body: [UInt8]
        switch result {
        case .success(let (reply, extra)):
            status = reply.status
            for (k, v) in extra { headers.add(k, v) }
            for (k, v) in reply.headers { headers.add(k, v) }
            if let raw = reply.rawBody {
                body = raw
            } else {
                body = Envelope.success(reply, requestId: ctx.requestId, totalMs: totalMs, dbMs: ctx.dbMilliseconds,
                                        warnings: ctx.responseWarnings())
            }
        case .failure(let error):
            status = error.status
            for (k, v) in error.headers { headers.add(k, v) }
            body = Envelope.error(error, requestId: ctx.requestId, warnings: ctx.responseWarnings(carried: error.warnings))
        }
        // Nothing is cacheable unless its route says so (openapi.json: no-cache with an ETag);
        // no-cache without a validator would only make caches store what they cannot revalidate.
        if !headers.contains("Cache-Control") { headers.add("Cache-Control", "no-store") }
        if status == 304 { body = [] }
        logAccess(ctx, status: status, bytes: body.count, totalMs: totalMs)
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    private func logAccess(_ ctx: RequestContext, status: Int, bytes: Int, totalMs: Double) {
        guard logger.level <= .info else { return }
        var fields = JSONObject([
            ("request_id", .string(ctx.requestId)), ("method", .string(ctx.request.method)),
            ("path", .string(ctx.request.path)), ("status", .int(Int64(status))), ("bytes", .int(Int64(bytes))),
            ("duration_ms", .double((totalMs * 100).rounded() / 100)),
        ])
        if let p = ctx.principal {
            fields["tenant"] = .int(p.tenantId)
            fields["key_id"] = .int(p.keyId)
        }
        logger.info("request", fields)
    }

    /// Echoes a sane inbound request id (1–128 of [A-Za-z0-9._-]); else a new UUIDv4.
    static func requestId(from inbound: String?) -> String {
        if let s = inbound, !s.isEmpty, s.utf8.count <= 128,
           s.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 46 || $0 == 95 }) {
            return s
        }
        return newRequestId()
    }

    /// A UUIDv4 from a per-thread generator seeded by OpenSSL: request ids need to be unique, not
    /// secret, and this keeps a lock and a DRBG call off every request.
    static func newRequestId() -> String { RequestIdGenerator.current.next() }
}

func monotonicNow() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// xoshiro256** per thread, seeded from the OS through OpenSSL; formats UUIDv4 strings.
final class RequestIdGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { if let p = $0 { Unmanaged<RequestIdGenerator>.fromOpaque(p).release() } }
        return key
    }()
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private init() {
        let seed = SecureRandom.bytes(32)
        func word(_ i: Int) -> UInt64 { seed[i * 8..<i * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) } | 1 }
        s = (word(0), word(1), word(2), word(3))
    }

    static var current: RequestIdGenerator {
        if let existing = pthread_getspecific(key) { return Unmanaged<RequestIdGenerator>.fromOpaque(existing).takeUnretainedValue() }
        let generator = RequestIdGenerator()
        pthread_setspecific(key, Unmanaged.passRetained(generator).toOpaque())
        return generator
    }

    private func nextWord() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    func next() -> String {
        let a = nextWord(), b = nextWord()
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: a >> (8 * UInt64(i))) }
        for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: b >> (8 * UInt64(i))) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return String(unsafeUninitializedCapacity: 36) { out in
            var j = 0
            for (i, byte) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { out[j] = 45; j += 1 }
                out[j] = RequestIdGenerator.hex[Int(byte >> 4)]
                out[j + 1] = RequestIdGenerator.hex[Int(byte & 0x0F)]
                j += 2
            }
            return j
        }
    }
}

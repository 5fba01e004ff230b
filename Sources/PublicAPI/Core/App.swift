import Basics
import Foundation
import Store
import HTTPServer
import NeoJSON

/// Glue between the HTTP server and the handlers: routing, request ids, authentication,
/// permission checks, rate-limit headers, the envelope, and the access log.
public final class App: Sendable {
    public let logger: Logger
    let router: Router<RouteEntry>
    let workers: WorkerPool
    /// Authenticates a request for a protected route (set by the key service).
    let authenticate: @Sendable (RequestContext) throws -> Principal
    /// Rate-limit headers to add, or a 429 to throw, per tenant.
    let rateLimit: @Sendable (Principal) throws -> [(String, String)]
    /// Idempotency-Key on authenticated POSTs; nil serves without it (router-only uses).
    let idempotency: IdempotencyKeys?

    public init(routes: [Route], logger: Logger, workers: WorkerPool,
                authenticate: @escaping @Sendable (RequestContext) throws -> Principal,
                rateLimit: @escaping @Sendable (Principal) throws -> [(String, String)],
                idempotency: IdempotencyKeys? = nil) {
        var router = Router<RouteEntry>()
        for r in routes { router.add(r.method, r.pattern, RouteEntry(route: r, metrics: RouteMetrics(method: r.method, route: r.pattern))) }
        self.router = router
        self.logger = logger
        self.workers = workers
        self.authenticate = authenticate
        self.rateLimit = rateLimit
        self.idempotency = idempotency
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
        case .found(let entry, let params, let pattern):
            let route = entry.route
            let ctx = RequestContext(request: request, requestId: requestId, params: params, pattern: pattern, started: started,
                                     metrics: entry.metrics)
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

    /// Serves one request in process as `principal`, with no key: routing, permission checks, rate limit,
    /// test mode, the envelope and the access log as over the network. Blocks until the reply is ready,
    /// so only for threads that may wait (the runner's, never an event loop).
    public func serveInProcess(_ request: HTTPRequest, as principal: Principal) -> HTTPResponse {
        let started = monotonicNow()
        let requestId = App.requestId(from: request.headers["X-Request-Id"])
        guard case .found(let entry, let params, let pattern) = router.match(request.method, request.path) else {
            let ctx = RequestContext(request: request, requestId: requestId, params: [:], pattern: "", started: started)
            return finish(ctx, .failure(.notFound("no route for \(request.method) \(request.path)")))
        }
        let route = entry.route
        let ctx = RequestContext(request: request, requestId: requestId, params: params, pattern: pattern, started: started,
                                 metrics: entry.metrics)
        ctx.acceptedQuery = route.query
        ctx.principal = principal
        if let refusal = route.refusedInProcess {
            return finish(ctx, .failure(.forbidden("\(request.method) \(pattern): " + refusal)))
        }
        ctx.offload = { [workers] work in
            if !workers.submit(work) { work() }
        }
        let box = Lock<HTTPResponse?>(nil)
        complete(ctx, run(route, ctx), InProcessResponder { response in
            box.withLock { $0 = response }
            box.notifyAll()
        })
        let response = box.withLock(waitingUntil: { $0 != nil }) { $0! }
        guard let stream = response.stream else { return response }
        // A stream has no in-process reader: end it (its subscription and stream slot go with it) and say so.
        stream.detachUnopened()
        return finish(ctx, .failure(.badRequest("\(request.method) \(request.path) streams Server-Sent Events to a client; it cannot be called in process")))
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
    private func complete(_ ctx: RequestContext, _ result: Result<(Reply, [(String, String)]), APIError>, _ responder: some ReplySink) {
        guard case .success(let (reply, extra)) = result, let start = reply.deferred else {
            responder.send(finish(ctx, result))
            return
        }
        start { [self] outcome in
            let result: Result<(Reply, [(String, String)]), APIError>
            switch outcome {
            case .success(let r): result = .success((r, extra))
            case .failure(var e):
                e.headers += extra
                result = .failure(e)
            }
            // Keeping the answer of an idempotent request writes to the store: not on the thread that delivered it.
            guard let claim = ctx.takeIdempotencyClaim() else {
                responder.send(finish(ctx, result))
                return
            }
            let response = finish(ctx, result)
            ctx.offload { [self] in
                idempotency?.settle(claim, response)
                responder.send(response)
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
            case .authenticated, .group, .admin, .adminOnly:
                // An in-process caller (an AGENTIC run's neo_api_request) arrives with its principal.
                let principal = try ctx.principal ?? authenticate(ctx)
                ctx.principal = principal
                extra = try rateLimit(principal)
                try authorize(principal, route.access)
            }
            do {
                if let replay = try beginIdempotent(route, ctx) { return .success((replay, extra)) }
                return .success((try route.handler(ctx), extra))
            } catch var e as APIError {
                e.headers += extra
                return .failure(e)
            }
        } catch let e as APIError {
            return .failure(e)
        } catch let e as StoreError where e.kind == .unavailable {
            logger.warn("database unavailable", JSONObject([("request_id", .string(ctx.requestId)), ("error", .string(e.description))]))
            return .failure(.unavailable("the database is unavailable; retry shortly"))
        } catch let e as StoreError where e.kind == .busy || e.kind == .retry {
            logger.warn("store busy", JSONObject([("request_id", .string(ctx.requestId)), ("error", .string(e.description))]))
            return .failure(.unavailable("the database is busy; retry shortly"))
        } catch {
            logger.error("unhandled error", JSONObject([("request_id", .string(ctx.requestId)), ("error", .string(String(describing: error)))]))
            return .failure(.internalError())
        }
    }

    /// Idempotency-Key on an authenticated POST (design §12): takes the key for this request, or returns the
    /// kept answer to replay, or throws 409/422. In test mode the key is checked but not kept: nothing is.
    /// Open routes (the inbound webhook, whose events carry their own ids) have no tenant to keep it under.
    private func beginIdempotent(_ route: Route, _ ctx: RequestContext) throws -> Reply? {
        guard route.method == "POST", let idempotency, let principal = ctx.principal,
              let key = try IdempotencyKeys.key(in: ctx.request.headers), !ctx.testMode else { return nil }
        switch try idempotency.begin(ctx, key: key, tenantId: principal.tenantId) {
        case .replay(let stored):
            return IdempotencyKeys.replayReply(stored, requestId: ctx.requestId)
        case .proceed(let claim):
            ctx.idempotencyClaim = claim
            return nil
        }
    }

    private func authorize(_ principal: Principal, _ access: Access) throws {
        switch access {
        case .open, .authenticated:
            return
        case .admin:
            if principal.role != .admin { throw APIError.forbidden("API-key management requires admin role.") }
        case .adminOnly(let message):
            if principal.role != .admin { throw APIError.forbidden(message) }
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
            // A route may answer another media type (the console's files, text/plain metrics); every other header adds.
            for (k, v) in reply.headers {
                if asciiCaseInsensitiveEquals(k, "Content-Type") { headers.set(k, v) } else { headers.add(k, v) }
            }
            if let stream = reply.stream {
                headers.set("Content-Type", "text/event-stream")
                headers.set("Cache-Control", "no-store")
                logAccess(ctx, status: status, bytes: 0, totalMs: totalMs)
                return HTTPResponse(status: status, headers: headers, stream: stream)
            }
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
        headers.add("traceparent", ctx.trace.traceparent)
        (ctx.metrics ?? RouteMetrics.unmatched).record(status: status, seconds: totalMs / 1000)
        logAccess(ctx, status: status, bytes: body.count, totalMs: totalMs)
        let response = HTTPResponse(status: status, headers: headers, body: body)
        // Before the answer is sent, so a retry that follows it at once finds it kept.
        if let claim = ctx.takeIdempotencyClaim() { idempotency?.settle(claim, response) }
        return response
    }

    private func logAccess(_ ctx: RequestContext, status: Int, bytes: Int, totalMs: Double) {
        guard logger.level <= .info else { return }
        var fields = JSONObject([
            ("request_id", .string(ctx.requestId)), ("method", .string(ctx.request.method)),
            ("path", .string(ctx.request.path)), ("status", .int(Int64(status))), ("bytes", .int(Int64(bytes))),
            ("duration_ms", .double((totalMs * 100).rounded() / 100)),
            ("trace_id", .string(ctx.trace.traceId)), ("span_id", .string(ctx.trace.spanId)),
        ])
        if let p = ctx.principal {
            fields["tenant"] = .int(p.tenantId)
            fields["key_id"] = .int(p.keyId)
        }
        for (key, value) in ctx.logFields where fields[key] == nil { fields[key] = value }
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
    static func newRequestId() -> String { RequestIdGenerator.next() }
}

/// Where a finished response goes: a connection's responder, or an in-process caller.
protocol ReplySink: Sendable {
    func send(_ response: HTTPResponse)
}

extension Responder: ReplySink {}

/// Hands an in-process response to the waiting caller.
private struct InProcessResponder: ReplySink {
    let deliver: @Sendable (HTTPResponse) -> Void
    init(_ deliver: @escaping @Sendable (HTTPResponse) -> Void) { self.deliver = deliver }
    func send(_ response: HTTPResponse) { deliver(response) }
}


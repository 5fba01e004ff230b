import Basics
import Foundation
import HTTPServer
import NeoJSON
import Store

/// `Idempotency-Key` on POST (design §12, Stripe's semantics), kept in the database so it holds across
/// restarts and nodes. The App calls `begin` after the caller is authenticated and authorized, before the
/// handler, and `settle` with the answer, whether the handler replied at once or later:
/// - a new key is taken for this request; its answer is kept 24 h, unless it is a 5xx (the key is freed);
/// - the same key with the same method, path and body replays the kept status, body and headers with
///   `Idempotent-Replayed: true`;
/// - the same key with another request is 422 IDEMPOTENCY_KEY_REUSED; while the first still runs, 409
///   IDEMPOTENCY_KEY_IN_USE.
public final class IdempotencyKeys: Sendable {
    public static let headerName = "Idempotency-Key"
    /// How long a key and its answer are kept.
    static let retention: TimeInterval = 24 * 3600
    /// How long a request may hold its key before another may take it over: longer than any request runs
    /// (an upstream call is capped at 60 s), so only a request whose node died loses it.
    static let lease: TimeInterval = 300
    /// Expired keys are deleted at most this often, in batches, by the request that comes along.
    static let pruneInterval: Double = 60

    /// A kept answer.
    struct Stored: Sendable {
        let status: Int
        let headers: [(String, String)]
        let body: [UInt8]
        /// The request that produced it.
        let requestId: String
    }

    /// The key this request holds until `settle`.
    struct Claim: Sendable {
        let tenantId: Int64
        let key: String
        let requestId: String
    }

    enum Outcome {
        case proceed(Claim)
        case replay(Stored)
    }

    private let store: Store
    private let logger: Logger
    /// Seals kept bodies: an answer may carry a secret shown once (a new API key, a webhook secret).
    private let box: SecretBox
    private let lastPrune = Lock<Double>(0)

    public init(store: Store, logger: Logger, box: SecretBox) {
        self.store = store
        self.logger = logger
        self.box = box
    }

    private static func sealContext(tenantId: Int64, key: String) -> String { "idempotency/\(tenantId)/\(key)" }

    /// The request's key: nil when absent; 400 naming the header when empty, over 255 characters, not
    /// printable ASCII, or sent more than once.
    static func key(in headers: HTTPHeaders) throws -> String? {
        var found: String?
        for field in headers where asciiCaseInsensitiveEquals(field.name, headerName) {
            guard found == nil else {
                throw APIError.badRequest("\(headerName) is given more than once; send one key per request",
                                          details: [.init(field: headerName, issue: "given more than once")])
            }
            found = field.value
        }
        guard let key = found else { return nil }
        guard !key.isEmpty, key.utf8.count <= 255 else {
            throw APIError.badRequest("\(headerName) must be 1-255 characters (got \(key.utf8.count)); a UUIDv4 is a good key",
                                      details: [.init(field: headerName, issue: "must be 1-255 characters")])
        }
        guard key.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw APIError.badRequest("\(headerName) must be printable ASCII; a UUIDv4 is a good key",
                                      details: [.init(field: headerName, issue: "must be printable ASCII")])
        }
        return key
    }

    /// SHA-256 (hex) of what makes two requests the same: method, path with query, and body.
    static func fingerprint(_ request: HTTPRequest) -> String {
        var bytes = Array(request.method.utf8)
        bytes.append(0)
        bytes += Array(request.path.utf8)
        if let q = request.query {
            bytes.append(UInt8(ascii: "?"))
            bytes += Array(q.utf8)
        }
        bytes.append(0)
        bytes += request.body
        return SHA256.hexDigest(bytes)
    }

    /// Takes the key for this request, or answers for it: the kept answer, or 409/422.
    func begin(_ ctx: RequestContext, key: String, tenantId: Int64) throws -> Outcome {
        let fingerprint = Self.fingerprint(ctx.request)
        let now = Date()
        let nowText = Timestamp.format(now)
        let shouldPrune = lastPrune.withLock { last -> Bool in
            guard now.timeIntervalSince1970 - last >= Self.pruneInterval else { return false }
            last = now.timeIntervalSince1970
            return true
        }
        let existing = try ctx.timed {
            try store.write { db -> IdempotencyRecords.Existing in
                if shouldPrune { try IdempotencyRecords.prune(now: nowText, limit: 1000, db) }
                return try IdempotencyRecords.claim(
                    tenantId: tenantId, key: key, fingerprint: fingerprint, requestId: ctx.requestId, now: nowText,
                    lockedUntil: Timestamp.format(now.addingTimeInterval(Self.lease)),
                    expiresAt: Timestamp.format(now.addingTimeInterval(Self.retention)), db)
            }
        }
        switch existing {
        case .none:
            return .proceed(Claim(tenantId: tenantId, key: key, requestId: ctx.requestId))
        case .inFlight(let kept) where kept == fingerprint:
            throw APIError.idempotencyKeyInUse(Self.headerName)
        case .inFlight, .done:
            if case .done(let kept, let stored) = existing, kept == fingerprint {
                guard let body = try? box.open(stored.sealedBody, context: Self.sealContext(tenantId: tenantId, key: key)) else {
                    logger.error("kept idempotent answer does not open", JSONObject([("request_id", .string(ctx.requestId))]))
                    throw APIError.internalError()
                }
                return .replay(Stored(status: stored.status, headers: Self.decodeHeaders(stored.headers), body: Array(body.utf8),
                                      requestId: stored.requestId))
            }
            throw APIError.idempotencyKeyReused(Self.headerName)
        }
    }

    /// Keeps the answer (status < 500) or frees the key (5xx). A store failure here is logged, not
    /// answered: the write itself is done, and the key stays held until its lease runs out.
    func settle(_ claim: Claim, _ response: HTTPResponse) {
        do {
            try store.write { db in
                if response.status >= 500 {
                    try IdempotencyRecords.release(tenantId: claim.tenantId, key: claim.key, requestId: claim.requestId, db)
                } else {
                    let headers = response.headers.fields.filter { !Self.notKept.contains($0.name.lowercased()) }
                    let sealed = box.seal(String(decoding: response.body, as: UTF8.self),
                                          context: Self.sealContext(tenantId: claim.tenantId, key: claim.key))
                    try IdempotencyRecords.complete(tenantId: claim.tenantId, key: claim.key, requestId: claim.requestId,
                                                    .init(status: response.status, headers: Self.encodeHeaders(headers.map { ($0.name, $0.value) }),
                                                          sealedBody: sealed, requestId: claim.requestId), db)
                }
            }
        } catch {
            logger.error("idempotency key not settled", JSONObject([("request_id", .string(claim.requestId)),
                                                                    ("error", .string(String(describing: error)))]))
        }
    }

    /// Deletes every expired key (at start).
    public func pruneExpired() throws {
        let now = Timestamp.now()
        while try store.write({ try IdempotencyRecords.prune(now: now, limit: 1000, $0) }) == 1000 {}
    }

    /// Headers each answer gets afresh rather than replayed: they describe this response, not the kept one.
    private static let notKept: Set<String> = ["content-type", "x-request-id", "cache-control", "x-ratelimit-limit",
                                               "x-ratelimit-remaining", "x-ratelimit-reset"]

    /// The kept answer as this request's reply: the kept body with this request's `meta.request_id`,
    /// the kept headers, `Idempotent-Replayed: true` and `Original-Request` (the id of the request kept).
    static func replayReply(_ stored: Stored, requestId: String) -> Reply {
        var reply = Reply(status: stored.status, headers: stored.headers)
        reply.headers.append(("Idempotent-Replayed", "true"))
        reply.headers.append(("Original-Request", stored.requestId))
        if case .object(var envelope)? = try? JSON.parse(stored.body), case .object(var meta)? = envelope["meta"] {
            meta["request_id"] = .string(requestId)
            envelope["meta"] = .object(meta)
            reply.rawBody = JSON.object(envelope).serialized()
        } else {
            reply.rawBody = stored.body
        }
        return reply
    }

    static func encodeHeaders(_ headers: [(String, String)]) -> String {
        JSON.array(headers.map { .array([.string($0.0), .string($0.1)]) }).serializedString()
    }

    static func decodeHeaders(_ text: String) -> [(String, String)] {
        guard case .array(let items)? = try? JSON.parse(text) else { return [] }
        return items.compactMap { item in
            guard case .array(let pair) = item, pair.count == 2, let n = pair[0].stringValue, let v = pair[1].stringValue else { return nil }
            return (n, v)
        }
    }
}

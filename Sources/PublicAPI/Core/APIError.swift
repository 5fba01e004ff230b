import NeoJSON

/// An error answered in the envelope: a stable code, the status it maps to, a message that says
/// what to fix, and optional per-field details (design §3).
public struct APIError: Error, Equatable {
    /// One problem with one field of the request, e.g. `actions[0].id`.
    public struct Detail: Equatable, Sendable {
        public let field: String
        public let issue: String
        public init(field: String, issue: String) { self.field = field; self.issue = issue }
    }

    public let status: Int
    public let code: String
    public let message: String
    public var details: [Detail]
    /// Extra response headers (Allow, WWW-Authenticate, Retry-After, …).
    public var headers: [(String, String)] = []
    /// `meta.warnings` found before the error (unknown fields ignored), so the envelope still lists them.
    public var warnings: [String] = []
    /// Extra members of the `error` object (a 409's `user_message_id`), after code and message.
    public var fields: [(String, JSON)] = []

    public init(status: Int, code: String, message: String, details: [Detail] = [], headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    /// This error with `more` appended to its warnings.
    public func adding(warnings more: [String]) -> APIError {
        var e = self
        e.warnings += more
        return e
    }

    public static func == (a: APIError, b: APIError) -> Bool {
        a.status == b.status && a.code == b.code && a.message == b.message && a.details == b.details
    }

    public static func badRequest(_ message: String, details: [Detail] = []) -> APIError {
        APIError(status: 400, code: "BAD_REQUEST", message: message, details: details)
    }
    /// Neo's documented create/update refusals (lowercase code).
    public static func neoValidation(_ message: String, field: String? = nil) -> APIError {
        APIError(status: 400, code: "validation_error", message: message,
                 details: field.map { [Detail(field: $0, issue: message)] } ?? [])
    }
    public static func validation(_ details: [Detail]) -> APIError {
        let message = details.count == 1 ? "\(details[0].field): \(details[0].issue)"
            : "\(details.count) fields are invalid; see details"
        return APIError(status: 422, code: "VALIDATION_ERROR", message: message, details: details)
    }
    public static func validation(field: String, _ issue: String) -> APIError {
        validation([Detail(field: field, issue: issue)])
    }
    public static func unauthorized(_ message: String) -> APIError {
        APIError(status: 401, code: "UNAUTHORIZED", message: message, headers: [("WWW-Authenticate", "Bearer realm=\"neo-server\"")])
    }
    public static func forbidden(_ message: String) -> APIError {
        APIError(status: 403, code: "FORBIDDEN", message: message)
    }
    public static func notFound(_ message: String) -> APIError {
        APIError(status: 404, code: "NOT_FOUND", message: message)
    }
    public static func conflict(_ message: String) -> APIError {
        APIError(status: 409, code: "CONFLICT", message: message)
    }
    /// Idempotency-Key (design §12): the first request with this key is still running.
    public static func idempotencyKeyInUse(_ header: String) -> APIError {
        APIError(status: 409, code: "IDEMPOTENCY_KEY_IN_USE",
                 message: "a request with this \(header) is still being processed; retry when it has finished",
                 details: [.init(field: header, issue: "in use by a request in progress")], headers: [("Retry-After", "1")])
    }
    /// Idempotency-Key (design §12): the key was used with another method, path or body.
    public static func idempotencyKeyReused(_ header: String) -> APIError {
        APIError(status: 422, code: "IDEMPOTENCY_KEY_REUSED",
                 message: "this \(header) was used with another request (method, path or body differ); use a new key for a new request",
                 details: [.init(field: header, issue: "already used with another request")])
    }
    public static func unsupportedMediaType(_ message: String) -> APIError {
        APIError(status: 415, code: "UNSUPPORTED_MEDIA_TYPE", message: message)
    }
    public static func internalError() -> APIError {
        APIError(status: 500, code: "INTERNAL_ERROR", message: "internal error; quote the request_id to the operator")
    }
    public static func unavailable(_ message: String) -> APIError {
        APIError(status: 503, code: "UNAVAILABLE", message: message, headers: [("Retry-After", "1")])
    }
}

/// Why the executor did not produce an upstream result. The API layer maps `kind` to a status:
/// invalid input → 422 naming `field`, refused → 422 (field) or 502, timeout → 504, upstream/token → 502.
public struct ExecutorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What failed, which decides the status the API answers with.
    public enum Kind: Sendable, Equatable {
        /// The caller's input cannot make a valid request (missing body field, bad header, unsafe path).
        case invalidInput
        /// The SSRF guard or the upstream policy refused the destination.
        case refused
        /// The upstream did not answer within the config's timeout.
        case timeout
        /// Connect, DNS, TLS or protocol failure talking to the upstream.
        case upstream
        /// The OAuth2 token endpoint refused or answered garbage.
        case token
    }

    public let kind: Kind
    /// The invoke field at fault (`body.email`, `headers.Cookie`, `path`), when there is one.
    public let field: String?
    /// What went wrong and what to fix; never holds a secret.
    public let message: String
    /// Attempts made before this failure that were tried again (an upstream retry block).
    public var earlierAttempts: [UpstreamAttempt] = []

    public init(_ kind: Kind, field: String? = nil, _ message: String, earlierAttempts: [UpstreamAttempt] = []) {
        self.kind = kind
        self.field = field
        self.message = message
        self.earlierAttempts = earlierAttempts
    }

    public var description: String { field.map { "\($0): \(message)" } ?? message }

    static func invalid(_ field: String, _ message: String) -> ExecutorError { .init(.invalidInput, field: field, message) }
    static func refused(_ field: String?, _ message: String) -> ExecutorError { .init(.refused, field: field, message) }
}

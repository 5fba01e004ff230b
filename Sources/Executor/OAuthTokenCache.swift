import Basics
import Foundation

/// OAuth2 access tokens per (tenant, config, token_url, params hash), refreshed before expiry and
/// fetched single-flight: while one fetch runs, other callers for the key queue a completion and
/// are answered when it lands. The lock is never held across I/O.
public final class OAuthTokenCache: Sendable {
    /// Identifies one credential set; `paramsHash` changes when any token parameter does.
    public struct Key: Hashable, Sendable {
        public let tenant: String
        public let config: String
        public let tokenURL: String
        public let paramsHash: String

        public init(tenant: String, config: String, settings: OAuth2ClientCredentials) {
            self.tenant = tenant
            self.config = config
            tokenURL = settings.tokenURL
            var material = settings.params.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
            if let auth = settings.tokenAuth { material += "\nbasic:\(auth.username):\(auth.password)" }
            paramsHash = SHA256.hash(Array(material.utf8)).map { String(format: "%02x", $0) }.joined()
        }
    }

    /// A fetched token and how long the provider said it lives.
    public struct Grant: Sendable, Equatable {
        public let accessToken: String
        public let lifetime: Double
        public init(accessToken: String, lifetime: Double) {
            self.accessToken = accessToken
            self.lifetime = lifetime
        }
    }

    public typealias Completion = @Sendable (Result<String, ExecutorError>) -> Void
    /// Starts one token request and reports its grant.
    public typealias Fetch = @Sendable (@escaping @Sendable (Result<Grant, ExecutorError>) -> Void) -> Void

    private enum Slot {
        case ready(Grant, obtainedAt: Double)
        case fetching([Completion])
    }

    private struct State {
        var slots: [Key: Slot] = [:]
        var fetches = 0
    }
    private let state = Lock(State())
    private let now: @Sendable () -> Double

    /// `now` is a monotonic clock in seconds (injectable for tests).
    public init(now: @escaping @Sendable () -> Double = { monotonicNow() }) {
        self.now = now
    }

    /// Token fetches started so far (for tests and the bench).
    public var fetchCount: Int { state.withLock { $0.fetches } }

    /// A token is refreshed when less than max(30 s, 10 %) of its lifetime remains (design §6).
    public static func needsRefresh(obtainedAt: Double, lifetime: Double, now: Double) -> Bool {
        let remaining = obtainedAt + lifetime - now
        return remaining < max(30, lifetime * 0.1)
    }

    /// Answers with a fresh token for `key`, calling `fetch` only when none is cached or in flight.
    public func token(for key: Key, fetch: Fetch, completion: @escaping Completion) {
        enum Next { case answer(String), wait, fetch }
        let next: Next = state.withLock { state in
            switch state.slots[key] {
            case .ready(let grant, let obtainedAt)?
                where !Self.needsRefresh(obtainedAt: obtainedAt, lifetime: grant.lifetime, now: now()):
                return .answer(grant.accessToken)
            case .fetching(var waiters)?:
                waiters.append(completion)
                state.slots[key] = .fetching(waiters)
                return .wait
            default:
                state.slots[key] = .fetching([completion])
                state.fetches += 1
                return .fetch
            }
        }
        switch next {
        case .answer(let token):
            UpstreamMetrics.tokenCacheHits.add()
            completion(.success(token))
        case .wait:
            UpstreamMetrics.tokenCacheHits.add()
        case .fetch:
            UpstreamMetrics.tokenFetches.add()
            fetch { [self] result in
                let waiters: [Completion] = state.withLock { state in
                    guard case .fetching(let waiting)? = state.slots[key] else { return [] }
                    switch result {
                    case .success(let grant): state.slots[key] = .ready(grant, obtainedAt: now())
                    case .failure: state.slots[key] = nil
                    }
                    return waiting
                }
                let answer = result.map(\.accessToken)
                for w in waiters { w(answer) }
            }
        }
    }

    /// Forgets `token` after the upstream refused it (401), unless a newer one already replaced it.
    public func invalidate(_ key: Key, token: String) {
        state.withLock { state in
            if case .ready(let grant, _)? = state.slots[key], grant.accessToken == token { state.slots[key] = nil }
        }
    }
}

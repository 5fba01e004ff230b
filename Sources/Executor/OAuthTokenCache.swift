import Basics
import Foundation

/// NEO_OAUTH_REFRESH: `local` (the default) caches tokens per node, each node fetching its own; `shared` has the
/// nodes on one PostgreSQL fetch a token once between them (a `SharedTokenStore`).
public enum OAuthRefreshMode: String, Sendable, CaseIterable { case local, shared }

/// Where nodes sharing a database coordinate their token fetches (NEO_OAUTH_REFRESH=shared). The Executor knows no
/// database: PublicAPI implements this over the store, keeping the token sealed with the secret key.
public protocol SharedTokenStore: Sendable {
    /// A stored token for `key` that is not due for refresh (with its remaining lifetime in seconds), or the fetch
    /// lease for `key` taken for `holder` for `leaseSeconds`, or neither: another holder's lease is running.
    func acquire(_ key: OAuthTokenCache.Key, holder: String, leaseSeconds: Double) throws -> SharedTokenState
    /// Stores the grant `holder` fetched (sealed) and ends its lease.
    func store(_ key: OAuthTokenCache.Key, grant: OAuthTokenCache.Grant, holder: String) throws
    /// Ends `holder`'s lease without a token (its fetch failed): the next caller fetches.
    func release(_ key: OAuthTokenCache.Key, holder: String) throws
    /// Forgets the stored token when it is `token` (the upstream refused it).
    func forget(_ key: OAuthTokenCache.Key, token: String) throws
}

/// What `SharedTokenStore.acquire` found.
public enum SharedTokenState: Sendable, Equatable {
    case token(String, remaining: Double)
    case leased
    case busy
}

/// OAuth2 access tokens per (tenant, config, token_url, params hash), refreshed before expiry and
/// fetched single-flight: while one fetch runs, other callers for the key queue a completion and
/// are answered when it lands. The lock is never held across I/O. The cache is per process (per node); with a
/// `SharedTokenStore` (NEO_OAUTH_REFRESH=shared) the fetch is single-flight across the nodes too: the node that
/// needs a token first reads the database, takes a short lease when none is stored, fetches and stores it; the
/// others wait for the lease and read the token it stored.
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
    private let shared: SharedTokenStore?
    /// This process, as the holder of shared leases.
    private let holder = SecureRandom.uuid()
    /// How long a shared fetch lease lasts: a node that dies holding it delays the others this long at most.
    let leaseSeconds: Double
    /// How often a node waiting for another's lease looks for the token.
    let pollSeconds: Double

    /// `now` is a monotonic clock in seconds (injectable for tests); `shared` makes fetches single-flight across nodes.
    public init(now: @escaping @Sendable () -> Double = { monotonicNow() }, shared: SharedTokenStore? = nil,
                leaseSeconds: Double = 20, pollSeconds: Double = 0.05) {
        self.now = now
        self.shared = shared
        self.leaseSeconds = leaseSeconds
        self.pollSeconds = pollSeconds
    }

    /// Whether fetches are coordinated with other nodes.
    public var isShared: Bool { shared != nil }

    /// Token fetches started so far (for tests and the bench).
    public var fetchCount: Int { state.withLock { $0.fetches } }

    /// A token is refreshed when less than max(30 s, 10 %) of its lifetime remains (design §6).
    public static func needsRefresh(obtainedAt: Double, lifetime: Double, now: Double) -> Bool {
        let remaining = obtainedAt + lifetime - now
        return remaining < max(30, lifetime * 0.1)
    }

    /// Answers with a fresh token for `key`, calling `fetch` only when none is cached or in flight.
    public func token(for key: Key, fetch: @escaping Fetch, completion: @escaping Completion) {
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
            let finish: @Sendable (Result<Grant, ExecutorError>) -> Void = { [self] result in
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
            guard let shared else {
                UpstreamMetrics.tokenFetches.add()
                return fetch(finish)
            }
            // The database is asked off the caller's thread (which may be the curl thread).
            let started = now()
            DispatchQueue.global().async { [self] in sharedFetch(key, shared, fetch, started: started, finish) }
        }
    }

    /// The node-wide leader of a fetch for `key` asks the database: a stored token, else the lease (then it fetches
    /// and stores), else it waits for the holder's token. Past the lease (its holder died, or the database is away)
    /// it fetches on its own, so a call never fails for want of coordination.
    private func sharedFetch(_ key: Key, _ shared: SharedTokenStore, _ fetch: @escaping Fetch, started: Double,
                             _ finish: @escaping @Sendable (Result<Grant, ExecutorError>) -> Void) {
        while true {
            let state: SharedTokenState
            do { state = try shared.acquire(key, holder: holder, leaseSeconds: leaseSeconds) } catch {
                UpstreamMetrics.tokenFetches.add()
                return fetch(finish)
            }
            switch state {
            case .token(let token, let remaining):
                UpstreamMetrics.tokenCacheHits.add()
                return finish(.success(Grant(accessToken: token, lifetime: remaining)))
            case .leased:
                UpstreamMetrics.tokenFetches.add()
                return fetch { [self] result in
                    DispatchQueue.global().async { [self] in
                        switch result {
                        case .success(let grant): try? shared.store(key, grant: grant, holder: holder)
                        case .failure: try? shared.release(key, holder: holder)
                        }
                        finish(result)
                    }
                }
            case .busy:
                if now() - started > leaseSeconds + 1 {
                    UpstreamMetrics.tokenFetches.add()
                    return fetch(finish)
                }
                Thread.sleep(forTimeInterval: pollSeconds)
            }
        }
    }

    /// Forgets `token` after the upstream refused it (401), unless a newer one already replaced it.
    public func invalidate(_ key: Key, token: String) {
        state.withLock { state in
            if case .ready(let grant, _)? = state.slots[key], grant.accessToken == token { state.slots[key] = nil }
        }
        // Other nodes must not be handed the refused token either; asked before the retry's own fetch reads the
        // database (on the caller's thread, maybe the curl thread's: a rare path, one indexed UPDATE).
        if let shared { try? shared.forget(key, token: token) }
    }
}

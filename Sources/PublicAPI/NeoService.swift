import Basics
import Executor
import Foundation
import HTTPServer
import NeoJSON
import Store

/// Settings the API layer needs (read by NeoServer's Config, the one place configuration is read).
public struct APIConfiguration {
    /// NEO_OAUTH_REFRESH's values (the Executor's enum, named here for NeoServer, which does not import the Executor).
    public typealias OAuthRefresh = OAuthRefreshMode
    public var rateLimit = 1200
    public var rateWindow = 60
    /// NEO_RATE_LIMIT_MODE: per-process counts, or one row per tenant and budget in PostgreSQL (see RateLimiter.Mode).
    public var rateLimitMode = RateLimiter.Mode.local
    /// NEO_OAUTH_REFRESH: `shared` makes nodes on one PostgreSQL fetch an OAuth2 token once between them (a lease and
    /// the token sealed in the database); `local` keeps the cache per node.
    public var oauthRefresh = OAuthRefresh.local
    /// NEO_CHAT_POLL_MS: on PostgreSQL, how often a node looks in the database for chat parts other nodes wrote for
    /// the sessions its clients tail.
    public var chatPollInterval: Double = 0.1
    public var workers = 16
    public var logLevel = Logger.Level.info
    public var version = "0.1.0"
    public var runnerConcurrency = 4
    /// NEO_RUN_LEASE_SECONDS: how long a node's claim on a running run lasts unless its heartbeat renews it.
    public var runLeaseSeconds: Double = 30
    /// NEO_RUN_MAX_ATTEMPTS: attempts a run gets when the nodes running it die.
    public var runMaxAttempts = 3
    /// Which upstream addresses external-API calls may reach (NEO_UPSTREAM_POLICY).
    public var upstreamPolicy = UpstreamPolicy.privateAllowed
    /// Seals stored secrets. NeoServer loads it from NEO_SECRET_KEY or the key file and checks it
    /// against the database; the default is a random per-process key, for in-process tests only.
    public var secretBox = SecretBox(key: SecureRandom.bytes(32))
    /// NEO_SCHEDULE_CATCHUP: seconds a missed slot may still run after downtime.
    public var scheduleCatchup: TimeInterval = 3600
    /// The scheduler's clock (the system's; a scaled one in durability tests).
    public var clock: SchedulerClock = SystemClock()
    /// NEO_CALLBACK_RETENTION_DAYS: callbacks that started no run are deleted after this many days; 0 keeps them.
    public var callbackRetentionDays = 30
    /// NEO_METRICS_TOKEN: the Bearer token `/metrics` requires.
    public var metricsToken: String?
    /// NEO_METRICS_ADDR: a separate listener for `/metrics` only; without it `/metrics` is on the API
    /// listener when a token is set, and nowhere otherwise.
    public var metricsListener: HTTPServerConfiguration?
    /// NEO_CHAT_KEEPALIVE_SECONDS: a chat event stream quiet this long gets a `: keep-alive` comment.
    public var chatKeepAlive: Double = 15
    /// NEO_CHAT_MAX_STREAMS and NEO_CHAT_MAX_STREAMS_PER_KEY: open chat event streams in total and per key.
    public var chatMaxStreams = 4096
    public var chatMaxStreamsPerKey = 256
    public init() {}
}

/// Assembles the running service: store, key service, rate limiter, routes, and the HTTP server.
public final class NeoService {
    public let store: Store
    public let keys: KeyService
    public let app: App
    public let http: HTTPServer
    public let runner: ExecutionRunner
    public let scheduler: Scheduler
    let retention: CallbackRetention
    let chatEvents: ChatEventHub
    let chatTurns: ChatTurns
    let workers: WorkerPool
    let executor: ExternalAPIExecutor
    /// The `/metrics` listener (NEO_METRICS_ADDR), when configured.
    let metricsHTTP: HTTPServer?
    let idempotency: IdempotencyKeys

    public init(store: Store, http httpConfig: HTTPServerConfiguration, api: APIConfiguration) {
        self.store = store
        let logger = Logger(level: api.logLevel)
        let sharedLimits = api.rateLimitMode == .shared ? store : nil
        let limiter = RateLimiter(limit: api.rateLimit, windowSeconds: Int64(api.rateWindow), budget: "keys", shared: sharedLimits)
        let workers = WorkerPool(threads: api.workers)
        let keys = KeyService(store: store, background: { workers.submit($0) })
        var routes: [Route] = []
        routes += MetaRoutes.routes(store: store, version: api.version)
        routes += ConsoleRoutes.routes()
        MetricsRoutes.registerCollectors(store: store)
        if api.metricsListener == nil, let token = api.metricsToken { routes.append(MetricsRoutes.route(token: token)) }
        routes += KeyRoutes.routes(keys: keys, store: store)
        let scheduler = Scheduler(store: store, clock: api.clock, catchup: api.scheduleCatchup, logger: logger)
        routes += AgentRoutes.routes(store: store, scheduler: scheduler)
        routes += SettingsRoutes.routes(store: store, scheduler: scheduler)
        routes += AuditRoutes.routes(store: store)
        routes += ScheduledWorkRoutes.routes(store: store, scheduler: scheduler)
        // The token cache is per node; NEO_OAUTH_REFRESH=shared coordinates its fetches through PostgreSQL.
        let sharedTokens = api.oauthRefresh == .shared && store.dialect == .postgres ? OAuthLeaseRecords(store: store, box: api.secretBox) : nil
        let executor = ExternalAPIExecutor(policy: api.upstreamPolicy, tokens: OAuthTokenCache(shared: sharedTokens))
        let configs = ExternalAPIRecords(store: store, box: api.secretBox)
        let leases = RunLeases(store: store, logger: logger, seconds: api.runLeaseSeconds, maxAttempts: api.runMaxAttempts)
        routes += ExternalAPIRoutes.routes(configs: configs, executor: executor, leases: leases)
        let providers = LLMProviderRecords(store: store, box: api.secretBox)
        routes += LLMProviderRoutes.routes(providers: providers, policy: api.upstreamPolicy)
        let external = ExternalAPICalls.forRunner(configs: configs, executor: executor)
        let agentLoop = AgentLoop(store: store, logger: logger, configs: configs, providers: providers, external: external,
                                  models: ModelClient(executor: executor))
        let runner = ExecutionRunner(store: store, logger: logger, concurrency: api.runnerConcurrency, external: external,
                                     agentLoop: agentLoop, leases: leases)
        scheduler.queued = { [concurrency = api.runnerConcurrency] count in
            for _ in 0..<min(count, concurrency) { runner.poke() }
        }
        let chatEvents = ChatEventHub(store: store, logger: logger, pollInterval: api.chatPollInterval)
        let chatTurns = ChatTurns(store: store, hub: chatEvents, logger: logger, poke: { runner.poke() })
        chatTurns.runLoop = { execution, agent, observer in agentLoop.run(execution, agent: agent, actionIndex: 0, observer: observer) }
        runner.chatTurns = chatTurns
        // A chat turn whose execution the reaper failed (too many interruptions) ends failed; a requeued one goes on.
        leases.onReaped = { [weak chatTurns] taken in
            if taken.contains(where: { !$0.requeued }) { chatTurns?.settleOrphans() }
        }
        routes += ChatRoutes.routes(store: store, turns: chatTurns,
                                    limits: .init(keepAlive: api.chatKeepAlive, maxTotal: api.chatMaxStreams, maxPerKey: api.chatMaxStreamsPerKey))
        routes += ExecutionRoutes.routes(store: store, runner: runner)
        routes += PerformanceRoutes.routes(store: store)
        routes.append(RunNowRoute.route(store: store, runner: runner))
        let webhookEndpoints = WebhookEndpointRecords(box: api.secretBox)
        routes += WebhookEndpointRoutes.routes(store: store, records: webhookEndpoints)
        // Signed inbound deliveries have a budget of their own per tenant (NEO_RATE_LIMIT), apart from its keys':
        // a PSA's burst does not lock the tenant's people out of the API, nor the other way round.
        let inboundLimiter = RateLimiter(limit: api.rateLimit, windowSeconds: Int64(api.rateWindow), budget: "inbound", shared: sharedLimits)
        routes += CallbackRoutes.routes(store: store, callbacks: CallbackService(store: store, runner: runner), endpoints: webhookEndpoints,
                                        inboundLimiter: inboundLimiter)
        routes += ApprovalRoutes.routes(store: store, runner: runner, appliers: [
            .agentUpdate: AgentRecords.heldEditApplier(scheduler),
            .configWrite: ConfigWriteApproval.applier(configs),
        ])
        let idempotency = IdempotencyKeys(store: store, logger: logger, box: api.secretBox)
        let app = App(routes: routes, logger: logger, workers: workers,
                      authenticate: keys.authenticate, rateLimit: limiter.headers, idempotency: idempotency)
        agentLoop.neoAPI = { [unowned app] request, principal in app.serveInProcess(request, as: principal) }
        self.keys = keys
        self.idempotency = idempotency
        self.app = app
        self.workers = workers
        self.runner = runner
        self.scheduler = scheduler
        retention = CallbackRetention(store: store, clock: api.clock, days: api.callbackRetentionDays, logger: logger)
        self.executor = executor
        self.chatEvents = chatEvents
        self.chatTurns = chatTurns
        http = HTTPServer(configuration: httpConfig, handler: app.handle, errorResponder: app.errorResponse)
        if let listener = api.metricsListener {
            let metricsApp = App(routes: [MetricsRoutes.route(token: api.metricsToken)], logger: logger, workers: workers,
                                 authenticate: keys.authenticate, rateLimit: limiter.headers)
            metricsHTTP = HTTPServer(configuration: listener, handler: metricsApp.handle, errorResponder: metricsApp.errorResponse)
        } else {
            metricsHTTP = nil
        }
        http.onLoopStart = { [logger] in
            do { try store.attachReaderToCurrentThread() } catch {
                logger.error("event loop has no store reader of its own", ["error": .string(String(describing: error))])
            }
        }
    }

    /// Binds and listens without serving yet (see `HTTPServer.bind`); returns the bound port.
    /// A taken port fails here, before the caller bootstraps keys or prints anything.
    @discardableResult
    public func bind() throws -> Int {
        try metricsHTTP?.bind()
        return try http.bind()
    }

    /// The bound port of the `/metrics` listener, when there is one.
    public var metricsPort: Int? { metricsHTTP?.port }

    /// Starts the execution runner and the scheduler, and serves (binding first unless `bind` already did);
    /// returns the bound port.
    @discardableResult
    public func start() throws -> Int {
        try http.bind()
        try idempotency.pruneExpired()
        chatEvents.start()
        try runner.start()
        chatTurns.recover()
        try scheduler.start()
        retention.start()
        try metricsHTTP?.start()
        return try http.start()
    }

    /// Graceful stop: in-flight requests finish, the scheduler stops firing, then the store closes.
    public func shutdown() {
        http.shutdown()
        metricsHTTP?.shutdown()
        scheduler.stop()
        retention.stop()
        runner.stop()
        chatEvents.stop()
        workers.shutdown()
        executor.shutdown()
        store.close()
    }
}

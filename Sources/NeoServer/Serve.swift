import Basics
import Executor
import Foundation
import HTTPServer
import PublicAPI
import Store
#if canImport(Glibc)
import Glibc
#endif

/// `neo-server serve`: open and migrate the store, check the secret key, bind the port, bootstrap
/// an admin key, serve, and stop gracefully on SIGTERM/SIGINT. Every check that can fail comes
/// before the bootstrap, so a start that fails prints no key; one that created the database also
/// removes it again.
enum Serve {
    static func run(_ config: Config) -> Never {
        // Signals are taken synchronously by this thread (sigwait), so block them before any
        // other thread starts; writes to closed sockets must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        // OpenSSL's first use (its providers, configuration and random generator: ~1 ms) on another core while this
        // thread opens the store; the secret key and the bootstrap key need it next.
        StartupWork.started()
        Thread {
            _ = SecureRandom.bytes(1)
            StartupWork.finished()
        }.start()

        // A bad fixture stops the start before the database is touched. A database this start creates holds nothing
        // yet and is taken back out when the start fails, so it is created and migrated while another thread parses
        // the fixture (two cores: the parse is off the cold start's path); an existing one is opened only after.
        var created = CreatedFiles(database: config.db)
        var parsing: Lock<Result<Fixture, SeedCommand.Refusal>?>?
        if let path = config.seed, created.isNewDatabase {
            let result = Lock<Result<Fixture, SeedCommand.Refusal>?>(nil)
            let policy = config.upstreamPolicy
            Thread {
                let parsed = SeedCommand.read(path, policy: policy)
                result.withLock { $0 = parsed }
                result.notifyAll()
            }.start()
            parsing = result
        }
        var fixture = parsing == nil ? config.seed.map { SeedCommand.parse($0, config: config) } : nil
        let opened = Result { try openStore(config) }
        if let parsing, let path = config.seed {
            switch parsing.withLock(waitingUntil: { $0 != nil }, { $0! }) {
            case .success(let parsed):
                SeedCommand.warn(parsed, path: path)
                fixture = parsed
            case .failure(let problem):
                if case .success(let store) = opened { store.close() }
                created.undo()
                fail(problem.message, code: 1)
            }
        }
        let store: Store
        switch opened {
        case .success(let opened):
            store = opened
        case .failure(let error):
            created.undo()
            fail(isPostgresURL(config.db) ? "cannot open the PostgreSQL database NEO_DB=\(config.dbPath): \(error)"
                                           : "cannot open database \(config.dbPath): \(error)", code: 1)
        }
        /// Stops a start that has not served yet: closes the store, undoes what this start created.
        func abort(_ message: String) -> Never {
            store.close()
            created.undo()
            fail(message, code: 1)
        }

        let box: SecretBox
        do {
            let loaded = try SecretKey.load(config)
            if let path = loaded.createdFile { created.addKeyFile(path) }
            box = SecretBox(key: loaded.key)
            try SecretKeyCheck.verify(box, store: store)
        } catch {
            abort("\(error)")
        }
        var api = APIConfiguration()
        api.rateLimit = config.rateLimit
        api.rateWindow = config.rateWindow
        api.rateLimitMode = config.rateLimitMode
        api.oauthRefresh = config.oauthRefresh
        api.chatPollInterval = Double(config.chatPollMs) / 1000
        if store.dialect == .sqlite && (config.rateLimitMode == .shared || config.oauthRefresh == .shared) {
            // Allowed (a config shared with PostgreSQL nodes starts), but one SQLite file has one node: nothing to share.
            note("neo-server: NEO_RATE_LIMIT_MODE=shared / NEO_OAUTH_REFRESH=shared have no effect on SQLite (one node): counting and caching in memory")
        }
        api.runnerConcurrency = config.runnerConcurrency
        api.runLeaseSeconds = config.runLeaseSeconds
        api.runMaxAttempts = config.runMaxAttempts
        api.scheduleCatchup = TimeInterval(config.scheduleCatchup)
        api.callbackRetentionDays = config.callbackRetentionDays
        api.chatKeepAlive = config.chatKeepAlive
        api.chatMaxStreams = config.chatMaxStreams
        api.chatMaxStreamsPerKey = config.chatMaxStreamsPerKey
        if config.testClockSpeed != 1 || config.testClockOffset != 0 {
            api.clock = ScaledClock(speed: config.testClockSpeed, offset: config.testClockOffset)
            note("neo-server: NEO_TEST_CLOCK_SPEED/NEO_TEST_CLOCK_OFFSET set: the scheduler runs on a test clock, not the real time")
        }
        api.logLevel = config.logLevel
        api.version = neoServerVersion
        api.upstreamPolicy = .init(rawValue: config.upstreamPolicy)!
        api.secretBox = box
        api.metricsToken = config.metricsToken
        if let address = config.metricsAddress {
            var metrics = config.httpConfiguration
            metrics.host = address.host
            metrics.port = address.port
            metrics.threads = 1
            api.metricsListener = metrics
        }
        let loops = config.threads > 0 ? config.threads : ProcessInfo.processInfo.activeProcessorCount
        api.workers = config.workers > 0 ? config.workers : max(4, loops * 4)
        let service = NeoService(store: store, http: config.httpConfiguration, api: api)
        let shownHost = config.host.contains(":") ? "[\(config.host)]" : config.host
        let port: Int
        do {
            port = try service.bind()
        } catch let error as HTTPServerStartError where error.code == .EADDRINUSE {
            abort("\(shownHost):\(config.port) is already in use (another neo-server?); "
                  + "choose another port with --port N or NEO_PORT=N (0 picks a free one)")
        } catch {
            abort("\(error); check --host/NEO_HOST and --port/NEO_PORT")
        }
        if let fixture, let path = config.seed {
            do {
                let report = try fixture.load(into: store, box: box, scheduler: service.scheduler, source: .command("serve --seed"))
                SeedCommand.announce(report, path: path)
            } catch {
                abort("fixture \(path): \(error)")
            }
        }
        created.announceKeyFile()
        bootstrap(store, config)
        do {
            try service.start()
        } catch {
            fail("\(error)", code: 1)
        }
        // Before "listening on": whoever waits for that line has the metrics address too.
        if let metricsPort = service.metricsPort, let address = config.metricsAddress {
            let host = address.host.contains(":") ? "[\(address.host)]" : address.host
            say("metrics on http://\(host):\(metricsPort)/metrics")
        }
        say("listening on http://\(shownHost):\(port)")
        let curlLoaded = preloadLibcurl()
        service.app.logger.info("started", ["port": .int(Int64(port)), "db": .string(config.dbPath), "version": .string(neoServerVersion)])

        var received: Int32 = 0
        sigwait(&set, &received)
        service.app.logger.info("shutting down", ["signal": .int(Int64(received))])
        service.shutdown()
        curlLoaded.wait()  // exit's atexit cleanup (OpenSSL's among it) must not run beside curl_global_init
        exit(0)
    }

    /// libcurl is loaded with dlopen, not linked (CurlLibrary): its dependency tree (gssapi/krb5, ldap, nghttp2, ssh2,
    /// ...) is ~38 → 8 libraries the loader maps before `main`, ~6-10 ms of CPU. A thread loads it once the server
    /// listens, so the load neither delays `listening` nor takes a core from the start on a busy box; the first
    /// upstream call waits for it (CurlClient.send). A missing libcurl is said once here and fails those calls.
    static func preloadLibcurl() -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread {
            if let problem = CurlLibrary.load() {
                note("neo-server: \(problem); calls to external APIs and model providers fail until the server restarts with it")
            }
            done.signal()
        }.start()
        return done
    }

    /// First start: make sure an admin key exists. `NEO_BOOTSTRAP_ADMIN_KEY` installs that exact key
    /// (idempotent, for CI); otherwise a new one is printed once when no admin key exists.
    static func bootstrap(_ store: Store, _ config: Config) {
        let keys = KeyService(store: store)
        do {
            if let key = config.bootstrapAdminKey {
                guard KeyService.isWellFormed(key) else {
                    fail("NEO_BOOTSTRAP_ADMIN_KEY must look like neo_sk_<env>_<secret> (secret: 16-128 letters and digits)")
                }
                if try !keys.exists(key) {
                    // The tenant and the key in one transaction: one commit (one fsync) on a first start.
                    try store.write { db in
                        let tenant = try keys.tenant(named: "default")
                        _ = try keys.create(tenantId: tenant, spec: .admin(name: "bootstrap admin"), key: key, in: db, audit: .command("serve bootstrap"))
                    }
                    say("installed the admin key from NEO_BOOTSTRAP_ADMIN_KEY for tenant 'default'")
                }
            } else if try !keys.hasAdminKey() {
                let (_, key) = try store.write { db in
                    let tenant = try keys.tenant(named: "default")
                    return try keys.create(tenantId: tenant, spec: .admin(name: "bootstrap admin"), in: db, audit: .command("serve bootstrap"))
                }
                say("created tenant 'default' and its first admin key (shown once, store it now):")
                say("  \(key)")
            } else {
                say("an admin key exists (shown only when it was created); lost it? "
                    + "neo-server keys create --tenant default --role admin --db \(config.dbPath)")
            }
        } catch {
            fail("bootstrap failed: \(error)", code: 1)
        }
    }
}

/// Work a start runs on other threads that `fail` waits for before it exits: OpenSSL initializing on another thread
/// while `exit` runs its atexit cleanup could crash a start that was only meant to stop with a message.
enum StartupWork {
    private static let pending = Lock(0)

    static func started() { pending.withLock { $0 += 1 } }

    static func finished() {
        pending.withLock { $0 -= 1 }
        pending.notifyAll()
    }

    /// Returns once every started piece of work has finished.
    static func settle() { pending.withLock(waitingUntil: { $0 == 0 }) { _ in } }
}

/// What this start created, so a start that stops before serving can take a brand-new database
/// back out: its missing directories, the file and its WAL files, and the key file made for it.
/// An existing database is left as it is, and so is a key file made for it: that key has sealed
/// the database's secret-key check, so removing it would lock the database out.
struct CreatedFiles {
    let isNewDatabase: Bool
    /// Everything to remove, oldest first.
    private var paths: [String] = []
    /// The secret key file this start created, if any.
    private var keyFile: String?

    /// Records which of the database's paths do not exist yet.
    init(database: String) {
        isNewDatabase = !isPostgresURL(database) && !FileManager.default.fileExists(atPath: database)
        guard isNewDatabase else { return }
        var dir = URL(fileURLWithPath: database).standardizedFileURL.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.path) {
            paths.insert(dir.path, at: 0)
            dir = dir.deletingLastPathComponent()
        }
        paths += [database, database + "-wal", database + "-shm"]
    }

    mutating func addKeyFile(_ path: String) {
        keyFile = path
        if isNewDatabase { paths.append(path) }
    }

    /// After a failed start: removes a new database and what was made for it, newest first (a
    /// directory only while empty); otherwise tells about the key file that stays.
    func undo() {
        guard isNewDatabase else {
            announceKeyFile()
            return
        }
        for path in paths.reversed() { _ = Glibc.remove(path) }
    }

    /// Asks the user to back up the key file this start created, once it is there to stay.
    func announceKeyFile() {
        guard let keyFile else { return }
        note("neo-server: created secret key file \(keyFile); back it up: stored secrets cannot be read without it")
    }
}

import Foundation
import HTTPServer
import PublicAPI
import Store
#if canImport(Glibc)
import Glibc
#endif

/// `neo-server serve`: open and migrate the store, bootstrap an admin key, listen, and stop
/// gracefully on SIGTERM/SIGINT.
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

        let store: Store
        do {
            store = try openStore(config)
        } catch {
            fail("cannot open database \(config.dbPath): \(error)", code: 1)
        }
        // The secret key is checked before anything is printed: a wrong key must stop startup first.
        let box: SecretBox
        do {
            box = SecretBox(key: try SecretKey.load(config))
            try SecretKeyCheck.verify(box, store: store)
        } catch {
            fail("\(error)", code: 1)
        }
        bootstrap(store, config)
        var api = APIConfiguration()
        api.rateLimit = config.rateLimit
        api.rateWindow = config.rateWindow
        api.runnerConcurrency = config.runnerConcurrency
        api.logLevel = config.logLevel
        api.version = neoServerVersion
        api.upstreamPolicy = .init(rawValue: config.upstreamPolicy)!
        api.secretBox = box
        let loops = config.threads > 0 ? config.threads : ProcessInfo.processInfo.activeProcessorCount
        api.workers = config.workers > 0 ? config.workers : max(4, loops * 4)
        let service = NeoService(store: store, http: config.httpConfiguration, api: api)
        let port: Int
        do {
            port = try service.start()
        } catch {
            fail("\(error)", code: 1)
        }
        let shownHost = config.host.contains(":") ? "[\(config.host)]" : config.host
        say("listening on http://\(shownHost):\(port)")
        service.app.logger.info("started", ["port": .int(Int64(port)), "db": .string(config.db), "version": .string(neoServerVersion)])

        var received: Int32 = 0
        sigwait(&set, &received)
        service.app.logger.info("shutting down", ["signal": .int(Int64(received))])
        service.shutdown()
        exit(0)
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
                    let tenant = try keys.tenant(named: "default")
                    _ = try keys.create(tenantId: tenant, spec: .admin(name: "bootstrap admin"), key: key)
                    say("installed the admin key from NEO_BOOTSTRAP_ADMIN_KEY for tenant 'default'")
                }
            } else if try !keys.hasAdminKey() {
                let tenant = try keys.tenant(named: "default")
                let (_, key) = try keys.create(tenantId: tenant, spec: .admin(name: "bootstrap admin"))
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

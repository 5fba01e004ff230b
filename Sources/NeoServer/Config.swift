import Basics
import Foundation
import HTTPServer
import PublicAPI
import Store

/// The one place configuration is read: environment variables (design §8), overridden by flags
/// that mirror them (`--port 0` = `NEO_PORT=0`). A bad value stops startup with a message naming
/// the variable or flag it came from and what it accepts.
struct Config {
    var host = "127.0.0.1"
    var port = 8080
    var db = "./data/neo.db"
    var secretKey: String?
    var secretKeyFile: String?
    var threads = 0
    var workers = 0
    var bootstrapAdminKey: String?
    var upstreamPolicy = "private"
    var rateLimit = 1200
    var rateWindow = 60
    var rateLimitMode = RateLimiter.Mode.local
    var oauthRefresh = APIConfiguration.OAuthRefresh.local
    var chatPollMs = 100
    var logLevel = Logger.Level.info
    var maxBody = 1 << 20
    var headerTimeout = 10.0
    var idleTimeout = 60.0
    var bodyTimeout = 30.0
    var maxConnections = 10_000
    var runnerConcurrency = 4
    var runLeaseSeconds: Double = 30
    var runMaxAttempts = 3
    var dbSerialWrites = false
    var dbConnections = 16
    var scheduleCatchup = 3600
    var callbackRetentionDays = 30
    var chatKeepAlive = 15.0
    var chatMaxStreams = 4096
    var chatMaxStreamsPerKey = 256
    var streamBuffer = 4 << 20
    var testClockSpeed = 1.0
    var testClockOffset = 0.0
    var metricsAddress: (host: String, port: Int)?
    var metricsToken: String?
    var seed: String?

    struct Invalid: Error, CustomStringConvertible { let description: String }

    /// One setting: its variable, flag, help text, and how to apply a raw value (`name` is the
    /// variable or the flag the value came from, for the error message).
    struct Setting: Sendable {
        let env: String
        let help: String
        let apply: @Sendable (_ config: inout Config, _ value: String, _ name: String) throws -> Void
        var flag: String { "--" + env.dropFirst(4).lowercased().replacingOccurrences(of: "_", with: "-") }
    }

    static let settings: [Setting] = [
        Setting(env: "NEO_HOST", help: "address to bind (default 127.0.0.1)") { c, v, name in
            guard !v.isEmpty else { throw Invalid(description: "\(name) must not be empty") }
            c.host = v
        },
        Setting(env: "NEO_PORT", help: "TCP port, 0 = ephemeral (default 8080)") { c, v, name in c.port = try int(v, name, 0...65535) },
        Setting(env: "NEO_DB", help: "SQLite file (default ./data/neo.db), or postgres://… for PostgreSQL") { c, v, name in
            guard !v.isEmpty else { throw Invalid(description: "\(name) must not be empty") }
            c.db = v
        },
        Setting(env: "NEO_SECRET_KEY", help: "base64 of 32 bytes encrypting stored secrets") { c, v, _ in c.secretKey = v },
        Setting(env: "NEO_SECRET_KEY_FILE", help: "key file, created 0600 on first run (default beside the DB)") { c, v, _ in c.secretKeyFile = v },
        Setting(env: "NEO_THREADS", help: "event-loop threads, 0 = one per core (default 0)") { c, v, name in c.threads = try int(v, name, 0...256) },
        Setting(env: "NEO_WORKERS", help: "worker threads for blocking work, 0 = 4 x loops (default 0)") { c, v, name in c.workers = try int(v, name, 0...1024) },
        Setting(env: "NEO_BOOTSTRAP_ADMIN_KEY", help: "admin key to install on start (for CI)") { c, v, _ in c.bootstrapAdminKey = v.isEmpty ? nil : v },
        Setting(env: "NEO_UPSTREAM_POLICY", help: "upstream addresses allowed: public|private|any|loopback (default private)") { c, v, name in
            guard ["public", "private", "any", "loopback"].contains(v) else {
                throw Invalid(description: "\(name) must be one of public, private, any, loopback (got '\(v)')")
            }
            c.upstreamPolicy = v
        },
        Setting(env: "NEO_RATE_LIMIT", help: "requests per 60 s per tenant, 0 = off (default 1200)") { c, v, name in c.rateLimit = try int(v, name, 0...10_000_000) },
        Setting(env: "NEO_RATE_WINDOW", help: "rate-limit window in seconds (default 60, Neo's)") { c, v, name in c.rateWindow = try int(v, name, 1...86_400) },
        Setting(env: "NEO_RATE_LIMIT_MODE", help: "local|shared: count per process, or in PostgreSQL across nodes (default local)") { c, v, name in
            guard let mode = RateLimiter.Mode(rawValue: v) else {
                throw Invalid(description: "\(name) must be one of local, shared (got '\(v.prefix(40))')")
            }
            c.rateLimitMode = mode
        },
        Setting(env: "NEO_OAUTH_REFRESH", help: "local|shared: OAuth2 tokens fetched per node, or once across nodes on PostgreSQL (default local)") { c, v, name in
            guard let mode = APIConfiguration.OAuthRefresh(rawValue: v) else {
                throw Invalid(description: "\(name) must be one of local, shared (got '\(v.prefix(40))')")
            }
            c.oauthRefresh = mode
        },
        Setting(env: "NEO_CHAT_POLL_MS", help: "PostgreSQL: ms between looks for chat parts other nodes wrote (default 100)") { c, v, name in
            c.chatPollMs = try int(v, name, 10...10_000)
        },
        Setting(env: "NEO_LOG_LEVEL", help: "debug|info|warn|error (default info)") { c, v, name in
            guard let level = ["debug": Logger.Level.debug, "info": .info, "warn": .warn, "error": .error][v] else {
                throw Invalid(description: "\(name) must be one of debug, info, warn, error (got '\(v)')")
            }
            c.logLevel = level
        },
        Setting(env: "NEO_MAX_BODY", help: "request body limit in bytes (default 1048576)") { c, v, name in c.maxBody = try int(v, name, 1...(64 << 20)) },
        Setting(env: "NEO_HEADER_TIMEOUT", help: "seconds to receive a request head (default 10)") { c, v, name in c.headerTimeout = try seconds(v, name) },
        Setting(env: "NEO_IDLE_TIMEOUT", help: "seconds an idle keep-alive connection stays open (default 60)") { c, v, name in c.idleTimeout = try seconds(v, name) },
        Setting(env: "NEO_BODY_TIMEOUT", help: "seconds to receive a request body (default 30)") { c, v, name in c.bodyTimeout = try seconds(v, name) },
        Setting(env: "NEO_MAX_CONNECTIONS", help: "open connections before refusing (default 10000)") { c, v, name in c.maxConnections = try int(v, name, 1...1_000_000) },
        Setting(env: "NEO_DB_CONNECTIONS", help: "PostgreSQL: connections per process (default 16)") { c, v, name in c.dbConnections = try int(v, name, 1...1000) },
        Setting(env: "NEO_DB_SERIAL_WRITES", help: "PostgreSQL: on|off, one write transaction at a time per process (default off)") { c, v, name in
            guard v == "on" || v == "off" else { throw Invalid(description: "\(name) must be one of on, off (got '\(v)')") }
            c.dbSerialWrites = v == "on"
        },
        Setting(env: "NEO_RUNNER_CONCURRENCY", help: "executions run at once (default 4)") { c, v, name in c.runnerConcurrency = try int(v, name, 1...256) },
        Setting(env: "NEO_RUN_LEASE_SECONDS", help: "seconds a node's claim on a running run lasts unless renewed (every third of it); another node takes it over after (default 30)") { c, v, name in
            guard let n = Double(v), n.isFinite, n >= 0.5, n <= 3600 else {
                throw Invalid(description: "\(name) must be a number of seconds in [0.5, 3600] (got '\(v)')")
            }
            c.runLeaseSeconds = n
        },
        Setting(env: "NEO_RUN_MAX_ATTEMPTS", help: "attempts a run gets when the nodes running it die; then it fails (default 3)") { c, v, name in
            c.runMaxAttempts = try int(v, name, 1...100)
        },
        Setting(env: "NEO_CALLBACK_RETENTION_DAYS", help: "days a callback that started no run is kept, 0 = forever (default 30)") { c, v, name in
            c.callbackRetentionDays = try int(v, name, 0...36_500)
        },
        Setting(env: "NEO_SCHEDULE_CATCHUP", help: "seconds a slot missed while down may still run, 0 = never (default 3600)") { c, v, name in
            c.scheduleCatchup = try int(v, name, 0...31_536_000)
        },
        Setting(env: "NEO_METRICS_ADDR", help: "HOST:PORT of a separate /metrics listener (default off)") { c, v, name in
            c.metricsAddress = try hostPort(v, name)
        },
        Setting(env: "NEO_METRICS_TOKEN", help: "Bearer token for /metrics; serves it on the API port when NEO_METRICS_ADDR is unset") { c, v, name in
            guard v.utf8.count >= 16, v.utf8.count <= 256, v.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw Invalid(description: "\(name) must be 16-256 printable characters without spaces")
            }
            c.metricsToken = v
        },
        Setting(env: "NEO_SEED", help: "serve: load this JSON fixture before listening (see neo-server seed)") { c, v, name in
            guard !v.isEmpty else { throw Invalid(description: "\(name) must name a JSON fixture file") }
            c.seed = v
        },
        Setting(env: "NEO_CHAT_KEEPALIVE_SECONDS", help: "seconds of quiet before a chat event stream gets a keep-alive comment (default 15)") { c, v, name in
            c.chatKeepAlive = try seconds(v, name)
        },
        Setting(env: "NEO_CHAT_MAX_STREAMS", help: "open chat event streams in total (default 4096)") { c, v, name in c.chatMaxStreams = try int(v, name, 1...1_000_000) },
        Setting(env: "NEO_CHAT_MAX_STREAMS_PER_KEY", help: "open chat event streams per API key (default 256)") { c, v, name in
            c.chatMaxStreamsPerKey = try int(v, name, 1...1_000_000)
        },
        Setting(env: "NEO_STREAM_BUFFER", help: "bytes a streaming response may queue for a slow reader before it is dropped (default 4194304)") { c, v, name in
            c.streamBuffer = try int(v, name, 4096...(1 << 30))
        },
        Setting(env: "NEO_TEST_CLOCK_SPEED", help: "TEST ONLY: the scheduler's clock reads real x speed + offset (default 1)") { c, v, name in
            guard let n = Double(v), n > 0, n <= 100_000 else { throw Invalid(description: "\(name) must be a number in (0, 100000] (got '\(v)')") }
            c.testClockSpeed = n
        },
        Setting(env: "NEO_TEST_CLOCK_OFFSET", help: "TEST ONLY: seconds added to the scheduler's clock (default 0)") { c, v, name in
            guard let n = Double(v), n.isFinite, abs(n) < 1e14 else { throw Invalid(description: "\(name) must be a number of seconds (got '\(v)')") }
            c.testClockOffset = n
        },
    ]

    /// Applies `--flag value` pairs, and the environment for every setting no flag gave; returns the
    /// arguments left over. A flag replaces its variable unread, so a bad value in the environment
    /// never blocks a fix on the command line.
    static func load(environment: [String: String], arguments: [String]) throws -> (Config, [String]) {
        var flagged: [String: String] = [:]
        var rest: [String] = []
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            if let s = settings.first(where: { $0.flag == arg }) {
                guard i + 1 < arguments.count else { throw Invalid(description: "\(arg) needs a value") }
                flagged[s.env] = arguments[i + 1]
                i += 2
            } else {
                rest.append(arg)
                i += 1
            }
        }
        var config = Config()
        for s in settings {
            if let v = flagged[s.env] {
                try s.apply(&config, v, s.flag)
            } else if let v = environment[s.env] {
                try s.apply(&config, v, s.env)
            }
        }
        return (config, rest)
    }

    static var usage: String {
        settings.map { "  \($0.flag.padding(toLength: 24, withPad: " ", startingAt: 0)) \($0.env.padding(toLength: 24, withPad: " ", startingAt: 0)) \($0.help)" }
            .joined(separator: "\n")
    }

    private static func int(_ v: String, _ name: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let n = Int(v), range.contains(n) else {
            throw Invalid(description: "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound) (got '\(v)')")
        }
        return n
    }

    /// `127.0.0.1:9464` or `[::1]:9464`; port 0 picks a free one.
    private static func hostPort(_ v: String, _ name: String) throws -> (host: String, port: Int) {
        let invalid = Invalid(description: "\(name) must be HOST:PORT such as 127.0.0.1:9464 or [::1]:9464 (got '\(v.prefix(100))')")
        guard let colon = v.lastIndex(of: ":"), let port = Int(v[v.index(after: colon)...]), (0...65535).contains(port) else { throw invalid }
        var host = String(v[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains("["), !host.contains("]") else { throw invalid }
        return (host, port)
    }

    private static func seconds(_ v: String, _ name: String) throws -> Double {
        guard let n = Double(v), n > 0, n <= 86_400 else {
            throw Invalid(description: "\(name) must be a number of seconds in (0, 86400] (got '\(v)')")
        }
        return n
    }

    /// `db` made absolute, for messages: a relative `NEO_DB` names a different file in every directory.
    var storeOptions: Store.Options {
        var options = Store.Options(path: db)
        options.postgresConnections = dbConnections
        options.postgresSerialWrites = dbSerialWrites
        options.startsFromSchemaImage = true
        return options
    }

    /// A PostgreSQL URL is shown with its password masked.
    var dbPath: String {
        isPostgresURL(db) ? redactedDatabaseURL(db) : URL(fileURLWithPath: db).standardizedFileURL.path
    }

    var httpConfiguration: HTTPServerConfiguration {
        var h = HTTPServerConfiguration()
        h.host = host
        h.port = port
        h.threads = threads
        h.maxBody = maxBody
        h.headerTimeout = headerTimeout
        h.idleTimeout = idleTimeout
        h.bodyTimeout = bodyTimeout
        h.maxConnections = maxConnections
        h.maxStreamBuffer = streamBuffer
        h.serverName = "neo-server/\(neoServerVersion)"
        return h
    }
}

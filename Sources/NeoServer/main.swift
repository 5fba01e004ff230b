import Basics
import Foundation
import PublicAPI
import Store
#if canImport(Glibc)
import Glibc
#endif

let neoServerVersion = "0.1.0"

/// Built when shown, not at every start (its padding goes through Foundation: 2% of a cold start).
nonisolated var usage: String {
    """
    neo-server \(neoServerVersion): a self-hosted, Neo-compatible public API server

    usage:
      neo-server serve [flags]                       run the server (creates and migrates the DB first)
      neo-server migrate [flags]                     create the DB if missing, apply pending migrations and exit
      neo-server seed FILE [flags]                   load a JSON fixture (tenants, settings, keys, external APIs, agents) and exit
      neo-server keys create --tenant NAME [--create-tenant] [--role admin|member] [--name N] [--env prod|test] [--db PATH]
      neo-server keys list --tenant NAME [--db PATH]
      neo-server keys revoke ID [--db PATH]
      neo-server routes                              list every route the server serves (opens no DB)
      neo-server help                                this text (so does --help or -h after any command)

    keys works offline on the server's existing database: --db PATH or NEO_DB (the default ./data/neo.db
    is relative to the current directory). It never creates a database, nor a tenant unless --create-tenant
    is given, and prints the database it used as "database: PATH" on stderr. keys create prints the new
    key, shown once, alone on the last line of stdout.

    seed FILE (and serve --seed FILE) loads {"tenant", "settings"?, "keys"?, "external_apis"?, "agents"?} or
    {"tenants": [...]} idempotently: external APIs and agents matched by name, keys by their hash; equal entries
    are left alone, different ones updated. Every entry is validated as the API validates it before anything is
    written; a bad one stops, naming it (agents[3].trigger_type), with nothing stored and no key printed.

    flags (each mirrors an environment variable; a flag wins over its variable):
    \(Config.usage)
    """
}

func fail(_ message: String, code: Int32 = 2) -> Never {
    StartupWork.settle()
    writeLine("neo-server: \(message)", to: STDERR_FILENO)
    exit(code)
}

func say(_ message: String) {
    writeLine(message, to: STDOUT_FILENO)
}

/// A line for the person at the terminal, on stderr, so stdout stays the command's output.
func note(_ message: String) {
    writeLine(message, to: STDERR_FILENO)
}

/// Writes a line with write(2), not FileHandle, whose `write` traps when the reader has gone (EPIPE: `serve | head -1`
/// would kill the server). A line nobody reads is dropped; the server goes on.
func writeLine(_ message: String, to fd: Int32) {
    _ = Array((message + "\n").utf8).withUnsafeBytes { writeFully(fd, $0) }
}

/// Opens the configured database, creating it when missing, and applies pending migrations.
func openStore(_ config: Config) throws -> Store {
    let store = try Store(config.storeOptions)
    try store.migrate()
    return store
}

var arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.first ?? "help"
if !arguments.isEmpty { arguments.removeFirst() }

// Help comes before the configuration is read: it must work even when the environment is broken.
if ["help", "--help", "-h"].contains(command) || arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
    say(usage)
    exit(0)
}

let config: Config
let rest: [String]
do {
    (config, rest) = try Config.load(environment: ProcessInfo.processInfo.environment, arguments: arguments)
} catch {
    fail("\(error)\n\n\(usage)")
}

switch command {
case "serve":
    guard rest.isEmpty else { fail("unknown arguments: \(rest.joined(separator: " "))\n\n\(usage)") }
    Serve.run(config)
case "migrate":
    guard rest.isEmpty else { fail("unknown arguments: \(rest.joined(separator: " "))\n\n\(usage)") }
    note("database: \(config.dbPath)")
    do {
        let store = try Store(config.storeOptions)
        let applied = try store.migrate()
        say(applied.isEmpty ? "database is up to date (version \(try store.schemaVersion()))"
            : "applied migrations \(applied.map(String.init).joined(separator: ", ")); now at version \(try store.schemaVersion())")
        store.close()
    } catch {
        fail("migrate failed: \(error)", code: 1)
    }
case "keys":
    KeysCommand.run(rest, config: config)
case "seed":
    SeedCommand.run(rest, config: config)
case "routes":
    guard rest.isEmpty else { fail("unknown arguments: \(rest.joined(separator: " "))\n\n\(usage)") }
    // Every route the router serves, one "METHOD /path" per line (checked against the OpenAPI spec).
    // The routes depend on no data, so the service is assembled on a scratch database, removed
    // after: `routes` never creates or touches the configured one.
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("neo-routes-\(UUID().uuidString)")
    var options = Store.Options(path: scratch.appendingPathComponent("neo.db").path)
    options.readers = 1
    let store: Store
    do {
        store = try Store(options)
    } catch {
        try? FileManager.default.removeItem(at: scratch)
        fail("cannot open a scratch database in \(scratch.path): \(error)", code: 1)
    }
    // Never released before exit: its worker threads refer to it. A metrics token makes the listing
    // include /metrics, which a server serves only when configured (NEO_METRICS_TOKEN or NEO_METRICS_ADDR).
    var listing = APIConfiguration()
    listing.metricsToken = "routes-listing-placeholder"
    let service = NeoService(store: store, http: config.httpConfiguration, api: listing)
    for r in service.app.routes { say("\(r.method) \(r.pattern)") }
    store.close()
    try? FileManager.default.removeItem(at: scratch)
    exit(0)
default:
    fail("unknown command '\(command)'\n\n\(usage)")
}

import Basics
import Executor
import Foundation
import PublicAPI
import Store

/// `neo-server seed FILE` (offline) and `serve --seed FILE`: a CI fixture (design §12) loaded idempotently.
/// The file is read and every entry validated before an existing database is opened for writing (`serve` creates a
/// new one meanwhile, and removes it again on a refusal); a bad entry stops here, naming it (`agents[3].trigger_type`),
/// with nothing stored and no key printed.
enum SeedCommand {
    /// Reads and validates the fixture at `path`; exits 1 naming every problem.
    static func parse(_ path: String, config: Config) -> Fixture {
        switch read(path, policy: config.upstreamPolicy) {
        case .success(let fixture):
            warn(fixture, path: path)
            return fixture
        case .failure(let problem):
            fail(problem.message, code: 1)
        }
    }

    /// Why a fixture was refused: the whole message `fail` prints.
    struct Refusal: Error, Sendable {
        let message: String
    }

    /// Reads and validates the fixture at `path`, printing nothing (any thread: `serve` parses while it creates a new
    /// database).
    static func read(_ path: String, policy: String) -> Result<Fixture, Refusal> {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(Refusal(message: "cannot read fixture \(path): no such file or not readable"))
        }
        do {
            return .success(try Fixture.parse([UInt8](data), policy: UpstreamPolicy(rawValue: policy)!))
        } catch {
            return .failure(Refusal(message: "fixture \(path): \(error)"))
        }
    }

    /// Prints the validators' warnings about a fixture that loads.
    static func warn(_ fixture: Fixture, path: String) {
        for warning in fixture.warnings { note("neo-server: fixture \(path): \(warning)") }
    }

    /// Prints what a load did: a summary line, then each key the server made (shown once).
    static func announce(_ report: Fixture.Report, path: String) {
        // One write for all the entries' lines (a fixture of 100 agents made 100 writes to stderr).
        if !report.lines.isEmpty { note(report.lines.map { "neo-server: seed: \($0)" }.joined(separator: "\n")) }
        say("seeded \(path): \(report.summary)")
        for k in report.createdKeys {
            say("created key '\(k.name)' for tenant '\(k.tenant)' (shown once, store it now):")
            say("  \(k.key)")
        }
    }

    /// The offline command: opens (creating and migrating) the database, checks the secret key, loads, exits.
    static func run(_ args: [String], config: Config) -> Never {
        guard args.count == 1, !args[0].hasPrefix("-") else { fail("seed needs exactly one argument: the fixture FILE\n\n\(usage)") }
        let path = args[0]
        let fixture = parse(path, config: config)
        note("database: \(config.dbPath)")
        var created = CreatedFiles(database: config.db)
        let store: Store
        do { store = try openStore(config) } catch {
            created.undo()
            fail("cannot open database \(config.dbPath): \(error)", code: 1)
        }
        do {
            let loaded = try SecretKey.load(config)
            if let file = loaded.createdFile { created.addKeyFile(file) }
            let box = SecretBox(key: loaded.key)
            try SecretKeyCheck.verify(box, store: store)
            let scheduler = Scheduler(store: store, clock: SystemClock(), catchup: TimeInterval(config.scheduleCatchup),
                                      logger: Logger(level: config.logLevel))
            let report = try fixture.load(into: store, box: box, scheduler: scheduler, source: .command("seed"))
            store.close()
            created.announceKeyFile()
            announce(report, path: path)
            exit(0)
        } catch {
            store.close()
            created.undo()
            fail("fixture \(path): \(error)", code: 1)
        }
    }
}

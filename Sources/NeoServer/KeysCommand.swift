import Basics
import Foundation
import NeoJSON
import PublicAPI
import Store

/// `neo-server keys create|list|revoke`: key management offline, straight against the server's DB.
/// It never creates a database (a key in a new one would not open the running server), nor a tenant
/// unless `--create-tenant` says so, and it names the database it used on stderr.
enum KeysCommand {
    /// A subcommand and what it accepts.
    enum Subcommand: String {
        case create, list, revoke

        /// Its options: name → whether it takes a value (`false`: a switch).
        var options: [String: Bool] {
            switch self {
            case .create: ["tenant": true, "create-tenant": false, "role": true, "name": true, "env": true]
            case .list: ["tenant": true]
            case .revoke: [:]
            }
        }

        /// The names of its positional arguments.
        var arguments: [String] { self == .revoke ? ["ID"] : [] }
    }

    /// Checks every argument, then opens the database and does the work; exits 2 on a usage
    /// mistake, 1 when the database, tenant or key is not there.
    static func run(_ args: [String], config: Config) -> Never {
        guard let name = args.first else { fail("keys needs a subcommand: create, list or revoke\n\n\(usage)") }
        guard let sub = Subcommand(rawValue: name) else { fail("unknown keys subcommand '\(name)'\n\n\(usage)") }
        let (options, arguments) = parse(Array(args.dropFirst()), for: sub)
        let work: (Store) throws -> Void
        switch sub {
        case .create:
            guard let tenantName = options["tenant"], !tenantName.isEmpty else { fail("keys create needs --tenant NAME") }
            let role = options["role"] ?? "member"
            guard role == "admin" || role == "member" else { fail("--role must be admin or member (got '\(role)')") }
            let name = options["name"] ?? "\(role) key"
            guard (1...200).contains(name.count) else { fail("--name must be 1-200 characters") }
            var spec = role == "admin" ? KeySpec.admin(name: name) : KeySpec(name: name)
            if let env = options["env"] {
                guard env == "prod" || env == "test" else { fail("--env must be prod or test (got '\(env)')") }
                spec.env = env
            }
            work = { store in
                let keys = KeyService(store: store)
                let tenant: Int64
                if let id = try keys.existingTenant(named: tenantName) {
                    tenant = id
                } else if options["create-tenant"] != nil {
                    tenant = try keys.tenant(named: tenantName)
                    note("created tenant '\(tenantName)'")
                } else {
                    fail("\(try missingTenant(tenantName, keys, config)); add --create-tenant to create it", code: 1)
                }
                let (view, key) = try keys.create(tenantId: tenant, spec: spec, audit: .command("keys create"))
                say("created \(role) key \(view["id"]?.stringValue ?? "?") for tenant '\(tenantName)' (shown once, store it now):")
                say(key)
            }
        case .list:
            guard let tenantName = options["tenant"] else { fail("keys list needs --tenant NAME") }
            work = { store in
                let keys = KeyService(store: store)
                guard let tenant = try keys.existingTenant(named: tenantName) else {
                    fail(try missingTenant(tenantName, keys, config), code: 1)
                }
                say("ID\tROLE\tLAST4\tCREATED\tEXPIRES\tREVOKED\tNAME")
                for k in try keys.keys(ofTenant: tenant) {
                    say("\(k.id)\t\(k.role.rawValue)\t\(k.last4)\t\(k.createdAt)\t\(k.expiresAt ?? "-")\t\(k.revokedAt ?? "-")\t\(k.name)")
                }
            }
        case .revoke:
            guard let id = Int64(arguments[0]) else { fail("keys revoke needs a numeric key ID (got '\(arguments[0])')") }
            work = { store in
                guard try KeyService(store: store).revoke(id, audit: .command("keys revoke")) else {
                    fail("no key with ID \(id) in \(config.dbPath); see the IDs with: neo-server keys list --tenant NAME", code: 1)
                }
                say("revoked key \(id)")
            }
        }
        let store = openExistingStore(config)
        do {
            try work(store)
        } catch {
            fail("\(error)", code: 1)
        }
        store.close()
        exit(0)
    }

    /// Opens the configured database only if it exists, and names it on stderr.
    static func openExistingStore(_ config: Config) -> Store {
        guard isPostgresURL(config.db) || FileManager.default.fileExists(atPath: config.db) else {
            fail("no database at \(config.dbPath) (keys never creates one); point at the server's database with "
                 + "--db PATH or NEO_DB=PATH (the default ./data/neo.db is relative to the current directory)", code: 1)
        }
        note("database: \(config.dbPath)")
        do {
            return try openStore(config)
        } catch {
            fail("cannot open database \(config.dbPath): \(error)", code: 1)
        }
    }

    /// "no tenant 'x' in PATH (tenants there: a, b)": says where it looked and what it found.
    static func missingTenant(_ name: String, _ keys: KeyService, _ config: Config) throws -> String {
        let names = try keys.tenantNames()
        let found = names.isEmpty ? "it has no tenants yet" : "tenants there: " + names.map { "'\($0)'" }.joined(separator: ", ")
        return "no tenant '\(name)' in \(config.dbPath) (\(found))"
    }

    /// Splits `--option value`, `--switch` and positional arguments by the subcommand's table;
    /// anything it does not list is a usage error.
    static func parse(_ args: [String], for sub: Subcommand) -> (options: [String: String], arguments: [String]) {
        let command = "keys \(sub.rawValue)"
        var options: [String: String] = [:]
        var arguments: [String] = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            i += 1
            guard arg.hasPrefix("--") else {
                arguments.append(arg)
                continue
            }
            let option = String(arg.dropFirst(2))
            guard let takesValue = sub.options[option] else {
                let known = sub.options.keys.sorted().map { "--\($0)" }.joined(separator: ", ")
                fail("\(command) has no option \(arg)" + (known.isEmpty ? "" : " (it takes \(known))") + "\n\n\(usage)")
            }
            if takesValue {
                guard i < args.count else { fail("\(arg) needs a value") }
                options[option] = args[i]
                i += 1
            } else {
                options[option] = ""
            }
        }
        guard arguments.count == sub.arguments.count else {
            let problem = sub.arguments.isEmpty ? "takes no arguments (got \(arguments.joined(separator: " ")))"
                : "needs \(sub.arguments.joined(separator: " "))"
            fail("\(command) \(problem)\n\n\(usage)")
        }
        return (options, arguments)
    }
}

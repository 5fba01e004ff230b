import Foundation
import NeoJSON
import PublicAPI
import Store

/// `neo-server keys create|list|revoke`: key management offline, straight against the DB.
enum KeysCommand {
    static func run(_ args: [String], store: Store) -> Never {
        let keys = KeyService(store: store)
        guard let sub = args.first else { fail("keys needs a subcommand: create, list or revoke\n\n\(usage)") }
        let options = parseOptions(Array(args.dropFirst()))
        do {
            switch sub {
            case "create":
                guard let tenantName = options.named["tenant"], !tenantName.isEmpty else { fail("keys create needs --tenant NAME") }
                let role = options.named["role"] ?? "member"
                guard role == "admin" || role == "member" else { fail("--role must be admin or member (got '\(role)')") }
                let name = options.named["name"] ?? "\(role) key"
                guard (1...200).contains(name.count) else { fail("--name must be 1-200 characters") }
                var spec = role == "admin" ? KeySpec.admin(name: name) : KeySpec(name: name)
                if let env = options.named["env"] {
                    guard env == "prod" || env == "test" else { fail("--env must be prod or test (got '\(env)')") }
                    spec.env = env
                }
                let tenant = try keys.tenant(named: tenantName)
                let (view, key) = try keys.create(tenantId: tenant, spec: spec)
                say("created \(role) key \(view["id"]?.stringValue ?? "?") for tenant '\(tenantName)' (shown once, store it now):")
                say(key)
            case "list":
                guard let tenantName = options.named["tenant"] else { fail("keys list needs --tenant NAME") }
                let rows = try store.read { db in
                    try db.query("SELECT k.id, k.name, k.role, k.last4, k.created_at, k.expires_at, k.revoked_at FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.name = ? ORDER BY k.created_at DESC, k.id DESC", [.text(tenantName)])
                }
                say("ID\tROLE\tLAST4\tCREATED\tEXPIRES\tREVOKED\tNAME")
                for r in rows {
                    say("\(r.int("id")!)\t\(r.string("role")!)\t\(r.string("last4")!)\t\(r.string("created_at")!)\t\(r.string("expires_at") ?? "-")\t\(r.string("revoked_at") ?? "-")\t\(r.string("name")!)")
                }
            case "revoke":
                guard let idText = options.positional.first, let id = Int64(idText) else { fail("keys revoke needs a key ID") }
                let changed = try store.write { db in
                    try db.execute("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", [.text(Timestamp.now()), .int(id)])
                }
                guard changed > 0 else { fail("no key with ID \(id)", code: 1) }
                say("revoked key \(id)")
            default:
                fail("unknown keys subcommand '\(sub)'\n\n\(usage)")
            }
        } catch {
            fail("\(error)", code: 1)
        }
        store.close()
        exit(0)
    }

    static func parseOptions(_ args: [String]) -> (named: [String: String], positional: [String]) {
        var named: [String: String] = [:]
        var positional: [String] = []
        var i = 0
        while i < args.count {
            if args[i].hasPrefix("--") {
                guard i + 1 < args.count else { fail("\(args[i]) needs a value") }
                named[String(args[i].dropFirst(2))] = args[i + 1]
                i += 2
            } else {
                positional.append(args[i])
                i += 1
            }
        }
        return (named, positional)
    }
}

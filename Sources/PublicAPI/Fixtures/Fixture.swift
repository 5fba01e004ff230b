import Basics
import Executor
import Foundation
import NeoJSON
import Store

/// A CI fixture (design §12): `{"tenant", "settings"?, "keys"?, "external_apis"?, "agents"?}` or `{"tenants": [that…]}`,
/// loaded by `neo-server serve --seed FILE` and `neo-server seed FILE`.
///
/// Every entry goes through the API's own validators (AgentCreate, the external-API create body, the settings PUT,
/// the key create body) in `parse`, before an existing store is opened for writing (see Serve); `load` then matches and writes it all in
/// one transaction, so a problem found there (a name that matches two agents, a key of another tenant) also stores
/// nothing. Idempotent: external APIs and agents are matched by name and keys by their hash (or, for keys the fixture
/// lets the server make, by name): an equal entry is left alone, a different one updated. Secrets are sealed on load
/// as the API seals them.
public struct Fixture: Sendable {
    /// Problems with a fixture, each named by its place in the file (`agents[3].trigger_type`).
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let problems: [APIError.Detail]
        public var description: String {
            let shown = problems.prefix(20).map { "\($0.field): \($0.issue)" }
            return (["the fixture is invalid; nothing was stored:"] + shown.map { "  " + $0 }
                + (problems.count > 20 ? ["  … and \(problems.count - 20) more"] : [])).joined(separator: "\n")
        }
    }

    struct KeyEntry {
        let path: String
        /// The exact key to install (`keys[i].key`); nil lets the server make one, printed once.
        let key: String?
        let spec: KeySpec
    }

    struct TenantEntry {
        let path: String
        let name: String
        let settings: JSONObject?
        let keys: [KeyEntry]
        let externalAPIs: [(path: String, config: ExternalAPIConfig)]
        let agents: [(path: String, document: JSONObject)]
    }

    let tenants: [TenantEntry]
    /// The validators' warnings (unknown fields ignored, actions this server does not run), by entry.
    public let warnings: [String]

    /// Bounds on what one fixture may hold.
    static let maxBytes = 64 << 20
    static let maxTenants = 100
    static let maxEntries = 10_000

    /// Parses and validates every entry; throws `Invalid` naming each problem.
    public static func parse(_ bytes: [UInt8], policy: UpstreamPolicy) throws -> Fixture {
        guard bytes.count <= maxBytes else {
            throw Invalid(problems: [.init(field: "(file)", issue: "is \(bytes.count) bytes; a fixture may have at most \(maxBytes)")])
        }
        let root: JSON
        do { root = try JSON.parse(bytes) } catch {
            throw Invalid(problems: [.init(field: "(file)", issue: "is not JSON: \(error)")])
        }
        guard let object = root.objectValue else {
            throw Invalid(problems: [.init(field: "(file)", issue: "must be a JSON object: {\"tenant\": …} or {\"tenants\": [...]}")])
        }
        let v = Validation()
        var tenants: [TenantEntry] = []
        if object["tenants"] != nil {
            let r = FieldReader(object, validation: v)
            let list = r.array("tenants", required: true, maxCount: maxTenants) ?? []
            r.warnUnknown()
            for (i, item) in list.enumerated() {
                guard let entry = item.objectValue else { v.fail("tenants[\(i)]", "must be an object"); continue }
                if let t = tenant(entry, path: "tenants[\(i)]", policy: policy, v) { tenants.append(t) }
            }
            var seen: Set<String> = []
            for t in tenants where !seen.insert(t.name).inserted { v.fail("\(t.path).tenant", "'\(t.name)' is given twice") }
        } else if let t = tenant(object, path: "", policy: policy, v) {
            tenants.append(t)
        }
        if !v.ok { throw Invalid(problems: v.details) }
        return Fixture(tenants: tenants, warnings: v.warnings)
    }

    private static func tenant(_ object: JSONObject, path: String, policy: UpstreamPolicy, _ v: Validation) -> TenantEntry? {
        let r = FieldReader(object, path: path, validation: v)
        func at(_ key: String, _ i: Int) -> String { r.field("\(key)[\(i)]") }
        let name = r.string("tenant", required: true, maxLength: 200, minLength: 1)
        let settings = r.object("settings")
        if let settings {
            let inner = Validation()
            _ = TenantSettings().applying(settings, validation: inner)
            v.absorb(inner, prefix: r.field("settings"))
        }

        var keys: [KeyEntry] = []
        for (i, item) in (r.array("keys", maxCount: maxEntries) ?? []).enumerated() {
            guard let entry = item.objectValue else { v.fail(at("keys", i), "must be an object"); continue }
            let k = FieldReader(entry, path: at("keys", i), validation: v)
            let key = k.string("key", maxLength: 200, minLength: 1)
            if let key, !KeyService.isWellFormed(key) {
                v.fail(k.field("key"), "must look like neo_sk_<env>_<secret> (secret: 16-128 letters and digits)")
            }
            // An agent actor's agent_id is checked against the store in `load`.
            let spec = KeyRoutes.readSpec(k) { _ in true }
            k.warnUnknown()
            keys.append(KeyEntry(path: at("keys", i), key: key, spec: spec))
        }
        var seenKeys: Set<String> = []
        for k in keys { if let key = k.key, !seenKeys.insert(key).inserted { v.fail("\(k.path).key", "is given twice") } }

        var apis: [(String, ExternalAPIConfig)] = []
        for (i, item) in (r.array("external_apis", maxCount: maxEntries) ?? []).enumerated() {
            guard let entry = item.objectValue else { v.fail(at("external_apis", i), "must be an object"); continue }
            let inner = Validation()
            let config = ExternalAPIConfigCodec.decode(entry, validation: inner, stored: nil, policy: policy)
            v.absorb(inner, prefix: at("external_apis", i))
            if let config, inner.ok { apis.append((at("external_apis", i), config)) }
        }
        var seenAPIs: Set<String> = []
        for (p, c) in apis where !seenAPIs.insert(c.name).inserted { v.fail("\(p).name", "'\(c.name)' is given twice") }

        var agents: [(String, JSONObject)] = []
        for (i, item) in (r.array("agents", maxCount: maxEntries) ?? []).enumerated() {
            guard let entry = item.objectValue else { v.fail(at("agents", i), "must be an object"); continue }
            do {
                let (document, warnings) = try newAgentDocument(entry)
                for w in warnings { v.warn("\(at("agents", i)): \(w)") }
                agents.append((at("agents", i), document))
            } catch let e as APIError {
                if e.details.isEmpty { v.fail(at("agents", i), e.message) }
                for d in e.details { v.fail("\(at("agents", i)).\(d.field)", d.issue) }
            } catch {
                v.fail(at("agents", i), String(describing: error))
            }
        }
        var seenAgents: Set<String> = []
        for (p, d) in agents where !seenAgents.insert(d["name"]?.stringValue ?? "").inserted {
            v.fail("\(p).name", "'\(d["name"]?.stringValue ?? "")' is given twice: agents are matched by name")
        }
        r.warnUnknown()
        guard let name else { return nil }
        return TenantEntry(path: path, name: name, settings: settings, keys: keys, externalAPIs: apis, agents: agents)
    }

    /// What a load did, entry by entry, and the keys it made (each shown once, by the caller).
    public struct Report {
        public internal(set) var lines: [String] = []
        public internal(set) var createdKeys: [(tenant: String, name: String, key: String)] = []
        public internal(set) var created = 0
        public internal(set) var updated = 0
        public internal(set) var unchanged = 0

        public var summary: String { "\(created) created, \(updated) updated, \(unchanged) unchanged" }

        mutating func note(_ outcome: String, _ what: String) {
            switch outcome {
            case "created": created += 1
            case "updated": updated += 1
            default: unchanged += 1
            }
            lines.append("\(what): \(outcome)")
        }
    }

    /// Writes the fixture in one transaction (audited as `source`); throws `Invalid`, storing nothing, when an
    /// entry does not fit what the store holds.
    public func load(into store: Store, box: SecretBox, scheduler: Scheduler, source: AuditSource) throws -> Report {
        let configs = ExternalAPIRecords(store: store, box: box)
        return try store.write { db -> Report in
            var report = Report()
            let v = Validation()
            for tenant in tenants {
                try load(tenant, configs: configs, scheduler: scheduler, source: source, v, &report, db)
            }
            if !v.ok { throw Invalid(problems: v.details) }
            return report
        }
    }

    private func load(_ t: TenantEntry, configs: ExternalAPIRecords, scheduler: Scheduler, source: AuditSource, _ v: Validation,
                      _ report: inout Report, _ db: Database) throws {
        let now = Timestamp.now()
        let label = "tenant '\(t.name)'"
        let tenantId: Int64
        if let id = try KeyRecords.tenantId(named: t.name, db) {
            tenantId = id
        } else {
            tenantId = try KeyRecords.insertTenant(named: t.name, now: now, db)
            report.lines.append("\(label): created")
        }
        func field(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

        if let patch = t.settings {
            let current = try SettingsRecords.load(tenantId: tenantId, db)
            let updated = current.applying(patch, validation: Validation())
            if updated == current {
                report.note("unchanged", "\(label) settings")
            } else {
                let before = try AuditRecords.digest(.settings, tenantId: tenantId, db)
                try SettingsRecords.save(updated, tenantId: tenantId, now: now, db)
                if updated.timezone != current.timezone { try scheduler.tenantTimeZoneChanged(tenantId, db) }
                try AuditRecords.append(source, tenantId: tenantId, .settings, status: 200, before: before, db)
                report.note("updated", "\(label) settings")
            }
        }

        for entry in t.keys {
            let what = "\(label) key '\(entry.spec.name)'"
            if let agentId = entry.spec.agentId, try !AgentRecords.exists(agentId, tenantId: tenantId, db) {
                v.fail(field(entry.path, "agent_id"), "no agent \(agentId) in tenant '\(t.name)'")
                continue
            }
            let existing: APIKey?
            if let key = entry.key {
                existing = try KeyRecords.find(hash: SHA256.hash(Array(key.utf8)), db)
            } else {
                existing = try KeyRecords.all(tenantId: tenantId, db).first { $0.name == entry.spec.name && $0.revokedAt == nil }
            }
            guard let existing else {
                let key = entry.key ?? KeyService.newKey(env: entry.spec.env)
                let stored = try KeyRecords.insert(entry.spec, tenantId: tenantId, key: key, rotatedFrom: nil, now: now, db)
                try AuditRecords.append(source, tenantId: tenantId, .apiKey(stored.id), status: 201, before: nil, db)
                if entry.key == nil { report.createdKeys.append((t.name, entry.spec.name, key)) }
                report.note("created", what)
                continue
            }
            guard existing.tenantId == tenantId else {
                v.fail(field(entry.path, "key"), "is a key of another tenant")
                continue
            }
            guard existing.revokedAt == nil else {
                v.fail(field(entry.path, "key"), "was revoked; a fixture cannot bring it back: use another key")
                continue
            }
            let have = existing.spec, want = entry.spec
            if have.name == want.name && have.role == want.role && have.permissions == want.permissions && have.actor == want.actor
                && have.agentId == want.agentId && have.testMode == want.testMode && have.expiresAt == want.expiresAt {
                report.note("unchanged", what)
            } else {
                let before = try AuditRecords.digest(.apiKey(existing.id), tenantId: tenantId, db)
                try KeyRecords.updateRights(existing.id, to: want, db)
                try AuditRecords.append(source, tenantId: tenantId, .apiKey(existing.id), status: 200, before: before, db)
                report.note("updated", what)
            }
        }

        for (_, config) in t.externalAPIs {
            let what = "\(label) external API '\(config.name)'"
            let resource = AuditResource.externalAPI(config.name)
            if let stored = try configs.find(config.name, tenant: tenantId, in: db) {
                if stored.config == config {
                    report.note("unchanged", what)
                } else {
                    let before = try AuditRecords.digest(resource, tenantId: tenantId, db)
                    _ = try configs.update(stored, to: config, tenant: tenantId, in: db)
                    try AuditRecords.append(source, tenantId: tenantId, resource, status: 200, before: before, db)
                    report.note("updated", what)
                }
            } else {
                _ = try configs.insert(config, tenant: tenantId, in: db)
                try AuditRecords.append(source, tenantId: tenantId, resource, status: 201, before: nil, db)
                report.note("created", what)
            }
        }

        let actor = JSON.object(JSONObject([("type", .string(source.actor)), ("source", .string(source.route))]))
        // Read once for all the entries: the tenant's zone (settings are written above) and its agents by name.
        let zone = t.agents.isEmpty ? nil : try SettingsRecords.load(tenantId: tenantId, db).timezone
        let live = t.agents.isEmpty ? [:] : try AgentRecords.liveIdsByName(tenantId: tenantId, db)
        for (path, document) in t.agents {
            let name = document["name"]?.stringValue ?? ""
            let what = "\(label) agent '\(name)'"
            // The same checks as the API's create, against this tenant's external APIs and model providers.
            let problems = try AgentToolbox.problems(document, apiExists: { try AgentRecords.externalAPIExists($0, tenantId: tenantId, db) },
                                                     providerExists: { try LLMProviderRecords.exists($0, tenant: tenantId, in: db) })
            for p in problems { v.fail("\(path).\(p.field)", p.issue) }
            if !problems.isEmpty { continue }
            // Fixture names are unique per tenant (`parse`), so an agent created below is never looked up again.
            let ids = live[name] ?? []
            guard ids.count <= 1 else {
                v.fail("\(path).name", "matches \(ids.count) agents of tenant '\(t.name)' (ids \(ids.map(String.init).joined(separator: ", "))); "
                    + "agents are matched by name: rename or delete all but one")
                continue
            }
            guard let id = ids.first else {
                let stored = try AgentRecords.insert(document, tenantId: tenantId, actor: actor, now: now, db)
                let newId = Int64(stored["id"]?.stringValue ?? "") ?? 0
                try scheduler.agentWritten(newId, document: stored, tenantZone: zone, isNew: true, db)
                try AuditRecords.append(source, tenantId: tenantId, .agent(newId), status: 201, before: nil, db)
                report.note("created", what)
                continue
            }
            let (current, version) = try AgentRecords.load(id, tenantId: tenantId, db)
            var immutable = false
            for key in ["autonomy_type", "entity_type", "audience"] where current[key] != document[key] {
                v.fail("\(path).\(key)", "agent '\(name)' (id \(id)) exists with \(key) \(current[key]?.stringValue ?? "null"), "
                    + "which cannot change; delete it or give the entry another name")
                immutable = true
            }
            if immutable { continue }
            var wanted = document
            for key in ["id", "created_at", "updated_at", "version"] { wanted[key] = current[key] }
            if wanted == current {
                report.note("unchanged", what)
                continue
            }
            let before = try AuditRecords.digest(.agent(id), tenantId: tenantId, db)
            let stored = try AgentRecords.update(id, tenantId: tenantId, expectedVersion: version, document: wanted, actor: actor, now: now, db)
            try scheduler.agentWritten(id, document: stored, tenantZone: zone, isNew: false, db)
            try AuditRecords.append(source, tenantId: tenantId, .agent(id), status: 200, before: before, db)
            report.note("updated", what)
        }
    }
}

extension Validation {
    /// Takes `inner`'s problems and warnings under `prefix` (`agents[3]` + `trigger_type`).
    func absorb(_ inner: Validation, prefix: String) {
        for d in inner.details { fail("\(prefix).\(d.field)", d.issue) }
        for w in inner.warnings { warn("\(prefix): \(w)") }
    }
}

import Basics
import Executor
import Foundation
import NeoJSON
import Store

/// External-API configs in the store, secrets sealed with the server's SecretBox. The seal context
/// binds each ciphertext to its tenant, config and secret path, so a sealed value copied elsewhere
/// does not open.
final class ExternalAPIRecords: Sendable {
    /// A stored config with its plaintext secrets and timestamps.
    struct Stored {
        let id: Int64
        let config: ExternalAPIConfig
        let createdAt: String
        let updatedAt: String

        var view: JSONObject { ExternalAPIConfigCodec.view(config, createdAt: createdAt, updatedAt: updatedAt) }
    }

    let store: Store
    let box: SecretBox

    init(store: Store, box: SecretBox) {
        self.store = store
        self.box = box
    }

    static func sealContext(tenant: Int64, name: String, path: String) -> String { "external_api/\(tenant)/\(name)/\(path)" }

    /// The JSON document stored for `config` (secrets sealed).
    func document(_ config: ExternalAPIConfig, tenant: Int64) -> String {
        JSON.object(ExternalAPIConfigCodec.encode(config) { path, value in
            box.seal(value, context: Self.sealContext(tenant: tenant, name: config.name, path: path))
        }).serializedString()
    }

    func decode(_ row: Row, tenant: Int64) throws -> Stored {
        guard let text = row.string("document"), let object = (try? JSON.parse(text))?.objectValue else {
            throw StoredConfigError(name: row.string("name") ?? "?", reason: "document is not a JSON object")
        }
        let v = Validation()
        guard let sealed = ExternalAPIConfigCodec.decode(object, validation: v) else {
            throw StoredConfigError(name: row.string("name") ?? "?", reason: v.details.map { "\($0.field): \($0.issue)" }.joined(separator: "; "))
        }
        let config = try sealed.mapSecrets { path, value in
            try box.open(value, context: Self.sealContext(tenant: tenant, name: sealed.name, path: path))
        }
        return Stored(id: row.int("id")!, config: config, createdAt: row.string("created_at")!, updatedAt: row.string("updated_at")!)
    }

    func find(_ name: String, tenant: Int64, in db: Database) throws -> Stored? {
        try db.queryOne("SELECT id, name, document, created_at, updated_at FROM external_apis WHERE tenant_id = ? AND name = ?",
                        [.int(tenant), .text(name)]).map { try decode($0, tenant: tenant) }
    }

    func list(tenant: Int64, page: Page) throws -> ([Stored], PageInfo) {
        let (clause, params) = page.keysetClause()
        let rows = try store.read {
            try $0.query("SELECT id, name, document, created_at, updated_at FROM external_apis WHERE tenant_id = ?\(clause) ORDER BY created_at DESC, id DESC LIMIT ?",
                         [.int(tenant)] + params + [.int(Int64(page.size + 1))])
        }
        let (pageRows, info) = page.finish(rows) { ($0.string("created_at")!, String($0.int("id")!)) }
        return (try pageRows.map { try decode($0, tenant: tenant) }, info)
    }

    /// Inserts; nil when the name is taken in this tenant.
    func insert(_ config: ExternalAPIConfig, tenant: Int64, in db: Database) throws -> Stored? {
        if try db.queryOne("SELECT 1 FROM external_apis WHERE tenant_id = ? AND name = ?", [.int(tenant), .text(config.name)]) != nil {
            return nil
        }
        let now = Timestamp.now()
        let id = try db.insertReturningID("INSERT INTO external_apis (tenant_id, name, document, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                       [.int(tenant), .text(config.name), .text(document(config, tenant: tenant)), .text(now), .text(now)])
        return Stored(id: id, config: config, createdAt: now, updatedAt: now)
    }

    func update(_ existing: Stored, to config: ExternalAPIConfig, tenant: Int64, in db: Database) throws -> Stored {
        let now = Timestamp.now()
        try db.execute("UPDATE external_apis SET document = ?, updated_at = ? WHERE id = ? AND tenant_id = ?",
                       [.text(document(config, tenant: tenant)), .text(now), .int(existing.id), .int(tenant)])
        return Stored(id: existing.id, config: config, createdAt: existing.createdAt, updatedAt: now)
    }

    func delete(_ existing: Stored, tenant: Int64, in db: Database) throws {
        try db.execute("DELETE FROM external_apis WHERE id = ? AND tenant_id = ?", [.int(existing.id), .int(tenant)])
    }
}

/// A stored config that cannot be read back (wrong key or a corrupted row): a 500 with the reason logged.
struct StoredConfigError: Error, CustomStringConvertible {
    let name: String
    let reason: String
    var description: String { "external API config '\(name)' cannot be read: \(reason)" }
}

/// Proves at startup that the secret key is the one this database's secrets were sealed with: a
/// known plaintext sealed on first start sits in `settings`, and must open under the current key.
public enum SecretKeyCheck {
    static let settingKey = "secret_key_check"
    static let plaintext = "neo-server secret key check v1"

    public struct Mismatch: Error, CustomStringConvertible {
        public let description = "the secret key (NEO_SECRET_KEY or NEO_SECRET_KEY_FILE) is not the key this database's secrets were encrypted with; start with the original key"
    }

    /// Records the check value on first use; throws `Mismatch` when the key differs.
    public static func verify(_ box: SecretBox, store: Store) throws {
        try store.write { db in
            if let row = try db.queryOne("SELECT value FROM settings WHERE key = ?", [.text(settingKey)]) {
                guard let sealed = row.string("value"), (try? box.open(sealed, context: settingKey)) == plaintext else { throw Mismatch() }
            } else {
                try db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", [.text(settingKey), .text(box.seal(plaintext, context: settingKey))])
            }
        }
    }
}

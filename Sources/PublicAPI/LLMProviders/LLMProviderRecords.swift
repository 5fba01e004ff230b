import Basics
import Executor
import Foundation
import NeoJSON
import Store

/// Model providers in the store, the API key sealed with the server's SecretBox under a context that
/// binds it to its tenant and provider name. At most one default per tenant (a unique index).
final class LLMProviderRecords: Sendable {
    /// A stored provider with its plaintext key and timestamps.
    struct Stored {
        let id: Int64
        let provider: LLMProvider
        let createdAt: String
        let updatedAt: String

        var view: JSONObject { LLMProviderCodec.view(provider, createdAt: createdAt, updatedAt: updatedAt) }
    }

    let store: Store
    let box: SecretBox

    init(store: Store, box: SecretBox) {
        self.store = store
        self.box = box
    }

    static let columns = "id, name, document, is_default, created_at, updated_at"

    static func sealContext(tenant: Int64, name: String) -> String { "llm_provider/\(tenant)/\(name)/api_key" }

    /// The stored JSON: the key sealed; `default` lives in its own column, where the unique index sees it.
    private func document(_ p: LLMProvider, tenant: Int64) -> String {
        var object = LLMProviderCodec.encode(p) { box.seal($0, context: Self.sealContext(tenant: tenant, name: p.provider.name)) }
        object["default"] = nil
        return JSON.object(object).serializedString()
    }

    private func decode(_ row: Row, tenant: Int64) throws -> Stored {
        let name = row.string("name") ?? "?"
        guard let text = row.string("document"), let object = (try? JSON.parse(text))?.objectValue else {
            throw StoredProviderError(name: name, reason: "document is not a JSON object")
        }
        var sealed = object
        let key = sealed.removeValue(forKey: "api_key")?.stringValue
        let v = Validation()
        guard var decoded = LLMProviderCodec.decode(sealed, validation: v) else {
            throw StoredProviderError(name: name, reason: v.details.map { "\($0.field): \($0.issue)" }.joined(separator: "; "))
        }
        decoded.provider.apiKey = try key.map { try box.open($0, context: Self.sealContext(tenant: tenant, name: decoded.provider.name)) }
        decoded.isDefault = row.bool("is_default") ?? false
        return Stored(id: row.int("id")!, provider: decoded, createdAt: row.string("created_at")!, updatedAt: row.string("updated_at")!)
    }

    func find(_ name: String, tenant: Int64, in db: Database) throws -> Stored? {
        try db.queryOne("SELECT \(Self.columns) FROM llm_providers WHERE tenant_id = ? AND name = ?", [.int(tenant), .text(name)])
            .map { try decode($0, tenant: tenant) }
    }

    /// The tenant's default provider, if it has one.
    func findDefault(tenant: Int64, in db: Database) throws -> Stored? {
        try db.queryOne("SELECT \(Self.columns) FROM llm_providers WHERE tenant_id = ? AND is_default = 1", [.int(tenant)])
            .map { try decode($0, tenant: tenant) }
    }

    static func exists(_ name: String, tenant: Int64, in db: Database) throws -> Bool {
        try db.queryOne("SELECT 1 FROM llm_providers WHERE tenant_id = ? AND name = ?", [.int(tenant), .text(name)]) != nil
    }

    func list(tenant: Int64, page: Page) throws -> ([Stored], PageInfo) {
        let (clause, params) = page.keysetClause()
        let rows = try store.read {
            try $0.query("SELECT \(Self.columns) FROM llm_providers WHERE tenant_id = ?\(clause) ORDER BY created_at DESC, id DESC LIMIT ?",
                         [.int(tenant)] + params + [.int(Int64(page.size + 1))])
        }
        let (pageRows, info) = page.finish(rows) { ($0.string("created_at")!, String($0.int("id")!)) }
        return (try pageRows.map { try decode($0, tenant: tenant) }, info)
    }

    /// Inserts; nil when the name is taken. The tenant's first provider is its default unless the body
    /// said `"default": false`; a new default takes over from the old one.
    func insert(_ p: LLMProvider, defaultSent: Bool, tenant: Int64, in db: Database) throws -> Stored? {
        if try Self.exists(p.provider.name, tenant: tenant, in: db) { return nil }
        var p = p
        if !defaultSent, try db.queryOne("SELECT 1 FROM llm_providers WHERE tenant_id = ? LIMIT 1", [.int(tenant)]) == nil {
            p.isDefault = true
        }
        if p.isDefault { try clearDefault(tenant: tenant, db) }
        let now = Timestamp.now()
        let id = try db.insertReturningID("INSERT INTO llm_providers (tenant_id, name, document, is_default, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                       [.int(tenant), .text(p.provider.name), .text(document(p, tenant: tenant)), .int(p.isDefault ? 1 : 0), .text(now), .text(now)])
        return Stored(id: id, provider: p, createdAt: now, updatedAt: now)
    }

    func update(_ existing: Stored, to p: LLMProvider, tenant: Int64, in db: Database) throws -> Stored {
        if p.isDefault && !existing.provider.isDefault { try clearDefault(tenant: tenant, db) }
        let now = Timestamp.now()
        try db.execute("UPDATE llm_providers SET document = ?, is_default = ?, updated_at = ? WHERE id = ? AND tenant_id = ?",
                       [.text(document(p, tenant: tenant)), .int(p.isDefault ? 1 : 0), .text(now), .int(existing.id), .int(tenant)])
        return Stored(id: existing.id, provider: p, createdAt: existing.createdAt, updatedAt: now)
    }

    func delete(_ existing: Stored, tenant: Int64, in db: Database) throws {
        try db.execute("DELETE FROM llm_providers WHERE id = ? AND tenant_id = ?", [.int(existing.id), .int(tenant)])
    }

    private func clearDefault(tenant: Int64, _ db: Database) throws {
        try db.execute("UPDATE llm_providers SET is_default = 0 WHERE tenant_id = ? AND is_default = 1", [.int(tenant)])
    }
}

/// A stored provider that cannot be read back (wrong key or a corrupted row): a 500 with the reason logged.
struct StoredProviderError: Error, CustomStringConvertible {
    let name: String
    let reason: String
    var description: String { "model provider '\(name)' cannot be read: \(reason)" }
}

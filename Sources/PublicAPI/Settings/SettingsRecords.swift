import NeoJSON
import Store

/// SQL for tenant settings: one JSON document per tenant; a tenant without a row has every field null.
enum SettingsRecords {
    static func load(tenantId: Int64, _ db: Database) throws -> TenantSettings {
        guard let text = try db.queryOne("SELECT document FROM tenant_settings WHERE tenant_id = ?", [.int(tenantId)])?.string("document"),
              let object = try JSON.parse(Array(text.utf8)).objectValue else { return TenantSettings() }
        return TenantSettings(stored: object)
    }

    static func save(_ settings: TenantSettings, tenantId: Int64, now: String, _ db: Database) throws {
        try db.execute("""
            INSERT INTO tenant_settings (tenant_id, document, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (tenant_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at
            """, [.int(tenantId), .text(JSON.object(settings.json).serializedString()), .text(now)])
    }
}

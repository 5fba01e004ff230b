import Basics
import NeoJSON
import Store

/// `GET/PUT /settings` (Neo's tenant settings): any key reads them, admins change them. A new time zone
/// plans the tenant's schedules again (it is their default).
enum SettingsRoutes {
    static func routes(store: Store, scheduler: Scheduler) -> [Route] {
        [
            Route("GET", "/public-api/settings", access: .authenticated) { ctx in
                Reply(data: .object(try ctx.timed { try store.read { try SettingsRecords.load(tenantId: ctx.caller.tenantId, $0) } }.json))
            },
            Route("PUT", "/public-api/settings", access: .adminOnly("changing tenant settings requires an admin key")) { ctx in
                let patch = try ctx.jsonBody()
                let tenant = ctx.caller.tenantId
                let persist = !ctx.testMode
                let work = { (db: Database) throws -> TenantSettings in
                    let v = Validation()
                    let current = try SettingsRecords.load(tenantId: tenant, db)
                    let updated = current.applying(patch, validation: v)
                    ctx.warnings += v.warnings
                    try v.check()
                    if persist {
                        let before = try ctx.auditDigest(.settings, db)
                        try SettingsRecords.save(updated, tenantId: tenant, now: Timestamp.now(), db)
                        if updated.timezone != current.timezone { try scheduler.tenantTimeZoneChanged(tenant, db) }
                        if updated.json != current.json { try ctx.audit(db, status: 200, .settings, before: before) }
                    }
                    return updated
                }
                let updated = try ctx.timed { persist ? try store.write(work) : try store.read(work) }
                if persist { scheduler.poke() }
                if !persist { ctx.warnings.append("test mode: not persisted") }
                return Reply(data: .object(updated.json))
            },
        ]
    }
}

import Foundation
import Store

/// `GET /audit-log` (design §12): the tenant's append-only log of writes, for admins. No route writes,
/// changes or deletes a row; rows are appended by the writes themselves.
enum AuditRoutes {
    static let filters = ["key_id", "resource_type", "resource_id", "since", "until"]

    static func routes(store: Store) -> [Route] {
        [
            Route("GET", "/public-api/audit-log", access: .adminOnly("reading the audit log requires an admin key"),
                  query: Page.parameters + filters) { ctx in
                let page = try Page.parse(ctx)
                var filter = AuditRecords.Filter()
                filter.keyId = try ListFilters.positiveInt(ctx, "key_id")
                if let type = try ctx.query("resource_type"), !type.isEmpty {
                    guard AuditResource.types.contains(type) else {
                        throw APIError.badRequest("resource_type must be one of \(AuditResource.types.joined(separator: ", ")) (got '\(type.prefix(64))')",
                                                  details: [.init(field: "resource_type", issue: "not a resource type the log names")])
                    }
                    filter.resourceType = type
                }
                if let id = try ctx.query("resource_id"), !id.isEmpty {
                    guard id.count <= 200 else {
                        throw APIError.badRequest("resource_id must be at most 200 characters", details: [.init(field: "resource_id", issue: "too long")])
                    }
                    filter.resourceId = id
                }
                filter.since = try ListFilters.timestamp(ctx, "since")
                filter.until = try ListFilters.timestamp(ctx, "until")
                if let since = filter.since, let until = filter.until, since >= until {
                    throw APIError.badRequest("since must be before until", details: [.init(field: "since", issue: "must be before until")])
                }
                let (entries, info) = try ctx.timed { try store.read { try AuditRecords.list(tenantId: ctx.caller.tenantId, filter, page: page, $0) } }
                return Reply(data: .array(entries.map(\.json)), pagination: info)
            },
        ]
    }
}

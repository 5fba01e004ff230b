import Basics
import Foundation
import NeoJSON
import Store

/// Applies what an approved TIL request held, inside the decision's write transaction.
/// Throwing an APIError refuses the approval: the request is marked rejected with that reason.
typealias TilApplier = @Sendable (_ db: Database, _ request: TilRequest, _ decider: Principal) throws -> Void

/// `/til-requests` (Neo's technician-in-the-loop requests; permission group `approvals`).
enum ApprovalRoutes {
    static func routes(store: Store, runner: ExecutionRunner, appliers: [TilKind: TilApplier]) -> [Route] {
        [
            Route("GET", "/public-api/til-requests", access: .group(.approvals, .read),
                  query: Page.parameters + ["status", "agent_id", "approver", "q", "created_after", "created_before"]) { ctx in
                try list(ctx, store)
            },
            Route("GET", "/public-api/til-requests/{request_id}", access: .group(.approvals, .read)) { ctx in
                try expireOverdue(store)
                return Reply(data: try find(ctx, store).json)
            },
            Route("POST", "/public-api/til-requests/{request_id}/decision", access: .group(.approvals, .read_write),
                  refusedInProcess: Route.decidesApprovals) { ctx in
                try decide(ctx, store, runner, appliers)
            },
        ]
    }

    private static func list(_ ctx: RequestContext, _ store: Store) throws -> Reply {
        try expireOverdue(store)
        let page = try Page.parse(ctx)
        var filter = ApprovalRecords.Filter()
        filter.statuses = try ListFilters.enumList(ctx, "status", TilStatus.names)
        filter.agentId = try ListFilters.positiveInt(ctx, "agent_id")
        filter.approver = try ctx.query("approver").flatMap { $0.isEmpty ? nil : $0 }
        filter.search = try ctx.query("q")
        filter.createdAfter = try ListFilters.timestamp(ctx, "created_after")
        filter.createdBefore = try ListFilters.timestamp(ctx, "created_before")
        let (items, info) = try ctx.timed { try store.read { try ApprovalRecords.list(tenantId: ctx.caller.tenantId, filter, page: page, $0) } }
        return Reply(data: .array(items.map(\.json)), pagination: info)
    }

    /// `{action: approve|reject, note?}`: applies or refuses what the request holds, once.
    private static func decide(_ ctx: RequestContext, _ store: Store, _ runner: ExecutionRunner,
                               _ appliers: [TilKind: TilApplier]) throws -> Reply {
        let body = try ctx.jsonBody()
        let v = Validation()
        let r = FieldReader(body, validation: v)
        let action = r.enumValue("action", ["approve", "reject"], required: true)
        let note = r.string("note", maxLength: 2000)
        r.warnUnknown()
        ctx.warnings += v.warnings
        try v.check()
        try expireOverdue(store)
        let request = try find(ctx, store)
        let id = request.id ?? 0
        guard request.status == .pending else { throw APIError.conflict("TIL request \(id) is already \(request.status.rawValue)") }
        let caller = ctx.caller
        if caller.actor == .agent, let own = caller.agentId, own == request.agentId {
            throw APIError.forbidden("an agent's key cannot decide that agent's own TIL requests")
        }
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(data: request.json)
        }
        let keyName = try store.read { try KeyRecords.find(caller.keyId, $0)?.name } ?? ""
        let decidedBy = JSON.object(["id": .string(String(caller.keyId)), "name": .string(keyName)])
        let approve = action == "approve"
        do {
            let updated = try ctx.timed {
                try store.write { db -> TilRequest in
                    let before = try ctx.auditDigest(.tilRequest(id), db)
                    // What an approval applies is audited too, as the decision's write.
                    let applied = approve ? appliedResource(request) : nil
                    let appliedBefore = try applied.map { try ctx.auditDigest($0, db) } ?? nil
                    guard try ApprovalRecords.decide(id, tenantId: caller.tenantId, as: approve ? .approved : .rejected, decidedBy: decidedBy,
                                                     note: note, now: Timestamp.now(), db) else {
                        throw APIError.conflict("TIL request \(id) was decided concurrently")
                    }
                    try settle(db, request: request, approve: approve, note: note, caller: caller, runner: runner, appliers: appliers)
                    try ctx.audit(db, status: 200, .tilRequest(id), before: before)
                    if let applied { try ctx.audit(db, status: 200, applied, before: appliedBefore) }
                    return try ApprovalRecords.find(id, tenantId: caller.tenantId, db)!
                }
            }
            runner.poke()
            return Reply(data: updated.json)
        } catch let refusal as APIError where approve && (refusal.status != 409 || refusal.code == "agent_update_conflict") {
            // The held change no longer applies: the request fails with the reason, nothing else changes.
            try store.write { db in
                let before = try ctx.auditDigest(.tilRequest(id), db)
                _ = try ApprovalRecords.decide(id, tenantId: caller.tenantId, as: .rejected, decidedBy: decidedBy,
                                               note: "could not apply: \(refusal.message)", now: Timestamp.now(), db)
                try ctx.audit(db, status: refusal.status, .tilRequest(id), before: before)
            }
            throw refusal
        }
    }

    /// The resource an approval of `request` changes: the held agent edit's agent, the held config write's config
    /// (a held external-API call changes its execution, which the runner records).
    private static func appliedResource(_ request: TilRequest) -> AuditResource? {
        switch request.kind {
        case .agentUpdate: return request.agentId.map { .agent($0) }
        case .configWrite: return request.requestedFor["name"]?.stringValue.map { .externalAPI($0) }
        default: return nil
        }
    }

    /// Releases or fails what waited on the request.
    private static func settle(_ db: Database, request: TilRequest, approve: Bool, note: String?, caller: Principal,
                               runner: ExecutionRunner, appliers: [TilKind: TilApplier]) throws {
        if request.kind == .externalAPICall, let execution = request.executionId {
            let payload = request.payload.flatMap { try? JSON.parse($0) }
            let index = Int(payload?["action_index"]?.intValue ?? 0)
            if approve {
                try runner.resume(executionId: execution, approvedAction: index, in: db)
            } else {
                try runner.reject(executionId: execution, action: index, note: note, in: db)
            }
            return
        }
        guard approve else { return }
        guard let apply = appliers[request.kind] else {
            throw APIError(status: 500, code: "INTERNAL_ERROR", message: "no way to apply a '\(request.kind.rawValue)' request on this server")
        }
        try apply(db, request, caller)
    }

    /// Pending requests past their expiry become expired (their waiting runs fail).
    static func expireOverdue(_ store: Store) throws {
        let now = Timestamp.now()
        guard try store.read({ try ApprovalRecords.hasOverdue(now: now, $0) }) else { return }
        try store.write { try ApprovalRecords.expireOverdue(now: now, $0) }
    }

    static func find(_ ctx: RequestContext, _ store: Store) throws -> TilRequest {
        let id = try ctx.intParam("request_id", resource: "TIL request")
        guard let request = try ctx.timed({ try store.read { try ApprovalRecords.find(id, tenantId: ctx.caller.tenantId, $0) } }) else {
            throw APIError.notFound("TIL request '\(id)' not found")
        }
        return request
    }
}

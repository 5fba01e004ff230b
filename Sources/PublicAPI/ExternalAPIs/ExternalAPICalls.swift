import Basics
import Executor
import Foundation
import NeoJSON
import Store

/// The connection test and direct invokes: glue between a request, the executor and the
/// executions tables. The call waits on the worker thread (the Route API is synchronous);
/// the curl transfer itself runs on the executor's thread.
enum ExternalAPICalls {
    static let toolType = "EXTERNAL_API_REQUEST"

    /// Maps an executor failure to the envelope: caller input → 422 naming the field; policy
    /// refusals and upstream/token failures → 502; timeouts → 504.
    static func apiError(_ e: ExecutorError, suffix: String = "") -> APIError {
        let suffix = (e.earlierAttempts.isEmpty ? "" : " (after \(e.earlierAttempts.count + 1) attempts)") + suffix
        switch e.kind {
        case .invalidInput:
            return .validation(field: e.field ?? "(body)", e.message)
        case .refused where e.field != "endpoint_url" && e.field != "auth.token_url":
            return .validation(field: e.field ?? "(body)", e.message)
        case .timeout:
            return APIError(status: 504, code: "UPSTREAM_TIMEOUT", message: e.message + suffix)
        case .refused, .upstream, .token:
            return APIError(status: 502, code: "UPSTREAM_ERROR", message: e.message + suffix)
        }
    }

    /// Reads the invoke body `{path?, query?, body?, headers?, params?}`.
    static func invocation(_ r: FieldReader) -> Invocation {
        var call = Invocation()
        call.path = r.string("path", maxLength: 2048)
        call.query = scalars(r, "query")
        call.body = r.object("body")
        call.params = Dictionary(scalars(r, "params"), uniquingKeysWith: { a, _ in a })
        if let headers = r.object("headers") {
            for (name, value) in headers {
                guard let s = value.stringValue else { r.validation.fail(r.field("headers.\(name)"), "must be a string (got \(value.typeName))"); continue }
                call.headers.append((name, s))
            }
        }
        return call
    }

    private static func scalars(_ r: FieldReader, _ key: String) -> [(String, String)] {
        guard let object = r.object(key) else { return [] }
        return object.compactMap { name, value -> (String, String)? in
            switch value {
            case .string(let s): return (name, s)
            case .int(let n): return (name, String(n))
            case .double(let d): return (name, String(d))
            case .bool(let b): return (name, b ? "true" : "false")
            default:
                r.validation.fail(r.field("\(key).\(name)"), "must be a string, number or boolean (got \(value.typeName))")
                return nil
            }
        }
    }

    /// Sends the configured request (GET unless `method` says otherwise, so testing a webhook does
    /// not fire it) to the base URL or `path`, and says what the answer means for the credentials.
    static func test(_ ctx: RequestContext, _ config: ExternalAPIConfig, executor: ExternalAPIExecutor) throws -> Reply {
        let body = try ctx.jsonBody(allowEmpty: true)
        let v = Validation()
        let r = FieldReader(body, validation: v)
        var call = Invocation()
        call.path = r.string("path", maxLength: 2048)
        call.params = Dictionary(scalars(r, "params"), uniquingKeysWith: { a, _ in a })
        let method = r.enumValue("method", HTTPMethod.allCases.map(\.rawValue)).flatMap(HTTPMethod.init(rawValue:)) ?? .GET
        r.warnUnknown()
        ctx.warnings += v.warnings
        try v.check()
        var probe = config
        probe.method = method
        probe.bodyFields = []
        let request: UpstreamRequest
        do { request = try executor.prepare(probe, call) } catch let e as ExecutorError { throw apiError(e) }
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(data: .object(JSONObject([("request", .object(request.redacted())), ("sent", .bool(false))])))
        }
        let (sentConfig, sentCall) = (probe, call)
        return Reply.later { complete in
            executor.invoke(sentConfig, sentCall, tenant: String(ctx.caller.tenantId), trace: ctx.trace) { outcome in
                switch outcome {
                case .success(let result):
                    complete(.success(Reply(data: .object(JSONObject([
                        ("ok", .bool(result.status < 400)), ("status", .int(Int64(result.status))),
                        ("latency_ms", .double((result.durationMs * 10).rounded() / 10)),
                        ("diagnosis", .string(ConnectionDiagnosis.describe(status: result.status, auth: config.auth))),
                        ("request", .object(result.request.redacted())),
                    ])))))
                case .failure(let e):
                    let mapped = apiError(e)
                    if mapped.status == 422 { return complete(.failure(mapped)) }
                    complete(.success(Reply(data: .object(JSONObject([
                        ("ok", .bool(false)), ("status", .null), ("latency_ms", .null), ("diagnosis", .string(e.message)),
                        ("error", .object(JSONObject([("code", .string(mapped.code)), ("message", .string(mapped.message))]))),
                        ("request", .object(request.redacted())),
                    ])))))
                }
            }
        }
    }

    /// Runs one call now and records it as an `external_api_invoke` execution with a TOOL_CALL and a
    /// TOOL_RESULT step. 200 with the result whatever the upstream status; executor failures 502/504.
    /// The execution is leased to this node while the call is in flight (the heartbeat renews it); a node that dies
    /// meanwhile leaves it to the reaper, which fails it (the caller is gone).
    static func invoke(_ ctx: RequestContext, _ config: ExternalAPIConfig, executor: ExternalAPIExecutor, store: Store,
                       leases: RunLeases) throws -> Reply {
        let body = try ctx.jsonBody(allowEmpty: true)
        let v = Validation()
        let r = FieldReader(body, validation: v)
        let call = invocation(r)
        r.warnUnknown()
        ctx.warnings += v.warnings
        try v.check()
        let request: UpstreamRequest
        do { request = try executor.prepare(config, call) } catch let e as ExecutorError { throw apiError(e) }
        if ctx.testMode {
            ctx.warnings.append("test mode: not persisted")
            return Reply(data: .object(JSONObject([("request", .object(request.redacted())), ("sent", .bool(false))])))
        }

        if ctx.caller.actor == .agent && config.requiresApproval {
            return try holdForApproval(ctx, config, body: body, request: request, store: store)
        }
        let executionId = SecureRandom.timeOrderedUUID()
        let toolCallId = SecureRandom.uuid()
        let tenant = ctx.caller.tenantId
        let started = Timestamp.now()
        let input = JSON.object(JSONObject([("api_name", .string(config.name))] + Array(body.map { ($0.key, $0.value) }))).serializedString()
        try ctx.timed {
            try store.write { db in
                try ExecutionRecords.insert(.init(tenantId: tenant, agentId: nil, agentName: nil, kind: .externalAPIInvoke, status: .running,
                                                  input: input, keyId: ctx.caller.keyId, trace: ctx.trace),
                                            id: executionId, now: started, startedBy: leases.node, leaseSeconds: leases.seconds, db)
                try ExecutionRecords.appendStep(executionId, type: .toolCall, message: "\(request.method.rawValue) \(request.redactedURL)",
                                                toolCallId: toolCallId, toolType: toolType,
                                                data: ExecutionRunner.toolCallData(config.name, .object(request.redacted())), db)
            }
        }

        let lease = RunLease(executionId: executionId, attempt: 1, node: leases.node)
        leases.track(lease)
        // The call holds no thread while the upstream works; its outcome is recorded on the worker pool.
        return Reply.later { complete in
            executor.invoke(config, call, tenant: String(tenant), trace: ctx.trace) { outcome in
                ctx.offload {
                    defer { leases.untrack(lease) }
                    do {
                        complete(.success(try record(outcome, ctx, config, lease: lease, toolCallId: toolCallId,
                                                     started: started, store: store)))
                    } catch let lost as LeaseLost {
                        complete(.failure(.unavailable("the call's outcome could not be recorded: this node lost its lease on execution "
                                                       + "\(lost.lease.executionId) (see its steps)")))
                    } catch let e as APIError {
                        complete(.failure(e))
                    } catch {
                        complete(.failure(.internalError()))
                    }
                }
            }
        }
    }

    /// Writes the TOOL_RESULT step and the execution's end state; the reply carries the result.
    private static func record(_ outcome: Result<UpstreamResult, ExecutorError>, _ ctx: RequestContext, _ config: ExternalAPIConfig,
                               lease: RunLease, toolCallId: String, started: String, store: Store) throws -> Reply {
        let executionId = lease.executionId
        let tenant = ctx.caller.tenantId
        let finished = Timestamp.now()
        let message: String
        let resultData: JSONObject
        let failed: Bool
        let earlier: [UpstreamAttempt]
        switch outcome {
        case .success(let result): earlier = result.earlierAttempts
        case .failure(let e): earlier = e.earlierAttempts
        }
        switch outcome {
        case .success(let result):
            failed = result.status >= 400
            message = "upstream answered \(result.status) in \(Int(result.durationMs.rounded())) ms" + (result.truncated ? " (body truncated)" : "")
            var data = JSONObject([("status", .int(Int64(result.status))), ("duration_ms", .double((result.durationMs * 10).rounded() / 10)),
                                   ("truncated", .bool(result.truncated)), ("body", .string(result.body)), ("attempt", .int(Int64(result.attempt)))])
            if let total = result.bytesTotal { data["bytes_total"] = .int(Int64(total)) }
            resultData = data
        case .failure(let e):
            failed = true
            message = e.message
            resultData = JSONObject([("error", .object(JSONObject([("code", .string(apiError(e).code)), ("message", .string(e.message))])))])
        }
        let seconds = (Timestamp.parse(finished)?.timeIntervalSince(Timestamp.parse(started) ?? Date())) ?? 0
        try ctx.timed {
            try store.write { db in
                try ExecutionRecords.hold(lease, db)
                try ExecutionRunner.appendEarlierAttempts(executionId, apiName: config.name, callId: toolCallId, toolType: toolType,
                                                          result: .object(JSONObject([("earlier_attempts", .array(earlier.map { .object($0.json()) }))])), db)
                try ExecutionRecords.appendStep(executionId, type: .toolResult, message: message, isError: failed, toolCallId: toolCallId,
                                                toolType: toolType, data: .object(resultData), db)
                try ExecutionRecords.finishInvoke(executionId, tenantId: tenant, failed: failed, error: failed ? message : nil,
                                                  message: "external API '\(config.name)': \(message)", now: finished, seconds: seconds, db)
                // The invoke's own execution, recorded with the status this request answers.
                var status = 200
                if case .failure(let e) = outcome { status = apiError(e).status }
                try ctx.audit(db, status: status, .execution(executionId), before: nil)
            }
        }
        switch outcome {
        case .success(let result):
            var data = result.json()
            data["execution_id"] = .string(executionId)
            data["request"] = .object(result.request.redacted())
            return Reply(data: .object(data))
        case .failure(let e):
            throw apiError(e, suffix: " (execution \(executionId))")
        }
    }

    /// An agent's key calling a config with requires_approval (seed 000's advice): the call waits, as an
    /// execution in waiting_approval with a pending TIL request; approval queues it for the runner.
    private static func holdForApproval(_ ctx: RequestContext, _ config: ExternalAPIConfig, body: JSONObject,
                                        request: UpstreamRequest, store: Store) throws -> Reply {
        let executionId = SecureRandom.timeOrderedUUID()
        let tenant = ctx.caller.tenantId
        let now = Date()
        let stamp = Timestamp.format(now)
        let input = JSON.object(JSONObject([("api_name", .string(config.name))] + Array(body.map { ($0.key, $0.value) })))
        let requested = ExecutionRunner.toolCallData(config.name, .object(request.redacted()))
        let til = try ctx.timed {
            try store.write { db -> TilRequest in
                let agentName = try ctx.caller.agentId.flatMap { try AgentRecords.nameAndVersion($0, tenantId: tenant, db)?.name }
                try ExecutionRecords.insert(.init(tenantId: tenant, agentId: ctx.caller.agentId, agentName: agentName, kind: .externalAPIInvoke,
                                                  status: .waitingApproval, input: input.serializedString(), keyId: ctx.caller.keyId,
                                                  trace: ctx.trace),
                                            id: executionId, now: stamp, db)
                try ExecutionRecords.appendStep(executionId, type: .thought, message: "waiting for approval to call \(config.name)",
                                                toolCallId: SecureRandom.uuid(), toolType: toolType, data: requested, db)
                let til = try ApprovalRecords.insert(TilRequestDraft(
                    tenantId: tenant, agentId: ctx.caller.agentId, agentName: agentName, kind: .externalAPICall,
                    comment: "API key \(ctx.caller.keyId) (agent actor) wants to call external API '\(config.name)'", requestedFor: requested,
                    payload: #"{"action_index":0}"#, executionId: executionId, stepSeq: 1, requestedByKeyId: ctx.caller.keyId), now: now, db)
                try ExecutionRecords.setMessage(executionId, ExecutionRunner.waitingMessage(tilId: til.id ?? 0, apiName: config.name), db)
                if let id = til.id { try ctx.audit(db, status: 202, .tilRequest(id), before: nil) }
                return til
            }
        }
        return Reply(status: 202, data: til.json)
    }
}

extension ExternalAPICalls {
    /// The runner's view of the executor: EXTERNAL_API_REQUEST actions go through the same build,
    /// policy, auth and redaction as a direct invoke (the runner records the steps itself).
    static func forRunner(configs: ExternalAPIRecords, executor: ExternalAPIExecutor) -> ExternalCalls {
        @Sendable func load(_ tenant: Int64, _ name: String) throws -> ExternalAPIConfig? {
            guard ExternalAPIConfigCodec.isValidName(name) else { return nil }
            return try configs.store.read { try configs.find(name, tenant: tenant, in: $0) }?.config
        }
        return ExternalCalls(
            requiresApproval: { tenant, name in try load(tenant, name)?.requiresApproval },
            invoke: { tenant, name, body, testMode, trace in
                guard let config = try load(tenant, name) else { throw APIError.notFound("external API '\(name.prefix(64))' not found") }
                let v = Validation()
                let call = invocation(FieldReader(body, validation: v))
                try v.check()
                let request: UpstreamRequest
                do { request = try executor.prepare(config, call) } catch let e as ExecutorError { throw apiError(e) }
                if testMode { return ExternalCalls.Outcome(request: .object(request.redacted()), result: nil) }
                switch executor.invokeAndWait(config, call, tenant: String(tenant), trace: trace) {
                case .success(let result):
                    return ExternalCalls.Outcome(request: .object(result.request.redacted()), result: .object(result.json()))
                case .failure(let e):
                    throw apiError(e)
                }
            })
    }
}

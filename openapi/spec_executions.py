# Executions, steps, artifacts, TIL requests and run-now (issue 7). Exec'd by spec.py after spec_agents.py,
# which defines TilRequest (agent edits are its first use).
STATUS = {"type": "string", "enum": ["queued", "running", "waiting_approval", "succeeded", "failed", "cancelled"]}
schemas.update({
    "Execution": {"type": "object", "required": ["execution_id", "status", "created_at"], "properties": {
        "execution_id": {"type": "string", "format": "uuid"}, "agent_id": nullable({"type": "integer"}),
        "agent_name": nullable({"type": "string"}), "entity_id": nullable({"type": "string"}),
        "entity_number": nullable({"type": "string"}), "additional_custom_instructions": nullable({"type": "string"}),
        "message_for_dashboard": nullable({"type": "string"}), "error": nullable({"type": "string"}),
        "seconds_spent": nullable({"type": "number"}), "created_at": TS, "updated_at": TS, "status": STATUS,
        "kind": {"type": "string", "enum": ["agent_run", "external_api_invoke"]},
        "started_at": nullable(TS), "finished_at": nullable(TS), "test_mode": {"type": "boolean"},
        "input": nullable({"type": "object"}), "retry_of": nullable({"type": "string"}),
        "attempt": {"type": "integer", "minimum": 0, "description": "How many times a node claimed the run (0: never; more than 1 after an approval resumed it or a node that died under it was replaced)."},
        "trigger": nullable({"type": "object", "description": "What started the run: {type: RUN_NOW | SCHEDULED | CALLBACK | SCHEDULED_WORK, …}; null for direct invokes.",
                             "properties": {"type": {"type": "string"}}})}},
    "ExecutionStep": {"type": "object", "required": ["step_id", "type", "created_at", "is_error"], "properties": {
        "step_id": {"type": "string"}, "type": {"type": "string", "enum": ["TOOL_CALL", "TOOL_RESULT", "THOUGHT", "FINAL_MESSAGE", "ERROR"]},
        "created_at": TS, "message": nullable({"type": "string"}), "is_error": {"type": "boolean"},
        "tool_call_id": nullable({"type": "string"}), "tool_type_name": nullable({"type": "string"}), "data": {}}},
    "Artifact": {"type": "object", "required": ["artifact_id", "execution_id", "kind", "name", "created_at"], "properties": {
        "artifact_id": {"type": "string"}, "execution_id": {"type": "string"}, "kind": {"type": "string"},
        "name": {"type": "string"}, "content": {"type": "string"}, "created_at": TS}},
    "TilDecision": {"type": "object", "required": ["action"], "properties": {
        "action": {"type": "string", "enum": ["approve", "reject"]}, "note": {"type": "string", "maxLength": 2000}}},
    "RunNow": {"type": "object", "properties": {
        "target_entity_id": nullable({"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}]}),
        "additional_custom_instructions": nullable({"type": "string", "maxLength": 10000}), "input": nullable({"type": "object"})}},
    "RunQueued": {"type": "object", "required": ["execution_id", "status"], "properties": {
        "execution_id": nullable({"type": "string"}), "status": {"type": "string", "enum": ["queued"]}}},
})

def q(name, schema, description=None):
    p = {"name": name, "in": "query", "schema": schema}
    if description:
        p["description"] = description
    return p

EXEC_ID = path_param("execution_id")
paths.update({
    "/public-api/executions": {"get": op("listExecutions", "List executions", "Executions", 200, {"type": "array", "items": ref("Execution")}, ["400"] + AUTH,
        params=PAGE_PARAMS + [q("agent_id", {"type": "integer", "minimum": 1}), q("entity_id", {"type": "string"}), q("entity_number", {"type": "string"}),
                              q("status", {"type": "string"}, "comma-separated statuses"), q("created_after", TS), q("created_before", TS)])},
    "/public-api/executions/{execution_id}": {"get": op("getExecution", "Get an execution", "Executions", 200, ref("Execution"), ["404"] + AUTH, params=[EXEC_ID])},
    "/public-api/executions/{execution_id}/steps": {"get": op("listExecutionSteps", "List execution steps", "Executions", 200, {"type": "array", "items": ref("ExecutionStep")},
        ["400", "404"] + AUTH, params=[EXEC_ID] + PAGE_PARAMS + [q("type", {"type": "string"}, "comma-separated step types"),
        q("tool_type_name", {"type": "string"}), q("step_id", {"type": "string"}), q("include_data", {"type": "boolean", "default": True})])},
    "/public-api/executions/{execution_id}/til-requests": {"get": op("listExecutionTilRequests", "List an execution's TIL requests", "Executions", 200,
        {"type": "array", "items": ref("TilRequest")}, ["400", "404"] + AUTH, params=[EXEC_ID] + PAGE_PARAMS)},
    "/public-api/executions/{execution_id}/artifacts": {"get": op("listExecutionArtifacts", "List an execution's artifacts", "Executions", 200,
        {"type": "array", "items": ref("Artifact")}, ["400", "404"] + AUTH, params=[EXEC_ID] + PAGE_PARAMS)},
    "/public-api/executions/{execution_id}/cancel": {"post": op("cancelExecution", "Cancel an execution", "Executions", 200, ref("Execution"), ["404", "409"] + AUTH, params=[EXEC_ID])},
    "/public-api/executions/{execution_id}/retry": {"post": op("retryExecution", "Retry a failed or cancelled execution", "Executions", 202, ref("RunQueued"), ["404", "409"] + AUTH, params=[EXEC_ID])},
    "/public-api/artifacts/{artifact_id}": {"get": op("getArtifact", "Get an artifact (markdown inline)", "Executions", 200, ref("Artifact"), ["404"] + AUTH, params=[path_param("artifact_id")])},
    "/public-api/til-requests": {"get": op("listTilRequests", "List TIL requests", "TIL requests", 200, {"type": "array", "items": ref("TilRequest")}, ["400"] + AUTH,
        params=PAGE_PARAMS + [q("status", {"type": "string"}, "comma-separated statuses"), q("agent_id", {"type": "integer", "minimum": 1}),
                              q("approver", {"type": "string"}), q("q", {"type": "string"}), q("created_after", TS), q("created_before", TS)])},
    "/public-api/til-requests/{request_id}": {"get": op("getTilRequest", "Get a TIL request", "TIL requests", 200, ref("TilRequest"), ["404"] + AUTH, params=[path_param("request_id")])},
    "/public-api/til-requests/{request_id}/decision": {"post": op("decideTilRequest", "Approve or reject a TIL request", "TIL requests", 200, ref("TilRequest"),
        ["404", "409", "415", "422"] + AUTH, params=[path_param("request_id")], body=ref("TilDecision"))},
    "/public-api/agents/{agent_id}/run-now": {"post": op("runAgentNow", "Run an agent now", "Agents", 202, ref("RunQueued"),
        ["400", "404", "409", "415", "422"] + AUTH, params=[path_param("agent_id")], body=ref("RunNow"))},
})

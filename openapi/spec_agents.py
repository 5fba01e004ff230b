# Agents (design §5, seed 004). Exec'd by spec.py with ref, nullable, TS, op, path_param, AUTH, PAGE_PARAMS,
# schemas and paths in scope.

AUTONOMY = {"type": "string", "enum": ["CHAINED_ACTIONS", "AGENTIC", "CONVERSATIONAL"]}
TRIGGER = {"type": "string", "enum": ["SCHEDULED", "TRIGGERED", "NONE"]}
STATE = {"type": "string", "enum": ["ENABLED", "DISABLED", "DELETED"]}
ENTITY = {"type": "string", "default": "ticket", "enum": [
    "ticket", "project_ticket", "task", "scheduled_entry", "time_entry", "project", "company", "contact", "resource",
    "contract", "opportunity", "configuration", "note", "team", "role", "none"]}
AUDIENCE = {"type": "string", "enum": ["MSP", "END_USER"], "default": "MSP"}
ACCESS = {"type": "string", "enum": ["ALL_USERS", "ADMINS_ONLY", "SPECIFIC_USERS"], "default": "ALL_USERS"}
OBJ = {"type": "object"}
AGENT_ID = path_param("agent_id")
AGENT_ID["description"] = "The agent's id (decimal digits)."

# Fields every create variant and the patch share, with their types.
COMMON = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": nullable({"type": "string"}),
    "group_name": nullable({"type": "string", "maxLength": 200}),
    "group_order": nullable({"type": "integer"}),
    "state": STATE,
    "trigger_type": TRIGGER,
    "process_entities_sequentially": nullable({"type": "boolean"}),
    "process_sub_entities_only_once": nullable({"type": "boolean"}),
    "show_in_psa_pod": nullable({"type": "boolean"}),
    "schedule": nullable(ref("Schedule")),
    "callback_settings": nullable(OBJ),
    "agent_settings": nullable(OBJ),
    "integrations": nullable(OBJ),
    "toolbox": nullable(ref("Toolbox")),
}
CONDITIONS = {"ticket_conditions": nullable(OBJ), "time_entry_conditions": nullable(OBJ)}

def without_default(schema):
    return {k: v for k, v in schema.items() if k != "default"}

def variant(autonomy, required, extra):
    props = {"autonomy_type": {"type": "string", "enum": [autonomy]}, "entity_type": ENTITY}
    props.update(COMMON)
    props.update(extra)
    return {"type": "object", "required": required, "properties": props}

NEXT_RUN_AT = nullable({"type": "string", "format": "date-time", "readOnly": True, "description":
    "The next slot this agent fires at: null unless it is ENABLED, SCHEDULED and has a valid schedule. Read-only."})

schemas.update({
    "Schedule": {"type": "object", "additionalProperties": True, "description":
        "A SCHEDULED agent's cadence (design §9). cron: 5 fields (minute hour day-of-month month day-of-week; *, lists, "
        "ranges, steps, JAN-DEC, SUN-SAT, 7 = SUN; when both day fields are restricted either may match). timezone: an "
        "IANA zone; default the tenant's settings.timezone, then UTC. A local time skipped by DST fires at the first instant "
        "after the gap; a repeated one fires once. Other keys are kept verbatim. A SCHEDULED agent without a schedule (null, "
        "{}, or a null cron with nothing else set) is accepted with a warning and never fires.",
        "properties": {"cron": nullable({"type": "string", "examples": ["0 8 * * MON-FRI"]}),
                       "timezone": nullable({"type": "string", "examples": ["Europe/Berlin"]})}},
    "Action": {"type": "object", "required": ["id", "action_type", "input_as_dict"], "properties": {
        "id": {"type": "string", "description": "Server-assigned."},
        "action_type": {"type": "string", "description": "FIND_ENTITIES is server-owned: built from entity_type and the conditions."},
        "input_as_dict": OBJ}},
    "ActionPatch": {"type": "object", "description":
        "Targets an action by id, else by action_type when exactly one action has it (ambiguous: 422); input_as_dict is "
        "deep-merged (objects merge, null deletes a key, scalars and lists replace). Unmatched entries are appended.",
        "properties": {"id": nullable({"type": "string"}), "action_type": {"type": "string"}, "input_as_dict": OBJ}},
    "Toolbox": {"type": "object", "properties": {"tool_settings_by_type": {
        "type": "object", "additionalProperties": nullable(OBJ),
        "description": "Settings per tool type. Credentials are refused (400 validation_error)."}}},
    "Agent": {"type": "object", "description": "Lean summary: the list item and the create/update/delete response.",
              "required": ["id", "name", "state", "trigger_type", "autonomy_type", "entity_type", "created_at", "updated_at", "version"],
              "properties": {
        "id": nullable({"type": "string", "description": "Digits; null only in a test-mode create."}),
        "name": {"type": "string"}, "description": nullable({"type": "string"}), "group_name": nullable({"type": "string"}),
        "group_order": nullable({"type": "integer"}), "state": STATE, "trigger_type": TRIGGER, "autonomy_type": AUTONOMY,
        "entity_type": ENTITY, "created_at": TS, "updated_at": TS, "version": {"type": "integer"},
        "next_run_at": NEXT_RUN_AT}},
    "AgentDetail": {"allOf": [ref("Agent"), {"type": "object", "properties": {
        "audience": nullable(AUDIENCE), "access": nullable(ACCESS),
        "process_entities_sequentially": nullable({"type": "boolean"}),
        "process_sub_entities_only_once": nullable({"type": "boolean"}), "schedule": nullable(ref("Schedule")),
        "callback_settings": nullable(OBJ), "show_in_psa_pod": nullable({"type": "boolean"}),
        "ticket_conditions": nullable(OBJ), "time_entry_conditions": nullable(OBJ),
        "actions": {"type": "array", "items": ref("Action")}, "agent_settings": nullable(OBJ),
        "integrations": nullable(OBJ), "toolbox": nullable(ref("Toolbox"))}}]},
    "AgentVersion": {"type": "object", "required": ["version", "created_at", "actor", "agent"], "properties": {
        "version": {"type": "integer"}, "created_at": TS,
        "actor": {"type": "object", "properties": {"type": {"type": "string", "enum": ["user", "agent"]},
                                                   "api_key_id": {"type": "string"}}},
        "agent": ref("AgentDetail")}},
    "CreateChainedActionsAgent": variant("CHAINED_ACTIONS", ["name", "trigger_type", "actions"], dict(CONDITIONS, **{
        "actions": {"type": "array", "items": ref("ActionPatch"),
                    "description": "The pipeline after the server's FIND_ENTITIES; do not include FIND_ENTITIES (400)."}})),
    "CreateAgenticAgent": variant("AGENTIC", ["name", "trigger_type", "autonomy_type"], dict(CONDITIONS)),
    "CreateConversationalAgent": variant("CONVERSATIONAL", ["name", "trigger_type", "autonomy_type"], {
        "audience": AUDIENCE, "access": ACCESS,
        "actions": {"type": "array", "maxItems": 0, "items": ref("ActionPatch"),
                    "description": "CONVERSATIONAL agents have no actions: omit it or send []."}}),
    "AgentCreate": {"description": "A union on autonomy_type (default CHAINED_ACTIONS).", "anyOf": [
        ref("CreateChainedActionsAgent"), ref("CreateAgenticAgent"), ref("CreateConversationalAgent")]},
    "AgentPatch": {"type": "object", "description":
        "Partial patch (seed 004): only sent fields change; null clears a nullable field. autonomy_type, entity_type and "
        "audience are immutable (422 when different). actions merge (CHAINED_ACTIONS only); toolbox merges per tool "
        "(a tool set to null is removed, \"toolbox\": null clears); agent_settings and integrations replace whole.",
        "properties": dict(COMMON, **CONDITIONS, **{
            "actions": nullable({"type": "array", "items": ref("ActionPatch")}),
            # No defaults in a patch: a field left out is unchanged (a generated client would send the default).
            "access": without_default(ACCESS), "autonomy_type": AUTONOMY, "entity_type": without_default(ENTITY),
            "audience": without_default(AUDIENCE)})},
    "AgentStats": {"type": "object", "required": ["agent_id", "executions", "failures", "p95_duration_seconds", "window"],
                   "properties": {
        "agent_id": {"type": "integer"}, "executions": {"type": "integer"}, "failures": {"type": "integer"},
        "p95_duration_seconds": {"type": "number"},
        "window": {"type": "object", "required": ["since", "until"], "properties": {"since": TS, "until": TS}}}},
    "TilRequest": {"type": "object", "required": ["id", "agent_id", "status", "kind", "comment", "requested_for", "created_at"],
                   "properties": {
        "id": nullable({"type": "integer"}), "agent_id": nullable({"type": "integer"}), "agent_name": nullable({"type": "string"}),
        "approvers": {"type": "array", "items": {"type": "object", "properties": {
            "user_id": {"type": "string"}, "user_name": {"type": "string"}}}},
        "comment": {"type": "string"},
        "decided_by": nullable({"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}),
        "requested_for": OBJ, "session_id": nullable({"type": "string"}), "ticket_id": nullable({"type": "string"}),
        "ticket_number": nullable({"type": "string"}), "created_at": TS, "updated_at": TS,
        "status": {"type": "string", "enum": ["pending", "approved", "rejected", "expired"]},
        "kind": {"type": "string", "enum": ["agent_update", "external_api_call", "config_write"]},
        "execution_id": nullable({"type": "string"}), "decided_at": nullable(TS), "note": nullable({"type": "string"}),
        "expires_at": TS}},
})

def held(operation):
    """Agent-actor keys get 202 with the pending TIL request instead of the change (design §4)."""
    operation["responses"]["202"] = {"description": "Held for approval (agent-actor key, destructive edit).",
        "content": {"application/json": {"schema": {"type": "object", "required": ["data", "meta"], "properties": {
            "data": ref("TilRequest"), "meta": ref("Meta")}}}}}
    return operation

def if_match():
    return {"name": "If-Match", "in": "header", "schema": {"type": "string"},
            "description": "The ETag (\"<version>\") the edit is based on; a mismatch is 409 agent_update_conflict."}

LIST_FILTERS = [
    {"name": "state", "in": "query", "schema": STATE, "description": "DELETED agents are listed only with state=DELETED."},
    {"name": "trigger_type", "in": "query", "schema": TRIGGER},
    {"name": "autonomy_type", "in": "query", "schema": AUTONOMY},
    {"name": "group_name", "in": "query", "schema": {"type": "string"}},
    {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "Substring of name or description."},
]

paths.update({
    "/public-api/agents": {
        "get": op("listAgents", "List agents (newest first)", "Agents", 200, {"type": "array", "items": ref("Agent")}, ["400"] + AUTH,
                  params=LIST_FILTERS + PAGE_PARAMS, paginated=True),
        "post": op("createAgent", "Create an agent", "Agents", 201, ref("Agent"), ["400", "415", "422"] + AUTH, body=ref("AgentCreate")),
    },
    "/public-api/agents/{agent_id}": {
        "get": op("getAgent", "Get an agent (ETag: \"<version>\")", "Agents", 200, ref("AgentDetail"), ["404"] + AUTH, params=[AGENT_ID]),
        "put": held(op("updateAgent", "Update an agent (partial patch, seed 004)", "Agents", 200, ref("Agent"),
                       ["400", "404", "409", "415", "422"] + AUTH, params=[AGENT_ID, if_match()], body=ref("AgentPatch"))),
        "delete": held(op("deleteAgent", "Delete an agent (state DELETED, still readable)", "Agents", 200, ref("Agent"),
                          ["404", "409"] + AUTH, params=[AGENT_ID, if_match()])),
    },
    "/public-api/agents/{agent_id}/versions": {
        "get": op("listAgentVersions", "An agent's versions, one per write, newest first", "Agents", 200,
                  {"type": "array", "items": ref("AgentVersion")}, ["400", "404"] + AUTH, params=[AGENT_ID] + PAGE_PARAMS,
                  paginated=True),
    },
    "/public-api/agents/{agent_id}/version-at": {
        "get": op("getAgentVersionAt", "The agent as it stood at an instant (Neo; the snapshot in force then, ETag its version)", "Agents", 200,
                  ref("AgentDetail"), ["400", "404"] + AUTH, params=[AGENT_ID,
                      {"name": "timestamp", "in": "query", "required": True, "schema": TS,
                       "description": "RFC 3339; Z, +00:00 and fractional seconds accepted. 404 before the agent existed."}]),
    },
    "/public-api/agents/{agent_id}/stats": {
        "get": op("getAgentStats", "Execution counts and p95 duration in a window (default: the last 30 days)", "Agents", 200,
                  ref("AgentStats"), ["400", "404"] + AUTH, params=[AGENT_ID,
                      {"name": "since", "in": "query", "schema": TS}, {"name": "until", "in": "query", "schema": TS}]),
    },
})

# Inbound events (design §9): ingest, signed inbound, webhook endpoints and Neo's callback read API.
# Exec'd by spec.py like the other spec_*.py (after spec_agents.py, before spec_executions.py).

STR = {"type": "string"}
ID_OR_INT = {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}]}
# The agents' entity types (spec_agents.py, exec'd first) less none.
EVENT_TYPES = [t for t in schemas["Agent"]["properties"]["entity_type"]["enum"] if t != "none"]
# Not an enum: both spellings are accepted, and generated clients cannot name an enum whose values differ only in case.
EVENT_ENTITY_TYPE = {"type": "string", "minLength": 1, "maxLength": 64,
                     "description": "An agent entity type (not none) in any case: " + ", ".join(EVENT_TYPES) + " (ticket, TICKET, Ticket)."}
CHANGE_TYPE = {"type": "string", "enum": ["CREATE", "UPDATE", "TICKET_CREATED", "FIELD_UPDATED", "CREATED", "UPDATED", "TICKET_UPDATED", "ADDED"],
               "description": "Normalized to CREATE or UPDATE; any case is accepted."}

def query(name, schema, description=None):
    p = {"name": name, "in": "query", "schema": schema}
    if description:
        p["description"] = description
    return p

def also(operation, status, description, schema):
    """A second success status on one operation (200 for a repeated event_id, or an ignored PSA notice)."""
    operation["responses"][str(status)] = {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "required": ["data", "meta"], "properties": {"data": schema, "meta": ref("Meta")}}}}}
    return operation

schemas.update({
    "CallbackEvent": {"type": "object", "required": ["entity_type", "entity_id", "change_type", "entity"], "properties": {
        "event_id": nullable({"type": "string", "minLength": 1, "maxLength": 200, "description": "Dedupe key: the same event_id again answers 200 with the first callback."}),
        "entity_type": EVENT_ENTITY_TYPE, "entity_id": ID_OR_INT, "entity_number": nullable(ID_OR_INT),
        "change_type": CHANGE_TYPE,
        "changes": nullable({"type": "array", "maxItems": 500, "items": {"type": "object", "required": ["field"], "properties": {
            "field": {"type": "string", "minLength": 1, "maxLength": 200}, "old": {}, "new": {}}},
            "description": "What changed. Absent on an UPDATE: the difference from the last callback for this entity."}),
        "entity": {"type": "object", "description": "The record: conditions read it by dotted path, templates as {{input.entity.field}}."},
        "created_in_psa_at": nullable(TS)}},
    "FieldComparison": {"type": "object", "required": ["field_name", "field_value", "operator", "rule_value", "is_match"], "properties": {
        "field_name": STR, "field_value": {}, "operator": STR, "rule_value": {}, "is_match": {"type": "boolean"}}},
    "WorkflowMatch": {"type": "object", "required": ["workflow_id", "workflow_name", "matched", "error", "match_reason", "match_details"], "properties": {
        "workflow_id": {"type": "integer"}, "workflow_name": STR, "matched": {"type": "boolean"},
        "error": {"type": "boolean", "description": "An unknown operator or an unusable rule value (no match)."},
        "match_reason": STR,
        "match_details": {"type": "object", "required": ["event_type", "field_comparisons"], "properties": {
            "event_type": STR, "field_comparisons": {"type": "array", "items": ref("FieldComparison")}}}}},
    "CallbackReceipt": {"type": "object", "required": ["callback_id", "entity_id", "failed_to_match_workflow_ids", "finished_processing_at",
                                                       "matcher_run_id", "started_workflow_ids", "started_executions"], "properties": {
        "callback_id": STR, "created_in_psa_at": nullable(TS), "entity_id": STR, "entity_number": nullable(STR),
        "error_message": nullable(STR), "failed_to_match_workflow_ids": {"type": "array", "items": {"type": "integer"}},
        "finished_processing_at": TS, "matcher_run_id": STR,
        "started_workflow_ids": {"type": "array", "items": {"type": "integer"}},
        "event_id": nullable(STR), "entity_type": STR, "change_type": {"type": "string", "enum": ["CREATE", "UPDATE"]}, "created_at": TS,
        "run_after": nullable(TS),
        "started_executions": {"type": "array", "items": {"type": "object", "required": ["workflow_id", "execution_id"], "properties": {
            "workflow_id": {"type": "integer"}, "execution_id": STR}}}},
        "description": "The answer to Prefer: return=minimal: a CallbackDetail without workflow_matches and processed_audit_trail."},
    "CallbackSummary": {"type": "object", "required": ["callback_id", "entity_id", "failed_to_match_workflow_ids", "finished_processing_at",
                                                       "matcher_run_id", "started_workflow_ids", "workflow_matches"], "properties": {
        "callback_id": STR, "created_in_psa_at": nullable(TS), "entity_id": STR, "entity_number": nullable(STR),
        "error_message": nullable(STR), "failed_to_match_workflow_ids": {"type": "array", "items": {"type": "integer"}},
        "finished_processing_at": TS, "matcher_run_id": STR,
        "started_workflow_ids": {"type": "array", "items": {"type": "integer"}},
        "workflow_matches": {"type": "array", "items": ref("WorkflowMatch")},
        "event_id": nullable(STR), "entity_type": STR, "change_type": {"type": "string", "enum": ["CREATE", "UPDATE"]}, "created_at": TS,
        "run_after": nullable({**TS, "description": "The started runs do not begin before this (sleep_before_callback_processing_seconds)."}),
        "started_executions": {"type": "array", "items": {"type": "object", "required": ["workflow_id", "execution_id"], "properties": {
            "workflow_id": {"type": "integer"}, "execution_id": STR}}}},
        "description": "A list row: CallbackDetail without processed_audit_trail."},
    "CallbackDetail": {"allOf": [ref("CallbackSummary"), {"type": "object", "required": ["processed_audit_trail"], "properties": {
        "processed_audit_trail": nullable({"type": "object", "description": "The event as processed: changes (and changes_from: event | previous_callback | none), entity, source, received_at, run_after."})}}]},
    "InboundIgnored": {"type": "object", "required": ["ignored", "message"], "properties": {
        "ignored": {"type": "boolean", "enum": [True]}, "message": STR}},
    "WebhookEndpoint": {"type": "object", "required": ["id", "name", "path", "secret_last4", "created_at"], "properties": {
        "id": STR, "name": STR, "description": nullable(STR), "path": {"type": "string", "description": "Where the PSA posts: /public-api/inbound/{id}."},
        "secret_last4": STR, "created_at": TS, "revoked_at": nullable(TS), "last_used_at": nullable(TS)}},
    "WebhookEndpointCreated": {"allOf": [ref("WebhookEndpoint"), {"type": "object", "required": ["secret"], "properties": {
        "secret": {"type": "string", "description": "The HMAC key (the whole whsec_… string), shown only in this response."}}}]},
    "WebhookEndpointCreate": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": nullable({"type": "string", "maxLength": 2000})}},
})

CALLBACK_FILTERS = [
    query("entity_type", STR, "With entity_id: an indexed filter."), query("entity_id", STR),
    query("entity_number", STR, "An indexed filter."),
    query("since", TS, "An indexed filter when within the last 7 days."), query("until", TS),
    query("change_type", STR, "comma-separated: CREATE, UPDATE"), query("agent_id", {"type": "integer", "minimum": 1}),
    {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20}},
    {"name": "cursor", "in": "query", "schema": STR},
]
ENDPOINT_ID = path_param("endpoint_id")
SIGNATURE = {"name": "X-Neo-Signature", "in": "header", "required": True, "schema": STR,
             "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under the endpoint secret>; 5 minutes tolerance, each signature once."}
PREFER = {"name": "Prefer", "in": "header", "schema": {"type": "string", "enum": ["return=minimal", "return=representation"]},
          "description": "return=minimal (RFC 7240) answers a CallbackReceipt (no workflow_matches, no audit trail) with Preference-Applied."}
ANSWER = {"anyOf": [ref("CallbackDetail"), ref("CallbackReceipt")]}
INBOUND = op("postInboundEvent", "A PSA's event, signed with the endpoint's secret (no Bearer key)", "Callbacks", 202, ANSWER,
             ["401", "404", "409", "415", "422", "429"], params=[ENDPOINT_ID, SIGNATURE, PREFER,
                 query("format", {"type": "string", "enum": ["neo", "connectwise"], "default": "neo"}, "The body's shape.")],
             body={"type": "object"}, secure=False)
also(INBOUND, 200, "A repeated event_id (the first callback), or a PSA notice that triggers nothing.",
     {"anyOf": [ref("CallbackDetail"), ref("CallbackReceipt"), ref("InboundIgnored")]})

paths.update({
    "/public-api/callbacks": {
        "post": also(op("ingestCallback", "Ingest an event: match it against the TRIGGERED agents and queue their runs", "Callbacks", 202,
                        ANSWER, ["415", "422"] + AUTH, params=[PREFER], body=ref("CallbackEvent")),
                     200, "A repeated event_id: the first callback; nothing new started.", ANSWER),
        "get": op("listCallbacks", "List callbacks (needs an indexed filter)", "Callbacks", 200, {"type": "array", "items": ref("CallbackSummary")},
                  ["400"] + AUTH, params=CALLBACK_FILTERS, paginated=True),
    },
    "/public-api/callbacks/{callback_id}": {
        "get": op("getCallback", "Get a callback with its match audit", "Callbacks", 200, ref("CallbackDetail"), ["404"] + AUTH,
                  params=[path_param("callback_id")]),
    },
    "/public-api/executions/{execution_id}/callback": {
        "get": op("getExecutionCallback", "The callback that started an execution (404 for runs started otherwise)", "Callbacks", 200,
                  ref("CallbackDetail"), ["404"] + AUTH, params=[path_param("execution_id")]),
    },
    "/public-api/inbound/{endpoint_id}": {"post": INBOUND},
    "/public-api/webhook-endpoints": {
        "get": op("listWebhookEndpoints", "List webhook endpoints (admin keys)", "Webhook endpoints", 200, {"type": "array", "items": ref("WebhookEndpoint")},
                  ["400"] + AUTH, params=PAGE_PARAMS, paginated=True),
        "post": op("createWebhookEndpoint", "Create a webhook endpoint; its secret is shown once", "Webhook endpoints", 201, ref("WebhookEndpointCreated"),
                   ["415", "422"] + AUTH, body=ref("WebhookEndpointCreate")),
    },
    "/public-api/webhook-endpoints/{endpoint_id}": {
        "get": op("getWebhookEndpoint", "Get a webhook endpoint (no secret)", "Webhook endpoints", 200, ref("WebhookEndpoint"), ["404"] + AUTH,
                  params=[ENDPOINT_ID]),
        "delete": op("revokeWebhookEndpoint", "Revoke a webhook endpoint at once", "Webhook endpoints", 200, ref("WebhookEndpoint"), ["404"] + AUTH,
                     params=[ENDPOINT_ID]),
    },
})

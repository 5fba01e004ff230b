#!/usr/bin/env python3
"""Builds openapi/openapi.json (OpenAPI 3.1), the spec neo-server publishes at /public-api/openapi.json.

The JSON file is the published artifact; this script keeps its shared parts (envelope, errors,
pagination) in one place. Run `python3 openapi/spec.py` after changing it, then
`scripts/embed-openapi.sh` (make does both). Paths and shapes follow Neo's Public API (design.md §3).
"""
import json
import sys
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))

def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}

def nullable(schema):
    return {"anyOf": [schema, {"type": "null"}]}

TS = {"type": "string", "format": "date-time"}
LEVEL = {"type": "string", "enum": ["none", "read", "read_write"]}

schemas = {
    "Meta": {"type": "object", "required": ["request_id"], "properties": {
        "request_id": {"type": "string"},
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
        "pagination": ref("Pagination"),
        "warnings": {"type": "array", "items": {"type": "string"}}}},
    "Pagination": {"type": "object", "required": ["has_more", "next_cursor"], "properties": {
        "has_more": {"type": "boolean"}, "next_cursor": nullable({"type": "string"})}},
    "Error": {"type": "object", "required": ["error", "meta"], "properties": {
        "error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "description": "Stable: BAD_REQUEST, validation_error, invalid_for_conversational, "
                     "VALIDATION_ERROR, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, METHOD_NOT_ALLOWED, agent_update_conflict, CONFLICT, "
                     "IDEMPOTENCY_KEY_IN_USE (409), IDEMPOTENCY_KEY_REUSED (422), PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, "
                     "RATE_LIMITED, INTERNAL_ERROR, UPSTREAM_ERROR, UNAVAILABLE, UPSTREAM_TIMEOUT."},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "required": ["field", "issue"], "properties": {
                "field": {"type": "string"}, "issue": {"type": "string"}}}}}},
        "meta": {"type": "object", "required": ["request_id"], "properties": {
            "request_id": {"type": "string"},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "Unknown body fields and query parameters that were ignored."}}}}},
    "Health": {"type": "object", "required": ["status", "version", "db"], "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded"]}, "version": {"type": "string"},
        "db": {"type": "string", "enum": ["ok", "unavailable"]}}},
    "Tenant": {"type": "object", "required": ["id", "name", "created_at"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "created_at": TS}},
    "Permissions": {"type": "object", "properties": {g: LEVEL for g in ["agents", "executions", "approvals", "external_apis", "callbacks"]}},
    "ApiKey": {"type": "object", "required": ["id", "name", "created_at", "role", "permissions", "actor", "last4"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "env": {"type": "string"}, "last4": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "member"]}, "permissions": ref("Permissions"),
        "actor": {"type": "string", "enum": ["user", "agent"]}, "agent_id": nullable({"type": "integer"}),
        "test_mode": {"type": "boolean"}, "created_at": TS, "expires_at": nullable(TS),
        "last_used_at": nullable(TS), "revoked_at": nullable(TS), "rotated_from": nullable({"type": "string"})}},
    "ApiKeyCreateResponse": {"allOf": [ref("ApiKey"), {"type": "object", "required": ["key"], "properties": {
        "key": {"type": "string", "description": "The full key, shown only in this response."}}}]},
    "ApiKeyCreate": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200}, "expires_at": nullable(TS),
        "role": nullable({"type": "string", "enum": ["admin", "member"]}), "permissions": nullable(ref("Permissions")),
        "actor": nullable({"type": "string", "enum": ["user", "agent"]}), "agent_id": nullable({"type": "integer", "minimum": 1}),
        "test_mode": nullable({"type": "boolean"}), "env": nullable({"type": "string", "enum": ["prod", "test"]})},
        "description": "Optional fields sent as null mean the default, as if omitted."},
}

def envelope(data_schema, paginated=False):
    return {"type": "object", "required": ["data", "meta"], "properties": {"data": data_schema, "meta": ref("Meta")}}

ERRORS = {
    "400": "Malformed request, JSON or query parameter.", "401": "Missing, malformed, unknown, expired or revoked key.",
    "403": "The key lacks the role or permission-group level.", "404": "No such resource in this tenant.",
    "405": "Method not allowed on this path.", "409": "State conflict.", "413": "Body over the limit.",
    "415": "Body is not application/json.", "422": "A field is missing, of the wrong type or out of range.",
    "429": "Tenant over its rate limit.", "500": "Internal error.", "502": "Upstream error.", "503": "Unavailable.",
    "504": "Upstream timeout.",
}

def responses(status, data_schema, errors, paginated=False, description="Success."):
    out = {str(status): {"description": description,
                         "content": {"application/json": {"schema": envelope(data_schema, paginated)}}}}
    for code in errors:
        out[code] = {"description": ERRORS[code], "content": {"application/json": {"schema": ref("Error")}}}
    return out

AUTH = ["401", "403", "429"]
PAGE_PARAMS = [
    {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]

def path_param(name, type_="string"):
    return {"name": name, "in": "path", "required": True, "schema": {"type": type_}}

def op(operation_id, summary, tag, status, data, errors, params=(), body=None, secure=True, paginated=False):
    """One operation. operation_id is Neo's docs name where Neo has the endpoint (listAgents, runAgentNow, ...),
    else a camelCase name in that style; generated clients name their functions after it, so it never changes."""
    if body is not None:
        # Any request body can be malformed JSON (400) or over NEO_MAX_BODY (413), whatever the operation.
        errors = [c for c in ["400", "413"] if c not in errors] + list(errors)
    o = {"operationId": operation_id, "summary": summary, "tags": [tag], "parameters": list(params),
         "responses": responses(status, data, errors, paginated)}
    if body is not None:
        o["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if secure:
        o["security"] = [{"bearer": []}]
    return o

paths = {
    "/public-api/health": {"get": op("getHealth", "Service health", "Meta", 200, ref("Health"), ["503"], secure=False)},
    "/public-api/openapi.json": {"get": {"operationId": "getOpenApiSpec", "summary": "This document", "tags": ["Meta"], "responses": {
        "200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}},
        "304": {"description": "Not modified (If-None-Match)."}}}},
    "/public-api/tenant": {"get": op("getTenant", "The caller's tenant", "Tenant", 200, ref("Tenant"), AUTH)},
    "/public-api/api-keys": {
        "get": op("listApiKeys", "List API keys", "API keys", 200, {"type": "array", "items": ref("ApiKey")}, ["400"] + AUTH,
                  params=PAGE_PARAMS, paginated=True),
        "post": op("createApiKey", "Create an API key", "API keys", 201, ref("ApiKeyCreateResponse"), ["400", "415", "422"] + AUTH,
                   body=ref("ApiKeyCreate")),
    },
    "/public-api/api-keys/{key_id}": {
        "get": op("getApiKey", "Get an API key", "API keys", 200, ref("ApiKey"), ["404"] + AUTH, params=[path_param("key_id")]),
        "delete": op("revokeApiKey", "Revoke an API key", "API keys", 200, ref("ApiKey"), ["404"] + AUTH, params=[path_param("key_id")]),
    },
    "/public-api/api-keys/{key_id}/rotate": {
        "post": op("rotateApiKey", "Rotate an API key (old key valid 24 h more)", "API keys", 200, ref("ApiKeyCreateResponse"),
                   ["404", "409"] + AUTH, params=[path_param("key_id")]),
    },
}

# Later resources register themselves from sibling modules (agents, executions, ...).
scopes = {}
for extra in sorted(os.listdir(HERE)):
    if extra.startswith("spec_") and extra.endswith(".py"):
        scope = {"ref": ref, "nullable": nullable, "TS": TS, "op": op, "path_param": path_param, "AUTH": AUTH,
                 "PAGE_PARAMS": PAGE_PARAMS, "schemas": schemas, "paths": paths}
        exec(open(os.path.join(HERE, extra)).read(), scope)
        scopes[extra] = scope

# Idempotency-Key (design §12) on every authenticated POST: one reusable header parameter, the two codes it adds,
# and the replay header on the success answer.
IDEMPOTENCY_PARAM = {"name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
    "description": "Makes a retry safe (Stripe's semantics): the first request with a key runs and its answer (unless "
                   "5xx) is kept 24 h per tenant; a retry with the same method, path and body gets that answer again with "
                   "'Idempotent-Replayed: true'; the same key with another request is 422 IDEMPOTENCY_KEY_REUSED; while the "
                   "first is still running, 409 IDEMPOTENCY_KEY_IN_USE. Over 255 characters is 400. Not kept in test mode."}
IDEMPOTENCY_CODES = {"409": "IDEMPOTENCY_KEY_IN_USE: a request with this Idempotency-Key is still running.",
                     "422": "IDEMPOTENCY_KEY_REUSED: this Idempotency-Key was used with another request."}
for path, item in paths.items():
    post = item.get("post")
    if not post or "security" not in post:
        continue
    post["parameters"].append({"$ref": "#/components/parameters/IdempotencyKey"})
    # A malformed key is 400 on every POST, also on those that take no body.
    post["responses"].setdefault("400", {"description": "Malformed request or Idempotency-Key.",
                                         "content": {"application/json": {"schema": ref("Error")}}})
    for code, text in IDEMPOTENCY_CODES.items():
        if code in post["responses"]:
            post["responses"][code]["description"] += " Or " + text
        else:
            post["responses"][code] = {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
    for status, answer in post["responses"].items():
        if status.startswith("2"):
            answer.setdefault("headers", {})["Idempotent-Replayed"] = {
                "description": "'true' when this is the kept answer of an earlier request with the same Idempotency-Key.",
                "schema": {"type": "string", "enum": ["true"]}}

# Every operation has an operationId, unique and camelCase: generated clients name their functions after it.
seen = {}
for path, item in paths.items():
    for method, operation in item.items():
        oid = operation.get("operationId")
        assert oid and re.fullmatch(r"[a-z][a-zA-Z0-9]*", oid), f"{method.upper()} {path}: operationId {oid!r}"
        assert oid not in seen, f"operationId {oid} is used by {seen[oid]} and {method.upper()} {path}"
        seen[oid] = f"{method.upper()} {path}"

doc = {
    "openapi": "3.1.0",
    "info": {"title": "neo-server Public API", "version": "1.0.0",
             "description": "A self-hosted server wire-compatible with Neo's Public API. Every response is a "
                            "{data, meta} envelope; errors are {error: {code, message, details?}, meta: {request_id, warnings?}}. "
                            "Authenticate with 'Authorization: Bearer neo_sk_<env>_<secret>'."},
    "servers": [{"url": "http://127.0.0.1:8080"}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": schemas,
                   "parameters": {"IdempotencyKey": IDEMPOTENCY_PARAM}},
    "paths": paths,
}

# The agent enums are defined once, in spec_agents.py: the server's copy is generated from them.
agents = scopes["spec_agents.py"]
def swift_list(name, schema):
    return "    static let %s = [%s]" % (name, ", ".join('"%s"' % v for v in schema["enum"]))
enums_swift = "\n".join([
    "// Generated by openapi/spec.py from the enums in openapi/spec_agents.py. Do not edit; run `make embed`.",
    "",
    "/// Neo's agent enums (design §5), as the published spec lists them.",
    "enum AgentEnums {",
    swift_list("autonomyTypes", agents["AUTONOMY"]),
    swift_list("triggerTypes", agents["TRIGGER"]),
    swift_list("states", agents["STATE"]),
    swift_list("entityTypes", agents["ENTITY"]),
    swift_list("audiences", agents["AUDIENCE"]),
    swift_list("accesses", agents["ACCESS"]),
    "}",
    "",
])

outputs = {
    os.path.join(HERE, "openapi.json"): json.dumps(doc, indent=1, sort_keys=False) + "\n",
    os.path.join(HERE, "..", "Sources", "PublicAPI", "Agents", "AgentEnums.swift"): enums_swift,
}

# --check: fail when a committed output is not what this script generates (CI runs it).
if "--check" in sys.argv:
    stale = [path for path, text in outputs.items() if not os.path.exists(path) or open(path).read() != text]
    for path in stale:
        print("spec.py --check: %s is stale; run `make embed` and commit it" % os.path.relpath(path), file=sys.stderr)
    sys.exit(1 if stale else 0)
for path, text in outputs.items():
    with open(path, "w") as f:
        f.write(text)

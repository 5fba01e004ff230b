# External-API configs, connection test and invoke (design §5, §6). exec'd by spec.py with
# ref, nullable, TS, op, path_param, AUTH, PAGE_PARAMS, schemas and paths in scope.

SECRET = {"type": "string", "description": "Encrypted at rest; returned as \"***\". Send \"***\" on PUT to keep the stored value."}
NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"}

def auth_scheme(type_, required=(), **properties):
    return {"type": "object", "required": ["type"] + list(required),
            "properties": dict({"type": {"type": "string", "const": type_}}, **properties)}

# One named schema per auth type (generated clients get one class each); ExternalApiAuth is their union on type.
AUTH_SCHEMES = {
    "ExternalApiAuthNone": auth_scheme("none"),
    "ExternalApiAuthBearer": auth_scheme("bearer", ["token"], token=SECRET),
    "ExternalApiAuthBasic": auth_scheme("basic", ["username", "password"], username={"type": "string"}, password=SECRET),
    "ExternalApiAuthApiKeyHeader": auth_scheme("api_key_header", ["header_name", "api_key"],
                                               header_name={"type": "string"}, api_key=SECRET),
    "ExternalApiAuthApiKeyQuery": auth_scheme("api_key_query", ["param_name", "api_key"],
                                              param_name={"type": "string"}, api_key=SECRET),
    "ExternalApiAuthOAuth2ClientCredentials": auth_scheme(
        "oauth2_client_credentials", ["token_url", "params"], token_url={"type": "string", "format": "uri"},
        params={"type": "array", "items": ref("ExternalApiOAuthParam")},
        token_auth=nullable(ref("ExternalApiBasicCredentials"))),
}

schemas.update({
    "ExternalApiHeader": {"type": "object", "required": ["name", "value"], "properties": {
        "name": {"type": "string"}, "value": {"type": "string", "description": "\"***\" when secret."},
        "secret": {"type": "boolean", "default": False}}},
    "ExternalApiBodyField": {"type": "object", "required": ["name", "type"], "properties": {
        "name": {"type": "string"}, "type": {"type": "string", "enum": ["String", "Number", "Boolean"]},
        "description": nullable({"type": "string"}), "required": {"type": "boolean", "default": False}}},
    "ExternalApiOAuthParam": {"type": "object", "required": ["key", "value"], "properties": {
        "key": {"type": "string"}, "value": {"type": "string", "description": "\"***\" when secret."},
        "secret": {"type": "boolean", "default": False}}},
    "ExternalApiBasicCredentials": {"type": "object", "required": ["username", "password"],
                                    "description": "HTTP Basic credentials the OAuth2 token request is sent with.",
                                    "properties": {"username": {"type": "string"}, "password": SECRET}},
    **AUTH_SCHEMES,
    "ExternalApiAuth": {"description": "How calls authenticate, chosen by type.", "oneOf": [ref(n) for n in AUTH_SCHEMES],
                        "discriminator": {"propertyName": "type", "mapping": {
                            scheme["properties"]["type"]["const"]: f"#/components/schemas/{n}" for n, scheme in AUTH_SCHEMES.items()}}},
    "ExternalApiConfigInput": {"type": "object", "required": ["name", "endpoint_url", "method"], "properties": {
        "name": NAME, "description": nullable({"type": "string", "maxLength": 2000}),
        "instructions": nullable({"type": "string", "maxLength": 10000}), "docs_url": nullable({"type": "string"}),
        "endpoint_url": {"type": "string", "description": "Absolute http(s) URL; {placeholders} in the path/query are filled from invoke params."},
        "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        "headers": {"type": "array", "maxItems": 50, "items": ref("ExternalApiHeader")},
        "body_fields": {"type": "array", "maxItems": 100, "items": ref("ExternalApiBodyField")},
        "auth": ref("ExternalApiAuth"), "requires_approval": {"type": "boolean", "default": True},
        "timeout_ms": {"type": "integer", "minimum": 100, "maximum": 60000, "default": 15000},
        "max_response_bytes": {"type": "integer", "minimum": 1, "maximum": 1048576, "default": 8192},
        "retry": nullable(ref("UpstreamRetry"))}},
    "UpstreamRetry": {"type": "object", "description": "When a call is tried again (design §12); off (1 attempt) by default. "
                      "All attempts share timeout_ms; Retry-After (seconds or an HTTP date) is honoured within it; each attempt is a step.",
                      "properties": {
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
        "backoff_ms": {"type": "integer", "minimum": 0, "maximum": 60000, "default": 200,
                       "description": "Wait before attempt n+1 is backoff_ms * 2^(n-1), capped at max_backoff_ms."},
        "max_backoff_ms": {"type": "integer", "minimum": 0, "maximum": 60000, "default": 5000},
        "on_status": {"type": "array", "maxItems": 20, "items": {"type": "integer", "minimum": 400, "maximum": 599},
                      "default": [429, 502, 503, 504]},
        "include_non_idempotent": {"type": "boolean", "default": False,
                                   "description": "Also retry POST and PATCH (GET, PUT and DELETE always may be)."}}},
    "ExternalApiConfigPatch": {"type": "object", "description": "Top-level fields sent replace the stored ones; others are kept. name is immutable.",
                               "properties": {k: v for k, v in [
                                   ("description", nullable({"type": "string"})), ("instructions", nullable({"type": "string"})),
                                   ("docs_url", nullable({"type": "string"})), ("endpoint_url", {"type": "string"}),
                                   ("method", {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}),
                                   ("headers", {"type": "array", "items": ref("ExternalApiHeader")}),
                                   ("body_fields", {"type": "array", "items": ref("ExternalApiBodyField")}),
                                   ("auth", ref("ExternalApiAuth")), ("requires_approval", {"type": "boolean"}),
                                   ("timeout_ms", {"type": "integer"}), ("max_response_bytes", {"type": "integer"}),
                                   ("retry", nullable(ref("UpstreamRetry")))]}},
    "ExternalApiConfig": {"allOf": [ref("ExternalApiConfigInput"), {"type": "object", "properties": {
        "created_at": TS, "updated_at": TS}}]},
    "RedactedRequest": {"type": "object", "required": ["method", "url", "headers"], "properties": {
        "method": {"type": "string"}, "url": {"type": "string", "description": "Secret query values are \"***\"."},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}}, "body": {}}},
    "ExternalApiInvoke": {"type": "object", "properties": {
        "path": {"type": "string", "description": "Appended to the endpoint path; '..' and encoded slashes are refused."},
        "query": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "body": {"type": "object", "description": "Checked against body_fields."},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "params": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}}},
    "ExternalApiResult": {"type": "object", "required": ["status", "headers", "body", "truncated", "duration_ms", "attempt"], "properties": {
        "status": {"type": "integer"}, "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"type": "string"}, "truncated": {"type": "boolean"}, "bytes_total": {"type": "integer"},
        "duration_ms": {"type": "number"}, "attempt": {"type": "integer", "minimum": 1, "maximum": 2},
        "execution_id": {"type": "string"}, "request": ref("RedactedRequest"),
        "sent": {"type": "boolean", "description": "false in test mode: only `request` is returned."}}},
    "ExternalApiTestInput": {"type": "object", "properties": {
        "path": {"type": "string"}, "params": {"type": "object"},
        "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "default": "GET"}}},
    "ExternalApiTestResult": {"type": "object", "required": ["ok", "diagnosis"], "properties": {
        "ok": {"type": "boolean"}, "status": nullable({"type": "integer"}), "latency_ms": nullable({"type": "number"}),
        "diagnosis": {"type": "string"}, "request": ref("RedactedRequest"),
        "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
        "sent": {"type": "boolean"}}},
    "TilRequestHeld": {"type": "object", "description": "A pending TIL request (an agent-actor key's config write held for approval).",
                       "properties": {"id": {"type": "integer"}, "agent_id": nullable({"type": "integer"}),
                                      "agent_name": nullable({"type": "string"}), "comment": {"type": "string"},
                                      "requested_for": {"type": "object"}, "status": {"type": "string"},
                                      "kind": {"type": "string"}, "created_at": TS, "updated_at": TS}},
})

NAME_PARAM = [path_param("name")]
TAG = "External APIs"
paths.update({
    "/public-api/external-apis": {
        "get": op("listExternalApis", "List external-API configs", TAG, 200, {"type": "array", "items": ref("ExternalApiConfig")}, ["400"] + AUTH,
                  params=PAGE_PARAMS, paginated=True),
        "post": op("createExternalApi", "Create an external-API config (202 with a TIL request for agent-actor keys)", TAG, 201, ref("ExternalApiConfig"),
                   ["400", "409", "415", "422"] + AUTH, body=ref("ExternalApiConfigInput")),
    },
    "/public-api/external-apis/{name}": {
        "get": op("getExternalApi", "Get an external-API config (secrets masked)", TAG, 200, ref("ExternalApiConfig"), ["404"] + AUTH, params=NAME_PARAM),
        "put": op("updateExternalApi", "Update an external-API config (\"***\" keeps a stored secret)", TAG, 200, ref("ExternalApiConfig"),
                  ["400", "404", "415", "422"] + AUTH, params=NAME_PARAM, body=ref("ExternalApiConfigPatch")),
        "delete": op("deleteExternalApi", "Delete an external-API config", TAG, 200, ref("ExternalApiConfig"), ["404"] + AUTH, params=NAME_PARAM),
    },
    "/public-api/external-apis/{name}/test": {
        "post": op("testExternalApi", "Connection test: status, latency and a credentials diagnosis", TAG, 200, ref("ExternalApiTestResult"),
                   ["400", "404", "415", "422"] + AUTH, params=NAME_PARAM, body=ref("ExternalApiTestInput")),
    },
    "/public-api/external-apis/{name}/invoke": {
        "post": op("invokeExternalApi", "Run one call now (recorded as an execution)", TAG, 200, ref("ExternalApiResult"),
                   ["400", "404", "415", "422", "502", "504"] + AUTH, params=NAME_PARAM, body=ref("ExternalApiInvoke")),
    },
})
for p in ["/public-api/external-apis", "/public-api/external-apis/{name}"]:
    for method in ["post", "put", "delete"]:
        if method in paths[p]:
            paths[p][method]["responses"]["202"] = {"description": "Held for approval (agent-actor key): a pending TIL request.",
                                                    "content": {"application/json": {"schema": {"type": "object", "properties": {
                                                        "data": ref("TilRequestHeld"), "meta": ref("Meta")}}}}}

# The audit log (design §12): one append-only row per write, for admins. Exec'd by spec.py like the other spec_*.py.

RESOURCE_TYPES = ["agent", "external_api", "llm_provider", "api_key", "settings", "scheduled_work", "webhook_endpoint",
                  "execution", "til_request", "callback"]
SHA = nullable({"type": "string", "pattern": "^[0-9a-f]{64}$"})

schemas.update({
    "AuditEntry": {"type": "object", "required": ["id", "at", "key_id", "actor", "method", "route", "resource_type", "resource_id",
                                                  "status", "request_id", "before_sha256", "after_sha256"], "properties": {
        "id": {"type": "integer"}, "at": TS,
        "key_id": nullable({"type": "integer", "description": "The key that wrote; null for the command line and signed webhooks."}),
        "actor": {"type": "string", "description": "user or agent (the key's actor), cli (an offline command), webhook (a signed inbound post)."},
        "method": {"type": "string", "description": "POST, PUT, PATCH or DELETE; CLI for an offline command."},
        "route": {"type": "string", "description": "The route template (/public-api/agents/{agent_id}), never a raw path; the command for CLI rows."},
        "resource_type": {"type": "string", "enum": RESOURCE_TYPES}, "resource_id": nullable({"type": "string"}),
        "status": {"type": "integer", "description": "The status the write answered."},
        "request_id": nullable({"type": "string"}),
        "before_sha256": dict(SHA, description="SHA-256 of the resource's stored row before the write; null when it did not exist."),
        "after_sha256": dict(SHA, description="SHA-256 of the stored row after the write; null when the write removed it."),
    }},
})

def audit_query(name, schema, description):
    return {"name": name, "in": "query", "schema": schema, "description": description}

paths.update({
    "/public-api/audit-log": {
        "get": op("listAuditLog", "The tenant's audit log, newest first (admin keys)", "Audit log", 200,
                  {"type": "array", "items": ref("AuditEntry")}, ["400"] + AUTH, paginated=True, params=[
                      audit_query("key_id", {"type": "integer", "minimum": 1}, "Only writes made with this key."),
                      audit_query("resource_type", {"type": "string", "enum": RESOURCE_TYPES}, "Only this kind of resource."),
                      audit_query("resource_id", {"type": "string", "maxLength": 200}, "Only this resource (with resource_type)."),
                      audit_query("since", TS, "Only writes at or after this instant."),
                      audit_query("until", TS, "Only writes before this instant."),
                  ] + PAGE_PARAMS),
    },
})

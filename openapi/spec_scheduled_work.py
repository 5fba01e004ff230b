# Scheduled work (design §9, Neo's api-reference/scheduled-work): one-off future runs of an agent. Exec'd by
# spec.py like the other spec_*.py. Neo pages this list by `page`; meta.pagination.next_cursor is always null.

WORK_STATUS = {"type": "string", "enum": ["PENDING", "PROCESSING", "COMPLETED", "FAILED", "CANCELLED"]}
TEXT = nullable({"type": "string"})
WORK_ID = path_param("scheduled_work_id")
WORK_ID["description"] = "The scheduled work's id (decimal digits)."

schemas.update({
    "PublicScheduledWork": {"type": "object", "required": ["id", "workflow_id", "workflow_name", "scheduled_for", "status",
                                                           "created_at", "updated_at"], "properties": {
        "id": nullable({"type": "integer", "description": "null only in a test-mode create"}),
        "workflow_id": {"type": "integer"}, "workflow_name": {"type": "string"}, "scheduled_for": TS,
        "ticket_id": TEXT, "ticket_number": TEXT, "additional_custom_instructions": TEXT, "client_id": TEXT,
        "created_by": TEXT, "created_at": TS, "updated_at": TS, "executed_at": nullable(TS), "execution_message": TEXT,
        "execution_temporal_run_id": nullable({"type": "string", "description": "The execution_id of the run it started."}),
        "status": WORK_STATUS}},
    "ScheduledWorkCreate": {"type": "object", "required": ["scheduled_for", "workflow_id"], "properties": {
        "scheduled_for": dict(TS, description="When to run; must be in the future (422 otherwise)."),
        "workflow_id": {"type": "integer", "minimum": 1, "description": "The agent to run (its integer id)."},
        "additional_custom_instructions": nullable({"type": "string", "maxLength": 10000}),
        "ticket_id": nullable({"anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}],
                               "description": "The run's target_entity_id; required for a TRIGGERED agent."})}},
})

def query(name, schema, description):
    return {"name": name, "in": "query", "schema": schema, "description": description}

paths.update({
    "/public-api/scheduled-work": {
        "get": op("listScheduledWork", "List scheduled work (newest first, paged by page)", "Scheduled work", 200,
                  {"type": "array", "items": ref("PublicScheduledWork")}, ["400"] + AUTH, paginated=True, params=[
                      query("status", {"type": "string"}, "Filter by status: PENDING, PROCESSING, COMPLETED, FAILED, CANCELLED (comma-separated)."),
                      query("ticket_id", {"type": "string"}, "Exact ticket id."),
                      query("q", {"type": "string"}, "Partial match on ticket_id or ticket_number."),
                      query("page", {"type": "integer", "minimum": 1, "default": 1}, "1-indexed page number (default 1)."),
                      query("page_size", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "Entries per page (1-200).")]),
        "post": op("scheduleWork", "Schedule a one-off run of an agent", "Scheduled work", 201, ref("PublicScheduledWork"),
                   ["415", "422"] + AUTH, body=ref("ScheduledWorkCreate")),
    },
    "/public-api/scheduled-work/{scheduled_work_id}": {
        "get": op("getScheduledWork", "Get scheduled work", "Scheduled work", 200, ref("PublicScheduledWork"), ["404"] + AUTH,
                  params=[WORK_ID]),
        "delete": op("cancelScheduledWork", "Cancel pending scheduled work (409 once it has started)", "Scheduled work", 200,
                     ref("PublicScheduledWork"), ["404", "409"] + AUTH, params=[WORK_ID]),
    },
})

# Operations (design §12): Neo's performance rollups and /metrics. Exec'd by spec.py like the other spec_*.py.

ISO = {"type": "string", "format": "date-time"}
schemas.update({
    "WorkflowPerformanceRow": {"type": "object", "required": [
        "agent_id", "agent_name", "executions", "failures", "psa_calls", "p95_total_duration_seconds",
        "p95_actual_work_seconds", "p95_overhead_seconds", "llm_calls_by_purpose"], "properties": {
        "agent_id": {"type": "integer"}, "agent_name": {"type": "string"},
        "executions": {"type": "integer"}, "failures": {"type": "integer"},
        "psa_calls": {"type": "integer", "description": "External-API calls the runs made (this server reaches a PSA through external-API configs)."},
        "p95_total_duration_seconds": {"type": "number", "description": "Created to finished, queueing and approval waits included."},
        "p95_actual_work_seconds": {"type": "number", "description": "Time the upstream and model calls took."},
        "p95_overhead_seconds": {"type": "number", "description": "Total less actual work."},
        "llm_calls_by_purpose": {"type": "array", "items": {"type": "object", "required": ["purpose", "model", "count", "p95_duration_seconds"],
            "properties": {"purpose": {"type": "string", "description": "tool_selection or final_answer"}, "model": {"type": "string"},
                           "count": {"type": "integer"}, "p95_duration_seconds": {"type": "number"}}}}}},
    "WorkflowPerformance": {"type": "object", "required": ["rows", "window"], "properties": {
        "rows": {"type": "array", "items": ref("WorkflowPerformanceRow")},
        "window": {"type": "object", "required": ["since", "until", "timezone"], "properties": {
            "since": TS, "until": TS, "timezone": {"type": "string", "description": "The tenant's settings timezone, else UTC."}}}}},
})

def query(name, schema, required=False, description=None):
    out = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out

paths.update({
    "/public-api/performance/workflows": {
        "get": op("getWorkflowPerformance", "Per-agent execution stats for a date window", "Performance", 200,
                  {"type": "array", "items": ref("WorkflowPerformance")}, ["400"] + AUTH, params=[
                      query("from", ISO, True, "ISO-8601 window start (inclusive)."),
                      query("to", ISO, True, "ISO-8601 window end (exclusive)."),
                      query("autonomy_type", {"type": "string", "enum": ["AGENTIC", "CHAINED_ACTIONS"]}, False,
                            "Optional filter: AGENTIC or CHAINED_ACTIONS.")]),
    },
    "/public-api/observability/workflow-performance": {
        "get": op("getObservabilityWorkflowPerformance", "Per-agent performance breakdown", "Performance", 200,
                  ref("WorkflowPerformance"), ["400"] + AUTH, params=[
                      query("since", ISO, False, "ISO-8601 lower bound (UTC). Default = until - 24h."),
                      query("until", ISO, False, "ISO-8601 upper bound (UTC). Default = now."),
                      query("agent_id", {"type": "integer", "minimum": 1}, False, "Narrow to one agent (workflow id).")]),
    },
    "/metrics": {"get": {
        "operationId": "getMetrics", "tags": ["Meta"],
        "summary": "Prometheus metrics (text format 0.0.4); on the API port only when NEO_METRICS_TOKEN is set and NEO_METRICS_ADDR is not",
        "security": [{"bearer": []}],
        "responses": {
            "200": {"description": "The metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": {"description": "Missing or wrong NEO_METRICS_TOKEN.", "content": {"application/json": {"schema": ref("Error")}}},
            "404": {"description": "Metrics are not served on this listener.", "content": {"application/json": {"schema": ref("Error")}}}}}},
})

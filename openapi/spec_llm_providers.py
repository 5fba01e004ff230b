# Model providers for AGENTIC runs (design §10, our extension). exec'd by spec.py with
# ref, nullable, TS, op, path_param, AUTH, PAGE_PARAMS, schemas and paths in scope.

KIND = {"type": "string", "enum": ["openai_chat", "anthropic_messages"],
        "description": "openai_chat: POST {base_url}/chat/completions (OpenAI, Ollama /v1, vLLM, llama.cpp, LM Studio, LiteLLM); "
                       "anthropic_messages: POST {base_url}/messages."}
PROVIDER_FIELDS = {
    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"},
    "kind": KIND,
    "base_url": {"type": "string", "description": "Absolute http(s) URL without query, e.g. https://api.openai.com/v1 or http://localhost:11434/v1; "
                                                  "checked against NEO_UPSTREAM_POLICY."},
    "model": {"type": "string", "minLength": 1, "maxLength": 200},
    "api_key": nullable({"type": "string", "description": "Encrypted at rest; returned as \"***\" (null when none). Send \"***\" on PUT to keep it."}),
    "timeout_ms": {"type": "integer", "minimum": 1000, "maximum": 600000, "default": 60000},
    "max_retries": {"type": "integer", "minimum": 0, "maximum": 10, "default": 2,
                    "description": "Retries of 408/409/429/5xx answers and connection errors (never of insufficient_quota)."},
    "default": {"type": "boolean", "description": "The tenant's default provider (one per tenant; the first one created is the default)."},
}
schemas.update({
    "LlmProviderInput": {"type": "object", "required": ["name", "kind", "base_url", "model"], "properties": PROVIDER_FIELDS},
    "LlmProviderPatch": {"type": "object", "description": "Fields sent replace the stored ones; others are kept. name is immutable.",
                         "properties": {k: v for k, v in PROVIDER_FIELDS.items() if k != "name"}},
    "LlmProvider": {"allOf": [ref("LlmProviderInput"), {"type": "object", "required": ["default"], "properties": {
        "created_at": TS, "updated_at": TS}}]},
})

NAME_PARAM = [path_param("name")]
TAG = "Model providers"
paths.update({
    "/public-api/llm-providers": {
        "get": op("listLlmProviders", "List model providers", TAG, 200, {"type": "array", "items": ref("LlmProvider")}, ["400"] + AUTH,
                  params=PAGE_PARAMS, paginated=True),
        "post": op("createLlmProvider", "Create a model provider", TAG, 201, ref("LlmProvider"), ["400", "409", "415", "422"] + AUTH,
                   body=ref("LlmProviderInput")),
    },
    "/public-api/llm-providers/{name}": {
        "get": op("getLlmProvider", "Get a model provider (key masked)", TAG, 200, ref("LlmProvider"), ["404"] + AUTH, params=NAME_PARAM),
        "put": op("updateLlmProvider", "Update a model provider (\"***\" keeps the stored key)", TAG, 200, ref("LlmProvider"),
                  ["400", "404", "415", "422"] + AUTH, params=NAME_PARAM, body=ref("LlmProviderPatch")),
        "delete": op("deleteLlmProvider", "Delete a model provider", TAG, 200, ref("LlmProvider"), ["404"] + AUTH, params=NAME_PARAM),
    },
})

# AGENTIC runs (design §10) add their usage to executions and document the toolbox and agent_settings keys they read.
schemas["Execution"]["properties"]["usage"] = {
    "type": "object", "required": ["llm_calls", "prompt_tokens", "completion_tokens"],
    "description": "Model calls and tokens of an AGENTIC run (0 for runs that call no model).",
    "properties": {"llm_calls": {"type": "integer"}, "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}}}
schemas["Toolbox"]["properties"]["tool_settings_by_type"]["description"] += (
    " AGENTIC runs read EXTERNAL_API_REQUEST {apis: [external-API config names]} (the only external APIs the model may call) and "
    "NEO_API_REQUEST {permissions: {agents|executions|approvals|external_apis|callbacks: none|read|read_write}} (the neo_api_request "
    "tool, served as an agent-actor principal with exactly these groups); a missing API or a level that does not exist is 422.")
for name in ["CreateChainedActionsAgent", "CreateAgenticAgent", "CreateConversationalAgent", "AgentPatch", "AgentDetail"]:
    schema = schemas.get(name)
    props = schema and (schema.get("properties") or next((s["properties"] for s in schema.get("allOf", []) if "properties" in s and "agent_settings" in s["properties"]), None))
    if props and "agent_settings" in props:
        props["agent_settings"] = nullable({"type": "object", "description":
            "custom_instructions (the core of an AGENTIC run's system prompt) and, ours: llm_provider (a provider name; default the tenant's), "
            "max_iterations (10), max_tool_calls (20), max_run_seconds (600), max_total_tokens (200000); reaching a cap fails the run naming it.",
            "properties": {"custom_instructions": nullable({"type": "string"}), "llm_provider": nullable({"type": "string"}),
                           "max_iterations": {"type": "integer", "minimum": 1, "maximum": 200},
                           "max_tool_calls": {"type": "integer", "minimum": 1, "maximum": 1000},
                           "max_run_seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
                           "max_total_tokens": {"type": "integer", "minimum": 1, "maximum": 100000000}}})

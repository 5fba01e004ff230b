# Chat sessions for bots (design §13, Neo's api-reference/chat): sessions with CONVERSATIONAL agents, their
# messages (each user message enqueues a turn), and the turn's event stream as Server-Sent Events in the Vercel
# AI SDK v6 UI-message-stream format. Exec'd by spec.py like the other spec_*.py. Permission group `executions`.

TEXT = nullable({"type": "string"})
SESSION_ID = path_param("session_id")
SESSION_ID["description"] = "The chat session's id."

schemas.update({
    "PublicChatSession": {"type": "object", "required": ["id", "agent_id", "archived_at", "channel", "client_id", "created_at", "title",
                                                         "updated_at", "show_agent_progress_steps"], "properties": {
        "id": {"type": "string"}, "agent_id": {"type": "integer"}, "archived_at": nullable(TS),
        "channel": {"type": "string", "description": "Where the session came from: API for sessions made through this API."},
        "client_id": TEXT, "created_at": TS, "title": TEXT, "updated_at": TS, "show_agent_progress_steps": {"type": "boolean"}}},
    "ChatSessionCreate": {"type": "object", "properties": {
        "agent_id": nullable({"type": "integer", "minimum": 1, "description": "A CONVERSATIONAL agent. Provide exactly one of agent_id or managed_agent_key."}),
        "managed_agent_key": nullable({"type": "string", "maxLength": 200, "description": "A Neo-managed agent (this server has none: 422)."}),
        "title": nullable({"type": "string", "maxLength": 500}),
        "client_id": nullable({"type": "string", "maxLength": 200, "description": "Platform service accounts only; any other caller gets 403."}),
        "bot_id": nullable({"type": "string", "maxLength": 200, "description": "Platform service accounts only; ignored otherwise."}),
        "inbound_tenant_id": nullable({"type": "string", "maxLength": 200, "description": "Platform service accounts only; ignored otherwise."})}},
    "PublicChatAttachment": {"type": "object", "properties": {
        "blob_path": {"type": "string"}, "mime": {"type": "string"}, "alt": {"type": "string"}, "filename": {"type": "string"}}},
    "PostMessageRequest": {"type": "object", "properties": {
        "message": {"type": "string", "default": "", "maxLength": 32000, "description": "The user's text; must not be blank."},
        "client_message_id": nullable({"type": "string", "minLength": 1, "maxLength": 200,
                                       "description": "Idempotency: a duplicate answers 409 with the original user_message_id, and no turn."}),
        "attachments": nullable({"type": "array", "maxItems": 6, "items": ref("PublicChatAttachment"),
                                 "description": "Not supported by this server: only [] (or omitted) is accepted, else 422."}),
        "model_tier": {"type": "string", "enum": ["FAST", "SMART"], "default": "FAST",
                       "description": "SMART uses agent_settings.smart_model for this turn when the agent sets one."}}},
    "PostMessageResponse": {"type": "object", "required": ["chat_turn_id", "since_cursor", "user_message_id", "show_agent_progress_steps"],
                            "properties": {
        "chat_turn_id": {"type": "string"},
        "since_cursor": {"type": "string", "description": "The session's last event id before this turn: pass it as ?since= to tail this turn."},
        "user_message_id": {"type": "string"}, "show_agent_progress_steps": {"type": "boolean"}}},
    "PublicChatMessage": {"type": "object", "required": ["id", "session_id", "role", "content", "created_at"], "properties": {
        "id": {"type": "string"}, "session_id": {"type": "string"}, "role": {"type": "string", "enum": ["user", "assistant"]},
        "content": {"type": "string"}, "chat_turn_id": TEXT, "client_message_id": TEXT,
        "attachments": {"type": "array", "items": ref("PublicChatAttachment")}, "created_at": TS}},
})

def chat_query(name, schema, description):
    return {"name": name, "in": "query", "schema": schema, "description": description}

tail = op("tailChatSessionEvents", "Tail chat-session events (SSE)", "Chat", 200, {"type": "object"}, ["400", "404", "503"] + AUTH,
          params=[SESSION_ID, chat_query("since", {"type": "string", "pattern": "^[0-9]{1,19}$"},
                                         "Stream-event id to resume after (or send Last-Event-Id); 0 = from the start. An id this session never had is 400.")])
tail["description"] = ("text/event-stream of Vercel AI SDK v6 UI-message-stream parts (start, start-step, text-start, text-delta, text-end, "
                       "tool-input-available, tool-output-available, tool-output-error, tool-approval-request, finish-step, error, finish), one JSON "
                       "object per `data:` line with its SSE `id:`, header `x-vercel-ai-ui-message-stream: v1`; a `: keep-alive` comment every 15 s; "
                       "the stream stays open across turns until the client leaves. 429/503 TOO_MANY_STREAMS past the per-key or total cap.")
tail["responses"]["200"] = {"description": "The event stream.", "content": {"text/event-stream": {"schema": {"type": "string"}}}}

paths.update({
    "/public-api/chat/sessions": {
        "get": op("listChatSessions", "List chat sessions (newest first)", "Chat", 200, {"type": "array", "items": ref("PublicChatSession")},
                  ["400"] + AUTH, params=PAGE_PARAMS, paginated=True),
        "post": op("createChatSession", "Create a chat session", "Chat", 201, ref("PublicChatSession"), ["404", "409", "415", "422"] + AUTH,
                   body=ref("ChatSessionCreate")),
    },
    "/public-api/chat/sessions/{session_id}": {
        "get": op("getChatSession", "Get a chat session", "Chat", 200, ref("PublicChatSession"), ["404"] + AUTH, params=[SESSION_ID]),
        "delete": op("archiveChatSession", "Archive a chat session (it then takes no messages)", "Chat", 200, ref("PublicChatSession"),
                     ["404"] + AUTH, params=[SESSION_ID]),
    },
    "/public-api/chat/sessions/{session_id}/messages": {
        "get": op("listChatMessages", "Replay a chat session's history (oldest first)", "Chat", 200,
                  {"type": "array", "items": ref("PublicChatMessage")}, ["400", "404"] + AUTH, params=[SESSION_ID] + PAGE_PARAMS, paginated=True),
        "post": op("appendUserMessage", "Append a user message + enqueue a chat turn", "Chat", 202, ref("PostMessageResponse"),
                   ["404", "409", "415", "422"] + AUTH, params=[SESSION_ID], body=ref("PostMessageRequest")),
    },
    "/public-api/chat/sessions/{session_id}/events": {"get": tail},
})

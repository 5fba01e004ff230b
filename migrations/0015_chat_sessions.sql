-- Chat sessions for bots (design §13): a session talks to one CONVERSATIONAL agent; each user message
-- enqueues a turn (an execution of the agent through the model loop); the turn's UI-message-stream parts
-- are kept per session with a monotonically increasing seq, the SSE id tailers resume from.

CREATE TABLE chat_sessions (
    id                        TEXT PRIMARY KEY,
    tenant_id                 INTEGER NOT NULL REFERENCES tenants(id),
    agent_id                  INTEGER NOT NULL REFERENCES agents(id),
    title                     TEXT,
    channel                   TEXT NOT NULL,
    client_id                 TEXT,
    bot_id                    TEXT,
    inbound_tenant_id         TEXT,
    show_agent_progress_steps INTEGER NOT NULL DEFAULT 1,
    key_id                    INTEGER,
    archived_at               TEXT,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL
);
CREATE INDEX chat_sessions_by_tenant_created ON chat_sessions (tenant_id, created_at DESC, id DESC);

-- The history: user messages as sent, assistant messages as the turn's final text. seq orders them.
CREATE TABLE chat_messages (
    id                TEXT PRIMARY KEY,
    session_id        TEXT NOT NULL REFERENCES chat_sessions(id),
    tenant_id         INTEGER NOT NULL REFERENCES tenants(id),
    seq               INTEGER NOT NULL,
    role              TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content           TEXT NOT NULL,
    turn_id           TEXT,
    client_message_id TEXT,
    created_at        TEXT NOT NULL,
    UNIQUE (session_id, seq)
);
CREATE UNIQUE INDEX chat_messages_client_message_id ON chat_messages (session_id, client_message_id) WHERE client_message_id IS NOT NULL;

-- One turn per user message, run one at a time per session in seq order: queued → running (its execution)
-- → succeeded | failed.
CREATE TABLE chat_turns (
    id                   TEXT PRIMARY KEY,
    session_id           TEXT NOT NULL REFERENCES chat_sessions(id),
    tenant_id            INTEGER NOT NULL REFERENCES tenants(id),
    seq                  INTEGER NOT NULL,
    user_message_id      TEXT NOT NULL REFERENCES chat_messages(id),
    assistant_message_id TEXT NOT NULL,
    model_tier           TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    execution_id         TEXT REFERENCES executions(id),
    error                TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (session_id, seq)
);
CREATE INDEX chat_turns_unfinished ON chat_turns (session_id, seq) WHERE status IN ('queued', 'running');
CREATE INDEX chat_turns_by_execution ON chat_turns (execution_id) WHERE execution_id IS NOT NULL;

-- Every part the session's stream carried, in order; seq is the SSE id.
CREATE TABLE chat_events (
    session_id TEXT NOT NULL REFERENCES chat_sessions(id),
    seq        INTEGER NOT NULL,
    turn_id    TEXT,
    part       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

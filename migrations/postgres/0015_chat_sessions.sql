-- Chat sessions for bots (design §13): a session talks to one CONVERSATIONAL agent; each user message
-- enqueues a turn (an execution of the agent through the model loop); the turn's UI-message-stream parts
-- are kept per session with a monotonically increasing seq, the SSE id tailers resume from.
-- (PostgreSQL twin of migrations/0015.)

CREATE TABLE chat_sessions (
    id                        TEXT COLLATE "C" PRIMARY KEY,
    tenant_id                 BIGINT NOT NULL REFERENCES tenants(id),
    agent_id                  BIGINT NOT NULL REFERENCES agents(id),
    title                     TEXT COLLATE "C",
    channel                   TEXT COLLATE "C" NOT NULL,
    client_id                 TEXT COLLATE "C",
    bot_id                    TEXT COLLATE "C",
    inbound_tenant_id         TEXT COLLATE "C",
    show_agent_progress_steps BIGINT NOT NULL DEFAULT 1,
    key_id                    BIGINT,
    archived_at               TEXT COLLATE "C",
    created_at                TEXT COLLATE "C" NOT NULL,
    updated_at                TEXT COLLATE "C" NOT NULL
);
CREATE INDEX chat_sessions_by_tenant_created ON chat_sessions (tenant_id, created_at DESC, id DESC);

-- The history: user messages as sent, assistant messages as the turn's final text. seq orders them.
CREATE TABLE chat_messages (
    id                TEXT COLLATE "C" PRIMARY KEY,
    session_id        TEXT COLLATE "C" NOT NULL REFERENCES chat_sessions(id),
    tenant_id         BIGINT NOT NULL REFERENCES tenants(id),
    seq               BIGINT NOT NULL,
    role              TEXT COLLATE "C" NOT NULL CHECK (role IN ('user', 'assistant')),
    content           TEXT COLLATE "C" NOT NULL,
    turn_id           TEXT COLLATE "C",
    client_message_id TEXT COLLATE "C",
    created_at        TEXT COLLATE "C" NOT NULL,
    UNIQUE (session_id, seq)
);
CREATE UNIQUE INDEX chat_messages_client_message_id ON chat_messages (session_id, client_message_id) WHERE client_message_id IS NOT NULL;

-- One turn per user message, run one at a time per session in seq order: queued → running (its execution)
-- → succeeded | failed.
CREATE TABLE chat_turns (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    session_id           TEXT COLLATE "C" NOT NULL REFERENCES chat_sessions(id),
    tenant_id            BIGINT NOT NULL REFERENCES tenants(id),
    seq                  BIGINT NOT NULL,
    user_message_id      TEXT COLLATE "C" NOT NULL REFERENCES chat_messages(id),
    assistant_message_id TEXT COLLATE "C" NOT NULL,
    model_tier           TEXT COLLATE "C" NOT NULL,
    status               TEXT COLLATE "C" NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    execution_id         TEXT COLLATE "C" REFERENCES executions(id),
    error                TEXT COLLATE "C",
    created_at           TEXT COLLATE "C" NOT NULL,
    updated_at           TEXT COLLATE "C" NOT NULL,
    UNIQUE (session_id, seq)
);
CREATE INDEX chat_turns_unfinished ON chat_turns (session_id, seq) WHERE status IN ('queued', 'running');
CREATE INDEX chat_turns_by_execution ON chat_turns (execution_id) WHERE execution_id IS NOT NULL;

-- Every part the session's stream carried, in order; seq is the SSE id.
CREATE TABLE chat_events (
    session_id TEXT COLLATE "C" NOT NULL REFERENCES chat_sessions(id),
    seq        BIGINT NOT NULL,
    turn_id    TEXT COLLATE "C",
    part       TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- Schedules and scheduled work (design §9).
--
-- An agent's next slot, kept on every agent write: NULL unless the agent is ENABLED, SCHEDULED and has a valid
-- schedule. schedule_cron and schedule_zone are the cron and time zone it was computed from (the schedule's own
-- zone, else the tenant's, else UTC), so a write that leaves them alone keeps the pending slot.
ALTER TABLE agents ADD COLUMN next_run_at TEXT;
ALTER TABLE agents ADD COLUMN schedule_cron TEXT;
ALTER TABLE agents ADD COLUMN schedule_zone TEXT;
CREATE INDEX agents_due ON agents (next_run_at) WHERE next_run_at IS NOT NULL;

-- GET /agents shows next_run_at beside the stored summary: the list's covering index carries it too.
DROP INDEX agents_list;
CREATE INDEX agents_list ON agents (tenant_id, created_at DESC, id DESC, state, summary, next_run_at);

-- Every slot the scheduler fired, one row per (agent, slot), written in the transaction that queues its
-- execution and moves the agent's next_run_at: the primary key is what makes a slot fire at most once,
-- across restarts and processes. (The foreign key to executions is immediate on purpose: a deferred one makes
-- SQLite search this table for every execution inserted while it is pending.)
CREATE TABLE schedule_slots (
    agent_id     INTEGER NOT NULL REFERENCES agents(id),
    slot         TEXT NOT NULL,                                  -- the slot, RFC 3339 UTC (trigger.scheduled_for)
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    execution_id TEXT NOT NULL REFERENCES executions(id),
    fired_at     TEXT NOT NULL,                                  -- the scheduler's clock when it fired
    PRIMARY KEY (agent_id, slot)
) WITHOUT ROWID;

-- Neo's scheduled work: one-off future runs of an agent (PublicScheduledWork).
CREATE TABLE scheduled_work (
    id                             INTEGER PRIMARY KEY,
    tenant_id                      INTEGER NOT NULL REFERENCES tenants(id),
    workflow_id                    INTEGER NOT NULL REFERENCES agents(id),
    workflow_name                  TEXT NOT NULL,
    scheduled_for                  TEXT NOT NULL,
    ticket_id                      TEXT,
    ticket_number                  TEXT,
    additional_custom_instructions TEXT,
    client_id                      TEXT,
    created_by                     TEXT,
    status                         TEXT NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    execution_id                   TEXT REFERENCES executions(id), -- execution_temporal_run_id
    execution_message              TEXT,
    executed_at                    TEXT,
    created_at                     TEXT NOT NULL,
    updated_at                     TEXT NOT NULL
);

CREATE INDEX scheduled_work_by_tenant_created ON scheduled_work (tenant_id, created_at DESC, id DESC);
CREATE INDEX scheduled_work_due ON scheduled_work (scheduled_for) WHERE status = 'PENDING';
CREATE INDEX scheduled_work_running ON scheduled_work (execution_id) WHERE status = 'PROCESSING';

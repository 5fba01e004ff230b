-- Runs shared by nodes (design §11): a node claims a queued run under a lease that its heartbeat renews; a run
-- whose lease expired is taken over. Every write a run makes is fenced by (id, attempt, lease_owner).
ALTER TABLE executions ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;        -- claims so far; 0 = never claimed
ALTER TABLE executions ADD COLUMN lease_owner TEXT;                          -- node id holding the running attempt
ALTER TABLE executions ADD COLUMN lease_expires_at TEXT;                     -- database clock; renewed by the heartbeat
ALTER TABLE executions ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;  -- attempts whose node died under them
-- Which claim wrote a step (NULL: written outside a claim: a direct invoke, a decision, the reaper).
ALTER TABLE execution_steps ADD COLUMN attempt INTEGER;
ALTER TABLE execution_steps ADD COLUMN node TEXT;
-- One row per claim: the key refuses a second claim of one attempt.
CREATE TABLE execution_attempts (
    execution_id TEXT NOT NULL REFERENCES executions(id),
    attempt      INTEGER NOT NULL,
    node         TEXT NOT NULL,
    claimed_at   TEXT NOT NULL,
    PRIMARY KEY (execution_id, attempt)
);
-- The reaper's scan: running runs by lease expiry.
CREATE INDEX executions_leases ON executions(lease_expires_at) WHERE status = 'running';

-- Runs shared by nodes (design §11): a node claims a queued run under a lease that its heartbeat renews; a run
-- whose lease expired is taken over. Every write a run makes is fenced by (id, attempt, lease_owner).
ALTER TABLE executions ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;        -- claims so far; 0 = never claimed
ALTER TABLE executions ADD COLUMN lease_owner TEXT COLLATE "C";             -- node id holding the running attempt
ALTER TABLE executions ADD COLUMN lease_expires_at TEXT COLLATE "C";        -- database clock; renewed by the heartbeat
ALTER TABLE executions ADD COLUMN interruptions BIGINT NOT NULL DEFAULT 0;  -- attempts whose node died under them
-- Which claim wrote a step (NULL: written outside a claim: a direct invoke, a decision, the reaper).
ALTER TABLE execution_steps ADD COLUMN attempt BIGINT;
ALTER TABLE execution_steps ADD COLUMN node TEXT COLLATE "C";
-- One row per claim: the key refuses a second claim of one attempt.
CREATE TABLE execution_attempts (
    execution_id TEXT COLLATE "C" NOT NULL REFERENCES executions(id),
    attempt      BIGINT NOT NULL,
    node         TEXT COLLATE "C" NOT NULL,
    claimed_at   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (execution_id, attempt)
);
-- The reaper's scan: running runs by lease expiry.
CREATE INDEX executions_leases ON executions(lease_expires_at) WHERE status = 'running';

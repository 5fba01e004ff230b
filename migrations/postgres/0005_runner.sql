-- The background runner's progress, so a run waiting on an approval resumes where it stopped.
ALTER TABLE executions ADD COLUMN next_action BIGINT NOT NULL DEFAULT 0;   -- index into the agent's actions
ALTER TABLE executions ADD COLUMN approved_action BIGINT;                  -- action whose TIL request was approved
ALTER TABLE executions ADD COLUMN agent_version BIGINT;                    -- agent version the run started with

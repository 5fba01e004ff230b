-- The background runner's progress, so a run waiting on an approval resumes where it stopped.
ALTER TABLE executions ADD COLUMN next_action INTEGER NOT NULL DEFAULT 0;   -- index into the agent's actions
ALTER TABLE executions ADD COLUMN approved_action INTEGER;                  -- action whose TIL request was approved
ALTER TABLE executions ADD COLUMN agent_version INTEGER;                    -- agent version the run started with

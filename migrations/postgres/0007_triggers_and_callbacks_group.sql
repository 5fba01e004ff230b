-- What started each execution (design §9): {"type": "RUN_NOW"}, {"type": "SCHEDULED", "scheduled_for": …},
-- {"type": "CALLBACK", "callback_id": …}, {"type": "SCHEDULED_WORK", "scheduled_work_id": …}. NULL on runs
-- made before it (read as RUN_NOW, the only way to start one then) and on direct external-API invokes.
ALTER TABLE executions ADD COLUMN trigger TEXT COLLATE "C";

-- The permission group for inbound events (design §4): keys made before it get none.
ALTER TABLE api_keys ADD COLUMN perm_callbacks TEXT COLLATE "C" NOT NULL DEFAULT 'none' CHECK (perm_callbacks IN ('none', 'read', 'read_write'));

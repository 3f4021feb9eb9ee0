-- The orchestrator's version 3: phase duration.
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS duration_ms BIGINT DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_cost_duration ON cost_log(duration_ms);

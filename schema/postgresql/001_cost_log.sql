-- PostgreSQL dialect of schema/001_cost_log.sql (each file here mirrors its SQLite twin):
-- BIGINT for INTEGER (SQLite integers are 64-bit), DOUBLE PRECISION for REAL (PostgreSQL's REAL
-- is 32-bit), BIGSERIAL for AUTOINCREMENT, ADD COLUMN IF NOT EXISTS.
-- The orchestrator's original cost table (its version 1).
CREATE TABLE IF NOT EXISTS cost_log(id BIGSERIAL PRIMARY KEY, project_id TEXT, task_id TEXT, phase TEXT,
        cost_usd DOUBLE PRECISION, input_tokens BIGINT, output_tokens BIGINT, timestamp TEXT DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')));
CREATE INDEX IF NOT EXISTS idx_cost_project ON cost_log(project_id);
CREATE INDEX IF NOT EXISTS idx_cost_timestamp ON cost_log(timestamp);

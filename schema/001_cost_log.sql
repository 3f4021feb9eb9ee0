-- The orchestrator's original cost table (its version 1).
CREATE TABLE IF NOT EXISTS cost_log(id INTEGER PRIMARY KEY AUTOINCREMENT, project_id TEXT, task_id TEXT, phase TEXT,
        cost_usd REAL, input_tokens INTEGER, output_tokens INTEGER, timestamp TEXT DEFAULT (datetime('now')));
CREATE INDEX IF NOT EXISTS idx_cost_project ON cost_log(project_id);
CREATE INDEX IF NOT EXISTS idx_cost_timestamp ON cost_log(timestamp);

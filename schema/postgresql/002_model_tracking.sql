-- The orchestrator's version 2: model, cache and initiative columns, aggregates and budgets.
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS model TEXT DEFAULT '';
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS iteration BIGINT DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cache_creation_tokens BIGINT DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cache_read_tokens BIGINT DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS total_tokens BIGINT DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS initiative_id TEXT DEFAULT '';
CREATE INDEX IF NOT EXISTS idx_cost_model ON cost_log(model);
CREATE INDEX IF NOT EXISTS idx_cost_model_timestamp ON cost_log(model, timestamp);
CREATE INDEX IF NOT EXISTS idx_cost_initiative ON cost_log(initiative_id);
CREATE INDEX IF NOT EXISTS idx_cost_project_timestamp ON cost_log(project_id, timestamp);
CREATE TABLE IF NOT EXISTS cost_aggregates(
    id BIGSERIAL PRIMARY KEY,
    project_id TEXT NOT NULL,
    model TEXT DEFAULT '',
    phase TEXT DEFAULT '',
    date TEXT NOT NULL,
    total_cost_usd DOUBLE PRECISION DEFAULT 0,
    total_input_tokens BIGINT DEFAULT 0,
    total_output_tokens BIGINT DEFAULT 0,
    total_cache_tokens BIGINT DEFAULT 0,
    turn_count BIGINT DEFAULT 0,
    task_count BIGINT DEFAULT 0,
    created_at TEXT,
    UNIQUE(project_id, model, phase, date)
);
CREATE TABLE IF NOT EXISTS cost_budgets(
    id BIGSERIAL PRIMARY KEY,
    project_id TEXT UNIQUE NOT NULL,
    monthly_limit_usd DOUBLE PRECISION,
    alert_threshold_percent BIGINT DEFAULT 80,
    current_month TEXT DEFAULT '',
    current_month_spent DOUBLE PRECISION DEFAULT 0,
    created_at TEXT,
    updated_at TEXT
);

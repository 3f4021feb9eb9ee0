-- costlog's own: the idempotency key, the raw model id, provider, cost source, and the rollups
-- the read side needs. Rollup costs are integer nano-USD so sums are exact in any order.
-- Rows with project_id '*' hold the all-projects totals.
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS event_id TEXT;
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS model_id TEXT DEFAULT '';
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS provider TEXT DEFAULT '';
ALTER TABLE cost_log ADD COLUMN IF NOT EXISTS cost_source TEXT DEFAULT '';
CREATE UNIQUE INDEX IF NOT EXISTS idx_cost_event_id ON cost_log(event_id);
CREATE INDEX IF NOT EXISTS idx_cost_project_task ON cost_log(project_id, task_id);
-- Rows from before costlog: the orchestrator reported their cost, and its model column held the id.
UPDATE cost_log SET cost_source = 'reported' WHERE cost_source = '' OR cost_source IS NULL;
UPDATE cost_log SET model_id = model WHERE (model_id = '' OR model_id IS NULL) AND model <> '';

-- UTC quarter-hour x model: time series in any zone (also :30/:45 offsets), budgets, model mix.
CREATE TABLE IF NOT EXISTS rollup_model_q(
    project_id TEXT NOT NULL, bucket TEXT NOT NULL, model TEXT NOT NULL,
    cost_nanos BIGINT NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, bucket, model)
);
-- UTC quarter-hour x phase: phase breakdowns over rolling windows.
CREATE TABLE IF NOT EXISTS rollup_phase_q(
    project_id TEXT NOT NULL, bucket TEXT NOT NULL, phase TEXT NOT NULL,
    cost_nanos BIGINT NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, bucket, phase)
);
-- UTC day x task (real projects only: task ids are per project).
CREATE TABLE IF NOT EXISTS rollup_task_d(
    project_id TEXT NOT NULL, day TEXT NOT NULL, task_id TEXT NOT NULL,
    cost_nanos BIGINT NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, day, task_id)
);
-- All-time task totals.
CREATE TABLE IF NOT EXISTS rollup_task(
    project_id TEXT NOT NULL, task_id TEXT NOT NULL,
    cost_nanos BIGINT NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, task_id)
);
-- UTC day x initiative (rows with an initiative only).
CREATE TABLE IF NOT EXISTS rollup_initiative_d(
    project_id TEXT NOT NULL, day TEXT NOT NULL, initiative_id TEXT NOT NULL,
    cost_nanos BIGINT NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, day, initiative_id)
);
-- Initiative detail: one initiative's spend by task, model and phase.
CREATE TABLE IF NOT EXISTS rollup_initiative(
    initiative_id TEXT NOT NULL, project_id TEXT NOT NULL, task_id TEXT NOT NULL,
    model TEXT NOT NULL, phase TEXT NOT NULL,
    cost_nanos BIGINT NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    events BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY(initiative_id, project_id, task_id, model, phase)
);
-- Monotonic counters for /metrics, bumped in the same transaction as the rows they count.
CREATE TABLE IF NOT EXISTS costlog_counters(
    name TEXT PRIMARY KEY, value BIGINT NOT NULL DEFAULT 0
);

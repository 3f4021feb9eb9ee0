-- Rolling-window task breakdowns across all projects filter rollup_task_d on day alone: a
-- covering index keyed by day keeps them to the window's rows (measured: CHANGELOG.md).
CREATE INDEX IF NOT EXISTS idx_rollup_task_d_day
    ON rollup_task_d(day, project_id, task_id, cost_nanos, tokens);

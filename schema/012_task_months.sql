-- Spend per task by UTC month, for task breakdowns over long ranges across all projects: whole
-- months inside the range are read here and only the days at its edges from rollup_task_d
-- (where every event is a random task, a month holds ~20,000 task rows against ~85,000
-- task-day rows). Keyed by month first: such a read is one primary-key range scan and needs
-- no second index; a single project's breakdown keeps reading rollup_task_d.
CREATE TABLE IF NOT EXISTS rollup_task_m(
    month TEXT NOT NULL, project_id TEXT NOT NULL, task_id TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(month, project_id, task_id)
) WITHOUT ROWID;

-- The four token kinds (uncached input, output, cache write, cache read) beside each rollup's
-- total, so every read can show them; the rollups are recomputed from cost_log afterwards.
-- And one rollup by raw model id and provider: breakdowns by either over any range.
ALTER TABLE rollup_model_q ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_q ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_q ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_q ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_phase_q ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_phase_q ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_phase_q ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_phase_q ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_h ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_h ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_h ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_h ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_d ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_d ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_d ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_model_d ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_phase_d ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_phase_d ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_phase_d ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_phase_d ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_task_d ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_task_d ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_task_d ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_task_d ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_task ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_task ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_task ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_task ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_initiative_d ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_initiative_d ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_initiative_d ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_initiative_d ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_initiative ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_initiative ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_initiative ADD COLUMN cache_creation_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollup_initiative ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0;
-- UTC day x provider x raw model id (project_id '*' holds the all-projects totals).
CREATE TABLE IF NOT EXISTS rollup_model_id_d(
    project_id TEXT NOT NULL, day TEXT NOT NULL, provider TEXT NOT NULL, model_id TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, day, provider, model_id)
) WITHOUT ROWID;
-- Task breakdowns across all projects read this index alone: it covers the token kinds too.
DROP INDEX IF EXISTS idx_rollup_task_d_day;
CREATE INDEX IF NOT EXISTS idx_rollup_task_d_day ON rollup_task_d(day, project_id, task_id,
    cost_nanos, tokens, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens);
-- All-time totals per project (the list of projects; by-project reads start from it).
CREATE TABLE IF NOT EXISTS rollup_project(
    project_id TEXT NOT NULL PRIMARY KEY,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

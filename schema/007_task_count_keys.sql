-- cost_aggregates.task_count counts each task once per (project, model, phase, UTC date). The
-- tasks each of those buckets has seen, as keys: a write looks its new rows' keys up here (one
-- primary-key probe each) instead of searching cost_log for the task's earlier rows, a search
-- that grew with the rows a task already had (CHANGELOG.md). Back-filled from
-- cost_log; `costlog aggregates check | rebuild` cover it like the rollups.
CREATE TABLE IF NOT EXISTS cost_aggregates_tasks(
    project_id TEXT NOT NULL, model TEXT NOT NULL, phase TEXT NOT NULL, date TEXT NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY(project_id, model, phase, date, task_id)
) WITHOUT ROWID;

-- 004 indexed cost_log(project_id, task_id) for cost_aggregates.task_count, which searched a
-- task's earlier rows; since 007 that count reads cost_aggregates_tasks, and nothing reads the
-- index any more. Every insert still paid for it: a B-tree with one entry per row, written at
-- random places (a 1M import: ~2 µs and ~2,200 dirty pages per 20,000 events, CHANGELOG.md).
-- The orchestrator's own indexes (001-003) stay.
DROP INDEX IF EXISTS idx_cost_project_task;

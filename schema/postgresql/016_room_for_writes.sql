-- Cheaper writes (SQLite's dialect of this migration changes nothing).
--
-- No orchestrator opens a PostgreSQL database, so the orchestrator's cost_log indexes that no
-- costlog read uses go: each cost every inserted row one more B-tree entry. What costlog reads
-- by stays: the primary key, idx_cost_event_id (the idempotency key, receipts),
-- idx_cost_timestamp (raw rows at the edges of a range, export's order) and
-- idx_cost_project_timestamp (a project's rows, its first and last event).
DROP INDEX IF EXISTS idx_cost_project;
DROP INDEX IF EXISTS idx_cost_model;
DROP INDEX IF EXISTS idx_cost_model_timestamp;
DROP INDEX IF EXISTS idx_cost_initiative;
DROP INDEX IF EXISTS idx_cost_duration;
-- 30 % of every page left free in the tables whose rows writes add into: an update then puts
-- the row's new version on the same page (a heap-only tuple) instead of adding an entry to the
-- primary key's index, and the old version is pruned from the page without waiting for VACUUM
-- (the all-time totals and counters are updated by every write). Pages written from now on.
ALTER TABLE costlog_totals SET (fillfactor = 70);
ALTER TABLE costlog_counters SET (fillfactor = 70);
ALTER TABLE cost_aggregates SET (fillfactor = 70);
ALTER TABLE rollup_model_q SET (fillfactor = 70);
ALTER TABLE rollup_phase_q SET (fillfactor = 70);
ALTER TABLE rollup_model_h SET (fillfactor = 70);
ALTER TABLE rollup_phase_h SET (fillfactor = 70);
ALTER TABLE rollup_model_d SET (fillfactor = 70);
ALTER TABLE rollup_phase_d SET (fillfactor = 70);
ALTER TABLE rollup_task_d SET (fillfactor = 70);
ALTER TABLE rollup_task_m SET (fillfactor = 70);
ALTER TABLE rollup_task SET (fillfactor = 70);
ALTER TABLE rollup_initiative_d SET (fillfactor = 70);
ALTER TABLE rollup_initiative SET (fillfactor = 70);
ALTER TABLE rollup_project_d SET (fillfactor = 70);
ALTER TABLE rollup_project_6h SET (fillfactor = 70);
ALTER TABLE rollup_project_h SET (fillfactor = 70);
ALTER TABLE rollup_project SET (fillfactor = 70);
ALTER TABLE rollup_model_id_d SET (fillfactor = 70);
ALTER TABLE rollup_project_ld SET (fillfactor = 70);
ALTER TABLE rollup_model_ld SET (fillfactor = 70);
ALTER TABLE rollup_phase_ld SET (fillfactor = 70);

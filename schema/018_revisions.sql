-- Corrections: an event's revision, voids, and the versions each correction superseded.
-- A higher revision of a recorded event_id replaces its row (costlog/store/write.py); a void
-- keeps the row but takes it out of every figure: only rows with voided_at NULL are summed.
ALTER TABLE cost_log ADD COLUMN revision INTEGER DEFAULT 0;
ALTER TABLE cost_log ADD COLUMN voided_at TEXT;
ALTER TABLE cost_log ADD COLUMN void_reason TEXT;
-- Every superseded version: the old cost_log row as JSON (whatever columns it had), its
-- revision, and when and by what it was superseded (event, void, reprice or import).
CREATE TABLE IF NOT EXISTS cost_log_revisions(
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, revision INTEGER NOT NULL,
    superseded_at TEXT NOT NULL, superseded_by TEXT NOT NULL, row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_cost_revisions_event ON cost_log_revisions(event_id, revision);

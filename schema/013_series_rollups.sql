-- Each project's spend by UTC day, six hours (keyed by their first hour: 00, 06, 12 or 18) and
-- hour, without the model, keyed by period first: a time series split by project reads whole
-- days here, and a day's edges in a time zone from one six-hour period and at most three
-- hours, each one range scan across every project (a year of New York days across 50 projects
-- at 1M events: ~50,000 rows in ~1,100 scans, not ~213,000 rows in ~36,000 scans).
CREATE TABLE IF NOT EXISTS rollup_project_d(
    day TEXT NOT NULL, project_id TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(day, project_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_project_6h(
    hour TEXT NOT NULL, project_id TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(hour, project_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_project_h(
    hour TEXT NOT NULL, project_id TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(hour, project_id)
) WITHOUT ROWID;
-- Spend by phase and UTC hour (beside the day and quarter-hour rollups by phase): a series by
-- phase reads the hours at the edges of days in a time zone, not four times as many quarters.
CREATE TABLE IF NOT EXISTS rollup_phase_h(
    project_id TEXT NOT NULL, hour TEXT NOT NULL, phase TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, hour, phase)
) WITHOUT ROWID;

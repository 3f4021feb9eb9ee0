-- Coarser rollups for long ranges (CHANGELOG.md): a year is 365 day rows or 8,760 hour
-- rows per model instead of 35,040 quarter-hour rows. Reads pick the coarsest table whose keys
-- fall on every edge of the request: UTC days, then UTC hours (whole-hour zones), else quarters.
CREATE TABLE IF NOT EXISTS rollup_model_h(
    project_id TEXT NOT NULL, hour TEXT NOT NULL, model TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, hour, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_model_d(
    project_id TEXT NOT NULL, day TEXT NOT NULL, model TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, day, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_phase_d(
    project_id TEXT NOT NULL, day TEXT NOT NULL, phase TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, day, phase)
) WITHOUT ROWID;

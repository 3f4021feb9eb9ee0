-- Days in the time zones a team reports in (`costlog local-days add ZONE`): each registered
-- zone's UTC offsets (minutes east of UTC, one per standard and summer time), and spend by
-- local day for each offset. A series of days in such a zone reads one row per day (and key)
-- instead of a UTC day plus the hours at both of its edges; only a day that changes offset
-- (the switch to summer time and back) still reads hours. Empty until a zone is registered.
CREATE TABLE IF NOT EXISTS local_day_zones(zone TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS local_day_offsets(utc_offset INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS rollup_project_ld(
    utc_offset INTEGER NOT NULL, day TEXT NOT NULL, project_id TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(utc_offset, day, project_id)
) WITHOUT ROWID;
-- By model and by phase across all projects only (project_id is always '*').
CREATE TABLE IF NOT EXISTS rollup_model_ld(
    project_id TEXT NOT NULL, utc_offset INTEGER NOT NULL, day TEXT NOT NULL, model TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, utc_offset, day, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_phase_ld(
    project_id TEXT NOT NULL, utc_offset INTEGER NOT NULL, day TEXT NOT NULL, phase TEXT NOT NULL,
    cost_nanos INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(project_id, utc_offset, day, phase)
) WITHOUT ROWID;

-- Every sum a rollup or a read adds up is a part of these all-time totals (of magnitudes: a
-- legacy row may be negative), so while they stay within 64-bit integers no stored or computed
-- sum can pass BIGINT's range (where SQLite would turn it into an inexact REAL). A write that
-- would push one past it is refused for the events that would (costlog/store/bounds.py).
CREATE TABLE IF NOT EXISTS costlog_totals(
    scope TEXT PRIMARY KEY,
    cost_nanos BIGINT NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0, output_tokens BIGINT NOT NULL DEFAULT 0,
    cache_tokens BIGINT NOT NULL DEFAULT 0, events BIGINT NOT NULL DEFAULT 0
);
-- cost_log rows that no exact sum could hold (stored before the totals existed), set aside by
-- the back-fill and `costlog aggregates rebuild`: the row as JSON, and why.
CREATE TABLE IF NOT EXISTS cost_log_refused(
    id BIGSERIAL PRIMARY KEY, refused_at TEXT NOT NULL, reason TEXT NOT NULL,
    row TEXT NOT NULL
);

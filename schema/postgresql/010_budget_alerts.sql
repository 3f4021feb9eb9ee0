-- Budgets gain a time zone (their month's edges; '' = UTC, the zone budgets were kept in before)
-- and a hard limit (the budget gate closes once spent > limit).
ALTER TABLE cost_budgets ADD COLUMN IF NOT EXISTS timezone TEXT NOT NULL DEFAULT '';
ALTER TABLE cost_budgets ADD COLUMN IF NOT EXISTS hard_limit BIGINT NOT NULL DEFAULT 0;
-- One row per alert decision: unique per budget, month and kind, written in the transaction
-- whose rows (or budget change) crossed it, so it fires once however many workers write.
-- enqueued_at stays NULL until its deliveries are on the queue; a worker's sweep picks up the
-- rest. payload is the exact JSON body sent to every webhook, signed as stored.
CREATE TABLE IF NOT EXISTS cost_alerts(
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    project_id TEXT NOT NULL,
    month TEXT NOT NULL,
    fired_at TEXT NOT NULL,
    percent_used DOUBLE PRECISION NOT NULL,
    spent_usd DOUBLE PRECISION NOT NULL,
    limit_usd DOUBLE PRECISION NOT NULL,
    payload TEXT NOT NULL,
    enqueued_at TEXT,
    -- SQLite's implicit rowid, which the listing orders by (the order the alerts were written).
    rowid BIGSERIAL,
    UNIQUE(project_id, month, type)
);
CREATE INDEX IF NOT EXISTS idx_cost_alerts_unqueued ON cost_alerts(enqueued_at)
    WHERE enqueued_at IS NULL;
-- One row per alert and webhook: url is the redacted URL (no credentials, no query), url_key
-- a digest of the full one, which stays in the settings only.
CREATE TABLE IF NOT EXISTS cost_alert_deliveries(
    alert_id TEXT NOT NULL,
    url_key TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    delivered_at TEXT,
    PRIMARY KEY(alert_id, url_key)
);
